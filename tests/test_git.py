"""The git plumbing the processor stands on (gitops_engine.git), on real repositories: a bare remote and a clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testing.repos import commits_on, git, remote_and_clone

from gitops_engine.git import STAGE_MIN_REFS, STAGING, CommitRequest, Git, Identity

WHO = Identity("gitops-engine", "gitops-engine@users.noreply.github.com")


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    """A clone of a bare remote whose main holds one commit with a couple of files."""
    files = {"a.txt": "a\n", "dir with space/tab\there.txt": "t\n", "ünï.txt": "u\n"}
    return Git(remote_and_clone(tmp_path, files))


def remote_refs(repo: Git) -> dict[str, str]:
    return repo.remote_refs("origin", ["refs/heads/*"])


def local_refs(repo: Git) -> list[str]:
    return sorted(repo.run("for-each-ref", "--format=%(refname)").split())


def test_ls_tree_lists_blobs_with_any_name_and_skips_submodules(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    # A gitlink (submodule entry) in the tree: listed by git, skipped here.
    tree = repo.run("ls-tree", main)
    gitlink = f"160000 commit {main}\tvendored\n"
    new_tree = repo.run("mktree", input=(tree + gitlink).encode()).strip()
    commit = repo.run("commit-tree", new_tree, "-p", main, "-m", "with a submodule").strip()

    blobs = repo.ls_tree_blobs(commit)

    assert sorted(blobs) == ["a.txt", "dir with space/tab\there.txt", "ünï.txt"]
    assert blobs["a.txt"] == repo.run("rev-parse", f"{main}:a.txt").strip()
    assert {p: e.mode for p, e in repo.ls_tree(commit, ["dir with space/"]).items()} == {
        "dir with space/tab\there.txt": "100644"
    }


def test_try_read_reads_by_id_or_path_and_says_none_when_missing(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    assert repo.try_read(f"{main}:a.txt") == b"a\n"
    assert repo.try_read(f"{main}:ünï.txt") == b"u\n"
    assert repo.try_read(f"{main}:missing.txt") is None
    assert repo.try_read(f"{main}:a.txt\nHEAD") is None  # the batch protocol is line-based
    assert repo.read_blob(repo.run("rev-parse", f"{main}:a.txt").strip()) == b"a\n"


def test_write_commits_returns_ids_in_order_and_writes_no_ref(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    before = local_refs(repo)

    shas = repo.write_commits(
        [
            CommitRequest(parent=main, changes={"a.txt": b"changed\n"}, message="one\n", identity=WHO),
            CommitRequest(
                parent=main, changes={"a.txt": None, "new/b.txt": b"b\n"}, message="two\n", identity=WHO
            ),
        ]
    )

    assert len(shas) == 2
    assert local_refs(repo) == before
    assert repo.run("show", f"{shas[0]}:a.txt") == "changed\n"
    assert repo.run("log", "-1", "--format=%P%x00%s%x00%ae", shas[0]).strip() == f"{main}\0one\0{WHO.email}"
    assert sorted(repo.ls_tree_blobs(shas[1])) == ["dir with space/tab\there.txt", "new/b.txt", "ünï.txt"]


def test_many_new_branches_go_through_the_staging_namespace_and_leave_nothing_behind(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    count = STAGE_MIN_REFS + 4
    shas = commits_on(repo, main, count + 1)
    # A killed earlier run left a staged ref behind: it must not be pushed.
    git(repo.root, "update-ref", f"{STAGING}heads/gitops-engine/stale/left-over", shas[count])
    # One existing branch is moved with a lease, one is deleted.
    old = commits_on(repo, main, 2, tag="old")
    ok, _ = repo.push_with_leases(
        "origin",
        {
            "refs/heads/gitops-engine/x/moved": (None, old[0]),
            "refs/heads/gitops-engine/x/gone": (None, old[1]),
        },
    )
    assert ok
    updates: dict[str, tuple[str | None, str | None]] = {
        f"refs/heads/gitops-engine/team/w{i}": (None, sha) for i, sha in enumerate(shas[:count])
    }
    updates["refs/heads/gitops-engine/x/moved"] = (old[0], shas[0])
    updates["refs/heads/gitops-engine/x/gone"] = (old[1], None)

    ok, output = repo.push_with_leases("origin", updates)

    assert ok, output
    expected = {ref: new for ref, (_, new) in updates.items() if new}
    assert remote_refs(repo) == {"refs/heads/main": main, **expected}
    assert [r for r in local_refs(repo) if r.startswith(STAGING)] == []


def test_a_new_branch_someone_made_meanwhile_fails_the_whole_push(repo: Git, tmp_path: Path) -> None:
    main = repo.rev_parse("HEAD")
    # Someone else creates one of the branches with history of their own.
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(tmp_path / "remote.git"), str(other))
    (other / "mine.txt").write_text("mine\n")
    git(other, "add", "-A")
    git(other, "-c", "user.name=p", "-c", "user.email=p@p", "commit", "--quiet", "-m", "theirs")
    git(other, "push", "--quiet", "origin", "HEAD:refs/heads/gitops-engine/team/w3")
    theirs = git(other, "rev-parse", "HEAD").strip()
    shas = commits_on(repo, main, STAGE_MIN_REFS + 2)

    ok, _ = repo.push_with_leases(
        "origin", {f"refs/heads/gitops-engine/team/w{i}": (None, sha) for i, sha in enumerate(shas)}
    )

    assert not ok
    assert remote_refs(repo) == {"refs/heads/main": main, "refs/heads/gitops-engine/team/w3": theirs}
    assert [r for r in local_refs(repo) if r.startswith(STAGING)] == []


def test_a_broken_lease_among_many_new_branches_fails_the_whole_push(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    shas = commits_on(repo, main, STAGE_MIN_REFS + 1)
    ok, _ = repo.push_with_leases("origin", {"refs/heads/gitops-engine/x/moved": (None, shas[0])})
    assert ok
    updates: dict[str, tuple[str | None, str | None]] = {
        f"refs/heads/gitops-engine/team/w{i}": (None, sha) for i, sha in enumerate(shas)
    }
    updates["refs/heads/gitops-engine/x/moved"] = (main, shas[1])  # not what the remote holds

    ok, _ = repo.push_with_leases("origin", updates)

    assert not ok
    assert remote_refs(repo) == {"refs/heads/main": main, "refs/heads/gitops-engine/x/moved": shas[0]}


def test_a_forked_process_reads_through_its_own_cat_file(repo: Git) -> None:
    """Planning workers are forked: each must start its own `cat-file --batch`, never share the parent's pipe."""
    import multiprocessing

    global _FORKED_REPO
    main = repo.rev_parse("HEAD")
    assert repo.try_read(f"{main}:a.txt") == b"a\n"  # the parent's batch process is running
    _FORKED_REPO = repo
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map(_read_in_worker, [f"{main}:a.txt", f"{main}:ünï.txt"] * 4)
    finally:
        _FORKED_REPO = None
    assert [(pid != os.getpid(), data) for pid, data in results] == [(True, b"a\n"), (True, b"u\n")] * 4
    assert repo.try_read(f"{main}:ünï.txt") == b"u\n"  # and the parent's still answers in step
    repo.close()


_FORKED_REPO: Git | None = None


def _read_in_worker(spec: str) -> tuple[int, bytes | None]:
    assert _FORKED_REPO is not None
    return os.getpid(), _FORKED_REPO.try_read(spec)

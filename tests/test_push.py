"""How the pull requests' branches reach the remote (gitops_engine.publishing.push, through Git.push_tracked): one
atomic push with leases to origin's URL, then the remote-tracking refs in one transaction without reflogs. Many
new branches go through staging refs that live for the push. On real repositories: a bare remote and a clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testing.repos import commits_on, git, remote_and_clone

from gitops_engine.git import STAGE_MIN_REFS, STAGING, Git

Updates = dict[str, tuple[str | None, str | None]]


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    """A clone of a bare remote whose main holds one commit."""
    return Git(remote_and_clone(tmp_path, {"a.txt": "a\n"}))


def refs(repo: Git, *, remote: bool) -> dict[str, str]:
    where = ["--git-dir", str(repo.root.parent / "remote.git")] if remote else []
    out = git(repo.root, *where, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ") for line in out.splitlines())


def tracking(repo: Git) -> dict[str, str]:
    """The clone's remote-tracking refs, named as the remote's branches."""
    return {
        ref.replace("refs/remotes/origin/", "refs/heads/", 1): sha
        for ref, sha in refs(repo, remote=False).items()
        if ref.startswith("refs/remotes/origin/") and ref != "refs/remotes/origin/HEAD"
    }


def reflogs(repo: Git) -> list[str]:
    logs = repo.root / ".git" / "logs" / "refs" / "remotes" / "origin" / "gitops-engine"
    return sorted(str(Path(d, n).relative_to(logs)) for d, _, names in os.walk(logs) for n in names)


@pytest.mark.parametrize("count", [2, STAGE_MIN_REFS + 3])
def test_branches_land_on_the_remote_and_in_the_tracking_refs_without_reflogs(repo: Git, count: int) -> None:
    main = repo.rev_parse("HEAD")
    old = commits_on(repo, main, 2, tag="old")
    ok, output = repo.push_tracked(
        "origin",
        {
            "refs/heads/gitops-engine/x/moved": (None, old[0]),
            "refs/heads/gitops-engine/x/gone": (None, old[1]),
        },
    )
    assert ok, output
    shas = commits_on(repo, main, count)
    updates: Updates = {f"refs/heads/gitops-engine/team/w{i}": (None, sha) for i, sha in enumerate(shas)}
    updates["refs/heads/gitops-engine/x/moved"] = (old[0], shas[0])  # a lease, moved
    updates["refs/heads/gitops-engine/x/gone"] = (old[1], None)  # a lease, deleted
    updates["refs/gitops-engine/ledger"] = (None, shas[1])  # not a branch: no tracking ref

    ok, output = repo.push_tracked("origin", updates)

    assert ok, output
    expected = {ref: new for ref, (_, new) in updates.items() if new}
    assert refs(repo, remote=True) == {"refs/heads/main": main, **expected}
    branches = {ref: sha for ref, sha in expected.items() if ref.startswith("refs/heads/")}
    assert tracking(repo) == {"refs/heads/main": main, **branches}
    # The first push's two branches were logged by nobody either; the clone keeps no staging refs.
    assert reflogs(repo) == []
    assert [r for r in refs(repo, remote=False) if r.startswith(STAGING)] == []


@pytest.mark.parametrize("count", [2, STAGE_MIN_REFS + 2])
def test_a_branch_someone_made_meanwhile_fails_the_whole_push_and_moves_no_tracking_ref(
    repo: Git, tmp_path: Path, count: int
) -> None:
    main = repo.rev_parse("HEAD")
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(tmp_path / "remote.git"), str(other))
    (other / "mine.txt").write_text("mine\n")
    git(other, "add", "-A")
    git(other, "-c", "user.name=p", "-c", "user.email=p@p", "commit", "--quiet", "-m", "theirs")
    git(other, "push", "--quiet", "origin", "HEAD:refs/heads/gitops-engine/team/w1")
    theirs = git(other, "rev-parse", "HEAD").strip()
    before = tracking(repo)

    ok, _ = repo.push_tracked(
        "origin",
        {
            f"refs/heads/gitops-engine/team/w{i}": (None, sha)
            for i, sha in enumerate(commits_on(repo, main, count))
        },
    )

    assert not ok
    assert refs(repo, remote=True) == {"refs/heads/main": main, "refs/heads/gitops-engine/team/w1": theirs}
    assert tracking(repo) == before == {"refs/heads/main": main}


@pytest.mark.parametrize("count", [3, STAGE_MIN_REFS + 1])
def test_tracking_refs_moved_in_the_background_are_there_once_waited_for(repo: Git, count: int) -> None:
    """The staging refs of many new branches go in the same background transaction."""
    main = repo.rev_parse("HEAD")
    updates: Updates = {
        f"refs/heads/gitops-engine/team/w{i}": (None, sha)
        for i, sha in enumerate(commits_on(repo, main, count))
    }

    ok, output = repo.push_tracked("origin", updates, background=True)

    assert ok, output
    assert repo.wait_tracked() is None
    assert tracking(repo) == {"refs/heads/main": main, **{r: new for r, (_, new) in updates.items()}}
    assert [r for r in refs(repo, remote=False) if r.startswith(STAGING)] == []
    assert repo.wait_tracked() is None  # nothing left running


def test_staging_refs_a_failed_tracking_update_left_are_deleted_by_the_next_push_that_stages(
    repo: Git,
) -> None:
    main = repo.rev_parse("HEAD")
    lock = repo.root / ".git" / "refs" / "remotes" / "origin" / "gitops-engine" / "team" / "w1.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    first: Updates = {
        f"refs/heads/gitops-engine/team/w{i}": (None, sha)
        for i, sha in enumerate(commits_on(repo, main, STAGE_MIN_REFS + 1))
    }

    ok, output = repo.push_tracked("origin", first, background=True)

    assert ok, output
    assert repo.wait_tracked() is not None  # one transaction: the staging refs stayed too
    assert sorted(r for r in refs(repo, remote=False) if r.startswith(STAGING)) == sorted(
        f"{STAGING}heads/gitops-engine/team/w{i}" for i in range(STAGE_MIN_REFS + 1)
    )
    lock.unlink()
    second: Updates = {
        f"refs/heads/gitops-engine/other/w{i}": (None, sha)
        for i, sha in enumerate(commits_on(repo, main, STAGE_MIN_REFS, tag="second"))
    }

    ok, output = repo.push_tracked("origin", second)

    assert ok, output
    assert [r for r in refs(repo, remote=False) if r.startswith(STAGING)] == []
    pushed = {ref: new for ref, (_, new) in {**first, **second}.items() if new}
    assert refs(repo, remote=True) == {"refs/heads/main": main, **pushed}
    assert tracking(repo) == {"refs/heads/main": main, **{r: new for r, (_, new) in second.items() if new}}


def test_a_tracking_ref_git_cannot_lock_is_said_and_left_for_the_next_sync(repo: Git) -> None:
    """The push went through: the run goes on, told why the tracking refs stayed behind (the next run's sync
    compares them with the remote and fetches)."""
    main = repo.rev_parse("HEAD")
    shas = commits_on(repo, main, 2)
    lock = repo.root / ".git" / "refs" / "remotes" / "origin" / "gitops-engine" / "team" / "w1.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    updates: Updates = {f"refs/heads/gitops-engine/team/w{i}": (None, sha) for i, sha in enumerate(shas)}

    ok, _ = repo.push_tracked("origin", updates, background=True)
    failed = repo.wait_tracked()

    assert ok and failed is not None
    assert failed.startswith(f"git could not lock a ref: {lock} exists.")
    assert refs(repo, remote=True) == {"refs/heads/main": main, **{r: new for r, (_, new) in updates.items()}}
    assert tracking(repo) == {"refs/heads/main": main}  # one transaction: none moved
    # Not in the background: the push's output ends with it.
    ok, output = repo.push_tracked("origin", {"refs/heads/gitops-engine/team/w1": (shas[1], shas[0])})
    assert ok and output.endswith(f"\n{failed}\n")
    assert tracking(repo) == {"refs/heads/main": main}


def test_the_push_goes_from_the_clone_with_what_its_config_includes_for_it(repo: Git, tmp_path: Path) -> None:
    """actions/checkout (v6) keeps the token in a file that the clone's config includes for its .git only
    (`includeIf.gitdir`): the push goes from the clone itself, whatever the number of branches.
    Here the include gives the ssh command that reaches the remote (a script running git on this machine)."""
    main = repo.rev_parse("HEAD")
    ssh = tmp_path / "fake-ssh"
    ssh.write_text('#!/bin/sh\nshift\nexec sh -c "$*"\n')  # <host> '<command>': run the command here
    ssh.chmod(0o755)
    included = tmp_path / "only-for-this-clone.cfg"
    included.write_text(f"[core]\n\tsshCommand = {ssh}\n")
    git(repo.root, "config", f"includeIf.gitdir:{repo.root / '.git'}.path", str(included))
    git(repo.root, "remote", "set-url", "origin", f"ssh://forge.invalid{tmp_path / 'remote.git'}")
    updates: Updates = {
        f"refs/heads/gitops-engine/team/w{i}": (None, sha)
        for i, sha in enumerate(commits_on(repo, main, STAGE_MIN_REFS + 1))
    }

    ok, output = repo.push_tracked("origin", updates, background=True)

    assert ok, output
    assert repo.wait_tracked() is None
    expected = {ref: new for ref, (_, new) in updates.items() if new}
    assert refs(repo, remote=True) == {"refs/heads/main": main, **expected}
    assert tracking(repo) == {"refs/heads/main": main, **expected}
    assert [r for r in refs(repo, remote=False) if r.startswith(STAGING)] == []

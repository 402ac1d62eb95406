"""The history questions the reconciler asks git (gitops_engine.git.Git), on a real repository: parents, merge
bases, ranges, the commits that touched a path, who made commits, and object ids by `rev:path`."""

from __future__ import annotations

from pathlib import Path

import pytest
from testing.repos import remote_and_clone

from gitops_engine.git import CommitRequest, Git, Identity

ENGINE = Identity("gitops-engine", "1234+engine[bot]@users.noreply.github.com")


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    """A clone of a bare remote whose main holds `rendered/shop/cart/a.yaml`."""
    return Git(remote_and_clone(tmp_path, {"rendered/dev/shop/cart/a.yaml": "a: 1\n"}))


def commit(
    repo: Git, parent: str, files: dict[str, bytes | None], message: str = "m\n", who: Identity = ENGINE
) -> str:
    return repo.write_commits([CommitRequest(parent=parent, changes=files, message=message, identity=who)])[0]


def test_parents_merge_bases_and_ranges(repo: Git) -> None:
    root = repo.rev_parse("HEAD")
    left = commit(repo, root, {"rendered/dev/shop/cart/a.yaml": b"a: 2\n"})
    right = commit(repo, root, {"rendered/dev/shop/orders/b.yaml": b"b: 1\n"})
    top = commit(repo, left, {"x.txt": b"x\n"})

    assert repo.parents([left, top]) == {left: [root], top: [left]}
    assert repo.merge_base_octopus([top, right]) == root
    assert repo.commits_between(root, top) == {left, top}
    assert repo.paths_changed_by(left, "rendered/") == ["rendered/dev/shop/cart/a.yaml"]
    assert repo.paths_changed_by(top, "rendered/") == []
    cart = ":(glob)rendered/*/shop/cart/**"
    assert not repo.same_content(root, top, cart) and repo.same_content(left, top, cart)
    assert repo.last_commit_touching(root, top, cart) == left
    assert repo.last_commit_touching(left, top, cart) == ""


def test_object_ids_commits_and_emails(repo: Git) -> None:
    root = repo.rev_parse("HEAD")
    mine = commit(repo, root, {"x.txt": b"x\n"}, "Render\n\nGitops-Engine-Source: self\n")
    theirs = commit(repo, mine, {"y.txt": b"y\n"}, "fix\n", Identity("Dev", "dev@example.com"))

    assert repo.object_ids([f"{mine}:x.txt", f"{mine}:y.txt", f"{theirs}:y.txt"]) == [
        repo.run("hash-object", "--stdin", input=b"x\n").strip(),
        None,
        repo.run("hash-object", "--stdin", input=b"y\n").strip(),
    ]
    assert repo.has_commit(theirs) and not repo.has_commit("0" * 40)
    assert repo.commit_emails([theirs], root) == [
        (theirs, "dev@example.com", "dev@example.com"),
        (mine, ENGINE.email, ENGINE.email),
    ]
    # Fixed strings: the `+` and brackets of a bot's address are not a pattern.
    assert repo.last_commit_with(theirs, "Gitops-Engine-Source: ", ENGINE.email) == (
        mine,
        root,
        "Render\n\nGitops-Engine-Source: self\n\n",
    )
    assert repo.last_commit_with(theirs, "Gitops-Engine-Source: ", "dev@example.com") is None


def test_merged_refs_and_remotes(repo: Git, tmp_path: Path) -> None:
    root = repo.rev_parse("HEAD")
    side = commit(repo, root, {"x.txt": b"x\n"})
    repo.run("update-ref", "refs/remotes/origin/gitops-engine/a", root)
    repo.run("update-ref", "refs/remotes/origin/gitops-engine/b", side)

    assert repo.merged_refs(root, "refs/remotes/origin/gitops-engine/") == {root}
    assert repo.merged_refs(side, "refs/remotes/origin/gitops-engine/") == {root, side}
    assert repo.has_remote("origin") and not repo.has_remote("upstream")

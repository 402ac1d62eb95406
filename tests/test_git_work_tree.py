"""Git in a work tree, as commands that act for a person use it (init, set-image, demo): clone, remote, commit,
merge, pull. Real repositories only."""

from __future__ import annotations

from pathlib import Path

import pytest
from testing.repos import git, make_repo, write_files

from gitops_engine.errors import GitError
from gitops_engine.git import Git, Identity, clone_repository

DANA = Identity("Dana Developer", "dana@example.com")
RITA = Identity("Rita Reviewer", "rita@example.com")


def log(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "log", "-1", "--format=%an <%ae> | %cn <%ce> | %P | %s", rev).strip()


def test_a_clone_with_a_remote_and_an_upstream_pushes_and_pulls(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work", {"a.txt": "a\n"})
    remote = clone_repository(work, tmp_path / "remote.git", bare=True)
    assert git(remote.root, "rev-parse", "--is-bare-repository").strip() == "true"
    with Git(work) as repo:
        repo.add_remote("origin", str(remote.root))
        repo.fetch("origin", [])
        repo.set_upstream("main", "origin/main")
        assert git(work, "rev-parse", "--abbrev-ref", "main@{upstream}").strip() == "origin/main"

        other = clone_repository(remote.root, tmp_path / "other")
        write_files(other.root, {"b.txt": "b\n"})
        pushed = other.commit_paths(["b.txt"], "add b", DANA)
        assert other.push("origin", ["main"], atomic=False)[0]
        repo.pull_fast_forward("origin", "main")
        assert repo.rev_parse("HEAD") == pushed
        assert (work / "b.txt").read_text() == "b\n"


def test_commit_paths_commits_those_paths_alone_as_the_identity_given(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work", {"a.txt": "a\n", "b.txt": "b\n"})
    write_files(work, {"a.txt": "a2\n", "b.txt": "b2\n"})
    git(work, "add", "b.txt")  # staged, but not asked for
    with Git(work) as repo:
        commit = repo.commit_paths(["a.txt"], "only a", DANA)
        assert commit == git(work, "rev-parse", "HEAD").strip()
    assert log(work).split(" | ")[:2] == ["Dana Developer <dana@example.com>"] * 2
    assert git(work, "show", "--name-only", "--format=%s", "HEAD").split() == ["only", "a", "a.txt"]
    assert git(work, "status", "--porcelain").splitlines() == ["M  b.txt"]


def test_commit_everything_and_a_merge_that_is_never_a_fast_forward(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work", {"a.txt": "a\n"})
    base = git(work, "rev-parse", "HEAD").strip()
    git(work, "switch", "--quiet", "-c", "topic")
    write_files(work, {"new/c.txt": "c\n"})
    with Git(work) as repo:
        repo.commit_everything("add c", DANA)
        topic = repo.rev_parse("HEAD")
        git(work, "switch", "--quiet", "main")
        repo.merge_into_head("topic", "Merge topic", RITA)
        assert log(work) == (
            f"Rita Reviewer <rita@example.com> | Rita Reviewer <rita@example.com> | {base} {topic} | Merge topic"
        )
        assert (work / "new/c.txt").read_text() == "c\n"
        with pytest.raises(GitError, match=r"^git clone --quiet .* failed: fatal: "):
            clone_repository(tmp_path / "missing", tmp_path / "nowhere")

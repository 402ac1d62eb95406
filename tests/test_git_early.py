"""Git commands started early (`git.start_early`, what the executable starts before it imports the engine): the
first run of the same command in the same folder takes the output, once; any other command runs as usual; what
nothing takes is stopped; a forked process never takes its parent's. And `read_local_ref`, the guess of main that
some of them are started for, read from a real clone's files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testing.repos import commit_all, git, make_repo, write_files

from gitops_engine import git as git_module
from gitops_engine.errors import GitError
from gitops_engine.git import BATCH_ARGS, Git, drop_early, find_toplevel, read_local_ref, start_early


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    write_files(path, {"b.txt": "b\n"})
    commit_all(path, "second")
    return path


@pytest.fixture(autouse=True)
def _nothing_left_early() -> object:
    yield
    drop_early()
    git_module.EARLY_UNUSED.clear()


def test_a_command_started_early_is_taken_once_by_the_same_command(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    start_early(repo, "rev-parse", "HEAD")
    start_early(repo, "cat-file", "-t", "HEAD")
    start_early(repo, *BATCH_ARGS)
    with Git(repo) as repo_git:
        repo_git._env = {**repo_git._env, "PATH": ""}  # from here on no git can be started
        assert repo_git.run("rev-parse", "HEAD") == f"{head}\n"
        assert repo_git.try_rev_parse("HEAD~1") == git(repo, "rev-parse", "HEAD~1").strip()  # the early pipe
        with pytest.raises(FileNotFoundError):
            repo_git.run("rev-parse", "HEAD")  # taken once: asked again, git must be started
        with pytest.raises(FileNotFoundError):
            repo_git.run("cat-file", "-t", "HEAD~1")  # another command
    drop_early()
    assert git_module.EARLY_UNUSED == [("cat-file", "-t", "HEAD")]


def test_the_work_tree_is_found_by_the_command_started_early(repo: Path) -> None:
    start_early(repo / ".", "rev-parse", "--is-bare-repository", "--show-toplevel")
    assert find_toplevel(repo) == repo.resolve()
    drop_early()
    assert git_module.EARLY_UNUSED == []


def test_a_failing_command_started_early_fails_as_it_would_have(repo: Path) -> None:
    start_early(repo, "rev-parse", "--verify", "nope")
    with Git(repo) as repo_git:
        assert repo_git.run("rev-parse", "--verify", "nope", check=False) == ""
        start_early(repo, "rev-parse", "--verify", "nope")
        with pytest.raises(
            GitError, match="git rev-parse --verify nope failed: fatal: Needed a single revision"
        ):
            repo_git.run("rev-parse", "--verify", "nope")


def test_a_forked_child_never_takes_what_its_parent_started(repo: Path) -> None:
    start_early(repo, "rev-parse", "HEAD")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the command is not there for it
        os.close(read)
        os.write(write, b"%d" % len(git_module._EARLY))
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 10) == b"0"
    os.close(read)
    with Git(repo) as repo_git:
        repo_git._env = {**repo_git._env, "PATH": ""}
        assert repo_git.run("rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")


def test_a_local_ref_is_read_from_its_file_or_from_packed_refs(repo: Path, tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    first = git(repo, "rev-parse", "HEAD~1").strip()
    git(repo, "update-ref", "refs/remotes/origin/main", first)
    assert read_local_ref(repo, "refs/remotes/origin/main") == first
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/remotes/origin/main").exists()
    assert read_local_ref(repo, "refs/remotes/origin/main") == first
    assert read_local_ref(repo, "refs/heads/main") == head
    assert read_local_ref(repo, "refs/remotes/origin/missing") is None
    assert read_local_ref(tmp_path / "nowhere", "refs/heads/main") is None
    (repo / ".git/refs/remotes/origin").mkdir(parents=True, exist_ok=True)
    (repo / ".git/refs/remotes/origin/main").write_text("ref: refs/heads/main\n")  # a symbolic ref: no guess
    assert read_local_ref(repo, "refs/remotes/origin/main") is None

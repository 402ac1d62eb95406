"""git.py answers through its long-lived `cat-file --batch` pipe what it used to ask a process for (a commit a
name resolves to, a folder's names and subfolders, a few objects, ancestry it found before): the answers are the
ones git's own commands give, on a real repository."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from testing.repos import commit_all, git, make_repo, write_files

from gitops_engine.errors import UsageError
from gitops_engine.git import PIPED_BYTES, Git


def _rev_parse(repo: Path, rev: str) -> str | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip() or None


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "repo", {"a/one.txt": "1\n", "a/b/two.txt": "2\n", "top.txt": "t\n"})
    git(path, "tag", "-a", "-m", "annotated", "v1")
    write_files(path, {"a/c/three.txt": "3\n", "a/ü nicode.txt": "u\n"})
    commit_all(path, "second")
    git(path, "branch", "side", "HEAD~1")
    return path


def test_a_name_resolves_to_the_commit_rev_parse_finds(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    names = [
        "HEAD",
        "HEAD~1",
        "main",
        "side",
        "v1",
        head,
        head[:12],
        "HEAD:a",
        "HEAD:top.txt",
        "nope",
        "",
        "a\nb",
    ]
    with Git(repo) as repo_git:
        assert [repo_git.try_rev_parse(name) for name in names] == [_rev_parse(repo, name) for name in names]
        assert repo_git.try_rev_parse("v1") == repo_git.try_rev_parse("side") != head
        with pytest.raises(UsageError, match="unknown revision 'nope'"):
            repo_git.rev_parse("nope")


def test_folders_are_listed_as_ls_tree_lists_them(repo: Path) -> None:
    with Git(repo) as repo_git:
        for path in ["a", "a/b", "", "a/c"]:
            out = git(repo, "ls-tree", "-z", "--name-only", f"HEAD:{path}")
            assert repo_git.list_dir("HEAD", path) == sorted(n for n in out.split("\0") if n)
        assert repo_git.list_dir("HEAD", "top.txt") == [] and repo_git.list_dir("HEAD", "missing") == []
        assert repo_git.list_dir("HEAD", "a") == ["b", "c", "one.txt", "ü nicode.txt"]
        tree = git(repo, "rev-parse", "HEAD:a/b").strip()
        assert repo_git.subtrees("HEAD:a") == {
            "b": tree,
            "c": git(repo, "rev-parse", "HEAD:a/c").strip(),
        }
        assert repo_git.subtrees("HEAD:missing") == {} and repo_git.subtrees("HEAD:top.txt") == {}
        # A commit is peeled to its tree, as ls-tree does.
        assert repo_git.subtrees("HEAD") == {"a": git(repo, "rev-parse", "HEAD:a").strip()}


def test_many_objects_come_through_the_pipe_a_round_at_a_time(repo: Path) -> None:
    specs = ["HEAD:top.txt", "HEAD:missing", "HEAD:a/b/two.txt", "bad\nname", "HEAD:a", "HEAD:a/ü nicode.txt"]
    with Git(repo) as repo_git:
        few = repo_git.read_many(specs)
        assert few[:4] == [b"t\n", None, b"2\n", None] and few[4] is not None and few[5] == b"u\n"
        # Rounds of questions bigger than a pipe's buffer, answered with more than it holds: nothing waits.
        times = 4 * PIPED_BYTES // len("".join(specs)) + 1
        assert repo_git.read_many(specs * times) == few * times
        long_name = "HEAD:" + "x" * (2 * PIPED_BYTES)  # one question alone over a round's size
        assert repo_git.read_many([long_name, *specs]) == [None, *few]
        assert repo_git.read_many([]) == []
        assert repo_git.try_read("HEAD:top.txt") == b"t\n"  # the pipe is still in step
        # No process of its own: with no git left to start, the pipe still answers.
        repo_git._env = {**repo_git._env, "PATH": ""}
        assert repo_git.read_many(specs * 100) == few * 100


def test_ancestry_found_once_is_not_asked_again(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    first = git(repo, "rev-parse", "HEAD~1").strip()
    with Git(repo) as repo_git:
        assert repo_git.is_ancestor(first, head) and not repo_git.is_ancestor(head, first)
        assert repo_git.is_ancestor(head, head) and not repo_git.is_ancestor("0" * 40, "0" * 40)
        tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
        assert not repo_git.is_ancestor(tree, tree)
        assert repo_git.is_ancestor("HEAD~1", "HEAD") and not repo_git.is_ancestor("HEAD", "HEAD~1")
        # Asked again with no git to ask, the answers found true stand.
        repo_git._env = {**repo_git._env, "PATH": ""}
        assert repo_git.is_ancestor(first, head) and repo_git.is_ancestor(head, head)


def test_threads_share_the_pipe(repo: Path) -> None:
    """A run loads its snapshot on a thread while the main thread resolves names: one question at a time."""
    with Git(repo) as repo_git:
        failures: list[str] = []

        def ask(spec: str, expected: bytes) -> None:
            for _ in range(200):
                if repo_git.try_read(spec) != expected:
                    failures.append(spec)

        threads = [
            threading.Thread(target=ask, args=("HEAD:top.txt", b"t\n")),
            threading.Thread(target=ask, args=("HEAD:a/b/two.txt", b"2\n")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []


def test_stale_ref_locks_are_found_in_a_linked_work_tree_too(repo: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "--quiet", str(linked), "side")
    lock = repo / ".git/refs/gitops-engine/x.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    for root in (repo, linked):
        lock.write_text("")
        with Git(root) as repo_git:
            assert repo_git.remove_stale_ref_locks(["refs/gitops-engine/"], started=2**40) == [
                (repo / ".git/refs/gitops-engine/x.lock").resolve()
                if root == linked
                else repo / ".git/refs/gitops-engine/x.lock"
            ]
        assert not lock.exists()

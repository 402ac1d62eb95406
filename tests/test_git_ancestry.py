"""`Git.is_ancestor` walks a few generations of history through the `cat-file --batch` pipe before it starts a
`merge-base` process: its answers are `merge-base --is-ancestor`'s for every pair of objects of a real history with
merges, tags and trees, across a history longer than the walk, and in a shallow clone."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

from testing.repos import commit_all, git, make_repo, write_files

from gitops_engine.git import WALK_MAX, Git


def _merge_base_says(repo: Path, ancestor: str, descendant: str) -> bool:
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, descendant], cwd=repo, capture_output=True
    )
    return proc.returncode == 0


def _history(root: Path) -> tuple[Path, list[str]]:
    """main with a merged side branch and an unmerged one; every commit, tag object and tree id."""
    repo = make_repo(root, {"file.txt": "0\n"})
    git(repo, "checkout", "--quiet", "-b", "side")
    write_files(repo, {"side.txt": "s\n"})
    commit_all(repo, "side")
    git(repo, "checkout", "--quiet", "main")
    write_files(repo, {"file.txt": "1\n"})
    commit_all(repo, "main 1")
    git(repo, "merge", "--quiet", "--no-ff", "-m", "merge side", "side")
    git(repo, "checkout", "--quiet", "-b", "other", "HEAD~1")
    write_files(repo, {"other.txt": "o\n"})
    commit_all(repo, "other")
    git(repo, "checkout", "--quiet", "main")
    git(repo, "tag", "-a", "-m", "annotated", "v1", "main~1")
    commits = git(repo, "rev-list", "--all").split()
    tag = git(repo, "rev-parse", "v1").strip()
    tree = git(repo, "rev-parse", "main^{tree}").strip()
    return repo, [*commits, tag, tree, "f" * 40]


def test_every_pair_is_answered_as_merge_base_answers_it(tmp_path: Path) -> None:
    repo, objects = _history(tmp_path / "repo")
    tag = git(repo, "rev-parse", "v1").strip()
    with Git(repo) as repo_git:
        for ancestor, descendant in itertools.product(objects, repeat=2):
            if ancestor == descendant == tag:
                continue  # one id twice is asked as "a commit this clone holds?" (a tag is not one): not walked
            expected = _merge_base_says(repo, ancestor, descendant)
            assert repo_git.is_ancestor(ancestor, descendant) == expected, (ancestor, descendant)


def test_commits_a_few_generations_apart_cost_no_process(tmp_path: Path) -> None:
    repo, _ = _history(tmp_path / "repo")
    main = git(repo, "rev-parse", "main").strip()
    parents = git(repo, "rev-parse", "main^1", "main^2", "other").split()
    root = git(repo, "rev-list", "--max-parents=0", "main").strip()
    with Git(repo) as repo_git:
        repo_git.try_read("HEAD")  # the pipe is running
        repo_git._env = {**repo_git._env, "PATH": ""}  # no git can be started from here on
        assert repo_git.is_ancestor(parents[0], main) and repo_git.is_ancestor(parents[1], main)
        assert repo_git.is_ancestor(root, main) and repo_git.is_ancestor(root, parents[2])
        assert not repo_git.is_ancestor(parents[2], main) and not repo_git.is_ancestor(main, root)


def test_a_history_longer_than_the_walk_is_asked_of_merge_base(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"n.txt": "0\n"})
    for number in range(1, WALK_MAX + 3):
        write_files(repo, {"n.txt": f"{number}\n"})
        commit_all(repo, f"commit {number}")
    commits = git(repo, "rev-list", "main").split()  # newest first
    with Git(repo) as repo_git:
        assert repo_git.is_ancestor(commits[-1], commits[0])
        assert not repo_git.is_ancestor(commits[0], commits[-1])
        assert repo_git.is_ancestor(commits[WALK_MAX - 1], commits[0])
        repo_git._env = {**repo_git._env, "PATH": ""}
        assert repo_git.is_ancestor(commits[5], commits[0])  # within the walk: no process


def test_a_shallow_clone_stops_where_git_stops(tmp_path: Path) -> None:
    repo, _ = _history(tmp_path / "repo")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth=1", "--no-local", str(repo), str(shallow))
    # Every object of the full history is there too (borrowed), but git's history ends at the shallow commit.
    (shallow / ".git/objects/info/alternates").write_text(f"{repo / '.git/objects'}\n")
    main = git(shallow, "rev-parse", "HEAD").strip()
    parent = git(repo, "rev-parse", "main^1").strip()
    assert git(shallow, "cat-file", "-t", parent) == "commit\n"
    assert not _merge_base_says(shallow, parent, main)
    with Git(shallow) as repo_git:
        assert not repo_git.is_ancestor(parent, main)

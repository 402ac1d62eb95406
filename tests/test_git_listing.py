"""`Git.ls_tree_text` reads a few small folders through the `cat-file --batch` pipe instead of starting `git
ls-tree`: the text is byte for byte what `ls-tree -r -z --full-tree` prints, on a real repository with executable
files, symbolic links, a submodule, names that sort around `/`, and a name that is not UTF-8; anything else is
still asked of ls-tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from testing.repos import commit_all, git, make_repo

from gitops_engine.errors import GitError
from gitops_engine.git import LIST_MAX_TREES, Git


def _ls_tree(repo: Path, commit: str, paths: list[str]) -> str:
    out = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--full-tree", commit, "--", *paths],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    return out.decode("utf-8", "surrogateescape")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {
        "rendered/dev/team/api/manifest.yaml": "a\n",
        "rendered/dev/team/api/gitops-engine.lock": "{}\n",
        "rendered/dev/team/api/sub/deeper/file.txt": "d\n",
        "rendered/dev/team/api-x/manifest.yaml": "x\n",
        "rendered/dev/team/api.y/manifest.yaml": "y\n",
        "rendered/dev/team/api0/manifest.yaml": "0\n",
        "rendered/dev/team/ü nicode/manifest.yaml": "u\n",
        "rendered/prod/team/api/manifest.yaml": "p\n",
        "rendered/prod/team/api/run.sh": "#!/bin/sh\n",
        "workloads/team/api/score.yaml": "s\n",
        "workloads/team/file": "f\n",
        **{f"rendered/stage/team/u{n}/manifest.yaml": f"{n}\n" for n in range(LIST_MAX_TREES)},
        "platform.yaml": "p\n",
        "definitions/postgres/pg.yaml": "d\n",
        "definitions/redis.yaml": "r\n",
        "docs/CODEOWNERS": "* @a\n",
        "envs/dev.yaml": "e\n",
    }
    path = make_repo(tmp_path / "repo", files)
    os.chmod(path / "rendered/prod/team/api/run.sh", 0o755)
    os.symlink("manifest.yaml", path / "rendered/prod/team/api/link.yaml")
    os.symlink("envs", path / "environments")
    with open(os.fsencode(path / "rendered/dev/team/api") + b"/bad-\xff.yaml", "wb") as bad:
        bad.write(b"b\n")
    seed = make_repo(tmp_path / "seed", {"x.txt": "x\n"})
    sha = git(seed, "rev-parse", "HEAD").strip()
    commit_all(path, "more")
    git(path, "update-index", "--add", "--cacheinfo", f"160000,{sha},rendered/dev/team/api/module")
    git(path, "commit", "--quiet", "-m", "a submodule")
    return path


CASES = [
    ["rendered/dev/team/api/"],
    ["rendered/prod/team/api/", "rendered/dev/team/api/"],
    [
        "rendered/dev/team/api-x/",
        "rendered/dev/team/api/",
        "rendered/dev/team/api.y/",
        "rendered/dev/team/api0/",
    ],
    ["rendered/dev/team/ü nicode/"],
    ["rendered/dev/team/missing/", "rendered/dev/team/api0/"],
    ["workloads/team/api/", "workloads/team/file/"],  # a file is no folder
    ["workloads/team/api/", "workloads/team/api/"],
    ["rendered/dev/team/api/sub/"],
    # Files and folders without their "/", as a snapshot lists them; a link in place of a folder.
    [
        "platform.yaml",
        "environments/",
        "environments",
        "definitions/",
        "definitions",
        "CODEOWNERS",
        "docs/CODEOWNERS",
    ],
    [
        "rendered/prod/team/api/link.yaml",
        "rendered/prod/team/api/run.sh",
        "rendered/dev/team/api/bad-\udcff.yaml",
    ],
    ["rendered/prod/team/api/link.yaml/", "rendered/prod/team/api/run.sh/", "workloads/team/file/"],
    [
        "rendered/dev/team/api/module",
        "rendered/dev/team/api/module/",
    ],  # a submodule is a folder to a pathspec
    ["workloads/team/api", "workloads/team/api/score.yaml", "workloads/team/"],  # nested
    ["rendered/dev/team/api", "rendered/dev/team/api-x", "rendered/dev/team/api.y"],
    ["workloads/team/api/score.yaml/x", "missing", "workloads/team/file/x"],
]


def test_a_few_folders_come_through_the_pipe_as_ls_tree_prints_them(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    with Git(repo) as repo_git:
        repo_git.try_read("HEAD")  # the pipe is running
        repo_git._env = {**repo_git._env, "PATH": ""}  # no process can be started from here on
        for paths in CASES:
            assert repo_git.ls_tree_text(head, paths) == _ls_tree(repo, head, paths), paths
    assert "bad-\udcff.yaml" in _ls_tree(repo, head, ["rendered/dev/team/api/"])
    assert "160000 commit " in _ls_tree(repo, head, ["rendered/dev/team/api/"])
    assert "100755 blob " in _ls_tree(repo, head, ["rendered/prod/team/api/"])
    assert "120000 blob " in _ls_tree(repo, head, ["rendered/prod/team/api/"])


def test_other_listings_are_asked_of_ls_tree(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    others = [
        ["rendered/"],  # more trees than the pipe reads
        ["rendered/stage/team/"],
        ["workloads/../rendered/dev/"],
        ["workloads/./team/"],
        ["workloads//team/"],
        ["./workloads/team/api/"],
        [],
    ]
    with Git(repo) as repo_git:
        for paths in others:
            assert repo_git.ls_tree_text(head, paths) == _ls_tree(repo, head, paths), paths
            assert repo_git.ls_tree_text("HEAD", paths) == _ls_tree(repo, head, paths), paths
        for paths in CASES:  # a name, not an id: ls-tree resolves it
            assert repo_git.ls_tree_text("HEAD", paths) == _ls_tree(repo, head, paths), paths
        repo_git._env = {**repo_git._env, "PATH": ""}
        assert repo_git.ls_tree_text(head, ["rendered/dev/"]) == _ls_tree(repo, head, ["rendered/dev/"])
        with pytest.raises(FileNotFoundError):  # more trees than the pipe reads: git (not found) is started
            repo_git.ls_tree_text(head, ["rendered/stage/"])


def test_an_unknown_commit_is_an_error_as_from_ls_tree(repo: Path) -> None:
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    with Git(repo) as repo_git:
        with pytest.raises(GitError, match="ls-tree"):
            repo_git.ls_tree_text("f" * 40, ["workloads/team/api/"])
        # A tree id is listed as ls-tree lists it.
        assert repo_git.ls_tree_text(tree, ["workloads/team/api/"]) == _ls_tree(
            repo, tree, ["workloads/team/api/"]
        )

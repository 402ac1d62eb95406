"""Real git repositories for the fake GitHub: a bare "remote" and branches pushed to it, with plain `git`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

# Fixed identity and dates: commits (and so shas) are the same on every run and machine.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    """Run git in `cwd` with a fixed identity; its stdout, stripped."""
    env = {**os.environ, **_GIT_ENV}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


def make_bare_repo(path: Path, *, branch: str = "main", files: Mapping[str, str] | None = None) -> Path:
    """A bare repository at `path` whose `branch` has one commit with `files` (default: a README)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--bare", "--quiet", f"--initial-branch={branch}")
    commit_files(path, branch, files or {"README.md": "platform\n"}, message="initial commit", parent=None)
    return path


def commit_files(
    bare: Path, branch: str, files: Mapping[str, str], *, message: str = "change", parent: str | None = "main"
) -> str:
    """Commit `files` on top of `parent` (a branch or sha; None for a root commit) and point `branch` at it.

    Works on the bare repository directly (hash-object, mktree via a temporary index) so no clone is needed.
    """
    index = bare / f"index-{os.getpid()}"
    env_index = {"GIT_INDEX_FILE": str(index)}
    try:
        base_env = {**os.environ, **_GIT_ENV, **env_index}
        if parent is not None:
            subprocess.run(
                ["git", "read-tree", parent], cwd=bare, env=base_env, check=True, capture_output=True
            )
        else:
            subprocess.run(
                ["git", "read-tree", "--empty"], cwd=bare, env=base_env, check=True, capture_output=True
            )
        for name, content in files.items():
            blob = subprocess.run(
                ["git", "hash-object", "-w", "--stdin"],
                cwd=bare,
                env=base_env,
                input=content,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            subprocess.run(
                ["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}"],
                cwd=bare,
                env=base_env,
                check=True,
                capture_output=True,
            )
        tree = subprocess.run(
            ["git", "write-tree"], cwd=bare, env=base_env, capture_output=True, text=True, check=True
        ).stdout.strip()
    finally:
        index.unlink(missing_ok=True)
    parents = ["-p", git(bare, "rev-parse", parent)] if parent is not None else []
    sha = git(bare, "commit-tree", tree, *parents, "-m", message)
    git(bare, "update-ref", f"refs/heads/{branch}", sha)
    return sha


def point_branches(bare: Path, branches: Mapping[str, str]) -> None:
    """Point many branches at existing commits in one git call (fast set-up for pagination tests)."""
    commands = "".join(f"update refs/heads/{name} {sha}\n" for name, sha in branches.items())
    git(bare, "update-ref", "--stdin", stdin=commands)


def merge_into(bare: Path, branch: str, *, into: str = "main") -> str:
    """Fast-forward `into` to `branch` when possible, else make a merge commit: what "the team merged" looks like."""
    head = git(bare, "rev-parse", f"refs/heads/{branch}")
    base = git(bare, "rev-parse", f"refs/heads/{into}")
    if (
        subprocess.run(["git", "merge-base", "--is-ancestor", base, head], cwd=bare, check=False).returncode
        == 0
    ):
        git(bare, "update-ref", f"refs/heads/{into}", head)
        return head
    tree = git(bare, "rev-parse", f"{head}^{{tree}}")
    sha = git(bare, "commit-tree", tree, "-p", base, "-p", head, "-m", f"Merge {branch}")
    git(bare, "update-ref", f"refs/heads/{into}", sha)
    return sha

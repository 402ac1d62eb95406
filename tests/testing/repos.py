"""Real git repositories in temporary folders, with a fixed identity and clock so every commit is reproducible."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gitops_engine.git import CommitRequest, Git, Identity

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

# A file to write: text or bytes as they are, a mapping or list dumped as YAML, None deletes.
FileSpec = str | bytes | Mapping[str, Any] | list[Any] | None


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with the fixed test identity; returns stdout, raises on failure."""
    proc = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def write_files(root: Path, files: Mapping[str, FileSpec]) -> None:
    """Write files under `root`: text as is, bytes as is, dicts/lists dumped as YAML, None deletes."""
    for rel, spec in files.items():
        target = root / rel
        if spec is None:
            if target.exists():
                target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, bytes):
            target.write_bytes(spec)
        elif isinstance(spec, str):
            target.write_text(spec, encoding="utf-8")
        else:
            target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def commit_all(repo: Path, message: str = "change") -> str:
    """Stage everything and commit it; returns the commit id."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(path: Path, files: Mapping[str, FileSpec], *, message: str = "initial") -> Path:
    """A git repository at `path` holding `files`, committed on main."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    write_files(path, files)
    commit_all(path, message)
    return path


def clone(source: Path, target: Path, *, bare: bool = False) -> Path:
    """`git clone` (`--bare` on request) of `source` into `target`."""
    git(source.parent, "clone", "--quiet", *(["--bare"] if bare else []), str(source), str(target))
    return target


def remote_and_clone(tmp_path: Path, files: Mapping[str, str], *, push: bool = True) -> Path:
    """A bare remote (`tmp_path/remote.git`) and a clone of it (`tmp_path/clone`) whose main holds `files`,
    committed as "first" and pushed unless `push` is False; returns the clone."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    work = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(remote), str(work))
    write_files(work, files)
    git(work, "add", "-A")
    git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "first")
    if push:
        git(work, "push", "--quiet", "origin", "main")
    return work


ENGINE_WHO = Identity("gitops-engine", "gitops-engine@users.noreply.github.com")


def commits_on(repo: Git, main: str, count: int, tag: str = "") -> list[str]:
    """`count` commits on `main`, the i-th writing `rendered/<i>.yaml`, without moving any ref."""
    return repo.write_commits(
        [
            CommitRequest(
                parent=main,
                changes={f"rendered/{i}.yaml": f"{tag}{i}\n".encode()},
                message=f"{i}\n",
                identity=ENGINE_WHO,
            )
            for i in range(count)
        ]
    )

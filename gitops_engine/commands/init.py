"""`gitops-engine init DIR`: a new platform repo from the bundled template, rendered and committed on main."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import TextIO

from gitops_engine.errors import UsageError
from gitops_engine.git import default_identity, init_repository
from gitops_engine.loading import load_snapshot
from gitops_engine.schema import repo_schema_files
from gitops_engine.source import CODEOWNERS_FILES, WorkTreeSource
from gitops_engine.template import template_dir
from gitops_engine.tree import (
    TreeChanges,
    build_tree,
    diff_tree,
    existing_rendered,
    raise_if_failed,
    write_tree,
)

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", "rendered")
# What --bare leaves out: the sample workloads, and the CODEOWNERS lines of their teams.
_BARE_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", "rendered", "workloads")
_SAMPLE_TEAM_LINE = re.compile(r"^/(?:workloads|rendered/\*)/(?!_shared/)[a-z0-9-]+/\s")


def init(directory: Path, out: TextIO | None = None, *, bare: bool = False) -> int:
    out = out or sys.stdout
    create_platform_repo(directory, bare=bare)
    if bare:
        out.write(
            f"created a platform repo in {directory} (branch main): environments and definitions, no workloads\n"
            f"next: cd {directory} && gitops-engine new team TEAM --owner @ORG/TEAM && "
            "gitops-engine new workload TEAM/NAME\n"
        )
        return 0
    out.write(
        f"created a platform repo in {directory} (branch main, first commit includes rendered/)\n"
        f"next: cd {directory} && gitops-engine validate && gitops-engine render --check\n"
    )
    return 0


def create_platform_repo(directory: Path, *, bare: bool = False) -> None:
    """Copy the template (without its sample workloads when `bare`), add the editor schemas, render it, and make
    the first commit. Refuses a non-empty directory."""
    if directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory} is not empty: give a new or empty directory")
    shutil.copytree(template_dir(), directory, ignore=_BARE_IGNORED if bare else IGNORED, dirs_exist_ok=True)
    if bare:
        _drop_sample_teams(directory)
    write_tree(directory, TreeChanges(writes=repo_schema_files(), deletes=[]))
    snapshot = load_snapshot(WorkTreeSource(directory))
    build = build_tree(snapshot)
    raise_if_failed(build)
    write_tree(directory, diff_tree(existing_rendered(directory), build, snapshot))
    git = init_repository(directory)
    # The trailer tells narrowed `process --base` runs that this commit's rendered output is complete.
    message = "Platform repo from the gitops-engine template\n\nGitops-Engine-Source: self\n"
    git.commit_everything(message, default_identity())


def _drop_sample_teams(directory: Path) -> None:
    for name in CODEOWNERS_FILES:
        path = directory / name
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            path.write_text(
                "".join(line for line in lines if not _SAMPLE_TEAM_LINE.match(line)), encoding="utf-8"
            )

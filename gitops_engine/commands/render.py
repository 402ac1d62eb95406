"""`gitops-engine render`: write `rendered/` from the work tree; `--check` only compares."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gitops_engine import ghactions
from gitops_engine.batch import TreeBuild, build_tree
from gitops_engine.git import blob_id
from gitops_engine.loading import load_snapshot
from gitops_engine.progress import Progress
from gitops_engine.publishing.pending import PendingRenderings, pending_renderings
from gitops_engine.source import WorkTreeSource
from gitops_engine.staging import Stager
from gitops_engine.tree import (
    TreeChanges,
    commit_staged,
    diff_tree,
    discard_staged,
    existing_rendered,
    rendered_units,
)
from gitops_engine.units import Unit


def render(
    repo: Path,
    environments: Sequence[str] = (),
    workloads: Sequence[str] = (),
    *,
    check: bool = False,
    keep_going: bool = False,
    forge_name: str | None = None,
    out: TextIO | None = None,
) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    progress = Progress.for_command(stdout=out)
    snapshot = load_snapshot(WorkTreeSource(repo))
    chosen_envs = list(environments) or snapshot.environment_order
    chosen = list(workloads) or list(snapshot.workload_paths)
    with progress.section(
        f"gitops-engine render: {len(chosen)} workloads in {len(chosen_envs)} environments"
    ):
        progress.start("units rendered", len(chosen) * len(chosen_envs))
        before = rendered_units(repo)
        build = build_tree(
            snapshot,
            environments=list(environments) or None,
            workloads=list(workloads) or None,
            already_rendered=before,
            on_unit=progress.tick,
            # Each unit's files are written (staged) by the process that rendered it; --check writes nothing.
            stage=None if check else Stager(repo, held=before),
        )
        for finding in build.findings:
            out.write(f"{finding}\n")
    if ghactions.in_github_actions():
        ghactions.emit_annotations(build.findings, out)
    blocking = [f for f in build.global_findings if f.severity == "error"]
    if blocking or ((build.failures or build.local_findings) and not keep_going and not check):
        discard_staged(repo, build.staged.values())
        out.write(
            f"nothing written: {len(build.findings)} problem(s). Fix them, or pass --keep-going to render the "
            "units that are valid and leave the others as they are\n"
        )
        return 1
    if check:
        changes = diff_tree(existing_rendered(repo), build, snapshot)
        return _check(repo, build, changes, forge_name or snapshot.settings.forge, out)
    changes = commit_staged(repo, build, snapshot, before)
    units = len({unit for _, unit in build.units})
    out.write(
        f"rendered {units} units in {len(build.environments)} environments: "
        f"{len(changes.writes)} file(s) written, {len(changes.deletes)} removed\n"
    )
    return 0 if build.ok else 1


def _check(repo: Path, build: TreeBuild, changes: TreeChanges, forge_name: str, out: TextIO) -> int:
    """Compare only. A unit whose difference waits in an open engine pull request (its branch holds exactly this
    rendering) is pending, not stale: teams merge those at their own pace, and rendering it on main would bypass
    their review. Only unexplained differences fail the check."""
    by_unit: dict[str, list[str]] = {}
    for path in changes.paths():
        by_unit.setdefault(_unit_of(path), []).append(path)
    waiting = PendingRenderings({})
    if by_unit:
        files = build.files()
        desired = {
            unit: {
                path: blob_id(content)
                for path, content in files.items()
                if _unit_of(path) == unit and path.split("/")[1] in build.environments
            }
            for unit in by_unit
        }
        waiting = pending_renderings(repo, forge_name, desired, build.environments)
    if waiting.note:
        out.write(f"note: {waiting.note}\n")
    for unit, number in sorted(waiting.pending.items()):
        out.write(f"pending in {number}: {unit} ({len(by_unit[unit])} file(s) differ from main)\n")
    stale = 0
    for path in changes.paths():
        if _unit_of(path) in waiting.pending:
            continue
        state = "missing" if path in changes.writes and not (repo / path).exists() else "stale"
        if path in changes.deletes:
            state = "extra"
        out.write(f"{state}: {path}\n")
        stale += 1
    if stale or build.failures or build.local_findings:
        out.write(f"{stale} rendered file(s) out of date: run `gitops-engine render`\n")
        return 1
    if waiting.pending:
        out.write(
            f"rendered/ is up to date but for {len(waiting.pending)} unit(s) waiting in engine pull requests\n"
        )
        return 0
    out.write("rendered/ is up to date\n")
    return 0


def _unit_of(path: str) -> str:
    """The unit of a file under rendered/<env>/<unit>/."""
    return str(Unit.of_path(path))

"""`gitops-engine graph TEAM/NAME --env ENV`: the workload's resources, definitions and dependencies."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from gitops_engine.errors import UsageError
from gitops_engine.loading import load_snapshot
from gitops_engine.publishing.describe import to_dot, to_mermaid
from gitops_engine.render import Renderer, UnitFailure
from gitops_engine.source import WorkTreeSource


def graph(
    repo: Path, workload: str, env: str, output_format: str = "mermaid", out: TextIO | None = None
) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    snapshot = load_snapshot(WorkTreeSource(repo))
    unknown = [snapshot.unknown_environment(env)] if env not in snapshot.environments else []
    if workload not in snapshot.workload_paths:
        unknown.append(snapshot.unknown_workload(workload))
    if unknown and not snapshot.findings:  # broken settings are reported by rendering, below
        raise UsageError("; ".join(unknown))
    try:
        unit, _ = Renderer(snapshot).render_workload(workload, env)
    except UnitFailure as exc:
        for finding in exc.findings:
            out.write(f"{finding}\n")
        return 1
    out.write(to_dot(unit) if output_format == "dot" else to_mermaid(unit))
    return 0

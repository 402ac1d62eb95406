"""`gitops-engine graph TEAM/NAME --env ENV`: the workload's resources, definitions and dependencies."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from gitops_engine.errors import UsageError
from gitops_engine.loading import WorkTreeSource, load_snapshot
from gitops_engine.render import RenderedUnit, Renderer, UnitFailure


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


def _nodes(unit: RenderedUnit) -> tuple[str, list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(workload label, [(node id, label, definition)], [(from, to)])."""
    workload_label = f"{unit.unit} ({unit.env})"
    nodes: list[tuple[str, str, str]] = []
    edges: list[tuple[str, str]] = []
    for index, resource in enumerate(r for r in unit.provenance["resources"] if r["type"] != "workload"):
        node = f"r{index}"
        shared = " shared" if resource["shared"] else ""
        nodes.append(
            (
                node,
                f"{resource['name']}: {resource['type']}{shared}",
                f"{resource['definition']}@{resource['version']}",
            )
        )
    ids = {
        r["name"]: f"r{i}"
        for i, r in enumerate(r for r in unit.provenance["resources"] if r["type"] != "workload")
    }
    for resource in unit.provenance["resources"]:
        if resource["type"] == "workload":
            continue
        edges.append(("w", ids[resource["name"]]))
        for dep in resource["depends_on"]:
            edges.append((ids[resource["name"]], ids[dep]))
    return workload_label, nodes, edges


def to_mermaid(unit: RenderedUnit) -> str:
    label, nodes, edges = _nodes(unit)
    lines = ["graph LR", f'  w["{label}"]']
    for node, text, definition in nodes:
        lines.append(f'  {node}["{text}<br/><small>{definition}</small>"]')
    for a, b in edges:
        lines.append(f"  {a} --> {b}")
    return "\n".join(lines) + "\n"


def to_dot(unit: RenderedUnit) -> str:
    label, nodes, edges = _nodes(unit)
    lines = ["digraph workload {", "  rankdir=LR;", f'  w [label="{label}", shape=box];']
    for node, text, definition in nodes:
        lines.append(f'  {node} [label="{text}\\n{definition}"];')
    for a, b in edges:
        lines.append(f"  {a} -> {b};")
    lines.append("}")
    return "\n".join(lines) + "\n"

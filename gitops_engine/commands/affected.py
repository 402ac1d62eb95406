"""`gitops-engine affected --base REV [--head REV]`: which workloads and environments a commit range changes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from gitops_engine.affected import RenderedState, candidates_from_range
from gitops_engine.errors import Finding
from gitops_engine.git import Git
from gitops_engine.loading import PLATFORM_FILE, GitSource, Snapshot, load_snapshot
from gitops_engine.model import LOCK_FILE, SHARED_FOLDER
from gitops_engine.rendering import Renderer, UnitFailure


@dataclass
class AffectedUnit:
    unit: str
    environments: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    before: dict[str, dict[str, bytes]] = field(default_factory=dict)  # env -> file -> content
    after: dict[str, dict[str, bytes]] = field(default_factory=dict)
    workload_changed: bool = False


@dataclass
class RangeEffect:
    base: str
    head: str
    units: list[AffectedUnit]
    findings: list[Finding]
    changed_paths: list[str]


def range_effect(git: Git, base: str, head: str) -> RangeEffect:
    """Render every candidate unit at both ends of the range and keep those whose manifests differ."""
    base_sha, head_sha = git.rev_parse(base), git.rev_parse(head)
    # Lazy: workloads are listed folder by folder as the range reaches them (a range over everything lists all).
    base_snap = load_snapshot(GitSource(git, base_sha, lazy=True))
    head_snap = load_snapshot(GitSource(git, head_sha, lazy=True))
    changed_paths = [path for _, path in git.diff_names(base_sha, head_sha)]
    state = RenderedState(git, head_sha, full=False)
    candidates = candidates_from_range(git, base_sha, head_sha, head_snap, state)
    if candidates is None:
        candidates = set(base_snap.workload_paths) | set(head_snap.workload_paths)
    findings = [f for f in head_snap.findings if f.severity == "error"]
    before_renderer, after_renderer = Renderer(base_snap), Renderer(head_snap)
    envs = sorted(
        set(base_snap.environment_order) | set(head_snap.environment_order),
        key=_env_order(head_snap, base_snap),
    )
    units: dict[str, AffectedUnit] = {}
    for unit in sorted(u for u in candidates if not u.startswith(SHARED_FOLDER + "/")):
        entry = AffectedUnit(unit)
        for env in envs:
            before = _render(before_renderer, base_snap, unit, env, None)
            after = _render(after_renderer, head_snap, unit, env, findings)
            for shared_unit, files in [*before[1].items()]:
                units.setdefault(shared_unit, AffectedUnit(shared_unit)).before.setdefault(env, files)
            for shared_unit, files in [*after[1].items()]:
                units.setdefault(shared_unit, AffectedUnit(shared_unit)).after.setdefault(env, files)
            if before[0] is not None:
                entry.before[env] = before[0]
            if after[0] is not None:
                entry.after[env] = after[0]
        entry.workload_changed = any(p.startswith(f"workloads/{unit}/") for p in changed_paths)
        units[unit] = entry
    affected: list[AffectedUnit] = []
    for _, entry in sorted(units.items()):
        entry.environments = [
            env for env in envs if _manifests(entry.before.get(env)) != _manifests(entry.after.get(env))
        ]
        if not entry.environments:
            continue
        entry.reasons = _reasons(entry, changed_paths, base_snap, head_snap, before_renderer, after_renderer)
        affected.append(entry)
    return RangeEffect(base_sha, head_sha, affected, sorted(set(findings)), changed_paths)


def _env_order(*snapshots: Snapshot) -> Callable[[str], int]:
    order: list[str] = []
    for snap in snapshots:
        order.extend(e for e in snap.environment_order if e not in order)
    return lambda env: order.index(env) if env in order else len(order)


def _render(
    renderer: Renderer, snapshot: Snapshot, unit: str, env: str, findings: list[Finding] | None
) -> tuple[dict[str, bytes] | None, dict[str, dict[str, bytes]]]:
    if unit not in snapshot.workload_paths or env not in snapshot.environments:
        return None, {}
    try:
        rendered, shared = renderer.render_workload(unit, env)
    except UnitFailure as exc:
        if findings is not None:
            findings.extend(exc.findings)
        return None, {}
    return rendered.files, {s.unit: s.files for s in shared}


def _manifests(files: dict[str, bytes] | None) -> dict[str, bytes]:
    return {k: v for k, v in (files or {}).items() if k != LOCK_FILE}


def _reasons(
    entry: AffectedUnit,
    changed_paths: list[str],
    base_snap: Snapshot,
    head_snap: Snapshot,
    before_renderer: Renderer,
    after_renderer: Renderer,
) -> list[str]:
    reasons = [f"{p} changed" for p in changed_paths if p.startswith(f"workloads/{entry.unit}/")]
    used_before = _definitions_used(entry.before)
    used_after = _definitions_used(entry.after)
    for definition_id in sorted(set(used_before) | set(used_after)):
        old, new = used_before.get(definition_id), used_after.get(definition_id)
        if old != new:
            reasons.append(f"definition {definition_id}: {old or 'unused'} → {new or 'unused'}")
    for path in changed_paths:
        if path == PLATFORM_FILE or path.startswith("environments/"):
            reasons.append(f"{path} changed")
    return reasons or ["rendered output differs"]


def _definitions_used(files_by_env: dict[str, dict[str, bytes]]) -> dict[str, str]:
    used: dict[str, str] = {}
    for files in files_by_env.values():
        lock = files.get(LOCK_FILE)
        if lock:
            for resource in json.loads(lock).get("resources", []):
                used.setdefault(resource["definition"], resource["version"])
    return used


def affected(repo: Path, base: str, head: str, output_format: str, out: TextIO | None = None) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    with Git(repo) as git:
        effect = range_effect(git, base, head)
    if output_format == "json":
        json.dump(
            {
                "base": effect.base,
                "head": effect.head,
                "workloads": [
                    {"workload": u.unit, "environments": u.environments, "reasons": u.reasons}
                    for u in effect.units
                ],
                "findings": [str(f) for f in effect.findings],
            },
            out,
            indent=2,
        )
        out.write("\n")
    elif output_format == "markdown":
        from gitops_engine.commands.preview import preview_markdown

        with Git(repo) as git:
            out.write(preview_markdown(effect))
    else:
        for finding in effect.findings:
            out.write(f"error: {finding}\n")
        if not effect.units:
            out.write(f"no rendered output changes between {effect.base[:12]} and {effect.head[:12]}\n")
        for unit in effect.units:
            out.write(f"{unit.unit}: {', '.join(unit.environments)}\n")
            for reason in unit.reasons:
                out.write(f"  - {reason}\n")
    return 1 if effect.findings else 0

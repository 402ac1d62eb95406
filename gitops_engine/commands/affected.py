"""`gitops-engine affected --base REV [--head REV]`: which workloads and environments a commit range changes."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gitops_engine.affected import RenderedState, UnitPlan, candidates_from_range, plan_changes
from gitops_engine.errors import Finding
from gitops_engine.git import Git, default_identity
from gitops_engine.loading import PLATFORM_FILE, GitSource, load_snapshot


@dataclass
class AffectedUnit:
    """A unit whose rendered output a merge of the range changes, as the processor will plan it."""

    unit: str
    environments: list[str]  # whose manifests change, in platform.yaml's order
    reasons: list[str]
    plan: UnitPlan

    @property
    def merge(self) -> str:
        """What the processor does after the merge: "commit" to main, or open a "pull request"."""
        return "commit" if self.plan.goes_to_main else "pull request"


@dataclass
class RangeEffect:
    base: str
    head: str
    units: list[AffectedUnit]  # units whose manifests change
    provenance_only: list[str]  # units whose provenance alone changes (committed to main; nothing deploys)
    findings: list[Finding]
    failed: list[str]  # units that fail to render: they keep their last output
    changed_paths: list[str]


def range_effect(git: Git, base: str, head: str) -> RangeEffect:
    """What merging `head` into `base` makes the processor do: the plan it makes on the merged sources against the
    rendered/ that `base` holds (so a unit that fails keeps its output, pending definition updates that a changed
    workload adopts show, and `preview`, `affected` and `process --dry-run` agree by construction)."""
    base_sha, head_sha = git.rev_parse(base), git.rev_parse(head)
    # Lazy: workloads are listed folder by folder as the range reaches them (a range over everything lists all).
    snapshot = load_snapshot(GitSource(git, head_sha, lazy=True))
    changes = git.diff_names(base_sha, head_sha)
    state = RenderedState(git, base_sha, full=False)
    candidates = candidates_from_range(git, base_sha, head_sha, snapshot, state, default_identity().email)
    plan = plan_changes(snapshot, state, candidates=candidates)
    units: list[AffectedUnit] = []
    provenance_only: list[str] = []
    for name, unit_plan in sorted(plan.units.items()):
        if not unit_plan.changed:
            continue
        if not unit_plan.manifests_changed:
            provenance_only.append(name)
            continue
        reasons = _reasons(unit_plan, changes)
        units.append(AffectedUnit(name, unit_plan.manifest_environments, reasons, unit_plan))
    return RangeEffect(
        base_sha,
        head_sha,
        units,
        provenance_only,
        plan.findings,
        sorted(plan.failures),
        [path for _, path in changes],
    )


_STATUS = {"A": "added", "D": "removed"}


def _reasons(unit: UnitPlan, changes: list[tuple[str, str]]) -> list[str]:
    """Why a unit changes, in the range's terms: its files, the definitions it moves between, settings."""
    folder = f"workloads/{unit.unit}/"
    reasons = [
        f"{path} {_STATUS.get(status, 'changed')}" for status, path in changes if path.startswith(folder)
    ]
    for definition_id, old, new in unit.definition_changes():
        reasons.append(f"definition {definition_id}: {old or 'unused'} → {new or 'unused'}")
    for _, path in changes:
        if path == PLATFORM_FILE or path.startswith("environments/"):
            reasons.append(f"{path} changed")
    return reasons or unit.reasons or ["rendered output differs"]


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
                    {
                        "workload": u.unit,
                        "environments": u.environments,
                        "reasons": u.reasons,
                        "merge": u.merge,
                    }
                    for u in effect.units
                ],
                "provenance_only": effect.provenance_only,
                "failed": effect.failed,
                "findings": [str(f) for f in effect.findings],
            },
            out,
            indent=2,
        )
        out.write("\n")
    elif output_format == "markdown":
        from gitops_engine.publishing.describe import preview_markdown

        with Git(repo) as git:
            out.write(preview_markdown(git, effect))
    else:
        for finding in effect.findings:
            out.write(f"error: {finding}\n")
        if not effect.units:
            out.write(f"no rendered output changes between {effect.base[:12]} and {effect.head[:12]}\n")
        for unit in effect.units:
            after = "committed to main" if unit.merge == "commit" else "pull request"
            out.write(f"{unit.unit}: {', '.join(unit.environments)} ({after})\n")
            for reason in unit.reasons:
                out.write(f"  - {reason}\n")
        if effect.provenance_only:
            out.write(f"provenance only (committed to main): {', '.join(effect.provenance_only)}\n")
        if effect.failed:
            out.write(f"failing, left as rendered: {', '.join(effect.failed)}\n")
    return 1 if effect.findings else 0

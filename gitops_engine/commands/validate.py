"""`gitops-engine validate`: load and render everything in memory; report every problem at once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from gitops_engine import ghactions
from gitops_engine.batch import build_tree
from gitops_engine.codeowners import unowned_teams
from gitops_engine.errors import Finding, group_findings
from gitops_engine.loading import load_snapshot
from gitops_engine.progress import Progress
from gitops_engine.render import RenderedUnit
from gitops_engine.sarif import sarif_log
from gitops_engine.source import WorkTreeSource
from gitops_engine.tree import rendered_units


def validate(
    repo: Path,
    output_format: str = "text",
    out: TextIO | None = None,
    *,
    base: str | None = None,
    head: str = "HEAD",
) -> int:
    """Every unit of the work tree; with `base`, only what the commits base..head reach (a pull request's check)."""
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    progress = Progress.for_command(output_format, stdout=out)
    if base is not None:
        findings, units, envs = _range_findings(repo, base, head)
        if output_format in ("text", "github"):
            for finding in findings:
                out.write(f"{finding}\n")
    else:
        snapshot = load_snapshot(WorkTreeSource(repo))
        envs = len(snapshot.environment_order)
        with progress.section(
            f"gitops-engine validate: {len(snapshot.workload_paths)} workloads in {envs} environments"
        ):
            progress.start("units rendered", len(snapshot.workload_paths) * envs)
            build = build_tree(
                snapshot, already_rendered=rendered_units(repo), on_unit=progress.tick, stage=_drop_files
            )
            findings = [*build.findings, *unowned_teams(snapshot)]
            if output_format in ("text", "github"):
                for finding in findings:
                    out.write(f"{finding}\n")
        units = len(build.workloads)
        envs = len(build.environments)
    return _report(findings, units, envs, output_format, out)


def _range_findings(repo: Path, base: str, head: str) -> tuple[list[Finding], int, int]:
    """What a full validate would find wrong with the changes of base..head, at the cost of the change: the
    units the range reaches (as `affected` finds them) are rendered at `head` against rendered/ at `base`, whose
    folder listings and locks stand in for every other unit (namespace and object clashes); the files the range
    changes are checked (schemas, placement); CODEOWNERS covers the teams the range touches (every team when
    CODEOWNERS changed)."""
    from gitops_engine.git import Git
    from gitops_engine.plan import plan_range
    from gitops_engine.source import CODEOWNERS_FILES

    with Git(repo) as git:
        planned = plan_range(git, base, head)
    snapshot, candidates, plan = planned.snapshot, planned.candidates, planned.plan
    changed = {path for _, path in planned.changes}
    reached = sorted(
        u
        for u in (snapshot.workload_paths if candidates is None else candidates)
        if u in snapshot.workload_paths
    )
    # As a full build reports them: failures, then what blocks everything, then problems of one file each.
    findings = group_findings(
        [
            *(f for fs in plan.failures.values() for f in fs),
            *snapshot.findings,
            *snapshot.local_findings,
        ],
        snapshot.environment_order,
    )
    everyone = candidates is None or bool(changed & set(CODEOWNERS_FILES))
    findings += unowned_teams(snapshot, None if everyone else reached)
    return findings, len(reached), len(snapshot.environment_order)


def _report(findings: list[Finding], units: int, envs: int, output_format: str, out: TextIO) -> int:
    errors = [f for f in findings if f.severity == "error"]
    if output_format == "sarif":
        json.dump(sarif_log(findings), out, indent=2)
        out.write("\n")
    elif output_format == "json":
        json.dump(
            {
                "ok": not errors,
                "workloads": units,
                "environments": envs,
                "findings": [_as_json(f) for f in findings],
            },
            out,
            indent=2,
        )
        out.write("\n")
    else:
        if output_format == "github" or ghactions.in_github_actions():
            ghactions.emit_annotations(findings, out)
            ghactions.write_summary(_summary(findings, units, envs))
        if errors:
            files = len({f.path for f in errors})
            out.write(
                f"{len(errors)} error{'s' if len(errors) != 1 else ''} in {files} file{'s' if files != 1 else ''}\n"
            )
        else:
            out.write(f"ok: {units} workloads in {envs} environments are valid\n")
    return 1 if errors else 0


def _as_json(finding: Finding) -> dict[str, object]:
    return {
        "path": finding.path,
        "line": finding.line,
        "column": finding.column,
        "severity": finding.severity,
        "unit": finding.unit,
        "message": finding.message,
        "environments": list(finding.environments),
    }


def _summary(findings: list[Finding], units: int, envs: int) -> str:
    lines = ["## gitops-engine validate", ""]
    if not findings:
        lines.append(f"All {units} workloads are valid in {envs} environments.")
        return "\n".join(lines) + "\n"
    lines += [f"{len(findings)} problem(s):", "", "| file | line | problem |", "|---|---|---|"]
    for f in findings:
        message = f.text.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{f.path}` | {f.line or ''} | {message} |")
    return "\n".join(lines) + "\n"


def _drop_files(rendered: RenderedUnit) -> None:
    """validate writes nothing: no worker sends a unit's files back."""
    return None

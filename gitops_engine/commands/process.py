"""`gitops-engine process`: the reconciler run in CI after every push to main (and on a schedule)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from gitops_engine import ghactions, reconcile
from gitops_engine.forge import open_forge
from gitops_engine.git import default_identity
from gitops_engine.loading import load_settings
from gitops_engine.progress import Progress, counting_forge
from gitops_engine.publishing.report import RunReport


def process(
    repo: Path,
    *,
    base: str | None = None,
    head: str | None = None,
    full: bool = False,
    forge_name: str | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    del head  # the run always reconciles the remote's newest main; --head only names the event's commit
    settings = load_settings(repo)
    name = forge_name or settings.forge
    forge = None if dry_run else open_forge(name, repo, max_writes_per_run=settings.max_per_hour)
    progress = Progress.for_command(stdout=out)
    with progress.section("gitops-engine process: plan, commit, pull requests"):
        progress.start("reconciling main")
        report = reconcile.process(
            repo,
            None if forge is None else counting_forge(forge, progress),
            default_identity(),
            base=base,
            full=full,
            dry_run=dry_run,
            progress=lambda line: progress.print(line, out),
        )
    out.write(format_report(report))
    if ghactions.in_github_actions():
        ghactions.emit_annotations(report.findings, out)
        ghactions.write_summary(summary_markdown(report))
        ghactions.set_outputs(
            {
                "committed": report.committed or "",
                "opened": len(report.opened),
                "updated": len(report.updated),
                "closed": len(report.closed),
                "failed": len(report.failures),
            }
        )
    return 1 if report.findings else 0


def format_report(report: RunReport) -> str:
    lines: list[str] = []
    for finding in report.findings:
        lines.append(f"error: {finding}")
    plan = report.plan
    if report.dry_run and plan is not None:
        for unit in plan.main_units():
            if unit.manifests_changed:
                lines.append(
                    f"would commit {unit.unit} ({unit.cause}): {', '.join(unit.manifest_environments)}"
                )
            else:
                lines.append(f"would commit {unit.unit} (provenance only): {', '.join(unit.environments)}")
        for unit in plan.pull_units():
            lines.append(
                f"would open or update the pull request for {unit.unit}: {', '.join(unit.manifest_environments)}"
            )
        for failed in sorted(plan.failures):
            lines.append(f"would leave {failed} as it is: it fails to render")
    if report.committed:
        lines.append(f"committed {report.committed[:12]} to main: {', '.join(report.committed_units)}")
    for pull in report.opened:
        lines.append(f"opened #{pull.number} {pull.title} ({pull.url})")
    for pull in report.updated:
        lines.append(f"updated #{pull.number} {pull.title}")
    for pull, _ in report.closed:
        lines.append(f"closed #{pull.number} {pull.title}")
    for branch in report.deleted_branches:
        lines.append(f"deleted branch {branch}")
    for blocked, why in report.blocked:
        lines.append(f"left alone {blocked}: {why}")
    if report.deferred:
        lines.append(
            f"deferred to the next run (per-run cap or rate limit): {', '.join(sorted(set(report.deferred)))}"
        )
    nothing = not (
        report.committed or report.opened or report.updated or report.closed or report.deleted_branches
    )
    if nothing and not report.findings and not report.dry_run:
        lines.append(f"nothing to do: main ({report.head[:12]}) is up to date")
    return "\n".join(lines) + "\n"


def summary_markdown(report: RunReport) -> str:
    lines = ["## gitops-engine process", ""]
    lines.append(f"- main: `{report.head[:12]}`")
    if report.committed:
        lines.append(f"- committed `{report.committed[:12]}`: {', '.join(report.committed_units)}")
    for pull in report.opened:
        lines.append(f"- opened [#{pull.number}]({pull.url}) {pull.title}")
    for pull in report.updated:
        lines.append(f"- updated [#{pull.number}]({pull.url}) {pull.title}")
    for pull, _ in report.closed:
        lines.append(f"- closed [#{pull.number}]({pull.url}) {pull.title}")
    if report.deferred:
        lines.append(f"- deferred to the next run: {', '.join(sorted(set(report.deferred)))}")
    for finding in report.findings:
        lines.append(f"- :x: `{finding.location()}` {finding.text}")
    return "\n".join(lines) + "\n"

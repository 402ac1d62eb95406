"""The rollout dashboard after a run (see gitops_engine.dashboard): rebuilt only when the run moved a rollout."""

from __future__ import annotations

from collections.abc import Callable

from gitops_engine.errors import RateLimited
from gitops_engine.forge import Forge
from gitops_engine.git import Git
from gitops_engine.publishing import BRANCH_PREFIX
from gitops_engine.publishing.report import RunReport


def rollout_activity(report: RunReport) -> bool:
    """Did this run move a rollout: a pull request merged, opened, updated or closed, a part waiting for a wave,
    or a commit to main of a part not caused by a workload's own change (a direct part, a lock-only change)?"""
    if report.merged or report.opened or report.updated or report.closed or report.deleted_branches:
        return True
    if report.waiting or report.deferred or report.failures:
        return True
    return report.plan is not None and any(u.cause != "workload" for u in report.plan.main_units())


def update_dashboard(
    git: Git, forge: Forge, main: str, report: RunReport, progress: Callable[[str], None]
) -> None:
    """Bring the rollout dashboard issue up to date; a write only when it changed."""
    from gitops_engine import dashboard

    if not rollout_activity(report):
        # A developer's change alone leaves the dashboard as it is: rebuilding it reads every lock of the repo,
        # which everyday runs must not pay for. A unit such a change took live is counted by the next run that
        # moves the rollout (a merge, a pull request opened, updated or closed, a wave).
        return
    run = dashboard.RunState(
        waiting={(unit, env) for unit, env, _ in report.waiting},
        deferred=set(report.deferred),
        failed={unit: str(found[0]) for unit, found in report.failures.items() if found},
    )
    try:
        pulls = [p for p in forge.list_pull_requests("open") if p.branch.startswith(BRANCH_PREFIX)]
        issue = dashboard.publish(forge, dashboard.build(git, main, pulls, run))
    except RateLimited as exc:
        progress(f"rate limited ({exc}); the dashboard is left for the next run")
        return
    if issue is not None:
        progress(f"dashboard #{issue.number} updated")

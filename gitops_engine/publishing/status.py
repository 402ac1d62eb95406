"""The rollout dashboard after a run (see gitops_engine.dashboard): rebuilt only when the run moved a rollout."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitops_engine.errors import GitopsError, RateLimited
from gitops_engine.forge import Forge
from gitops_engine.git import Git
from gitops_engine.publishing import BRANCH_PREFIX
from gitops_engine.publishing.report import RunReport
from gitops_engine.workers import PARALLEL_MIN_UNITS, Background, plan_workers

if TYPE_CHECKING:
    from gitops_engine.dashboard import Usage


def rollout_activity(report: RunReport) -> bool:
    """Did this run move a rollout: a pull request merged, opened, updated or closed, a part waiting for a wave,
    or a commit to main of a part not caused by a workload's own change (a direct part, a lock-only change)?"""
    if report.merged or report.opened or report.updated or report.closed or report.deleted_branches:
        return True
    if report.waiting or report.deferred or report.failures:
        return True
    return report.plan is not None and any(u.cause != "workload" for u in report.plan.main_units())


class MainUsage:
    """`dashboard.usage` of main, which reads every lock of the repository (~1.3 s at 10,000 workloads): in a
    forked process once `start` is called (before the branches are written and pushed, which wait on git for much
    of their time: 1,198 pull requests at 10,000 workloads waited ~1.1 s for it after the forge's writes, when it
    started after the push, and ~0.1 s now), else where the dashboard is built."""

    def __init__(self, git: Git, main: str) -> None:
        self.git, self.main = git, main
        self._background: Background[Usage] | None = None

    def start(self) -> None:
        # A fork while another thread runs could leave the child waiting on a lock that thread held.
        if (
            self._background is None
            and plan_workers(PARALLEL_MIN_UNITS) > 1
            and threading.active_count() == 1
        ):
            with contextlib.suppress(OSError):  # no process to be had: computed where the dashboard is built
                self._background = Background(self._usage, "dashboard")

    def result(self) -> Usage:
        background, self._background = self._background, None
        if background is not None:
            with contextlib.suppress(GitopsError):  # its process died: computed here instead
                return background.result()
        return self._usage()

    def _usage(self) -> Usage:
        from gitops_engine import dashboard

        return dashboard.usage(self.git, self.main)

    def close(self) -> None:
        """Let go of a reading that was never asked for (the run moved no rollout after all): stopped, not
        waited for."""
        background, self._background = self._background, None
        if background is not None:
            background.stop()


def update_dashboard(
    git: Git,
    forge: Forge,
    main: str,
    report: RunReport,
    progress: Callable[[str], None],
    main_usage: MainUsage | None = None,
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
        found = (main_usage or MainUsage(git, main)).result()
        issue = dashboard.publish(forge, dashboard.build(git, main, pulls, run, found))
    except RateLimited as exc:
        progress(f"rate limited ({exc}); the dashboard is left for the next run")
        return
    if issue is not None:
        progress(f"dashboard #{issue.number} updated")

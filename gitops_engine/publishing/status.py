"""The rollout dashboard after a run (see gitops_engine.dashboard): rebuilt only when the run moved a rollout."""

from __future__ import annotations

import functools
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
    from gitops_engine.dashboard import Usage, Uses


def rollout_activity(report: RunReport) -> bool:
    """Did this run move a rollout: a pull request merged, opened, updated or closed, a part waiting for a wave,
    or a commit to main of a part not caused by a workload's own change (a direct part, a lock-only change)?"""
    if report.merged or report.opened or report.updated or report.closed or report.deleted_branches:
        return True
    if report.waiting or report.deferred or report.failures:
        return True
    return report.plan is not None and any(u.cause != "workload" for u in report.plan.main_units())


# Below this many pull requests a run ends soon after its push, and reading main's locks for the dashboard is its
# tail: the reading is shared among the cores. With more, one process reads beside the branches' writing, which
# keeps the other core busy (1,198 pull requests at 10,000 workloads: 5.3 s with one, 5.9-6.4 s with two).
SHARED_READING_BELOW = 256
# The one process reading beside the branches' writing yields to it: the run waits for the push first (1,198 pull
# requests at 10,000 workloads: ~4.4 → ~4.25 s).
WHOLE_READING_NICENESS = 10


class MainUsage:
    """`dashboard.usage` of main, which reads every lock of the repository (~1.3 s of one core at 10,000
    workloads): from when `start` is called, in forked processes (dashboard.lock_uses, each reading a run of the
    locks), while the run writes and pushes the branches and the forge writes the pull requests; else where the
    dashboard is built. `pulls`: how many pull requests the run may write (see SHARED_READING_BELOW). 1,198 pull
    requests at 10,000 workloads waited ~1.1 s for it after the forge's writes when one process started after
    the push, and ~0.1 s now; a service port moved there (one pull request) takes ~1.9 s instead of ~2.4 s with
    the reading shared by two."""

    def __init__(self, git: Git, main: str, pulls: int = 0) -> None:
        self.git, self.main = git, main
        self._shared = pulls < SHARED_READING_BELOW
        self._whole: Background[Usage] | None = None  # one process: it names what is behind too
        self._parts: list[Background[Uses]] = []  # several: each reads a run of the locks

    def start(self) -> None:
        # With one core the reading is done where the dashboard is built. A fork while another thread runs could
        # leave the child waiting on a lock that thread held.
        cores = plan_workers(PARALLEL_MIN_UNITS)
        if self._whole or self._parts or cores < 2 or threading.active_count() != 1:
            return
        from gitops_engine import dashboard

        try:
            if not self._shared:
                usage = functools.partial(dashboard.usage, self.git, self.main)
                self._whole = Background(usage, "dashboard", nice=WHOLE_READING_NICENESS)
                return
            for index in range(cores):
                part = functools.partial(dashboard.lock_uses, self.git, self.main, (index, cores))
                self._parts.append(Background(part, "dashboard"))
        except OSError:  # no process to be had: computed where the dashboard is built
            self.close()

    def result(self) -> Usage:
        from gitops_engine import dashboard

        whole, parts = self._whole, self._parts
        self._whole, self._parts = None, []
        try:
            if whole is not None:
                return whole.result()
            if parts:
                return dashboard.summarize(
                    self.git, self.main, dashboard.merge_uses([part.result() for part in parts])
                )
        except GitopsError:  # a process died: computed here instead
            pass
        finally:
            for part in parts:
                part.stop()  # those not read when one failed
        return dashboard.usage(self.git, self.main)

    def close(self) -> None:
        """Let go of a reading that was never asked for (the run moved no rollout after all): stopped, not
        waited for."""
        whole, parts = self._whole, self._parts
        self._whole, self._parts = None, []
        if whole is not None:
            whole.stop()
        for part in parts:
            part.stop()


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

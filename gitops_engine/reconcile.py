"""The processor's run, stage by stage: what `gitops-engine process` does after every push to main.

    sync → range → candidates → plan → commit main → publish pull requests → record (→ dashboard)

`process` holds the run's resources; `until_main_holds_still` is the retry loop (main moved under the run: it
starts again on the new main); `reconcile_once` is one attempt, each stage one call. The stages hand small records to each other:
`Synced` (the remote's main and engine branches), `Range` (where the run starts), `Candidates` (the units to
plan), the `Plan`, and the `RunReport` every stage adds to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from gitops_engine.budget import BudgetedForge, WriteBudget
from gitops_engine.candidates import Candidates, find_candidates
from gitops_engine.errors import GitopsError, RateLimited
from gitops_engine.forge import Forge, PullRequest
from gitops_engine.git import Git, Identity, drop_early
from gitops_engine.loading import Snapshot, load_snapshot
from gitops_engine.plan import Plan, plan_changes
from gitops_engine.publishing.branches import branches_to_ask, engine_pulls
from gitops_engine.publishing.main import commit_main, is_complete, push_main
from gitops_engine.publishing.pulls import PullRun, publish_pulls
from gitops_engine.publishing.report import RunReport
from gitops_engine.publishing.status import MainUsage, update_dashboard
from gitops_engine.reconciled import (
    ENGINE_LOCAL_REFS,
    Range,
    Synced,
    range_start,
    record_reconciled,
    sync_remote,
)
from gitops_engine.rollout import apply_rollout, pull_groups, rollout_config
from gitops_engine.source import GitSource

MAX_ATTEMPTS = 5

T = TypeVar("T")


@dataclass
class Run:
    """What every attempt of a run shares: the clone, the forge (budgeted once main is committed), the options."""

    git: Git
    forge: Forge | None
    identity: Identity
    base: str | None
    full: bool
    dry_run: bool
    progress: Callable[[str], None]
    clock: Callable[[], float]
    budgeted: BudgetedForge | None = None

    def close(self) -> None:
        try:
            if self.budgeted is not None:
                self.budgeted.settle()  # what was reserved and not written goes back to the budget
        finally:
            self.git.close()


def process(
    root: Path,
    forge: Forge | None,
    identity: Identity,
    *,
    base: str | None = None,
    full: bool = False,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda line: None,
    clock: Callable[[], float] = time.time,
) -> RunReport:
    """Reconcile the remote's main: the processor's whole run. `base` names the event's change (the reasons start
    there); `full` checks every unit instead of what changed since the last complete run (see
    reconciled.range_start); `clock` dates the forge writes in the budget across runs (see gitops_engine.budget)."""
    run = Run(Git(root), forge, identity, base, full, dry_run, progress, clock)
    try:
        remove_stale_locks(run)
        merged = merge_ready_pulls(run)
        if merged:
            drop_early()  # the remote moved: what was asked of it ahead of the run is out of date
        return until_main_holds_still(run, merged)
    finally:
        run.close()


def until_main_holds_still(run: Run, merged: list[PullRequest]) -> RunReport:
    """The retry loop: when main moved while the run rendered (its push of main was refused), it starts again on
    the new main, at most MAX_ATTEMPTS times."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = reconcile_once(run, RunReport(attempts=attempt, dry_run=run.dry_run, merged=merged))
        if report is not None:
            return report
        run.progress(f"main moved while rendering (attempt {attempt}): starting again on the new main")
    raise GitopsError(f"main kept moving during {MAX_ATTEMPTS} attempts: run again later")


def reconcile_once(run: Run, report: RunReport) -> RunReport | None:
    """One attempt; None when main moved before the run could commit to it."""
    synced = sync_remote(run.git)
    report.head = synced.main
    snapshot, where = load_and_find_range(run, synced)
    candidates = find_candidates(run.git, synced, where, snapshot, run.identity)
    plan = make_plan(run, snapshot, candidates, report)
    if any(f in plan.global_findings for f in snapshot.findings):
        return report  # settings or environments are broken: nothing can be rendered safely
    if run.dry_run:
        report.committed_units = [u.unit for u in plan.main_units()]
        return report
    main = commit_to_main(run, synced.main, plan, report)
    if main is None:
        return None
    report.pending = sorted(candidates.pending)
    if run.forge is None:
        return report
    forge = run.budgeted = budget_writes(run, run.forge, snapshot)
    # The dashboard's reading of main: started before the branches are written, when there is a dashboard.
    main_usage = MainUsage(run.git, main, len(plan.pull_units()))
    try:
        before_push = main_usage.start if snapshot.settings.dashboard else lambda: None
        published = publish_pull_requests(run, forge, snapshot, candidates, plan, main, report, before_push)
        trailer = is_complete(plan)
        plan.release()
        # The reconciled ref's push waits for the remote while the dashboard is rebuilt; what each says is said
        # in that order once both are done.
        said: list[str] = []

        def record() -> None:
            if published:
                record_reconciled(
                    run.git, main, synced, where.reconciled, report, said.append, trailer=trailer
                )

        recording = _Background(record, "reconciled")
        dashboard_said: list[str] = []
        try:
            if snapshot.settings.dashboard and report.changed_anything:
                update_dashboard(run.git, forge, main, report, dashboard_said.append, main_usage)
        finally:
            recording.wait()
            for line in [*said, *dashboard_said]:
                run.progress(line)
        recording.result()
    finally:
        main_usage.close()
    return report


# -------------------------------------------------------------------------------------------------------------
# The stages


def remove_stale_locks(run: Run) -> None:
    """Locks a killed run left on the refs only the engine writes in this clone would wedge it for good."""
    for stale in run.git.remove_stale_ref_locks(ENGINE_LOCAL_REFS, started=time.time()):
        run.progress(f"removed {stale}: a stale lock left by a git process that was killed")


def merge_ready_pulls(run: Run) -> list[PullRequest]:
    """Auto-merge pull requests whose checks passed land first, so the run starts from the main they make."""
    merged = [] if run.forge is None or run.dry_run else run.forge.merge_ready()
    for pull in merged:
        run.progress(f"merged #{pull.number} ({pull.branch}): auto-merge")
    return merged


def load_and_find_range(run: Run, synced: Synced) -> tuple[Snapshot, Range]:
    """The snapshot of main and where the run's range starts.

    Two independent waits overlap: the snapshot (settings, environments and definitions; workloads are listed
    folder by folder as the run reaches them) and where the range starts (a few git calls: processes of their
    own, or questions on the clone's `cat-file` pipe, which answers one caller at a time). The thread is done
    before planning forks any worker."""
    loading = _Background(
        lambda: load_snapshot(GitSource(run.git, synced.main, resolved=True, lazy=True)), "snapshot"
    )
    try:
        start, reconciled = range_start(
            run.git, synced.main, run.base, run.identity, full=run.full, marker=synced.marker
        )
    except BaseException:
        loading.wait()  # the thread ends before the error leaves (it uses the clone's pipe)
        raise
    return loading.result(), Range(start, reconciled)


class _Background(Generic[T]):
    """A call run on a thread of its own (a plain thread: concurrent.futures costs ~4 ms of start-up to import,
    logging included)."""

    def __init__(self, call: Callable[[], T], name: str) -> None:
        self._outcome: tuple[T] | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name=name)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._outcome = (call(),)
        except BaseException as error:  # handed to the thread that asks for the result
            self._outcome = error

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> T:
        """The call's result once it is done; what it raised is raised here."""
        self.wait()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert self._outcome is not None
        return self._outcome[0]


def make_plan(run: Run, snapshot: Snapshot, candidates: Candidates, report: RunReport) -> Plan:
    """Plan the candidates and split the plan into rollout parts; the report takes its failures and waits."""
    plan = plan_changes(snapshot, candidates.state, candidates=candidates.units)
    report.waiting = apply_rollout(plan, snapshot)
    report.plan = plan
    report.failures = plan.failures
    report.global_findings = plan.global_findings
    run.progress(
        f"plan: {plan.mode} reconcile of {plan.candidates} candidate unit(s) at {plan.head[:12]}: "
        f"{len(plan.main_units())} to commit, {len(plan.pull_units())} for pull requests, {len(plan.failures)} failed"
        + (f", {len(report.waiting)} part(s) waiting for a wave" if report.waiting else "")
    )
    return plan


def commit_to_main(run: Run, main: str, plan: Plan, report: RunReport) -> str | None:
    """Commit the plan's main units and push main with a lease; returns the new main (main when there was nothing
    to commit), None when main moved meanwhile."""
    units = plan.main_units()
    if not units:
        return main
    commit = commit_main(run.git, main, units, run.identity, complete=is_complete(plan))
    if not push_main(run.git, main, commit):
        return None
    report.committed = commit
    report.committed_units = [u.unit for u in units]
    run.progress(f"committed {commit[:12]} to main: {len(units)} unit(s)")
    return commit


def budget_writes(run: Run, forge: Forge, snapshot: Snapshot) -> BudgetedForge:
    """Every forge write from here on is covered by the hourly budget first."""
    return BudgetedForge(
        forge, WriteBudget(run.git, snapshot.settings.max_per_hour, run.identity, clock=run.clock)
    )


def publish_pull_requests(
    run: Run,
    forge: Forge,
    snapshot: Snapshot,
    candidates: Candidates,
    plan: Plan,
    main: str,
    report: RunReport,
    before_push: Callable[[], None],
) -> bool:
    """Open, update and close the run's pull requests; False when a rate limit left them all for the next run
    (main is committed already). `before_push`: see PullRun."""
    touched = {u.unit for u in plan.pull_units()} | (candidates.with_branch - candidates.pending)
    groups = pull_groups(plan.pull_units(), rollout_config(snapshot).group_by)
    asked = branches_to_ask(touched, groups, candidates.branches)
    try:
        open_pulls = engine_pulls(forge, asked)
    except RateLimited as limited:
        report.deferred = sorted(u.unit for u in plan.pull_units())
        run.progress(
            f"rate limited ({limited}); {len(report.deferred)} pull request(s) left for the next run"
        )
        return False
    pulls = PullRun(
        git=run.git,
        forge=forge,
        snapshot=snapshot,
        plan=plan,
        main=main,
        identity=run.identity,
        branches=candidates.branches,
        pending=candidates.pending,
        since=candidates.since,
        groups=groups,
        asked=asked,
        open_pulls=open_pulls,
        report=report,
        progress=run.progress,
        before_push=before_push,
    )
    publish_pulls(pulls)
    return True

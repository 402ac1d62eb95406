"""Phase 2 of the pull requests: write every branch's commit in one fast-import stream and push them all in one
atomic push with leases; when a branch moved meanwhile, one by one, leaving the ones that moved for the next run.

The forge writes the run expects (the pull requests to write, the ones to close, the dashboard) are reserved in the
write budget's ledger by the same atomic push (see gitops_engine.budget): one push of the remote, not one more per
reservation. When that push is refused, the branches go one by one and each write reserves as usual."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitops_engine.budget import BUDGET_REF, BudgetedForge, Proposal
from gitops_engine.git import CommitRequest
from gitops_engine.plan import UnitPlan
from gitops_engine.publishing.close import obsolete_pulls
from gitops_engine.publishing.decide import Decided, Writes
from gitops_engine.publishing.describe import group_message
from gitops_engine.rollout import PullGroup

if TYPE_CHECKING:
    from gitops_engine.publishing.pulls import PullRun


def push_branches(run: PullRun, decided: Decided) -> Writes:
    """Push the decided branches; returns the forge writes still to do (without those of branches that moved)."""
    todo = list(decided.todo)
    pushes = decided.pushes
    if not pushes:
        return todo
    commits = run.git.write_commits_streamed(
        (
            CommitRequest(
                parent=run.main, changes=group_changes(g), message=group_message(g), identity=run.identity
            )
            for g, _ in pushes
        ),
        folders_of=(run.main, "rendered/") if len(pushes) > 1 else None,
    )
    updates = {f"refs/heads/{g.branch}": (old, sha) for (g, old), sha in zip(pushes, commits, strict=True)}
    reservation = reserve_ahead(run, decided)
    ledger = {BUDGET_REF: reservation.lease} if reservation is not None else {}
    # The branches' tracking refs are written while the pull requests are (publish_pulls waits for them).
    ok, _ = run.git.push_tracked("origin", {**updates, **ledger}, background=True)
    if ok and reservation is not None:
        assert isinstance(run.forge, BudgetedForge)
        run.forge.accept(reservation)
    if not ok:
        # Someone moved a branch meanwhile: push one by one and skip the ones that moved.
        labels_of = {f"refs/heads/{g.branch}": g for g, _ in pushes}
        for ref, update in updates.items():
            single_ok, _ = run.git.push_tracked("origin", {ref: update})
            if not single_ok:
                run.report.blocked.append(
                    (labels_of[ref].label, "the branch moved during the run; next run retries")
                )
                run.report.retry = True
                todo = [t for t in todo if f"refs/heads/{t[0].branch}" != ref]
    run.progress(f"pushed {len(pushes)} branch(es)")
    return todo


def reserve_ahead(run: PullRun, decided: Decided) -> Proposal | None:
    """The budget reservation of the forge writes this run expects, as a ledger commit to push with the branches
    (None without a budget, or when the budget has nothing left: each write then asks for itself)."""
    if not isinstance(run.forge, BudgetedForge):
        return None
    # Every pull request to write is one the run opens, one whose branch it pushes, or one whose text changes.
    writes = sum(run.forge.draft_writes(decided.drafts.outline(group.branch)) for group, _ in decided.todo)
    writes += 2 * len(obsolete_pulls(run))  # a comment and the close (see BudgetedForge.close_pull_request)
    writes += int(run.snapshot.settings.dashboard)  # the run moves the rollout: the dashboard changes
    return run.forge.propose_ahead(writes)


def unit_changes(unit: UnitPlan) -> dict[str, bytes | None]:
    changes: dict[str, bytes | None] = dict(unit.writes)
    for path in unit.deletes:
        changes[path] = None
    return changes


def group_changes(group: PullGroup) -> dict[str, bytes | None]:
    changes: dict[str, bytes | None] = {}
    for unit in group.units:
        changes.update(unit_changes(unit))
    return changes

"""Phase 2 of the pull requests: write every branch's commit in one fast-import stream and push them all in one
atomic push with leases; when a branch moved meanwhile, one by one, leaving the ones that moved for the next run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitops_engine.forge import PullRequest, PullRequestDraft
from gitops_engine.git import CommitRequest
from gitops_engine.plan import UnitPlan
from gitops_engine.publishing.decide import Decided
from gitops_engine.publishing.describe import group_message
from gitops_engine.rollout import PullGroup

if TYPE_CHECKING:
    from gitops_engine.publishing.pulls import PullRun

Todo = list[tuple[PullGroup, PullRequestDraft, PullRequest | None]]


def push_branches(run: PullRun, decided: Decided) -> Todo:
    """Push the decided branches; returns the forge writes still to do (without those of branches that moved)."""
    todo = list(decided.todo)
    pushes = decided.pushes
    if not pushes:
        return todo
    commits = run.git.write_commits_streamed(
        CommitRequest(
            parent=run.main, changes=group_changes(g), message=group_message(g), identity=run.identity
        )
        for g, _ in pushes
    )
    updates = {f"refs/heads/{g.branch}": (old, sha) for (g, old), sha in zip(pushes, commits, strict=True)}
    ok, _ = run.git.push_with_leases("origin", updates)
    if not ok:
        # Someone moved a branch meanwhile: push one by one and skip the ones that moved.
        labels_of = {f"refs/heads/{g.branch}": g for g, _ in pushes}
        for ref, update in updates.items():
            single_ok, _ = run.git.push_with_leases("origin", {ref: update})
            if not single_ok:
                run.report.blocked.append(
                    (labels_of[ref].label, "the branch moved during the run; next run retries")
                )
                run.report.retry = True
                todo = [t for t in todo if f"refs/heads/{t[0].branch}" != ref]
    run.progress(f"pushed {len(pushes)} branch(es)")
    return todo


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

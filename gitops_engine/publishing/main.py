"""The main commit: developer changes (and provenance-only ones) rendered and committed to main in one commit,
pushed with a lease on the main the run planned from."""

from __future__ import annotations

from collections.abc import Sequence

from gitops_engine.git import CommitRequest, Git, Identity
from gitops_engine.plan import Plan, UnitPlan
from gitops_engine.publishing import MAIN
from gitops_engine.publishing.describe import main_commit_message
from gitops_engine.reconciled import main_trailers


def is_complete(plan: Plan) -> bool:
    """Can the main commit vouch that everything up to its source is reconciled? Only when it is the run's whole
    work: no unit failed, and no unit waits for a pull request (the run may yet be cut short before opening or
    updating it; a run that finishes them records that afterwards, see reconciled.record_reconciled)."""
    return not (plan.failures or plan.global_findings or plan.pull_units() or plan.waiting)


def commit_main(git: Git, main: str, units: Sequence[UnitPlan], identity: Identity, *, complete: bool) -> str:
    """Write the commit on `main` holding every unit's writes and deletes; a complete run's commit records what it
    reconciled in its trailers, so narrowed runs know where to start (see reconciled.range_start)."""
    changes: dict[str, bytes | None] = {}
    for unit in units:
        changes.update(unit.writes)
        for path in unit.deletes:
            changes[path] = None
    message = main_commit_message(units, main_trailers(main) if complete else [])
    return git.write_commits(
        [CommitRequest(parent=main, changes=changes, message=message, identity=identity)]
    )[0]


def push_main(git: Git, old: str, new: str) -> bool:
    """Move the remote's main from `old` to `new`; False when main moved meanwhile."""
    ok, _ = git.push_with_leases("origin", {f"refs/heads/{MAIN}": (old, new)})
    return ok

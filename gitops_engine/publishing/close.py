"""Phase 4 of the pull requests: close the open ones main no longer needs, and delete merged or obsolete engine
branches (one atomic push with leases). Branches with anyone else's commits stay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitops_engine.errors import RateLimited
from gitops_engine.forge import PullRequest
from gitops_engine.git import Git
from gitops_engine.publishing import BRANCH_PREFIX
from gitops_engine.publishing.branches import branch_units
from gitops_engine.publishing.describe import close_comment, closing_reason
from gitops_engine.rollout import RolloutMarker, read_marker

if TYPE_CHECKING:
    from gitops_engine.publishing.pulls import PullRun

Deletes = dict[str, tuple[str | None, str | None]]  # ref -> (old head, None)


def close_and_delete(run: PullRun, foreign: set[str]) -> None:
    deletes = close_obsolete(run, foreign)
    deletes.update(idle_branches(run, foreign, deletes))
    if deletes:
        ok, _ = run.git.push_tracked("origin", deletes)
        if ok:
            run.report.deleted_branches = sorted(r[len("refs/heads/") :] for r in deletes)
        else:  # refused, or a branch moved meanwhile: the next run goes over the same range (and branches) again
            run.report.retry = True


def close_obsolete(run: PullRun, foreign: set[str]) -> Deletes:
    """Close the open pull requests the run does not want (except failed units' and foreign branches'); returns
    the deletes of their branches."""
    deletes: Deletes = {}
    report = run.report
    for pull, marker in obsolete_pulls(run):
        name = marker.units[0] if len(marker.units) == 1 else pull.branch[len(BRANCH_PREFIX) :]
        branch_sha = run.branches.get(pull.branch)
        if pull.branch in foreign:
            report.blocked.append((name, "obsolete, but the branch has commits by someone else: left open"))
            continue
        why = close_reason(run.git, run.main, marker.units, branch_sha)
        try:
            run.forge.close_pull_request(pull.number, close_comment(why))
        except RateLimited:
            report.deferred.extend(marker.units)
            continue
        report.closed.append((pull, why))
        run.progress(f"closed #{pull.number} ({name})")
        if branch_sha:
            deletes[f"refs/heads/{pull.branch}"] = (branch_sha, None)
    return deletes


def obsolete_pulls(run: PullRun) -> list[tuple[PullRequest, RolloutMarker]]:
    """The open pull requests the run does not want, with their markers; failed units' stay open."""
    found = []
    for pull in run.open_pulls:
        marker = read_marker(pull.body, pull.branch)
        if pull.branch in run.wanted or marker is None or set(marker.units) & run.failed:
            continue
        found.append((pull, marker))
    return found


def idle_branches(run: PullRun, foreign: set[str], deletes: Deletes) -> Deletes:
    """Engine branches with no open pull request and nothing to propose: the engine's own leftovers, and the
    merged ones (they have served their purpose)."""
    open_branches = {p.branch for p in run.open_pulls}
    idle = {
        branch: sha
        for branch, sha in run.branches.items()
        if f"refs/heads/{branch}" not in deletes and branch not in open_branches and branch not in run.wanted
    }
    # Branches the forge was asked about that have no open pull request and nothing to propose: the engine's own
    # leftovers (a run killed after closing a pull request but before deleting its branch, or after pushing a
    # branch whose pull request it never opened). Branches with anyone else's commits stay.
    obsolete = {
        branch: sha
        for branch, sha in idle.items()
        if branch in run.asked
        and not (branch_units(run.git, branch, sha) & run.failed)
        and branch not in foreign
    }
    found: Deletes = {f"refs/heads/{b}": (sha, None) for b, sha in sorted(obsolete.items())}
    idle = {b: sha for b, sha in idle.items() if b not in obsolete}
    if idle:
        if run.since is None:  # every branch main contains (one for-each-ref for all of them)
            merged = run.git.merged_refs(run.main, f"refs/remotes/origin/{BRANCH_PREFIX}")
        else:
            # Branches merged since the run's range starts: their heads are commits of the range. (Earlier merges
            # were a complete run's to delete; asking git about each of thousands of open branches cost ~110 ms.)
            merged = run.git.commits_between(run.since, run.main)
        found.update({f"refs/heads/{b}": (sha, None) for b, sha in sorted(idle.items()) if sha in merged})
    return found


def close_reason(git: Git, main: str, units: Sequence[str], branch_sha: str | None) -> str:
    """Why an obsolete pull request is closed, from the repository's state alone (a run that finishes the work of
    a killed one writes the same words): superseded when main re-rendered the unit differently since the branch
    was made, otherwise main already holds what it proposed (merged another way, or the change was reverted)."""
    superseded_by = None
    if len(units) == 1 and branch_sha is not None:
        rendered = f":(glob)rendered/*/{units[0]}/**"
        if not git.same_content(branch_sha, main, rendered):
            superseded_by = git.last_commit_touching(f"{branch_sha}^", main, rendered) or None
    return closing_reason(units, superseded_by)

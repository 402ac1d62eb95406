"""Where a run stands on the remote: syncing origin's main and engine branches, where the engine's last complete
run got to (the trailers of its commits on main, or RECONCILED_REF), where a narrowed run's range starts, and
recording a complete run. These are the `sync`, `range` and `record` stages of gitops_engine.reconcile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gitops_engine import RENDER_VERSION
from gitops_engine.errors import UsageError
from gitops_engine.git import Git, Identity
from gitops_engine.publishing import BRANCH_PREFIX, MAIN
from gitops_engine.publishing.report import RunReport

SOURCE_TRAILER = "Gitops-Engine-Source"
RENDER_TRAILER = "Gitops-Engine-Render"
# Where a complete run that committed nothing to main (a definition change: pull requests only) records what it
# reconciled, so later runs do not go over it again. Named after the render version, like the trailers.
RECONCILED_REF = f"refs/gitops-engine/reconciled/r{RENDER_VERSION}"
# Refs of the engine's clone that only the engine writes: what it fetches the remote's main and engine branches
# into, and its own scratch and staging refs (see sync_remote and gitops_engine.git).
ENGINE_LOCAL_REFS = (
    f"refs/remotes/origin/{MAIN}",
    f"refs/remotes/origin/{BRANCH_PREFIX}",
    "refs/gitops-engine/",
)


@dataclass(frozen=True)
class Synced:
    """The remote as this run fetched it: later stages all see this state, and have its objects."""

    main: str
    branches: dict[str, str]  # the engine branches: name -> head
    marker: str | None  # where RECONCILED_REF points (a commit on main: never fetched)


@dataclass(frozen=True)
class Range:
    """Where a narrowed run starts (None: a full reconcile, every unit's lock checked), and the commit up to which
    the engine's last complete run reconciled everything (None when unknown)."""

    start: str | None
    reconciled: str | None


def main_trailers(main: str) -> list[str]:
    """What a complete run's commit on main says it reconciled (see range_start)."""
    return [f"{SOURCE_TRAILER}: {main}", f"{RENDER_TRAILER}: {RENDER_VERSION}"]


def sync_remote(git: Git) -> Synced:
    """Bring origin's main and engine branches into refs/remotes/origin/, fetching only when something moved.

    In CI the checkout already holds the pushed main, and a fetch would still walk the whole history to check
    connectivity (~150 ms at 10,000 workloads); one `ls-remote` tells whether it is needed."""
    listed = git.remote_refs("origin", [f"refs/heads/{MAIN}", f"refs/heads/{BRANCH_PREFIX}*", RECONCILED_REF])
    marker = listed.get(RECONCILED_REF)
    remote = {
        ref: sha
        for ref, sha in listed.items()
        if ref == f"refs/heads/{MAIN}" or ref.startswith(f"refs/heads/{BRANCH_PREFIX}")
    }

    def local() -> dict[str, str]:
        return {
            ref.replace("refs/remotes/origin/", "refs/heads/", 1): sha
            for ref, sha in git.local_refs(["refs/remotes/origin/"]).items()
            if ref == f"refs/remotes/origin/{MAIN}" or ref.startswith(f"refs/remotes/origin/{BRANCH_PREFIX}")
        }

    synced = local()
    if remote != synced:  # local refs imply their objects are here
        git.fetch(
            "origin",
            [
                f"+refs/heads/{MAIN}:refs/remotes/origin/{MAIN}",
                f"+refs/heads/{BRANCH_PREFIX}*:refs/remotes/origin/{BRANCH_PREFIX}*",
            ],
        )
        synced = local()
    if f"refs/heads/{MAIN}" not in synced:
        raise UsageError(f"origin has no branch {MAIN}: push the platform repo's {MAIN} first")
    branches = {ref[len("refs/heads/") :]: sha for ref, sha in synced.items() if ref != f"refs/heads/{MAIN}"}
    return Synced(synced[f"refs/heads/{MAIN}"], branches, marker)


def range_start(
    git: Git,
    main: str,
    base: str | None,
    identity: Identity,
    *,
    full: bool = False,
    marker: str | None = None,
) -> tuple[str | None, str | None]:
    """Where a narrowed run starts (None: a full reconcile, every unit's lock checked), and the commit up to which
    the engine's last complete run reconciled everything (None when unknown).

    The engine's complete commits on main carry trailers saying up to which commit everything was reconciled and
    with which render version; a complete run that committed nothing (a definition change) moves RECONCILED_REF
    (`marker`) instead. A run starts from the newer of the two (or from --base when it is older: the reasons then
    name the event's changes), so CI's dropped pushes and crashed runs are covered, and an hourly reconcile with
    nothing to do reads only what changed since. A full reconcile is done when asked (`full`), when neither is
    found (a new repo, or runs that kept failing), or when the engine that wrote them rendered differently (an
    upgrade: every unit is stale, and no commit in the range says so)."""
    reconciled = reconciled_point(git, main, identity, marker)
    if full or reconciled is None:
        return None, reconciled  # a full reconcile: every unit is checked
    if base is None:
        return reconciled, reconciled
    base_sha = git.try_rev_parse(base)
    if base_sha is None or not git.is_ancestor(base_sha, main):
        return None, reconciled
    if git.is_ancestor(reconciled, base_sha):
        return reconciled, reconciled
    return base_sha, reconciled


def reconciled_point(git: Git, main: str, identity: Identity, marker: str | None) -> str | None:
    """The commit up to which the engine's last complete run (of this render version) reconciled main: the newer of
    the trailers of its last complete commit on main and RECONCILED_REF (`marker`); None when there is none."""
    found = git.last_commit_with(main, f"{SOURCE_TRAILER}: ", identity.email)
    source: str | None = None
    render: str | None = None
    if found is not None:
        sha, parents, body = found
        for line in body.splitlines():
            if line.startswith(f"{SOURCE_TRAILER}: "):
                value = line.split(": ", 1)[1].strip()
                # The engine's commit is the reconciled commit plus the engine's own renders: start after them.
                source = sha.strip() if value in ("self", parents.strip()) else git.try_rev_parse(value)
            elif line.startswith(f"{RENDER_TRAILER}: "):
                render = line.split(": ", 1)[1].strip()
    points = [
        point
        for point in (source if render == RENDER_VERSION else None, marker)
        if point is not None and git.is_ancestor(point, main)
    ]
    if not points:
        return None  # never reconciled by this engine's render version
    return points[-1] if len(points) == 1 or git.is_ancestor(points[0], points[-1]) else points[0]


def record_reconciled(
    git: Git,
    main: str,
    synced: Synced,
    reconciled: str | None,
    report: RunReport,
    progress: Callable[[str], None],
    *,
    trailer: bool,
) -> None:
    """After a complete run, move RECONCILED_REF to main unless main already says it is reconciled: the run's own
    commit carries the trailers, or the last complete run's point (`reconciled`, from trailers or the ref) is main.

    A run with nothing left to do records it too: a run killed after its last pull request never got to move the
    ref, and without this every later run would go over (and plan) the whole range again. A second run over the
    same state writes nothing, since the point is then main. A run cut short (failures, the per-run cap, a rate
    limit, a branch that moved) leaves the ref where it was, so the next run goes over the same range again."""
    marker = synced.marker
    if not report.complete or (report.committed is not None and trailer) or main in (marker, reconciled):
        return
    ok, output = git.push_with_leases("origin", {RECONCILED_REF: (marker, main)})
    if ok:
        report.reconciled = main
    else:  # a forge that refuses the ref: runs then go back to the last complete commit on main, as before
        progress(f"could not record the reconciled commit in {RECONCILED_REF}: {output.strip()[:200]}")

"""Stage 6: publish a plan. Commit developer changes to main; open one pull request per unit for the rest.

Git work (commits, branches, pushes) happens here through `gitops_engine.git`; pull requests through the `Forge`
interface only. Every step is idempotent, so a run killed anywhere is completed by the next one: branches are
pushed only when their content differs, pull requests are found through the forge before one is opened, and main
is pushed with a lease (when main moved, the whole run starts again on the new main).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from gitops_engine import RENDER_VERSION, names
from gitops_engine.affected import (
    Plan,
    RenderedState,
    UnitPlan,
    candidates_from_range,
    parse_lock,
    plan_changes,
    stale_reasons,
)
from gitops_engine.budget import BudgetedForge, WriteBudget
from gitops_engine.errors import (
    Finding,
    ForgeError,
    GitError,
    GitopsError,
    RateLimited,
    UsageError,
    group_findings,
)
from gitops_engine.forge import Forge, PullRequest, PullRequestDraft, open_forge
from gitops_engine.git import CommitRequest, Git, Identity, blob_id
from gitops_engine.loading import Snapshot, load_snapshot
from gitops_engine.model import LOCK_FILE, SHARED_FOLDER
from gitops_engine.rollout import (
    PullGroup,
    Waiting,
    apply_rollout,
    branch_of,
    parse_branch,
    pull_groups,
    read_marker,
    rollout_config,
    rollout_marker,
)
from gitops_engine.rollout import unit_of_branch as unit_of_branch
from gitops_engine.source import GitSource
from gitops_engine.versions import VersionNames

BRANCH_PREFIX = names.BRANCH_PREFIX
MAIN = "main"
SOURCE_TRAILER = "Gitops-Engine-Source"
RENDER_TRAILER = "Gitops-Engine-Render"
# Where a complete run that committed nothing to main (a definition change: pull requests only) records what it
# reconciled, so later runs do not go over it again. Named after the render version, like the trailers.
RECONCILED_REF = f"refs/gitops-engine/reconciled/r{RENDER_VERSION}"
MARKER = "<!-- gitops-engine:unit={unit} -->"
HUMAN_MARKER = "<!-- gitops-engine:human-commits -->"
DIFF_COLLAPSE_LINES = 40
BODY_LIMIT = 60_000  # GitHub refuses bodies over 65,536 characters
MAX_ATTEMPTS = 5
# Refs of the engine's clone that only the engine writes: what it fetches the remote's main and engine branches
# into, and its own scratch and staging refs (see _sync_remote and gitops_engine.git).
ENGINE_LOCAL_REFS = (
    f"refs/remotes/origin/{MAIN}",
    f"refs/remotes/origin/{BRANCH_PREFIX}",
    "refs/gitops-engine/",
)


@dataclass
class RunReport:
    head: str = ""
    merged: list[PullRequest] = field(default_factory=list)  # auto-merge pull requests the forge merged first
    committed: str | None = None
    committed_units: list[str] = field(default_factory=list)
    opened: list[PullRequest] = field(default_factory=list)
    updated: list[PullRequest] = field(default_factory=list)
    unchanged: list[PullRequest] = field(default_factory=list)
    # Units with a pull-request branch this run left alone (nothing reached them, or their branch is up to date).
    pending: list[str] = field(default_factory=list)
    closed: list[tuple[PullRequest, str]] = field(default_factory=list)
    deleted_branches: list[str] = field(default_factory=list)
    blocked: list[tuple[str, str]] = field(
        default_factory=list
    )  # (unit, why) — human commits, closed by a person
    deferred: list[str] = field(default_factory=list)  # beyond the per-run cap or a rate limit
    # (unit, environment, environments it waits for): parts of a change left for a later wave (not failures)
    waiting: list[Waiting] = field(default_factory=list)
    retry: bool = False  # something moved under the run (a branch): the next run must go over it again
    reconciled: str | None = None  # where this run moved RECONCILED_REF
    failures: dict[str, list[Finding]] = field(default_factory=dict)
    global_findings: list[Finding] = field(default_factory=list)
    plan: Plan | None = None
    attempts: int = 0
    dry_run: bool = False

    @property
    def findings(self) -> list[Finding]:
        """Every problem once (the same one in several environments lists them)."""
        found = [*(f for fs in self.failures.values() for f in fs), *self.global_findings]
        return group_findings(found, self.plan.order if self.plan is not None else ())


def branch_for(unit: str) -> str:
    """The branch of a unit's pull request (its pull-request part: see gitops_engine.rollout for the others)."""
    return branch_of(unit)


# -------------------------------------------------------------------------------------------------------------
# The run


def process_repo(
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
    there); `full` checks every unit instead of what changed since the last complete run (see range_start);
    `clock` dates the forge writes in the budget across runs (see gitops_engine.budget)."""
    git = Git(root)
    budgeted: BudgetedForge | None = None
    try:
        # Locks a killed run left on the refs only the engine writes in this clone would wedge it for good.
        for stale in git.remove_stale_ref_locks(ENGINE_LOCAL_REFS, started=time.time()):
            progress(f"removed {stale}: a stale lock left by a git process that was killed")
        # Auto-merge pull requests whose checks passed land first, so this run starts from the main they make.
        merged = [] if forge is None or dry_run else forge.merge_ready()
        for pull in merged:
            progress(f"merged #{pull.number} ({pull.branch}): auto-merge")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            report = RunReport(attempts=attempt, dry_run=dry_run, merged=merged)
            pending: set[str] = set()
            main, branches, marker = _sync_remote(git)
            report.head = main
            # Two independent waits overlap: the snapshot (settings, environments and definitions; workloads are
            # listed folder by folder as the run reaches them) and where the range starts (a few git calls; they
            # start processes of their own, so they never share the snapshot's `cat-file` pipe). The thread is
            # done before planning forks any worker.
            with ThreadPoolExecutor(max_workers=1) as pool:
                loaded = pool.submit(load_snapshot, GitSource(git, main, resolved=True, lazy=True))
                start, reconciled = range_start(git, main, base, identity, full=full, marker=marker)
                snapshot = loaded.result()
            # Units with an engine branch stand for units with a pull request: the forge is asked only about the
            # ones this run goes on to touch (see _engine_pulls), not for every open pull request.
            with_branch = {u for u in (unit_of_branch(b) for b in branches) if u}
            if start is None:
                state = RenderedState(git, main, full=True)
                candidates = None
            else:
                state = RenderedState(git, main, full=False)
                candidates = candidates_from_range(git, start, main, snapshot, state, identity.email)
                if candidates is not None:
                    # Units with a pull-request branch: examined when the range reaches them (their pull request
                    # may be half-made: a run cut short after pushing the branch), or when something since their
                    # branch was made reaches them and the branch is no longer fresh; otherwise left as they are.
                    reached, settled = _pulls_to_examine(
                        git, main, snapshot, state, with_branch, branches, identity, reconciled
                    )
                    # A fresh branch is left alone, whether the range reaches its unit or not, when a complete
                    # run has gone over it since it was made (`settled`): its pull request is whole.
                    maybe_pending = (reached - candidates) | (candidates & settled)
                    candidates |= reached
                    candidates -= _pending_pulls(git, snapshot, state, maybe_pending, branches)
                    # A team's group pull request is made again from all of its units whenever it is examined:
                    # the units its branch holds are always planned, so none is dropped from it by mistake.
                    candidates |= _group_branch_units(git, branches)
                    pending = with_branch - candidates
            versions = VersionNames(git, main)  # names definitions' versions in titles and bodies
            plan = plan_changes(
                snapshot,
                state,
                candidates=candidates,
                describe=None if forge is None else functools.partial(pull_body, git, names=versions),
            )
            report.waiting = apply_rollout(plan, snapshot)
            report.plan = plan
            report.failures = plan.failures
            report.global_findings = plan.global_findings
            progress(
                f"plan: {plan.mode} reconcile of {plan.candidates} candidate unit(s) at {main[:12]}: "
                f"{len(plan.main_units())} to commit, {len(plan.pull_units())} for pull requests, {len(plan.failures)} failed"
                + (f", {len(report.waiting)} part(s) waiting for a wave" if report.waiting else "")
            )
            if any(f in plan.global_findings for f in snapshot.findings):
                return report  # settings or environments are broken: nothing can be rendered safely
            if dry_run:
                report.committed_units = [u.unit for u in plan.main_units()]
                return report
            main_units = plan.main_units()
            if main_units:
                commit = _commit_main(git, main, main_units, identity, complete=_complete(plan))
                ok, _ = git.push_with_leases("origin", {f"refs/heads/{MAIN}": (main, commit)})
                if not ok:
                    progress(
                        f"main moved while rendering (attempt {attempt}): starting again on the new main"
                    )
                    continue
                report.committed = commit
                report.committed_units = [u.unit for u in main_units]
                progress(f"committed {commit[:12]} to main: {len(main_units)} unit(s)")
                main = commit
            report.pending = sorted(pending)
            if forge is not None:  # every forge write from here on is covered by the hourly budget first
                budgeted = BudgetedForge(
                    forge, WriteBudget(git, snapshot.settings.max_per_hour, identity, clock=clock)
                )
                forge = budgeted
            limited: RateLimited | None = None
            open_pulls: list[PullRequest] = []
            touched = {u.unit for u in plan.pull_units()} | (with_branch - pending)
            groups = pull_groups(plan.pull_units(), rollout_config(snapshot).group_by)
            asked = _branches_to_ask(touched, groups, branches)
            if forge is not None:
                try:
                    open_pulls = _engine_pulls(forge, asked)
                except RateLimited as exc:  # main is committed already: pull requests wait for the next run
                    limited = exc
            if forge is not None and limited is not None:
                report.deferred = sorted(u.unit for u in plan.pull_units())
                progress(
                    f"rate limited ({limited}); {len(report.deferred)} pull request(s) left for the next run"
                )
            elif forge is not None:
                _publish_pulls(
                    git,
                    forge,
                    snapshot,
                    plan,
                    main,
                    identity,
                    open_pulls,
                    branches,
                    pending,
                    report,
                    progress,
                    since=None if candidates is None else start,
                    asked=asked,
                    groups=groups,
                )
                _record_reconciled(git, main, marker, reconciled, report, progress, trailer=_complete(plan))
            if forge is not None and snapshot.settings.dashboard and _changed_anything(report):
                _update_dashboard(git, forge, main, report, progress)
            return report
        raise GitopsError(f"main kept moving during {MAX_ATTEMPTS} attempts: run again later")
    finally:
        try:
            if budgeted is not None:
                budgeted.settle()  # what was reserved and not written goes back to the budget
        finally:
            git.close()


def _changed_anything(report: RunReport) -> bool:
    return bool(
        report.merged
        or report.committed
        or report.opened
        or report.updated
        or report.closed
        or report.deleted_branches
    )


def _rollout_activity(report: RunReport) -> bool:
    """Did this run move a rollout: a pull request merged, opened, updated or closed, a part waiting for a wave,
    or a commit to main of a part not caused by a workload's own change (a direct part, a lock-only change)?"""
    if report.merged or report.opened or report.updated or report.closed or report.deleted_branches:
        return True
    if report.waiting or report.deferred or report.failures:
        return True
    return report.plan is not None and any(u.cause != "workload" for u in report.plan.main_units())


def _update_dashboard(
    git: Git, forge: Forge, main: str, report: RunReport, progress: Callable[[str], None]
) -> None:
    """Bring the rollout dashboard issue up to date (see gitops_engine.dashboard); a write only when it changed."""
    from gitops_engine import dashboard

    if not _rollout_activity(report):
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


def _sync_remote(git: Git) -> tuple[str, dict[str, str], str | None]:
    """Bring origin's main and engine branches into refs/remotes/origin/, fetching only when something moved;
    returns main and the engine branches (name -> head) as fetched, so later steps see the same state and have
    its objects, and where RECONCILED_REF points (a commit on main: never fetched, its objects are here or it is
    ignored).

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
    return synced[f"refs/heads/{MAIN}"], branches, marker


def _record_reconciled(
    git: Git,
    main: str,
    marker: str | None,
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
    complete = not (
        report.failures or report.global_findings or report.deferred or report.retry or report.waiting
    )
    if not complete or (report.committed is not None and trailer) or main in (marker, reconciled):
        return
    ok, output = git.push_with_leases("origin", {RECONCILED_REF: (marker, main)})
    if ok:
        report.reconciled = main
    else:  # a forge that refuses the ref: runs then go back to the last complete commit on main, as before
        progress(f"could not record the reconciled commit in {RECONCILED_REF}: {output.strip()[:200]}")


def _pulls_to_examine(
    git: Git,
    main: str,
    snapshot: Snapshot,
    state: RenderedState,
    units: set[str],
    branches: dict[str, str],
    identity: Identity,
    reconciled: str | None,
) -> tuple[set[str], set[str]]:
    """Units with an open pull request that something since their branch was made may have reached; and the
    units whose branch a complete run has gone over since it was made (its base is an ancestor of `reconciled`).

    An engine branch is one commit on the main it was rendered from, so whatever came before that main is in the
    branch already, whatever the range of this run. Only changes since then matter: the range from the oldest
    such main (one diff for all), by the same rules as the run's own candidates. With thousands of pull requests
    open after a definition change, a push that touches none of them examines none of them. Branches that are not
    one engine commit on an ancestor of main (someone else's commits on top, say) are always examined."""
    heads = {unit: branches[branch_for(unit)] for unit in units if branch_for(unit) in branches}
    examine = set(units) - set(heads)
    if not heads:
        return examine, set()
    out = git.run(
        "log",
        "--no-walk=unsorted",
        "--stdin",
        "--format=%H %P",
        input="\n".join(sorted(set(heads.values()))).encode(),
    )
    parents = {sha: rest for sha, *rest in (line.split() for line in out.splitlines() if line.strip())}
    bases: dict[str, str] = {}
    for unit, head in heads.items():
        found = parents.get(head, [])
        if len(found) == 1:
            bases[unit] = found[0]
        else:
            examine.add(unit)
    on_main = {b for b in set(bases.values()) if git.is_ancestor(b, main)}
    examine |= {u for u, b in bases.items() if b not in on_main}
    settled_bases = {b for b in on_main if reconciled is not None and git.is_ancestor(b, reconciled)}
    settled = {u for u, b in bases.items() if b in settled_bases}
    if not on_main:
        return examine, settled
    start = (
        on_main.pop() if len(on_main) == 1 else git.run("merge-base", "--octopus", *sorted(on_main)).strip()
    )
    # Only these units matter here: the resource-type index reads their locks, not every unit's.
    reached = candidates_from_range(git, start, main, snapshot, state, identity.email, within=set(bases))
    return examine | (set(bases) if reached is None else set(bases) & reached), settled


def _pending_pulls(
    git: Git, snapshot: Snapshot, state: RenderedState, units: set[str], branches: dict[str, str]
) -> set[str]:
    """Workload units whose pull request is still pending as it is: its branch holds a rendering that is fresh
    against today's sources (its lock in every environment names exactly today's inputs and definitions; one
    cat-file round trip a lock), and main does not hold that rendering yet (squashed or cherry-picked, say).
    Nothing in this run can change them, so they need not be rendered again."""
    candidates = sorted(
        u
        for u in units
        if branch_for(u) in branches
        and not u.startswith(SHARED_FOLDER + "/")
        and u in snapshot.workload_paths
    )
    state.ensure(candidates)  # main's folders of all of them in one listing
    envs = snapshot.environment_order
    locks = git.read_many(
        [
            f"{branches[branch_for(unit)]}:rendered/{env}/{unit}/{LOCK_FILE}"
            for unit in candidates
            for env in envs
        ]
    )
    pending: set[str] = set()
    for index, unit in enumerate(candidates):
        same_as_main = True
        for offset, env in enumerate(envs):
            data = locks[index * len(envs) + offset]
            lock = parse_lock(data) if data is not None else None
            if data is None or lock is None or stale_reasons(lock, snapshot, env, unit):
                break
            same_as_main = same_as_main and state.files_of(env, unit).get(LOCK_FILE) == blob_id(data)
        else:
            if not same_as_main:
                pending.add(unit)
    return pending


def _complete(plan: Plan) -> bool:
    """Can the main commit vouch that everything up to its source is reconciled? Only when it is the run's whole
    work: no unit failed, and no unit waits for a pull request (the run may yet be cut short before opening or
    updating it; a run that finishes them records that afterwards, see _record_reconciled)."""
    return not (plan.failures or plan.global_findings or plan.pull_units() or plan.waiting)


# Above this many units to ask about, one listing of every open pull request costs fewer requests than a lookup
# per branch (GitHub pages open pull requests 100 at a time).
PULL_LOOKUP_MAX = 20


def _engine_pulls(forge: Forge, branches: set[str]) -> list[PullRequest]:
    """The open pull requests of these branches: a lookup per branch for a few, one listing for many. A run that
    touches no pull request asks the forge nothing."""
    if not branches:
        return []
    if len(branches) > PULL_LOOKUP_MAX:
        return [p for p in forge.list_pull_requests("open") if p.branch in branches]
    found: list[PullRequest] = []
    for branch in sorted(branches):
        found += [p for p in forge.find_pull_requests(branch) if p.state == "open"]
    return found


def _branches_to_ask(touched: set[str], groups: list[PullGroup], branches: dict[str, str]) -> set[str]:
    """The branches whose open pull requests a run needs: its units' pull-request branches, their automerge
    branches and every group branch that exists, and the branches of the pull requests it wants."""
    asked = {branch_for(u) for u in touched} | {g.branch for g in groups}
    for branch in branches:
        parsed = parse_branch(branch)
        if parsed is not None and (parsed.is_group or parsed.unit in touched):
            asked.add(branch)
    return asked


def _group_branch_units(git: Git, branches: dict[str, str]) -> set[str]:
    """The units whose rendered folders the engine's group branches change (one diff per group branch)."""
    units: set[str] = set()
    for branch, sha in sorted(branches.items()):
        parsed = parse_branch(branch)
        if parsed is not None and parsed.is_group:
            units |= _units_changed_by(git, sha)
    return units


def _units_changed_by(git: Git, sha: str) -> set[str]:
    """Units whose rendered folders a commit changes against its first parent."""
    out = git.run(
        "diff-tree",
        "--no-commit-id",
        "--name-only",
        "-r",
        "-z",
        f"{sha}^",
        sha,
        "--",
        "rendered/",
        check=False,
    )
    return {"/".join(p.split("/")[2:4]) for p in out.split("\0") if p.count("/") >= 4}


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
    out = git.run(
        "log",
        "--first-parent",
        "-n",
        "1",
        "--fixed-strings",  # bot addresses hold regex characters (`1234+app[bot]@users.noreply.github.com`)
        f"--grep={SOURCE_TRAILER}: ",
        f"--committer=<{identity.email}>",
        "--format=%H%x00%P%x00%B",
        main,
        check=False,
    )
    source: str | None = None
    render: str | None = None
    if out:
        sha, parents, body = out.split("\0", 2)
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


def _commit_main(
    git: Git, main: str, units: Sequence[UnitPlan], identity: Identity, *, complete: bool
) -> str:
    changes: dict[str, bytes | None] = {}
    for unit in units:
        changes.update(unit.writes)
        for path in unit.deletes:
            changes[path] = None
    names = [u.unit for u in units]
    title = f"Render {names[0]}" if len(names) == 1 else f"Render {len(names)} units"
    lines = [title, ""]
    for unit in units:
        why = {"workload": "workload changed", "definitions": "provenance only", "removed": "removed"}[
            unit.cause
        ]
        lines.append(f"- {unit.unit} ({why}; {', '.join(unit.environments)})")
    lines.append("")
    # A complete run records what it reconciled so narrowed runs know where to start (see range_start).
    if complete:
        lines += [f"{SOURCE_TRAILER}: {main}", f"{RENDER_TRAILER}: {RENDER_VERSION}"]
    return git.write_commits(
        [CommitRequest(parent=main, changes=changes, message="\n".join(lines) + "\n", identity=identity)]
    )[0]


# -------------------------------------------------------------------------------------------------------------
# Pull requests


def _publish_pulls(
    git: Git,
    forge: Forge,
    snapshot: Snapshot,
    plan: Plan,
    main: str,
    identity: Identity,
    open_pulls: list[PullRequest],
    branches: dict[str, str],
    pending: set[str],
    report: RunReport,
    progress: Callable[[str], None],
    since: str | None,
    asked: set[str],
    groups: list[PullGroup],
) -> None:
    """`branches`: the remote's engine branches (name -> head) as this run fetched them; `pending`: units with an
    open pull request that this run did not examine (nothing in its range reached them, or their branch is up to
    date): left as they are; `since`: where the run's range starts (None: every unit was checked); `asked`: the
    branches whose open pull requests `open_pulls` holds (the forge was asked about them); `groups`: the pull
    requests this run wants (see gitops_engine.rollout.pull_groups)."""
    wanted = {g.branch for g in groups}
    open_by_branch = {p.branch: p for p in open_pulls}
    budget = snapshot.settings.max_per_run
    labels = tuple(snapshot.settings.labels)
    config = rollout_config(snapshot)
    names = VersionNames(git, main)
    existing_branches = {b: sha for b, sha in branches.items() if b in wanted}
    holding = _branches_holding(
        git, [g for g in groups if g.branch in existing_branches], plan, snapshot, existing_branches
    )
    # Branches with commits by anyone else are never overwritten nor deleted (one `git log` for all of them).
    # Pending units' branches are left alone, so they need no check (thousands may be open).
    foreign = _foreign_branches(
        git, main, {b: sha for b, sha in branches.items() if unit_of_branch(b) not in pending}, identity
    )
    failed = set(plan.failures)

    # 1. Decide per pull request: push the branch? write to the forge?
    pushes: list[tuple[PullGroup, str | None]] = []  # (pull request, old branch sha)
    todo: list[tuple[PullGroup, PullRequestDraft, PullRequest | None]] = []
    # Work a budget cut short first (its branch is pushed already), then the newly requested changes.
    for group in sorted(groups, key=lambda g: g.branch not in branches):
        branch = group.branch
        old = branches.get(branch)
        draft = PullRequestDraft(
            branch=branch,
            base=MAIN,
            title=group_title(group, active=config.active, names=names),
            body=group_body(git, group, names),
            labels=labels,
            reviewers=_group_reviewers(snapshot, group),
            automerge=config.merge_method if group.automerge else None,  # type: ignore[arg-type]
        )
        existing = open_by_branch.get(branch)
        same_content = branch in holding
        human = branch in foreign
        if human:
            if existing is not None and not same_content:
                _comment_human(forge, existing, branch, report)
            report.blocked.append((group.label, "the branch has commits by someone else: not overwritten"))
            continue
        if existing is None and old is not None and same_content:
            try:
                latest = forge.find_pull_requests(branch)
            except RateLimited:
                report.deferred.extend(group.names)
                continue
            if latest and latest[0].state == "closed":
                report.blocked.append(
                    (group.label, f"#{latest[0].number} was closed without merging: not reopened")
                )
                continue
        needs_write = existing is None or _differs(existing, draft)
        if not same_content or needs_write:
            if budget <= 0:
                report.deferred.extend(group.names)
                continue
            budget -= 1
        if not same_content:
            pushes.append((group, old))
        if needs_write or not same_content:
            todo.append((group, draft, existing))
        else:
            assert existing is not None
            report.unchanged.append(existing)

    # 2. Push all branches together (one fast-import, one atomic push with leases).
    if pushes:
        commits = git.write_commits(
            [
                CommitRequest(
                    parent=main, changes=_group_changes(g), message=_group_message(g), identity=identity
                )
                for g, _ in pushes
            ]
        )
        updates = {
            f"refs/heads/{g.branch}": (old, sha) for (g, old), sha in zip(pushes, commits, strict=True)
        }
        ok, _ = git.push_with_leases("origin", updates)
        if not ok:
            # Someone moved a branch meanwhile: push one by one and skip the ones that moved.
            labels_of = {f"refs/heads/{g.branch}": g for g, _ in pushes}
            for ref, update in updates.items():
                single_ok, _ = git.push_with_leases("origin", {ref: update})
                if not single_ok:
                    report.blocked.append(
                        (labels_of[ref].label, "the branch moved during the run; next run retries")
                    )
                    report.retry = True
                    todo = [t for t in todo if f"refs/heads/{t[0].branch}" != ref]
        progress(f"pushed {len(pushes)} branch(es)")

    # 3. Open or update pull requests.
    pushed = {g.branch for g, _ in pushes}
    for index, (group, draft, existing) in enumerate(todo):
        try:
            if existing is None:
                pull = forge.create_pull_request(draft)
                report.opened.append(pull)
                progress(f"opened #{pull.number} for {group.label}")
            elif _differs(existing, draft) or group.branch in pushed:
                # Also after a push that leaves title and body as they were: the forge then knows the branch's new
                # head (the local forge tells a merge by it; GitHub only reads the pull request and writes nothing).
                pull = forge.update_pull_request(existing.number, _review_teams(existing, draft))
                report.updated.append(pull)
                progress(f"updated #{pull.number} for {group.label}")
            else:
                report.updated.append(existing)
        except RateLimited as exc:
            report.deferred.extend(u for t in todo[index:] for u in t[0].names)
            progress(f"rate limited ({exc}); {len(todo) - index} pull request(s) left for the next run")
            break

    # 4. Close pull requests main no longer needs, and delete merged or obsolete engine branches.
    deletes: dict[str, tuple[str | None, str | None]] = {}
    for pull in open_pulls:
        marker = read_marker(pull.body, pull.branch)
        if pull.branch in wanted or marker is None or set(marker.units) & failed:
            continue
        name = marker.units[0] if len(marker.units) == 1 else pull.branch[len(BRANCH_PREFIX) :]
        branch_sha = branches.get(pull.branch)
        if pull.branch in foreign:
            report.blocked.append((name, "obsolete, but the branch has commits by someone else: left open"))
            continue
        why = _close_reason(git, main, marker.units, branch_sha)
        try:
            forge.close_pull_request(pull.number, why + " Closed by gitops-engine.")
        except RateLimited:
            report.deferred.extend(marker.units)
            continue
        report.closed.append((pull, why))
        progress(f"closed #{pull.number} ({name})")
        if branch_sha:
            deletes[f"refs/heads/{pull.branch}"] = (branch_sha, None)
    open_branches = {p.branch for p in open_pulls}
    idle = {
        branch: sha
        for branch, sha in branches.items()
        if f"refs/heads/{branch}" not in deletes and branch not in open_branches and branch not in wanted
    }
    # Branches the forge was asked about that have no open pull request and nothing to propose: the engine's own
    # leftovers (a run killed after closing a pull request but before deleting its branch, or after pushing a
    # branch whose pull request it never opened). Branches with anyone else's commits stay.
    obsolete = {
        branch: sha
        for branch, sha in idle.items()
        if branch in asked and not (_branch_units(git, branch, sha) & failed) and branch not in foreign
    }
    deletes.update({f"refs/heads/{b}": (sha, None) for b, sha in sorted(obsolete.items())})
    idle = {b: sha for b, sha in idle.items() if b not in obsolete}
    if idle:  # merged ones have served their purpose
        if since is None:  # every branch main contains (one for-each-ref for all of them)
            merged = set(
                git.run(
                    "for-each-ref",
                    f"--merged={main}",
                    "--format=%(objectname)",
                    f"refs/remotes/origin/{BRANCH_PREFIX}",
                ).split()
            )
        else:
            # Branches merged since the run's range starts: their heads are commits of the range. (Earlier merges
            # were a complete run's to delete; asking git about each of thousands of open branches cost ~110 ms.)
            merged = set(git.run("rev-list", f"{since}..{main}").split())
        deletes.update({f"refs/heads/{b}": (sha, None) for b, sha in sorted(idle.items()) if sha in merged})
    if deletes:
        ok, _ = git.push_with_leases("origin", deletes)
        if ok:
            report.deleted_branches = sorted(r[len("refs/heads/") :] for r in deletes)
        else:  # refused, or a branch moved meanwhile: the next run goes over the same range (and branches) again
            report.retry = True


def _branch_units(git: Git, branch: str, sha: str) -> set[str]:
    """The units an engine branch proposes changes for."""
    parsed = parse_branch(branch)
    if parsed is None:
        return set()
    if parsed.unit is not None:
        return {parsed.unit}
    return _units_changed_by(git, sha)


def _close_reason(git: Git, main: str, units: Sequence[str], branch_sha: str | None) -> str:
    """Why an obsolete pull request is closed, from the repository's state alone (a run that finishes the work of
    a killed one writes the same words): superseded when main re-rendered the unit differently since the branch
    was made, otherwise main already holds what it proposed (merged another way, or the change was reverted)."""
    if len(units) != 1:
        return (
            f"`main` already contains these changes for {len(units)} units, or they moved to another pull "
            "request: nothing left to merge here."
        )
    unit = units[0]
    rendered = f":(glob)rendered/*/{unit}/**"
    if branch_sha is not None and not git.ok("diff", "--quiet", branch_sha, main, "--", rendered):
        since = git.run(
            "log", "-1", "--format=%H", f"{branch_sha}^..{main}", "--", rendered, check=False
        ).strip()
        if since:
            return f"Superseded: `{unit}` was re-rendered on main by {since}."
    return f"`main` already contains this change for `{unit}`: nothing left to merge."


def _changes(unit: UnitPlan) -> dict[str, bytes | None]:
    changes: dict[str, bytes | None] = dict(unit.writes)
    for path in unit.deletes:
        changes[path] = None
    return changes


def _group_changes(group: PullGroup) -> dict[str, bytes | None]:
    changes: dict[str, bytes | None] = {}
    for unit in group.units:
        changes.update(_changes(unit))
    return changes


def _group_message(group: PullGroup) -> str:
    if group.group == "workload":
        return _branch_message(group.units[0])
    return f"{group_title(group, active=True)}\n\n" + "\n".join(f"- {u}" for u in group.names[:200]) + "\n"


def _branches_holding(
    git: Git, groups: Sequence[PullGroup], plan: Plan, snapshot: Snapshot, branches: dict[str, str]
) -> set[str]:
    """Branches that already hold exactly their new rendering (whatever main they were based on).

    Compares folder tree ids: the desired ones computed here from blob ids, the branch's read with one
    `cat-file --batch-check` for all of them, instead of listing every branch. A group branch must also change
    no other unit than the group's (a unit that left the group: the team merged a workload change meanwhile)."""
    if not groups or plan.state is None:
        return set()
    state = plan.state
    requests: list[tuple[str, str | None]] = []  # (branch, desired tree id) in request order
    lines: list[str] = []
    for group in groups:
        for unit in group.units:
            envs = set(snapshot.environment_order) | set(state.envs_of(unit.unit))
            envs |= {p.split("/")[1] for p in [*unit.writes, *unit.deletes]}
            for env in sorted(envs):
                folder = f"rendered/{env}/{unit.unit}"
                files = dict(state.files_of(env, unit.unit))
                for path, content in unit.writes.items():
                    if path.startswith(folder + "/"):
                        files[path[len(folder) + 1 :]] = blob_id(content)
                for path in unit.deletes:
                    if path.startswith(folder + "/"):
                        files.pop(path[len(folder) + 1 :], None)
                requests.append((group.branch, _tree_id(files) if files else None))
                lines.append(f"{branches[group.branch]}:{folder}")
    out = git.run_bytes("cat-file", "--batch-check=%(objectname)", input=("\n".join(lines) + "\n").encode())
    answers = out.decode().splitlines()
    differing = {
        branch
        for (branch, desired), answer in zip(requests, answers, strict=True)
        if (None if answer.endswith(" missing") else answer.strip()) != desired
    }
    for group in groups:
        if (
            group.group == "team"
            and group.branch not in differing
            and _units_changed_by(git, branches[group.branch]) != set(group.names)
        ):
            differing.add(group.branch)
    return {g.branch for g in groups} - differing


def _tree_id(files: dict[str, str]) -> str:
    """The id git gives a folder of regular files (name -> blob id), as `git mktree` would."""
    import hashlib

    body = b"".join(b"100644 " + name.encode() + b"\0" + bytes.fromhex(files[name]) for name in sorted(files))
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def _foreign_branches(git: Git, main: str, branches: dict[str, str], identity: Identity) -> set[str]:
    """Branches with commits (not on main) by anyone but the engine: one `git log` over all of them."""
    if not branches:
        return set()
    out = git.run("log", "--format=%H%x00%ae%x00%ce", *sorted(set(branches.values())), "--not", main)
    foreign = []
    for line in out.splitlines():
        sha, author, committer = line.split("\0")
        if author != identity.email or committer != identity.email:
            foreign.append(sha)
    if not foreign:
        return set()
    return {b for b, sha in branches.items() if any(git.is_ancestor(f, sha) for f in foreign)}


def _comment_human(forge: Forge, pull: PullRequest, branch: str, report: RunReport) -> None:
    body = (
        f"{HUMAN_MARKER}\ngitops-engine has a newer rendering for this workload but did not update `{branch}`: "
        "it has commits by someone else, and the engine never force-pushes over them. Merge or close this pull "
        "request, or delete the branch, and the next run will open a fresh one."
    )
    try:
        forge.upsert_comment(pull.number, HUMAN_MARKER, body)
    except RateLimited:
        report.deferred.append(branch)


def _differs(pull: PullRequest, draft: PullRequestDraft) -> bool:
    """Reviewers are requested when a pull request opens, not compared later: GitHub drops a team from the
    requested reviewers once it has reviewed, and asking it again would be noise. A pull request with no team
    requested at all is the exception: a run killed between opening it and asking for review leaves it so, and
    the forge then asks only when nobody has reviewed yet (see _review_teams)."""
    return (
        pull.title != draft.title
        or pull.body != draft.body
        or not set(draft.labels) <= set(pull.labels)
        or bool(draft.reviewers and not pull.reviewers)
        or bool(draft.automerge and not pull.automerge)
    )


def _review_teams(pull: PullRequest, draft: PullRequestDraft) -> PullRequestDraft:
    """The draft to update `pull` with: its reviewers only when the pull request has none requested."""
    return draft if not pull.reviewers else replace(draft, reviewers=())


def _reviewers(snapshot: Snapshot, unit: UnitPlan) -> tuple[str, ...]:
    """Team slugs that own the unit (CODEOWNERS `@org/team` entries); a shared resource's, its users' owners."""
    if unit.unit.startswith(SHARED_FOLDER + "/"):
        return _owning_teams(
            snapshot, [snapshot.workload_paths[u] for u in unit.users if u in snapshot.workload_paths]
        )
    return _owning_teams(snapshot, [f"workloads/{unit.unit}/score.yaml"])


def _group_reviewers(snapshot: Snapshot, group: PullGroup) -> tuple[str, ...]:
    """A unit's owners; for a team's group, the owners of the team's workloads; for the shared resources' group,
    the owners of `definitions/` (the infra team)."""
    if group.group == "workload":
        return _reviewers(snapshot, group.units[0])
    if group.team == SHARED_FOLDER:
        return _owning_teams(snapshot, ["definitions/"])
    return _owning_teams(snapshot, [f"workloads/{u}/score.yaml" for u in group.names])


def _owning_teams(snapshot: Snapshot, paths: list[str]) -> tuple[str, ...]:
    """The team slugs of the CODEOWNERS `@org/team` owners of `paths`, sorted."""
    teams = {
        owner.split("/", 1)[1]
        for path in paths
        for owner in snapshot.owners_of(path)
        if owner.startswith("@") and "/" in owner
    }
    return tuple(sorted(teams))


# -------------------------------------------------------------------------------------------------------------
# Titles, bodies, messages


def group_title(group: PullGroup, *, active: bool, names: VersionNames | None = None) -> str:
    """A unit's pull-request title (pull_title); a team's group says how many workloads it holds. With rollout
    settings, the environments it carries follow, so two parts of one unit are told apart."""
    where = f" [{', '.join(group.environments)}]" if active else ""
    if group.group == "workload":
        return pull_title(group.units[0], names) + where
    who = "shared resources" if group.team == SHARED_FOLDER else group.team
    count = f"{len(group.units)} {'resource' if group.team == SHARED_FOLDER else 'workload'}"
    count += "s" if len(group.units) != 1 else ""
    changes = sorted(
        {c for u in group.units for c in named_changes(u, names)},
        key=lambda c: (c[0], c[1] or "", c[2] or ""),
    )
    ids = sorted({c[0] for c in changes})
    if len(changes) == 1:
        definition_id, old, new = changes[0]
        what = f"{definition_id} {old or 'new'} → {new or 'removed'}"
    elif ids:
        what = f"{len(ids)} definition{'s' if len(ids) != 1 else ''} changed"
    else:
        what = "environments or settings changed"
    return f"Update {who} ({count}): {what}{where}"


def group_body(git: Git, group: PullGroup, names: VersionNames) -> str:
    """The pull request's body: the rollout marker (what other tools read), then a unit's body (pull_body), or
    for a team's group one section per unit (without diffs when they would not all fit)."""
    marker = rollout_marker(group, _versions(group, names))
    if group.group == "workload":
        unit = group.units[0]
        body = unit.body if unit.body is not None else pull_body(git, unit, names=names)
        first, _, rest = body.partition("\n")
        return f"{first}\n{marker}\n{rest}"
    who = "shared resources" if group.team == SHARED_FOLDER else f"team `{group.team}`"
    head = [
        marker,
        *(MARKER.format(unit=u) for u in group.names),
        f"# {len(group.units)} unit(s) of {who}: rendered manifests change",
        "",
        "Resource definitions, environments or settings changed on `main`. This pull request holds every affected "
        f"unit of {who} for {', '.join(group.environments)} (wave {group.wave}). Merging deploys the change to all "
        "of them; a workload you change meanwhile leaves this pull request, which the engine then updates.",
        "",
    ]
    body = "\n".join(head) + "\n"
    for diffs in (True, False):
        sections = [pull_body(git, u, diffs=diffs, names=names).partition("\n")[2] for u in group.units]
        if diffs and len(body) + sum(len(s) for s in sections) > BODY_LIMIT:
            continue
        for index, section in enumerate(sections):
            if len(body) + len(section) > BODY_LIMIT:
                left = group.names[index:]
                body += f"\n_{len(left)} more unit(s), shown on the branch: {', '.join(left)}._\n"[
                    : BODY_LIMIT // 4
                ]
                break
            body += section + "\n"
        break
    return body


def _versions(group: PullGroup, names: VersionNames) -> dict[str, str]:
    """The definition files the pull request's units move to, by human-readable version (gitops_engine.versions):
    those whose version differs from what main's locks record."""
    old: set[tuple[str, str]] = set()
    for unit in group.units:
        for lock in unit.old_locks.values():
            for resource in lock.get("resources", []):
                old.add((str(resource.get("definition_path")), str(resource.get("version"))))
    versions: dict[str, str] = {}
    for unit in group.units:
        for rendered in unit.rendered.values():
            for resource in rendered.provenance.get("resources", []):
                path, version = resource.get("definition_path"), resource.get("version")
                if path and version and (str(path), str(version)) not in old and path not in versions:
                    versions[str(path)] = names.of_definition_version(str(path), str(version))
    return versions


def named_changes(unit: UnitPlan, names: VersionNames | None) -> list[tuple[str, str | None, str | None]]:
    """unit.definition_changes() with each version by its human-readable name (gitops_engine.versions), when
    `names` is given: the definition's `version:` field or the commit that made it, as people call it."""
    changes = unit.definition_changes()
    if names is None:
        return changes
    paths: dict[str, str] = {}
    resources = [r for lock in unit.old_locks.values() for r in lock.get("resources", [])]
    resources += [r for rendered in unit.rendered.values() for r in rendered.provenance.get("resources", [])]
    for resource in resources:
        if resource.get("definition_path"):
            paths.setdefault(str(resource["definition"]), str(resource["definition_path"]))

    def named(definition_id: str, version: str | None) -> str | None:
        path = paths.get(definition_id)
        return names.of_definition_version(path, version) if path and version else version

    return [(d, named(d, old), named(d, new)) for d, old, new in changes]


def pull_title(unit: UnitPlan, names: VersionNames | None = None) -> str:
    changes = named_changes(unit, names)
    if unit.cause == "removed":
        return f"Remove rendered manifests of {unit.unit}"
    if len(changes) == 1:
        definition_id, old, new = changes[0]
        return f"Update {unit.unit}: {definition_id} {old or 'new'} → {new or 'removed'}"
    if changes:
        return f"Update {unit.unit}: {len(changes)} definitions changed"
    return f"Update {unit.unit}: environments or settings changed"


def _version_cell(version: str | None, name: str | None) -> str:
    """A definitions-table cell: the human-readable version, then the hash the locks record."""
    if not version:
        return "—"
    if not name or name == version:
        return f"`{version}`"
    return f"{_escape_cell(name)} `{version}`"


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def _branch_message(unit: UnitPlan) -> str:
    return f"{pull_title(unit)}\n\n" + "\n".join(f"- {r}" for r in unit.reasons[:50]) + "\n"


def pull_body(git: Git, unit: UnitPlan, *, diffs: bool = True, names: VersionNames | None = None) -> str:
    lines = [MARKER.format(unit=unit.unit), f"## {unit.unit}: rendered manifests change", ""]
    if unit.cause == "removed":
        lines.append(
            "The source of these manifests is gone. Removing them deletes objects that may hold data, so the engine "
            "asks for a review instead of committing. Merge to remove them."
        )
    else:
        lines.append(
            "Resource definitions, environments or settings changed on `main`, and this workload's rendered "
            "manifests change with them. Merging deploys the change; nothing else in your workload changes."
        )
    lines.append("")
    hashes = unit.definition_changes()
    if hashes:
        lines += ["### Definitions", "", "| definition | before | after |", "|---|---|---|"]
        for (definition_id, old, new), (_, old_name, new_name) in zip(
            hashes, named_changes(unit, names), strict=True
        ):
            lines.append(
                f"| `{definition_id}` | {_version_cell(old, old_name)} | {_version_cell(new, new_name)} |"
            )
        lines.append("")
    lines += ["### Environments", "", "| environment | changed | added | removed |", "|---|---|---|---|"]
    for env in unit.environments:
        objects = unit.object_changes(git, env)
        added = sum(1 for change in objects if change.old is None)
        removed = sum(1 for change in objects if change.new is None)
        lines.append(f"| {env} | {len(objects) - added - removed} | {added} | {removed} |")
    lines += ["", "### Why", ""]
    lines += [f"- {reason}" for reason in unit.reasons[:30]]
    if len(unit.reasons) > 30:
        lines.append(f"- … and {len(unit.reasons) - 30} more")
    diagram = _mermaid(unit)
    if diagram:
        lines += ["", "### Resources", "", "```mermaid", diagram, "```"]
    if not diffs:
        return "\n".join([*lines, "", "_The rendered diff is on the branch._", ""])
    lines += ["", "### Rendered diff", ""]
    body = "\n".join(lines) + "\n"
    for env in unit.environments:
        diff = unit.diff(git, env)
        count = diff.count("\n")
        block = f"```diff\n{diff}```\n"
        if count > DIFF_COLLAPSE_LINES:
            block = f"<details><summary>{env}: {count} lines</summary>\n\n{block}\n</details>\n"
        else:
            block = f"**{env}**\n\n{block}"
        if len(body) + len(block) > BODY_LIMIT:
            body += (
                f"\n_The diff for {env} and later environments is too long to show here: see the branch._\n"
            )
            break
        body += block + "\n"
    return body


def _mermaid(unit: UnitPlan) -> str:
    changed = unit.environments
    rendered = next((unit.rendered[e] for e in changed if e in unit.rendered), None)
    if rendered is None:
        return ""
    from gitops_engine.commands.graph import to_mermaid

    return to_mermaid(rendered).rstrip("\n")


# -------------------------------------------------------------------------------------------------------------
# Renderings waiting in pull requests (`render --check` on main)


@dataclass(frozen=True)
class PendingRenderings:
    """Units whose difference with main waits in an open engine pull request: its branch holds exactly the
    rendering asked about."""

    pending: dict[
        str, str
    ]  # unit -> "#N", or "branch gitops-engine/<unit>" when the forge could not be asked
    note: str = ""  # what was consulted instead of the forge, when it could not be reached


def pending_renderings(
    root: Path, forge_name: str, desired: dict[str, dict[str, str]], environments: Sequence[str]
) -> PendingRenderings:
    """Which of the `desired` units (unit -> {path under rendered/<env>/<unit>/: blob id}, over `environments`)
    an open engine pull request holds exactly. The forge names the open pull requests; with no forge reachable,
    the engine branches on origin stand for them (a declined pull request's branch would count too: the note
    says so)."""
    git = Git(root)
    try:
        if not git.ok("remote", "get-url", "origin"):
            return PendingRenderings({})  # a clone of nothing: no pull request can hold anything
        notes: list[str] = []
        numbers: dict[str, str] | None = None
        try:
            forge = open_forge(forge_name, root)
            pulls = _engine_pulls(forge, {branch_for(u) for u in desired})
            numbers = {u: f"#{p.number}" for p in pulls if (u := unit_of_branch(p.branch))}
        except (UsageError, ForgeError) as exc:
            notes.append(f"no forge reachable ({exc}): judged from the engine branches on origin")
        units = sorted(desired if numbers is None else set(desired) & set(numbers))
        if not units:
            return PendingRenderings({}, "; ".join(notes))
        try:
            listed = git.remote_refs("origin", [f"refs/heads/{branch_for(u)}" for u in units])
            heads = {ref[len("refs/heads/") :]: sha for ref, sha in listed.items()}
            if any(not git.ok("cat-file", "-e", f"{sha}^{{commit}}") for sha in heads.values()):
                git.fetch("origin", [f"+refs/heads/{BRANCH_PREFIX}*:refs/remotes/origin/{BRANCH_PREFIX}*"])
        except GitError:
            notes.append("origin unreachable: judged from this clone's copies of the engine branches")
            copies = git.local_refs([f"refs/remotes/origin/{BRANCH_PREFIX}"])
            heads = {ref[len("refs/remotes/origin/") :]: sha for ref, sha in copies.items()}
        pending: dict[str, str] = {}
        for unit in units:
            head = heads.get(branch_for(unit))
            if head is None or not git.ok("cat-file", "-e", f"{head}^{{commit}}"):
                continue
            held = git.ls_tree_blobs(head, [f"rendered/{env}/{unit}/" for env in environments])
            if held == desired[unit]:
                pending[unit] = numbers[unit] if numbers is not None else f"branch {branch_for(unit)}"
        return PendingRenderings(pending, "; ".join(notes))
    finally:
        git.close()

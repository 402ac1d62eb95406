"""The `candidates` stage of gitops_engine.reconcile: which units a run plans.

A full reconcile plans every unit. A narrowed one plans what its range reaches (affected.candidates_from_range),
plus units whose pull request something since their branch was made reaches, minus units whose pull request is
still pending as it is; a team's group branch always brings all of its units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitops_engine.affected import RenderedState, candidates_from_range, parse_lock, stale_reasons
from gitops_engine.git import Git, Identity, blob_id
from gitops_engine.loading import Snapshot
from gitops_engine.model import LOCK_FILE, SHARED_FOLDER
from gitops_engine.publishing.branches import branch_for, group_branch_units
from gitops_engine.reconciled import Range, Synced
from gitops_engine.rollout import unit_of_branch


@dataclass
class Candidates:
    """What the run plans: `units` (None: every unit), against main's rendered `state`; `with_branch`: units with
    an engine branch (they stand for units with a pull request); `pending`: those of them left as they are."""

    units: set[str] | None
    state: RenderedState
    branches: dict[str, str]  # the remote's engine branches (name -> head) as the run fetched them
    with_branch: set[str]
    since: str | None = None  # where the run's range starts (None: every unit is checked)
    pending: set[str] = field(default_factory=set)


def find_candidates(
    git: Git, synced: Synced, where: Range, snapshot: Snapshot, identity: Identity
) -> Candidates:
    main, branches = synced.main, synced.branches
    # Units with an engine branch stand for units with a pull request: the forge is asked only about the ones this
    # run goes on to touch (see publishing.branches.engine_pulls), not for every open pull request.
    with_branch = {u for u in (unit_of_branch(b) for b in branches) if u}
    if where.start is None:
        return Candidates(None, RenderedState(git, main, full=True), branches, with_branch)
    state = RenderedState(git, main, full=False)
    candidates = candidates_from_range(git, where.start, main, snapshot, state, identity.email)
    if candidates is None:
        return Candidates(None, state, branches, with_branch)
    # Units with a pull-request branch: examined when the range reaches them (their pull request may be half-made:
    # a run cut short after pushing the branch), or when something since their branch was made reaches them and
    # the branch is no longer fresh; otherwise left as they are.
    reached, settled = pulls_to_examine(
        git, main, snapshot, state, with_branch, branches, identity, where.reconciled
    )
    # A fresh branch is left alone, whether the range reaches its unit or not, when a complete run has gone over
    # it since it was made (`settled`): its pull request is whole.
    maybe_pending = (reached - candidates) | (candidates & settled)
    candidates |= reached
    candidates -= pending_pulls(git, snapshot, state, maybe_pending, branches)
    # A team's group pull request is made again from all of its units whenever it is examined: the units its
    # branch holds are always planned, so none is dropped from it by mistake.
    candidates |= group_branch_units(git, branches)
    return Candidates(candidates, state, branches, with_branch, where.start, with_branch - candidates)


def pulls_to_examine(
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
    parents = git.parents_of(sorted(set(heads.values())))
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
    start = on_main.pop() if len(on_main) == 1 else git.merge_base_octopus(sorted(on_main))
    # Only these units matter here: the resource-type index reads their locks, not every unit's.
    reached = candidates_from_range(git, start, main, snapshot, state, identity.email, within=set(bases))
    return examine | (set(bases) if reached is None else set(bases) & reached), settled


def pending_pulls(
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

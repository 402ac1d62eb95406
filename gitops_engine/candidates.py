"""Candidates: the units a commit range can affect (range -> candidates), before planning decides which are stale.

Cheap on purpose: proportional to the change, not to the repo. A workload's own files reach it; a definition
reaches the units whose locks use its resource type (`provenance.RenderedState.units_using`); a Score file's
service section reaches the workloads that look it up; rendered/ edited by anyone but the engine reaches the units
edited. Settings changing, or what the engine reads of an environment file, reach everything (None); an edit of
their comments or layout reaches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitops_engine.git import Git, Identity, blob_id
from gitops_engine.loading import Snapshot, environment_at, settings_at
from gitops_engine.lock import parse_lock
from gitops_engine.model import LOCK_FILE, WORKLOAD_TYPE, Environment
from gitops_engine.provenance import RenderedState, stale_reasons
from gitops_engine.rollout import branch_of, parse_branch, unit_of_branch
from gitops_engine.source import PLATFORM_FILE, environment_of
from gitops_engine.units import Unit, is_shared

if TYPE_CHECKING:
    from gitops_engine.reconciled import Range, Synced

_OVERRIDE_FILE = re.compile(r"overrides\.[^/]+\.yaml")


def candidates_from_range(
    git: Git,
    start: str,
    head: str,
    snapshot: Snapshot,
    state: RenderedState,
    engine_email: str | None = None,
    *,
    within: set[str] | None = None,
    changed: list[str] | None = None,
) -> set[str] | None:
    """Units a commit range can affect; None means 'everything' (an environment or the settings changed).
    `engine_email`: the engine's committer address, so rendered/ changes by anyone else count too; `changed`: the
    paths the range changes, when the caller has them already."""
    if changed is None:
        changed = [path for _, path in git.diff_names(start, head)]
    if any(
        (path == PLATFORM_FILE and _settings_changed(git, start, snapshot))
        or (path.split("/")[0] == "environments" and _environment_changed(git, start, snapshot, path))
        for path in changed
    ):
        snapshot.check_paths(changed)
        return None
    changed_types = {
        p[1] for p in (path.split("/") for path in changed) if p[0] == "definitions" and len(p) == 3
    }
    state.start_units_using(changed_types, within)  # the locks' grep runs while the templates are checked
    snapshot.check_paths(changed)
    rendered_changed = False
    units: set[str] = set()
    lookups_changed: list[str] = []
    for path in changed:
        parts = path.split("/")
        if parts[0] == "workloads" and len(parts) >= 4:
            unit = str(Unit.of_path(path))
            units.add(unit)
            # What other workloads look up (service ports) comes from the Score file and its per-environment
            # overrides: an override moving a port reaches the lookers too.
            document = len(parts) == 4 and (
                parts[3] == "score.yaml" or _OVERRIDE_FILE.fullmatch(parts[3]) is not None
            )
            if document and unit not in lookups_changed and _service_changed(git, start, head, path):
                lookups_changed.append(unit)
        elif parts[0] == "rendered" and len(parts) >= 5:
            rendered_changed = True
    if rendered_changed and engine_email is not None:
        # rendered/ edited by anyone but the engine in the range (hand edits, commits on pull-request branches that
        # were merged): those units are checked again. The engine's own commits left their units fresh.
        units |= _units_rendered_by_others(git, start, head, engine_email)
    if changed_types or lookups_changed:
        if changed_types:
            state.load_all()  # one listing of rendered/ for the locks read next and the folders looked at below
        units |= state.units_using(changed_types, set(lookups_changed), within)
        if WORKLOAD_TYPE in changed_types:  # a workload policy may now apply to any workload
            units |= {u for u in (within or state.units()) if not is_shared(u)}
        if changed_types:
            # Workloads never rendered (no lock) may now be renderable.
            units.update(
                k
                for k in (
                    snapshot.workload_paths if within is None else within & set(snapshot.workload_paths)
                )
                if not any(state.folders.get((e, k)) for e in snapshot.environments)
            )
    return units


def _units_rendered_by_others(git: Git, start: str, head: str, engine_email: str) -> set[str]:
    """Units whose rendered/ folder a commit in start..head by anyone but the engine changed."""
    units: set[str] = set()
    for committer, paths in git.changes_by_committer(start, head, "rendered/"):
        if committer == engine_email:
            continue
        for path in paths:
            parts = path.split("/")
            if len(parts) >= 5 and parts[0] == "rendered":
                units.add(str(Unit.of_path(path)))
    return units


def _settings_changed(git: Git, start: str, snapshot: Snapshot) -> bool:
    """Whether platform.yaml's settings may differ between `start` and the snapshot (an edit of its comments or
    layout reaches no unit); a file that is missing or not valid at either end counts as changed."""
    data = git.try_read(f"{start}:{PLATFORM_FILE}")
    before = None if data is None else settings_at(data, snapshot.settings.blob)
    return before is None or before != snapshot.settings


def _environment_changed(git: Git, start: str, snapshot: Snapshot, path: str) -> bool:
    """Whether what the engine reads of the environment file `path` may differ between `start` and the snapshot:
    what rendering reads (Environment.fingerprint) or its rollout settings, which decide how units still to be
    rolled out get their change. An edit of its comments or layout reaches no unit. Anything else under
    environments/, a file added, removed or not valid at either end counts as changed."""
    env = snapshot.environments.get(environment_of(path) or "")
    if env is None:
        return True
    data = git.try_read(f"{start}:{path}")
    before = None if data is None else environment_at(data, path, env.blob)
    # The fingerprint, not the fields: labels and values in another order compare equal as mappings, and a
    # template iterating over them may render them in that order.
    return before is None or _engine_reads(before) != _engine_reads(env)


def _engine_reads(env: Environment) -> tuple[str, str, tuple[str, ...]]:
    return env.fingerprint, env.rollout_mode, env.after


def _service_changed(git: Git, start: str, head: str, path: str) -> bool:
    """Whether a Score file's service section (what other workloads can look up) differs between two commits."""
    from gitops_engine.yamlio import YamlSyntaxError, load_document

    def service_at(rev: str) -> Any:
        data = git.try_read(f"{rev}:{path}")
        if not data:
            return None
        try:
            doc = load_document(data, path).data
        except YamlSyntaxError:
            return "invalid"
        return doc.get("service") if isinstance(doc, dict) else None

    return bool(service_at(start) != service_at(head))


# -------------------------------------------------------------------------------------------------------------
# A run's candidates: the range's, narrowed by the engine's open pull requests


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


def select_candidates(
    git: Git,
    main: str,
    start: str | None,
    snapshot: Snapshot,
    branches: dict[str, str],
    engine_email: str,
    reconciled: str | None,
) -> Candidates:
    """The units a run from `start` (None: everything) to `main` plans, in one call: the range's candidates, plus
    the units with a pull-request branch that something since their branch was made reaches, less those whose
    pull request is still pending as it is, plus every unit a team's group branch holds (a group pull request is
    made again from all of its units). `branches`: engine branch -> sha; `reconciled`: the last commit a complete
    run went over (see publishing.range_start)."""
    with_branch = {u for u in (unit_of_branch(b) for b in branches) if u}
    if start is None:
        return Candidates(None, RenderedState(git, main, full=True), branches, with_branch)
    state = RenderedState(git, main, full=False)
    candidates = candidates_from_range(git, start, main, snapshot, state, engine_email)
    if candidates is None:
        return Candidates(None, state, branches, with_branch)
    # Examined when the range reaches them (their pull request may be half-made: a run cut short after pushing
    # the branch), or when something since their branch was made reaches them and the branch is no longer fresh.
    reached, settled = _pulls_to_examine(
        git,
        main,
        snapshot,
        state,
        with_branch,
        branches,
        engine_email,
        reconciled,
        (start, frozenset(candidates)),
    )
    # A fresh branch is left alone, whether the range reaches its unit or not, when a complete run has gone over
    # it since it was made (`settled`): its pull request is whole.
    maybe_pending = (reached - candidates) | (candidates & settled)
    candidates |= reached
    candidates -= _pending_pulls(git, snapshot, state, maybe_pending, branches)
    # A team's group pull request is made again from all of its units whenever it is examined: the units its
    # branch holds are always planned, so none is dropped from it by mistake.
    candidates |= _group_branch_units(git, branches)
    return Candidates(candidates, state, branches, with_branch, start, with_branch - candidates)


def _pulls_to_examine(
    git: Git,
    main: str,
    snapshot: Snapshot,
    state: RenderedState,
    units: set[str],
    branches: Mapping[str, str],
    engine_email: str,
    reconciled: str | None,
    run_range: tuple[str, frozenset[str]],
) -> tuple[set[str], set[str]]:
    """Units with an open pull request that something since their branch was made may have reached; and the
    units whose branch a complete run has gone over since it was made (its base is an ancestor of `reconciled`).

    An engine branch is one commit on the main it was rendered from, so whatever came before that main is in the
    branch already, whatever the range of this run. Only changes since then matter: the range from the oldest
    such main (one diff for all), by the same rules as the run's own candidates. With thousands of pull requests
    open after a definition change, a push that touches none of them examines none of them. Branches that are not
    one engine commit on an ancestor of main (someone else's commits on top, say) are always examined.
    `run_range`: the run's own start and candidates, which answer when the branches start where the run does (the
    branches the last run made): the candidates restricted to the branches' units are what the range gives them."""
    heads = {unit: branches[branch] for unit in units if (branch := branch_of(unit)) in branches}
    examine = set(units) - set(heads)
    if not heads:
        return examine, set()
    parents = git.parents(sorted(set(heads.values())))
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
    reached: set[str] | frozenset[str] | None = run_range[1]
    if start != run_range[0]:
        # Only these units matter here: the resource-type index reads their locks, not every unit's.
        reached = candidates_from_range(git, start, main, snapshot, state, engine_email, within=set(bases))
    return examine | (set(bases) if reached is None else set(bases) & reached), settled


def _pending_pulls(
    git: Git, snapshot: Snapshot, state: RenderedState, units: set[str], branches: Mapping[str, str]
) -> set[str]:
    """Workload units whose pull request is still pending as it is: its branch holds a rendering that is fresh
    against today's sources (its lock in every environment names exactly today's inputs and definitions; one
    cat-file round trip a lock), and main does not hold that rendering yet (squashed or cherry-picked, say).
    Nothing in this run can change them, so they need not be rendered again."""
    candidates = sorted(
        u for u in units if branch_of(u) in branches and not is_shared(u) and u in snapshot.workload_paths
    )
    state.ensure(candidates)  # main's folders of all of them in one listing
    envs = snapshot.environment_order
    locks = git.read_many(
        [
            f"{branches[branch_of(unit)]}:rendered/{env}/{unit}/{LOCK_FILE}"
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


def _group_branch_units(git: Git, branches: Mapping[str, str]) -> set[str]:
    """The units whose rendered folders the engine's group branches change (one diff per group branch)."""
    units: set[str] = set()
    for branch, sha in sorted(branches.items()):
        parsed = parse_branch(branch)
        if parsed is not None and parsed.is_group:
            units |= units_changed_by(git, sha)
    return units


def units_changed_by(git: Git, sha: str) -> set[str]:
    """Units whose rendered folders a commit changes against its first parent."""
    return {str(Unit.of_path(p)) for p in git.paths_changed_by(sha, "rendered/") if p.count("/") >= 4}


# -------------------------------------------------------------------------------------------------------------
# The `candidates` stage of gitops_engine.reconcile


def find_candidates(
    git: Git, synced: Synced, where: Range, snapshot: Snapshot, identity: Identity
) -> Candidates:
    """The `candidates` stage of gitops_engine.reconcile: select_candidates over the run's range."""
    return select_candidates(
        git, synced.main, where.start, snapshot, synced.branches, identity.email, where.reconciled
    )

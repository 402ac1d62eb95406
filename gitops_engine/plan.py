"""Planning: which candidate units are stale, and what each becomes (its files, the folders it deletes, why).

`plan_changes` takes the candidates (from a commit range, see `candidates`, or every unit), renders the stale ones
through `batch` against what rendered/ holds (`provenance.RenderedState`) and returns a `Plan`: per unit, the files
to write and delete, the renderings and old locks (for titles, bodies and diffs), and whether it goes to main or to
a pull request. `range_effect` is what merging a range makes the processor do (`affected`, `preview`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gitops_engine.batch import keeper_of, namespace_clash_of, render_unit
from gitops_engine.candidates import candidates_from_range
from gitops_engine.errors import Finding, group_findings
from gitops_engine.git import Git, blob_id, default_identity
from gitops_engine.loading import Snapshot, load_snapshot
from gitops_engine.lock import Lock
from gitops_engine.manifest import (
    MANIFEST_FILE,
    ObjectChange,
    document_key,
    is_legacy_object_file,
    kind_of,
    legacy_file_name,
    object_changes,
    object_id,
    objects_of,
    split_manifest,
)
from gitops_engine.provenance import (
    RenderedState,
    definition_versions,
    stale_reasons,
    workload_inputs_changed,
)
from gitops_engine.render import (
    RenderedUnit,
    Renderer,
    is_cluster_scoped_id,
    object_clash,
    shared_namespace,
    unit_folder,
)
from gitops_engine.source import GitSource
from gitops_engine.units import SHARED_FOLDER, Unit, is_shared
from gitops_engine.workers import map_in_workers, plan_workers, slices_of

Cause = Literal["workload", "definitions", "removed"]
DATA_KINDS = frozenset({"StatefulSet", "PersistentVolumeClaim", "PersistentVolume"})
# From this many workloads planned at once, each unit's new files are kept compressed (see PackedFiles).
PACK_FILES_FROM = 2_000


# -------------------------------------------------------------------------------------------------------------
# The plan


class PackedFiles(MutableMapping[str, bytes]):
    """Path -> file content, each content kept zlib-compressed (when `pack`) and given back whole on every read.

    A definition change plans thousands of units at once and publishing reads each unit's files only a few times
    (a blob id, a diff, the fast-import stream): kept as they are, the rendered manifests were most of a run's
    memory. A run planning fewer than PACK_FILES_FROM workloads keeps them as they are: there, compressing and
    expanding them cost a tenth of the planning and saved memory nobody needed. Insertion order is kept, as a
    dict keeps it."""

    __slots__ = ("_pack", "_packed")

    def __init__(self, files: Mapping[str, bytes] | None = None, *, pack: bool = True) -> None:
        self._packed: dict[str, bytes] = {}
        self._pack = pack
        if files:
            self.update(files)

    def __getitem__(self, path: str) -> bytes:
        content = self._packed[path]
        return zlib.decompress(content) if self._pack else content

    def __setitem__(self, path: str, content: bytes) -> None:
        self._packed[path] = zlib.compress(content, 1) if self._pack else content

    def __delitem__(self, path: str) -> None:
        del self._packed[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

    def __contains__(self, path: object) -> bool:
        return path in self._packed

    def __repr__(self) -> str:
        return f"PackedFiles({dict(self.items())!r})"


class BlobReader(Protocol):
    """What a unit's diff reads objects through: a Git, or one holding some of them already (pull-request bodies
    read theirs in batches: gitops_engine.publishing.describe)."""

    def read_many(self, specs: Sequence[str]) -> list[bytes | None]: ...

    def read_blob(self, sha: str) -> bytes: ...


@dataclass
class UnitPlan:
    """One unit's change across environments."""

    unit: str
    cause: Cause
    reasons: list[str]
    writes: MutableMapping[str, bytes] = field(default_factory=PackedFiles)  # path -> new content
    deletes: list[str] = field(default_factory=list)
    old_files: dict[str, str] = field(default_factory=dict)  # path -> blob id before (for diffs)
    rendered: dict[str, RenderedUnit] = field(default_factory=dict)  # env -> new rendering
    old_locks: dict[str, Lock] = field(default_factory=dict)  # env -> lock before
    removes_production_data: bool = False
    users: list[str] = field(default_factory=list)  # shared units: the workloads that use it
    body: str | None = None  # the pull-request body, when plan_changes was given `describe`
    order: tuple[str, ...] = ()  # platform.yaml's environments: the order reports list them in
    # The rollout part this plan is (see gitops_engine.rollout): how it lands and the wave of its environments.
    mode: str = "pull-request"
    wave: int = 1
    object_envs: set[str] = field(
        default_factory=set
    )  # environments where an object is added, changed or removed
    # env -> object_changes, from when they were asked for until `diff` of that environment reads them (a
    # pull-request body asks for both: its table of environments, then the diffs).
    _changes: dict[str, list[ObjectChange]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def changed(self) -> bool:
        return bool(self.writes or self.deletes)

    @property
    def manifests_changed(self) -> bool:
        """Whether any object changes: not the lock alone, nor only the layout objects are written in (the first
        run of an engine that moved an older engine's per-object files into manifest.yaml)."""
        return bool(self.object_envs)

    @property
    def environments(self) -> list[str]:
        """Environments whose folder changes, in platform.yaml's order (removed ones last)."""
        return self._ordered({p.split("/")[1] for p in [*self.writes, *self.deletes]})

    @property
    def manifest_environments(self) -> list[str]:
        """Environments whose objects change (not only the provenance lock or the layout)."""
        return self._ordered(self.object_envs)

    def _ordered(self, envs: set[str]) -> list[str]:
        rank = {env: index for index, env in enumerate(self.order)}
        return sorted(envs, key=lambda env: (rank.get(env, len(rank)), env))

    def object_changes(self, git: BlobReader, env: str) -> list[ObjectChange]:
        """The objects that differ in `env`, old and new document each, in manifest.yaml's order."""
        if env not in self.object_envs:
            return []
        known = self._changes.get(env)
        if known is None:
            known = self._changes[env] = self._read_changes(git, env)
        return list(known)

    def _read_changes(self, git: BlobReader, env: str) -> list[ObjectChange]:
        prefix = f"rendered/{env}/{self.unit}/"
        paths = sorted(p for p in {*self.writes, *self.deletes, *self.old_files} if p.startswith(prefix))
        old_blobs = [(p, self.old_files[p]) for p in paths if p in self.old_files]
        old = objects_of(
            (p[len(prefix) :], data)
            for (p, _), data in zip(old_blobs, git.read_many([b for _, b in old_blobs]), strict=True)
            if data is not None
        )
        new_files = {p[len(prefix) :]: self.writes[p] for p in self.writes if p.startswith(prefix)}
        for path, blob in old_blobs:  # kept as they are (old_files also names unchanged files the diff needs)
            name = path[len(prefix) :]
            if path not in self.writes and path not in self.deletes and name == MANIFEST_FILE:
                new_files[name] = git.read_blob(blob)
        return object_changes(old, objects_of(new_files.items()))

    def diff(self, git: BlobReader, env: str) -> str:
        """The unit's unified diff in `env`, object by object (the lock aside), each headed by the object's kind
        and name; fenced-code safe."""
        changes = self.object_changes(git, env)
        self._changes.pop(env, None)  # read twice at most: not kept with the plan
        return object_diff(f"rendered/{env}/{self.unit}", changes)

    @property
    def goes_to_main(self) -> bool:
        """Developer changes and provenance-only changes are committed; the rest needs review, and so does
        anything that would delete data-holding objects in a production-type environment."""
        if self.cause == "workload" or self.mode == "direct":
            return not self.removes_production_data
        if self.cause == "removed":
            return not self.removes_production_data and not is_shared(self.unit)
        return not self.manifests_changed

    def definition_changes(self) -> list[tuple[str, str | None, str | None]]:
        """(definition id, old version, new version) for every definition whose use changed."""
        old = definition_versions(self.old_locks.values())
        new = definition_versions(r.provenance for r in self.rendered.values())
        out = []
        for definition_id in sorted(set(old) | set(new)):
            if old.get(definition_id) != new.get(definition_id):
                out.append((definition_id, old.get(definition_id), new.get(definition_id)))
        return out


def object_diff(folder: str, changes: Sequence[ObjectChange]) -> str:
    """A unit folder's unified diff, object by object (from object changes already computed), each headed by the
    object's kind and name; fenced-code safe."""
    import difflib  # lazy: a pull request's body needs it, a commit to main does not

    out: list[str] = []
    for change in changes:
        heading = change.key.replace("/", " ", 1)
        old = change.old.decode("utf-8", "replace") if change.old is not None else ""
        new = change.new.decode("utf-8", "replace") if change.new is not None else ""
        out.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{folder}/{MANIFEST_FILE}: {heading}" if change.old is not None else "/dev/null",
                tofile=f"b/{folder}/{MANIFEST_FILE}: {heading}" if change.new is not None else "/dev/null",
                n=3,
            )
        )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in out)
    return text.replace("```", "`\u200b``")


@dataclass
class Plan:
    head: str
    units: dict[str, UnitPlan] = field(default_factory=dict)
    failures: dict[str, list[Finding]] = field(default_factory=dict)
    global_findings: list[Finding] = field(default_factory=list)
    mode: str = "full"  # "full" or "range"
    state: RenderedState | None = None  # what main held when planned (blob ids of every unit folder read)
    candidates: int = 0
    order: tuple[str, ...] = ()  # platform.yaml's environments
    # With rollout settings (gitops_engine.rollout.apply_rollout): the units split into parts by environment mode
    # and wave, and the (unit, environment, environments it waits for) left for a later wave.
    parts: list[UnitPlan] | None = None
    waiting: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        """Every problem once (the same one in several environments lists them)."""
        return group_findings(
            [*(f for fs in self.failures.values() for f in fs), *self.global_findings], self.order
        )

    def _parts(self) -> Iterable[UnitPlan]:
        return self.units.values() if self.parts is None else self.parts

    def release(self) -> None:
        """Once the run's commits and pull requests are written: each unit keeps what a report says of it (name,
        cause, reasons, files and environments), not its renderings nor its old locks, and the rendered state
        forgets what it read, so the run's last steps (the dashboard) do not add to a definition change's peak."""
        for unit in [*self.units.values(), *(self.parts or [])]:
            unit.rendered = {}
            unit.old_locks = {}
            unit._changes = {}
        if self.state is not None:
            self.state.forget()

    def main_units(self) -> list[UnitPlan]:
        return [u for u in self._parts() if u.changed and u.goes_to_main]

    def pull_units(self) -> list[UnitPlan]:
        return [u for u in self._parts() if u.changed and not u.goes_to_main]


def plan_changes(
    snapshot: Snapshot,
    state: RenderedState,
    *,
    candidates: set[str] | None = None,
    renderer: Renderer | None = None,
    describe: Callable[[UnitPlan], str] | None = None,
) -> Plan:
    """Decide, for every candidate unit, whether it is stale and what its new files are.

    `describe`, when given, writes the pull-request body of each workload unit that needs one; it runs where the
    unit was planned, so with many candidates it shares the worker processes with rendering (see
    `plan_workers`)."""
    plan = Plan(
        head=state.commit,
        mode="full" if candidates is None else "range",
        state=state,
        order=tuple(snapshot.environment_order),
    )
    plan.global_findings.extend(f for f in snapshot.findings if f.severity == "error")
    if plan.global_findings:
        return plan
    renderer = renderer or Renderer(snapshot)
    envs = snapshot.environment_order
    if candidates is None:
        state.read_all_locks()
        candidates = set(snapshot.workload_paths) | state.units()
    # Reported, but units that do not depend on the broken file are still processed. (Read once the candidates
    # are known: a lazy snapshot reports what discovering every workload found only once it has done so.)
    plan.global_findings.extend(f for f in snapshot.local_findings if f.severity == "error")
    plan.candidates = len(candidates)
    shared_rendered: dict[tuple[str, str], tuple[RenderedUnit, Cause]] = {}
    workloads = sorted(u for u in candidates if not is_shared(u))
    workers = plan_workers(len(workloads))
    context = _PlanContext(
        snapshot, state, renderer, envs, describe, pack_files=len(workloads) >= PACK_FILES_FROM
    )
    if workers > 1:
        # The first unit is planned here: the caches it fills (definitions by type, YAML resolution, strings
        # already dumped) are inherited by every worker instead of being filled once per worker.
        _plan_chunk_into(workloads[:1], context, plan, shared_rendered)
        _plan_in_workers(workloads[1:], context, workers, plan, shared_rendered)
    else:
        _plan_chunk_into(workloads, context, plan, shared_rendered)
    _refuse_object_clashes(plan, snapshot, state)
    shared_candidates = {u for u in candidates if is_shared(u)} | {u for _, u in shared_rendered}
    # A re-rendered or removed workload may have been the last user of a shared resource. Its lock is still fresh
    # (its own inputs did not change), so only the workloads' old locks lead to it.
    shared_candidates |= {
        str(Unit.shared(res_id))
        for unit_plan in plan.units.values()
        for lock in unit_plan.old_locks.values()
        for res_id in lock.shared_ids()
    }
    if shared_candidates:
        _plan_shared(shared_candidates, context, plan, shared_rendered)
    return plan


def _refuse_object_clashes(plan: Plan, snapshot: Snapshot, state: RenderedState) -> None:
    """Two units rendering one object in an environment (same kind and name, and same namespace unless the kind is
    cluster-scoped): Argo CD or Flux would fight over it, so a full render refuses it (batch._object_collisions)
    and so does the processor. The workloads this run writes are checked against the units sharing their
    namespace (a team's folder with a `{team}` namespace rule; everything in the environment without one, or for a
    cluster-scoped object). The unit that already holds the object keeps it, so a newcomer never displaces a
    running workload; between two of a kind, the first in path order does. A refused unit is reported and
    nothing of it is written.

    Only a unit that gains an object, or moves to another namespace, can start a clash: a namespace where every
    unit this run writes keeps the objects and namespace its lock names is not read (a change of image or
    variables, the usual developer change, reads no other unit)."""
    writing = sorted(unit for unit, p in plan.units.items() if p.rendered and not is_shared(unit))
    after: dict[tuple[str, str], dict[str, str]] = {}  # (env, unit) -> _objects_after, asked once

    def objects(env_id: str, unit: str) -> dict[str, str]:
        found = after.get((env_id, unit))
        if found is None:
            found = after[(env_id, unit)] = _objects_after(plan, state, env_id, unit)
        return found

    def brings_objects(env_id: str, unit: str) -> bool:
        old = state.lock(env_id, unit)
        if old is None or old.manifests is None:
            return True
        new = plan.units[unit].rendered[env_id].provenance
        return new.get("namespace") != old.namespace or not new["manifests"].keys() <= old.manifests.keys()

    # (env, namespace, or "" for cluster-scoped objects) -> the units this run writes there
    scopes: dict[tuple[str, str], set[str]] = {}
    for unit in writing:
        for env_id in plan.units[unit].rendered:
            if not brings_objects(env_id, unit):
                continue
            namespace = snapshot.environments[env_id].namespace_for(Unit(unit).first, Unit(unit).name)
            scopes.setdefault((env_id, namespace), set()).add(unit)
            if any(is_cluster_scoped_id(ident) for ident in objects(env_id, unit)):
                scopes.setdefault((env_id, ""), set()).add(unit)
    refused: dict[str, Finding] = {}
    for (env_id, namespace), mine in sorted(scopes.items()):
        env = snapshot.environments[env_id]
        rule = env.namespace_rule
        if namespace and "{workload}" in rule:
            members = set(mine)  # one workload name a namespace: same-named ones were refused as a clash
        elif namespace and "{team}" in rule:
            teams = {Unit(u).first for u in mine}
            if "shared" in teams:  # shared resources render into the namespace of a team called "shared"
                teams.add(SHARED_FOLDER)
            members = set(mine) | {u for team in sorted(teams) for u in state.units_in(env_id, team)}
        else:
            members = set(mine) | set(state.units_in(env_id))
        state.read_objects(env_id, members - mine)  # their objects, in one read
        owners: dict[str, list[str]] = {}  # object id -> the units rendering it
        keys: dict[str, str] = {}  # object id -> its key, as the first unit names it
        for member in sorted(members):
            if member in refused:
                continue
            identity = Unit(member)
            if namespace and namespace != (
                shared_namespace(env, identity.name)
                if identity.is_shared
                else env.namespace_for(identity.first, identity.name)
            ):
                continue
            for ident, key in objects(env_id, member).items():
                if is_cluster_scoped_id(ident) != (not namespace):
                    continue
                owners.setdefault(ident, []).append(member)
                keys.setdefault(ident, key)
        for ident, units in sorted(owners.items()):
            if len(units) < 2:
                continue
            keeper = keeper_of(units, (ident in state.objects_of(env_id, u) for u in units))
            for unit in units:
                if unit == keeper or unit not in mine or unit in refused:
                    continue
                refused[unit] = Finding(
                    snapshot.workload_paths[unit],
                    1,
                    1,
                    object_clash(env_id, unit, keeper, keys[ident], namespace),
                    unit=unit,
                )
    for unit, finding in sorted(refused.items()):
        del plan.units[unit]
        plan.failures.setdefault(unit, []).append(finding)


def _objects_after(plan: Plan, state: RenderedState, env: str, unit: str) -> dict[str, str]:
    """Object id -> key of the objects of a unit's folder in `env` once this run's plan is written."""
    unit_plan = plan.units.get(unit)
    if unit_plan is not None and env in unit_plan.rendered:
        return {object_id(key): key for key in unit_plan.rendered[env].provenance["manifests"]}
    folder = f"{unit_folder(env, unit)}/"
    if unit_plan is not None and any(p.startswith(folder) for p in unit_plan.deletes):
        return {}  # not rendered in `env` but deleted from it: the whole folder goes
    return state.objects_of(env, unit)


@dataclass
class _PlanContext:
    snapshot: Snapshot
    state: RenderedState
    renderer: Renderer
    envs: list[str]
    describe: Callable[[UnitPlan], str] | None
    pack_files: bool  # PackedFiles of the units planned compress their files

    def unit_plan(self, unit: str, cause: Cause, reasons: list[str]) -> UnitPlan:
        return UnitPlan(
            unit, cause, reasons, order=tuple(self.envs), writes=PackedFiles(pack=self.pack_files)
        )


_Shared = dict[tuple[str, str], tuple[RenderedUnit, Cause]]
_CONTEXT: _PlanContext | None = None  # what forked workers inherit (set just before the pool forks)


def _plan_chunk_into(
    units: Sequence[str], context: _PlanContext, plan: Plan, shared_rendered: _Shared
) -> None:
    for unit in units:
        _plan_workload(unit, context, plan, shared_rendered)
        unit_plan = plan.units.get(unit)
        if (
            context.describe is not None
            and unit_plan is not None
            and unit_plan.changed
            and not unit_plan.goes_to_main
        ):
            unit_plan.body = context.describe(unit_plan)


def _plan_chunk(units: list[str]) -> tuple[dict[str, UnitPlan], dict[str, list[Finding]], _Shared]:
    """A worker's share: plan these units and send back the plans (pickled)."""
    assert _CONTEXT is not None
    part = Plan(head=_CONTEXT.state.commit)
    shared: _Shared = {}
    _plan_chunk_into(units, _CONTEXT, part, shared)
    return part.units, part.failures, shared


def _plan_in_workers(
    units: list[str], context: _PlanContext, workers: int, plan: Plan, shared_rendered: _Shared
) -> None:
    """Plan contiguous slices of the sorted units in worker processes and merge them in order, so the plan is the
    one a single process would make (same units, same order, same failures, same shared renderings)."""
    global _CONTEXT
    _CONTEXT = context
    try:
        for units_part, failures, shared in map_in_workers(
            _plan_chunk, slices_of(units, workers), workers, "planning"
        ):
            for unit, unit_plan in units_part.items():
                _share_locks(unit_plan, context.state)
                plan.units[unit] = unit_plan
            for unit, findings in failures.items():
                plan.failures.setdefault(unit, []).extend(findings)
            for key, (rendered, cause) in shared.items():
                previous = shared_rendered.get(key)
                if previous is None or (previous[1] != "workload" and cause == "workload"):
                    shared_rendered[key] = (rendered, cause)
    finally:
        _CONTEXT = None


def _share_locks(unit_plan: UnitPlan, state: RenderedState) -> None:
    """A worker's plan comes back with its own copy of every old lock: one copy is kept, the state's (equal, parsed
    from the same blob), so thousands of units do not hold each lock twice. A lock the state has not parsed yet
    becomes the worker's copy, which comes back packed: the parent does not parse it again."""
    for env, lock in unit_plan.old_locks.items():
        unit_plan.old_locks[env] = state.adopt_lock(env, unit_plan.unit, lock)


def _plan_workload(unit: str, context: _PlanContext, plan: Plan, shared_rendered: _Shared) -> None:
    """Plan a workload unit: its removal when its folder is gone from workloads/, else (when stale) its new
    rendering in each stale environment; a unit failing in one environment is not planned at all."""
    snapshot, state, renderer, envs = context.snapshot, context.state, context.renderer, context.envs
    existing_envs = state.envs_of(unit)
    if unit not in snapshot.workload_paths:
        if not existing_envs:
            return
        removal = context.unit_plan(unit, "removed", [f"workloads/{unit}/ removed"])
        for env in existing_envs:
            _remove_folder(removal, env, unit, state, snapshot)
        plan.units[unit] = removal
        return
    reasons: list[str] = []
    locks = {env: state.lock(env, unit) for env in envs}
    stale_envs: set[str] = set()
    for env in envs:
        env_reasons = stale_reasons(locks[env], snapshot, env, unit)
        if env_reasons:
            stale_envs.add(env)
        reasons.extend(env_reasons)
    gone_envs = [e for e in existing_envs if e not in snapshot.environments]
    reasons.extend(f"environment {e} removed" for e in gone_envs)
    if not reasons:
        return
    any_lock = any(lock is not None for lock in locks.values())
    changed_source = (not any_lock and not gone_envs) or any(
        workload_inputs_changed(lock, snapshot, unit) for lock in locks.values() if lock is not None
    )
    cause: Cause = "workload" if changed_source else "definitions"
    unit_plan = context.unit_plan(unit, cause, sorted(set(reasons)))
    failed = False
    for env in envs:
        if cause == "definitions" and env not in stale_envs:
            continue  # its lock says every input is unchanged: rendering it again would give the same files
        clash = namespace_clash_of(snapshot, state, unit, env)
        if clash is not None:
            plan.failures.setdefault(unit, []).append(clash)
            return
        done = render_unit(renderer, unit, env, plan.failures)
        if done is None:
            failed = True  # the other environments are still rendered: their problems are reported too
            continue
        rendered, shared_units = done
        if failed:
            continue
        # Keep the provenance (pull-request text, diagrams), not the files and parsed manifests: with thousands of
        # units planned at once they were most of the memory.
        unit_plan.rendered[env] = RenderedUnit(unit, env, {}, rendered.provenance)
        old_lock = locks[env]
        if old_lock is not None:
            unit_plan.old_locks[env] = old_lock
        for shared in shared_units:
            previous = shared_rendered.get((env, shared.unit))
            if previous is None or (previous[1] != "workload" and cause == "workload"):
                shared_rendered[(env, shared.unit)] = (shared, cause)
        _diff_folder(unit_plan, env, unit, rendered.files, state, snapshot)
    if failed:
        return
    for env in gone_envs:
        _remove_folder(unit_plan, env, unit, state, snapshot, environment_gone=True)
    plan.units[unit] = unit_plan


def _plan_shared(
    shared_candidates: set[str], context: _PlanContext, plan: Plan, shared_rendered: _Shared
) -> None:
    """Plan the shared units: as this run's workloads rendered them, else rendered again through a user (or
    removed when no workload uses one any more)."""
    snapshot, state, renderer, envs = context.snapshot, context.state, context.renderer, context.envs
    declarers: dict[str, list[str]] = {}  # shared resource id -> its users, looked up once
    for unit in sorted(shared_candidates):
        unit_plan = context.unit_plan(unit, "definitions", [])
        res_id = Unit(unit).name
        for env in [*envs, *sorted(set(state.envs_of(unit)) - set(envs))]:
            produced = shared_rendered.get((env, unit))
            if produced is not None:
                rendered, cause = produced
                if cause == "workload":
                    unit_plan.cause = "workload"
                # Why, from the unit's own lock: what a pull request says must not depend on whether this run
                # reached the shared resource through a user or by itself (a later run would rewrite the body).
                lock = state.lock(env, unit)
                if lock is not None:
                    unit_plan.reasons.extend(stale_reasons(lock, snapshot, env, unit))
            elif env in snapshot.environments:
                lock = state.lock(env, unit)
                reasons = stale_reasons(lock, snapshot, env, unit) if lock else []
                if res_id not in declarers:
                    declarers[res_id] = _shared_declarers(state, snapshot, res_id)
                users = declarers[res_id]
                # Fresh, but is anyone still using it? A user re-rendered in this run that still declared it would
                # have produced it above; users whose locks were not touched still declare it.
                still_used = any(u not in plan.units or env not in plan.units[u].rendered for u in users)
                if lock is not None and not reasons and still_used:
                    continue
                rendered_by_user = None
                a_user_failed = False
                for user in users:
                    done = render_unit(renderer, user, env, plan.failures, charge_unit=False)
                    if done is None:
                        a_user_failed = True
                        continue
                    rendered_by_user = next((s for s in done[1] if s.unit == unit), None)
                    if rendered_by_user is not None:
                        break
                if rendered_by_user is None:
                    # A user that failed may still declare it: an error never removes manifests.
                    if lock is None or a_user_failed:
                        continue
                    _remove_folder(unit_plan, env, unit, state, snapshot)
                    unit_plan.reasons.append(f"{env}: no workload uses shared resource {res_id!r} any more")
                    unit_plan.cause = "removed"
                    continue
                rendered = rendered_by_user
                unit_plan.reasons.extend(reasons)
            else:
                _remove_folder(unit_plan, env, unit, state, snapshot)
                unit_plan.reasons.append(f"environment {env} removed")
                continue
            unit_plan.rendered[env] = rendered
            lock = state.lock(env, unit)
            if lock is not None:
                unit_plan.old_locks[env] = lock
            _diff_folder(unit_plan, env, unit, rendered.files, state, snapshot)
        if unit_plan.changed:
            if res_id not in declarers:
                declarers[res_id] = _shared_declarers(state, snapshot, res_id)
            unit_plan.users = declarers[res_id]
            if not unit_plan.reasons:
                unit_plan.reasons.append("declared by a changed workload")
            plan.units[unit] = unit_plan


def _shared_declarers(state: RenderedState, snapshot: Snapshot, res_id: str) -> list[str]:
    """The workloads whose locks use the shared resource `res_id` (any environment)."""
    return sorted(
        {
            unit
            for unit, _ in state.shared_users(res_id)
            if not is_shared(unit) and unit in snapshot.workload_paths
        }
    )


def _diff_folder(
    unit_plan: UnitPlan,
    env: str,
    unit: str,
    files: Mapping[str, bytes],
    state: RenderedState,
    snapshot: Snapshot | None = None,
) -> None:
    existing = state.files_of(env, unit)
    folder = unit_folder(env, unit)
    for name, content in files.items():
        blob = existing.get(name)
        if blob is None or blob != blob_id(content):
            unit_plan.writes[f"{folder}/{name}"] = content
            if blob is not None:
                unit_plan.old_files[f"{folder}/{name}"] = blob
    gone = {name: blob for name, blob in existing.items() if name not in files}
    for name, blob in gone.items():
        unit_plan.deletes.append(f"{folder}/{name}")
        unit_plan.old_files[f"{folder}/{name}"] = blob
    if not _objects_same(existing, files.get(MANIFEST_FILE)):
        unit_plan.object_envs.add(env)
        if MANIFEST_FILE in existing:
            unit_plan.old_files.setdefault(f"{folder}/{MANIFEST_FILE}", existing[MANIFEST_FILE])
        if snapshot is not None and _is_production(
            snapshot, env
        ):  # else nothing removed holds data that counts
            new_objects = {object_id(key) for key in _manifest_keys(files.get(MANIFEST_FILE))}
            removed = {
                ident: key for ident, key in state.objects_of(env, unit).items() if ident not in new_objects
            }
            if removed and _holds_data(snapshot, env, removed.values()):
                unit_plan.removes_production_data = True


def _manifest_keys(manifest: bytes | None) -> list[str]:
    if manifest is None:
        return []
    return [document_key(document) or "" for document in split_manifest(manifest)]


def _objects_same(existing: Mapping[str, str], manifest: bytes | None) -> bool:
    """Whether a folder (name -> blob id) holds the objects of `manifest` (None: no object) exactly. A folder an
    older engine wrote holds the same documents one file each: their blob ids are compared, nothing is read."""
    legacy = {name: blob for name, blob in existing.items() if is_legacy_object_file(name)}
    if MANIFEST_FILE in existing or manifest is None:
        held = existing.get(MANIFEST_FILE)
        return not legacy and held == (blob_id(manifest) if manifest is not None else None)
    documents = split_manifest(manifest)
    keys = [document_key(document) for document in documents]
    if any(key is None for key in keys):
        return False
    wanted = {legacy_file_name(str(key)): blob_id(doc) for key, doc in zip(keys, documents, strict=True)}
    return wanted == legacy


def _remove_folder(
    unit_plan: UnitPlan,
    env: str,
    unit: str,
    state: RenderedState,
    snapshot: Snapshot,
    *,
    environment_gone: bool = False,
) -> None:
    """Delete the unit's folder in `env`. (A removed environment's folders go with it, data or not: the
    environment's own removal was the reviewed change.)"""
    if not environment_gone:
        unit_plan.old_locks[env] = state.lock(env, unit) or Lock({})
    for name, blob in state.files_of(env, unit).items():
        path = f"{unit_folder(env, unit)}/{name}"
        unit_plan.deletes.append(path)
        unit_plan.old_files[path] = blob
    objects = state.objects_of(env, unit)
    if objects:
        unit_plan.object_envs.add(env)
    if not environment_gone and _holds_data(snapshot, env, objects.values()):
        unit_plan.removes_production_data = True


def _holds_data(snapshot: Snapshot, env: str, objects: Iterable[str]) -> bool:
    """Removing these objects (keys, or an older engine's file names) would delete data in a production-type
    environment."""
    if not _is_production(snapshot, env):
        return False
    return any(kind_of(key) in _DATA_KINDS_LOWER for key in objects)


def _is_production(snapshot: Snapshot, env: str) -> bool:
    environment = snapshot.environments.get(env)
    return environment.type == "production" if environment else env == "production"


_DATA_KINDS_LOWER = frozenset(kind.lower() for kind in DATA_KINDS)


# -------------------------------------------------------------------------------------------------------------
# What merging a range makes the processor do (`affected`, `preview`)


@dataclass
class AffectedUnit:
    """A unit whose rendered output a merge of the range changes, as the processor will plan it."""

    unit: str
    environments: list[str]  # whose manifests change, in platform.yaml's order
    reasons: list[str]
    plan: UnitPlan

    @property
    def merge(self) -> str:
        """What the processor does after the merge: "commit" to main, or open a "pull request"."""
        return "commit" if self.plan.goes_to_main else "pull request"


@dataclass
class RangeEffect:
    base: str
    head: str
    units: list[AffectedUnit]  # units whose manifests change
    provenance_only: list[str]  # units whose provenance alone changes (committed to main; nothing deploys)
    findings: list[Finding]
    failed: list[str]  # units that fail to render: they keep their last output
    changed_paths: list[str]


@dataclass
class RangePlan:
    """The processor's plan for merging base..head: made on head's sources against the rendered/ base holds."""

    base: str
    head: str
    snapshot: Snapshot
    candidates: set[str] | None  # None: the range reaches every unit
    plan: Plan
    changes: list[tuple[str, str]]  # (status letter, path) of every file the range changes


def plan_range(git: Git, base: str, head: str) -> RangePlan:
    """Plan what merging `head` into `base` makes the processor do (`affected`, `preview`, `validate --base`)."""
    base_sha, head_sha = git.rev_parse(base), git.rev_parse(head)
    # Lazy: workloads are listed folder by folder as the range reaches them (a range over everything lists all).
    snapshot = load_snapshot(GitSource(git, head_sha, lazy=True))
    changes = git.diff_names(base_sha, head_sha)
    state = RenderedState(git, base_sha, full=False)
    candidates = candidates_from_range(
        git, base_sha, head_sha, snapshot, state, default_identity().email, changed=[p for _, p in changes]
    )
    plan = plan_changes(snapshot, state, candidates=candidates)
    return RangePlan(base_sha, head_sha, snapshot, candidates, plan, changes)


def range_effect(git: Git, base: str, head: str) -> RangeEffect:
    """What merging `head` into `base` makes the processor do: the plan it makes on the merged sources against the
    rendered/ that `base` holds (so a unit that fails keeps its output, pending definition updates that a changed
    workload adopts show, and `preview`, `affected` and `process --dry-run` agree by construction)."""
    planned = plan_range(git, base, head)
    plan, changes = planned.plan, planned.changes
    units: list[AffectedUnit] = []
    provenance_only: list[str] = []
    for name, unit_plan in sorted(plan.units.items()):
        if not unit_plan.changed:
            continue
        if not unit_plan.manifests_changed:
            provenance_only.append(name)
            continue
        reasons = _reasons(unit_plan, changes)
        units.append(AffectedUnit(name, unit_plan.manifest_environments, reasons, unit_plan))
    return RangeEffect(
        planned.base,
        planned.head,
        units,
        provenance_only,
        plan.findings,
        sorted(plan.failures),
        [path for _, path in changes],
    )


_STATUS = {"A": "added", "D": "removed"}


def _reasons(unit: UnitPlan, changes: list[tuple[str, str]]) -> list[str]:
    """Why a unit changes, in the range's terms: its files, the definitions it moves between, the environment files
    whose change reaches it (what rendering reads of them changed: the unit's own reasons name them)."""
    folder = f"workloads/{unit.unit}/"
    reasons = [
        f"{path} {_STATUS.get(status, 'changed')}" for status, path in changes if path.startswith(folder)
    ]
    for definition_id, old, new in unit.definition_changes():
        reasons.append(f"definition {definition_id}: {old or 'unused'} → {new or 'unused'}")
    for _, path in changes:
        if path.startswith("environments/") and f"{path} changed" in unit.reasons:
            reasons.append(f"{path} changed")
    return reasons or unit.reasons or ["rendered output differs"]

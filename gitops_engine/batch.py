"""Rendering a set of units: one place for the shared-unit failure rule and the clash rules.

Every command that renders more than one unit goes through here: `render` and `validate` (`build_tree`, every
selected workload in every selected environment) and the planning of `process`, `affected` and `preview`
(`render_unit` per stale unit and environment, `namespace_clash_of` before it).

- **A failing unit keeps its last output.** A workload that fails is recorded under its own name; when what failed
  is a shared resource it declares, the failure is recorded under the shared unit and the workload alike (neither
  is written). Everything else is still rendered, so every problem shows at once.
- **Clashes.** Two workloads of one name in one namespace, two units rendering one object (kind, namespace and
  name), a shared resource declared differently by two workloads: the unit already rendered there keeps its
  place (a newcomer never displaces a running workload), else the first in path order; the other is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gitops_engine.errors import Finding, GitopsError, UsageError, group_findings
from gitops_engine.loading import OVERRIDE_PREFIX, Snapshot
from gitops_engine.manifest import object_id
from gitops_engine.provenance import RenderedState
from gitops_engine.render import (
    RenderedUnit,
    Renderer,
    UnitFailure,
    deep_merge,
    is_cluster_scoped,
    namespace_clash,
    object_clash,
    unit_folder,
)
from gitops_engine.staging import StagedUnit
from gitops_engine.units import Unit, is_shared
from gitops_engine.workers import map_in_workers, plan_workers, slices_of

RENDERED = "rendered"
_Declaration = tuple[str, str, str, tuple[object, object, object]]
Failures = dict[str, list[Finding]]
# Called on each rendered unit in the process that rendered it: writes its files somewhere (`staging.Stager`) or
# drops them (returns None); either way only a slim unit (`slim_unit`) goes back to the parent.
Stage = Callable[[RenderedUnit], StagedUnit | None]


def render_unit(
    renderer: Renderer,
    unit: str,
    env: str,
    failures: Failures,
    *,
    shared_failures: Failures | None = None,
    charge_unit: bool = True,
) -> tuple[RenderedUnit, list[RenderedUnit]] | None:
    """The workload `unit` rendered in `env` with the shared resources it declares; None when it fails, its
    findings recorded under the unit that failed (in `shared_failures`, when given, for a shared one) and, with
    `charge_unit`, under `unit` too when what failed is one of its shared resources."""
    try:
        return renderer.render_workload(unit, env)
    except UnitFailure as exc:
        target = shared_failures if shared_failures is not None and is_shared(exc.unit) else failures
        target.setdefault(exc.unit, []).extend(exc.findings)
        if charge_unit and exc.unit != unit:
            failures.setdefault(unit, []).extend(exc.findings)
        return None


@dataclass
class TreeBuild:
    """The outcome of rendering a set of units: what to write, and what failed."""

    units: dict[tuple[str, str], RenderedUnit] = field(default_factory=dict)  # (env, unit) -> rendered
    failures: dict[str, list[Finding]] = field(default_factory=dict)  # unit -> findings
    global_findings: list[Finding] = field(default_factory=list)  # block everything
    local_findings: list[Finding] = field(default_factory=list)  # one file each; the rest is still rendered
    environments: list[str] = field(default_factory=list)
    workloads: list[str] = field(default_factory=list)
    complete: bool = True  # every workload and environment was in scope
    # workload -> its shared resources' declarations, when found where it was rendered (a worker process)
    declarations: dict[str, list[_Declaration]] = field(default_factory=dict)
    # (env, unit) -> what staging its files did, when build_tree was given a stage (its `units` are slim then)
    staged: dict[tuple[str, str], StagedUnit] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        """Every problem once: the same one in several environments is one finding listing them."""
        return group_findings(
            [
                *(f for fs in self.failures.values() for f in fs),
                *self.global_findings,
                *self.local_findings,
            ],
            self.environments,
        )

    @property
    def ok(self) -> bool:
        return not self.failures and not any(
            f.severity == "error" for f in [*self.global_findings, *self.local_findings]
        )

    def files(self) -> dict[str, bytes]:
        """rendered/<env>/<unit>/<file> -> content, for every unit rendered successfully (a build made with a
        stage holds no content: see `staged`)."""
        out: dict[str, bytes] = {}
        for (env, unit), rendered in sorted(self.units.items()):
            if unit in self.failures:
                continue
            folder = unit_folder(env, unit)
            for name, content in rendered.files.items():
                out[f"{folder}/{name}"] = content
        return out

    def protected_folders(self) -> set[str]:
        """Folders of failed units: never touched, so an error never deletes or blanks manifests."""
        return {unit_folder(env, unit) for env in self.environments for unit in self.failures}


def build_tree(
    snapshot: Snapshot,
    *,
    environments: Iterable[str] | None = None,
    workloads: Iterable[str] | None = None,
    renderer: Renderer | None = None,
    already_rendered: Mapping[tuple[str, str], Collection[str]] | None = None,
    on_unit: Callable[[], None] | None = None,
    stage: Stage | None = None,
) -> TreeBuild:
    """Render the selected workloads (default all) in the selected environments (default all).
    `already_rendered`: (environment, unit) -> object ids (`manifest.object_id`) of the folders already there,
    which keep their namespace and objects in a clash (see cross_checks). `on_unit` is called after each workload and environment (progress).
    `stage`, when given, is called on each unit rendered, in the process that rendered it (see `Stage`)."""
    build = TreeBuild(global_findings=list(snapshot.findings), local_findings=list(snapshot.local_findings))
    all_envs = snapshot.environment_order
    build.environments = list(environments) if environments is not None else all_envs
    build.workloads = sorted(workloads) if workloads is not None else sorted(snapshot.workload_paths)
    build.complete = environments is None and workloads is None
    if not any(f.severity == "error" for f in build.global_findings):
        # Naming what does not exist is a usage error (exit 2); with broken settings, every name is unknown.
        unknown = [
            snapshot.unknown_environment(e) for e in build.environments if e not in snapshot.environments
        ]
        unknown += [snapshot.unknown_workload(k) for k in build.workloads if k not in snapshot.workload_paths]
        if unknown:
            raise UsageError("; ".join(unknown))
    if any(f.severity == "error" for f in build.global_findings):
        return build
    renderer = renderer or Renderer(snapshot)
    shared_failures: dict[str, list[Finding]] = {}
    workers = plan_workers(len(build.workloads))
    if workers > 1:
        parts = _render_spread(renderer, build.workloads, build.environments, workers, on_unit, stage)
    else:
        parts = [_render_slice(renderer, build.workloads, build.environments, on_unit, stage)]
    _merge_parts(build, parts, shared_failures)
    if stage is not None:
        _stage_shared(build, stage)
    for failed, findings in shared_failures.items():
        build.failures.setdefault(failed, []).extend(findings)
    for failed in build.failures:
        build.failures[failed] = sorted(set(build.failures[failed]))
    for finding in cross_checks(snapshot, build, already_rendered or {}):
        # The unit named is left as it is (two workloads in one namespace must not both be applied).
        build.failures.setdefault(finding.unit, []).append(finding)
    return build


def _merge_parts(build: TreeBuild, parts: list[_RenderedSlice], shared_failures: Failures) -> None:
    """The parts' results, in workload order: what one process rendering them all would have collected."""
    for part in parts:  # in workload order: what one process rendering them all would have collected
        build.units.update(part.units)
        for unit, findings in part.failures.items():
            build.failures.setdefault(unit, []).extend(findings)
        for unit, findings in part.shared_failures.items():
            shared_failures.setdefault(unit, []).extend(findings)
        build.declarations.update(part.declarations)
        build.staged.update(part.staged)


def _stage_shared(build: TreeBuild, stage: Stage) -> None:
    """Shared units are staged here, once each: several workers may have rendered (and returned) the same one."""
    for key, rendered in sorted(build.units.items()):
        if is_shared(key[1]):
            staged = stage(rendered)
            if staged is not None:
                build.staged[key] = staged
            build.units[key] = slim_unit(rendered)


def slim_unit(rendered: RenderedUnit) -> RenderedUnit:
    """The unit without its files and with only the provenance the cross checks read: what a staged unit sends
    back to the parent."""
    provenance = {
        "namespace": rendered.provenance.get("namespace", ""),
        "manifests": rendered.provenance["manifests"],
    }
    return RenderedUnit(unit=rendered.unit, env=rendered.env, files={}, provenance=provenance)


@dataclass
class _RenderedSlice:
    """What rendering some workloads in every selected environment produced, in rendering order."""

    units: dict[tuple[str, str], RenderedUnit] = field(default_factory=dict)
    failures: dict[str, list[Finding]] = field(default_factory=dict)
    shared_failures: dict[str, list[Finding]] = field(default_factory=dict)
    declarations: dict[str, list[_Declaration]] = field(default_factory=dict)
    staged: dict[tuple[str, str], StagedUnit] = field(default_factory=dict)


def _render_slice(
    renderer: Renderer,
    workloads: list[str],
    environments: list[str],
    on_unit: Callable[[], None] | None = None,
    stage: Stage | None = None,
) -> _RenderedSlice:
    part = _RenderedSlice()
    for key in workloads:
        for env in environments:
            done = render_unit(renderer, key, env, part.failures, shared_failures=part.shared_failures)
            if done is not None:
                rendered, shared_units = done
                if stage is not None:
                    staged = stage(rendered)
                    if staged is not None:
                        part.staged[(env, key)] = staged
                    rendered = slim_unit(rendered)
                part.units[(env, key)] = rendered
                for shared in shared_units:
                    part.units[(env, shared.unit)] = shared
            if on_unit is not None:
                on_unit()
    return part


def _render_spread(
    renderer: Renderer,
    workloads: list[str],
    environments: list[str],
    workers: int,
    on_unit: Callable[[], None] | None,
    stage: Stage | None,
) -> list[_RenderedSlice]:
    """Render the workloads on `workers` processes, one part per workload in workload order, as one process would.

    A shared resource is rendered once an environment, from the first workload that declares it (the renderer
    caches it; later declarers reuse it). So that every worker reuses the same one, the workloads that would
    render a shared resource first are rendered here, in order, before the fork (`_may_declare_shared` spares
    parsing the others here); the first workload is too, so the caches it fills (definitions by type, compiled
    templates) are inherited by every worker."""
    snapshot = renderer.snapshot
    parts: dict[str, _RenderedSlice] = {}
    cached: set[tuple[str, str]] = set()
    rest: list[str] = []
    for index, key in enumerate(workloads):
        if index and not _may_declare_shared(snapshot, key):
            rest.append(key)
            continue
        shared = {(env, res_id) for env, _, res_id, _ in shared_declarations(snapshot, key, environments)}
        if index == 0 or not shared <= cached:
            parts[key] = _render_slice(renderer, [key], environments, on_unit, stage)
            cached |= shared
        else:
            rest.append(key)
    slices = slices_of(rest, workers)

    def render(keys: list[str]) -> list[_RenderedSlice]:
        found = [_render_slice(renderer, [key], environments, stage=stage) for key in keys]
        for key, part in zip(keys, found, strict=True):
            # Found here, where the workload is parsed already: the cross checks need not parse it again.
            part.declarations = {key: shared_declarations(snapshot, key, environments)}
        return found

    for keys, found in zip(slices, map_in_workers(render, slices, workers, "rendering"), strict=True):
        parts.update(zip(keys, found, strict=True))
        if on_unit is not None:
            for _ in range(len(keys) * len(environments)):
                on_unit()
    return [parts[key] for key in workloads]


def _may_declare_shared(snapshot: Snapshot, key: str) -> bool:
    """Whether a workload's Score file or overrides could declare a shared resource, read as text: a key `id` is
    those two letters in the text, or an escape. Most workloads declare none, and need not be parsed here, before
    the fork, one after the other, but by the worker that renders them."""
    folder = f"workloads/{key}/"
    paths = [snapshot.workload_paths[key]]
    paths += [p for p in snapshot.workload_files(key) if p.startswith(folder + OVERRIDE_PREFIX)]
    try:
        texts = [snapshot.source.read(path) for path in paths]
    except (GitopsError, OSError):
        return True  # the parse says what is wrong
    return any(b"id" in text or b"\\" in text for text in texts)


def cross_checks(
    snapshot: Snapshot,
    build: TreeBuild,
    already_rendered: Mapping[tuple[str, str], Collection[str]] | None = None,
) -> list[Finding]:
    """Problems between workloads: two workloads in one namespace with one name; a shared resource declared
    differently by two workloads. Of workloads clashing in a namespace, the one already rendered there keeps it
    (a newcomer never displaces a running workload; `process` decides the same way), else the first in path
    order; every workload of the repo counts, not only the selected ones."""
    findings: list[Finding] = []
    held = already_rendered or {}
    selected = set(build.workloads)
    for env_id in build.environments:
        env = snapshot.environments[env_id]
        slots: dict[tuple[str, str], list[str]] = {}
        for key in sorted(snapshot.workload_paths):
            unit = Unit(key)
            slots.setdefault((env.namespace_for(unit.first, unit.name), unit.name), []).append(key)
        for (namespace, name), keys in slots.items():
            if len(keys) < 2:
                continue
            keeper = keeper_of(keys, ((env_id, k) in held for k in keys))
            findings.extend(
                Finding(
                    snapshot.workload_paths[key],
                    1,
                    1,
                    namespace_clash(name, namespace, env, snapshot.workload_paths[keeper]),
                    unit=key,
                )
                for key in keys
                if key != keeper and key in selected
            )
    declared: dict[tuple[str, str], tuple[str, object]] = {}
    for key in build.workloads:
        declarations = build.declarations.get(key)
        if declarations is None:
            declarations = shared_declarations(snapshot, key, build.environments)
        for env_id, res_name, res_id, shape in declarations:
            first = declared.setdefault((env_id, res_id), (key, shape))
            if first[1] != shape:
                findings.append(
                    snapshot.workload(key).document.finding(
                        ("resources", res_name),
                        f"shared resource {res_id!r} is declared with a different type, class or params than in "
                        f"{snapshot.workload_paths[first[0]]} ({env_id}): a shared resource must be declared the "
                        "same way everywhere",
                        unit=key,
                    )
                )
    findings.extend(_object_collisions(snapshot, build, {f.unit for f in findings}, held))
    return sorted(set(findings))


def shared_declarations(snapshot: Snapshot, key: str, environments: list[str]) -> list[_Declaration]:
    """(environment, resource name, shared id, (type, class, params)) of each shared resource a workload declares,
    after its overrides ([] for a workload that does not load)."""
    workload = snapshot.try_workload(key)
    if workload is None:
        return []
    found: list[_Declaration] = []
    for env_id in environments:
        spec = dict(workload.spec)
        override = workload.overrides.get(env_id)
        if override is not None and override.data:
            spec = deep_merge(copy.deepcopy(spec), override.data)
        for res_name, raw in sorted((spec.get("resources") or {}).items()):
            res_id = raw.get("id") if isinstance(raw, dict) else None
            if not res_id:
                continue
            shape = (raw.get("type"), raw.get("class") or "default", raw.get("params") or {})
            found.append((env_id, res_name, res_id, shape))
    return found


def _object_collisions(
    snapshot: Snapshot,
    build: TreeBuild,
    reported: set[str],
    already_rendered: Mapping[tuple[str, str], Collection[str]],
) -> list[Finding]:
    """Two units rendering the same object (kind, namespace, name): Argo CD or Flux would fight over it. The unit
    whose rendered/ folder already holds the object keeps it (as `process` decides), else the first in path
    order."""
    findings: list[Finding] = []
    # (env, namespace or "" for a cluster-scoped object, object id) -> (unit, object key) of the units rendering it
    owners: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for (env, unit), rendered in sorted(build.units.items()):
        if unit in reported:
            continue  # refused already (a namespace clash): its objects are not written, so they claim nothing
        namespace = str(rendered.provenance.get("namespace", ""))
        for key in rendered.provenance["manifests"]:
            scope = "" if is_cluster_scoped(key) else namespace
            owners.setdefault((env, scope, object_id(key)), []).append((unit, key))
    for (env, scope, ident), claims in sorted(owners.items()):
        if len(claims) < 2:
            continue
        claimants = [unit for unit, _ in claims]
        keeper = keeper_of(claimants, (ident in already_rendered.get((env, u), ()) for u in claimants))
        for unit, key in claims:
            if unit == keeper or unit in reported:
                continue
            path = snapshot.workload_paths.get(unit, f"{RENDERED}/{env}/{unit}")
            findings.append(
                Finding(
                    path,
                    1 if unit in snapshot.workload_paths else 0,
                    1 if unit in snapshot.workload_paths else 0,
                    object_clash(env, unit, keeper, key, scope),
                    unit=unit,
                )
            )
            reported.add(unit)
    return findings


def keeper_of(claimants: Sequence[str], holding: Iterable[bool]) -> str:
    """Of the units claiming one namespace slot or one object (in path order), the first `holding` says holds it
    already (a newcomer never displaces a running workload), else the first. `holding` is read only as far as
    the keeper: a generator asks no more than it must."""
    return next((unit for unit, holds in zip(claimants, holding, strict=True) if holds), claimants[0])


def namespace_clash_of(snapshot: Snapshot, state: RenderedState, unit: str, env_id: str) -> Finding | None:
    """Another workload of the same name rendering into the namespace `unit` would (names must be unique in a
    namespace), as `cross_checks` decides for a full render, for one unit against rendered/ as `state` holds it.
    Only workloads of the same name can clash: a lookup by name, not a pass over every workload."""
    env = snapshot.environments[env_id]
    if "{team}" in env.namespace_rule:
        return None  # the rule is a plain substitution: two teams never share a namespace
    identity = Unit(unit)
    name = identity.name
    namespace = env.namespace_for(identity.first, name)
    mine = bool(state.files_of(env_id, unit))
    for other in snapshot.workload_by_name(name):
        if other == unit or env.namespace_for(Unit(other).first, name) != namespace:
            continue
        theirs = bool(state.files_of(env_id, other))
        if (theirs and not mine) or (theirs == mine and other < unit):
            return Finding(
                snapshot.workload_paths[unit],
                1,
                1,
                namespace_clash(name, namespace, env, snapshot.workload_paths[other]),
                unit=unit,
            )
    return None

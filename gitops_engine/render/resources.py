"""Resource resolution: the definition that provides each resource (matching.py), running it (drivers.py), and
shared resources (Score `id`), which are rendered once per environment as units of their own.

`Provisioner` is what a workload's rendering asks for definitions; `resolve_resources` resolves one workload's
resources in dependency order (ordering.py), substituting placeholders in their params.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gitops_engine import names
from gitops_engine.errors import Finding, did_you_mean
from gitops_engine.loading import Snapshot
from gitops_engine.matching import Ambiguous, NoMatch, ResourceKey, match_definition
from gitops_engine.model import (
    DEFAULT_CLASS,
    WORKLOAD_TYPE,
    Definition,
    Environment,
    ResourceRequest,
    Workload,
)
from gitops_engine.placeholders import PlaceholderError, references, substitute
from gitops_engine.render.context import WorkloadContext
from gitops_engine.render.drivers import Drivers, Run
from gitops_engine.render.objects import finish_object
from gitops_engine.render.ordering import DependencyCycle, dependency_order
from gitops_engine.render.overrides import workload_finding
from gitops_engine.render.package import package
from gitops_engine.render.records import (
    Inputs,
    RenderedUnit,
    ResolvedResource,
    UnitFailure,
    sha256_hex,
    shared_namespace,
    shared_unit,
    stable_name,
)


class Provisioner:
    """Provides resources: matches definitions to them and runs those; renders each shared resource once."""

    def __init__(self, snapshot: Snapshot, drivers: Drivers) -> None:
        self.snapshot = snapshot
        self.drivers = drivers
        self._shared: dict[tuple[str, str], tuple[ResolvedResource, RenderedUnit]] = {}

    def has_definitions(self, type_: str) -> bool:
        """Whether any definition provides (or fails to load for) `type_`."""
        return bool(self.snapshot.definitions_of(type_) or self.snapshot.broken_definition_types.get(type_))

    def provision(self, definition: Definition, run: Run) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The definition's outputs and manifests for `run` (its driver's)."""
        return self.drivers.run(definition, run)

    def match(
        self, key: ResourceKey, env: Environment, workload: Workload, res_name: str, unit: str
    ) -> Definition:
        """The definition that provides `key` in `env`; a failure of `unit` names the workload's resource."""
        what = (
            f"resource {res_name!r}" if key.type != WORKLOAD_TYPE else f"the workload itself ({key.type!r})"
        )
        where: tuple[str | int, ...] = ("resources", res_name) if key.type != WORKLOAD_TYPE else ("metadata",)
        broken = self.snapshot.broken_definition_types.get(key.type)
        if broken:
            # The broken file might be the one that should match: never silently fall back to another.
            message = (
                f"{what} of type {key.type!r} cannot be resolved while {', '.join(broken)} fails to load: fix that "
                "definition first"
            )
            raise UnitFailure(unit, [workload_finding(workload, env.id, where, message, unit)])
        candidates = self.snapshot.definitions_of(key.type)
        try:
            return match_definition(candidates, key, env)
        except NoMatch:
            at, message = self._no_match(key, what, where, candidates)
            finding = workload_finding(workload, env.id, at, message, unit)
            raise UnitFailure(unit, [replace(finding, environments=(env.id,))]) from None
        except Ambiguous as exc:
            first = exc.tied[0]
            line, column = first.document.locate(("criteria",))
            message = (
                f"{' and '.join(d.path for d in exc.tied)} both match {key.describe()} equally specifically: make "
                "one criterion more specific (res_id > workload > team > env > env_type)"
            )
            raise UnitFailure(
                unit, [Finding(first.path, line, column, message, unit=unit, environments=(env.id,))]
            ) from None

    def _no_match(
        self, key: ResourceKey, what: str, where: tuple[str | int, ...], candidates: list[Definition]
    ) -> tuple[tuple[str | int, ...], str]:
        if not candidates:
            types = sorted({d.type for d in self.snapshot.definitions.values()} - {WORKLOAD_TYPE})
            return (
                (*where, "type"),
                f"{what}: no definition provides type {key.type!r}{did_you_mean(key.type, types)}; types with "
                f"definitions: {', '.join(types) or 'none'}. Fix the type, or ask the infra team for a definition",
            )
        classes = {c.class_ or DEFAULT_CLASS for d in candidates for c in d.criteria}
        hint = did_you_mean(key.class_, classes) if key.class_ not in classes else ""
        owner = f"team {key.team}, workload {key.workload}" if key.team else "shared"
        return (
            where,
            f"{what}: no definition of type {key.type!r} matches it (class {key.class_!r}{hint}, {owner}); "
            f"considered: {', '.join(d.path for d in candidates)}. Add a criterion that matches, or ask the "
            "infra team for one",
        )

    def shared(
        self, request: ResourceRequest, env: Environment, declared_in: Workload
    ) -> tuple[ResolvedResource, RenderedUnit]:
        """A shared resource (Score `id`), rendered once per environment from its declaration."""
        assert request.id is not None
        cache_key = (env.id, request.id)
        if cache_key not in self._shared:
            self._shared[cache_key] = self._render_shared(request, env, declared_in)
        return self._shared[cache_key]

    def _render_shared(
        self, request: ResourceRequest, env: Environment, declared_in: Workload
    ) -> tuple[ResolvedResource, RenderedUnit]:
        assert request.id is not None
        unit_name = shared_unit(request.id)
        _check_shared_declaration(request, declared_in, unit_name)
        inputs = Inputs()
        inputs.add(env.path, env.fingerprint)
        key = ResourceKey(request.type, request.class_, request.res_id, None, None)
        definition = self.match(key, env, declared_in, request.name, unit_name)
        inputs.add(definition.path, definition.blob)
        uid = stable_name(request.id)
        run = Run(request, env, uid, workload=None, inputs=inputs, unit=unit_name, declared_in=declared_in)
        outputs, manifests = self.provision(definition, run)
        resolved = ResolvedResource(request, definition, outputs, (), uid)
        namespace = shared_namespace(env, request.id)
        objects = [finish_object(m, env, namespace, {}) for m in manifests]
        fingerprint = _request_fingerprint(request)
        unit = package(
            unit_name, env, objects, inputs, [resolved], namespace, request_fingerprint=fingerprint
        )
        return resolved, unit


def _check_shared_declaration(request: ResourceRequest, declared_in: Workload, unit_name: str) -> None:
    assert request.id is not None
    id_problem = names.label_problem(request.id, "shared resource id")
    if id_problem:
        finding = declared_in.document.finding(
            ("resources", request.name, "id"),
            f"{id_problem}; it becomes a folder, a branch and object names",
            unit=declared_in.key,
        )
        raise UnitFailure(unit_name, [finding])
    if references(request.params):
        finding = declared_in.document.finding(
            ("resources", request.name, "params"),
            "params of a shared resource cannot use placeholders: it is rendered once for every workload "
            "that uses it",
            unit=declared_in.key,
        )
        raise UnitFailure(unit_name, [finding])


def _request_fingerprint(request: ResourceRequest) -> str:
    """What a shared resource's declaration asks for: users declaring it differently are told (affected)."""
    data = {
        "type": request.type,
        "class": request.class_,
        "params": request.params,
        "metadata": request.metadata,
    }
    return sha256_hex(json.dumps(data, sort_keys=True, default=str).encode())


# ---------------------------------------------------------------------------------------------------------------
# One workload's resources


def resource_requests(spec: Mapping[str, Any]) -> list[ResourceRequest]:
    """The resources a (validated) Score spec declares, by name."""
    return [
        ResourceRequest(
            name=name,
            type=raw["type"],
            class_=raw.get("class") or DEFAULT_CLASS,
            id=raw.get("id"),
            params=raw.get("params") or {},
            metadata=raw.get("metadata") or {},
        )
        for name, raw in sorted((spec.get("resources") or {}).items())
    ]


def resolve_resources(
    ctx: WorkloadContext, provisioner: Provisioner
) -> tuple[list[ResolvedResource], list[RenderedUnit]]:
    """The workload's resources in dependency order, and the shared units it uses. Every resource is tried, so one
    run reports all of a workload's problems; a resource that depends on one that failed is skipped (its own error
    would only repeat the first)."""
    requests = {r.name: r for r in resource_requests(ctx.spec)}
    try:
        order = dependency_order(_dependencies(ctx, requests))
    except DependencyCycle as exc:
        raise ctx.fail(
            ("resources", exc.cycle[0], "params"),
            f"resource dependency cycle: {exc}: break it by removing one placeholder",
        ) from None
    resolved: dict[str, ResolvedResource] = {}
    shared_units: list[RenderedUnit] = []
    problems: list[Finding] = []
    for name in order:
        if any(ref.resource not in resolved for ref in references(requests[name].params) if ref.resource):
            continue
        try:
            resolved[name] = _resolve_one(ctx, provisioner, requests[name], resolved, shared_units)
        except UnitFailure as exc:
            if exc.unit != ctx.unit:
                raise  # a shared resource's own failure: reported for it and its users
            problems.extend(exc.findings)
    if problems:
        raise UnitFailure(ctx.unit, problems)
    return [resolved[name] for name in order], shared_units


def _dependencies(ctx: WorkloadContext, requests: Mapping[str, ResourceRequest]) -> dict[str, set[str]]:
    """Each resource's dependencies: the resources its params refer to, which must be declared."""
    deps: dict[str, set[str]] = {}
    for name, request in requests.items():
        wanted: set[str] = set()
        for ref in references(request.params):
            target = ref.resource
            if ref.path[0] == "resources" and target is None:
                raise ctx.fail(("resources", name, "params"), f"{ref.text}: name a resource and an output")
            if target is None:
                continue
            if target not in requests:
                raise ctx.fail(
                    ("resources", name, "params"),
                    f"{ref.text} refers to resource {target!r}{did_you_mean(target, requests)}, which this "
                    f"workload does not declare (declared: {', '.join(sorted(requests)) or 'none'})",
                )
            wanted.add(target)
        deps[name] = wanted
    return deps


def _resolve_one(
    ctx: WorkloadContext,
    provisioner: Provisioner,
    request: ResourceRequest,
    resolved: Mapping[str, ResolvedResource],
    shared_units: list[RenderedUnit],
) -> ResolvedResource:
    name = request.name
    if request.type == WORKLOAD_TYPE:
        raise ctx.fail(
            ("resources", name, "type"), "'workload' is reserved for the workload itself: pick another type"
        )
    if request.shared:
        shared, unit = provisioner.shared(request, ctx.env, ctx.workload)
        ctx.inputs.add(shared.definition.path, shared.definition.blob)
        shared_units.append(unit)
        return ResolvedResource(request, shared.definition, shared.outputs, (), shared.uid)
    try:
        params = substitute(
            request.params, lambda ref: ctx.resolve(ref, resolved, secrets_ok=True), keep_native=True
        )
    except PlaceholderError as exc:
        raise ctx.fail(("resources", name, "params"), f"resources.{name}.params: {exc}") from None
    substituted = ResourceRequest(name, request.type, request.class_, None, params, request.metadata)
    workload = ctx.workload
    key = ResourceKey(substituted.type, substituted.class_, substituted.res_id, workload.team, workload.name)
    definition = provisioner.match(key, ctx.env, workload, name, ctx.unit)
    ctx.inputs.add(definition.path, definition.blob)
    uid = stable_name(workload.name, name)
    run = Run(substituted, ctx.env, uid, workload=workload, inputs=ctx.inputs, unit=ctx.unit)
    outputs, manifests = provisioner.provision(definition, run)
    deps = tuple(sorted({r.resource for r in references(request.params) if r.resource}))
    return ResolvedResource(substituted, definition, outputs, deps, uid, manifests)

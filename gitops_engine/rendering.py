"""Stage 3: render one workload (or one shared resource) in one environment into Kubernetes objects.

For a workload: apply its environment override, resolve every resource to its definition, order resources by
their dependencies, render the definitions, substitute Score placeholders, and convert the workload into a
Deployment or StatefulSet, a Service, a ConfigMap for its files and the objects its definitions add. Every input read
is recorded in the unit's provenance (`gitops-engine.lock`), which is how staleness is decided later.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gitops_engine import RENDER_VERSION, names
from gitops_engine.errors import Finding, InputError, did_you_mean
from gitops_engine.loading import Snapshot, secret_literal_problem, secret_output_problems
from gitops_engine.manifest import MANIFEST_FILE, join_manifest, kind_of, object_key
from gitops_engine.matching import Ambiguous, NoMatch, ResourceKey, match_definition
from gitops_engine.model import (
    DEFAULT_CLASS,
    LOCK_FILE,
    SHARED_FOLDER,
    WORKLOAD_TYPE,
    Definition,
    Environment,
    ResourceRequest,
    SecretRef,
    Workload,
    is_dns_label,
)
from gitops_engine.placeholders import PlaceholderError, Reference, lookup, references, substitute, tokenize
from gitops_engine.schema import validate_document
from gitops_engine.templating import (
    TemplateFailure,
    TemplateLimits,
    render_template,
    template_indent,
    template_line_offset,
)
from gitops_engine.yamlio import Document, YamlSyntaxError, dump, load_all

MANAGED_BY = {"app.kubernetes.io/managed-by": "gitops-engine"}
KIND_ANNOTATION = "k8s.score.dev/kind"
WORKLOAD_OUTPUT_KEYS = frozenset(
    {
        "replicas",
        "podSecurityContext",
        "containerSecurityContext",
        "labels",
        "annotations",
        "podAnnotations",
        "serviceAccountName",
        "automountServiceAccountToken",
    }
)
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "ClusterSecretStore",
        "ClusterIssuer",
        "IngressClass",
        "GatewayClass",
    }
)
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME_UNSAFE = re.compile(r"[^A-Z0-9_]")


def unit_folder(env: str, unit: str) -> str:
    """Where a unit's files are, as found or planned (names.unit_folder checks a folder about to be written)."""
    return f"rendered/{env}/{unit}"


def shared_unit(res_id: str) -> str:
    return f"{SHARED_FOLDER}/{res_id}"


def shared_namespace(env: Environment, res_id: str) -> str:
    """Where a shared resource's objects go: the namespace rule with team "shared" and the id as workload."""
    return env.namespace_for(SHARED_FOLDER.strip("_"), res_id)


# Two units must not render one object, nor two workloads of one name share a namespace: Argo CD or Flux would
# fight over them. `render` (tree.cross_checks) and `process` (affected) refuse both alike; these are their words.
_CLUSTER_SCOPED_PREFIXES = frozenset(kind.lower() for kind in CLUSTER_SCOPED_KINDS)


def is_cluster_scoped(key: str) -> bool:
    """Whether an object (its key `<Kind>/<name>`, or an older engine's file name) is cluster-scoped."""
    return kind_of(key) in _CLUSTER_SCOPED_PREFIXES


def namespace_clash(name: str, namespace: str, env: Environment, keeper_path: str) -> str:
    return (
        f"workload {name!r} renders into namespace {namespace!r} of {env.id}, as does {keeper_path}: names must be "
        f"unique in a namespace; rename one or change the namespace rule in {env.path}"
    )


def object_clash(env: str, unit: str, keeper: str, key: str, namespace: str) -> str:
    """`key` is the object's `<Kind>/<name>`; `namespace` is "" for a cluster-scoped object."""
    kind, _, name = key.partition("/")
    return (
        f"{unit_folder(env, unit)} renders {kind} {name}{f' in namespace {namespace}' if namespace else ''}, as "
        f"{unit_folder(env, keeper)} does: rename the resource or workload so their object names differ"
    )


def stable_name(*parts: str, limit: int = 63) -> str:
    """A DNS label from parts; too long ones keep a readable prefix and a stable hash suffix."""
    raw = "-".join(p for p in parts if p)
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-") or "x"
    if len(name) <= limit and name == raw:
        return name
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def sha256_hex(data: bytes, length: int = 16) -> str:
    return hashlib.sha256(data).hexdigest()[:length]


@dataclass
class ResolvedResource:
    request: ResourceRequest
    definition: Definition
    outputs: dict[str, Any]
    depends_on: tuple[str, ...]
    uid: str
    manifests: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RenderedUnit:
    """One unit in one environment: the files of `rendered/<env>/<unit>/`, the lock included."""

    unit: str
    env: str
    files: dict[str, bytes]
    provenance: dict[str, Any]
    resources: list[ResolvedResource] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return unit_folder(self.env, self.unit)


class UnitFailure(InputError):
    """A unit could not be rendered; its findings say why."""

    def __init__(self, unit: str, findings: list[Finding]) -> None:
        self.unit = unit
        super().__init__(findings)


class _Inputs:
    """Records every file a render reads, with its blob id: the unit's provenance."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.lookups: dict[str, str] = {}  # "team/name" looked up -> fingerprint of what it told us

    def add(self, path: str, blob: str) -> None:
        self.files[path] = blob


class Renderer:
    """Renders units of one snapshot; shared resources are rendered once per environment and reused."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        settings = snapshot.settings
        self.template_limits = TemplateLimits(
            steps=settings.template_steps,
            seconds=settings.template_seconds,
            output_chars=settings.template_output_chars,
        )
        self._shared: dict[tuple[str, str], tuple[ResolvedResource, RenderedUnit]] = {}
        self._effective: dict[tuple[str, str], dict[str, Any]] = {}

    # ---------------------------------------------------------------------------------------------------------
    # Workloads

    def render_workload(self, key: str, env_id: str) -> tuple[RenderedUnit, list[RenderedUnit]]:
        """Render workload `key` in `env_id`: its unit, and the shared units it uses. Raises UnitFailure."""
        snapshot = self.snapshot
        try:
            workload = snapshot.workload(key)
        except InputError as exc:
            raise UnitFailure(key, list(exc.findings)) from None
        env = self._environment(env_id, key)
        inputs = _Inputs()
        for path, blob in workload.files.items():
            inputs.add(path, blob)
        inputs.add(env.path, env.blob)
        inputs.add(snapshot.settings.path, snapshot.settings.blob)
        spec = self.effective_spec(workload, env_id)
        context = _WorkloadContext(self, workload, env, spec, inputs)
        findings: list[Finding] = []
        namespace = env.namespace_for(workload.team, workload.name)
        if not is_dns_label(namespace):
            raise UnitFailure(
                key,
                [
                    Finding(
                        env.path,
                        0,
                        0,
                        f"namespace {namespace!r} for {key} is not a valid DNS label: change the namespace rule",
                        unit=key,
                    )
                ],
            )
        try:
            resolved, shared_units = context.resolve_resources()
            objects = context.convert(resolved, namespace)
        except UnitFailure:
            raise
        except InputError as exc:
            findings.extend(exc.findings)
            raise UnitFailure(key, [_with_unit(f, key) for f in findings]) from None
        unit = _package(key, env, objects, inputs, resolved, namespace, workload_document=workload.document)
        return unit, shared_units

    def effective_spec(self, workload: Workload, env_id: str) -> dict[str, Any]:
        """The Score spec with the environment's override deep-merged onto it (validated again if changed)."""
        cache_key = (workload.key, env_id)
        if cache_key in self._effective:
            return self._effective[cache_key]
        spec: dict[str, Any] = dict(workload.spec)
        override = workload.overrides.get(env_id)
        if override is not None and override.data:
            merged = deep_merge(copy.deepcopy(spec), override.data)
            problems = validate_document(
                "score", Document(override.path, override.text, merged), unit=workload.key
            )
            if problems:
                # Positions are looked up in the override's text (the nearest key it sets): the likely culprit.
                raise UnitFailure(
                    workload.key,
                    [
                        Finding(
                            override.path,
                            p.line,
                            p.column,
                            f"after merging this override: {p.message}",
                            unit=workload.key,
                        )
                        for p in problems
                    ],
                )
            spec = merged
        self._effective[cache_key] = spec
        return spec

    def _environment(self, env_id: str, unit: str) -> Environment:
        env = self.snapshot.environments.get(env_id)
        if env is None:
            raise UnitFailure(
                unit,
                [Finding(f"environments/{env_id}.yaml", 0, 0, f"unknown environment {env_id!r}", unit=unit)],
            )
        return env

    # ---------------------------------------------------------------------------------------------------------
    # Shared resources

    def render_shared(
        self, request: ResourceRequest, env: Environment, declared_in: Workload
    ) -> tuple[ResolvedResource, RenderedUnit]:
        """A shared resource (Score `id`), rendered once per environment from its declaration."""
        assert request.id is not None
        cache_key = (env.id, request.id)
        if cache_key in self._shared:
            return self._shared[cache_key]
        unit_name = shared_unit(request.id)
        id_problem = names.label_problem(request.id, "shared resource id")
        if id_problem:
            raise UnitFailure(
                unit_name,
                [
                    declared_in.document.finding(
                        ("resources", request.name, "id"),
                        f"{id_problem}; it becomes a folder, a branch and object names",
                        unit=declared_in.key,
                    )
                ],
            )
        if references(request.params):
            raise UnitFailure(
                unit_name,
                [
                    declared_in.document.finding(
                        ("resources", request.name, "params"),
                        "params of a shared resource cannot use placeholders: it is rendered once for every workload "
                        "that uses it",
                        unit=declared_in.key,
                    )
                ],
            )
        inputs = _Inputs()
        inputs.add(env.path, env.blob)
        inputs.add(self.snapshot.settings.path, self.snapshot.settings.blob)
        key = ResourceKey(request.type, request.class_, request.res_id, None, None)
        definition = self._match(key, env, declared_in, request.name, unit_name)
        inputs.add(definition.path, definition.blob)
        uid = stable_name(request.id)
        outputs, manifests = self._run_definition(
            definition,
            request,
            env,
            uid,
            workload=None,
            lookup_inputs=inputs,
            unit=unit_name,
            declared_in=declared_in,
        )
        resolved = ResolvedResource(request, definition, outputs, (), uid)
        namespace = shared_namespace(env, request.id)
        objects = [_finish_object(m, env, namespace, {}) for m in manifests]
        request_fingerprint = sha256_hex(
            json.dumps(
                {
                    "type": request.type,
                    "class": request.class_,
                    "params": request.params,
                    "metadata": request.metadata,
                },
                sort_keys=True,
                default=str,
            ).encode()
        )
        unit = _package(
            unit_name, env, objects, inputs, [resolved], namespace, request_fingerprint=request_fingerprint
        )
        self._shared[cache_key] = (resolved, unit)
        return resolved, unit

    # ---------------------------------------------------------------------------------------------------------
    # Definitions

    def _match(
        self, key: ResourceKey, env: Environment, workload: Workload, res_name: str, unit: str
    ) -> Definition:
        what = (
            f"resource {res_name!r}" if key.type != WORKLOAD_TYPE else f"the workload itself ({key.type!r})"
        )
        where: tuple[str | int, ...] = ("resources", res_name) if key.type != WORKLOAD_TYPE else ("metadata",)

        def fail(at: tuple[str | int, ...], message: str) -> UnitFailure:
            finding = self.workload_finding(workload, env.id, at, message, unit)
            return UnitFailure(unit, [replace(finding, environments=(env.id,))])

        broken = self.snapshot.broken_definition_types.get(key.type)
        if broken:
            # The broken file might be the one that should match: never silently fall back to another.
            message = (
                f"{what} of type {key.type!r} cannot be resolved while {', '.join(broken)} fails to load: fix that "
                "definition first"
            )
            raise UnitFailure(unit, [self.workload_finding(workload, env.id, where, message, unit)])
        candidates = self.snapshot.definitions_of(key.type)
        try:
            return match_definition(candidates, key, env)
        except NoMatch:
            if not candidates:
                types = sorted({d.type for d in self.snapshot.definitions.values()} - {WORKLOAD_TYPE})
                raise fail(
                    (*where, "type"),
                    f"{what}: no definition provides type {key.type!r}{did_you_mean(key.type, types)}; types with "
                    f"definitions: {', '.join(types) or 'none'}. Fix the type, or ask the infra team for a definition",
                ) from None
            classes = {c.class_ or DEFAULT_CLASS for d in candidates for c in d.criteria}
            hint = did_you_mean(key.class_, classes) if key.class_ not in classes else ""
            owner = f"team {key.team}, workload {key.workload}" if key.team else "shared"
            raise fail(
                where,
                f"{what}: no definition of type {key.type!r} matches it (class {key.class_!r}{hint}, {owner}); "
                f"considered: {', '.join(d.path for d in candidates)}. Add a criterion that matches, or ask the "
                "infra team for one",
            ) from None
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

    def _run_definition(
        self,
        definition: Definition,
        request: ResourceRequest,
        env: Environment,
        uid: str,
        *,
        workload: Workload | None,
        lookup_inputs: _Inputs,
        unit: str,
        declared_in: Workload | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """`declared_in`: the workload declaring a shared resource (`workload` is None then), which is the one told
        about a mistake in its params."""
        guid = sha256_hex(f"{workload.key if workload else SHARED_FOLDER}/{request.res_id}".encode())
        if definition.driver == "static":
            outputs = _copy_data(dict(definition.static_outputs or {}))
            manifests = [_copy_data(dict(m)) for m in definition.static_manifests]
        else:
            context = {
                "resource": {
                    "name": request.name,
                    "type": request.type,
                    "class": request.class_,
                    "id": request.id,
                    "params": _plain_for_template(request.params),
                    "metadata": dict(request.metadata),
                    "uid": uid,
                    "guid": guid,
                },
                "workload": None
                if workload is None
                else {
                    "name": workload.name,
                    "team": workload.team,
                    "metadata": dict(workload.spec.get("metadata", {})),
                    "annotations": dict(workload.spec.get("metadata", {}).get("annotations") or {}),
                },
                "environment": {
                    "id": env.id,
                    "type": env.type,
                    # A shared resource's objects land in its own namespace; its template must see that one.
                    "namespace": env.namespace_for(workload.team, workload.name)
                    if workload
                    else shared_namespace(env, request.res_id),
                    "labels": dict(env.labels),
                    "values": dict(env.values),
                },
            }
            lookups = _Lookups(self, env, lookup_inputs, workload.team if workload else None)
            functions = {"lookup_workload": lookups.lookup}
            caller = _Caller(workload or declared_in, request, env, lookups)
            outputs = (
                self._template_part(
                    definition, "outputs", context, functions, unit, expect=dict, caller=caller
                )
                or {}
            )
            manifests = (
                self._template_part(
                    definition, "manifests", context, functions, unit, expect=list, caller=caller
                )
                or []
            )
        if definition.driver == "template":
            secret_problems = secret_output_problems(outputs, definition.secret_outputs)
            if secret_problems:
                line, column = definition.document.locate(("template", "outputs"))
                raise UnitFailure(
                    unit,
                    [
                        Finding(definition.path, line, column, f"template.outputs: {problem}", unit=unit)
                        for _, problem in secret_problems
                    ],
                )
        where = ("template", "manifests") if definition.driver == "template" else ("manifests",)
        for index, manifest in enumerate(manifests):
            problem = _manifest_problem(manifest) or secret_literal_problem(manifest)
            if problem:
                line, column = definition.document.locate(
                    where if definition.driver == "template" else (*where, index)
                )
                raise UnitFailure(
                    unit, [Finding(definition.path, line, column, f"manifest {index}: {problem}", unit=unit)]
                )
        return {k: _as_secret_ref(v) for k, v in outputs.items()}, manifests

    def _template_part(
        self,
        definition: Definition,
        part: str,
        context: Mapping[str, Any],
        functions: Mapping[str, Any],
        unit: str,
        *,
        expect: type,
        caller: _Caller | None = None,
    ) -> Any:
        text = definition.template_outputs if part == "outputs" else definition.template_manifests
        if not text:
            return None
        where = ("template", part)
        try:
            rendered = render_template(text, context, functions, self.template_limits)
        except TemplateFailure as exc:
            line = (
                template_line_offset(definition.document, where) + exc.line
                if exc.line
                else definition.document.locate(where)[0]
            )
            mistake = caller.mistake(exc) if caller is not None else None
            if caller is not None and mistake is not None:
                # The workload asked for something that does not exist (a workload, a port): its Score file is
                # where to fix it, and where the annotation belongs; the definition's line comes second.
                raise UnitFailure(
                    unit, [caller.blame(mistake, f"{definition.path}:{line} looks it up", unit)]
                ) from None
            # Over budget: the unit is named, as the same template may stay within it for the other units.
            message = (
                f"template.{part} for {unit}: {exc.message}"
                if exc.over_budget
                else f"template.{part}: {exc.message}"
            )
            raise UnitFailure(unit, [Finding(definition.path, line, 1, message, unit=unit)]) from None
        try:
            documents = load_all(rendered, definition.path)
        except YamlSyntaxError as exc:
            raise UnitFailure(
                unit,
                [
                    Finding(
                        definition.path,
                        template_line_offset(definition.document, where) + exc.finding.line,
                        template_indent(definition.document, where) + exc.finding.column,
                        f"template.{part} rendered invalid YAML ({exc.finding.message}) for {unit}",
                        unit=unit,
                    )
                ],
            ) from None
        value = documents[0] if len(documents) == 1 else (documents or None)
        if value is None:
            return None
        if not isinstance(value, expect):
            line, column = definition.document.locate(where)
            wanted = (
                "a mapping of output names to values" if expect is dict else "a list of Kubernetes objects"
            )
            raise UnitFailure(
                unit,
                [
                    Finding(
                        definition.path,
                        line,
                        column,
                        f"template.{part} must render {wanted}, got {type(value).__name__}",
                        unit=unit,
                    )
                ],
            )
        return value

    def workload_finding(
        self, workload: Workload, env_id: str, where: tuple[str | int, ...], message: str, unit: str
    ) -> Finding:
        """A finding at `where` in the workload's Score file, or in its override for `env_id` when that sets it."""
        override = workload.overrides.get(env_id)
        document = override if override is not None and _path_in(override.data, where) else workload.document
        return document.finding(where, message, unit=unit)


def resolve_workload_name(snapshot: Snapshot, name: str, team: str | None) -> list[str]:
    """The workloads `lookup_workload(name)` may mean, asked from a workload of `team` (None: a shared resource).
    `team/name` is exact; a bare name is the caller's own team's workload when it has one, else any team's."""
    if "/" in name:
        return [name] if name in snapshot.workload_paths else []
    keys = [k for k in snapshot.workload_by_name(name) if k in snapshot.workload_paths]
    own = f"{team}/{name}"
    return [own] if team is not None and own in keys else keys


class LookupMistake(TemplateFailure):
    """A workload's params ask a lookup for something that does not exist (`value`, as written there)."""

    def __init__(self, message: str, value: str) -> None:
        super().__init__(message)
        self.value = value


class _Ports(dict[str, Any]):
    """A looked-up workload's ports, remembering names asked for that it does not have: when the template then
    fails on that name, the caller's params are at fault, not the definition."""

    def __init__(
        self, owner: str, ports: Mapping[str, Any], misses: list[tuple[str, str, list[str]]]
    ) -> None:
        super().__init__(ports)
        self._owner = owner
        self._misses = misses

    def __getitem__(self, name: str) -> Any:
        if name not in self and isinstance(name, str):
            self._misses.append((self._owner, name, sorted(self)))
        return super().__getitem__(name)


class _Lookups:
    """`lookup_workload` for one template run: resolves names as resolve_workload_name does and records what each
    call returned in the unit's provenance, under the name as asked (what staleness recomputes)."""

    def __init__(self, renderer: Renderer, env: Environment, inputs: _Inputs, team: str | None) -> None:
        self.renderer = renderer
        self.env = env
        self.inputs = inputs
        self.team = team
        self.misses: list[tuple[str, str, list[str]]] = []  # (workload, port name, its ports)

    def lookup(self, name: str) -> dict[str, Any]:
        """Another workload's address and ports (for service-port definitions)."""
        if not isinstance(name, str):
            raise TemplateFailure(f"lookup_workload expects a workload name, got {name!r}")
        snapshot = self.renderer.snapshot
        keys = resolve_workload_name(snapshot, name, self.team)
        if not keys:
            known = [k if "/" in name else k.split("/", 1)[1] for k in snapshot.workload_paths]
            raise LookupMistake(f"no workload named {name!r}{did_you_mean(name, known)}", name)
        if len(keys) > 1:
            raise LookupMistake(
                f"workload name {name!r} is ambiguous: {', '.join(keys)} have it"
                f"{f' and team {self.team} has none' if self.team else ''}; write team/name, such as "
                f"{keys[0]!r}",
                name,
            )
        try:
            other = snapshot.workload(keys[0])
        except InputError as exc:
            raise LookupMistake(f"workload {keys[0]} is invalid ({exc.findings[0]})", name) from None
        result = describe_workload(other, self.env, self.renderer.effective_spec(other, self.env.id))
        # Record what was read, not the other workload's files: its image bumps must not make this unit stale.
        self.inputs.lookups[name] = lookup_fingerprint(result)
        return {**result, "ports": _Ports(other.key, result["ports"], self.misses)}


@dataclass
class _Caller:
    """Who runs a definition (the workload and its resource in an environment): told about mistakes in its params."""

    workload: Workload | None
    request: ResourceRequest
    env: Environment
    lookups: _Lookups

    def mistake(self, failure: TemplateFailure) -> LookupMistake | None:
        """The failure as a mistake in the caller's params, or None when it is the definition's."""
        if self.workload is None:
            return None
        if isinstance(failure, LookupMistake):
            return failure
        for owner, port, ports in self.lookups.misses:
            if f"attribute {port!r}" in failure.message or f"key {port!r}" in failure.message:
                return LookupMistake(
                    f"workload {owner} has no port {port!r}{did_you_mean(port, ports)}: its service ports are "
                    f"{', '.join(ports) or 'none'}",
                    port,
                )
        return None

    def blame(self, mistake: LookupMistake, second: str, unit: str) -> Finding:
        """The finding at the param of the caller's resource that holds the value (or at the resource)."""
        assert self.workload is not None
        resource = ("resources", self.request.name)
        params = self.request.params
        held = (
            sorted(k for k, v in params.items() if v == mistake.value) if isinstance(params, Mapping) else []
        )
        where: tuple[str | int, ...] = (*resource, "params", held[0]) if held else resource
        finding = self.lookups.renderer.workload_finding(
            self.workload,
            self.env.id,
            where,
            f"resource {self.request.name!r} ({self.request.type}) of {self.workload.key}: {mistake.message}; "
            f"{second}",
            unit,
        )
        return replace(finding, environments=(self.env.id,))


def describe_workload(workload: Workload, env: Environment, spec: Mapping[str, Any]) -> dict[str, Any]:
    """What `lookup_workload` tells other workloads: address and service ports in `env`."""
    namespace = env.namespace_for(workload.team, workload.name)
    ports = {
        port_name: {
            "port": port["port"],
            "targetPort": port.get("targetPort", port["port"]),
            "protocol": port.get("protocol", "TCP"),
        }
        for port_name, port in sorted(((spec.get("service") or {}).get("ports") or {}).items())
    }
    return {
        "name": workload.name,
        "team": workload.team,
        "namespace": namespace,
        "host": f"{workload.name}.{namespace}.svc.cluster.local",
        "ports": ports,
    }


def lookup_fingerprint(result: Mapping[str, Any]) -> str:
    return sha256_hex(json.dumps(result, sort_keys=True).encode())


# -------------------------------------------------------------------------------------------------------------
# One workload's conversion


class _WorkloadContext:
    def __init__(
        self, renderer: Renderer, workload: Workload, env: Environment, spec: dict[str, Any], inputs: _Inputs
    ) -> None:
        self.renderer = renderer
        self.workload = workload
        self.env = env
        self.spec = spec
        self.inputs = inputs
        self.unit = workload.key
        self.document = workload.document

    def fail(self, where: tuple[str | int, ...], message: str) -> UnitFailure:
        finding = self.renderer.workload_finding(self.workload, self.env.id, where, message, self.unit)
        return UnitFailure(self.unit, [finding])

    # -- resources ---------------------------------------------------------------------------------------------
    def requests(self) -> list[ResourceRequest]:
        out = []
        for name, raw in sorted((self.spec.get("resources") or {}).items()):
            out.append(
                ResourceRequest(
                    name=name,
                    type=raw["type"],
                    class_=raw.get("class") or DEFAULT_CLASS,
                    id=raw.get("id"),
                    params=raw.get("params") or {},
                    metadata=raw.get("metadata") or {},
                )
            )
        return out

    def resolve_resources(self) -> tuple[list[ResolvedResource], list[RenderedUnit]]:
        requests = {r.name: r for r in self.requests()}
        order = self._dependency_order(requests)
        resolved: dict[str, ResolvedResource] = {}
        shared_units: list[RenderedUnit] = []
        # Every resource is tried, so one run reports all of a workload's problems; a resource that depends on one
        # that failed is skipped (its own error would only repeat the first).
        problems: list[Finding] = []
        for name in order:
            if any(ref.resource not in resolved for ref in references(requests[name].params) if ref.resource):
                continue
            try:
                self._resolve_resource(requests[name], requests, resolved, shared_units)
            except UnitFailure as exc:
                if exc.unit != self.unit:
                    raise  # a shared resource's own failure: reported for it and its users
                problems.extend(exc.findings)
        if problems:
            raise UnitFailure(self.unit, problems)
        return [resolved[name] for name in order], shared_units

    def _resolve_resource(
        self,
        request: ResourceRequest,
        requests: Mapping[str, ResourceRequest],
        resolved: dict[str, ResolvedResource],
        shared_units: list[RenderedUnit],
    ) -> None:
        name = request.name
        if request.type == WORKLOAD_TYPE:
            raise self.fail(
                ("resources", name, "type"),
                "'workload' is reserved for the workload itself: pick another type",
            )
        if request.shared:
            shared, unit = self.renderer.render_shared(request, self.env, self.workload)
            resolved[name] = ResolvedResource(request, shared.definition, shared.outputs, (), shared.uid)
            self.inputs.add(shared.definition.path, shared.definition.blob)
            shared_units.append(unit)
            return
        try:
            params = substitute(
                request.params,
                lambda ref: self._resolve(ref, resolved, secrets_ok=True),
                keep_native=True,
            )
        except PlaceholderError as exc:
            raise self.fail(("resources", name, "params"), f"resources.{name}.params: {exc}") from None
        request = ResourceRequest(request.name, request.type, request.class_, None, params, request.metadata)
        key = ResourceKey(
            request.type, request.class_, request.res_id, self.workload.team, self.workload.name
        )
        definition = self.renderer._match(key, self.env, self.workload, name, self.unit)
        self.inputs.add(definition.path, definition.blob)
        uid = stable_name(self.workload.name, name)
        outputs, manifests = self.renderer._run_definition(
            definition,
            request,
            self.env,
            uid,
            workload=self.workload,
            lookup_inputs=self.inputs,
            unit=self.unit,
        )
        deps = tuple(sorted({r.resource for r in references(requests[name].params) if r.resource}))
        resolved[name] = ResolvedResource(request, definition, outputs, deps, uid, manifests)

    def _dependency_order(self, requests: Mapping[str, ResourceRequest]) -> list[str]:
        deps: dict[str, set[str]] = {}
        for name, request in requests.items():
            wanted: set[str] = set()
            for ref in references(request.params):
                target = ref.resource
                if ref.path[0] == "resources" and target is None:
                    raise self.fail(
                        ("resources", name, "params"), f"{ref.text}: name a resource and an output"
                    )
                if target is None:
                    continue
                if target not in requests:
                    raise self.fail(
                        ("resources", name, "params"),
                        f"{ref.text} refers to resource {target!r}{did_you_mean(target, requests)}, which this "
                        f"workload does not declare (declared: {', '.join(sorted(requests)) or 'none'})",
                    )
                wanted.add(target)
            deps[name] = wanted
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, chain: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = " -> ".join([*chain[chain.index(name) :], name])
                raise self.fail(
                    ("resources", name, "params"),
                    f"resource dependency cycle: {cycle}: break it by removing one placeholder",
                )
            state[name] = 1
            for dep in sorted(deps[name]):
                visit(dep, [*chain, name])
            state[name] = 2
            order.append(name)

        for name in sorted(requests):
            visit(name, [])
        return order

    def _resolve(self, ref: Reference, resolved: Mapping[str, ResolvedResource], *, secrets_ok: bool) -> Any:
        head = ref.path[0]
        if head == "metadata":
            return lookup(self.spec.get("metadata", {}), ref.path[1:], "metadata")
        if head == "resources":
            if len(ref.path) < 2:
                raise PlaceholderError(f"{ref.text}: name a resource, like ${{resources.db.host}}")
            name = ref.path[1]
            if name not in resolved:
                names = sorted(self.spec.get("resources") or {})
                if name in names:  # declared, but this field is read before resources are (an image, say)
                    raise PlaceholderError(
                        f"{ref.text}: resource outputs cannot be used here; only ${{metadata.…}} placeholders can"
                    )
                raise PlaceholderError(
                    f"{ref.text}: unknown resource {name!r}{did_you_mean(name, names)} (declared: "
                    f"{', '.join(names) or 'none'})"
                )
            outputs = resolved[name].outputs
            if len(ref.path) == 2:
                if "source" in outputs:  # `${resources.data}` names a volume
                    return outputs["source"]
                raise PlaceholderError(
                    f"{ref.text}: name an output ({', '.join(sorted(outputs)) or 'it has none'})"
                )
            try:
                value = lookup(outputs, ref.path[2:], f"resources.{name}")
            except PlaceholderError as exc:
                raise PlaceholderError(f"{ref.text}: {exc}") from None
            if isinstance(value, SecretRef) and not secrets_ok:
                raise PlaceholderError(
                    f"{ref.text} is a secret: it cannot be written into a file; pass it as a variable instead"
                )
            return value
        raise PlaceholderError(f"{ref.text}: placeholders start with metadata. or resources.")

    # -- conversion --------------------------------------------------------------------------------------------
    def convert(self, resolved: list[ResolvedResource], namespace: str) -> list[dict[str, Any]]:
        workload, env = self.workload, self.env
        by_name = {r.request.name: r for r in resolved}
        # The workload resource: infra's defaults and policies for every workload.
        request = ResourceRequest(workload.name, WORKLOAD_TYPE, DEFAULT_CLASS, None, {}, {})
        key = ResourceKey(WORKLOAD_TYPE, DEFAULT_CLASS, workload.name, workload.team, workload.name)
        policy: dict[str, Any] = {}
        extra: list[dict[str, Any]] = []
        if self.renderer.snapshot.definitions_of(
            WORKLOAD_TYPE
        ) or self.renderer.snapshot.broken_definition_types.get(WORKLOAD_TYPE):
            definition = self.renderer._match(key, env, workload, WORKLOAD_TYPE, self.unit)
            self.inputs.add(definition.path, definition.blob)
            policy, extra = self.renderer._run_definition(
                definition,
                request,
                env,
                workload.name,
                workload=workload,
                lookup_inputs=self.inputs,
                unit=self.unit,
            )
            unknown = sorted(set(policy) - WORKLOAD_OUTPUT_KEYS)
            if unknown:
                line, column = definition.document.locate(
                    ("template", "outputs") if definition.driver == "template" else ("outputs",)
                )
                raise UnitFailure(
                    self.unit,
                    [
                        Finding(
                            definition.path,
                            line,
                            column,
                            f"workload definition outputs {', '.join(unknown)} are not known: allowed are "
                            f"{', '.join(sorted(WORKLOAD_OUTPUT_KEYS))}",
                            unit=self.unit,
                        )
                    ],
                )
            resolved.append(ResolvedResource(request, definition, {}, (), workload.name))

        selector = {"app.kubernetes.io/name": workload.name, "app.kubernetes.io/instance": workload.name}
        labels = {
            **selector,
            "app.kubernetes.io/part-of": workload.team,
            **MANAGED_BY,
            **{str(k): str(v) for k, v in dict(policy.get("labels") or {}).items()},
        }
        annotations = {str(k): str(v) for k, v in dict(policy.get("annotations") or {}).items()}
        pod_annotations = {str(k): str(v) for k, v in dict(policy.get("podAnnotations") or {}).items()}

        objects: list[dict[str, Any]] = []
        containers: list[dict[str, Any]] = []
        init_containers: list[dict[str, Any]] = []
        volumes: list[dict[str, Any]] = []
        config_data: dict[str, str] = {}
        config_binary: dict[str, str] = {}
        config_items: list[dict[str, Any]] = []
        problems: list[Finding] = []  # variables' problems of every container, reported together
        for cname, container in sorted(self.spec["containers"].items()):
            base = ("containers", cname)
            try:
                env_vars = self._variables(cname, container.get("variables") or {}, by_name)
            except UnitFailure as exc:
                problems.extend(exc.findings)
            if problems:
                continue  # nothing of this unit is written: only the other containers' variables are checked
            out: dict[str, Any] = {"name": cname, "image": self._image(cname, container)}
            if container.get("command"):
                out["command"] = [
                    self._text(v, (*base, "command", i), by_name) for i, v in enumerate(container["command"])
                ]
            if container.get("args"):
                out["args"] = [
                    self._text(v, (*base, "args", i), by_name) for i, v in enumerate(container["args"])
                ]
            if env_vars:
                out["env"] = env_vars
            if container.get("resources"):
                out["resources"] = copy.deepcopy(container["resources"])
            for probe in ("livenessProbe", "readinessProbe"):
                if container.get(probe):
                    out[probe] = _probe(container[probe])
            mounts: list[dict[str, Any]] = []
            for target, file_spec in _normalized_files(container.get("files")):
                where = (*base, "files", target)
                key_name, content, binary = self._file_content(cname, target, file_spec, by_name, where)
                if binary:
                    config_binary[key_name] = content
                else:
                    config_data[key_name] = content
                item: dict[str, Any] = {"key": key_name, "path": key_name}
                if file_spec.get("mode"):
                    item["mode"] = _file_mode(file_spec["mode"], lambda msg, w=where: self.fail(w, msg))
                config_items.append(item)
                mounts.append({"name": "files", "mountPath": target, "subPath": key_name, "readOnly": True})
            for target, volume_spec in _normalized_volumes(container.get("volumes")):
                where = (*base, "volumes", target)
                source = self._volume_source(volume_spec.get("source"), by_name, where)
                volume_name = f"volume-{len(volumes)}"
                volumes.append({"name": volume_name, **source})
                mount: dict[str, Any] = {"name": volume_name, "mountPath": target}
                if volume_spec.get("path"):
                    mount["subPath"] = volume_spec["path"]
                if volume_spec.get("readOnly"):
                    mount["readOnly"] = True
                mounts.append(mount)
            if mounts:
                out["volumeMounts"] = sorted(mounts, key=lambda m: (m["mountPath"], m["name"]))
            if policy.get("containerSecurityContext"):
                out["securityContext"] = copy.deepcopy(policy["containerSecurityContext"])
            before = container.get("before") or {}
            for other in sorted(before):
                if other not in self.spec["containers"] or other == cname:
                    others = [c for c in self.spec["containers"] if c != cname]
                    raise self.fail(
                        (*base, "before", other),
                        f"containers.{cname}.before names {other!r}{did_you_mean(other, others)}, which is not "
                        "another container of this workload",
                    )
            if before:
                # Ordered start: 'complete' is an init container; 'started'/'healthy' a native sidecar that keeps running.
                if any(v.get("ready") != "complete" for v in before.values()):
                    out["restartPolicy"] = "Always"
                init_containers.append(out)
            else:
                containers.append(out)

        if problems:
            raise UnitFailure(self.unit, problems)
        if config_items:
            cm_body = {
                "data": dict(sorted(config_data.items())),
                "binaryData": dict(sorted(config_binary.items())),
            }
            digest = sha256_hex(json.dumps(cm_body, sort_keys=True).encode(), 10)
            cm_name = stable_name(workload.name, "files", digest)
            configmap: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": cm_name, "namespace": namespace, "labels": dict(labels)},
            }
            if config_data:
                configmap["data"] = cm_body["data"]
            if config_binary:
                configmap["binaryData"] = cm_body["binaryData"]
            objects.append(configmap)
            volumes.insert(
                0,
                {
                    "name": "files",
                    "configMap": {"name": cm_name, "items": sorted(config_items, key=lambda i: i["key"])},
                },
            )

        pod_spec: dict[str, Any] = {}
        if policy.get("serviceAccountName"):
            pod_spec["serviceAccountName"] = policy["serviceAccountName"]
        if "automountServiceAccountToken" in policy:
            pod_spec["automountServiceAccountToken"] = bool(policy["automountServiceAccountToken"])
        if policy.get("podSecurityContext"):
            pod_spec["securityContext"] = copy.deepcopy(policy["podSecurityContext"])
        if not containers:
            raise self.fail(
                ("containers",),
                "every container has `before`: at least one must be the workload's main container",
            )
        if init_containers:
            pod_spec["initContainers"] = init_containers
        pod_spec["containers"] = containers
        if volumes:
            pod_spec["volumes"] = volumes
        template_meta: dict[str, Any] = {"labels": dict(labels)}
        if pod_annotations:
            template_meta["annotations"] = dict(sorted(pod_annotations.items()))

        kind = str(
            (self.spec.get("metadata", {}).get("annotations") or {}).get(KIND_ANNOTATION, "Deployment")
        )
        if kind not in ("Deployment", "StatefulSet"):
            raise self.fail(
                ("metadata", "annotations", KIND_ANNOTATION),
                f"{KIND_ANNOTATION} must be Deployment or StatefulSet, not {kind!r}",
            )
        metadata: dict[str, Any] = {"name": workload.name, "namespace": namespace, "labels": dict(labels)}
        if annotations:
            metadata["annotations"] = dict(sorted(annotations.items()))
        spec: dict[str, Any] = {}
        if "replicas" in policy:
            spec["replicas"] = self._replicas(policy["replicas"], definition)
        spec["selector"] = {"matchLabels": dict(selector)}
        if kind == "StatefulSet":
            spec["serviceName"] = workload.name
        spec["template"] = {"metadata": template_meta, "spec": pod_spec}
        objects.insert(0, {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec})

        ports = (self.spec.get("service") or {}).get("ports") or {}
        if ports:
            service_ports = []
            for port_name, port in sorted(ports.items()):
                if not (
                    len(port_name) <= 15 and _PORT_NAME.match(port_name) and re.search("[a-z]", port_name)
                ):
                    raise self.fail(
                        ("service", "ports", port_name),
                        f"port name {port_name!r} is not valid in Kubernetes: at most 15 lower-case letters, digits "
                        "and '-', with at least one letter",
                    )
                entry = {
                    "name": port_name,
                    "port": port["port"],
                    "targetPort": port.get("targetPort", port["port"]),
                    "protocol": port.get("protocol", "TCP"),
                }
                service_ports.append(entry)
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": workload.name, "namespace": namespace, "labels": dict(labels)},
                    "spec": {"selector": dict(selector), "ports": service_ports},
                }
            )
        for resource in resolved:
            objects.extend(resource.manifests)
        objects.extend(extra)
        workload_labels = {"app.kubernetes.io/part-of": workload.team}
        return [_finish_object(o, env, namespace, workload_labels) for o in objects]

    def _replicas(self, value: Any, definition: Definition) -> int:
        """The workload definition's `replicas` output: an int32 of at least 0, as Kubernetes declares it."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT32[1]:
            return value
        line, column = definition.document.locate(
            ("template", "outputs") if definition.driver == "template" else ("outputs", "replicas")
        )
        raise UnitFailure(
            self.unit,
            [
                Finding(
                    definition.path,
                    line,
                    column,
                    f"workload output replicas is {str(value)[:40]!r}: give a whole number from 0 to {INT32[1]} "
                    "(Kubernetes' int32)",
                    unit=self.unit,
                )
            ],
        )

    def _image(self, cname: str, container: Mapping[str, Any]) -> str:
        image = container["image"]
        if image == ".":
            raise self.fail(
                ("containers", cname, "image"),
                "image '.' means 'build me' in score-compose; a platform repo deploys built images: set an image "
                "reference (for example in overrides.<env>.yaml) such as registry.example.com/app:1.2.3",
            )
        return self._text(image, ("containers", cname, "image"), {})

    def _text(self, value: Any, where: tuple[str | int, ...], by_name: Mapping[str, ResolvedResource]) -> str:
        try:
            result = substitute(str(value), lambda ref: self._resolve(ref, by_name, secrets_ok=False))
        except PlaceholderError as exc:
            raise self.fail(where, f"{'.'.join(map(str, where))}: {exc}") from None
        return str(result)

    def _variables(
        self, cname: str, variables: Mapping[str, Any], by_name: Mapping[str, ResolvedResource]
    ) -> list[dict[str, Any]]:
        helpers: dict[str, dict[str, Any]] = {}
        plain: list[dict[str, Any]] = []
        problems: list[
            Finding
        ] = []  # every variable is checked, so all misspelt outputs are reported at once
        for var, raw in sorted(variables.items()):
            where = ("containers", cname, "variables", var)
            text = raw if isinstance(raw, str) else json.dumps(raw)
            try:
                tokens = tokenize(text)
                values = [
                    t if isinstance(t, str) else self._resolve(t, by_name, secrets_ok=True) for t in tokens
                ]
            except PlaceholderError as exc:
                problems.extend(self.fail(where, f"containers.{cname}.variables.{var}: {exc}").findings)
                continue
            if len(values) == 1 and isinstance(values[0], SecretRef):
                plain.append({"name": var, "valueFrom": values[0].as_manifest()})
                continue
            parts: list[str] = []
            for token, value in zip(tokens, values, strict=True):
                if isinstance(value, SecretRef):
                    assert isinstance(token, Reference)
                    helper = _secret_env_name(token)
                    helpers[helper] = {"name": helper, "valueFrom": value.as_manifest()}
                    parts.append(f"$({helper})")
                elif isinstance(token, str):
                    # Kubernetes expands $(VAR) and reduces $$ to $ in values; keep the user's literal text literal.
                    parts.append(_k8s_literal(token))
                else:
                    parts.append(
                        _k8s_literal(
                            value
                            if isinstance(value, str)
                            else json.dumps(value, sort_keys=True, separators=(",", ":"))
                        )
                    )
            plain.append({"name": var, "value": "".join(parts)})
        if problems:
            raise UnitFailure(self.unit, problems)
        return [helpers[k] for k in sorted(helpers)] + plain

    def _file_content(
        self,
        cname: str,
        target: str,
        spec: Mapping[str, Any],
        by_name: Mapping[str, ResolvedResource],
        where: tuple[str | int, ...],
    ) -> tuple[str, str, bool]:
        # ConfigMap keys allow [-._a-zA-Z0-9]; the hash keeps two files with one base name apart.
        base = re.sub(r"[^-._a-zA-Z0-9]+", "-", posixpath.basename(target)).strip("-.") or "file"
        key_name = f"{base[:200]}-{sha256_hex(f'{cname}:{target}'.encode(), 8)}"
        if "binaryContent" in spec:
            content = str(spec["binaryContent"])
            try:  # line breaks are allowed, as Kubernetes (Go's base64) ignores them
                base64.b64decode(re.sub(r"[\r\n]", "", content), validate=True)
            except ValueError:
                raise self.fail(
                    (*where, "binaryContent"),
                    "binaryContent is not valid base64: encode the file with `base64 -w0 FILE` (standard "
                    "alphabet, '=' padding), or use content or source",
                ) from None
            return key_name, content, True
        if "content" in spec:
            content = spec["content"]
            if isinstance(content, list):  # early Score drafts allowed a list of lines
                content = "\n".join(map(str, content))
            text = str(content)
        elif "source" in spec:
            source = self._text(spec["source"], (*where, "source"), by_name)
            folder = posixpath.dirname(self.workload.path)
            path = posixpath.normpath(posixpath.join(folder, source))
            if not path.startswith(self.workload.folder + "/"):
                raise self.fail(
                    (*where, "source"),
                    f"file source {source!r} points outside the workload folder {self.workload.folder}/: keep referenced "
                    "files beside score.yaml",
                )
            blob = self.renderer.snapshot.files.get(path)
            if blob is None:
                raise self.fail((*where, "source"), f"file source {source!r} does not exist ({path})")
            self.inputs.add(path, blob)
            data = self.renderer.snapshot.source.read(path)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                return key_name, base64.b64encode(data).decode(), True
        else:
            raise self.fail(where, "a file needs content, source or binaryContent")
        if not spec.get("noExpand"):
            text = self._text(text, (*where, "content" if "content" in spec else "source"), by_name)
        return key_name, text, False

    def _volume_source(
        self, source: Any, by_name: Mapping[str, ResolvedResource], where: tuple[str | int, ...]
    ) -> dict[str, Any]:
        if not isinstance(source, str):
            raise self.fail(where, "a volume needs a source such as ${resources.data}")
        try:
            tokens = tokenize(source)
        except PlaceholderError as exc:
            raise self.fail((*where, "source"), str(exc)) from None
        if len(tokens) == 1 and isinstance(tokens[0], Reference):
            try:
                value = self._resolve(tokens[0], by_name, secrets_ok=False)
            except PlaceholderError as exc:
                raise self.fail((*where, "source"), f"volume source: {exc}") from None
        elif source in by_name:  # Score's older form: the bare resource name
            value = by_name[source].outputs.get("source")
        else:
            raise self.fail(
                (*where, "source"),
                f"volume source {source!r} must be a volume resource like ${{resources.data}}",
            )
        if not isinstance(value, dict) or len(value) != 1:
            raise self.fail(
                (*where, "source"),
                f"volume source {source!r} must resolve to one Kubernetes volume source (a mapping such as "
                f"{{persistentVolumeClaim: {{claimName: x}}}}), got {value!r}: check the volume definition's 'source' output",
            )
        return copy.deepcopy(value)


# -------------------------------------------------------------------------------------------------------------
# Helpers


def deep_merge(base: Any, override: Any) -> Any:
    """Score-style override: mappings merge recursively, None deletes a key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        for key, value in override.items():
            if value is None:
                base.pop(key, None)
            elif key in base:
                base[key] = deep_merge(base[key], value)
            else:
                base[key] = copy.deepcopy(value)
        return base
    return copy.deepcopy(override)


def _path_in(data: Any, where: tuple[str | int, ...]) -> bool:
    current = data
    for part in where:
        if isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return False
    return True


def _with_unit(finding: Finding, unit: str) -> Finding:
    if finding.unit:
        return finding
    return Finding(finding.path, finding.line, finding.column, finding.message, finding.severity, unit)


def _plain_for_template(value: Any) -> Any:
    if isinstance(value, SecretRef):
        return value.as_manifest()
    if isinstance(value, dict):
        return {k: _plain_for_template(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_for_template(v) for v in value]
    return value


def _as_secret_ref(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"secretKeyRef"}:
        ref = value["secretKeyRef"]
        if isinstance(ref, dict) and set(ref) == {"name", "key"}:
            return SecretRef(str(ref["name"]), str(ref["key"]))
    return value


def _k8s_literal(text: str) -> str:
    """Text that Kubernetes' $(VAR) expansion leaves as it is: a `$` before `$`, `(` or the end (a helper's
    `$(...)` may follow) is doubled."""
    return re.sub(r"\$(?=[$(]|\Z)", "$$", text)


def _secret_env_name(ref: Reference) -> str:
    raw = "_".join(ref.path[1:]).upper()
    return "GE_SECRET_" + _ENV_NAME_UNSAFE.sub("_", raw)


def _normalized_files(files: Any) -> list[tuple[str, dict[str, Any]]]:
    if not files:
        return []
    if isinstance(files, list):  # deprecated list form
        return sorted(
            ((f["target"], {k: v for k, v in f.items() if k != "target"}) for f in files), key=lambda x: x[0]
        )
    return sorted(((target, dict(spec or {})) for target, spec in files.items()), key=lambda x: x[0])


def _normalized_volumes(volumes: Any) -> list[tuple[str, dict[str, Any]]]:
    if not volumes:
        return []
    if isinstance(volumes, list):  # deprecated list form
        return sorted(
            ((v["target"], {k: x for k, x in v.items() if k != "target"}) for v in volumes),
            key=lambda x: x[0],
        )
    return sorted(((target, dict(spec or {})) for target, spec in volumes.items()), key=lambda x: x[0])


def _file_mode(mode: Any, fail: Any) -> int:
    text = str(mode)
    try:
        value = int(text, 8)
    except ValueError:
        raise fail(f"file mode {text!r} is not an octal number like '0644'") from None
    if not 0 <= value <= 0o777:
        raise fail(f"file mode {text!r} is outside 0000-0777")
    return value


def _probe(probe: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "httpGet" in probe:
        http = dict(probe["httpGet"])
        get: dict[str, Any] = {}
        for key in ("host", "scheme", "path", "port"):
            if key in http:
                get[key] = http[key]
        if http.get("httpHeaders"):
            get["httpHeaders"] = [{"name": h["name"], "value": h["value"]} for h in http["httpHeaders"]]
        out["httpGet"] = get
    if "exec" in probe:
        out["exec"] = {"command": list(probe["exec"]["command"])}
    return out


def _manifest_problem(manifest: Any) -> str | None:
    """What keeps a definition's manifest from being rendered as one object in a file of its own (names.py)."""
    if not isinstance(manifest, dict):
        return f"must be a Kubernetes object (a mapping), got {type(manifest).__name__}"
    if not isinstance(manifest.get("apiVersion"), str) or not manifest.get("apiVersion"):
        return "needs apiVersion"
    kind = manifest.get("kind")
    if not isinstance(kind, str):
        return names.kind_problem(kind)
    metadata = manifest.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str):
        return names.kind_problem(kind) or names.object_name_problem(kind, name)
    return names.object_problem(kind, name) or _integer_problem(manifest)


# Fields Kubernetes declares int32 (or IntOrString, whose integer is an int32) in the objects definitions render:
# workloads, pods, services, probes, autoscalers, disruption budgets, jobs. Every other integer is an int64.
INT32_FIELDS = frozenset(
    {
        "replicas",
        "minReplicas",
        "maxReplicas",
        "port",
        "targetPort",
        "containerPort",
        "hostPort",
        "nodePort",
        "minAvailable",
        "maxUnavailable",
        "maxSurge",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
        "minReadySeconds",
        "initialDelaySeconds",
        "periodSeconds",
        "timeoutSeconds",
        "successThreshold",
        "failureThreshold",
        "defaultMode",
        "mode",
        "parallelism",
        "completions",
        "backoffLimit",
        "weight",
        "priority",
        "averageUtilization",
        "stabilizationWindowSeconds",
    }
)
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def _integer_problem(manifest: Mapping[str, Any]) -> str | None:
    """An integer Kubernetes cannot hold: an int32 field out of the int32 range, any other out of int64."""
    stack: list[tuple[str, Any]] = [("", manifest)]
    while stack:  # a loop, not recursion: nesting depth is the input's choice
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            field_name = where.rsplit(".", 1)[-1]
            low, high = INT32 if field_name in INT32_FIELDS else INT64
            if not low <= value <= high:
                size = "int32" if field_name in INT32_FIELDS else "int64"
                return (
                    f"{manifest['kind']} {where} is {value}, outside the {size} range Kubernetes allows "
                    f"({low} to {high})"
                )
    return None


def _copy_data(value: Any) -> Any:
    """copy.deepcopy for plain data (dicts, lists, scalars), several times faster; anything else is deep-copied."""
    kind = type(value)
    if kind is dict:
        return {k: _copy_data(v) for k, v in value.items()}
    if kind is list:
        return [_copy_data(v) for v in value]
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    return copy.deepcopy(value)


def _finish_object(
    manifest: Mapping[str, Any], env: Environment, namespace: str, extra_labels: Mapping[str, str]
) -> dict[str, Any]:
    """Namespace and labels every object the same way; apiVersion/kind/metadata first, rest in given order."""
    obj = {k: _copy_data(v) for k, v in manifest.items()}
    metadata = dict(obj.get("metadata") or {})
    if manifest.get("kind") not in CLUSTER_SCOPED_KINDS:
        metadata["namespace"] = namespace
    labels = {
        **{str(k): str(v) for k, v in env.labels.items()},
        **extra_labels,
        **(metadata.get("labels") or {}),
        **MANAGED_BY,
    }
    metadata["labels"] = dict(sorted(labels.items()))
    ordered_meta = {k: metadata[k] for k in ("name", "namespace", "labels", "annotations") if k in metadata}
    ordered_meta.update({k: v for k, v in metadata.items() if k not in ordered_meta})
    ordered = {"apiVersion": obj.pop("apiVersion"), "kind": obj.pop("kind"), "metadata": ordered_meta}
    obj.pop("metadata", None)
    ordered.update(obj)
    return ordered


def _package(
    unit: str,
    env: Environment,
    objects: list[dict[str, Any]],
    inputs: _Inputs,
    resolved: list[ResolvedResource],
    namespace: str,
    *,
    workload_document: Document | None = None,
    request_fingerprint: str | None = None,
) -> RenderedUnit:
    names.unit_folder(env.id, unit)  # checked: it becomes a folder and a branch
    documents: dict[str, bytes] = {}
    for obj in objects:
        key = object_key(str(obj["kind"]), str(obj["metadata"]["name"]))
        if key in documents:
            raise UnitFailure(
                unit,
                [
                    Finding(
                        workload_document.path if workload_document else env.path,
                        0,
                        0,
                        f"two objects are {key.replace('/', ' ')} in {unit_folder(env.id, unit)}: a definition or "
                        "the workload creates the same kind and name twice",
                        unit=unit,
                    )
                ],
            )
        documents[key] = dump(obj).encode()
    provenance: dict[str, Any] = {
        "engine": RENDER_VERSION,
        "unit": unit,
        "environment": env.id,
        "namespace": namespace,
        "inputs": dict(sorted(inputs.files.items())),
        "lookups": dict(sorted(inputs.lookups.items())),
        "resources": [
            {
                "name": r.request.name,
                "type": r.request.type,
                "class": r.request.class_,
                "res_id": r.request.res_id,
                "shared": r.request.shared,
                "definition": r.definition.id,
                "definition_path": r.definition.path,
                "version": r.definition.version,
                "depends_on": list(r.depends_on),
            }
            for r in resolved
        ],
        "manifests": {key: sha256_hex(content) for key, content in sorted(documents.items())},
    }
    if request_fingerprint:
        provenance["request"] = request_fingerprint
    files = {LOCK_FILE: (json.dumps(provenance, indent=1, sort_keys=True) + "\n").encode()}
    if documents:
        files[MANIFEST_FILE] = join_manifest(documents)
    return RenderedUnit(
        unit=unit, env=env.id, files=dict(sorted(files.items())), provenance=provenance, resources=resolved
    )

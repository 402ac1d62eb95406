"""Definition drivers: what running a definition for one resource gives, its outputs and the objects it adds.

`static` copies the definition's outputs and manifests; `template` renders them with Jinja2 (templating.py), with
the resource, the workload and the environment in its context and `lookup_workload` among its functions. Both
drivers' results are checked alike: secret outputs must be references, every manifest one valid object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.errors import Finding
from gitops_engine.loading import Snapshot, secret_literal_problem, secret_output_problems
from gitops_engine.model import SHARED_FOLDER, Definition, Environment, ResourceRequest, SecretRef, Workload
from gitops_engine.render.lookups import Caller, Lookups
from gitops_engine.render.objects import manifest_problem
from gitops_engine.render.overrides import EffectiveSpecs
from gitops_engine.render.records import Inputs, UnitFailure, copy_data, sha256_hex, shared_namespace
from gitops_engine.templating import (
    TemplateFailure,
    TemplateLimits,
    render_template,
    template_indent,
    template_line_offset,
)
from gitops_engine.yamlio import YamlSyntaxError, load_all


@dataclass(frozen=True)
class Run:
    """One run of a definition: for `request` of `workload` (None for a shared resource, then `declared_in` is the
    workload declaring it, the one told about a mistake in its params) in `env`, reading into `inputs`."""

    request: ResourceRequest
    env: Environment
    uid: str
    workload: Workload | None
    inputs: Inputs
    unit: str
    declared_in: Workload | None = None


class Drivers:
    """Runs definitions with their driver, within the settings' template limits."""

    def __init__(self, snapshot: Snapshot, specs: EffectiveSpecs) -> None:
        self.snapshot = snapshot
        self.specs = specs
        settings = snapshot.settings
        self.template_limits = TemplateLimits(
            steps=settings.template_steps,
            seconds=settings.template_seconds,
            output_chars=settings.template_output_chars,
        )

    def run(self, definition: Definition, run: Run) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The definition's outputs (secret references as SecretRef) and manifests for `run`."""
        if definition.driver == "static":
            outputs = copy_data(dict(definition.static_outputs or {}))
            manifests = [copy_data(dict(m)) for m in definition.static_manifests]
        else:
            outputs, manifests = self._template(definition, run)
        if definition.driver == "template":
            _check_secret_outputs(definition, outputs, run.unit)
        _check_manifests(definition, manifests, run.unit)
        return {k: _as_secret_ref(v) for k, v in outputs.items()}, manifests

    def _template(self, definition: Definition, run: Run) -> tuple[dict[str, Any], list[Any]]:
        workload = run.workload
        lookups = Lookups(self.snapshot, self.specs, run.env, run.inputs, workload.team if workload else None)
        context = _template_context(run)
        functions = {"lookup_workload": lookups.lookup}
        caller = Caller(workload or run.declared_in, run.request, run.env, lookups)
        part = _TemplatePart(definition, context, functions, run.unit, caller, self.template_limits)
        return part.render("outputs", dict) or {}, part.render("manifests", list) or []


def _template_context(run: Run) -> dict[str, Any]:
    request, workload, env = run.request, run.workload, run.env
    guid = sha256_hex(f"{workload.key if workload else SHARED_FOLDER}/{request.res_id}".encode())
    return {
        "resource": {
            "name": request.name,
            "type": request.type,
            "class": request.class_,
            "id": request.id,
            "params": _plain_for_template(request.params),
            "metadata": dict(request.metadata),
            "uid": run.uid,
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


@dataclass
class _TemplatePart:
    """Renders `template.outputs` or `template.manifests` of a definition and reads the YAML it gives."""

    definition: Definition
    context: Mapping[str, Any]
    functions: Mapping[str, Any]
    unit: str
    caller: Caller
    limits: TemplateLimits

    def render(self, part: str, expect: type) -> Any:
        definition = self.definition
        text = definition.template_outputs if part == "outputs" else definition.template_manifests
        if not text:
            return None
        try:
            rendered = render_template(text, self.context, self.functions, self.limits)
        except TemplateFailure as exc:
            raise self._template_failure(part, exc) from None
        value = self._load(part, rendered)
        if value is None:
            return None
        if not isinstance(value, expect):
            line, column = definition.document.locate(("template", part))
            wanted = (
                "a mapping of output names to values" if expect is dict else "a list of Kubernetes objects"
            )
            message = f"template.{part} must render {wanted}, got {type(value).__name__}"
            raise UnitFailure(self.unit, [Finding(definition.path, line, column, message, unit=self.unit)])
        return value

    def _template_failure(self, part: str, exc: TemplateFailure) -> UnitFailure:
        definition, unit = self.definition, self.unit
        where = ("template", part)
        line = (
            template_line_offset(definition.document, where) + exc.line
            if exc.line
            else definition.document.locate(where)[0]
        )
        mistake = self.caller.mistake(exc)
        if mistake is not None:
            # The workload asked for something that does not exist (a workload, a port): its Score file is
            # where to fix it, and where the annotation belongs; the definition's line comes second.
            return UnitFailure(
                unit, [self.caller.blame(mistake, f"{definition.path}:{line} looks it up", unit)]
            )
        # Over budget: the unit is named, as the same template may stay within it for the other units.
        message = (
            f"template.{part} for {unit}: {exc.message}"
            if exc.over_budget
            else f"template.{part}: {exc.message}"
        )
        return UnitFailure(unit, [Finding(definition.path, line, 1, message, unit=unit)])

    def _load(self, part: str, rendered: str) -> Any:
        definition, unit = self.definition, self.unit
        where = ("template", part)
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
        return documents[0] if len(documents) == 1 else (documents or None)


def _check_secret_outputs(definition: Definition, outputs: Mapping[str, Any], unit: str) -> None:
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


def _check_manifests(definition: Definition, manifests: list[Any], unit: str) -> None:
    where = ("template", "manifests") if definition.driver == "template" else ("manifests",)
    for index, manifest in enumerate(manifests):
        problem = manifest_problem(manifest) or secret_literal_problem(manifest)
        if problem:
            line, column = definition.document.locate(
                where if definition.driver == "template" else (*where, index)
            )
            raise UnitFailure(
                unit, [Finding(definition.path, line, column, f"manifest {index}: {problem}", unit=unit)]
            )


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

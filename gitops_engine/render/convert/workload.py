"""The workload's frame: the `workload` definition's outputs (infra's defaults and policies for every workload),
the labels, and the Deployment or StatefulSet around the pod."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_engine.errors import Finding
from gitops_engine.matching import ResourceKey
from gitops_engine.model import DEFAULT_CLASS, WORKLOAD_TYPE, Definition, ResourceRequest
from gitops_engine.render.context import WorkloadContext
from gitops_engine.render.convert.containers import Pod
from gitops_engine.render.drivers import Run
from gitops_engine.render.objects import INT32, MANAGED_BY
from gitops_engine.render.records import ResolvedResource, UnitFailure
from gitops_engine.render.resources import Provisioner

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


@dataclass
class Policy:
    """What the `workload` definition gives: its outputs and objects (none without such a definition)."""

    outputs: dict[str, Any] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    definition: Definition | None = None
    resource: ResolvedResource | None = None  # for the lock


def workload_policy(ctx: WorkloadContext, provisioner: Provisioner) -> Policy:
    """Run the definition of type `workload` that matches the workload, when there are such definitions."""
    if not provisioner.has_definitions(WORKLOAD_TYPE):
        return Policy()
    workload = ctx.workload
    request = ResourceRequest(workload.name, WORKLOAD_TYPE, DEFAULT_CLASS, None, {}, {})
    key = ResourceKey(WORKLOAD_TYPE, DEFAULT_CLASS, workload.name, workload.team, workload.name)
    definition = provisioner.match(key, ctx.env, workload, WORKLOAD_TYPE, ctx.unit)
    ctx.inputs.add(definition.path, definition.blob)
    run = Run(request, ctx.env, workload.name, workload=workload, inputs=ctx.inputs, unit=ctx.unit)
    outputs, objects = provisioner.provision(definition, run)
    unknown = sorted(set(outputs) - WORKLOAD_OUTPUT_KEYS)
    if unknown:
        raise _output_failure(
            ctx,
            definition,
            None,
            f"workload definition outputs {', '.join(unknown)} are not known: allowed are "
            f"{', '.join(sorted(WORKLOAD_OUTPUT_KEYS))}",
        )
    resource = ResolvedResource(request, definition, {}, (), workload.name)
    return Policy(outputs, objects, definition, resource)


def _output_failure(
    ctx: WorkloadContext, definition: Definition, output: str | None, message: str
) -> UnitFailure:
    """A mistake in the workload definition's outputs (`output`, or all of them), at its template or output."""
    at = (
        ("template", "outputs")
        if definition.driver == "template"
        else ("outputs", *([output] if output else []))
    )
    line, column = definition.document.locate(at)
    return UnitFailure(ctx.unit, [Finding(definition.path, line, column, message, unit=ctx.unit)])


def selector(ctx: WorkloadContext) -> dict[str, str]:
    name = ctx.workload.name
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}


def workload_labels(ctx: WorkloadContext, policy: Policy) -> dict[str, str]:
    """The labels of the objects the workload itself renders (its Deployment, Service, ConfigMap)."""
    return {
        **selector(ctx),
        "app.kubernetes.io/part-of": ctx.workload.team,
        **MANAGED_BY,
        **_strings(policy.outputs.get("labels")),
    }


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(value or {}).items()}


def workload_object(
    ctx: WorkloadContext, policy: Policy, pod: Pod, labels: Mapping[str, str], namespace: str
) -> dict[str, Any]:
    """The Deployment, or the StatefulSet the `k8s.score.dev/kind` annotation asks for."""
    outputs = policy.outputs
    template_meta: dict[str, Any] = {"labels": dict(labels)}
    pod_annotations = _strings(outputs.get("podAnnotations"))
    pod_spec = _pod_spec(ctx, outputs, pod)
    if pod_annotations:
        template_meta["annotations"] = dict(sorted(pod_annotations.items()))
    kind = str((ctx.spec.get("metadata", {}).get("annotations") or {}).get(KIND_ANNOTATION, "Deployment"))
    if kind not in ("Deployment", "StatefulSet"):
        raise ctx.fail(
            ("metadata", "annotations", KIND_ANNOTATION),
            f"{KIND_ANNOTATION} must be Deployment or StatefulSet, not {kind!r}",
        )
    metadata: dict[str, Any] = {"name": ctx.workload.name, "namespace": namespace, "labels": dict(labels)}
    annotations = _strings(outputs.get("annotations"))
    if annotations:
        metadata["annotations"] = dict(sorted(annotations.items()))
    spec: dict[str, Any] = {}
    if "replicas" in outputs:
        assert policy.definition is not None
        spec["replicas"] = _replicas(ctx, outputs["replicas"], policy.definition)
    spec["selector"] = {"matchLabels": selector(ctx)}
    if kind == "StatefulSet":
        spec["serviceName"] = ctx.workload.name
    spec["template"] = {"metadata": template_meta, "spec": pod_spec}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec}


def _pod_spec(ctx: WorkloadContext, outputs: Mapping[str, Any], pod: Pod) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {}
    if outputs.get("serviceAccountName"):
        pod_spec["serviceAccountName"] = outputs["serviceAccountName"]
    if "automountServiceAccountToken" in outputs:
        pod_spec["automountServiceAccountToken"] = bool(outputs["automountServiceAccountToken"])
    if outputs.get("podSecurityContext"):
        pod_spec["securityContext"] = copy.deepcopy(outputs["podSecurityContext"])
    if not pod.containers:
        raise ctx.fail(
            ("containers",),
            "every container has `before`: at least one must be the workload's main container",
        )
    if pod.init_containers:
        pod_spec["initContainers"] = pod.init_containers
    pod_spec["containers"] = pod.containers
    if pod.volumes:
        pod_spec["volumes"] = pod.volumes
    return pod_spec


def _replicas(ctx: WorkloadContext, value: Any, definition: Definition) -> int:
    """The workload definition's `replicas` output: an int32 of at least 0, as Kubernetes declares it."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT32[1]:
        return value
    raise _output_failure(
        ctx,
        definition,
        "replicas",
        f"workload output replicas is {str(value)[:40]!r}: give a whole number from 0 to {INT32[1]} "
        "(Kubernetes' int32)",
    )

"""Converting a workload into Kubernetes objects, one module per aspect of its Score file, the way score-k8s splits
its converter: workload.py (the Deployment/StatefulSet frame and the `workload` definition), containers.py,
files.py, volumes.py and service.py."""

from __future__ import annotations

from typing import Any

from gitops_engine.render.context import WorkloadContext
from gitops_engine.render.convert.containers import convert_containers
from gitops_engine.render.convert.service import service_object
from gitops_engine.render.convert.workload import selector, workload_labels, workload_object, workload_policy
from gitops_engine.render.objects import finish_object
from gitops_engine.render.records import ResolvedResource
from gitops_engine.render.resources import Provisioner


def convert(
    ctx: WorkloadContext, provisioner: Provisioner, resolved: list[ResolvedResource], namespace: str
) -> list[dict[str, Any]]:
    """Every object of the workload's unit, finished: its Deployment or StatefulSet, ConfigMap, Service, then the
    objects its resources' definitions and its workload definition add. The workload definition, when there is one,
    is appended to `resolved` (the lock lists it)."""
    by_name = {
        r.request.name: r for r in resolved
    }  # before the workload's own resource, which may share a name
    policy = workload_policy(ctx, provisioner)
    if policy.resource is not None:
        resolved.append(policy.resource)
    labels = workload_labels(ctx, policy)
    pod = convert_containers(ctx, by_name, policy.outputs)
    objects: list[dict[str, Any]] = []
    files = pod.files.configmap(ctx.workload.name, namespace, labels)
    if files is not None:
        configmap, volume = files
        objects.append(configmap)
        pod.volumes.insert(0, volume)
    objects.insert(0, workload_object(ctx, policy, pod, labels, namespace))
    service = service_object(ctx, selector(ctx), labels, namespace)
    if service is not None:
        objects.append(service)
    for resource in resolved:
        objects.extend(resource.manifests)
    objects.extend(policy.objects)
    extra_labels = {"app.kubernetes.io/part-of": ctx.workload.team}
    return [finish_object(o, ctx.env, namespace, extra_labels) for o in objects]

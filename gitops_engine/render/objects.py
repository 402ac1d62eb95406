"""Kubernetes objects as a render writes them: namespaced and labelled alike, checked to be one valid object each.

Also the words of the two clash rules: two units must not render one object, nor two workloads of one name share a
namespace: Argo CD or Flux would fight over them. `render` (tree.cross_checks) and `process` (affected) refuse both
alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_engine import names
from gitops_engine.manifest import object_id
from gitops_engine.model import Environment
from gitops_engine.render.records import copy_data, unit_folder

MANAGED_BY = {"app.kubernetes.io/managed-by": "gitops-engine"}
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
_CLUSTER_SCOPED_PREFIXES = frozenset(kind.lower() for kind in CLUSTER_SCOPED_KINDS)

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


def is_cluster_scoped(key: str) -> bool:
    """Whether an object (its key `<Kind>/<name>`, or an older engine's file name) is cluster-scoped."""
    return is_cluster_scoped_id(object_id(key))


def is_cluster_scoped_id(ident: str) -> bool:
    """is_cluster_scoped, of an object's id (`manifest.object_id`: its kind in lower case, "/", its name)."""
    return ident.partition("/")[0] in _CLUSTER_SCOPED_PREFIXES


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


def manifest_problem(manifest: Any) -> str | None:
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


def _integer_problem(manifest: Mapping[str, Any]) -> str | None:
    """An integer Kubernetes cannot hold: an int32 field out of the int32 range, any other out of int64."""
    if not _beyond_int32(manifest):
        return None  # every field holds it (nearly always): no field paths to spell out
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


def _beyond_int32(manifest: Mapping[str, Any]) -> bool:
    """Whether any integer in `manifest` (bools aside) is outside the int32 range."""
    low, high = INT32
    stack: list[Any] = [manifest]
    while stack:
        value = stack.pop()
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, (dict, list)):
                stack.append(item)
            elif isinstance(item, int) and not isinstance(item, bool) and not low <= item <= high:
                return True
    return False


def finish_object(
    manifest: Mapping[str, Any], env: Environment, namespace: str, extra_labels: Mapping[str, str]
) -> dict[str, Any]:
    """Namespace and labels every object the same way; apiVersion/kind/metadata first, rest in given order."""
    obj = {k: copy_data(v) for k, v in manifest.items()}
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

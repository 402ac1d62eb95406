"""The Kapitan side of issue 12's "vs Kapitan" comparison: a kadet component that compiles one target (a workload
of the synthetic platform repo) into the Kubernetes objects gitops-engine renders for it, environment by
environment. benchmarks/kapitan.py copies this file into the Kapitan project as `components/workload/__init__.py`.

It is what a platform team on Kapitan would write instead of gitops-engine's definitions: the workload's Score
content comes from the target's inventory parameters (`score`, `overrides`), the environments and the managed
services' outputs from the `platform` class, and each resource definition of the synthetic repo is a Python
function here (postgres, redis, dns, route, volume, service-port, workload). Another workload's ports
(service-port) are read from the global inventory, Kapitan's way of looking up another target.

`render_target` is plain Python over plain data, so tests/test_bench_kapitan.py checks it against the engine's
own render without Kapitan installed; `main` is kadet's entry point. Only the Score features and definitions the
synthetic repo uses are covered.
"""

from __future__ import annotations

import copy
import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Lookup = Callable[[str, str], Mapping[str, Any]]  # (workload name, environment) -> {"team", "service"}

MANAGED_BY = {"app.kubernetes.io/managed-by": "gitops-engine"}
INSTALL_ORDER = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ExternalSecret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
]
_RANK = {kind: index for index, kind in enumerate(INSTALL_ORDER)}
_PLACEHOLDER = re.compile(r"\$\$|\$\{([^}]*)\}")
_ENV_NAME_UNSAFE = re.compile(r"[^A-Z0-9_]")
RESTRICTED = {
    "automountServiceAccountToken": False,
    "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
}


@dataclass(frozen=True)
class Secret:
    """A secret output: a key of a Kubernetes Secret, passed on as `valueFrom`, never as text."""

    name: str
    key: str

    def manifest(self) -> dict[str, Any]:
        return {"secretKeyRef": {"name": self.name, "key": self.key}}


@dataclass
class Env:
    """One environment of the `platform` class, for one workload."""

    id: str
    type: str
    namespace: str
    labels: dict[str, str]
    values: dict[str, Any]


@dataclass
class Resource:
    uid: str
    outputs: dict[str, Any]
    manifests: list[dict[str, Any]]


# ---------------------------------------------------------------------------------------------------------------
# Placeholders: ${metadata.name}, ${resources.db.host}; $$ is a literal $


def _parts(text: str) -> list[str | tuple[str, ...]]:
    parts: list[str | tuple[str, ...]] = []
    at = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > at:
            parts.append(text[at : match.start()])
        parts.append("$" if match.group(0) == "$$" else tuple(match.group(1).split(".")))
        at = match.end()
    if at < len(text):
        parts.append(text[at:])
    return parts


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


class Scope:
    """What placeholders of one workload in one environment stand for."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.resources: dict[str, Resource] = {}

    def value(self, path: tuple[str, ...]) -> Any:
        if path[0] == "metadata":
            current: Any = self.spec.get("metadata", {})
            rest = path[1:]
        else:
            outputs = self.resources[path[1]].outputs
            if len(path) == 2:
                return outputs["source"]
            current, rest = outputs, path[2:]
        for part in rest:
            current = current[part]
        return current

    def text(self, value: Any) -> str:
        text = str(value)
        if "$" not in text:
            return text
        return "".join(p if isinstance(p, str) else _as_text(self.value(p)) for p in _parts(text))

    def native(self, value: Any) -> Any:
        """Params: a string that is one placeholder becomes the value itself; others are substituted as text."""
        if isinstance(value, dict):
            return {k: self.native(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.native(v) for v in value]
        if isinstance(value, str) and "$" in value:
            parts = _parts(value)
            if len(parts) == 1 and isinstance(parts[0], tuple):
                return self.value(parts[0])
            return self.text(value)
        return value


# ---------------------------------------------------------------------------------------------------------------
# The synthetic repo's definitions, one function each: (uid, params, env, workload, team, lookup) -> Resource


def _secrets(outputs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: Secret(v["secretKeyRef"]["name"], v["secretKeyRef"]["key"])
        if isinstance(v, dict) and set(v) == {"secretKeyRef"}
        else v
        for k, v in outputs.items()
    }


def postgres_incluster(uid: str, params: Mapping[str, Any], env: Env, **_: Any) -> Resource:
    db = params.get("database", uid.replace("-", "_"))
    outputs = {
        "host": f"{uid}.{env.namespace}.svc.cluster.local",
        "port": 5432,
        "name": db,
        "database": db,
        "username": Secret(uid, "username"),
        "password": Secret(uid, "password"),
    }
    postgres = {"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": uid}
    secret = {
        "apiVersion": "external-secrets.io/v1beta1",
        "kind": "ExternalSecret",
        "metadata": {"name": uid},
        "spec": {
            "refreshInterval": "0",
            "target": {
                "name": uid,
                "creationPolicy": "Owner",
                "template": {"engineVersion": "v2", "data": {"username": db, "password": "{{ .password }}"}},
            },
            "dataFrom": [
                {
                    "sourceRef": {
                        "generatorRef": {
                            "apiVersion": "generators.external-secrets.io/v1alpha1",
                            "kind": "Password",
                            "name": uid,
                        }
                    }
                }
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": uid},
        "spec": {
            "clusterIP": "None",
            "selector": dict(postgres),
            "ports": [{"name": "postgres", "port": 5432, "targetPort": "postgres"}],
        },
    }
    container = {
        "name": "postgres",
        "image": "docker.io/library/postgres:16.4",
        "ports": [{"name": "postgres", "containerPort": 5432}],
        "env": [
            {"name": "POSTGRES_DB", "value": db},
            {"name": "POSTGRES_PASSWORD", "valueFrom": Secret(uid, "password").manifest()},
        ],
        "readinessProbe": {"exec": {"command": ["pg_isready", "--host=127.0.0.1"]}},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
    }
    storage = params.get("storage", env.values["dataStorage"])
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": uid},
        "spec": {
            "serviceName": uid,
            "replicas": 1,
            "selector": {"matchLabels": dict(postgres)},
            "template": {
                "metadata": {"labels": {**postgres, "app.kubernetes.io/version": "16.4"}},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 999, "fsGroup": 999},
                    "containers": [container],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": env.values["storageClass"],
                        "resources": {"requests": {"storage": storage}},
                    },
                }
            ],
        },
    }
    return Resource(uid, outputs, [secret, service, statefulset])


def redis_incluster(uid: str, params: Mapping[str, Any], env: Env, **_: Any) -> Resource:
    outputs = {
        "host": f"{uid}.{env.namespace}.svc.cluster.local",
        "port": 6379,
        "username": "default",
        "password": Secret(uid, "password"),
    }
    redis = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": uid}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": uid},
        "spec": {"selector": dict(redis), "ports": [{"name": "redis", "port": 6379, "targetPort": "redis"}]},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": uid},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(redis)},
            "template": {
                "metadata": {"labels": dict(redis)},
                "spec": {
                    "containers": [
                        {
                            "name": "redis",
                            "image": "docker.io/library/redis:7.4.1",
                            "ports": [{"name": "redis", "containerPort": 6379}],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "64Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                        }
                    ]
                },
            },
        },
    }
    return Resource(uid, outputs, [service, deployment])


def dns_subdomain(
    uid: str, params: Mapping[str, Any], env: Env, workload: str, team: str, **_: Any
) -> Resource:
    host = f"{params.get('subdomain', f'{workload}-{team}')}.{env.values['domain']}"
    return Resource(uid, {"host": host}, [])


def route_httproute(uid: str, params: Mapping[str, Any], env: Env, workload: str, **_: Any) -> Resource:
    values = env.values
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": uid},
        "spec": {
            "parentRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": values["gatewayName"],
                    "namespace": values["gatewayNamespace"],
                }
            ],
            "hostnames": [params["host"]],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": params.get("path", "/")}}],
                    "backendRefs": [{"name": workload, "port": int(params["port"])}],
                }
            ],
        },
    }
    return Resource(uid, {}, [route])


def route_ingress(uid: str, params: Mapping[str, Any], env: Env, workload: str, **_: Any) -> Resource:
    values = env.values
    backend = {"service": {"name": workload, "port": {"number": int(params["port"])}}}
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": uid, "annotations": {"cert-manager.io/cluster-issuer": values["clusterIssuer"]}},
        "spec": {
            "ingressClassName": values["ingressClass"],
            "tls": [{"hosts": [params["host"]], "secretName": f"{uid}-tls"}],
            "rules": [
                {
                    "host": params["host"],
                    "http": {
                        "paths": [{"path": params.get("path", "/"), "pathType": "Prefix", "backend": backend}]
                    },
                }
            ],
        },
    }
    return Resource(uid, {}, [ingress])


def volume_emptydir(uid: str, params: Mapping[str, Any], **_: Any) -> Resource:
    return Resource(uid, {"source": {"emptyDir": {"sizeLimit": params.get("size", "1Gi")}}}, [])


def volume_pvc(uid: str, params: Mapping[str, Any], env: Env, **_: Any) -> Resource:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": uid},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": env.values["storageClass"],
            "resources": {"requests": {"storage": params.get("size", "1Gi")}},
        },
    }
    return Resource(uid, {"source": {"persistentVolumeClaim": {"claimName": uid}}}, [claim])


def service_port_default(uid: str, params: Mapping[str, Any], env: Env, lookup: Lookup, **_: Any) -> Resource:
    name = params["workload"]
    other = lookup(name, env.id)
    namespace = other["namespace"]
    port = other["service"]["ports"][params["port"]]["port"]
    return Resource(uid, {"hostname": f"{name}.{namespace}.svc.cluster.local", "port": port}, [])


def workload_default(uid: str, team: str, **_: Any) -> Resource:
    return Resource(
        uid, {"replicas": 1, **copy.deepcopy(RESTRICTED), "labels": {"example.com/team": team}}, []
    )


def workload_production(uid: str, team: str, workload: str, **_: Any) -> Resource:
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": uid},
        "spec": {
            "maxUnavailable": 1,
            "selector": {
                "matchLabels": {"app.kubernetes.io/name": workload, "app.kubernetes.io/instance": workload}
            },
        },
    }
    outputs = {"replicas": 3, **copy.deepcopy(RESTRICTED), "labels": {"example.com/team": team}}
    return Resource(uid, outputs, [budget])


DEFINITIONS: dict[str, Callable[..., Resource]] = {
    "postgres-incluster": postgres_incluster,
    "redis-incluster": redis_incluster,
    "dns-subdomain": dns_subdomain,
    "route-httproute": route_httproute,
    "route-ingress": route_ingress,
    "volume-emptydir": volume_emptydir,
    "volume-pvc": volume_pvc,
    "service-port-default": service_port_default,
    "workload-default": workload_default,
    "workload-production": workload_production,
}


# ---------------------------------------------------------------------------------------------------------------
# Score to Kubernetes, as gitops-engine's converter does it


def deep_merge(base: Any, override: Any) -> Any:
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


def stable_name(*parts: str, limit: int = 63) -> str:
    raw = "-".join(p for p in parts if p)
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-") or "x"
    if len(name) <= limit and name == raw:
        return name
    return f"{name[: limit - 9].rstrip('-')}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"


def _k8s_literal(text: str) -> str:
    return re.sub(r"\$(?=[$(]|\Z)", "$$", text)


def _variables(scope: Scope, variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    helpers: dict[str, dict[str, Any]] = {}
    plain: list[dict[str, Any]] = []
    for var, raw in sorted(variables.items()):
        text = raw if isinstance(raw, str) else json.dumps(raw)
        parts = _parts(text)
        values = [p if isinstance(p, str) else scope.value(p) for p in parts]
        if len(values) == 1 and isinstance(values[0], Secret):
            plain.append({"name": var, "valueFrom": values[0].manifest()})
            continue
        out: list[str] = []
        for part, value in zip(parts, values, strict=True):
            if isinstance(value, Secret):
                helper = "GE_SECRET_" + _ENV_NAME_UNSAFE.sub("_", "_".join(part[1:]).upper())
                helpers[helper] = {"name": helper, "valueFrom": value.manifest()}
                out.append(f"$({helper})")
            else:
                out.append(_k8s_literal(_as_text(value)))
        plain.append({"name": var, "value": "".join(out)})
    return [helpers[k] for k in sorted(helpers)] + plain


def _probe(probe: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "httpGet" in probe:
        http = probe["httpGet"]
        out["httpGet"] = {k: http[k] for k in ("host", "scheme", "path", "port") if k in http}
    if "exec" in probe:
        out["exec"] = {"command": list(probe["exec"]["command"])}
    return out


class Files:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.items: list[dict[str, Any]] = []

    def add(self, scope: Scope, cname: str, target: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        base = re.sub(r"[^-._a-zA-Z0-9]+", "-", posixpath.basename(target)).strip("-.") or "file"
        key = f"{base[:200]}-{hashlib.sha256(f'{cname}:{target}'.encode()).hexdigest()[:8]}"
        content = spec["content"]
        self.data[key] = scope.text(content) if not spec.get("noExpand") else str(content)
        item: dict[str, Any] = {"key": key, "path": key}
        if spec.get("mode"):
            item["mode"] = int(str(spec["mode"]), 8)
        self.items.append(item)
        return {"name": "files", "mountPath": target, "subPath": key, "readOnly": True}

    def configmap(self, workload: str, labels: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        body = {"data": dict(sorted(self.data.items())), "binaryData": {}}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
        name = stable_name(workload, "files", digest)
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": dict(labels)},
            "data": body["data"],
        }
        items = sorted(self.items, key=lambda i: i["key"])
        return configmap, {"name": "files", "configMap": {"name": name, "items": items}}


def _container(
    scope: Scope, cname: str, container: Mapping[str, Any], policy: Mapping[str, Any], pod: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": cname, "image": scope.text(container["image"])}
    for part in ("command", "args"):
        if container.get(part):
            out[part] = [scope.text(v) for v in container[part]]
    env = _variables(scope, container.get("variables") or {})
    if env:
        out["env"] = env
    if container.get("resources"):
        out["resources"] = copy.deepcopy(container["resources"])
    for probe in ("livenessProbe", "readinessProbe"):
        if container.get(probe):
            out[probe] = _probe(container[probe])
    mounts = [
        pod["files"].add(scope, cname, t, s or {}) for t, s in sorted((container.get("files") or {}).items())
    ]
    for target, spec in sorted((container.get("volumes") or {}).items()):
        name = f"volume-{len(pod['volumes'])}"
        pod["volumes"].append({"name": name, **copy.deepcopy(scope.native(spec["source"]))})
        mounts.append({"name": name, "mountPath": target})
    if mounts:
        out["volumeMounts"] = sorted(mounts, key=lambda m: (m["mountPath"], m["name"]))
    if policy.get("containerSecurityContext"):
        out["securityContext"] = copy.deepcopy(policy["containerSecurityContext"])
    return out


def _workload_objects(
    scope: Scope, name: str, team: str, policy: Resource, namespace: str
) -> list[dict[str, Any]]:
    """The Deployment, its ConfigMap of files and its Service."""
    spec, outputs = scope.spec, policy.outputs
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
    labels = {**selector, "app.kubernetes.io/part-of": team, **MANAGED_BY, **outputs.get("labels", {})}
    pod: dict[str, Any] = {"files": Files(), "volumes": []}
    containers = [
        _container(scope, c, spec["containers"][c], outputs, pod) for c in sorted(spec["containers"])
    ]
    objects: list[dict[str, Any]] = []
    if pod["files"].items:
        configmap, volume = pod["files"].configmap(name, labels)
        objects.append(configmap)
        pod["volumes"].insert(0, volume)
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": bool(outputs["automountServiceAccountToken"]),
        "securityContext": copy.deepcopy(outputs["podSecurityContext"]),
        "containers": containers,
    }
    if pod["volumes"]:
        pod_spec["volumes"] = pod["volumes"]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": outputs["replicas"],
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }
    objects.insert(0, deployment)
    ports = (spec.get("service") or {}).get("ports") or {}
    if ports:
        service_ports = [
            {
                "name": port_name,
                "port": port["port"],
                "targetPort": port.get("targetPort", port["port"]),
                "protocol": port.get("protocol", "TCP"),
            }
            for port_name, port in sorted(ports.items())
        ]
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "labels": dict(labels)},
                "spec": {"selector": dict(selector), "ports": service_ports},
            }
        )
    return objects


def _finish(manifest: Mapping[str, Any], env: Env, namespace: str, team: str) -> dict[str, Any]:
    metadata = dict(manifest.get("metadata") or {})
    labels = {**env.labels, "app.kubernetes.io/part-of": team, **(metadata.get("labels") or {}), **MANAGED_BY}
    metadata["namespace"] = namespace
    metadata["labels"] = dict(sorted(labels.items()))
    ordered = {k: metadata[k] for k in ("name", "namespace", "labels", "annotations") if k in metadata}
    rest = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
    return {"apiVersion": manifest["apiVersion"], "kind": manifest["kind"], "metadata": ordered, **rest}


def _order(obj: Mapping[str, Any]) -> tuple[int, str, str]:
    return (_RANK.get(obj["kind"], len(_RANK)), obj["kind"], obj["metadata"]["name"])


def _resource_order(resources: Mapping[str, Any]) -> list[str]:
    """Dependencies first (a resource whose params name another), otherwise alphabetical."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        params = json.dumps(resources[name].get("params") or {})
        for dep in sorted(set(re.findall(r"\$\{resources\.([^.}]+)", params))):
            visit(dep)
        order.append(name)

    for name in sorted(resources):
        visit(name)
    return order


def render_unit(params: Mapping[str, Any], env_id: str, lookup: Lookup) -> list[dict[str, Any]]:
    """Every object of one workload in one environment, ordered as gitops-engine's manifest.yaml orders them."""
    platform, name, team = params["platform"], params["name"], params["team"]
    given = platform["environments"][env_id]
    namespace = (
        given["namespace"].replace("{env}", env_id).replace("{team}", team).replace("{workload}", name)
    )
    env = Env(env_id, given["type"], namespace, dict(given["labels"]), dict(given["values"]))
    spec = copy.deepcopy(dict(params["score"]))
    override = (params.get("overrides") or {}).get(env_id)
    if override:
        spec = deep_merge(spec, override)
    scope = Scope(spec)
    chosen = platform["definitions"]
    context = {"env": env, "workload": name, "team": team, "lookup": lookup}
    resources = spec.get("resources") or {}
    for res_name in _resource_order(resources):
        request = resources[res_name]
        definition = chosen[request["type"]][env_id]
        uid = stable_name(name, res_name)
        res_params = scope.native(request.get("params") or {})
        if definition in platform["static"]:
            scope.resources[res_name] = Resource(uid, _secrets(platform["static"][definition]), [])
        else:
            scope.resources[res_name] = DEFINITIONS[definition](uid=uid, params=res_params, **context)
    policy = DEFINITIONS[chosen["workload"][env_id]](uid=name, params={}, **context)
    objects = _workload_objects(scope, name, team, policy, namespace)
    for res_name in _resource_order(resources):
        objects.extend(copy.deepcopy(scope.resources[res_name].manifests))
    objects.extend(policy.manifests)
    return sorted((_finish(o, env, namespace, team) for o in objects), key=_order)


def render_target(params: Mapping[str, Any], lookup: Lookup) -> dict[str, list[dict[str, Any]]]:
    """The target's output files: `<env>/manifest` (Kapitan adds `.yaml`), a multi-document YAML stream each."""
    return {f"{env_id}/manifest": render_unit(params, env_id, lookup) for env_id in params["render"]}


def main() -> dict[str, list[dict[str, Any]]]:
    """kadet's entry point: this target's parameters, other targets' through the global inventory."""
    from kapitan.inputs.kadet import inventory, inventory_global  # type: ignore[import-not-found]

    params = inventory().parameters.to_dict()
    everything = inventory_global()
    target_of = params["target_of"]

    def lookup(workload: str, env_id: str) -> Mapping[str, Any]:
        other = everything[target_of.replace("{workload}", workload).replace("{env}", env_id)].parameters
        given = params["platform"]["environments"][env_id]["namespace"]
        namespace = (
            given.replace("{env}", env_id).replace("{team}", other.team).replace("{workload}", workload)
        )
        return {"namespace": namespace, "service": other.score.service.to_dict()}

    return render_target(params, lookup)

"""Validate rendered Kubernetes objects against the Kubernetes 1.30 API schemas (shared by the tests).

Built-in kinds are checked against the strict OpenAPI-derived JSON schemas that the `kubernetes-validate` package
ships (no unknown fields), plus a few rules the API server enforces that the schemas cannot express (names,
label syntax, selectors that match their pod template); namespaced objects must name their namespace, since
Argo CD and Flux apply rendered files without a default one. Custom resources (Gateway API, External Secrets, Strimzi,
ACK…) have no schema here, so they are checked for well-formedness only.

`kubernetes_validate.validate()` builds a new validator on every call (~6.6 ms); here the schema catalog is read
once and one validator per (apiVersion, kind) is built on first use and cached.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

KUBERNETES_VERSION = "1.30"
SCHEMA_DIR = f"v{KUBERNETES_VERSION}.0-local-strict"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

# apimachinery's validation patterns (k8s.io/apimachinery/pkg/util/validation).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_ENV_VAR_NAME = re.compile(
    r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
)  # 1.30 without RelaxedEnvironmentVariableValidation
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CR_VERSION = re.compile(r"^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_CR_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec"})
_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# Built-in kinds that live outside namespaces (kubectl api-resources --namespaced=false, the ones a repo would hold).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "CustomResourceDefinition",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "CSIDriver",
        "APIService",
        "FlowSchema",
        "PriorityLevelConfiguration",
    }
)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~6x faster over the whole rendered tree


class _Catalog:
    """The Kubernetes API schemas of one version: which (apiVersion, kind) exist, and a validator for each."""

    def __init__(self) -> None:
        self.root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_DIR
        definitions = json.loads((self.root / "_definitions.json").read_text(encoding="utf-8"))
        self.definitions_id: str = definitions["$id"]
        self.registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
        self.kinds: dict[tuple[str, str], str] = {}  # (apiVersion, kind) -> definition name
        self.groups: set[str] = set()
        for name, schema in definitions["$defs"].items():
            for gvk in schema.get("x-kubernetes-group-version-kind", ()):
                api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                self.kinds.setdefault((api_version, gvk["kind"]), name)
                self.groups.add(gvk["group"])
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}

    def validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator:
        key = (api_version, kind)
        if key not in self._validators:
            self._validators[key] = jsonschema.Draft202012Validator(
                self._schema(api_version, kind), registry=self.registry
            )
        return self._validators[key]

    def _schema(self, api_version: str, kind: str) -> Any:
        # The per-kind file, named the way kubernetes_validate.validate() names it ("networking.k8s.io/v1" ->
        # "networking-v1"), also pins apiVersion and kind with an enum; the collapsed group name is ambiguous, so
        # the catalog (from the definitions' group-version-kind) decides whether the kind exists at all.
        collapsed = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        path = self.root / f"{kind.lower()}-{collapsed}.json"
        if path.is_file():
            schema = json.loads(path.read_text(encoding="utf-8"))
            if api_version in schema["properties"]["apiVersion"].get("enum", [api_version]):
                return schema
        return {"$ref": f"{self.definitions_id}#/$defs/{self.kinds[(api_version, kind)]}"}

    def meta_validator(self) -> jsonschema.protocols.Validator:
        key = ("meta", "ObjectMeta")
        if key not in self._validators:
            schema = {"$ref": f"{self.definitions_id}#/$defs/{_OBJECT_META}"}
            self._validators[key] = jsonschema.Draft202012Validator(schema, registry=self.registry)
        return self._validators[key]


@functools.cache
def _catalog() -> _Catalog:
    return _Catalog()


def is_builtin(api_version: str, kind: str) -> bool:
    """Whether Kubernetes 1.30 serves this kind at this apiVersion (a built-in, not a custom resource)."""
    return (api_version, kind) in _catalog().kinds


def validate_object(obj: Any) -> list[str]:
    """Problems with one Kubernetes object (empty when it is valid); each names the field path."""
    if not isinstance(obj, Mapping):
        return [f"not a mapping but {type(obj).__name__}"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return ["apiVersion and kind must be strings"]
    catalog = _catalog()
    if is_builtin(api_version, kind):
        problems = _schema_problems(catalog.validator(api_version, kind), obj)
        problems += _server_side_problems(obj)
        return problems
    group = api_version.rpartition("/")[0]
    if group in catalog.groups or "/" not in api_version:
        return [f"{kind} {api_version} is not served by Kubernetes {KUBERNETES_VERSION}"]
    return _custom_resource_problems(obj)


def validate_tree(root: Path) -> dict[str, list[str]]:
    """Problems of every manifest file under `root` (path relative to `root` -> problems); empty when all valid.

    Files other than .yaml/.yml/.json (such as gitops-engine.lock) are not applied by Argo CD or Flux and are
    skipped. A file may hold several documents."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in MANIFEST_SUFFIXES:
            continue
        rel = path.relative_to(root).as_posix()
        try:
            documents = _documents(path)
        except yaml.YAMLError as exc:
            found[rel] = [f"not YAML: {exc}"]
            continue
        problems = [
            f"document {i}: {p}" if len(documents) > 1 else p
            for i, document in enumerate(documents)
            for p in validate_object(document)
        ]
        if problems:
            found[rel] = problems
    return found


def load_objects(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every manifest under `root`: path relative to `root` -> its documents."""
    return {
        path.relative_to(root).as_posix(): _documents(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in MANIFEST_SUFFIXES
    }


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _documents(path: Path) -> list[Any]:
    return [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_LOADER) if d is not None]


def _schema_problems(validator: jsonschema.protocols.Validator, obj: Any, prefix: str = "") -> list[str]:
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{prefix}{_path(e.absolute_path) or '(top)'}: {e.message}" for e in errors]


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _metadata_problems(
    metadata: Any, *, name_rule: re.Pattern[str], name_rule_text: str, namespaced: bool = True
) -> list[str]:
    if not isinstance(metadata, Mapping):
        return ["metadata: must be a mapping"]
    problems: list[str] = []
    name = metadata.get("name")
    if not isinstance(name, str) or not name_rule.match(name) or len(name) > 253:
        problems.append(f"metadata.name: {name!r} is not a {name_rule_text}")
    namespace = metadata.get("namespace")
    if not namespaced:
        if namespace is not None:
            problems.append("metadata.namespace: must not be set on a cluster-scoped kind")
    elif not isinstance(namespace, str) or not _DNS_LABEL.match(namespace) or len(namespace) > 63:
        problems.append(f"metadata.namespace: {namespace!r} must be set to a DNS label")
    for field in ("labels", "annotations"):
        for key, value in (metadata.get(field) or {}).items():
            if not _qualified_name_ok(key):
                problems.append(f"metadata.{field}: key {key!r} is not a qualified name")
            if field == "labels" and (
                not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value)
            ):
                problems.append(f"metadata.labels.{key}: value {value!r} is not a valid label value")
    return problems


def _qualified_name_ok(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_QUALIFIED_NAME.match(name))


def _custom_resource_problems(obj: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    api_version, kind = obj["apiVersion"], obj["kind"]
    group, _, version = api_version.rpartition("/")
    if "." not in group or not _DNS_SUBDOMAIN.match(group) or not _CR_VERSION.match(version):
        problems.append(f"apiVersion: {api_version!r} is not <group with a dot>/<version like v1beta2>")
    if not _KIND.match(kind):
        problems.append(f"kind: {kind!r} is not a CamelCase kind")
    unknown = sorted(set(obj) - _CR_TOP_LEVEL)
    if unknown:
        problems.append(
            f"(top): unexpected fields {unknown} (a rendered custom resource has only {sorted(_CR_TOP_LEVEL)})"
        )
    problems += _metadata_problems(
        obj.get("metadata"), name_rule=_DNS_SUBDOMAIN, name_rule_text="DNS subdomain"
    )
    problems += _schema_problems(_catalog().meta_validator(), obj.get("metadata"), prefix="metadata.")
    if not isinstance(obj.get("spec"), Mapping):
        problems.append("spec: must be a mapping")
    return problems


def _server_side_problems(obj: Mapping[str, Any]) -> list[str]:
    """Rules the API server enforces beyond the OpenAPI schema, for the kinds a renderer produces."""
    kind = obj["kind"]
    # Services (and their DNS names) need DNS-1035 labels; most other kinds take DNS subdomains.
    if kind == "Service":
        rule, text = _DNS_1035_LABEL, "DNS-1035 label (at most 63 characters)"
    else:
        rule, text = _DNS_SUBDOMAIN, "DNS subdomain"
    problems = _metadata_problems(
        obj.get("metadata"), name_rule=rule, name_rule_text=text, namespaced=kind not in CLUSTER_SCOPED
    )
    name = (obj.get("metadata") or {}).get("name")
    if kind == "Service" and isinstance(name, str) and len(name) > 63:
        problems.append(f"metadata.name: {name!r} is longer than 63 characters")
    spec = obj.get("spec") or {}
    if kind in _WORKLOAD_KINDS:
        template = spec.get("template") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        if kind != "Job" and (not selector or any(pod_labels.get(k) != v for k, v in selector.items())):
            problems.append("spec.selector: does not match spec.template.metadata.labels")
        claims = {(c.get("metadata") or {}).get("name") for c in spec.get("volumeClaimTemplates") or []}
        problems += _pod_problems(template.get("spec") or {}, "spec.template.spec", claims)
    if kind == "Service":
        for i, port in enumerate(spec.get("ports") or []):
            port_name = port.get("name")
            if port_name is not None and not (_DNS_LABEL.match(port_name) and len(port_name) <= 63):
                problems.append(f"spec.ports[{i}].name: {port_name!r} is not a DNS label")
        if len(spec.get("ports") or []) > 1 and any("name" not in p for p in spec["ports"]):
            problems.append("spec.ports: every port needs a name when there are several")
    if kind == "ConfigMap":
        for field in ("data", "binaryData"):
            for key in obj.get(field) or {}:
                if not _CONFIG_KEY.match(key) or len(key) > 253:
                    problems.append(f"{field}: key {key!r} is not a valid ConfigMap key")
    return problems


def _pod_problems(pod: Mapping[str, Any], where: str, claims: set[Any]) -> list[str]:
    problems: list[str] = []
    containers = [("containers", c) for c in pod.get("containers") or []]
    containers += [("initContainers", c) for c in pod.get("initContainers") or []]
    names = [c.get("name") for _, c in containers]
    if len(set(names)) != len(names):
        problems.append(f"{where}: container names are not unique: {names}")
    volumes = {v.get("name") for v in pod.get("volumes") or []}
    if len(volumes) != len(pod.get("volumes") or []):
        problems.append(f"{where}.volumes: names are not unique")
    for volume in volumes:
        if not isinstance(volume, str) or not _DNS_LABEL.match(volume):
            problems.append(f"{where}.volumes: name {volume!r} is not a DNS label")
    for field, container in containers:
        at = f"{where}.{field}[{container.get('name')}]"
        if not isinstance(container.get("name"), str) or not _DNS_LABEL.match(container["name"]):
            problems.append(f"{at}.name: not a DNS label")
        for port in container.get("ports") or []:
            port_name = port.get("name")
            if port_name is not None and not _iana_svc_name_ok(port_name):
                problems.append(
                    f"{at}.ports: name {port_name!r} is not an IANA service name (<= 15 characters)"
                )
        for env in container.get("env") or []:
            if not _ENV_VAR_NAME.match(str(env.get("name"))):
                problems.append(f"{at}.env: name {env.get('name')!r} is not a valid variable name")
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") not in volumes | claims:
                problems.append(f"{at}.volumeMounts: {mount.get('name')!r} is not a volume of the pod")
    return problems


def _iana_svc_name_ok(name: str) -> bool:
    return (
        len(name) <= 15
        and bool(_IANA_SVC_NAME.match(name))
        and "--" not in name
        and any(c.isalpha() for c in name)
    )

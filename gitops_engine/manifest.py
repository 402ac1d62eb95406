"""The layout of a rendered unit folder: `manifest.yaml` (every object, one YAML stream) beside the lock.

As Argo CD's Source Hydrator writes `manifest.yaml` beside `hydrator.metadata`, each unit folder
(`rendered/<env>/<team>/<workload>/`, `rendered/<env>/_shared/<resource>/`) holds one `manifest.yaml` with every
object of the unit and `gitops-engine.lock` (provenance). A unit that renders no object has no `manifest.yaml`.

Objects are named by their key, `<Kind>/<name>` (unique in a unit), and ordered by `INSTALL_ORDER` (the order Helm
and Argo CD install kinds in: namespaces and policies, accounts, secrets and configuration, storage, RBAC, services,
workloads, autoscalers, jobs, ingresses), other kinds after them by kind, then by name. Each document starts with
`---`; its text is exactly what the engine dumped for the object, so splitting the stream at `---` lines gives every
object back byte for byte.

Folders rendered by engines before render version 3 held one file per object, `<kind in lower case>-<name>.yaml`
(the lock named them the same way); `object_id` reads both, so clash checks and upgrades compare like with like.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gitops_engine.model import LOCK_FILE

MANIFEST_FILE = "manifest.yaml"
SEPARATOR = b"---\n"

INSTALL_ORDER = (
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
)
_RANK = {kind: index for index, kind in enumerate(INSTALL_ORDER)}
_KIND_LINE = re.compile(rb"^kind: *['\"]?([^'\"\n]*?)['\"]? *$", re.MULTILINE)
_NAME_LINE = re.compile(rb"^metadata:\n(?:  [^\n]*\n)*?  name: *['\"]?([^'\"\n]*?)['\"]? *$", re.MULTILINE)


def object_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def order_key(key: str) -> tuple[int, str, str]:
    kind, _, name = key.partition("/")
    return (_RANK.get(kind, len(_RANK)), kind, name)


def object_id(key: str) -> str:
    """A key that compares equal across layouts: `<kind in lower case>/<name>`, from a key (`Deployment/api`) or
    from an older engine's file name (`deployment-api.yaml`)."""
    if "/" in key:
        kind, _, name = key.partition("/")
        return f"{kind.lower()}/{name}"
    kind, _, name = key.removesuffix(".yaml").partition("-")
    return f"{kind}/{name}"


def kind_of(key: str) -> str:
    """The kind in lower case, from a key or an older engine's file name."""
    return object_id(key).partition("/")[0]


def legacy_file_name(key: str) -> str:
    """The file an engine before render version 3 wrote the object to."""
    kind, _, name = key.partition("/")
    return f"{kind.lower()}-{name}.yaml"


def is_legacy_object_file(name: str) -> bool:
    """A per-object file of the layout before render version 3 (anything in a unit folder but the two files)."""
    return name not in (MANIFEST_FILE, LOCK_FILE)


def join_manifest(documents: Mapping[str, bytes]) -> bytes:
    """The stream of `documents` (key -> the object's YAML), in the documented order."""
    return b"".join(SEPARATOR + documents[key] for key in sorted(documents, key=order_key))


def split_manifest(data: bytes) -> list[bytes]:
    """The documents of a stream, each without its `---` line (text before the first `---` is a document too):
    split at every line of `---` and spaces or tabs, as `re.split(rb"^---[ \t]*(?:\n|$)", data, flags=re.M)`
    splits, found with `bytes.find` (that regex tries every position of a manifest: ~6x slower)."""
    parts: list[bytes] = []
    start, size = 0, len(data)
    at = 0 if data.startswith(b"---") else _line_starting(data, b"---", 0)
    while at >= 0:
        end = at + 3
        while end < size and data[end] in b" \t":
            end += 1
        if end == size or data[end] == 0x0A:  # a separator line
            parts.append(data[start:at])
            start = min(end + 1, size)
            at = _line_starting(data, b"---", end)
        else:
            at = _line_starting(data, b"---", at)
    parts.append(data[start:])
    return [part for part in parts if part.strip()]


def _line_starting(data: bytes, text: bytes, after: int) -> int:
    """Where the first line after position `after` that starts with `text` starts; -1 when none does."""
    found = data.find(b"\n" + text, after)
    return found + 1 if found >= 0 else -1


def document_key(document: bytes) -> str | None:
    """`<Kind>/<name>` of one document as the engine dumps objects (None when it does not say)."""
    kind = _KIND_LINE.search(document)
    name = _NAME_LINE.search(document)
    if kind is None or name is None or not kind.group(1) or not name.group(1):
        return None
    return object_key(kind.group(1).decode("utf-8", "replace"), name.group(1).decode("utf-8", "replace"))


@dataclass(frozen=True)
class ObjectChange:
    """One object of a unit in one environment that differs: None for a side where it does not exist."""

    key: str
    old: bytes | None
    new: bytes | None


def objects_of(files: Iterable[tuple[str, bytes]]) -> dict[str, bytes]:
    """Object key -> document, from the files of a unit folder (name, content): `manifest.yaml` split by
    document, an older engine's per-object files one document each; the lock aside. A document that names no kind
    and name is kept under `document <n> of <file>`, so nothing is lost from a diff."""
    out: dict[str, bytes] = {}
    for file_name, content in files:
        if file_name == LOCK_FILE:
            continue
        documents = split_manifest(content) if file_name == MANIFEST_FILE else [content]
        for index, document in enumerate(documents, 1):
            key = document_key(document) or f"document {index} of {file_name}"
            out.setdefault(key, document)
    return out


def object_changes(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> list[ObjectChange]:
    """The objects that differ between two sets, in the documented order."""
    keys = sorted(set(old) | set(new), key=order_key)
    return [ObjectChange(key, old.get(key), new.get(key)) for key in keys if old.get(key) != new.get(key)]

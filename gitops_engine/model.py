"""Typed records of a platform repo. Raw dicts stop at the loader; everything past it sees these."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_engine.errors import UsageError

# Re-exported for callers of the model; names.py is their home.
from gitops_engine.names import DNS_LABEL as DNS_LABEL
from gitops_engine.names import DNS_SUBDOMAIN as DNS_SUBDOMAIN
from gitops_engine.names import SHARED_FOLDER as SHARED_FOLDER
from gitops_engine.names import is_dns_label as is_dns_label
from gitops_engine.yamlio import Document

DEFAULT_CLASS = "default"
WORKLOAD_TYPE = "workload"
LOCK_FILE = "gitops-engine.lock"


def split_workload_key(key: str) -> tuple[str, str]:
    """TEAM/NAME as (team, name), both DNS labels; a UsageError otherwise (a command-line argument)."""
    team, slash, name = key.partition("/")
    if not slash or not is_dns_label(team) or not is_dns_label(name):
        raise UsageError(
            f"{key!r} is not TEAM/NAME: give the team and workload folder names, lower-case letters, digits and '-'"
        )
    return team, name


# A container image reference, as the OCI distribution reference grammar defines it (the grammar of
# github.com/distribution/reference): [domain[:port]/]path[:tag][@digest], path components lower-case.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?\Z")


def is_image_reference(image: str) -> bool:
    """True for a valid image reference (name at most 255 characters, as the grammar limits it)."""
    match = IMAGE_REFERENCE.match(image)
    return match is not None and len(match["name"]) <= 255


@dataclass(frozen=True)
class Settings:
    """`platform.yaml`."""

    path: str
    blob: str
    environments: tuple[str, ...]
    forge: str = "local"
    labels: tuple[str, ...] = ("gitops-engine",)
    max_per_run: int = 50
    max_per_hour: int = 400
    max_file_bytes: int = 262_144
    # One template evaluation's budget (see templating.TemplateLimits and docs/security.md).
    template_steps: int = 20_000
    template_seconds: float = 5.0
    template_output_chars: int = 1_000_000
    merge_method: str = "squash"  # how auto-merge pull requests land: merge, squash or rebase
    group_by: str = "workload"  # one pull request per workload, or per team and wave ("team")
    dashboard: bool = True  # keep the rollout dashboard issue (see gitops_engine.dashboard)


@dataclass(frozen=True)
class Environment:
    """`environments/<id>.yaml`."""

    id: str
    type: str
    namespace_rule: str
    labels: Mapping[str, str]
    values: Mapping[str, Any]
    path: str
    blob: str
    rollout_mode: str = "pull-request"  # direct | pull-request | automerge (definition changes only)
    after: tuple[str, ...] = ()  # environments that must be live for a unit before this one gets a change

    @functools.cached_property
    def fingerprint(self) -> str:
        """What a unit's lock records for the environment file: a digest of what rendering reads of it (see
        environment_fingerprint), so that an edit of its rollout settings or its comments re-renders nothing."""
        return environment_fingerprint(self.id, self.type, self.namespace_rule, self.labels, self.values)

    def namespace_for(self, team: str, workload: str) -> str:
        return (
            self.namespace_rule.replace("{env}", self.id)
            .replace("{team}", team)
            .replace("{workload}", workload)
        )


# How a lock's fingerprint of an environment file starts (a blob id never does).
ENVIRONMENT_FINGERPRINT = "sha256:"


def environment_fingerprint(
    env_id: str, env_type: str, namespace_rule: str, labels: Mapping[str, Any], values: Mapping[str, Any]
) -> str:
    """The digest of what rendering reads of an environment file: its id, type, namespace rule, labels and values,
    in the file's order (a template iterating over values sees that order). Its rollout settings and its comments
    are not in it. Values YAML types JSON lacks (dates) are written with their type, so no two values collide."""
    read = [env_id, env_type, namespace_rule, labels, values]
    text = json.dumps(read, ensure_ascii=False, separators=(",", ":"), default=_typed_text)
    return ENVIRONMENT_FINGERPRINT + hashlib.sha256(text.encode()).hexdigest()


def _typed_text(value: object) -> dict[str, str]:
    return {f"!{type(value).__name__}": str(value)}


@dataclass(frozen=True)
class Criterion:
    class_: str | None = None
    env_type: str | None = None
    env: str | None = None
    team: str | None = None
    workload: str | None = None
    res_id: str | None = None

    @property
    def specificity(self) -> tuple[bool, bool, bool, bool, bool]:
        """Compared lexicographically: res_id > workload > team > env > env_type (class filters, never ranks)."""
        return (
            self.res_id is not None,
            self.workload is not None,
            self.team is not None,
            self.env is not None,
            self.env_type is not None,
        )


@dataclass(frozen=True)
class Definition:
    """`definitions/<type>/<id>.yaml`."""

    id: str
    type: str
    description: str
    criteria: tuple[Criterion, ...]
    driver: str  # "template" | "static"
    path: str
    blob: str
    document: Document = field(compare=False, repr=False)
    template_outputs: str | None = None
    template_manifests: str | None = None
    static_outputs: Mapping[str, Any] | None = None
    static_manifests: tuple[Mapping[str, Any], ...] = ()
    secret_outputs: tuple[
        str, ...
    ] = ()  # `secretOutputs`: outputs that must be secretKeyRefs, besides password
    declared_version: str | None = None  # the file's optional `version:` (see gitops_engine.versions)

    @property
    def version(self) -> str:
        """Short content hash: what `usage` and pull requests call a definition's version."""
        return self.blob[:12]


@dataclass(frozen=True)
class Workload:
    """One Score file and its folder `workloads/<team>/<name>/`."""

    team: str
    name: str
    path: str  # the Score file
    folder: str  # "workloads/<team>/<name>"
    document: Document = field(compare=False, repr=False)
    files: Mapping[str, str] = field(default_factory=dict)  # every file in the folder: path -> blob id
    overrides: Mapping[str, Document] = field(default_factory=dict)  # env id -> override document

    @property
    def key(self) -> str:
        return f"{self.team}/{self.name}"

    @property
    def spec(self) -> Mapping[str, Any]:
        data: Mapping[str, Any] = self.document.data
        return data


@dataclass(frozen=True)
class ResourceRequest:
    """A resource as a workload asks for it (Score `resources.<name>`)."""

    name: str
    type: str
    class_: str
    id: str | None  # Score `id`: set for shared resources
    params: Mapping[str, Any]
    metadata: Mapping[str, Any]

    @property
    def shared(self) -> bool:
        return self.id is not None

    @property
    def res_id(self) -> str:
        return self.id if self.id is not None else self.name


@dataclass(frozen=True)
class SecretRef:
    """A secret output: a reference to a key of a Kubernetes Secret, never its value."""

    name: str
    key: str

    def as_manifest(self) -> dict[str, dict[str, str]]:
        return {"secretKeyRef": {"name": self.name, "key": self.key}}

"""The records a render hands around: a resolved resource, a rendered unit, a unit's failure and its inputs.

Also the few naming rules every part of a render shares (unit folders, shared units, stable object names).
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from gitops_engine.errors import Finding, InputError
from gitops_engine.model import SHARED_FOLDER, Definition, Environment, ResourceRequest


def unit_folder(env: str, unit: str) -> str:
    """Where a unit's files are, as found or planned (names.unit_folder checks a folder about to be written)."""
    return f"rendered/{env}/{unit}"


def shared_unit(res_id: str) -> str:
    return f"{SHARED_FOLDER}/{res_id}"


def shared_namespace(env: Environment, res_id: str) -> str:
    """Where a shared resource's objects go: the namespace rule with team "shared" and the id as workload."""
    return env.namespace_for(SHARED_FOLDER.strip("_"), res_id)


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
    """A resource with the definition that provides it, that definition's outputs and the objects it adds."""

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


class Inputs:
    """Records every file a render reads, with its blob id (an environment file: its fingerprint, see
    model.environment_fingerprint): the unit's provenance."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.lookups: dict[str, str] = {}  # "team/name" looked up -> fingerprint of what it told us

    def add(self, path: str, version: str) -> None:
        self.files[path] = version


def with_unit(finding: Finding, unit: str) -> Finding:
    """The finding, naming `unit` when it names none."""
    if finding.unit:
        return finding
    return Finding(finding.path, finding.line, finding.column, finding.message, finding.severity, unit)


def copy_data(value: Any) -> Any:
    """copy.deepcopy for plain data (dicts, lists, scalars), several times faster; anything else is deep-copied."""
    kind = type(value)
    if kind is dict:
        return {k: copy_data(v) for k, v in value.items()}
    if kind is list:
        return [copy_data(v) for v in value]
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    return copy.deepcopy(value)

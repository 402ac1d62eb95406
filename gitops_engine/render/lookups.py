"""`lookup_workload`, the function templates call to learn another workload's address and ports, and who is to
blame when a lookup asks for something that does not exist."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gitops_engine.errors import Finding, InputError, did_you_mean
from gitops_engine.loading import Snapshot
from gitops_engine.model import Environment, ResourceRequest, Workload
from gitops_engine.render.overrides import EffectiveSpecs, workload_finding
from gitops_engine.render.records import Inputs, sha256_hex
from gitops_engine.templating import TemplateFailure


def resolve_workload_name(snapshot: Snapshot, name: str, team: str | None) -> list[str]:
    """The workloads `lookup_workload(name)` may mean, asked from a workload of `team` (None: a shared resource).
    `team/name` is exact; a bare name is the caller's own team's workload when it has one, else any team's."""
    if "/" in name:
        return [name] if name in snapshot.workload_paths else []
    keys = [k for k in snapshot.workload_by_name(name) if k in snapshot.workload_paths]
    own = f"{team}/{name}"
    return [own] if team is not None and own in keys else keys


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


class Lookups:
    """`lookup_workload` for one template run: resolves names as resolve_workload_name does and records what each
    call returned in the unit's provenance, under the name as asked (what staleness recomputes)."""

    def __init__(
        self, snapshot: Snapshot, specs: EffectiveSpecs, env: Environment, inputs: Inputs, team: str | None
    ) -> None:
        self.snapshot = snapshot
        self.specs = specs
        self.env = env
        self.inputs = inputs
        self.team = team
        self.misses: list[tuple[str, str, list[str]]] = []  # (workload, port name, its ports)

    def lookup(self, name: str) -> dict[str, Any]:
        """Another workload's address and ports (for service-port definitions)."""
        if not isinstance(name, str):
            raise TemplateFailure(f"lookup_workload expects a workload name, got {name!r}")
        snapshot = self.snapshot
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
        result = describe_workload(other, self.env, self.specs.get(other, self.env.id))
        # Record what was read, not the other workload's files: its image bumps must not make this unit stale.
        self.inputs.lookups[name] = lookup_fingerprint(result)
        return {**result, "ports": _Ports(other.key, result["ports"], self.misses)}


@dataclass
class Caller:
    """Who runs a definition (the workload and its resource in an environment): told about mistakes in its params."""

    workload: Workload | None
    request: ResourceRequest
    env: Environment
    lookups: Lookups

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
        finding = workload_finding(
            self.workload,
            self.env.id,
            where,
            f"resource {self.request.name!r} ({self.request.type}) of {self.workload.key}: {mistake.message}; "
            f"{second}",
            unit,
        )
        return replace(finding, environments=(self.env.id,))

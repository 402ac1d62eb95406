"""Environment overrides (`overrides.<env>.yaml`): the spec a workload has in an environment, and which file a
finding about one of its fields belongs in."""

from __future__ import annotations

import copy
from typing import Any

from gitops_engine.errors import Finding
from gitops_engine.model import Workload
from gitops_engine.render.records import UnitFailure
from gitops_engine.schema import validate_document
from gitops_engine.yamlio import Document


def deep_merge(base: Any, override: Any) -> Any:
    """Score-style override: mappings merge recursively, None deletes a key, anything else replaces."""
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


def _path_in(data: Any, where: tuple[str | int, ...]) -> bool:
    current = data
    for part in where:
        if isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return False
    return True


def workload_finding(
    workload: Workload, env_id: str, where: tuple[str | int, ...], message: str, unit: str
) -> Finding:
    """A finding at `where` in the workload's Score file, or in its override for `env_id` when that sets it."""
    override = workload.overrides.get(env_id)
    document = override if override is not None and _path_in(override.data, where) else workload.document
    return document.finding(where, message, unit=unit)


class EffectiveSpecs:
    """Each workload's Score spec with its environment's override deep-merged onto it, validated again if changed;
    computed once per workload and environment."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, workload: Workload, env_id: str) -> dict[str, Any]:
        cache_key = (workload.key, env_id)
        if cache_key in self._cache:
            return self._cache[cache_key]
        spec: dict[str, Any] = dict(workload.spec)
        override = workload.overrides.get(env_id)
        if override is not None and override.data:
            merged = deep_merge(copy.deepcopy(spec), override.data)
            problems = validate_document(
                "score", Document(override.path, override.text, merged), unit=workload.key
            )
            if problems:
                # Positions are looked up in the override's text (the nearest key it sets): the likely culprit.
                raise UnitFailure(
                    workload.key,
                    [
                        Finding(
                            override.path,
                            p.line,
                            p.column,
                            f"after merging this override: {p.message}",
                            unit=workload.key,
                        )
                        for p in problems
                    ],
                )
            spec = merged
        self._cache[cache_key] = spec
        return spec

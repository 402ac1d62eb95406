"""Score `volumes`: each mount's source (a volume resource's `source` output) becomes a pod volume."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gitops_engine.placeholders import PlaceholderError, Reference, tokenize
from gitops_engine.render.context import Where, WorkloadContext
from gitops_engine.render.convert.forms import by_target
from gitops_engine.render.records import ResolvedResource


def volume_mounts(
    ctx: WorkloadContext,
    cname: str,
    container: Mapping[str, Any],
    by_name: Mapping[str, ResolvedResource],
    volumes: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Add the container's volumes to the pod's `volumes` (named by position); their mounts."""
    mounts: list[dict[str, Any]] = []
    for target, volume_spec in by_target(container.get("volumes")):
        where = ("containers", cname, "volumes", target)
        source = _volume_source(ctx, volume_spec.get("source"), by_name, where)
        volume_name = f"volume-{len(volumes)}"
        volumes.append({"name": volume_name, **source})
        mount: dict[str, Any] = {"name": volume_name, "mountPath": target}
        if volume_spec.get("path"):
            mount["subPath"] = volume_spec["path"]
        if volume_spec.get("readOnly"):
            mount["readOnly"] = True
        mounts.append(mount)
    return mounts


def _volume_source(
    ctx: WorkloadContext, source: Any, by_name: Mapping[str, ResolvedResource], where: Where
) -> dict[str, Any]:
    if not isinstance(source, str):
        raise ctx.fail(where, "a volume needs a source such as ${resources.data}")
    try:
        tokens = tokenize(source)
    except PlaceholderError as exc:
        raise ctx.fail((*where, "source"), str(exc)) from None
    if len(tokens) == 1 and isinstance(tokens[0], Reference):
        try:
            value = ctx.resolve(tokens[0], by_name, secrets_ok=False)
        except PlaceholderError as exc:
            raise ctx.fail((*where, "source"), f"volume source: {exc}") from None
    elif source in by_name:  # Score's older form: the bare resource name
        value = by_name[source].outputs.get("source")
    else:
        raise ctx.fail(
            (*where, "source"),
            f"volume source {source!r} must be a volume resource like ${{resources.data}}",
        )
    if not isinstance(value, dict) or len(value) != 1:
        raise ctx.fail(
            (*where, "source"),
            f"volume source {source!r} must resolve to one Kubernetes volume source (a mapping such as "
            f"{{persistentVolumeClaim: {{claimName: x}}}}), got {value!r}: check the volume definition's 'source' output",
        )
    return copy.deepcopy(value)

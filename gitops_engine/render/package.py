"""A unit's files: its objects as one manifest, and the lock (`gitops-engine.lock`) recording its provenance."""

from __future__ import annotations

from typing import Any

from gitops_engine import RENDER_VERSION, names
from gitops_engine.errors import Finding
from gitops_engine.lock import lock_bytes
from gitops_engine.manifest import MANIFEST_FILE, join_manifest, object_key
from gitops_engine.model import LOCK_FILE, Environment
from gitops_engine.render.records import (
    Inputs,
    RenderedUnit,
    ResolvedResource,
    UnitFailure,
    sha256_hex,
    unit_folder,
)
from gitops_engine.yamlio import Document, dump


def package(
    unit: str,
    env: Environment,
    objects: list[dict[str, Any]],
    inputs: Inputs,
    resolved: list[ResolvedResource],
    namespace: str,
    *,
    workload_document: Document | None = None,
    request_fingerprint: str | None = None,
) -> RenderedUnit:
    """The unit's files from its finished objects; two objects of one kind and name fail the unit."""
    names.unit_folder(env.id, unit)  # checked: it becomes a folder and a branch
    documents: dict[str, bytes] = {}
    for obj in objects:
        key = object_key(str(obj["kind"]), str(obj["metadata"]["name"]))
        if key in documents:
            raise UnitFailure(
                unit,
                [
                    Finding(
                        workload_document.path if workload_document else env.path,
                        0,
                        0,
                        f"two objects are {key.replace('/', ' ')} in {unit_folder(env.id, unit)}: a definition or "
                        "the workload creates the same kind and name twice",
                        unit=unit,
                    )
                ],
            )
        documents[key] = dump(obj).encode()
    provenance = _provenance(unit, env, namespace, inputs, resolved, documents)
    if request_fingerprint:
        provenance["request"] = request_fingerprint
    files = {LOCK_FILE: lock_bytes(provenance)}
    if documents:
        files[MANIFEST_FILE] = join_manifest(documents)
    return RenderedUnit(
        unit=unit, env=env.id, files=dict(sorted(files.items())), provenance=provenance, resources=resolved
    )


def _provenance(
    unit: str,
    env: Environment,
    namespace: str,
    inputs: Inputs,
    resolved: list[ResolvedResource],
    documents: dict[str, bytes],
) -> dict[str, Any]:
    return {
        "engine": RENDER_VERSION,
        "unit": unit,
        "environment": env.id,
        "namespace": namespace,
        "inputs": dict(sorted(inputs.files.items())),
        "lookups": dict(sorted(inputs.lookups.items())),
        "resources": [
            {
                "name": r.request.name,
                "type": r.request.type,
                "class": r.request.class_,
                "res_id": r.request.res_id,
                "shared": r.request.shared,
                "definition": r.definition.id,
                "definition_path": r.definition.path,
                "version": r.definition.version,
                "depends_on": list(r.depends_on),
            }
            for r in resolved
        ],
        "manifests": {key: sha256_hex(content) for key, content in sorted(documents.items())},
    }

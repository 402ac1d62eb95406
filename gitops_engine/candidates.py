"""Candidates: the units a commit range can affect (range -> candidates), before planning decides which are stale.

Cheap on purpose: proportional to the change, not to the repo. A workload's own files reach it; a definition
reaches the units whose locks use its resource type (`provenance.RenderedState.units_using`); a Score file's
service section reaches the workloads that look it up; rendered/ edited by anyone but the engine reaches the units
edited. Settings or environments changing reach everything (None).
"""

from __future__ import annotations

import re
from typing import Any

from gitops_engine.git import Git
from gitops_engine.loading import PLATFORM_FILE, Snapshot
from gitops_engine.model import WORKLOAD_TYPE
from gitops_engine.provenance import RenderedState
from gitops_engine.units import Unit, is_shared

_OVERRIDE_FILE = re.compile(r"overrides\.[^/]+\.yaml")


def candidates_from_range(
    git: Git,
    start: str,
    head: str,
    snapshot: Snapshot,
    state: RenderedState,
    engine_email: str | None = None,
    *,
    within: set[str] | None = None,
) -> set[str] | None:
    """Units a commit range can affect; None means 'everything' (environments or settings changed).
    `engine_email`: the engine's committer address, so rendered/ changes by anyone else count too."""
    changed = [path for _, path in git.diff_names(start, head)]
    snapshot.check_paths(changed)
    rendered_changed = False
    units: set[str] = set()
    changed_types: set[str] = set()
    lookups_changed: list[str] = []
    for path in changed:
        parts = path.split("/")
        if path == PLATFORM_FILE or parts[0] == "environments":
            return None
        if parts[0] == "workloads" and len(parts) >= 4:
            unit = str(Unit.of_path(path))
            units.add(unit)
            # What other workloads look up (service ports) comes from the Score file and its per-environment
            # overrides: an override moving a port reaches the lookers too.
            document = len(parts) == 4 and (
                parts[3] == "score.yaml" or _OVERRIDE_FILE.fullmatch(parts[3]) is not None
            )
            if document and unit not in lookups_changed and _service_changed(git, start, head, path):
                lookups_changed.append(unit)
        elif parts[0] == "definitions" and len(parts) == 3:
            changed_types.add(parts[1])
        elif parts[0] == "rendered" and len(parts) >= 5:
            rendered_changed = True
    if rendered_changed and engine_email is not None:
        # rendered/ edited by anyone but the engine in the range (hand edits, commits on pull-request branches that
        # were merged): those units are checked again. The engine's own commits left their units fresh.
        units |= _units_rendered_by_others(git, start, head, engine_email)
    if changed_types or lookups_changed:
        units |= state.units_using(changed_types, set(lookups_changed), within)
        if WORKLOAD_TYPE in changed_types:  # a workload policy may now apply to any workload
            units |= {u for u in (within or state.units()) if not is_shared(u)}
        if changed_types:
            # Workloads never rendered (no lock) may now be renderable. (Every rendered folder is listed for it: the
            # locks git grep picked are all that were read.)
            state.load_all()
            units.update(
                k
                for k in (
                    snapshot.workload_paths if within is None else within & set(snapshot.workload_paths)
                )
                if not any(state.folders.get((e, k)) for e in snapshot.environments)
            )
    return units


def _units_rendered_by_others(git: Git, start: str, head: str, engine_email: str) -> set[str]:
    """Units whose rendered/ folder a commit in start..head by anyone but the engine changed."""
    units: set[str] = set()
    for committer, paths in git.changes_by_committer(start, head, "rendered/"):
        if committer == engine_email:
            continue
        for path in paths:
            parts = path.split("/")
            if len(parts) >= 5 and parts[0] == "rendered":
                units.add(str(Unit.of_path(path)))
    return units


def _service_changed(git: Git, start: str, head: str, path: str) -> bool:
    """Whether a Score file's service section (what other workloads can look up) differs between two commits."""
    from gitops_engine.yamlio import YamlSyntaxError, load_document

    def service_at(rev: str) -> Any:
        data = git.try_read(f"{rev}:{path}")
        if not data:
            return None
        try:
            doc = load_document(data, path).data
        except YamlSyntaxError:
            return "invalid"
        return doc.get("service") if isinstance(doc, dict) else None

    return bool(service_at(start) != service_at(head))

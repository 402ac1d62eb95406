"""Stage 5: what is stale on main, why, and what each affected unit's new rendering is.

Staleness is decided from the repo alone. Every unit folder holds a provenance lock with the blob id of each input
and the definition each resource was matched to; a unit is stale when an input's blob differs, when matching would
now pick another definition, or when the engine's render version changed. Candidates come from a commit range when
one is given (cheap: proportional to the change), else from every unit (a full reconcile).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gitops_engine import RENDER_VERSION
from gitops_engine.errors import Finding, InputError, group_findings
from gitops_engine.git import Git, blob_id
from gitops_engine.loading import PLATFORM_FILE, Snapshot
from gitops_engine.manifest import (
    MANIFEST_FILE,
    ObjectChange,
    document_key,
    is_legacy_object_file,
    kind_of,
    legacy_file_name,
    object_changes,
    object_id,
    objects_of,
    split_manifest,
)
from gitops_engine.matching import Ambiguous, NoMatch, ResourceKey, match_definition
from gitops_engine.model import LOCK_FILE, SHARED_FOLDER, WORKLOAD_TYPE, Environment
from gitops_engine.render import (
    RenderedUnit,
    Renderer,
    UnitFailure,
    describe_workload,
    is_cluster_scoped,
    lookup_fingerprint,
    namespace_clash,
    object_clash,
    resolve_workload_name,
    shared_namespace,
    unit_folder,
)
from gitops_engine.workers import map_in_workers, plan_workers, slices_of

Cause = Literal["workload", "definitions", "removed"]
_OVERRIDE_FILE = re.compile(r"overrides\.[^/]+\.yaml")
DATA_KINDS = frozenset({"StatefulSet", "PersistentVolumeClaim", "PersistentVolume"})


# -------------------------------------------------------------------------------------------------------------
# What rendered/ holds at a commit


ENSURE_MAX_UNITS = 500


class RenderedState:
    """The files under rendered/ at a commit (blob ids) and their locks (read on demand).

    A full state lists rendered/ with one ls-tree; a partial one lists unit folders as they are asked for, so a
    run that touches one workload reads one workload's folders whatever the size of the repo. Locks read in bulk
    (the index of a definition change: 30,000 of them at 10,000 workloads) are kept as bytes and parsed only for
    the units a run goes on to plan.
    """

    def __init__(self, git: Git, commit: str, *, full: bool = True) -> None:
        self.git = git
        self.commit = commit
        self.full = False
        self.folders: dict[tuple[str, str], dict[str, str]] = {}
        self._unit_envs: dict[str, set[str]] = {}  # unit -> environments that have a folder for it
        self._loaded_units: set[str] = set()
        self._envs: list[str] | None = None
        self._locks: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._raw: dict[tuple[str, str], bytes] = {}  # locks read in bulk, not parsed yet
        self._listed_teams: set[str] = set()
        self._by_env: tuple[int, dict[tuple[str, str], list[str]]] | None = (
            None  # (folders, index) of units_in
        )
        if full:
            self.load_all()

    def load_all(self) -> None:
        if self.full:
            return
        self._add(self.git.ls_tree_text(self.commit, ["rendered/"]))
        self.full = True

    def _add(self, listing: str) -> None:
        folders = self.folders
        unit_envs = self._unit_envs
        for sha, env, unit, name in _RENDERED_FILE.findall(listing):
            folder = folders.get((env, unit))
            if folder is None:
                folder = folders[(env, unit)] = {}
                unit_envs.setdefault(unit, set()).add(env)
            folder[name] = sha

    def ensure(self, units: Iterable[str]) -> None:
        """List the folders of `units` in every environment (partial states only)."""
        if self.full:
            return
        missing = sorted(set(units) - self._loaded_units)
        if len(missing) > ENSURE_MAX_UNITS:  # one listing beats a command line of thousands of paths
            self.load_all()
            return
        if missing:
            if self._envs is None:
                self._envs = self.git.list_dir(self.commit, "rendered")
            paths = [f"rendered/{env}/{unit}/" for unit in missing for env in self._envs]
            if paths:
                self._add(self.git.ls_tree_text(self.commit, paths))
            self._loaded_units.update(missing)

    def units(self) -> set[str]:
        self.load_all()
        return {unit for _, unit in self.folders}

    def units_in(self, env: str, team: str | None = None) -> list[str]:
        """Units with a folder in `env`: under rendered/<env>/<team>/ only, when a team is given (listed in every
        environment at once, the first time a team is asked about), else all of them (everything is listed)."""
        if team is None:
            self.load_all()
        elif not self.full and team not in self._listed_teams:
            if self._envs is None:
                self._envs = self.git.list_dir(self.commit, "rendered")
            self._add(self.git.ls_tree_text(self.commit, [f"rendered/{e}/{team}/" for e in self._envs]))
            self._loaded_units.update(u for u in self._unit_envs if u.startswith(f"{team}/"))
            self._listed_teams.add(team)
        if self._by_env is None or self._by_env[0] != len(self.folders):
            by_env: dict[tuple[str, str], list[str]] = {}
            for folder_env, unit in sorted(self.folders):
                by_env.setdefault((folder_env, unit.split("/", 1)[0]), []).append(unit)
                by_env.setdefault((folder_env, ""), []).append(unit)
            self._by_env = (len(self.folders), by_env)
        return list(self._by_env[1].get((env, team or ""), ()))

    def envs_of(self, unit: str) -> list[str]:
        self.ensure([unit])
        return sorted(self._unit_envs.get(unit, ()))

    def files_of(self, env: str, unit: str) -> dict[str, str]:
        self.ensure([unit])
        return self.folders.get((env, unit), {})

    def objects_of(self, env: str, unit: str) -> dict[str, str]:
        """Object id (`manifest.object_id`) -> object key of the unit's folder in `env`, from its lock (an
        unreadable lock: from the names of an older engine's per-object files; none when there is no folder)."""
        lock = self.lock(env, unit)
        if lock is not None and isinstance(lock.get("manifests"), dict):
            return {object_id(str(key)): str(key) for key in lock["manifests"]}
        return {
            object_id(n): n for n in self.files_of(env, unit) if n.endswith(".yaml") and n != MANIFEST_FILE
        }

    def lock(self, env: str, unit: str) -> dict[str, Any] | None:
        key = (env, unit)
        if key not in self._locks:
            raw = self._raw.pop(key, None)
            if raw is None:
                blob = self.files_of(env, unit).get(LOCK_FILE)
                raw = self.git.read_blob(blob) if blob else None
            self._locks[key] = parse_lock(raw) if raw is not None else None
        return self._locks[key]

    def read_all_locks(self, within: set[str] | None = None) -> None:
        """Read every lock (of the `within` units only, when given) with one pipelined `cat-file --batch`: the
        index for definition changes."""
        if within is None:
            self.load_all()
        else:
            self.ensure(within)
        wanted = [
            (key, files[LOCK_FILE])
            for key, files in self.folders.items()
            if LOCK_FILE in files
            and key not in self._locks
            and key not in self._raw
            and (within is None or key[1] in within)
        ]
        for (key, _), data in zip(wanted, self.git.read_many([blob for _, blob in wanted]), strict=True):
            if data is None:
                self._locks[key] = None
            else:
                self._raw[key] = data

    def all_locks(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every lock, parsed (what `usage` reports on)."""
        self.read_all_locks()
        for key in list(self._raw):
            self.lock(*key)
        return {k: v for k, v in self._locks.items() if v is not None}

    def units_using(self, types: set[str], looked_up: set[str], within: set[str] | None = None) -> set[str]:
        """Units (among `within`, when given) with a lock in any environment that uses a resource of one of
        `types` or looks up one of the `looked_up` workloads: the index from resource type to workloads.
        Bulk-read locks are scanned as bytes (a regex for the type fields) and parsed only where a looked-up name
        appears."""
        if not types and not looked_up:
            return set()
        # Locks name a looked-up workload as the template asked for it: team/name, or the bare name.
        looked_up = set(looked_up) | {key.split("/", 1)[1] for key in looked_up if "/" in key}
        if within is None or len(within) > ENSURE_MAX_UNITS:
            # git grep picks the locks that mention a type or name at all; only those are read and checked.
            hits = self._grep_locks(types, looked_up)
            within = hits if within is None else hits & within
            if not within:
                return set()
        self.read_all_locks(within)
        found: set[str] = set()
        for (_, unit), lock in self._locks.items():
            if within is not None and unit not in within:
                continue
            if lock is not None and (
                any(r.get("type") in types for r in lock.get("resources", []))
                or any(other in looked_up for other in lock.get("lookups", {}))
            ):
                found.add(unit)
        needles = [json.dumps(other).encode() for other in sorted(looked_up)]
        for (env, unit), raw in list(self._raw.items()):
            if unit in found or (within is not None and unit not in within):
                continue
            if types and any(_json_string(m) in types for m in _LOCK_TYPE.findall(raw)):
                found.add(unit)
            elif any(needle in raw for needle in needles):
                lock = self.lock(env, unit)
                if lock is not None and any(other in looked_up for other in lock.get("lookups", {})):
                    found.add(unit)
        return found

    def _grep_locks(self, types: set[str], looked_up: set[str]) -> set[str]:
        """Units with a lock (in any environment) holding one of the types as a "type" value or one of the looked-up
        workloads as a JSON string: a superset of units_using's answer, found without reading every lock here."""
        patterns = [_json_field("type", t) for t in sorted(types)]
        patterns += [_ere(json.dumps(other)) for other in sorted(looked_up)]
        return self._grep_lock_units(patterns)

    def _grep_lock_units(self, patterns: list[str]) -> set[str]:
        """Units with a lock in any environment matching one of the extended regular expressions (one git grep)."""
        paths = self.git.grep_files(self.commit, patterns, f"rendered/*/*/*/{LOCK_FILE}")
        return {"/".join(path.split("/")[2:4]) for path in paths}

    def shared_users(self, res_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(unit, lock) of every lock declaring the shared resource `res_id`: git grep picks the locks naming it,
        and only those are read."""
        hits = self._grep_lock_units([_json_field("res_id", res_id)])
        if not hits:
            return []
        self.read_all_locks(hits)
        found: list[tuple[str, dict[str, Any]]] = []
        for unit in sorted(hits):
            for env in sorted(self._unit_envs.get(unit, ())):
                lock = self.lock(env, unit)
                if lock is not None and any(
                    r.get("shared") and r.get("res_id") == res_id for r in lock.get("resources", [])
                ):
                    found.append((unit, lock))
        return found


def _json_field(key: str, value: str) -> str:
    """An extended regular expression for `"key": "value"` in a JSON document, whatever the spacing."""
    return rf"{_ere(json.dumps(key))}[[:space:]]*:[[:space:]]*{_ere(json.dumps(value))}"


def _ere(text: str) -> str:
    """`text` as a POSIX extended regular expression matching it literally (for git grep -E)."""
    return re.sub(r"([\\.\[\]()*+?{}|^$])", r"\\\1", text)


# A lock's resource types, found without parsing it.
_LOCK_TYPE = re.compile(rb'"type"\s*:\s*("(?:[^"\\]|\\.)*")')
# `ls-tree -r -z` records of unit files: rendered/<env>/<a>/<b>/<name>
_RENDERED_FILE = re.compile(
    r"(?:^|(?<=\0))\d{6} blob ([0-9a-f]{40,64})\trendered/([^/\0]+)/([^/\0]+/[^/\0]+)/([^\0]+)\0"
)


def _json_string(token: bytes) -> str | None:
    try:
        value = json.loads(token)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def parse_lock(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# -------------------------------------------------------------------------------------------------------------
# Freshness of one unit in one environment


def stale_reasons(lock: Mapping[str, Any] | None, snapshot: Snapshot, env_id: str, unit: str) -> list[str]:
    """Why the unit's output in `env_id` no longer matches its inputs ([] when fresh)."""
    if lock is None:
        return [f"{env_id}: not rendered yet"]
    reasons: list[str] = []
    if lock.get("engine") != RENDER_VERSION:
        reasons.append(
            f"{env_id}: rendered by engine render version {lock.get('engine')}, now {RENDER_VERSION}"
        )
    inputs: Mapping[str, str] = lock.get("inputs", {})
    files = snapshot.files
    for path, blob in inputs.items():
        current = files.get(path)
        if current != blob:
            reasons.append(f"{path} {'removed' if current is None else 'changed'}")
    # A file added to the workload's folder (a new override) is an input the lock cannot name yet.
    if not unit.startswith(SHARED_FOLDER + "/"):
        for path in _folder_files(snapshot, f"workloads/{unit}/"):
            if path not in inputs:
                reasons.append(f"{path} added")
    env = snapshot.environments.get(env_id)
    if env is None:
        return reasons or [f"environment {env_id} removed"]
    team, name = unit.split("/", 1)
    for other, fingerprint in lock.get("lookups", {}).items():
        if _lookup_now(snapshot, other, None if team == SHARED_FOLDER else team, env) != fingerprint:
            reasons.append(f"{env_id}: what workload {other} offers to others (address, ports) changed")
    has_workload_resource = False
    for resource in lock.get("resources", []):
        shared = bool(resource.get("shared"))
        if resource["type"] == WORKLOAD_TYPE:
            has_workload_resource = True
        key = ResourceKey(
            resource["type"],
            resource["class"],
            resource["res_id"],
            None if shared or unit.startswith(SHARED_FOLDER) else team,
            None if shared or unit.startswith(SHARED_FOLDER) else name,
        )
        try:
            definition = match_definition(snapshot.definitions_of(resource["type"]), key, env)
        except (NoMatch, Ambiguous) as exc:
            reasons.append(f"{env_id}: resource {resource['name']}: {exc}")
            continue
        if definition.path != resource.get("definition_path"):
            reasons.append(
                f"{env_id}: resource {resource['name']} now matches {definition.path} instead of {resource.get('definition_path')}"
            )
    if (
        not unit.startswith(SHARED_FOLDER)
        and not has_workload_resource
        and snapshot.definitions_of(WORKLOAD_TYPE)
    ):
        reasons.append(f"{env_id}: a workload definition now applies")
    return reasons


def _lookup_now(snapshot: Snapshot, name: str, team: str | None, env: Environment) -> str | None:
    """Fingerprint of what `lookup_workload(name)` would return now to a workload of `team` (None: the name means
    no workload or several, or an invalid one). Memoised on the snapshot: many units look up the same few."""
    keys = resolve_workload_name(snapshot, name, team)
    if len(keys) != 1:
        return None
    memo = snapshot.memo.setdefault("lookup_now", {})
    if (keys[0], env.id) not in memo:
        try:
            workload = snapshot.workload(keys[0])
            spec = Renderer(snapshot).effective_spec(workload, env.id)
        except InputError:
            memo[(keys[0], env.id)] = None
        else:
            memo[(keys[0], env.id)] = lookup_fingerprint(describe_workload(workload, env, spec))
    fingerprint: str | None = memo[(keys[0], env.id)]
    return fingerprint


def _folder_files(snapshot: Snapshot, folder: str) -> list[str]:
    if folder.startswith("workloads/") and folder.endswith("/") and folder.count("/") == 3:
        return list(
            snapshot.workload_files(folder[len("workloads/") : -1])
        )  # indexed: O(folder), not O(repo)
    return [p for p in snapshot.files if p.startswith(folder)]


def workload_inputs_changed(lock: Mapping[str, Any] | None, snapshot: Snapshot, unit: str) -> bool:
    """Did the workload's own folder (Score file, overrides, referenced files) change since it was rendered?"""
    if lock is None:
        return True
    folder = f"workloads/{unit}/"
    recorded = {p: b for p, b in lock.get("inputs", {}).items() if p.startswith(folder)}
    current = {p: snapshot.files[p] for p in _folder_files(snapshot, folder)}
    return recorded != current


# -------------------------------------------------------------------------------------------------------------
# The plan


@dataclass
class UnitPlan:
    """One unit's change across environments."""

    unit: str
    cause: Cause
    reasons: list[str]
    writes: dict[str, bytes] = field(default_factory=dict)  # path -> new content
    deletes: list[str] = field(default_factory=list)
    old_files: dict[str, str] = field(default_factory=dict)  # path -> blob id before (for diffs)
    rendered: dict[str, RenderedUnit] = field(default_factory=dict)  # env -> new rendering
    old_locks: dict[str, dict[str, Any]] = field(default_factory=dict)  # env -> lock before
    removes_production_data: bool = False
    users: list[str] = field(default_factory=list)  # shared units: the workloads that use it
    body: str | None = None  # the pull-request body, when plan_changes was given `describe`
    order: tuple[str, ...] = ()  # platform.yaml's environments: the order reports list them in
    # The rollout part this plan is (see gitops_engine.rollout): how it lands and the wave of its environments.
    mode: str = "pull-request"
    wave: int = 1
    object_envs: set[str] = field(
        default_factory=set
    )  # environments where an object is added, changed or removed

    @property
    def changed(self) -> bool:
        return bool(self.writes or self.deletes)

    @property
    def manifests_changed(self) -> bool:
        """Whether any object changes: not the lock alone, nor only the layout objects are written in (the first
        run of an engine that moved an older engine's per-object files into manifest.yaml)."""
        return bool(self.object_envs)

    @property
    def environments(self) -> list[str]:
        """Environments whose folder changes, in platform.yaml's order (removed ones last)."""
        return self._ordered({p.split("/")[1] for p in [*self.writes, *self.deletes]})

    @property
    def manifest_environments(self) -> list[str]:
        """Environments whose objects change (not only the provenance lock or the layout)."""
        return self._ordered(self.object_envs)

    def _ordered(self, envs: set[str]) -> list[str]:
        rank = {env: index for index, env in enumerate(self.order)}
        return sorted(envs, key=lambda env: (rank.get(env, len(rank)), env))

    def object_changes(self, git: Git, env: str) -> list[ObjectChange]:
        """The objects that differ in `env`, old and new document each, in manifest.yaml's order."""
        if env not in self.object_envs:
            return []
        prefix = f"rendered/{env}/{self.unit}/"
        paths = sorted(p for p in {*self.writes, *self.deletes, *self.old_files} if p.startswith(prefix))
        old_blobs = [(p, self.old_files[p]) for p in paths if p in self.old_files]
        old = objects_of(
            (p[len(prefix) :], data)
            for (p, _), data in zip(old_blobs, git.read_many([b for _, b in old_blobs]), strict=True)
            if data is not None
        )
        new_files = {p[len(prefix) :]: c for p, c in self.writes.items() if p.startswith(prefix)}
        for path, blob in old_blobs:  # kept as they are (old_files also names unchanged files the diff needs)
            name = path[len(prefix) :]
            if path not in self.writes and path not in self.deletes and name == MANIFEST_FILE:
                new_files[name] = git.read_blob(blob)
        return object_changes(old, objects_of(new_files.items()))

    def diff(self, git: Git, env: str) -> str:
        """The unit's unified diff in `env`, object by object (the lock aside), each headed by the object's kind
        and name; fenced-code safe."""
        folder = f"rendered/{env}/{self.unit}"
        out: list[str] = []
        for change in self.object_changes(git, env):
            heading = change.key.replace("/", " ", 1)
            old = change.old.decode("utf-8", "replace") if change.old is not None else ""
            new = change.new.decode("utf-8", "replace") if change.new is not None else ""
            out.extend(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    fromfile=f"a/{folder}/{MANIFEST_FILE}: {heading}"
                    if change.old is not None
                    else "/dev/null",
                    tofile=f"b/{folder}/{MANIFEST_FILE}: {heading}"
                    if change.new is not None
                    else "/dev/null",
                    n=3,
                )
            )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in out)
        return text.replace("```", "`\u200b``")

    @property
    def goes_to_main(self) -> bool:
        """Developer changes and provenance-only changes are committed; the rest needs review, and so does
        anything that would delete data-holding objects in a production-type environment."""
        if self.cause == "workload" or self.mode == "direct":
            return not self.removes_production_data
        if self.cause == "removed":
            return not self.removes_production_data and not self.unit.startswith(SHARED_FOLDER + "/")
        return not self.manifests_changed

    def definition_changes(self) -> list[tuple[str, str | None, str | None]]:
        """(definition id, old version, new version) for every definition whose use changed."""
        old: dict[str, str] = {}
        new: dict[str, str] = {}
        for lock in self.old_locks.values():
            for r in lock.get("resources", []):
                old.setdefault(r["definition"], r["version"])
        for rendered in self.rendered.values():
            for r in rendered.provenance["resources"]:
                new.setdefault(r["definition"], r["version"])
        out = []
        for definition_id in sorted(set(old) | set(new)):
            if old.get(definition_id) != new.get(definition_id):
                out.append((definition_id, old.get(definition_id), new.get(definition_id)))
        return out


@dataclass
class Plan:
    head: str
    units: dict[str, UnitPlan] = field(default_factory=dict)
    failures: dict[str, list[Finding]] = field(default_factory=dict)
    global_findings: list[Finding] = field(default_factory=list)
    mode: str = "full"  # "full" or "range"
    state: RenderedState | None = None  # what main held when planned (blob ids of every unit folder read)
    candidates: int = 0
    order: tuple[str, ...] = ()  # platform.yaml's environments
    # With rollout settings (gitops_engine.rollout.apply_rollout): the units split into parts by environment mode
    # and wave, and the (unit, environment, environments it waits for) left for a later wave.
    parts: list[UnitPlan] | None = None
    waiting: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        """Every problem once (the same one in several environments lists them)."""
        return group_findings(
            [*(f for fs in self.failures.values() for f in fs), *self.global_findings], self.order
        )

    def _parts(self) -> Iterable[UnitPlan]:
        return self.units.values() if self.parts is None else self.parts

    def main_units(self) -> list[UnitPlan]:
        return [u for u in self._parts() if u.changed and u.goes_to_main]

    def pull_units(self) -> list[UnitPlan]:
        return [u for u in self._parts() if u.changed and not u.goes_to_main]


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
            unit = f"{parts[1]}/{parts[2]}"
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
            units |= {u for u in (within or state.units()) if not u.startswith(SHARED_FOLDER)}
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
    out = git.run_bytes(
        "log", "--no-renames", "--name-only", "-z", "--format=%x01%ce", f"{start}..{head}", "--", "rendered/"
    )
    units: set[str] = set()
    for entry in out.split(b"\x01")[1:]:
        committer, _, names = entry.partition(b"\0")  # -z: "\x01<committer>\0\n<path>\0<path>\0..."
        if committer.decode("utf-8", "replace") == engine_email:
            continue
        for name in names.split(b"\0"):
            parts = name.decode("utf-8", "surrogateescape").strip("\n").split("/")
            if len(parts) >= 5 and parts[0] == "rendered":
                units.add(f"{parts[2]}/{parts[3]}")
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


def plan_changes(
    snapshot: Snapshot,
    state: RenderedState,
    *,
    candidates: set[str] | None = None,
    renderer: Renderer | None = None,
    describe: Callable[[UnitPlan], str] | None = None,
) -> Plan:
    """Decide, for every candidate unit, whether it is stale and what its new files are.

    `describe`, when given, writes the pull-request body of each workload unit that needs one; it runs where the
    unit was planned, so with many candidates it shares the worker processes with rendering (see
    `plan_workers`)."""
    plan = Plan(
        head=state.commit,
        mode="full" if candidates is None else "range",
        state=state,
        order=tuple(snapshot.environment_order),
    )
    plan.global_findings.extend(f for f in snapshot.findings if f.severity == "error")
    if plan.global_findings:
        return plan
    renderer = renderer or Renderer(snapshot)
    envs = snapshot.environment_order
    if candidates is None:
        state.read_all_locks()
        candidates = set(snapshot.workload_paths) | state.units()
    # Reported, but units that do not depend on the broken file are still processed. (Read once the candidates
    # are known: a lazy snapshot reports what discovering every workload found only once it has done so.)
    plan.global_findings.extend(f for f in snapshot.local_findings if f.severity == "error")
    plan.candidates = len(candidates)
    shared_rendered: dict[tuple[str, str], tuple[RenderedUnit, Cause]] = {}
    workloads = sorted(u for u in candidates if not u.startswith(SHARED_FOLDER + "/"))
    workers = plan_workers(len(workloads))
    context = _PlanContext(snapshot, state, renderer, envs, describe)
    if workers > 1:
        # The first unit is planned here: the caches it fills (definitions by type, YAML resolution, strings
        # already dumped) are inherited by every worker instead of being filled once per worker.
        _plan_chunk_into(workloads[:1], context, plan, shared_rendered)
        _plan_in_workers(workloads[1:], context, workers, plan, shared_rendered)
    else:
        _plan_chunk_into(workloads, context, plan, shared_rendered)
    _refuse_object_clashes(plan, snapshot, state)
    shared_candidates = {u for u in candidates if u.startswith(SHARED_FOLDER + "/")} | {
        u for _, u in shared_rendered
    }
    # A re-rendered or removed workload may have been the last user of a shared resource. Its lock is still fresh
    # (its own inputs did not change), so only the workloads' old locks lead to it.
    shared_candidates |= {
        f"{SHARED_FOLDER}/{resource['res_id']}"
        for unit_plan in plan.units.values()
        for lock in unit_plan.old_locks.values()
        for resource in lock.get("resources", [])
        if resource.get("shared")
    }
    if shared_candidates:
        _plan_shared(shared_candidates, snapshot, state, renderer, envs, plan, shared_rendered)
    return plan


def _refuse_object_clashes(plan: Plan, snapshot: Snapshot, state: RenderedState) -> None:
    """Two units rendering one object in an environment (same kind and name, and same namespace unless the kind is
    cluster-scoped): Argo CD or Flux would fight over it, so a full render refuses it (tree._object_collisions)
    and so does the processor. The workloads this run writes are checked against the units sharing their
    namespace (a team's folder with a `{team}` namespace rule; everything in the environment without one, or for a
    cluster-scoped object). The unit that already holds the object keeps it, so a newcomer never displaces a
    running workload; between two of a kind, the first in path order does. A refused unit is reported and
    nothing of it is written."""
    writing = sorted(
        unit for unit, p in plan.units.items() if p.rendered and not unit.startswith(SHARED_FOLDER + "/")
    )
    # (env, namespace, or "" for cluster-scoped objects) -> the units this run writes there
    scopes: dict[tuple[str, str], set[str]] = {}
    for unit in writing:
        for env_id in plan.units[unit].rendered:
            namespace = snapshot.environments[env_id].namespace_for(*unit.split("/", 1))
            scopes.setdefault((env_id, namespace), set()).add(unit)
            if any(is_cluster_scoped(key) for key in _objects_after(plan, state, env_id, unit).values()):
                scopes.setdefault((env_id, ""), set()).add(unit)
    refused: dict[str, Finding] = {}
    for (env_id, namespace), mine in sorted(scopes.items()):
        env = snapshot.environments[env_id]
        rule = env.namespace_rule
        if namespace and "{workload}" in rule:
            members = set(mine)  # one workload name a namespace: same-named ones were refused as a clash
        elif namespace and "{team}" in rule:
            teams = {u.split("/", 1)[0] for u in mine}
            if "shared" in teams:  # shared resources render into the namespace of a team called "shared"
                teams.add(SHARED_FOLDER)
            members = set(mine) | {u for team in sorted(teams) for u in state.units_in(env_id, team)}
        else:
            members = set(mine) | set(state.units_in(env_id))
        state.read_all_locks(members - mine)  # their objects, in one read
        owners: dict[str, list[str]] = {}  # object id -> the units rendering it
        keys: dict[str, str] = {}  # object id -> its key, as the first unit names it
        for member in sorted(members):
            if member in refused:
                continue
            team, workload = member.split("/", 1)
            if namespace and namespace != (
                shared_namespace(env, workload)
                if team == SHARED_FOLDER
                else env.namespace_for(team, workload)
            ):
                continue
            for ident, key in _objects_after(plan, state, env_id, member).items():
                if is_cluster_scoped(key) != (not namespace):
                    continue
                owners.setdefault(ident, []).append(member)
                keys.setdefault(ident, key)
        for ident, units in sorted(owners.items()):
            if len(units) < 2:
                continue
            holding = [u for u in units if ident in state.objects_of(env_id, u)]
            keeper = (holding or units)[0]
            for unit in units:
                if unit == keeper or unit not in mine or unit in refused:
                    continue
                refused[unit] = Finding(
                    snapshot.workload_paths[unit],
                    1,
                    1,
                    object_clash(env_id, unit, keeper, keys[ident], namespace),
                    unit=unit,
                )
    for unit, finding in sorted(refused.items()):
        del plan.units[unit]
        plan.failures.setdefault(unit, []).append(finding)


def _objects_after(plan: Plan, state: RenderedState, env: str, unit: str) -> dict[str, str]:
    """Object id -> key of the objects of a unit's folder in `env` once this run's plan is written."""
    unit_plan = plan.units.get(unit)
    if unit_plan is not None and env in unit_plan.rendered:
        return {object_id(key): key for key in unit_plan.rendered[env].provenance["manifests"]}
    folder = f"{unit_folder(env, unit)}/"
    if unit_plan is not None and any(p.startswith(folder) for p in unit_plan.deletes):
        return {}  # not rendered in `env` but deleted from it: the whole folder goes
    return state.objects_of(env, unit)


@dataclass
class _PlanContext:
    snapshot: Snapshot
    state: RenderedState
    renderer: Renderer
    envs: list[str]
    describe: Callable[[UnitPlan], str] | None


_Shared = dict[tuple[str, str], tuple[RenderedUnit, Cause]]
_CONTEXT: _PlanContext | None = None  # what forked workers inherit (set just before the pool forks)


def _plan_chunk_into(
    units: Sequence[str], context: _PlanContext, plan: Plan, shared_rendered: _Shared
) -> None:
    for unit in units:
        _plan_workload(
            unit, context.snapshot, context.state, context.renderer, context.envs, plan, shared_rendered
        )
        unit_plan = plan.units.get(unit)
        if (
            context.describe is not None
            and unit_plan is not None
            and unit_plan.changed
            and not unit_plan.goes_to_main
        ):
            unit_plan.body = context.describe(unit_plan)


def _plan_chunk(units: list[str]) -> tuple[dict[str, UnitPlan], dict[str, list[Finding]], _Shared]:
    """A worker's share: plan these units and send back the plans (pickled)."""
    assert _CONTEXT is not None
    part = Plan(head=_CONTEXT.state.commit)
    shared: _Shared = {}
    _plan_chunk_into(units, _CONTEXT, part, shared)
    return part.units, part.failures, shared


def _plan_in_workers(
    units: list[str], context: _PlanContext, workers: int, plan: Plan, shared_rendered: _Shared
) -> None:
    """Plan contiguous slices of the sorted units in worker processes and merge them in order, so the plan is the
    one a single process would make (same units, same order, same failures, same shared renderings)."""
    global _CONTEXT
    _CONTEXT = context
    try:
        for units_part, failures, shared in map_in_workers(
            _plan_chunk, slices_of(units, workers), workers, "planning"
        ):
            plan.units.update(units_part)
            for unit, findings in failures.items():
                plan.failures.setdefault(unit, []).extend(findings)
            for key, (rendered, cause) in shared.items():
                previous = shared_rendered.get(key)
                if previous is None or (previous[1] != "workload" and cause == "workload"):
                    shared_rendered[key] = (rendered, cause)
    finally:
        _CONTEXT = None


def _namespace_clash(snapshot: Snapshot, state: RenderedState, unit: str, env_id: str) -> Finding | None:
    """Another workload of the same name rendering into the namespace `unit` would (names must be unique in a
    namespace). The one already rendered in the environment keeps it, so a newcomer never displaces a running
    workload; between two of a kind, the first in path order does, as a full render decides (tree.cross_checks).
    Only workloads of the same name can clash: a lookup by name, not a pass over every workload."""
    env = snapshot.environments[env_id]
    if "{team}" in env.namespace_rule:
        return None  # the rule is a plain substitution: two teams never share a namespace
    team, name = unit.split("/", 1)
    namespace = env.namespace_for(team, name)
    mine = bool(state.files_of(env_id, unit))
    for other in snapshot.workload_by_name(name):
        if other == unit or env.namespace_for(other.split("/", 1)[0], name) != namespace:
            continue
        theirs = bool(state.files_of(env_id, other))
        if (theirs and not mine) or (theirs == mine and other < unit):
            return Finding(
                snapshot.workload_paths[unit],
                1,
                1,
                namespace_clash(name, namespace, env, snapshot.workload_paths[other]),
                unit=unit,
            )
    return None


def _plan_workload(
    unit: str,
    snapshot: Snapshot,
    state: RenderedState,
    renderer: Renderer,
    envs: list[str],
    plan: Plan,
    shared_rendered: dict[tuple[str, str], tuple[RenderedUnit, Cause]],
) -> None:
    existing_envs = state.envs_of(unit)
    if unit not in snapshot.workload_paths:
        if not existing_envs:
            return
        removal = UnitPlan(unit, "removed", [f"workloads/{unit}/ removed"], order=tuple(envs))
        for env in existing_envs:
            _remove_folder(removal, env, unit, state, snapshot)
        plan.units[unit] = removal
        return
    reasons: list[str] = []
    locks = {env: state.lock(env, unit) for env in envs}
    stale_envs: set[str] = set()
    for env in envs:
        env_reasons = stale_reasons(locks[env], snapshot, env, unit)
        if env_reasons:
            stale_envs.add(env)
        reasons.extend(env_reasons)
    gone_envs = [e for e in existing_envs if e not in snapshot.environments]
    reasons.extend(f"environment {e} removed" for e in gone_envs)
    if not reasons:
        return
    any_lock = any(lock is not None for lock in locks.values())
    changed_source = (not any_lock and not gone_envs) or any(
        workload_inputs_changed(lock, snapshot, unit) for lock in locks.values() if lock is not None
    )
    cause: Cause = "workload" if changed_source else "definitions"
    unit_plan = UnitPlan(unit, cause, sorted(set(reasons)), order=tuple(envs))
    failed = False
    for env in envs:
        if cause == "definitions" and env not in stale_envs:
            continue  # its lock says every input is unchanged: rendering it again would give the same files
        clash = _namespace_clash(snapshot, state, unit, env)
        if clash is not None:
            plan.failures.setdefault(unit, []).append(clash)
            return
        try:
            rendered, shared_units = renderer.render_workload(unit, env)
        except UnitFailure as exc:
            plan.failures.setdefault(exc.unit, []).extend(exc.findings)
            if exc.unit != unit:
                plan.failures.setdefault(unit, []).extend(exc.findings)
            failed = True  # the other environments are still rendered: their problems are reported too
            continue
        if failed:
            continue
        # Keep the provenance (pull-request text, diagrams), not the files and parsed manifests: with thousands of
        # units planned at once they were most of the memory.
        unit_plan.rendered[env] = RenderedUnit(unit, env, {}, rendered.provenance)
        if locks[env] is not None:
            unit_plan.old_locks[env] = locks[env]  # type: ignore[assignment]
        for shared in shared_units:
            previous = shared_rendered.get((env, shared.unit))
            if previous is None or (previous[1] != "workload" and cause == "workload"):
                shared_rendered[(env, shared.unit)] = (shared, cause)
        _diff_folder(unit_plan, env, unit, rendered.files, state, snapshot)
    if failed:
        return
    for env in gone_envs:
        _remove_folder(unit_plan, env, unit, state, snapshot, environment_gone=True)
    plan.units[unit] = unit_plan


def _plan_shared(
    shared_candidates: set[str],
    snapshot: Snapshot,
    state: RenderedState,
    renderer: Renderer,
    envs: list[str],
    plan: Plan,
    shared_rendered: dict[tuple[str, str], tuple[RenderedUnit, Cause]],
) -> None:
    declarers: dict[str, list[str]] = {}  # shared resource id -> its users, looked up once
    for unit in sorted(shared_candidates):
        unit_plan = UnitPlan(unit, "definitions", [], order=tuple(envs))
        res_id = unit.split("/", 1)[1]
        for env in [*envs, *sorted(set(state.envs_of(unit)) - set(envs))]:
            produced = shared_rendered.get((env, unit))
            if produced is not None:
                rendered, cause = produced
                if cause == "workload":
                    unit_plan.cause = "workload"
                # Why, from the unit's own lock: what a pull request says must not depend on whether this run
                # reached the shared resource through a user or by itself (a later run would rewrite the body).
                lock = state.lock(env, unit)
                if lock is not None:
                    unit_plan.reasons.extend(stale_reasons(lock, snapshot, env, unit))
            elif env in snapshot.environments:
                lock = state.lock(env, unit)
                reasons = stale_reasons(lock, snapshot, env, unit) if lock else []
                if res_id not in declarers:
                    declarers[res_id] = _shared_declarers(state, snapshot, res_id)
                users = declarers[res_id]
                # Fresh, but is anyone still using it? A user re-rendered in this run that still declared it would
                # have produced it above; users whose locks were not touched still declare it.
                still_used = any(u not in plan.units or env not in plan.units[u].rendered for u in users)
                if lock is not None and not reasons and still_used:
                    continue
                rendered_by_user = None
                a_user_failed = False
                for user in users:
                    try:
                        _, shared_units = renderer.render_workload(user, env)
                    except UnitFailure as exc:
                        plan.failures.setdefault(exc.unit, []).extend(exc.findings)
                        a_user_failed = True
                        continue
                    rendered_by_user = next((s for s in shared_units if s.unit == unit), None)
                    if rendered_by_user is not None:
                        break
                if rendered_by_user is None:
                    # A user that failed may still declare it: an error never removes manifests.
                    if lock is None or a_user_failed:
                        continue
                    _remove_folder(unit_plan, env, unit, state, snapshot)
                    unit_plan.reasons.append(f"{env}: no workload uses shared resource {res_id!r} any more")
                    unit_plan.cause = "removed"
                    continue
                rendered = rendered_by_user
                unit_plan.reasons.extend(reasons)
            else:
                _remove_folder(unit_plan, env, unit, state, snapshot)
                unit_plan.reasons.append(f"environment {env} removed")
                continue
            unit_plan.rendered[env] = rendered
            lock = state.lock(env, unit)
            if lock is not None:
                unit_plan.old_locks[env] = lock
            _diff_folder(unit_plan, env, unit, rendered.files, state, snapshot)
        if unit_plan.changed:
            if res_id not in declarers:
                declarers[res_id] = _shared_declarers(state, snapshot, res_id)
            unit_plan.users = declarers[res_id]
            if not unit_plan.reasons:
                unit_plan.reasons.append("declared by a changed workload")
            plan.units[unit] = unit_plan


def _shared_declarers(state: RenderedState, snapshot: Snapshot, res_id: str) -> list[str]:
    """The workloads whose locks use the shared resource `res_id` (any environment)."""
    return sorted(
        {
            unit
            for unit, _ in state.shared_users(res_id)
            if not unit.startswith(SHARED_FOLDER + "/") and unit in snapshot.workload_paths
        }
    )


def _diff_folder(
    unit_plan: UnitPlan,
    env: str,
    unit: str,
    files: Mapping[str, bytes],
    state: RenderedState,
    snapshot: Snapshot | None = None,
) -> None:
    existing = state.files_of(env, unit)
    folder = unit_folder(env, unit)
    for name, content in files.items():
        blob = existing.get(name)
        if blob is None or blob != blob_id(content):
            unit_plan.writes[f"{folder}/{name}"] = content
            if blob is not None:
                unit_plan.old_files[f"{folder}/{name}"] = blob
    gone = {name: blob for name, blob in existing.items() if name not in files}
    for name, blob in gone.items():
        unit_plan.deletes.append(f"{folder}/{name}")
        unit_plan.old_files[f"{folder}/{name}"] = blob
    if not _objects_same(existing, files.get(MANIFEST_FILE)):
        unit_plan.object_envs.add(env)
        if MANIFEST_FILE in existing:
            unit_plan.old_files.setdefault(f"{folder}/{MANIFEST_FILE}", existing[MANIFEST_FILE])
        new_objects = {object_id(key) for key in _manifest_keys(files.get(MANIFEST_FILE))}
        removed = {
            ident: key for ident, key in state.objects_of(env, unit).items() if ident not in new_objects
        }
        if removed and snapshot is not None and _holds_data(snapshot, env, removed.values()):
            unit_plan.removes_production_data = True


def _manifest_keys(manifest: bytes | None) -> list[str]:
    if manifest is None:
        return []
    return [document_key(document) or "" for document in split_manifest(manifest)]


def _objects_same(existing: Mapping[str, str], manifest: bytes | None) -> bool:
    """Whether a folder (name -> blob id) holds the objects of `manifest` (None: no object) exactly. A folder an
    older engine wrote holds the same documents one file each: their blob ids are compared, nothing is read."""
    legacy = {name: blob for name, blob in existing.items() if is_legacy_object_file(name)}
    if MANIFEST_FILE in existing or manifest is None:
        held = existing.get(MANIFEST_FILE)
        return not legacy and held == (blob_id(manifest) if manifest is not None else None)
    documents = split_manifest(manifest)
    keys = [document_key(document) for document in documents]
    if any(key is None for key in keys):
        return False
    wanted = {legacy_file_name(str(key)): blob_id(doc) for key, doc in zip(keys, documents, strict=True)}
    return wanted == legacy


def _remove_folder(
    unit_plan: UnitPlan,
    env: str,
    unit: str,
    state: RenderedState,
    snapshot: Snapshot,
    *,
    environment_gone: bool = False,
) -> None:
    """Delete the unit's folder in `env`. (A removed environment's folders go with it, data or not: the
    environment's own removal was the reviewed change.)"""
    if not environment_gone:
        unit_plan.old_locks[env] = state.lock(env, unit) or {}
    for name, blob in state.files_of(env, unit).items():
        path = f"{unit_folder(env, unit)}/{name}"
        unit_plan.deletes.append(path)
        unit_plan.old_files[path] = blob
    objects = state.objects_of(env, unit)
    if objects:
        unit_plan.object_envs.add(env)
    if not environment_gone and _holds_data(snapshot, env, objects.values()):
        unit_plan.removes_production_data = True


def _holds_data(snapshot: Snapshot, env: str, objects: Iterable[str]) -> bool:
    """Removing these objects (keys, or an older engine's file names) would delete data in a production-type
    environment."""
    environment = snapshot.environments.get(env)
    production = environment.type == "production" if environment else env == "production"
    if not production:
        return False
    return any(kind_of(key) in _DATA_KINDS_LOWER for key in objects)


_DATA_KINDS_LOWER = frozenset(kind.lower() for kind in DATA_KINDS)

"""Provenance: what rendered/ holds at a commit, the index of its locks, and whether a unit is stale.

Staleness is decided from the repo alone. Every unit folder holds a provenance lock (`gitops_engine.lock`) with the
blob id of each input and the definition each resource was matched to; a unit is stale when an input's blob
differs, when matching would now pick another definition, or when the engine's render version changed. The locks
also form the index from a resource type (or a looked-up workload) to the units using it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from gitops_engine import RENDER_VERSION
from gitops_engine.errors import InputError
from gitops_engine.git import Git, grep_files_args
from gitops_engine.loading import Snapshot
from gitops_engine.lock import Lock, lock_object, parse_lock
from gitops_engine.manifest import MANIFEST_FILE, object_id
from gitops_engine.matching import Ambiguous, NoMatch, ResourceKey, match_definition
from gitops_engine.model import LOCK_FILE, WORKLOAD_TYPE, Environment
from gitops_engine.render import Renderer, describe_workload, lookup_fingerprint, resolve_workload_name
from gitops_engine.units import Unit

__all__ = [
    "ENSURE_MAX_UNITS",
    "Lock",
    "RenderedState",
    "definition_versions",
    "parse_lock",
    "stale_reasons",
    "workload_inputs_changed",
]

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
        self._position: dict[tuple[str, str], int] = {}  # folder -> its place in `folders`
        self._unit_envs: dict[str, set[str]] = {}  # unit -> environments that have a folder for it
        self._loaded_units: set[str] = set()
        self._envs: list[str] | None = None
        self._locks: dict[tuple[str, str], Lock | None] = {}
        self._raw: dict[tuple[str, str], bytes] = {}  # locks read in bulk, not parsed yet
        self._objects: dict[tuple[str, str], dict[str, str]] = {}  # read_objects' answers (no lock kept)
        self._listed_teams: set[str] = set()
        self._by_env: tuple[int, dict[tuple[str, str], list[str]]] | None = (
            None  # (folders, index) of units_in
        )
        if full:
            self.load_all()

    def forget(self) -> None:
        """Let go of everything read so far (listings, locks); what is asked for later is read again."""
        self.full = False
        self.folders = {}
        self._position = {}
        self._unit_envs = {}
        self._loaded_units = set()
        self._locks = {}
        self._raw = {}
        self._objects = {}
        self._listed_teams = set()
        self._by_env = None

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
                self._position[(env, unit)] = len(folders)
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
                by_env.setdefault((folder_env, Unit(unit).first), []).append(unit)
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
        found = self._objects.get((env, unit))
        if found is not None:
            return found
        lock = self.lock(env, unit)
        return self._objects_from(lock.manifests if lock is not None else None, env, unit)

    def read_objects(self, env: str, units: Iterable[str]) -> None:
        """Read the objects of the folders of `units` in `env` (objects_of) with one pipelined read, their locks
        parsed once and not kept: what a clash check asks of the other units of a namespace (8,800 of them for
        1,200 units in production at 10,000 workloads)."""
        units = set(units)
        self.ensure(units)
        keys = sorted(((env, unit) for unit in units), key=lambda key: self._position.get(key, -1))
        wanted = [key for key in keys if key not in self._objects and key not in self._locks]
        unread = [key for key in wanted if key not in self._raw and LOCK_FILE in self.folders.get(key, {})]
        read = dict(
            zip(unread, self.git.read_many([self.folders[k][LOCK_FILE] for k in unread]), strict=True)
        )
        for key in wanted:
            raw = self._raw[key] if key in self._raw else read.get(key)
            value = lock_object(raw) if raw is not None else None
            manifests = value.get("manifests") if value is not None else None
            self._objects[key] = self._objects_from(manifests if isinstance(manifests, dict) else None, *key)

    def _objects_from(self, manifests: Mapping[str, Any] | None, env: str, unit: str) -> dict[str, str]:
        if manifests is not None:
            return {object_id(str(key)): str(key) for key in manifests}
        return {
            object_id(n): n for n in self.files_of(env, unit) if n.endswith(".yaml") and n != MANIFEST_FILE
        }

    def lock(self, env: str, unit: str) -> Lock | None:
        key = (env, unit)
        if key not in self._locks:
            raw = self._raw.pop(key, None)
            if raw is None:
                blob = self.files_of(env, unit).get(LOCK_FILE)
                raw = self.git.read_blob(blob) if blob else None
            self._locks[key] = parse_lock(raw) if raw is not None else None
        return self._locks[key]

    def adopt_lock(self, env: str, unit: str, lock: Lock) -> Lock:
        """The state's lock of the unit's folder in `env`, given `lock`, parsed from the folder's lock file by a
        worker process: the state's own when it has parsed one, else `lock`, which the state keeps from now on
        (the same content, so it need not parse the file again). A lock made up for a folder without one (or
        with a lock file that is not one) is given back as it is and changes nothing."""
        key = (env, unit)
        if key in self._locks:
            held = self._locks[key]
            return held if held is not None else lock
        if lock.from_file and LOCK_FILE in self.files_of(env, unit):
            self._raw.pop(key, None)
            self._locks[key] = lock
        return lock

    def read_all_locks(self, within: set[str] | None = None) -> None:
        """Read every lock (of the `within` units only, when given) with one pipelined `cat-file --batch`: the
        index for definition changes."""
        if within is None:
            self.load_all()
            folders: Iterable[tuple[tuple[str, str], dict[str, str]]] = self.folders.items()
        else:
            self.ensure(within)
            # The folders of `within` only, in the order the listing gave them: clash checks ask this once per
            # namespace, for a few units each, of states that hold every folder.
            keys = [(env, unit) for unit in within for env in self._unit_envs.get(unit, ())]
            folders = [(key, self.folders[key]) for key in sorted(keys, key=self._position.__getitem__)]
        wanted = [
            (key, files[LOCK_FILE])
            for key, files in folders
            if LOCK_FILE in files and key not in self._locks and key not in self._raw
        ]
        for (key, _), data in zip(wanted, self.git.read_many([blob for _, blob in wanted]), strict=True):
            if data is None:
                self._locks[key] = None
            else:
                self._raw[key] = data

    def all_locks(self) -> dict[tuple[str, str], Lock]:
        """Every lock, parsed (what `usage` reports on)."""
        self.read_all_locks()
        for key in list(self._raw):
            self.lock(*key)
        return {k: v for k, v in self._locks.items() if v is not None}

    def each_lock(
        self,
        batch: int = 2048,
        parse: Callable[[bytes], Mapping[str, Any] | None] = parse_lock,
        part: tuple[int, int] = (0, 1),
    ) -> Iterator[tuple[tuple[str, str], Mapping[str, Any]]]:
        """Every lock, parsed, in (environment, unit) order, as `sorted(all_locks().items())` gives them; read
        `batch` at a time and not kept, so going over the 30,000 locks of 10,000 workloads holds a few of them.
        `parse` reads a lock file the state has not parsed (`lock.lock_object`: a plain JSON object, for a caller
        that reads a few fields of each once). `part` = (k, n): the k-th of n runs of that order, for processes
        sharing the reading."""
        self.load_all()
        keys = sorted(key for key, files in self.folders.items() if LOCK_FILE in files)
        index, parts = part
        keys = keys[index * len(keys) // parts : (index + 1) * len(keys) // parts]
        for start in range(0, len(keys), batch):
            chunk = keys[start : start + batch]
            unread = [k for k in chunk if k not in self._locks and k not in self._raw]
            read = dict(
                zip(unread, self.git.read_many([self.folders[k][LOCK_FILE] for k in unread]), strict=True)
            )
            for key in chunk:
                lock: Mapping[str, Any] | None
                if key in self._locks:
                    lock = self._locks[key]
                else:
                    raw = self._raw[key] if key in self._raw else read[key]
                    lock = parse(raw) if raw is not None else None
                if lock is not None:
                    yield key, lock

    def units_using(self, types: set[str], looked_up: set[str], within: set[str] | None = None) -> set[str]:
        """Units (among `within`, when given) with a lock in any environment that uses a resource of one of
        `types` or looks up one of the `looked_up` workloads: the index from resource type to workloads.
        Bulk-read locks are scanned as bytes (a regex for the type fields) and parsed only where a looked-up name
        appears."""
        if not types and not looked_up:
            return set()
        # Locks name a looked-up workload as the template asked for it: team/name, or the bare name.
        looked_up = set(looked_up) | {Unit(key).name for key in looked_up if "/" in key}
        if self._greps(within):
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
        # The other units' locks are not planned: let their bytes go (a later bulk read gets any it needs).
        for key in [key for key in self._raw if key[1] not in found]:
            del self._raw[key]
        return found

    def start_units_using(self, types: set[str], within: set[str] | None = None) -> None:
        """Start the git grep that units_using(types, ..., within) will ask for, so that it runs while the caller
        does other work (the changed definitions' templates are compiled meanwhile)."""
        if types and self._greps(within):
            self.git.start(*grep_files_args(self.commit, _type_patterns(types), _LOCKS))

    @staticmethod
    def _greps(within: set[str] | None) -> bool:
        """Whether units_using picks the locks to read with git grep (else it reads those of `within`)."""
        return within is None or len(within) > ENSURE_MAX_UNITS

    def _grep_locks(self, types: set[str], looked_up: set[str]) -> set[str]:
        """Units with a lock (in any environment) holding one of the types as a "type" value or one of the looked-up
        workloads as a JSON string: a superset of units_using's answer, found without reading every lock here.
        (One grep for the types, as start_units_using starts it, and one for the names.)"""
        hits = self._grep_lock_units(_type_patterns(types)) if types else set()
        if looked_up:
            hits |= self._grep_lock_units([_ere(json.dumps(other)) for other in sorted(looked_up)])
        return hits

    def _grep_lock_units(self, patterns: list[str]) -> set[str]:
        """Units with a lock in any environment matching one of the extended regular expressions (one git grep)."""
        return {str(Unit.of_path(path)) for path in self.git.grep_files(self.commit, patterns, _LOCKS)}

    def shared_users(self, res_id: str) -> list[tuple[str, Lock]]:
        """(unit, lock) of every lock declaring the shared resource `res_id`: git grep picks the locks naming it,
        and only those are read."""
        hits = self._grep_lock_units([_json_field("res_id", res_id)])
        if not hits:
            return []
        self.read_all_locks(hits)
        found: list[tuple[str, Lock]] = []
        for unit in sorted(hits):
            for env in sorted(self._unit_envs.get(unit, ())):
                lock = self.lock(env, unit)
                if lock is not None and any(
                    r.get("shared") and r.get("res_id") == res_id for r in lock.get("resources", [])
                ):
                    found.append((unit, lock))
        return found


_LOCKS = f"rendered/*/*/*/{LOCK_FILE}"  # every lock, as a glob pathspec


def _type_patterns(types: set[str]) -> list[str]:
    """Extended regular expressions for the "type" fields of locks using one of `types`."""
    return [_json_field("type", t) for t in sorted(types)]


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


def stale_reasons(lock: Mapping[str, Any] | None, snapshot: Snapshot, env_id: str, unit: str) -> list[str]:
    """Why the unit's output in `env_id` no longer matches its inputs ([] when fresh)."""
    if lock is None:
        return [f"{env_id}: not rendered yet"]
    reasons: list[str] = []
    if lock.get("engine") != RENDER_VERSION:
        reasons.append(
            f"{env_id}: rendered by engine render version {lock.get('engine')}, now {RENDER_VERSION}"
        )
    identity = Unit(unit)
    reasons += _input_reasons(lock, snapshot, identity)
    env = snapshot.environments.get(env_id)
    if env is None:
        return reasons or [f"environment {env_id} removed"]
    for other, fingerprint in lock.get("lookups", {}).items():
        if _lookup_now(snapshot, other, identity.team, env) != fingerprint:
            reasons.append(f"{env_id}: what workload {other} offers to others (address, ports) changed")
    return reasons + _definition_reasons(lock, snapshot, env, identity)


def _input_reasons(lock: Mapping[str, Any], snapshot: Snapshot, unit: Unit) -> list[str]:
    """Inputs the lock names whose blob (an environment file: its fingerprint) changed or that are gone, and files
    added to the workload's folder (a new override: an input the lock cannot name yet)."""
    reasons: list[str] = []
    inputs: Mapping[str, str] = lock.get("inputs", {})
    for path, version in inputs.items():
        current = snapshot.input_version(path)
        if current != version:
            reasons.append(f"{path} {'removed' if current is None else 'changed'}")
    if not unit.is_shared:
        for path in _folder_files(snapshot, f"workloads/{unit}/"):
            if path not in inputs:
                reasons.append(f"{path} added")
    return reasons


def _definition_reasons(
    lock: Mapping[str, Any], snapshot: Snapshot, env: Environment, unit: Unit
) -> list[str]:
    """Resources that matching would now give another definition (or none), and a workload definition that now
    applies to a workload rendered without one."""
    reasons: list[str] = []
    has_workload_resource = False
    for resource in lock.get("resources", []):
        shared = bool(resource.get("shared"))
        if resource["type"] == WORKLOAD_TYPE:
            has_workload_resource = True
        key = ResourceKey(
            resource["type"],
            resource["class"],
            resource["res_id"],
            None if shared or unit.is_shared else unit.first,
            None if shared or unit.is_shared else unit.name,
        )
        try:
            definition = match_definition(snapshot.definitions_of(resource["type"]), key, env)
        except (NoMatch, Ambiguous) as exc:
            reasons.append(f"{env.id}: resource {resource['name']}: {exc}")
            continue
        if definition.path != resource.get("definition_path"):
            reasons.append(
                f"{env.id}: resource {resource['name']} now matches {definition.path} instead of "
                f"{resource.get('definition_path')}"
            )
    if not unit.is_shared and not has_workload_resource and snapshot.definitions_of(WORKLOAD_TYPE):
        reasons.append(f"{env.id}: a workload definition now applies")
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


def definition_versions(locks: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Definition id -> the version the first of `locks` (or renderings' provenance, read alike) using it
    records."""
    versions: dict[str, str] = {}
    for lock in locks:
        for resource in lock.get("resources", []):
            versions.setdefault(resource["definition"], resource["version"])
    return versions

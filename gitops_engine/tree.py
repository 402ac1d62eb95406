"""Stage 4: the rendered tree. Render many units of a snapshot, compare with what exists, write atomically.

A unit that fails keeps its last rendered output untouched; everything else is still rendered. Files are removed
only when their source is gone (a deleted workload, an object a definition no longer produces).
"""

from __future__ import annotations

import copy
import errno
import json
import os
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitops_engine import names
from gitops_engine.errors import Finding, InputError, UsageError, group_findings
from gitops_engine.loading import Snapshot
from gitops_engine.manifest import object_id, objects_of
from gitops_engine.model import LOCK_FILE, SHARED_FOLDER
from gitops_engine.render import (
    RenderedUnit,
    Renderer,
    UnitFailure,
    deep_merge,
    is_cluster_scoped,
    namespace_clash,
    object_clash,
    unit_folder,
)
from gitops_engine.workers import map_in_workers, plan_workers, slices_of

RENDERED = "rendered"
_Declaration = tuple[str, str, str, tuple[object, object, object]]


@dataclass
class TreeBuild:
    """The outcome of rendering a set of units: what to write, and what failed."""

    units: dict[tuple[str, str], RenderedUnit] = field(default_factory=dict)  # (env, unit) -> rendered
    failures: dict[str, list[Finding]] = field(default_factory=dict)  # unit -> findings
    global_findings: list[Finding] = field(default_factory=list)  # block everything
    local_findings: list[Finding] = field(default_factory=list)  # one file each; the rest is still rendered
    environments: list[str] = field(default_factory=list)
    workloads: list[str] = field(default_factory=list)
    complete: bool = True  # every workload and environment was in scope
    # workload -> its shared resources' declarations, when found where it was rendered (a worker process)
    declarations: dict[str, list[_Declaration]] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        """Every problem once: the same one in several environments is one finding listing them."""
        return group_findings(
            [
                *(f for fs in self.failures.values() for f in fs),
                *self.global_findings,
                *self.local_findings,
            ],
            self.environments,
        )

    @property
    def ok(self) -> bool:
        return not self.failures and not any(
            f.severity == "error" for f in [*self.global_findings, *self.local_findings]
        )

    def files(self) -> dict[str, bytes]:
        """rendered/<env>/<unit>/<file> -> content, for every unit rendered successfully."""
        out: dict[str, bytes] = {}
        for (env, unit), rendered in sorted(self.units.items()):
            if unit in self.failures:
                continue
            folder = unit_folder(env, unit)
            for name, content in rendered.files.items():
                out[f"{folder}/{name}"] = content
        return out

    def protected_folders(self) -> set[str]:
        """Folders of failed units: never touched, so an error never deletes or blanks manifests."""
        return {unit_folder(env, unit) for env in self.environments for unit in self.failures}


def build_tree(
    snapshot: Snapshot,
    *,
    environments: Iterable[str] | None = None,
    workloads: Iterable[str] | None = None,
    renderer: Renderer | None = None,
    already_rendered: Mapping[tuple[str, str], Collection[str]] | None = None,
    on_unit: Callable[[], None] | None = None,
) -> TreeBuild:
    """Render the selected workloads (default all) in the selected environments (default all).
    `already_rendered`: (environment, unit) -> object ids (`manifest.object_id`) of the folders already there,
    which keep their namespace and objects in a clash (see cross_checks). `on_unit` is called after each workload and environment (progress)."""
    build = TreeBuild(global_findings=list(snapshot.findings), local_findings=list(snapshot.local_findings))
    all_envs = snapshot.environment_order
    build.environments = list(environments) if environments is not None else all_envs
    build.workloads = sorted(workloads) if workloads is not None else sorted(snapshot.workload_paths)
    build.complete = environments is None and workloads is None
    if not any(f.severity == "error" for f in build.global_findings):
        # Naming what does not exist is a usage error (exit 2); with broken settings, every name is unknown.
        unknown = [
            snapshot.unknown_environment(e) for e in build.environments if e not in snapshot.environments
        ]
        unknown += [snapshot.unknown_workload(k) for k in build.workloads if k not in snapshot.workload_paths]
        if unknown:
            raise UsageError("; ".join(unknown))
    if any(f.severity == "error" for f in build.global_findings):
        return build
    renderer = renderer or Renderer(snapshot)
    shared_failures: dict[str, list[Finding]] = {}
    workers = plan_workers(len(build.workloads))
    if workers > 1:
        parts = _render_spread(renderer, build.workloads, build.environments, workers, on_unit)
    else:
        parts = [_render_slice(renderer, build.workloads, build.environments, on_unit)]
    for part in parts:  # in workload order: what one process rendering them all would have collected
        build.units.update(part.units)
        for unit, findings in part.failures.items():
            build.failures.setdefault(unit, []).extend(findings)
        for unit, findings in part.shared_failures.items():
            shared_failures.setdefault(unit, []).extend(findings)
        build.declarations.update(part.declarations)
    for failed, findings in shared_failures.items():
        build.failures.setdefault(failed, []).extend(findings)
    for failed in build.failures:
        build.failures[failed] = sorted(set(build.failures[failed]))
    for finding in cross_checks(snapshot, build, already_rendered or {}):
        # The unit named is left as it is (two workloads in one namespace must not both be applied).
        build.failures.setdefault(finding.unit, []).append(finding)
    return build


@dataclass
class _RenderedSlice:
    """What rendering some workloads in every selected environment produced, in rendering order."""

    units: dict[tuple[str, str], RenderedUnit] = field(default_factory=dict)
    failures: dict[str, list[Finding]] = field(default_factory=dict)
    shared_failures: dict[str, list[Finding]] = field(default_factory=dict)
    declarations: dict[str, list[_Declaration]] = field(default_factory=dict)


def _render_slice(
    renderer: Renderer,
    workloads: list[str],
    environments: list[str],
    on_unit: Callable[[], None] | None = None,
) -> _RenderedSlice:
    part = _RenderedSlice()
    for key in workloads:
        for env in environments:
            try:
                rendered, shared_units = renderer.render_workload(key, env)
            except UnitFailure as exc:
                target = part.shared_failures if exc.unit.startswith(SHARED_FOLDER + "/") else part.failures
                target.setdefault(exc.unit, []).extend(exc.findings)
                if exc.unit != key:
                    part.failures.setdefault(key, []).extend(exc.findings)
            else:
                part.units[(env, key)] = rendered
                for shared in shared_units:
                    part.units[(env, shared.unit)] = shared
            if on_unit is not None:
                on_unit()
    return part


def _render_spread(
    renderer: Renderer,
    workloads: list[str],
    environments: list[str],
    workers: int,
    on_unit: Callable[[], None] | None,
) -> list[_RenderedSlice]:
    """Render the workloads on `workers` processes, one part per workload in workload order, as one process would.

    A shared resource is rendered once an environment, from the first workload that declares it (the renderer
    caches it; later declarers reuse it). So that every worker reuses the same one, the workloads that would
    render a shared resource first are rendered here, in order, before the fork; the first workload is too,
    so the caches it fills (definitions by type, compiled templates) are inherited by every worker."""
    snapshot = renderer.snapshot
    parts: dict[str, _RenderedSlice] = {}
    cached: set[tuple[str, str]] = set()
    rest: list[str] = []
    for index, key in enumerate(workloads):
        shared = {(env, res_id) for env, _, res_id, _ in shared_declarations(snapshot, key, environments)}
        if index == 0 or not shared <= cached:
            parts[key] = _render_slice(renderer, [key], environments, on_unit)
            cached |= shared
        else:
            rest.append(key)
    slices = slices_of(rest, workers)

    def render(keys: list[str]) -> list[_RenderedSlice]:
        found = [_render_slice(renderer, [key], environments) for key in keys]
        for key, part in zip(keys, found, strict=True):
            # Found here, where the workload is parsed already: the cross checks need not parse it again.
            part.declarations = {key: shared_declarations(snapshot, key, environments)}
        return found

    for keys, found in zip(slices, map_in_workers(render, slices, workers, "rendering"), strict=True):
        parts.update(zip(keys, found, strict=True))
        if on_unit is not None:
            for _ in range(len(keys) * len(environments)):
                on_unit()
    return [parts[key] for key in workloads]


def cross_checks(
    snapshot: Snapshot,
    build: TreeBuild,
    already_rendered: Mapping[tuple[str, str], Collection[str]] | None = None,
) -> list[Finding]:
    """Problems between workloads: two workloads in one namespace with one name; a shared resource declared
    differently by two workloads. Of workloads clashing in a namespace, the one already rendered there keeps it
    (a newcomer never displaces a running workload; `process` decides the same way), else the first in path
    order; every workload of the repo counts, not only the selected ones."""
    findings: list[Finding] = []
    held = already_rendered or {}
    selected = set(build.workloads)
    for env_id in build.environments:
        env = snapshot.environments[env_id]
        slots: dict[tuple[str, str], list[str]] = {}
        for key in sorted(snapshot.workload_paths):
            team, name = key.split("/", 1)
            slots.setdefault((env.namespace_for(team, name), name), []).append(key)
        for (namespace, name), keys in slots.items():
            if len(keys) < 2:
                continue
            keeper = next((k for k in keys if (env_id, k) in held), keys[0])
            findings.extend(
                Finding(
                    snapshot.workload_paths[key],
                    1,
                    1,
                    namespace_clash(name, namespace, env, snapshot.workload_paths[keeper]),
                    unit=key,
                )
                for key in keys
                if key != keeper and key in selected
            )
    declared: dict[tuple[str, str], tuple[str, object]] = {}
    for key in build.workloads:
        declarations = build.declarations.get(key)
        if declarations is None:
            declarations = shared_declarations(snapshot, key, build.environments)
        for env_id, res_name, res_id, shape in declarations:
            first = declared.setdefault((env_id, res_id), (key, shape))
            if first[1] != shape:
                findings.append(
                    snapshot.workload(key).document.finding(
                        ("resources", res_name),
                        f"shared resource {res_id!r} is declared with a different type, class or params than in "
                        f"{snapshot.workload_paths[first[0]]} ({env_id}): a shared resource must be declared the "
                        "same way everywhere",
                        unit=key,
                    )
                )
    findings.extend(_object_collisions(snapshot, build, {f.unit for f in findings}, held))
    return sorted(set(findings))


def shared_declarations(snapshot: Snapshot, key: str, environments: list[str]) -> list[_Declaration]:
    """(environment, resource name, shared id, (type, class, params)) of each shared resource a workload declares,
    after its overrides ([] for a workload that does not load)."""
    workload = snapshot.try_workload(key)
    if workload is None:
        return []
    found: list[_Declaration] = []
    for env_id in environments:
        spec = dict(workload.spec)
        override = workload.overrides.get(env_id)
        if override is not None and override.data:
            spec = deep_merge(copy.deepcopy(spec), override.data)
        for res_name, raw in sorted((spec.get("resources") or {}).items()):
            res_id = raw.get("id") if isinstance(raw, dict) else None
            if not res_id:
                continue
            shape = (raw.get("type"), raw.get("class") or "default", raw.get("params") or {})
            found.append((env_id, res_name, res_id, shape))
    return found


def _object_collisions(
    snapshot: Snapshot,
    build: TreeBuild,
    reported: set[str],
    already_rendered: Mapping[tuple[str, str], Collection[str]],
) -> list[Finding]:
    """Two units rendering the same object (kind, namespace, name): Argo CD or Flux would fight over it. The unit
    whose rendered/ folder already holds the object keeps it (as `process` decides), else the first in path
    order."""
    findings: list[Finding] = []
    # (env, namespace or "" for a cluster-scoped object, object id) -> (unit, object key) of the units rendering it
    owners: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for (env, unit), rendered in sorted(build.units.items()):
        if unit in reported:
            continue  # refused already (a namespace clash): its objects are not written, so they claim nothing
        namespace = str(rendered.provenance.get("namespace", ""))
        for key in rendered.provenance["manifests"]:
            scope = "" if is_cluster_scoped(key) else namespace
            owners.setdefault((env, scope, object_id(key)), []).append((unit, key))
    for (env, scope, ident), claims in sorted(owners.items()):
        if len(claims) < 2:
            continue
        holding = [unit for unit, _ in claims if ident in already_rendered.get((env, unit), ())]
        keeper = holding[0] if holding else claims[0][0]
        for unit, key in claims:
            if unit == keeper or unit in reported:
                continue
            path = snapshot.workload_paths.get(unit, f"{RENDERED}/{env}/{unit}")
            findings.append(
                Finding(
                    path,
                    1 if unit in snapshot.workload_paths else 0,
                    1 if unit in snapshot.workload_paths else 0,
                    object_clash(env, unit, keeper, key, scope),
                    unit=unit,
                )
            )
            reported.add(unit)
    return findings


# -------------------------------------------------------------------------------------------------------------
# Comparing and writing


@dataclass(frozen=True)
class TreeChanges:
    writes: dict[str, bytes]
    deletes: list[str]

    def __bool__(self) -> bool:
        return bool(self.writes or self.deletes)

    def paths(self) -> list[str]:
        return sorted([*self.writes, *self.deletes])


class RenderedFolders(Mapping[tuple[str, str], frozenset[str]]):
    """(environment, unit) -> object ids (`manifest.object_id`) of every unit folder under rendered/ in a work
    tree. Folders are listed up front; a folder's objects are read (from its lock) only when asked for, which a
    full render does only for the few units that clash."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[tuple[str, str], Path] = {}
        self._objects: dict[tuple[str, str], frozenset[str]] = {}
        base = root / RENDERED
        if not base.is_dir():
            return
        for env in os.scandir(base):
            if not env.is_dir(follow_symlinks=False):
                continue
            for team in os.scandir(env.path):
                if not team.is_dir(follow_symlinks=False):
                    continue
                for unit in os.scandir(team.path):
                    if unit.is_dir(follow_symlinks=False):
                        self._folders[(env.name, f"{team.name}/{unit.name}")] = Path(unit.path)

    def __contains__(self, key: object) -> bool:
        return key in self._folders

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._folders)

    def __len__(self) -> int:
        return len(self._folders)

    def __getitem__(self, key: tuple[str, str]) -> frozenset[str]:
        if key not in self._objects:
            self._objects[key] = _folder_objects(self._folders[key])
        return self._objects[key]


def _folder_objects(folder: Path) -> frozenset[str]:
    """Object ids of a unit folder: the keys its lock records, else (no readable lock) what its files hold."""
    try:
        lock = json.loads((folder / LOCK_FILE).read_bytes())
    except (OSError, ValueError):
        lock = None
    if isinstance(lock, dict) and isinstance(lock.get("manifests"), dict):
        return frozenset(object_id(str(key)) for key in lock["manifests"])
    files = [
        (f.name, Path(f.path).read_bytes()) for f in os.scandir(folder) if f.is_file(follow_symlinks=False)
    ]
    return frozenset(object_id(key) for key in objects_of(files) if "/" in key)


def rendered_units(root: Path) -> RenderedFolders:
    """Every unit folder under rendered/ in a work tree, with its objects read on demand."""
    return RenderedFolders(root)


def existing_rendered(root: Path) -> dict[str, bytes]:
    """Every file under rendered/ in a work tree."""
    found: dict[str, bytes] = {}
    base = root / RENDERED
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath) / name
            found[full.relative_to(root).as_posix()] = full.read_bytes()
    return found


def diff_tree(existing: Mapping[str, bytes], build: TreeBuild, snapshot: Snapshot) -> TreeChanges:
    """What to write and delete so `existing` matches `build`, within the build's scope."""
    desired = build.files()
    writes = {path: content for path, content in desired.items() if existing.get(path) != content}
    protected = build.protected_folders()
    rendered_folders = {unit_folder(env, unit) for env, unit in build.units}
    deletes: list[str] = []
    for path in existing:
        if path in desired:
            continue
        folder = _unit_folder_of(path)
        if folder is None or any(folder == p for p in protected):
            continue
        if folder in rendered_folders:
            deletes.append(path)  # an object the unit no longer produces
        elif (
            build.complete
            and not build.failures.get(_unit_of(folder))
            and _source_gone(folder, snapshot, build)
        ):
            deletes.append(path)  # the workload, shared resource or environment is gone
    return TreeChanges(writes=writes, deletes=sorted(deletes))


def _unit_folder_of(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) < 5 or parts[0] != RENDERED:
        return None
    return "/".join(parts[:4])


def _unit_of(folder: str) -> str:
    parts = folder.split("/")
    return f"{parts[2]}/{parts[3]}"


def _source_gone(folder: str, snapshot: Snapshot, build: TreeBuild) -> bool:
    """A rendered folder whose workload, shared resource or environment no longer exists."""
    _, env, first, second = folder.split("/")
    if env not in snapshot.environments:
        return True
    if first == SHARED_FOLDER:
        # A workload that failed may still declare it (its failure can come before its shared resources are
        # reached): only a run without failures proves a shared resource gone.
        return (env, f"{SHARED_FOLDER}/{second}") not in build.units and not build.failures
    return f"{first}/{second}" not in snapshot.workload_paths


def write_tree(root: Path, changes: TreeChanges) -> None:
    """Apply changes, all or nothing: every new file is first written to a temporary file beside its target (so a
    name too long, a file where a folder should be or a full disk shows before anything changes), then each is
    renamed into place; deletes follow, and empty folders go."""
    staged: list[tuple[str, Path]] = []  # (temporary file, target)
    created: list[Path] = []  # folders made for the new files, deepest last
    try:
        for path, content in sorted(changes.writes.items()):
            staged.append(_stage(root, path, content, created))
    except OSError as exc:
        for tmp, _ in staged:
            os.unlink(tmp)
        for folder in reversed(created):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise UsageError(
            f"cannot write {exc.filename or root}: {exc.strerror or exc}; nothing was written. Fix the file "
            "system (a file where a folder should be, permissions, space) and run again"
        ) from None
    for tmp, target in staged:
        os.replace(tmp, target)
    for path in changes.deletes:
        target = root / path
        if target.exists():
            target.unlink()
        parent = target.parent
        while parent != root and parent.exists() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _stage(root: Path, path: str, content: bytes, created: list[Path]) -> tuple[str, Path]:
    """Write `content` to a temporary file in the folder of root/path (made, and noted in `created`, if need be)."""
    target = root / path
    for folder in [*reversed(target.relative_to(root).parents), Path(path)]:
        if (root / folder).is_symlink():  # would write wherever the link points, perhaps outside the repo
            raise OSError(errno.ELOOP, "a symbolic link is in the way (remove it)", str(root / folder))
    missing = [p for p in reversed(target.relative_to(root).parents) if not (root / p).exists()]
    for folder in missing:
        (root / folder).mkdir()
        created.append(root / folder)
    if target.is_dir() and not target.is_symlink():
        raise IsADirectoryError(errno.EISDIR, "a folder is in the way", str(target))
    if len(target.name.encode("utf-8", "surrogateescape")) > names.MAX_FILE_NAME_BYTES:
        raise OSError(errno.ENAMETOOLONG, "file name too long", str(target))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp, target


def raise_if_failed(build: TreeBuild) -> None:
    if not build.ok:
        raise InputError(build.findings)

"""The rendered tree: compare what a render of many units (`batch.build_tree`) gives with what rendered/ holds,
and write the difference atomically: `diff_tree` and `write_tree`, or, when the processes that rendered the units
staged their files already (`staging.Stager`), `commit_staged`, which only renames and deletes.

A unit that fails keeps its last rendered output untouched; everything else is still rendered. Files are removed
only when their source is gone (a deleted workload, an object a definition no longer produces).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitops_engine import names
from gitops_engine.batch import RENDERED, TreeBuild, build_tree, cross_checks, shared_declarations
from gitops_engine.errors import InputError, UsageError
from gitops_engine.loading import Snapshot
from gitops_engine.lock import Lock
from gitops_engine.manifest import object_id, objects_of
from gitops_engine.model import LOCK_FILE
from gitops_engine.render import unit_folder
from gitops_engine.staging import StagedUnit, temporary_name
from gitops_engine.units import Unit

__all__ = [
    "RENDERED",
    "RenderedFolders",
    "TreeBuild",
    "TreeChanges",
    "build_tree",
    "commit_staged",
    "cross_checks",
    "diff_tree",
    "discard_staged",
    "existing_rendered",
    "raise_if_failed",
    "rendered_units",
    "shared_declarations",
    "write_tree",
]


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

    def files_of(self, key: tuple[str, str]) -> list[str]:
        """Paths (from the repository root) of every file in a unit folder listed."""
        folder = self._folders[key]
        return [
            Path(dirpath, name).relative_to(self.root).as_posix()
            for dirpath, _, filenames in os.walk(folder)
            for name in filenames
        ]

    def __getitem__(self, key: tuple[str, str]) -> frozenset[str]:
        if key not in self._objects:
            self._objects[key] = _folder_objects(self._folders[key])
        return self._objects[key]


def _folder_objects(folder: Path) -> frozenset[str]:
    """Object ids of a unit folder: the keys its lock records, else (no readable lock) what its files hold."""
    try:
        lock = Lock.parse((folder / LOCK_FILE).read_bytes())
    except OSError:
        lock = None
    if lock is not None and lock.manifests is not None:
        return frozenset(object_id(str(key)) for key in lock.manifests)
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
    return TreeChanges(writes=writes, deletes=_deletes(existing, desired, build, snapshot))


def _deletes(
    existing: Iterable[str], desired: Collection[str], build: TreeBuild, snapshot: Snapshot
) -> list[str]:
    """The files of `existing` to delete, in path order: those of a unit folder rendered that the unit no longer
    produces, and those of a folder whose source is gone; never those of a unit that failed."""
    protected = build.protected_folders()
    rendered_folders = {unit_folder(env, unit) for env, unit in build.units}
    deletes: list[str] = []
    for path in existing:
        if path in desired:
            continue
        folder = _unit_folder_of(path)
        if folder is None or folder in protected:
            continue
        if folder in rendered_folders:
            deletes.append(path)  # an object the unit no longer produces
        elif (
            build.complete
            and not build.failures.get(_unit_of(folder))
            and _source_gone(folder, snapshot, build)
        ):
            deletes.append(path)  # the workload, shared resource or environment is gone
    return sorted(deletes)


def _unit_folder_of(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) < 5 or parts[0] != RENDERED:
        return None
    return "/".join(parts[:4])


def _unit_of(folder: str) -> str:
    return str(Unit.of_path(folder + "/"))


def _source_gone(folder: str, snapshot: Snapshot, build: TreeBuild) -> bool:
    """A rendered folder whose workload, shared resource or environment no longer exists."""
    _, env, first, second = folder.split("/")
    if env not in snapshot.environments:
        return True
    unit = Unit(f"{first}/{second}")
    if unit.is_shared:
        # A workload that failed may still declare it (its failure can come before its shared resources are
        # reached): only a run without failures proves a shared resource gone.
        return (env, unit.key) not in build.units and not build.failures
    return unit.key not in snapshot.workload_paths


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
    _delete(root, changes.deletes)


def _delete(root: Path, deletes: list[str]) -> None:
    """Delete files, then the folders they leave empty."""
    for path in deletes:
        target = root / path
        if target.exists():
            target.unlink()
        parent = target.parent
        while parent != root and parent.exists() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def commit_staged(root: Path, build: TreeBuild, snapshot: Snapshot, before: RenderedFolders) -> TreeChanges:
    """Make rendered/ what a build made with a `staging.Stager` says, all or nothing: when any file could not be
    staged, remove every staged file (and the folders made for them) and raise; else rename each staged file of
    a unit that succeeded into place, remove those of units that failed, then delete what `diff_tree` would.
    `before`: the unit folders rendered/ held before the build staged anything. The changes are returned with
    empty contents (they are on disk)."""
    errors = sorted(staged.error for staged in build.staged.values() if staged.error is not None)
    if errors:
        discard_staged(root, build.staged.values())
        path, problem = errors[0]
        raise UsageError(
            f"cannot write {path}: {problem}; nothing was written. Fix the file system (a file where a folder "
            "should be, permissions, space) and run again"
        )
    kept = {key: staged for key, staged in build.staged.items() if key[1] not in build.failures}
    discard_staged(root, [staged for key, staged in build.staged.items() if key not in kept])
    writes = sorted(f"{staged.folder}/{name}" for staged in kept.values() for name in staged.written)
    for path in writes:
        folder, _, name = path.rpartition("/")
        os.replace(f"{root}/{folder}/{temporary_name(name)}", f"{root}/{path}")
    existing = [f"{staged.folder}/{name}" for staged in build.staged.values() for name in staged.existing]
    existing += [path for key in before if key not in build.staged for path in before.files_of(key)]
    desired = {f"{staged.folder}/{name}" for staged in kept.values() for name in staged.names}
    deletes = _deletes(existing, desired, build, snapshot)
    _delete(root, deletes)
    return TreeChanges(writes=dict.fromkeys(writes, b""), deletes=deletes)


def discard_staged(root: Path, staged_units: Iterable[StagedUnit]) -> None:
    """Remove the staged files of these units and the folders made for them (those left empty)."""
    created: list[str] = []
    for staged in staged_units:
        for name in staged.written:
            (root / staged.folder / temporary_name(name)).unlink(missing_ok=True)
        created.extend(staged.created)
    for folder in sorted(created, key=lambda f: f.count("/"), reverse=True):
        with contextlib.suppress(OSError):  # not empty: a unit kept wrote there too
            (root / folder).rmdir()


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

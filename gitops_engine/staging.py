"""Staging a unit's files beside their targets, in whatever process rendered the unit, for `tree.commit_staged`.

A full render writes thousands of files. So that the process that rendered a unit also writes it (and no rendered
text travels back to the parent through a pipe), `Stager` compares each file of a unit with what its folder holds
and writes the files that differ under a fixed temporary name beside their target (`.tmp-<name>.part`, created
exclusively). Nothing under rendered/ changes in a way anyone reads: the parent (`tree.commit_staged`) renames
every staged file into place once the whole render succeeded, or removes every one of them (and the folders made
for them) when anything failed. A run killed before that leaves temporary files, which the next run removes or
writes again.

Per unit: one open of its folder (no symbolic link followed), one listing, a read of each file it already holds,
and an exclusive create of each file that differs; the folders above it are checked once a process.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from gitops_engine import names
from gitops_engine.render import RenderedUnit, unit_folder

TMP_PREFIX = ".tmp-"
TMP_SUFFIX = ".part"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def temporary_name(name: str) -> str:
    """The name a file is staged under, beside its target."""
    return f"{TMP_PREFIX}{name}{TMP_SUFFIX}"


@dataclass(frozen=True)
class StagedUnit:
    """What staging one unit's files did, relative to the repository root."""

    folder: str  # rendered/<env>/<unit>
    names: tuple[str, ...]  # every file of the unit
    written: tuple[str, ...]  # those that differ from the folder's: staged under `temporary_name`
    existing: tuple[str, ...]  # what the folder held before (none of this run's temporary files)
    created: tuple[str, ...]  # folders made for it, outermost first
    error: tuple[str, str] | None = None  # (absolute path, what went wrong) when a file could not be staged


class Stager:
    """Stages units' files under the work tree at `root` (see the module docstring). Forked workers inherit it,
    with the folders this process checked already."""

    def __init__(self, root: Path, held: Collection[tuple[str, str]] = ()) -> None:
        """`held`: the (environment, unit) folders rendered/ held before the run; any other is made afresh,
        with no listing and no comparing."""
        self.root = root
        self.held = held
        self._checked: set[str] = set()  # folders above unit folders known to be real folders

    def __call__(self, rendered: RenderedUnit) -> StagedUnit:
        folder = unit_folder(rendered.env, rendered.unit)
        created: list[str] = []
        written: list[str] = []
        try:
            self._check_parents(folder, created)
            if (rendered.env, rendered.unit) not in self.held and self._new_folder(folder, created):
                for name, content in rendered.files.items():
                    _write_new(f"{self.root}/{folder}", name, content, None)
                    written.append(name)
                existing: tuple[str, ...] = ()
            else:
                existing = self._stage_files(folder, rendered.files, created, written)
        except OSError as exc:
            where = exc.filename if exc.filename else str(self.root / folder)
            error = (str(where), exc.strerror or str(exc))
            return StagedUnit(folder, tuple(rendered.files), tuple(written), (), tuple(created), error)
        return StagedUnit(folder, tuple(rendered.files), tuple(written), existing, tuple(created))

    def _check_parents(self, folder: str, created: list[str]) -> None:
        parts = folder.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in self._checked:
                continue
            if self._make_folder(parent):
                created.append(parent)
            self._checked.add(parent)

    def _make_folder(self, folder: str) -> bool:
        """True when `folder` was made; an error when a file or a symbolic link is in its way."""
        path = str(self.root / folder)
        try:
            os.mkdir(path)
            return True
        except FileExistsError:
            pass
        fd = _open_folder(path)
        os.close(fd)
        return False

    def _new_folder(self, folder: str, created: list[str]) -> bool:
        """Make the unit's folder; False when it is there already (an earlier run's, killed)."""
        try:
            os.mkdir(f"{self.root}/{folder}")
        except FileExistsError:
            return False
        created.append(folder)
        return True

    def _stage_files(
        self, folder: str, files: dict[str, bytes], created: list[str], written: list[str]
    ) -> tuple[str, ...]:
        """Stage the files that differ (noted in `written` as they are); what the folder held before."""
        path = str(self.root / folder)
        try:
            fd = _open_folder(path)
        except FileNotFoundError:
            os.mkdir(path)
            created.append(folder)
            fd = _open_folder(path)
        try:
            held = {entry.name: entry for entry in os.scandir(fd)}
            for name, content in files.items():
                if _stage_file(fd, path, name, content, held.get(name)):
                    written.append(name)
            mine = {temporary_name(name) for name in files}
            for leftover in mine & held.keys() - {temporary_name(n) for n in written}:
                os.unlink(leftover, dir_fd=fd)  # an earlier run's, killed before it renamed it
        finally:
            os.close(fd)
        return tuple(sorted(_held_files(path, held, mine)))


def _held_files(path: str, held: dict[str, os.DirEntry[str]], mine: set[str]) -> list[str]:
    """The files of a folder (those of folders in it too, as `sub/name`), less this run's temporary names."""
    found = [
        name for name, entry in held.items() if name not in mine and not entry.is_dir(follow_symlinks=False)
    ]
    for name, entry in held.items():
        if entry.is_dir(follow_symlinks=False):
            for dirpath, _, filenames in os.walk(f"{path}/{name}"):
                found.extend(os.path.relpath(f"{dirpath}/{f}", path) for f in filenames)
    return found


def _open_folder(path: str) -> int:
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError as exc:
        # With O_DIRECTORY, Linux says ENOTDIR for a symbolic link, not ELOOP.
        if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and os.path.islink(path)):
            raise OSError(errno.ELOOP, "a symbolic link is in the way (remove it)", path) from None
        if exc.errno == errno.ENOTDIR:
            raise OSError(errno.ENOTDIR, "a file is where a folder should be", path) from None
        raise


def _stage_file(fd: int, folder: str, name: str, content: bytes, entry: os.DirEntry[str] | None) -> bool:
    """Write `content` under the temporary name of `name` unless the file holds it already; True when written."""
    target = f"{folder}/{name}"
    if entry is not None:
        if entry.is_symlink():  # would write wherever the link points, perhaps outside the repo
            raise OSError(errno.ELOOP, "a symbolic link is in the way (remove it)", target)
        if entry.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder is in the way", target)
        if _holds(fd, name, content):
            return False
    _write_new(folder, name, content, fd)
    return True


def _write_new(folder: str, name: str, content: bytes, fd: int | None) -> None:
    """Write `content` under the temporary name of `name` in `folder` (open as `fd`, when given)."""
    target = f"{folder}/{name}"
    if len(name.encode("utf-8", "surrogateescape")) > names.MAX_FILE_NAME_BYTES:
        raise OSError(errno.ENAMETOOLONG, "file name too long", target)
    tmp = temporary_name(name) if fd is not None else f"{folder}/{temporary_name(name)}"
    try:
        out = os.open(tmp, _NEW_FILE, 0o666, dir_fd=fd)
    except FileExistsError:  # an earlier run's, killed before it renamed it
        os.unlink(tmp, dir_fd=fd)
        out = os.open(tmp, _NEW_FILE, 0o666, dir_fd=fd)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(out, view) :]
    except OSError as exc:
        os.close(out)
        os.unlink(tmp, dir_fd=fd)
        raise OSError(exc.errno, exc.strerror, target) from None
    os.close(out)


def _holds(fd: int, name: str, content: bytes) -> bool:
    """Whether the file `name` of the folder open as `fd` holds exactly `content`."""
    handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    try:
        held = os.read(handle, len(content) + 1)
        while len(held) <= len(content):
            more = os.read(handle, len(content) + 1 - len(held))
            if not more:
                break
            held += more
    finally:
        os.close(handle)
    return held == content

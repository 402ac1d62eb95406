"""Where a snapshot's files come from: a commit read straight from git objects (no checkout), or the work tree
as it is on disk. Both list the same source files under the same git blob ids and refuse symbolic links (listed,
never followed); what the files mean is loading.py's business.

A commit's workloads/ can be listed one workload folder at a time (LazyFiles), so that a run that reads a few
workloads costs the same whatever the size of the repo.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from gitops_engine.errors import Finding, InputError
from gitops_engine.git import Git, blob_id

PLATFORM_FILE = "platform.yaml"
CODEOWNERS_FILES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
SOURCE_ROOTS = ("environments/", "definitions/", "workloads/")

_SOURCE_FILES = frozenset({PLATFORM_FILE, *CODEOWNERS_FILES})  # sources outside SOURCE_ROOTS
_ROOT_FOLDERS = tuple(root.rstrip("/") for root in SOURCE_ROOTS)  # as a symbolic link in their place is named
SYMLINK_MODE = "120000"


def symlink_finding(path: str) -> Finding:
    """A symbolic link among the inputs: never followed, whether in the work tree or committed."""
    return Finding(
        path,
        0,
        0,
        "is a symbolic link: the engine reads only regular files and folders, so that no input can point outside "
        "the repo or differ between checkouts; replace the link with the file or folder itself",
    )


def is_source_path(path: str) -> bool:
    return path.startswith(SOURCE_ROOTS) or path in _SOURCE_FILES


def environment_of(path: str) -> str | None:
    """The environment id an environment file's path names (`environments/<id>.yaml`); None for any other path."""
    if path.startswith("environments/") and path.endswith(".yaml") and path.count("/") == 1:
        return path[len("environments/") : -len(".yaml")]
    return None


class Source(Protocol):
    """Where a snapshot's files come from."""

    def files(self) -> Mapping[str, str]:
        """Every source file: path -> git blob id."""
        ...

    def read(self, path: str) -> bytes:
        """A file's content; an InputError for a symbolic link (see symlinks)."""
        ...

    @property
    def label(self) -> str: ...

    @property
    def symlinks(self) -> set[str]:
        """Paths among files() that are symbolic links (listed, never followed), as far as files are listed."""
        ...


_OUTSIDE_WORKLOADS = (
    PLATFORM_FILE,
    "environments/",
    "definitions/",
    "environments",  # a symbolic link in place of the folder
    "definitions",
    *CODEOWNERS_FILES,
)


class GitSource:
    """A commit, read straight from git objects (no checkout)."""

    def __init__(self, git: Git, commit: str, *, resolved: bool = False, lazy: bool = False) -> None:
        """`resolved`: `commit` is already a commit id (read from a ref), so it need not be looked up. `lazy`:
        list workloads/ one folder at a time, as they are used (see LazyFiles)."""
        self.git = git
        self.commit = commit if resolved else git.rev_parse(commit)
        self.lazy = lazy
        self._files: Mapping[str, str] | None = None
        self._symlinks: set[str] = set()
        self._fetched: dict[str, bytes] = {}  # read ahead (see prefetch), until read

    @property
    def label(self) -> str:
        return self.commit[:12]

    def files(self) -> Mapping[str, str]:
        if self._files is None:
            self._files = LazyFiles(self) if self.lazy else self.listing()
        return self._files

    @property
    def symlinks(self) -> set[str]:
        return self._symlinks

    def listing(
        self,
        paths: tuple[str, ...] = (PLATFORM_FILE, *SOURCE_ROOTS, *_ROOT_FOLDERS, *CODEOWNERS_FILES),
    ) -> dict[str, str]:
        """Source files of the commit under `paths` (files or folders ending in "/"): path -> blob id. Symbolic
        links (mode 120000) are listed too, and noted in `symlinks`."""
        entries = self.git.ls_tree_entries(self.commit, paths)
        # is_source_path, inlined: 11,000 calls at 10,000 workloads
        found = {
            path: sha
            for path, (_, sha) in entries.items()
            if path.startswith(SOURCE_ROOTS) or path in _SOURCE_FILES
        }
        for path, (mode, sha) in entries.items():
            if mode == SYMLINK_MODE and (path in found or path in _ROOT_FOLDERS):
                found[path] = sha
                self._symlinks.add(path)
        return found

    def read(self, path: str) -> bytes:
        if path in self._symlinks:
            raise InputError([symlink_finding(path)])
        fetched = self._fetched.pop(path, None)
        return fetched if fetched is not None else self.git.read_blob(self.files()[path])

    def prefetch(self, paths: Iterable[str]) -> None:
        """Read these files in one round trip, ahead of `read` (a snapshot's settings, environments and
        definitions: one question each would wait for git a dozen times)."""
        files = self.files()
        wanted = [path for path in paths if path in files and path not in self._symlinks]
        for path, data in zip(wanted, self.git.read_many([files[path] for path in wanted]), strict=True):
            if data is not None:
                self._fetched[path] = data

    def folders_named(self, name: str) -> list[str]:
        """ "team/name" for each team folder under workloads/ that holds a folder `name` (whether or not it is a
        valid workload): a probe per team folder, not a listing of workloads.

        The team trees are read in one batch and searched, where a path lookup per team would read the root and
        workloads/ trees again for each (~27 ms for 200 teams)."""
        teams = self.git.subtrees(f"{self.commit}:workloads")
        wanted = b"40000 " + name.encode("utf-8", "surrogateescape") + b"\0"
        return [
            f"{team}/{name}"
            for team, tree in zip(teams, self.git.read_many(list(teams.values())), strict=True)
            if tree is not None
            and wanted in tree
            and wanted in _tree_folder_names(tree, len(self.commit) // 2)
        ]


class LazyFiles(Mapping[str, str]):
    """A commit's source files, with workloads/ listed one workload folder at a time when first asked for: a run
    that reads a few workloads costs the same whatever the number of workloads (a full listing is ~11,000 records
    and ~50 ms at 10,000 workloads). Iterating lists every file once, as a full listing does."""

    def __init__(self, source: GitSource) -> None:
        self.source = source
        self._outside = source.listing(_OUTSIDE_WORKLOADS)  # settings, environments, definitions: small
        self._folders: dict[str, dict[str, str]] = {}  # "team/name" -> its files, in path order
        self._all: dict[str, str] | None = None
        self._sorted: list[str] = []  # every path under workloads/, once everything is listed
        self._loose: dict[str, str | None] = {}  # files right under workloads/ or a team folder, as asked for

    @property
    def complete(self) -> bool:
        return self._all is not None

    def everything(self) -> dict[str, str]:
        if self._all is None:
            self._all = self.source.listing()
            self._sorted = sorted(p for p in self._all if p.startswith("workloads/"))
        return self._all

    def folder(self, key: str) -> dict[str, str]:
        """Files under workloads/<key>/ (path -> blob id), in path order; {} when there is no such folder."""
        if self._all is not None:
            return folder_of(self._sorted, self._all, key)
        prefix = f"workloads/{key}/"
        if key not in self._folders:
            # ls-tree takes its paths literally (no wildcards), and one starting with "workloads/" has no magic.
            listed = self.source.listing((prefix,)) if "\n" not in key and key.count("/") == 1 else {}
            self._folders[key] = dict(sorted(listed.items()))
        return self._folders[key]

    def __getitem__(self, path: str) -> str:
        if self._all is not None:
            return self._all[path]
        if path.startswith("workloads/"):
            parts = path.split("/", 3)
            if len(parts) == 4:
                return self.folder(f"{parts[1]}/{parts[2]}")[path]
            if path not in self._loose:  # a file outside any workload folder (misplaced): rare
                self._loose[path] = self.source.listing((path,)).get(path)
            found = self._loose[path]
            if found is None:
                raise KeyError(path)
            return found
        return self._outside[path]

    def outside(self) -> list[str]:
        """Every source file outside workloads/."""
        return list(self._outside)

    def folder_listing(self) -> list[str]:
        """Every path under workloads/, sorted (everything is listed first)."""
        self.everything()
        return self._sorted

    def __iter__(self) -> Iterator[str]:
        return iter(self.everything())

    def __len__(self) -> int:
        return len(self.everything())


def folder_of(listing: list[str], files: Mapping[str, str], key: str) -> dict[str, str]:
    """Files under workloads/<key>/ (path -> blob id), in path order, by bisecting the sorted listing of
    workloads/: one folder costs the same whatever the size of the repo."""
    prefix = f"workloads/{key}/"
    start = bisect.bisect_left(listing, prefix)
    end = bisect.bisect_left(listing, prefix[:-1] + "0")  # "0" follows "/": just past the folder
    return {path: files[path] for path in listing[start:end]}


def _tree_folder_names(tree: bytes, id_size: int) -> set[bytes]:
    """The entries of a raw git tree object that are folders, as b"40000 <name>\\0" (the object's own spelling):
    entries are "<mode> <name>\\0<binary id>", with ids of `id_size` bytes (20 for SHA-1, 32 for SHA-256)."""
    names: set[bytes] = set()
    offset, size = 0, len(tree)
    while offset < size:
        end = tree.index(b"\0", offset)
        entry = tree[offset : end + 1]
        if entry.startswith(b"40000 "):
            names.add(entry)
        offset = end + 1 + id_size
    return names


def outside_workloads(files: Mapping[str, str]) -> Iterable[str]:
    """Paths of every source file but workloads' (what settings, environments and definitions are read from): a
    lazy listing gives them without listing workloads/."""
    if isinstance(files, LazyFiles):
        return files.outside()
    return (p for p in files if not p.startswith("workloads/"))


class WorkTreeSource:
    """The files as they are on disk, uncommitted edits included."""

    def __init__(self, root: Path, only: tuple[str, ...] | None = None) -> None:
        self.root = root
        self.only = only  # these paths alone (None: every source file)
        self._files: dict[str, str] | None = None
        self._content: dict[str, bytes] = {}
        self._symlinks: set[str] = set()

    @property
    def label(self) -> str:
        return "work tree"

    @property
    def symlinks(self) -> set[str]:
        self.files()
        return self._symlinks

    def files(self) -> dict[str, str]:
        """Every source file, and every symbolic link among them (listed as git lists one: the blob of its
        target's path; never followed)."""
        if self._files is None:
            found: dict[str, str] = {}
            for path in self._candidates():
                full = self.root / path
                if full.is_symlink():
                    self._symlinks.add(path)
                    found[path] = blob_id(os.fsencode(os.readlink(full)))
                elif full.is_file():
                    data = full.read_bytes()
                    self._content[path] = data
                    found[path] = blob_id(data)
            self._files = found
        return self._files

    def _candidates(self) -> list[str]:
        """The paths that may be source files, in listing order: the ones asked for (`only`), else platform.yaml,
        CODEOWNERS and every file under the source roots, with links to folders (and a root that is a link) as
        files."""
        if self.only is not None:
            return list(self.only)
        candidates = [PLATFORM_FILE, *CODEOWNERS_FILES]
        for top in _ROOT_FOLDERS:
            base = self.root / top
            if base.is_symlink():
                candidates.append(top)
                continue
            for dirpath, dirnames, filenames in os.walk(base):  # never follows links to folders
                dirnames.sort()
                rel = Path(dirpath).relative_to(self.root).as_posix()
                linked = [name for name in dirnames if os.path.islink(os.path.join(dirpath, name))]
                candidates.extend(f"{rel}/{name}" for name in sorted([*filenames, *linked]))
        return candidates

    def read(self, path: str) -> bytes:
        if path not in self._content:
            self.files()
        if path in self._symlinks:
            raise InputError([symlink_finding(path)])
        return self._content[path]

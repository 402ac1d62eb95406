"""Where the `local` forge keeps its records: JSON files beside a bare repository, `<bare repo>/gitops-engine/`.

- `pulls/<number>.json`: a pull request;
- `branches/<branch, '/' as '%2F'>`: the numbers opened for a branch, so finding or opening one reads a file or two
  whatever the number of pull requests;
- `automerge`: the numbers of auto-merge pull requests, so `merge_ready` reads only those;
- `issues/<number>.json`: an issue (the rollout dashboard), numbered apart from pull requests.

Every write is one file written then renamed into place, under one file lock, so a process killed at any moment
leaves each file whole; `gitops_engine.forge.local` holds the forge calls on top.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitops_engine.errors import ForgeError

TMP_PREFIX = ".tmp-"


class LocalStore:
    """The records under `root` (`<bare repo>/gitops-engine`). Call the readers and writers inside `locked()`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._last_number = 0  # the last pull request this client opened (see next_number)
        self._swept = False  # leftovers of killed writers removed (see _sweep)
        self._lock: tuple[int, tuple[int, int], weakref.finalize[[int], LocalStore]] | None = (
            None  # fd, (dev, ino), closer
        )

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        fd = self._lock_fd()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if not self._swept:
                self._sweep()
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock_fd(self) -> int:
        """The lock file, opened once per client (creating a file costs more than the rest of a small write):
        opened again only when the file at its path is no longer the one held (the store was removed)."""
        path = self.root / ".lock"
        if self._lock is not None:
            fd, held, close = self._lock
            with contextlib.suppress(FileNotFoundError):
                now = os.stat(path)
                if (now.st_dev, now.st_ino) == held:
                    return fd
            self._lock = None
            close()  # closes it once: the finalizer is then dead
        (self.root / "pulls").mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
        opened = os.fstat(fd)
        self._lock = (fd, (opened.st_dev, opened.st_ino), weakref.finalize(self, _close_quietly, fd))
        return fd

    def _sweep(self) -> None:
        """Remove temporary files of writers that were killed before their rename (every writer holds the lock, so
        none is in progress now). Once per client: a listing of the store is not free with 10,000 pull requests."""
        self._swept = True
        for folder in (self.root / "pulls", self.root / "branches", self.root / "issues"):
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(folder):
                    if name.startswith(TMP_PREFIX):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(folder / name)

    def numbers(self) -> list[int]:
        folder = self.root / "pulls"
        if not folder.is_dir():
            return []
        return sorted(
            int(name[:-5]) for name in os.listdir(folder) if name.endswith(".json") and name[:-5].isdigit()
        )

    def load(self, number: int) -> dict[str, Any]:
        path = self.root / "pulls" / f"{number}.json"
        try:
            record: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise ForgeError(f"local pull request #{number} does not exist in {self.root}") from None
        return record

    def load_all(self) -> list[dict[str, Any]]:
        return [self.load(number) for number in self.numbers()]

    def branch_index(self, branch: str) -> Path:
        return self.root / "branches" / branch.replace("%", "%25").replace("/", "%2F")

    def indexed(self, branch: str) -> list[int]:
        """The numbers a branch's index lists (possibly one whose record a killed writer never wrote)."""
        try:
            text = self.branch_index(branch).read_text()
        except FileNotFoundError:
            return []
        return list(dict.fromkeys(int(n) for n in text.split()))

    def for_branch(self, branch: str, indexed: list[int] | None = None) -> list[dict[str, Any]]:
        """The records of a branch's pull requests (`indexed`: its index, when the caller read it already). The
        index is written before the record it announces (see create_pull_request), so it never misses one; an
        announced number without a record, or whose record is another branch's (the number was taken again after
        a kill), is skipped."""
        found = []
        for number in self.indexed(branch) if indexed is None else indexed:
            try:
                record = self.load(number)
            except ForgeError:
                continue
            if record["branch"] == branch:
                found.append(record)
        return found

    def write_atomically(self, target: Path, text: str) -> None:
        """One rename makes a write visible whole or not at all; a writer killed before it leaves a `.tmp-` file
        that the next client removes (see locked)."""
        import tempfile  # lazy: with shutil, bz2 and lzma, ~4 ms of a start-up that may write nothing

        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TMP_PREFIX)
        except FileNotFoundError:  # the folder's first file
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TMP_PREFIX)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)

    def save(self, record: dict[str, Any]) -> None:
        text = json.dumps(record, indent=2, sort_keys=True) + "\n"
        self.write_atomically(self.root / "pulls" / f"{record['number']}.json", text)

    def next_number(self) -> int:
        """The next pull-request number. Counted from the store once per client, then one past the last one this
        client opened, as long as that file is still the newest (checked under the lock): creating many pull
        requests costs a stat each, not a directory listing each."""
        number = self._last_number + 1 if self._last_number else 0
        if (
            not number
            or (self.root / "pulls" / f"{number}.json").exists()
            or not (self.root / "pulls" / f"{number - 1}.json").exists()
        ):
            number = max(self.numbers(), default=0) + 1
        self._last_number = number
        return number

    def automerge_index(self) -> Path:
        return self.root / "automerge"

    def automerge_numbers(self) -> list[int]:
        try:
            text = self.automerge_index().read_text()
        except FileNotFoundError:
            return []
        return list(dict.fromkeys(int(n) for n in text.split()))

    def announce_automerge(self, number: int) -> None:
        """List a pull request among the auto-merge ones before its record says so (a kill between the two
        leaves a number merge_ready skips, never an auto-merge pull request it cannot find)."""
        numbers = self.automerge_numbers()
        if number not in numbers:
            self.write_atomically(self.automerge_index(), "".join(f"{n}\n" for n in [*numbers, number]))

    def issue_records(self) -> list[dict[str, Any]]:
        folder = self.root / "issues"
        if not folder.is_dir():
            return []
        names = sorted(int(n[:-5]) for n in os.listdir(folder) if n.endswith(".json") and n[:-5].isdigit())
        return [json.loads((folder / f"{n}.json").read_text()) for n in names]

    def save_issue(self, record: dict[str, Any]) -> None:
        self.write_atomically(
            self.root / "issues" / f"{record['number']}.json",
            json.dumps(record, indent=2, sort_keys=True) + "\n",
        )


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)

"""Progress of long runs: a live counter on a terminal's stderr, `::group::` sections under GitHub Actions, and
nothing otherwise (a pipe, a file, machine-readable output), so what scripts read never changes.

Commands ask `Progress.for_command(format)` for the display that fits where they run; core code only sees a
`tick` callback (units rendered) or a forge wrapped by `counting_forge` (pull requests written).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO

from gitops_engine import ghactions
from gitops_engine.forge import Forge, PullRequest, PullRequestDraft

Mode = Literal["off", "terminal", "github"]
_REDRAW_SECONDS = 0.1  # a terminal redraw at most this often: printing is slower than rendering a unit


class Progress:
    """One command's progress display. `section` groups output under GitHub Actions; `start`/`tick` count."""

    def __init__(self, mode: Mode, *, stderr: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.mode = mode
        self._stderr = stderr or sys.stderr
        self._stdout = stdout or sys.stdout
        self._what = ""
        self._done = 0
        self._total: int | None = None
        self._drawn = 0.0
        self._counts: dict[str, int] = {}

    @classmethod
    def for_command(cls, output_format: str = "text", *, stdout: TextIO | None = None) -> Progress:
        """Off for machine-readable formats; groups under GitHub Actions; a counter when stderr is a terminal."""
        if output_format in ("json", "sarif"):
            return cls("off")
        if ghactions.in_github_actions():
            return cls("github", stdout=stdout)
        try:
            terminal = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
        except (AttributeError, ValueError):
            terminal = False
        return cls("terminal" if terminal else "off")

    @contextmanager
    def section(self, title: str) -> Iterator[None]:
        """Under GitHub Actions, everything printed inside is one collapsible group of the log."""
        if self.mode == "github":
            self._stdout.write(f"::group::{ghactions.escape_data(title)}\n")
            self._stdout.flush()
        try:
            yield
        finally:
            self.finish()
            if self.mode == "github":
                self._stdout.write("::endgroup::\n")
                self._stdout.flush()

    def start(self, what: str, total: int | None = None) -> None:
        """Count `what` from zero (of `total`, when known)."""
        self._what, self._done, self._total = what, 0, total
        self._draw(force=True)

    def tick(self, count: int = 1) -> None:
        self._done += count
        self._draw(force=self._total is not None and self._done >= self._total)

    def count(self, name: str) -> None:
        """One more of a named kind (e.g. "pull requests written"), shown beside the counter."""
        self._counts[name] = self._counts.get(name, 0) + 1
        self._draw(force=True)

    def print(self, line: str, stream: TextIO) -> None:
        """Write a line of the command's output without tearing the counter (it is drawn again after)."""
        self.finish()
        stream.write(line + "\n")
        stream.flush()
        self._draw(force=True)

    def finish(self) -> None:
        """Clear the counter line (the command's own output follows)."""
        if self.mode == "terminal" and self._drawn:
            self._stderr.write("\r\x1b[K")
            self._stderr.flush()
            self._drawn = 0.0

    def _draw(self, *, force: bool) -> None:
        if self.mode != "terminal" or not self._what:
            return
        now = time.monotonic()
        if not force and now - self._drawn < _REDRAW_SECONDS:
            return
        of = f"/{self._total}" if self._total is not None else ""
        counted = f": {self._done}{of}" if self._total is not None or self._done else ""
        extra = "".join(f", {n} {name}" for name, n in self._counts.items())
        self._stderr.write(f"\r\x1b[K{self._what}{counted}{extra}")
        self._stderr.flush()
        self._drawn = now


class _CountingForge:
    """A forge that tells the progress display about every pull request it writes; everything else passes."""

    def __init__(self, forge: Forge, progress: Progress) -> None:
        self._forge = forge
        self._progress = progress

    def __getattr__(self, name: str) -> Any:
        return getattr(self._forge, name)

    def create_pull_request(self, draft: PullRequestDraft) -> PullRequest:
        pull = self._forge.create_pull_request(draft)
        self._progress.count("pull requests written")
        return pull

    def update_pull_request(self, number: int, draft: PullRequestDraft) -> PullRequest:
        pull = self._forge.update_pull_request(number, draft)
        self._progress.count("pull requests written")
        return pull

    def close_pull_request(self, number: int, comment: str) -> None:
        self._forge.close_pull_request(number, comment)
        self._progress.count("pull requests closed")


def counting_forge(forge: Forge, progress: Progress) -> Forge:
    """`forge`, counting its pull-request writes on `progress` (the forge itself when the display is off)."""
    if progress.mode != "terminal":
        return forge
    return _CountingForge(forge, progress)  # type: ignore[return-value]

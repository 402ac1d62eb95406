"""Teams and CODEOWNERS: the line that gives a team its workload folder, and the check that every team has one.

The engine asks the owners of `workloads/<team>/…` to review the pull requests it opens (see publishing), and
GitHub enforces their review when `main` requires code-owner approval. A team folder that only a catch-all
pattern (`*`, `/workloads/`) covers sends its pull requests to whoever owns everything: that is what the check
reports. This module reads a CODEOWNERS text and matches its patterns (the snapshot keeps the file's rules: see
Snapshot.owner_pattern), adds a team's line and checks that every team has one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitops_engine.errors import Finding
from gitops_engine.source import CODEOWNERS_FILES

if TYPE_CHECKING:  # loading reads CODEOWNERS with this module
    from gitops_engine.loading import Snapshot

DEFAULT_FILE = CODEOWNERS_FILES[0]
# A GitHub user or team (`@login`, `@org/team-slug`) or an e-mail address, as CODEOWNERS accepts them.
OWNER = re.compile(
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:/[A-Za-z0-9._-]+)?\Z|[^@\s]+@[^@\s]+\.[^@\s]+\Z"
)
# No team folder is ever called this (a team name is a DNS label: no leading '.'): whatever owns it owns every team.
_PROBE_TEAM = ".gitops-engine-probe"

_NEW_FILE = """\
# Who reviews what. The last matching pattern wins (GitHub CODEOWNERS semantics).
# Protect `main` with "Require review from Code Owners" so these reviews are enforced.

# Each team owns its workloads: Score files, the files they reference and per-environment overrides.
"""


def rule_words(line: str) -> list[str]:
    """A CODEOWNERS line's pattern and owners; none for a comment or a blank line."""
    return line.split("#", 1)[0].split()


def parse(text: str) -> dict[str, tuple[str, ...]]:
    """A CODEOWNERS text's rules: pattern -> owners, in file order. A pattern given again moves to its last place
    with its last owners (the last matching pattern wins)."""
    owners: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        words = rule_words(line)
        if words:
            owners.pop(words[0], None)
            owners[words[0]] = tuple(words[1:])
    return owners


def matches(pattern: str, path: str) -> bool:
    """Whether a CODEOWNERS pattern covers a path (a file's path from the repository root, no leading '/'). A path
    ending in '/' stands for a folder: covered when any file right in it would be, whatever its name."""
    return compile_pattern(pattern).match(_probe(path)) is not None


def last_match(patterns: Sequence[str]) -> Callable[[str], str | None]:
    """The last of `patterns` that covers a path (the one whose owners GitHub takes), or None. Patterns anchored at
    the root are indexed by the plain folder names they start with (`/workloads/team-a/`: workloads, team-a), so a
    path is matched against the patterns its own first folders lead to and those that start with a wildcard or
    match at any depth, last first: a few, whatever the number of teams (201 patterns, 6,000 paths: 389 ms one
    pattern at a time, ~17 ms)."""
    order = list(patterns)
    compiled = [compile_pattern(pattern) for pattern in order]
    anywhere: list[int] = []  # patterns without a plain first folder
    by_start: dict[tuple[str, ...], list[int]] = {}  # the plain folders a pattern starts with -> its indexes
    for index, pattern in enumerate(order):
        start = _plain_start(pattern)
        (by_start.setdefault(start, []) if start else anywhere).append(index)

    def find(path: str) -> str | None:
        probe = _probe(path)
        names = tuple(probe.split("/"))
        candidates = list(anywhere)
        for depth in range(1, len(names) + 1):
            candidates += by_start.get(names[:depth], ())
        for index in sorted(candidates, reverse=True):
            if compiled[index].match(probe) is not None:
                return order[index]
        return None

    return find


def _plain_start(pattern: str) -> tuple[str, ...]:
    """The names a pattern's matches must start with (its leading parts without wildcards or escapes, when it is
    anchored at the root); none for a pattern that matches at any depth or starts with a wildcard."""
    start: list[str] = []
    for part in _parts(pattern):
        if part == "**" or any(char in part for char in "*?\\"):
            break
        start.append(part)
    return tuple(start)


def _probe(path: str) -> str:
    """A path as the patterns' expressions read it: a folder ('/' at the end) as a file right in it, named what no
    pattern spells out (only wildcards and folder patterns cover it)."""
    return path + "\0" if path.endswith("/") else path


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A CODEOWNERS pattern as a regular expression over whole paths, by GitHub's rules (gitignore's, with its
    documented exceptions):

    - a pattern with a '/' at its start or in its middle is anchored at the root; one with none (`*.js`, `apps/`)
      matches at any depth;
    - a trailing '/' (`/docs/`) covers everything below the folder, at any depth; so does a last part that names
      a folder (`/build/logs`), except a last part that is exactly `*`: `docs/*` covers `docs/a.md` but not
      `docs/build/a.md`;
    - `*` is any run of characters but '/', `?` one such character, `**` any number of whole folders;
    - `\\` escapes the next character; `[…]` ranges and `!` negation do not work on GitHub and are read as plain
      characters here too.
    """
    if not pattern.strip("/"):
        return re.compile(r"(?!)")  # `/` alone covers nothing
    parts = _parts(pattern)
    regex = r"\A"
    for index, part in enumerate(parts):
        first, last = index == 0, index == len(parts) - 1
        slash = (
            "" if first or (index == 1 and parts[0] == "**") else "/"
        )  # a leading `**` ends in its own "/"
        if part == "**":
            regex += ".+" if first and last else "(?:.+/)?" if first else "/.*" if last else "(?:/.+)?"
        elif part == "*":
            regex += slash + "[^/]+"
        else:
            regex += slash + _glob(part) + ("(?:/.*)?" if last else "")
    return re.compile(regex + r"\Z")


def _parts(pattern: str) -> list[str]:
    """A pattern's parts from the root: `**` first for one that matches at any depth, `**` last for a folder."""
    parts = pattern.split("/")
    if parts[0] == "":
        parts = parts[1:]  # anchored at the root
    elif (len(parts) == 1 or (len(parts) == 2 and parts[1] == "")) and parts[0] != "**":
        parts = ["**", *parts]  # a bare name: at any depth
    if parts and parts[-1] == "":
        parts[-1] = "**"
    return parts


def _glob(part: str) -> str:
    out: list[str] = []
    escaped = False
    for char in part:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def team_pattern(team: str) -> str:
    return f"/workloads/{team}/"


@dataclass(frozen=True)
class Addition:
    """What adding a team's lines did: the file, its new text (None: nothing to change), the line number of the
    team's workloads line and of its rendered line (0: the file has no rendered/ owners, so none)."""

    path: str
    text: str | None
    line: int
    rendered_line: int = 0


def rendered_pattern(team: str) -> str:
    return f"/rendered/*/{team}/"


def add_team_owner(path: str, text: str | None, team: str, owner: str) -> Addition:
    """Add `/workloads/<team>/ <owner>` to a CODEOWNERS text (None: a new file), after the other teams' lines; and,
    when the file gives rendered/ its own owners (a `/rendered/…` line, as the repo template does), the team's
    `/rendered/*/<team>/ <owner>` after the last of those, so the pull requests the engine opens for the team's
    workloads (they change rendered/<env>/<team>/…) need the team's review, not the catch-all's.

    Idempotent: when the team's lines are there with this owner, nothing changes. A line naming other owners is an
    error (an InputError naming it): changing who reviews a team's work is for a person to decide."""
    lines = (text if text is not None else _NEW_FILE).splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    number, changed = _ensure_line(path, lines, team_pattern(team), owner, "/workloads/")
    rendered = 0
    if any(rule_words(line)[:1] and rule_words(line)[0].startswith("/rendered/") for line in lines):
        rendered, also = _ensure_line(path, lines, rendered_pattern(team), owner, "/rendered/")
        number += 1 if also and rendered <= number else 0
        changed = changed or also
    return Addition(path, "".join(lines) if changed else None, number, rendered)


def _ensure_line(path: str, lines: list[str], pattern: str, owner: str, section: str) -> tuple[int, bool]:
    """Make `lines` hold `<pattern> <owner>` (in place), after the last line of the section's patterns (aligned
    like it) or at the end: its 1-based line number, and whether it was added."""
    from gitops_engine.errors import InputError

    last = -1
    for index, line in enumerate(lines):
        words = rule_words(line)
        if not words:
            continue
        if words[0] == pattern:
            if words[1:] == [owner]:
                return index + 1, False
            found = f"{pattern} is owned by {' '.join(words[1:]) or 'nobody'} already"
            raise InputError([Finding(path, index + 1, 1, f"{found}: edit this line to change its owners")])
        if words[0].startswith(section):
            last = index
    if last < 0:
        lines.append(f"{pattern} {owner}\n")
        return len(lines), True
    neighbour = lines[last]
    width = len(neighbour) - len(neighbour[len(neighbour.split()[0]) :].lstrip())
    lines.insert(last + 1, f"{pattern.ljust(max(width - 1, len(pattern)))} {owner}\n")
    return last + 2, True


def unowned_teams(snapshot: Snapshot, workloads: Iterable[str] | None = None) -> list[Finding]:
    """A warning per team folder whose workloads get their owners only from a pattern covering every team (or
    from none). Repos without a CODEOWNERS file are not checked: they do not use code owners. `workloads`: only
    the teams of these (default: every team)."""
    present = [p for p in CODEOWNERS_FILES if p in snapshot.files]
    if not present:
        return []
    path = present[0]
    lines = snapshot.source.read(path).decode("utf-8", "replace").splitlines()
    findings: list[Finding] = []
    teams: dict[str, str] = {}
    for key in sorted(snapshot.workload_paths if workloads is None else workloads):
        teams.setdefault(key.split("/", 1)[0], key)
    for team, key in teams.items():
        name = key.split("/", 1)[1]
        pattern = snapshot.owner_pattern(f"workloads/{team}/{name}/score.yaml")
        if pattern is not None and pattern != snapshot.owner_pattern(
            f"workloads/{_PROBE_TEAM}/{name}/score.yaml"
        ):
            continue
        fix = (
            f"run `gitops-engine new team {team} --owner @ORG/TEAM`, or add `{team_pattern(team)} @ORG/TEAM` "
            f"to {path}"
        )
        if pattern is None:
            findings.append(
                Finding(path, 0, 0, f"workloads/{team}/ has no code owner: {fix}", severity="warning")
            )
            continue
        owners = " ".join(snapshot.codeowners[pattern]) or "nobody"
        line = max(
            (i + 1 for i, text in enumerate(lines) if rule_words(text)[:1] == [pattern]),
            default=0,
        )
        findings.append(
            Finding(
                path,
                line,
                1 if line else 0,
                f"workloads/{team}/ has no code owner of its own: `{pattern}` gives its pull requests to {owners}; {fix}",
                severity="warning",
            )
        )
    return findings

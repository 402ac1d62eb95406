"""Teams and CODEOWNERS: the line that gives a team its workload folder, and the check that every team has one.

The engine asks the owners of `workloads/<team>/…` to review the pull requests it opens (see publishing), and
GitHub enforces their review when `main` requires code-owner approval. A team folder that only a catch-all
pattern (`*`, `/workloads/`) covers sends its pull requests to whoever owns everything: that is what the check
reports. This module reads a CODEOWNERS text and matches its patterns (the snapshot keeps the file's rules: see
Snapshot.owner_pattern), adds a team's line and checks that every team has one.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
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
    """Whether a CODEOWNERS pattern covers a path, for the subset of patterns platform repos use: anchored
    folders, '*' globs, bare names. A '*' inside a folder pattern (`/rendered/*/team/`) is not expanded: the engine
    asks only for the owners of workloads/ and definitions/ paths, and GitHub enforces the others itself."""
    anchored = pattern.startswith("/")
    pat = pattern.lstrip("/")
    if pat.endswith("/"):
        pat += "**"
    if pat.endswith("/**"):
        prefix = pat[:-3]
        if anchored or "/" in prefix:
            return path.startswith(prefix + "/")
        return f"/{prefix}/" in f"/{path}"
    if anchored or "/" in pat:
        return fnmatch.fnmatchcase(path, pat) or path.startswith(pat.rstrip("/") + "/")
    return any(fnmatch.fnmatchcase(part, pat) for part in path.split("/"))


def team_pattern(team: str) -> str:
    return f"/workloads/{team}/"


@dataclass(frozen=True)
class Addition:
    """What adding a team's line did: the file, its new text (None: nothing to change) and the line number."""

    path: str
    text: str | None
    line: int


def add_team_owner(path: str, text: str | None, team: str, owner: str) -> Addition:
    """Add `/workloads/<team>/ <owner>` to a CODEOWNERS text (None: a new file), after the other teams' lines.

    Idempotent: when the team's line is there with this owner, nothing changes. A line naming other owners is an
    error (an InputError naming it): changing who reviews a team's work is for a person to decide."""
    from gitops_engine.errors import InputError

    pattern = team_pattern(team)
    lines = (text if text is not None else _NEW_FILE).splitlines(keepends=True)
    last_team_line = -1
    for index, line in enumerate(lines):
        words = rule_words(line)
        if not words:
            continue
        if words[0] == pattern:
            if words[1:] == [owner]:
                return Addition(path, None, index + 1)
            raise InputError(
                [
                    Finding(
                        path,
                        index + 1,
                        1,
                        f"{pattern} is owned by {' '.join(words[1:]) or 'nobody'} already: edit this line to change "
                        "its owners",
                    )
                ]
            )
        if words[0].startswith("/workloads/") and words[0] != "/workloads/":
            last_team_line = index
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if last_team_line >= 0:
        neighbour = lines[last_team_line]
        width = len(neighbour) - len(neighbour[len(neighbour.split()[0]) :].lstrip())
        new_line = f"{pattern.ljust(max(width - 1, len(pattern)))} {owner}\n"
        lines.insert(last_team_line + 1, new_line)
        number = last_team_line + 2
    else:
        lines.append(f"{pattern} {owner}\n")
        number = len(lines)
    return Addition(path, "".join(lines), number)


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

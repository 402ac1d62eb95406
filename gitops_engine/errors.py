"""One error hierarchy. Core code raises these and never prints or exits; the CLI maps them to exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    """One problem with one input, located as precisely as we can.

    `path` is relative to the platform repo root; `line` and `column` are 1-based (0 = unknown).
    """

    path: str
    line: int
    column: int
    message: str
    severity: str = "error"  # "error" or "warning"
    unit: str = ""  # "team/name" or "_shared/<id>" when the problem belongs to one unit

    def location(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column or 1}"
        return self.path

    def __str__(self) -> str:
        return f"{self.location()}: {self.message}"


class GitopsError(Exception):
    """Base of every error the engine reports to a user. `exit_code` follows the CLI contract."""

    exit_code = 1


class UsageError(GitopsError):
    """Wrong invocation or an unusable environment (not a git repo, missing tool, bad token): exit 2."""

    exit_code = 2


class InputError(GitopsError):
    """One or more problems with the platform repo's content: exit 1."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = sorted(findings)
        super().__init__("\n".join(str(f) for f in self.findings))


class GitError(GitopsError):
    """A git command failed in a way we did not expect."""

    exit_code = 2


class ForgeError(GitopsError):
    """The forge (GitHub, local) refused or failed a request."""

    exit_code = 1


class RateLimited(ForgeError):
    """The forge asked us to stop for longer than we are willing to wait; the rest waits for the next run."""

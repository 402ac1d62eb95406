"""One error hierarchy. Core code raises these and never prints or exits; the CLI maps them to exit codes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace


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
    # The environments the problem shows in, when it depends on them (a definition matched per environment, say);
    # the same problem in several environments is one finding listing them (see group_findings).
    environments: tuple[str, ...] = ()

    def location(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column or 1}"
        return self.path

    @property
    def text(self) -> str:
        """The message, with the environments it holds in."""
        if not self.environments:
            return self.message
        return f"{self.message} (in {', '.join(self.environments)})"

    def __str__(self) -> str:
        return f"{self.location()}: {self.text}"


def group_findings(findings: Iterable[Finding], environment_order: Sequence[str] = ()) -> list[Finding]:
    """Findings that differ only in their environment become one, listing the environments (in platform.yaml's
    order); duplicates go. Sorted, as every report lists them."""
    by_problem: dict[Finding, set[str]] = {}
    for finding in findings:
        by_problem.setdefault(replace(finding, environments=()), set()).update(finding.environments)
    rank = {env: index for index, env in enumerate(environment_order)}
    return sorted(
        replace(problem, environments=tuple(sorted(envs, key=lambda e: (rank.get(e, len(rank)), e))))
        for problem, envs in by_problem.items()
    )


def close_names(name: str, known: Iterable[str]) -> list[str]:
    """Up to two of `known` that `name` probably meant: close spellings (difflib), else names it abbreviates
    ("prod" for "production", which difflib ranks too low)."""
    import difflib  # lazy: only a mistake needs it

    names = sorted(set(known))
    return (
        difflib.get_close_matches(name, names, n=2, cutoff=0.6)
        or [k for k in names if name and k.startswith(name) and k != name][:2]
    )


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" when `known` holds a name `name` probably meant (see close_names), else ""."""
    return suggestion(close_names(name, known))


def suggestion(names: Sequence[str]) -> str:
    """ " (did you mean 'a' or 'b'?)" for these names, "" for none."""
    return f" (did you mean {' or '.join(repr(n) for n in names)}?)" if names else ""


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

"""The forge interface: the few pull-request calls the publisher needs, and nothing about git.

Git work (branches, commits, pushes, branch deletion) belongs to `gitops_engine.git` and the publisher; a forge only
keeps pull requests, their labels, reviewers and comments. Each forge implements `Forge`; the publisher imports this
module only, never a specific forge (`open_forge` picks one by name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from gitops_engine.errors import UsageError

PullState = Literal["open", "closed", "merged"]


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    body: str
    state: PullState
    branch: str  # head branch name, without refs/heads/
    base: str
    url: str
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()  # team slugs requested for review


@dataclass(frozen=True)
class PullRequestDraft:
    """What a pull request should look like; the publisher compares it with the existing one."""

    branch: str
    base: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()  # team slugs (from CODEOWNERS, `@org/team` -> `team`)


@dataclass
class ForgeStats:
    """Requests made in this run, for reports and for tests asserting 'no forge write'."""

    reads: int = 0
    writes: int = 0
    waits: list[float] = field(default_factory=list)


class Forge(Protocol):
    name: str
    stats: ForgeStats

    def find_pull_requests(self, branch: str) -> list[PullRequest]:
        """Every pull request whose head is `branch` (any state), newest first."""
        ...

    def list_pull_requests(self, state: Literal["open", "closed", "all"]) -> list[PullRequest]:
        """Pull requests in a state; `closed` includes merged ones. Ordered by number."""
        ...

    def create_pull_request(self, draft: PullRequestDraft) -> PullRequest:
        """Open a pull request with labels and team reviewers. If one is already open for the branch, update and
        return that one instead: never a duplicate."""
        ...

    def update_pull_request(self, number: int, draft: PullRequestDraft) -> PullRequest:
        """Set title, body, labels and reviewers to the draft's."""
        ...

    def close_pull_request(self, number: int, comment: str) -> None:
        """Comment why, then close."""
        ...

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        """Create a comment containing `marker`, or edit the one that already does (only if the body differs)."""
        ...


def open_forge(name: str, repo_root: Path, *, max_writes_per_run: int | None = None) -> Forge:
    """The forge called `name` for the platform repo checked out at `repo_root`.

    `max_writes_per_run` is platform.yaml's `pullRequests.maxPerHour`: a run never spends more than an hour's
    content-creation budget (GitHub documents 500 an hour); the rest waits for the next run."""
    if name == "local":
        from gitops_engine.forge.local import LocalForge

        return LocalForge.for_checkout(repo_root)
    if name == "github":
        from gitops_engine.forge.github import GitHubForge

        if max_writes_per_run is None:
            return GitHubForge.from_environment()
        return GitHubForge.from_environment(max_writes_per_run=max_writes_per_run)
    raise UsageError(f"unknown forge {name!r}: use 'local' or 'github'")

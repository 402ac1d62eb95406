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
from gitops_engine.git import MergeMethod

PullState = Literal["open", "closed", "merged"]
# How a pull request lands on its base, as GitHub names them: a merge commit, one squashed commit, or its commits
# replayed on top of the base (MergeMethod comes from gitops_engine.git, which does the local merges).
MERGE_METHODS: tuple[MergeMethod, ...] = ("merge", "squash", "rebase")


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
    automerge: bool = False  # merges itself once its checks pass (GitHub: REST `auto_merge` is set)
    node_id: str = ""  # GitHub's global id, which its GraphQL API takes ("" on the local forge)


@dataclass(frozen=True)
class PullRequestDraft:
    """What a pull request should look like; the publisher compares it with the existing one."""

    branch: str
    base: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()  # team slugs (from CODEOWNERS, `@org/team` -> `team`)
    automerge: MergeMethod | None = (
        None  # open it with auto-merge by this method (see Forge.enable_automerge)
    )


@dataclass(frozen=True)
class Issue:
    """An issue (not a pull request): the rollout dashboard."""

    number: int
    title: str
    body: str
    state: Literal["open", "closed"]
    url: str
    labels: tuple[str, ...] = ()


@dataclass
class ForgeStats:
    """Requests made in this run, for reports and for tests asserting 'no forge write'."""

    reads: int = 0
    writes: int = 0
    waits: list[float] = field(default_factory=list)


__all__ = [
    "MERGE_METHODS",
    "Forge",
    "ForgeStats",
    "Issue",
    "MergeMethod",
    "PullRequest",
    "PullRequestDraft",
    "PullState",
    "open_forge",
]


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
        """Open a pull request with labels and team reviewers, and auto-merge when the draft asks for it. If one is
        already open for the branch, update and return that one instead: never a duplicate."""
        ...

    def update_pull_request(self, number: int, draft: PullRequestDraft) -> PullRequest:
        """Set title, body, labels and reviewers to the draft's, and enable auto-merge when the draft asks for it
        and it is off (never turned off here: a person may have chosen it)."""
        ...

    def enable_automerge(self, number: int, method: MergeMethod) -> PullRequest:
        """Let an open pull request merge itself by `method` once its checks pass; a write only when it is off or
        set to another method. GitHub: the GraphQL mutation `enablePullRequestAutoMerge` (the repository must
        allow auto-merge, and the base branch must require checks). Local forge: `merge_ready` merges it."""
        ...

    def merge_ready(self) -> list[PullRequest]:
        """Merge the open auto-merge pull requests whose checks have passed, each by its method; returns them as
        merged. The processor calls this at the start of a run. GitHub merges such pull requests itself, so its
        forge merges nothing here. The local forge has no checks: it merges every one, as if they had passed, with
        a real merge into the base branch of the bare remote (a conflicting one stays open), never losing a commit
        pushed meanwhile."""
        ...

    def close_pull_request(self, number: int, comment: str) -> None:
        """Comment why, then close."""
        ...

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        """Create a comment containing `marker`, or edit the one that already does (only if the body differs)."""
        ...

    def draft_writes(self, draft: PullRequestDraft) -> int:
        """The most content-creating requests opening or updating a pull request to `draft` can take (what the
        write budget reserves before the call; see gitops_engine.budget)."""
        ...

    def find_issue(self, marker: str, *, label: str | None = None) -> Issue | None:
        """The issue (any state, open ones first, then the oldest) whose body contains `marker`, among those
        carrying `label` when one is given (GitHub filters by label on the server: the cheap way to find it)."""
        ...

    def upsert_issue(self, marker: str, title: str, body: str, *, labels: tuple[str, ...] = ()) -> Issue:
        """The issue holding `marker` (see find_issue; labels[0] narrows the search) made to say `title` and `body`:
        created once with `labels` when there is none, otherwise edited in place only if its title or body
        differs, and reopened if someone closed it. `body` must contain `marker`. Never a second issue."""
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

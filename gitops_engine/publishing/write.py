"""Phase 3 of the pull requests: open or update them on the forge (title, body, labels, reviewers, auto-merge).
A rate limit leaves the rest for the next run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitops_engine.errors import RateLimited
from gitops_engine.forge import PullRequest, PullRequestDraft
from gitops_engine.publishing.decide import differs, review_teams
from gitops_engine.rollout import PullGroup

if TYPE_CHECKING:
    from gitops_engine.publishing.pulls import PullRun

Todo = list[tuple[PullGroup, PullRequestDraft, PullRequest | None]]  # each with the draft to write


def write_pulls(run: PullRun, todo: Todo, *, pushed: set[str]) -> None:
    report, forge = run.report, run.forge
    for index, (group, draft, existing) in enumerate(todo):
        try:
            if existing is None:
                pull = forge.create_pull_request(draft)
                report.opened.append(pull)
                run.progress(f"opened #{pull.number} for {group.label}")
            elif differs(existing, draft) or group.branch in pushed:
                # Also after a push that leaves title and body as they were: the forge then knows the branch's new
                # head (the local forge tells a merge by it; GitHub only reads the pull request and writes nothing).
                pull = forge.update_pull_request(existing.number, review_teams(existing, draft))
                report.updated.append(pull)
                run.progress(f"updated #{pull.number} for {group.label}")
            else:
                report.updated.append(existing)
        except RateLimited as exc:
            report.deferred.extend(u for t in todo[index:] for u in t[0].names)
            run.progress(f"rate limited ({exc}); {len(todo) - index} pull request(s) left for the next run")
            break

"""The engine's pull-request branches: which branch a unit's pull request uses, which units a branch changes, and
which open pull requests a run asks the forge about."""

from __future__ import annotations

from gitops_engine.candidates import units_changed_by
from gitops_engine.forge import Forge, PullRequest
from gitops_engine.git import Git
from gitops_engine.rollout import PullGroup, branch_of, parse_branch

# Above this many units to ask about, one listing of every open pull request costs fewer requests than a lookup
# per branch (GitHub pages open pull requests 100 at a time).
PULL_LOOKUP_MAX = 20


def branch_units(git: Git, branch: str, sha: str) -> set[str]:
    """The units an engine branch proposes changes for."""
    parsed = parse_branch(branch)
    if parsed is None:
        return set()
    if parsed.unit is not None:
        return {parsed.unit}
    return units_changed_by(git, sha)


def engine_pulls(forge: Forge, branches: set[str]) -> list[PullRequest]:
    """The open pull requests of these branches: a lookup per branch for a few, one listing for many. A run that
    touches no pull request asks the forge nothing."""
    if not branches:
        return []
    if len(branches) > PULL_LOOKUP_MAX:
        return [p for p in forge.list_pull_requests("open") if p.branch in branches]
    found: list[PullRequest] = []
    for branch in sorted(branches):
        found += [p for p in forge.find_pull_requests(branch) if p.state == "open"]
    return found


def branches_to_ask(touched: set[str], groups: list[PullGroup], branches: dict[str, str]) -> set[str]:
    """The branches whose open pull requests a run needs: its units' pull-request branches, their automerge
    branches and every group branch that exists, and the branches of the pull requests it wants."""
    asked = {branch_of(u) for u in touched} | {g.branch for g in groups}
    for branch in branches:
        parsed = parse_branch(branch)
        if parsed is not None and (parsed.is_group or parsed.unit in touched):
            asked.add(branch)
    return asked

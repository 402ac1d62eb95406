"""Renderings waiting in pull requests (`render --check` on main): which units' difference with main an open
engine pull request holds exactly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops_engine.errors import ForgeError, GitError, UsageError
from gitops_engine.forge import open_forge
from gitops_engine.git import Git
from gitops_engine.publishing import BRANCH_PREFIX
from gitops_engine.publishing.branches import engine_pulls
from gitops_engine.rollout import branch_of, unit_of_branch


@dataclass(frozen=True)
class PendingRenderings:
    """Units whose difference with main waits in an open engine pull request: its branch holds exactly the
    rendering asked about."""

    pending: dict[
        str, str
    ]  # unit -> "#N", or "branch gitops-engine/<unit>" when the forge could not be asked
    note: str = ""  # what was consulted instead of the forge, when it could not be reached


def pending_renderings(
    root: Path, forge_name: str, desired: dict[str, dict[str, str]], environments: Sequence[str]
) -> PendingRenderings:
    """Which of the `desired` units (unit -> {path under rendered/<env>/<unit>/: blob id}, over `environments`)
    an open engine pull request holds exactly. The forge names the open pull requests; with no forge reachable,
    the engine branches on origin stand for them (a declined pull request's branch would count too: the note
    says so)."""
    git = Git(root)
    try:
        if not git.has_remote("origin"):
            return PendingRenderings({})  # a clone of nothing: no pull request can hold anything
        notes: list[str] = []
        numbers: dict[str, str] | None = None
        try:
            forge = open_forge(forge_name, root)
            pulls = engine_pulls(forge, {branch_of(u) for u in desired})
            numbers = {u: f"#{p.number}" for p in pulls if (u := unit_of_branch(p.branch))}
        except (UsageError, ForgeError) as exc:
            notes.append(f"no forge reachable ({exc}): judged from the engine branches on origin")
        units = sorted(desired if numbers is None else set(desired) & set(numbers))
        if not units:
            return PendingRenderings({}, "; ".join(notes))
        heads = _branch_heads(git, units, notes)
        pending: dict[str, str] = {}
        for unit in units:
            head = heads.get(branch_of(unit))
            if head is None or not git.has_commit(head):
                continue
            held = git.ls_tree_blobs(head, [f"rendered/{env}/{unit}/" for env in environments])
            if held == desired[unit]:
                pending[unit] = numbers[unit] if numbers is not None else f"branch {branch_of(unit)}"
        return PendingRenderings(pending, "; ".join(notes))
    finally:
        git.close()


def _branch_heads(git: Git, units: Sequence[str], notes: list[str]) -> dict[str, str]:
    """The units' engine branches on origin (fetched when this clone lacks a head); this clone's copies when
    origin cannot be reached (said in `notes`)."""
    try:
        listed = git.remote_refs("origin", [f"refs/heads/{branch_of(u)}" for u in units])
        heads = {ref[len("refs/heads/") :]: sha for ref, sha in listed.items()}
        if any(not git.has_commit(sha) for sha in heads.values()):
            git.fetch("origin", [f"+refs/heads/{BRANCH_PREFIX}*:refs/remotes/origin/{BRANCH_PREFIX}*"])
    except GitError:
        notes.append("origin unreachable: judged from this clone's copies of the engine branches")
        copies = git.local_refs([f"refs/remotes/origin/{BRANCH_PREFIX}"])
        heads = {ref[len("refs/remotes/origin/") :]: sha for ref, sha in copies.items()}
    return heads

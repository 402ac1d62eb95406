"""Phase 1 of the pull requests: for each one the run wants, whether to push its branch and whether to write to
the forge; branches with someone else's commits, and pull requests a person closed, are left alone."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from gitops_engine.candidates import units_changed_by
from gitops_engine.errors import RateLimited
from gitops_engine.forge import Forge, PullRequest, PullRequestDraft
from gitops_engine.git import Git, Identity, blob_id
from gitops_engine.loading import Snapshot
from gitops_engine.model import SHARED_FOLDER
from gitops_engine.plan import Plan, UnitPlan
from gitops_engine.publishing import MAIN
from gitops_engine.publishing.describe import (
    HUMAN_MARKER,
    Bodies,
    group_body,
    group_title,
    human_commits_comment,
)
from gitops_engine.publishing.report import RunReport
from gitops_engine.rollout import PullGroup, rollout_config
from gitops_engine.versions import VersionNames

if TYPE_CHECKING:
    from gitops_engine.publishing.pulls import PullRun


Writes = list[tuple[PullGroup, PullRequest | None]]  # pull requests to open or update (with the open one)


@dataclass
class Decided:
    """Branches to push (with the head each had), and pull requests to open or update (with the open one), from
    the drafts the run wants."""

    drafts: Drafts
    pushes: list[tuple[PullGroup, str | None]] = field(default_factory=list)
    todo: Writes = field(default_factory=list)


def decide(run: PullRun, foreign: set[str], versions: VersionNames) -> Decided:
    """What to push and write. The bodies are still being written (see Drafts) when it returns, unless a branch
    that holds its content already has an open pull request: only its text can then call for a write."""
    existing_branches = {b: sha for b, sha in run.branches.items() if b in run.wanted}
    holding = branches_holding(
        run.git,
        [g for g in run.groups if g.branch in existing_branches],
        run.plan,
        run.snapshot,
        existing_branches,
    )
    open_by_branch = {p.branch: p for p in run.open_pulls}
    budget = run.snapshot.settings.max_per_run
    decided = Decided(Drafts(run, versions))
    try:
        # Work a budget cut short first (its branch is pushed already), then the newly requested changes.
        for group in sorted(run.groups, key=lambda g: g.branch not in run.branches):
            existing = open_by_branch.get(group.branch)
            same_content = group.branch in holding
            if not _may_touch(run, group, existing, foreign, same_content):
                continue
            needs_write = (
                not same_content or existing is None or differs(existing, decided.drafts[group.branch])
            )
            if needs_write:
                if budget <= 0:
                    run.report.deferred.extend(group.names)
                    continue
                budget -= 1
                decided.todo.append((group, existing))
            else:
                assert existing is not None
                run.report.unchanged.append(existing)
            if not same_content:
                decided.pushes.append((group, run.branches.get(group.branch)))
    except BaseException:
        decided.drafts.close()
        raise
    return decided


class Drafts:
    """The pull request each group wants, by branch. The bodies of single-workload groups are written in worker
    processes from when this is made (describe.Bodies), while the run writes and pushes the branches: `outline`
    is a draft without its body, for what does not read it (the writes it takes); `drafts[branch]` is the whole
    draft, waiting for the bodies."""

    def __init__(self, run: PullRun, versions: VersionNames) -> None:
        self._run, self._versions = run, versions
        self._config = rollout_config(run.snapshot)
        self._groups = {group.branch: group for group in run.groups}
        singles = [g for g in run.groups if g.group == "workload"]
        self._singles = [g.branch for g in singles]
        self._bodies = Bodies(run.git, [_described(run.plan, g.units[0]) for g in singles], versions)
        # Made when first asked for: a title reads the unit's definition facts, which the branch's commit message
        # reads first, while fast-import takes the stream (see describe.describing).
        self._outlines: dict[str, PullRequestDraft] = {}
        self._whole: dict[str, PullRequestDraft] | None = None

    def outline(self, branch: str) -> PullRequestDraft:
        outline = self._outlines.get(branch)
        if outline is None:
            run, group, config = self._run, self._groups[branch], self._config
            outline = self._outlines[branch] = PullRequestDraft(
                branch=branch,
                base=MAIN,
                title=group_title(group, active=config.active, versions=self._versions),
                body="",
                labels=tuple(run.snapshot.settings.labels),
                reviewers=group_reviewers(run.snapshot, group),
                automerge=config.merge_method if group.automerge else None,  # type: ignore[arg-type]
            )
        return outline

    def __getitem__(self, branch: str) -> PullRequestDraft:
        if self._whole is None:
            bodies = dict(zip(self._singles, self._bodies.read(), strict=True))
            git, versions = self._run.git, self._versions
            self._whole = {
                group.branch: replace(
                    self.outline(group.branch),
                    body=group_body(git, group, versions, bodies.pop(group.branch, None)),
                )
                for group in self._run.groups
            }
        return self._whole[branch]

    def close(self) -> None:
        """End the workers writing the bodies, if they were not read."""
        self._bodies.close()


def _described(plan: Plan, part: UnitPlan) -> UnitPlan:
    """What a unit's pull-request body describes: the planned unit when the part is all of it (a part's own plan
    keeps only its environments' renderings), else the part."""
    whole = plan.units.get(part.unit)
    if (
        whole is not None
        and part.mode == "pull-request"
        and set(whole.environments) == set(part.environments)
    ):
        return whole
    return part


def _may_touch(
    run: PullRun, group: PullGroup, existing: PullRequest | None, foreign: set[str], same_content: bool
) -> bool:
    """False for a branch with someone else's commits (commented on when it falls behind), and for a branch
    whose pull request a person closed; both are reported as blocked. A rate limit defers the group."""
    branch = group.branch
    if branch in foreign:
        if existing is not None and not same_content:
            comment_human(run.forge, existing, branch, run.report)
        run.report.blocked.append((group.label, "the branch has commits by someone else: not overwritten"))
        return False
    if existing is None and branch in run.branches and same_content:
        try:
            latest = run.forge.find_pull_requests(branch)
        except RateLimited:
            run.report.deferred.extend(group.names)
            return False
        if latest and latest[0].state == "closed":
            run.report.blocked.append(
                (group.label, f"#{latest[0].number} was closed without merging: not reopened")
            )
            return False
    return True


def comment_human(forge: Forge, pull: PullRequest, branch: str, report: RunReport) -> None:
    try:
        forge.upsert_comment(pull.number, HUMAN_MARKER, human_commits_comment(branch))
    except RateLimited:
        report.deferred.append(branch)


def differs(pull: PullRequest, draft: PullRequestDraft) -> bool:
    """Reviewers are requested when a pull request opens, not compared later: GitHub drops a team from the
    requested reviewers once it has reviewed, and asking it again would be noise. A pull request with no team
    requested at all is the exception: a run killed between opening it and asking for review leaves it so, and
    the forge then asks only when nobody has reviewed yet (see review_teams)."""
    return (
        pull.title != draft.title
        or pull.body != draft.body
        or not set(draft.labels) <= set(pull.labels)
        or bool(draft.reviewers and not pull.reviewers)
        or bool(draft.automerge and not pull.automerge)
    )


def review_teams(pull: PullRequest, draft: PullRequestDraft) -> PullRequestDraft:
    """The draft to update `pull` with: its reviewers only when the pull request has none requested."""
    return draft if not pull.reviewers else replace(draft, reviewers=())


def branches_holding(
    git: Git, groups: Sequence[PullGroup], plan: Plan, snapshot: Snapshot, branches: dict[str, str]
) -> set[str]:
    """Branches that already hold exactly their new rendering (whatever main they were based on).

    Compares folder tree ids: the desired ones computed here from blob ids, the branch's read with one
    `cat-file --batch-check` for all of them, instead of listing every branch. A group branch must also change
    no other unit than the group's (a unit that left the group: the team merged a workload change meanwhile)."""
    if not groups or plan.state is None:
        return set()
    state = plan.state
    requests: list[tuple[str, str | None]] = []  # (branch, desired tree id) in request order
    specs: list[str] = []
    for group in groups:
        for unit in group.units:
            envs = set(snapshot.environment_order) | set(state.envs_of(unit.unit))
            envs |= {p.split("/")[1] for p in [*unit.writes, *unit.deletes]}
            for env in sorted(envs):
                folder = f"rendered/{env}/{unit.unit}"
                files = dict(state.files_of(env, unit.unit))
                for path, content in unit.writes.items():
                    if path.startswith(folder + "/"):
                        files[path[len(folder) + 1 :]] = blob_id(content)
                for path in unit.deletes:
                    if path.startswith(folder + "/"):
                        files.pop(path[len(folder) + 1 :], None)
                requests.append((group.branch, _tree_id(files) if files else None))
                specs.append(f"{branches[group.branch]}:{folder}")
    answers = git.object_ids(specs)
    differing = {
        branch for (branch, desired), answer in zip(requests, answers, strict=True) if answer != desired
    }
    for group in groups:
        if (
            group.group == "team"
            and group.branch not in differing
            and units_changed_by(git, branches[group.branch]) != set(group.names)
        ):
            differing.add(group.branch)
    return {g.branch for g in groups} - differing


def _tree_id(files: dict[str, str]) -> str:
    """The id git gives a folder of regular files (name -> blob id), as `git mktree` would."""
    body = b"".join(b"100644 " + name.encode() + b"\0" + bytes.fromhex(files[name]) for name in sorted(files))
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def foreign_branches(git: Git, main: str, branches: dict[str, str], identity: Identity) -> set[str]:
    """Branches with commits (not on main) by anyone but the engine: one `git log` over all of them."""
    if not branches:
        return set()
    foreign = [
        sha
        for sha, author, committer in git.commit_emails(sorted(set(branches.values())), main)
        if author != identity.email or committer != identity.email
    ]
    if not foreign:
        return set()
    return {b for b, sha in branches.items() if any(git.is_ancestor(f, sha) for f in foreign)}


def reviewers(snapshot: Snapshot, unit: UnitPlan) -> tuple[str, ...]:
    """Team slugs that own the unit (CODEOWNERS `@org/team` entries); a shared resource's, its users' owners."""
    if unit.unit.startswith(SHARED_FOLDER + "/"):
        return owning_teams(
            snapshot, [snapshot.workload_paths[u] for u in unit.users if u in snapshot.workload_paths]
        )
    return owning_teams(snapshot, [f"workloads/{unit.unit}/score.yaml"])


def group_reviewers(snapshot: Snapshot, group: PullGroup) -> tuple[str, ...]:
    """A unit's owners; for a team's group, the owners of the team's workloads; for the shared resources' group,
    the owners of `definitions/` (the infra team)."""
    if group.group == "workload":
        return reviewers(snapshot, group.units[0])
    if group.team == SHARED_FOLDER:
        return owning_teams(snapshot, ["definitions/"])
    return owning_teams(snapshot, [f"workloads/{u}/score.yaml" for u in group.names])


def owning_teams(snapshot: Snapshot, paths: list[str]) -> tuple[str, ...]:
    """The team slugs of the CODEOWNERS `@org/team` owners of `paths`, sorted."""
    teams = {
        owner.split("/", 1)[1]
        for path in paths
        for owner in snapshot.owners_of(path)
        if owner.startswith("@") and "/" in owner
    }
    return tuple(sorted(teams))

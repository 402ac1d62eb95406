"""The pull requests of a run, in four phases: decide what each wants (`decide`), push the branches together
(`push`), open or update the pull requests on the forge (`write`), and close the ones main no longer needs and
delete merged or obsolete engine branches (`close`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gitops_engine.forge import Forge, PullRequest
from gitops_engine.git import Git, Identity
from gitops_engine.loading import Snapshot
from gitops_engine.plan import Plan
from gitops_engine.publishing.close import close_and_delete
from gitops_engine.publishing.decide import decide, foreign_branches
from gitops_engine.publishing.describe import describing
from gitops_engine.publishing.push import push_branches
from gitops_engine.publishing.report import RunReport
from gitops_engine.publishing.write import write_pulls
from gitops_engine.rollout import PullGroup, unit_of_branch
from gitops_engine.versions import VersionNames


@dataclass(frozen=True)
class PullRun:
    """What every phase reads: the run's state once main is committed."""

    git: Git
    forge: Forge
    snapshot: Snapshot
    plan: Plan
    main: str  # main after the run's own commit
    identity: Identity
    branches: dict[str, str]  # the remote's engine branches (name -> head) as this run fetched them
    # Units with an open pull request this run did not examine (nothing in its range reached them, or their
    # branch is up to date): left as they are.
    pending: set[str]
    since: str | None  # where the run's range starts (None: every unit was checked)
    groups: list[PullGroup]  # the pull requests this run wants (see gitops_engine.rollout.pull_groups)
    asked: set[
        str
    ]  # the branches whose open pull requests `open_pulls` holds (the forge was asked about them)
    open_pulls: list[PullRequest]
    report: RunReport
    progress: Callable[[str], None]
    # Called before the branches are written when the plan has units for pull requests, while the run has no
    # thread or worker of its own yet (a fork then is safe): the dashboard's reading of main starts there.
    before_push: Callable[[], None] = lambda: None

    @property
    def wanted(self) -> set[str]:
        return {g.branch for g in self.groups}

    @property
    def failed(self) -> set[str]:
        return set(self.plan.failures)


def publish_pulls(run: PullRun) -> None:
    # Branches with commits by anyone else are never overwritten nor deleted (one `git log` for all of them).
    # Pending units' branches are left alone, so they need no check (thousands may be open).
    foreign = foreign_branches(
        run.git,
        run.main,
        {b: sha for b, sha in run.branches.items() if unit_of_branch(b) not in run.pending},
        run.identity,
    )
    versions = VersionNames(run.git, run.main)  # names definitions' versions in titles and bodies
    if run.plan.pull_units():
        run.before_push()
    with describing():  # titles, bodies and commit messages read each unit's definitions once
        decided = decide(run, foreign, versions)
        try:
            writes = push_branches(run, decided)  # while worker processes write the bodies
            todo = [(group, decided.drafts[group.branch], existing) for group, existing in writes]
        finally:
            decided.drafts.close()
    try:
        write_pulls(run, todo, pushed={g.branch for g, _ in decided.pushes})
    finally:
        # The pushed branches' remote-tracking refs (push_branches left them to finish). Should git fail to move
        # them, they stay behind the remote: the next run's sync compares them with the remote and fetches.
        failed = run.git.wait_tracked()
        if failed:
            run.progress(f"the remote-tracking refs were not updated: {failed}")
    close_and_delete(run, foreign)

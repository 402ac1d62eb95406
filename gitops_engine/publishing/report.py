"""What a run did: the record every stage of gitops_engine.reconcile adds to, and `process` reports from."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitops_engine.errors import Finding, group_findings
from gitops_engine.forge import PullRequest
from gitops_engine.plan import Plan
from gitops_engine.rollout import Waiting


@dataclass
class RunReport:
    head: str = ""
    merged: list[PullRequest] = field(default_factory=list)  # auto-merge pull requests the forge merged first
    committed: str | None = None
    committed_units: list[str] = field(default_factory=list)
    opened: list[PullRequest] = field(default_factory=list)
    updated: list[PullRequest] = field(default_factory=list)
    unchanged: list[PullRequest] = field(default_factory=list)
    # Units with a pull-request branch this run left alone (nothing reached them, or their branch is up to date).
    pending: list[str] = field(default_factory=list)
    closed: list[tuple[PullRequest, str]] = field(default_factory=list)
    deleted_branches: list[str] = field(default_factory=list)
    blocked: list[tuple[str, str]] = field(
        default_factory=list
    )  # (unit, why) — human commits, closed by a person
    deferred: list[str] = field(default_factory=list)  # beyond the per-run cap or a rate limit
    # (unit, environment, environments it waits for): parts of a change left for a later wave (not failures)
    waiting: list[Waiting] = field(default_factory=list)
    retry: bool = False  # something moved under the run (a branch): the next run must go over it again
    reconciled: str | None = None  # where this run moved RECONCILED_REF
    failures: dict[str, list[Finding]] = field(default_factory=dict)
    global_findings: list[Finding] = field(default_factory=list)
    plan: Plan | None = None
    attempts: int = 0
    dry_run: bool = False

    @property
    def findings(self) -> list[Finding]:
        """Every problem once (the same one in several environments lists them)."""
        found = [*(f for fs in self.failures.values() for f in fs), *self.global_findings]
        return group_findings(found, self.plan.order if self.plan is not None else ())

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.merged
            or self.committed
            or self.opened
            or self.updated
            or self.closed
            or self.deleted_branches
        )

    @property
    def complete(self) -> bool:
        """Did the run finish everything it set out to do (nothing failed, deferred, moved or left waiting)?"""
        return not (self.failures or self.global_findings or self.deferred or self.retry or self.waiting)

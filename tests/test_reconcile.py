"""gitops_engine.reconcile: a run goes through its stages in order (sync, range, candidates, plan, commit main,
publish pull requests, record), on real repositories and the local forge; a second run writes nothing."""

from __future__ import annotations

from testing.repos import git
from testing.world import World

from gitops_engine.forge.local import LocalForge
from gitops_engine.git import default_identity
from gitops_engine.publishing.report import RunReport
from gitops_engine.reconcile import process
from gitops_engine.reconciled import RECONCILED_REF

API = "workloads/catalog/product-api/score.yaml"
POSTGRES = "definitions/postgres/postgres-incluster.yaml"


def run(
    world: World, *, base: str | None = None, dry_run: bool = False
) -> tuple[RunReport, LocalForge, list[str]]:
    lines: list[str] = []
    forge = LocalForge(world.remote)
    report = process(
        world.engine, forge, default_identity(), base=base, dry_run=dry_run, progress=lines.append
    )
    return report, forge, lines


def settle(world: World) -> None:
    """The template's first run (it reconciles the repo once), so each test starts from a reconciled main."""
    report, _, _ = run(world)
    assert not report.findings


def test_a_workload_change_is_planned_then_committed_to_main_and_a_second_run_writes_nothing(
    template_world: World,
) -> None:
    settle(template_world)
    pushed = template_world.push_change(
        template_world.edit(API, "product-api:2.4.0", "product-api:2.5.0"), "product-api 2.5.0"
    )

    report, forge, lines = run(template_world, base=template_world.before)

    assert report.committed is not None and report.committed_units == ["catalog/product-api"]
    assert (report.opened, report.updated, report.closed, report.deleted_branches) == ([], [], [], [])
    assert lines == [
        f"plan: range reconcile of 1 candidate unit(s) at {pushed[:12]}: 1 to commit, 0 for pull requests, 0 failed",
        f"committed {report.committed[:12]} to main: 1 unit(s)",
    ]
    assert template_world.main() == report.committed
    assert git(template_world.remote, "log", "-1", "--format=%P", "main").strip() == pushed
    refs = template_world.refs()

    again, forge, lines = run(template_world)

    assert (again.committed, again.opened, again.updated, again.closed, again.reconciled) == (
        None,
        [],
        [],
        [],
        None,
    )
    assert lines == [
        f"plan: range reconcile of 0 candidate unit(s) at {report.committed[:12]}: 0 to commit, 0 for pull "
        "requests, 0 failed"
    ]
    assert forge.stats.writes == 0 and template_world.refs() == refs


def test_a_definition_change_opens_pull_requests_records_the_run_and_a_second_run_writes_nothing(
    template_world: World,
) -> None:
    settle(template_world)
    pushed = template_world.push_change(
        template_world.edit(POSTGRES, "postgres:16.4", "postgres:16.6"), "Postgres 16.6"
    )

    report, forge, lines = run(template_world, base=template_world.before)

    assert not report.findings and report.committed is None and len(report.opened) >= 2
    opened = [f"opened #{p.number} for {p.branch.removeprefix('gitops-engine/')}" for p in report.opened]
    assert lines[0].startswith("plan: range reconcile of ") and lines[0].endswith(
        f" at {pushed[:12]}: 0 to commit, {len(report.opened)} for pull requests, 0 failed"
    )
    # The template turns the rollout dashboard on: the run's last stage brings it up to date.
    assert lines[1:] == [f"pushed {len(report.opened)} branch(es)", *opened, "dashboard #1 updated"]
    assert report.reconciled == pushed  # a complete run that committed nothing records where it got to
    assert template_world.refs()[RECONCILED_REF] == pushed
    refs = template_world.refs()

    again, forge, lines = run(template_world)

    assert (again.committed, again.opened, again.updated, again.closed, again.deleted_branches) == (
        None,
        [],
        [],
        [],
        [],
    )
    assert forge.stats.writes == 0 and template_world.refs() == refs
    assert lines == [
        f"plan: range reconcile of 0 candidate unit(s) at {pushed[:12]}: 0 to commit, 0 for pull requests, 0 failed"
    ]


def test_a_dry_run_stops_after_the_plan(template_world: World) -> None:
    settle(template_world)
    template_world.push_change(template_world.edit(API, "product-api:2.4.0", "product-api:2.5.0"))
    refs = template_world.refs()

    report, forge, lines = run(template_world, base=template_world.before, dry_run=True)

    assert report.dry_run and report.committed is None and report.committed_units == ["catalog/product-api"]
    assert len(lines) == 1 and lines[0].startswith("plan: range reconcile of 1 candidate unit(s)")
    assert forge.stats.writes == 0 and forge.stats.reads == 0 and template_world.refs() == refs

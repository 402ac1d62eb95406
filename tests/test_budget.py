"""`pullRequests.maxPerHour` is a budget across runs: a ledger on origin (refs/gitops-engine/budget) says what the
engine wrote in the last 60 minutes, every run reserves before it writes, and work left over arrives in later runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testing.clock import FakeClock
from testing.repos import make_repo
from testing.scenario import PLATFORM, PLATFORM_YAML
from testing.world import World, world_from

from gitops_engine.budget import BUDGET_REF, LEDGER_FILE, WriteBudget, parse_ledger
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import Git, default_identity
from gitops_engine.publishing.report import RunReport
from gitops_engine.reconcile import process as process_repo

START = 1_700_000_000.0  # the simulated hour starts here
BUDGET = 3
WORKLOAD_DEFAULT = "definitions/workload/workload-default.yaml"
UNITS = ["billing/invoices", "billing/mailer", "shop/cart", "shop/catalog", "shop/orders"]


@pytest.fixture
def world(tmp_path: Path) -> World:
    files = {**PLATFORM, "platform.yaml": PLATFORM_YAML + f"  maxPerHour: {BUDGET}\n"}
    world = world_from(tmp_path, make_repo(tmp_path / "seed", files, message="Platform sources"))
    first = process_repo(world.engine, LocalForge(world.remote), default_identity(), clock=FakeClock(START))
    assert first.committed and first.opened == []
    return world


def run(world: World, clock: FakeClock) -> tuple[RunReport, int]:
    forge = LocalForge(world.remote)
    report = process_repo(world.engine, forge, default_identity(), clock=clock)
    assert not report.findings, report.findings
    return report, forge.stats.writes


def open_units(world: World) -> list[str]:
    pulls = LocalForge(world.remote).list_pull_requests("open")
    return sorted(p.branch.removeprefix("gitops-engine/") for p in pulls)


def ledger(world: World) -> str:
    return world.rgit("show", f"{BUDGET_REF}:{LEDGER_FILE}")


def test_three_runs_in_one_hour_never_write_more_than_the_budget(world: World) -> None:
    clock = FakeClock(START)
    world.push_change(
        world.edit(
            WORKLOAD_DEFAULT, "automountServiceAccountToken: false", "automountServiceAccountToken: true"
        ),
        "Mount service account tokens",
    )

    spent = []
    for minute in (0, 20, 40):  # three scheduled runs inside the hour
        clock.now = START + minute * 60
        report, writes = run(world, clock)
        spent.append(writes)
        if minute == 0:
            assert [p.branch for p in report.opened] == [f"gitops-engine/{u}" for u in UNITS[:BUDGET]]
            assert report.deferred == UNITS[BUDGET:]
        else:
            assert report.opened == [] and report.deferred == UNITS[BUDGET:]

    assert spent == [BUDGET, 0, 0]
    assert open_units(world) == UNITS[:BUDGET]
    assert ledger(world) == f"{int(START)} {BUDGET}\n"  # settled: what the hour really spent, once

    # The next hour's run opens the rest, and what it wrote is what the ledger holds for that hour.
    clock.now = START + 3600 + 60
    report, writes = run(world, clock)
    assert writes == len(UNITS) - BUDGET + 1  # and the rollout dashboard, now that it can be written
    assert [p.branch for p in report.opened] == [f"gitops-engine/{u}" for u in UNITS[BUDGET:]]
    assert report.deferred == []
    assert open_units(world) == UNITS
    assert ledger(world) == f"{int(clock.now)} {len(UNITS) - BUDGET + 1}\n"

    # Nothing left: a further run writes nothing, to the forge or to the ledger.
    ledger_head = world.rgit("rev-parse", BUDGET_REF)
    clock.now += 60
    report, writes = run(world, clock)
    assert (writes, report.opened, report.updated, report.deferred) == (0, [], [], [])
    assert world.rgit("rev-parse", BUDGET_REF) == ledger_head


def test_reservations_of_other_runs_count_and_expire_after_an_hour(world: World) -> None:
    clock = FakeClock(START)
    with Git(world.engine) as repo:
        other = WriteBudget(repo, BUDGET, default_identity(), clock=clock)
        assert other.reserve(2) == 2  # another run reserved two writes and was killed
        mine = WriteBudget(repo, BUDGET, default_identity(), clock=clock)
        assert mine.available() == 1
        assert mine.reserve(5) == 1
        assert mine.reserve(1) == 0
        mine.settle(0)  # nothing written: the reservation goes back
        assert mine.available() == 1
        assert parse_ledger(ledger(world)) == parse_ledger(f"{int(START)} 2\n")

        clock.now = START + 3599
        assert mine.available() == 1
        clock.now = START + 3600
        assert mine.available() == BUDGET
        assert mine.reserve(1) == 1  # the expired line is dropped when the ledger is rewritten
        assert ledger(world) == f"{int(clock.now)} 1\n"


def test_a_ledger_line_that_is_not_two_numbers_is_ignored() -> None:
    assert parse_ledger("12 3\nnonsense\n14 x\n15 1 2\n16 2\n") == parse_ledger("12 3\n16 2\n")

"""A run reserves the forge writes it expects in one go, as a ledger commit pushed with its branches
(`WriteBudget.propose`, `accept`): what it then writes needs no ledger push of its own, and a reservation that was
exact needs no settling either."""

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
from gitops_engine.reconcile import process as process_repo

START = 1_700_000_000.0
BUDGET = 10
WORKLOAD_DEFAULT = "definitions/workload/workload-default.yaml"
UNITS = ["billing/invoices", "billing/mailer", "shop/cart", "shop/catalog", "shop/orders"]


@pytest.fixture
def world(tmp_path: Path) -> World:
    files = {**PLATFORM, "platform.yaml": PLATFORM_YAML + f"  maxPerHour: {BUDGET}\n"}
    world = world_from(tmp_path, make_repo(tmp_path / "seed", files, message="Platform sources"))
    first = process_repo(world.engine, LocalForge(world.remote), default_identity(), clock=FakeClock(START))
    assert first.committed and first.opened == []
    return world


def ledger(world: World) -> str:
    return world.rgit("show", f"{BUDGET_REF}:{LEDGER_FILE}")


def test_a_run_reserves_its_writes_once_and_exactly(world: World) -> None:
    world.push_change(
        world.edit(
            WORKLOAD_DEFAULT, "automountServiceAccountToken: false", "automountServiceAccountToken: true"
        ),
        "Mount service account tokens",
    )
    pushes = record_pushes(world)
    forge = LocalForge(world.remote)
    report = process_repo(world.engine, forge, default_identity(), clock=FakeClock(START + 60))

    assert [p.branch for p in report.opened] == [f"gitops-engine/{u}" for u in UNITS]
    assert forge.stats.writes == len(UNITS) + 1  # and the rollout dashboard
    # One line: the reservation made with the branches' push was what the run wrote, so nothing was settled.
    assert ledger(world) == f"{int(START + 60)} {len(UNITS) + 1}\n"
    # The ledger moved once, in the same atomic push as the branches.
    assert [refs for refs in pushed(pushes) if BUDGET_REF in refs] == [
        sorted([BUDGET_REF, *(f"refs/heads/gitops-engine/{u}" for u in UNITS)])
    ]
    assert world.rgit("rev-list", "--count", BUDGET_REF) == "1\n"  # a parentless commit: no history


def record_pushes(world: World) -> Path:
    """The remote's post-receive hook appends the refs of every push it receives, one push a line."""
    log = world.remote / "pushes.log"
    hook = world.remote / "hooks" / "post-receive"
    hook.write_text(f"#!/bin/sh\ncut -d' ' -f3 | sort | tr '\\n' ' ' >> '{log}'\necho >> '{log}'\n")
    hook.chmod(0o755)
    return log


def pushed(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()]


def test_a_proposal_holds_nothing_until_accepted_and_loses_to_a_run_that_reserved_first(world: World) -> None:
    clock = FakeClock(START)
    with Git(world.engine) as repo:
        mine = WriteBudget(repo, BUDGET, default_identity(), clock=clock)
        proposal = mine.propose(4)
        assert proposal is not None and proposal.entry.writes == 4
        assert mine.reserved == 0 and mine.available() == BUDGET  # not pushed: nothing is reserved yet

        other = WriteBudget(repo, BUDGET, default_identity(), clock=clock)
        assert other.reserve(7) == 7  # another run reserved meanwhile
        ok, _ = repo.push_with_leases("origin", {BUDGET_REF: proposal.lease})
        assert not ok  # the lease refuses the stale proposal: the other run's reservation stays
        assert parse_ledger(ledger(world)) == parse_ledger(f"{int(START)} 7\n")

        assert mine.reserve(4) == 3  # reserving as usual reads the ledger again: 3 writes are left
        assert mine.propose(1) is None  # and a proposal says so too

        clock.now = START + 3600
        proposal = mine.propose(2)
        assert proposal is not None
        ok, _ = repo.push_with_leases("origin", {BUDGET_REF: proposal.lease})
        assert ok
        mine.accept(proposal)
        assert mine.reserved == 5
        assert ledger(world) == f"{int(START + 3600)} 2\n"  # the expired lines are dropped
        mine.settle(1)  # one of the five written: the rest goes back
        assert ledger(world) == f"{int(START + 3600)} 1\n"

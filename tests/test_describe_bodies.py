"""gitops_engine.publishing.describe, pull-request bodies: each environment's objects are read and compared once
per body (for the environments table and the diff), and the diff is the one UnitPlan.diff gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from testing.world import prepare_world

from gitops_engine.git import Git
from gitops_engine.loading import load_snapshot
from gitops_engine.plan import plan_changes
from gitops_engine.provenance import RenderedState
from gitops_engine.publishing import describe
from gitops_engine.rollout import pull_groups
from gitops_engine.source import GitSource
from gitops_engine.versions import VersionNames

PG_17 = ("definitions/postgres/pg-incluster.yaml", "postgres:16.4", "postgres:17.0")


@pytest.mark.parametrize("read_ahead", [1, describe.READ_AHEAD])
def test_bodies_show_the_diff_unit_plans_give_and_the_counts_of_the_same_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_ahead: int
) -> None:
    """pull_bodies reads the blobs the diffs start from ahead, READ_AHEAD units at a time: the same texts as
    pull_body gives one unit at a time."""
    monkeypatch.setattr(describe, "READ_AHEAD", read_ahead)
    world = prepare_world(tmp_path / "world")
    before = world.main()
    world.push_change(world.edit(*PG_17), "PostgreSQL 17")
    with Git(world.remote) as repo:
        plan = plan_changes(load_snapshot(GitSource(repo, world.main())), RenderedState(repo, before))
        units = plan.pull_units()
        assert [u.unit for u in units] == ["shop/catalog", "shop/orders"]
        for unit in units:
            body = describe.pull_body(repo, unit)
            for env in unit.environments:
                changes = unit.object_changes(repo, env)
                diff = describe.object_diff(f"rendered/{env}/{unit.unit}", changes)
                assert diff == unit.diff(repo, env)
                assert diff.count("\n") > 0 and describe.fenced("diff", diff) in body
                added = sum(1 for c in changes if c.old is None)
                removed = sum(1 for c in changes if c.new is None)
                assert f"| {env} | {len(changes) - added - removed} | {added} | {removed} |" in body
        names = VersionNames(repo, world.main())
        assert describe.pull_bodies(repo, units, names) == [
            describe.pull_body(repo, u, versions=names) for u in units
        ]


def test_texts_written_while_describing_are_the_ones_written_without(tmp_path: Path) -> None:
    """`describing` reads each unit's definitions once for all the texts about it: the same texts."""
    world = prepare_world(tmp_path / "world")
    before = world.main()
    world.push_change(world.edit(*PG_17), "PostgreSQL 17")
    with Git(world.remote) as repo:
        plan = plan_changes(load_snapshot(GitSource(repo, world.main())), RenderedState(repo, before))
        names = VersionNames(repo, world.main())
        groups = [*pull_groups(plan.pull_units(), "workload"), *pull_groups(plan.pull_units(), "team")]

        def texts() -> list[str]:
            out: list[str] = []
            for group in groups:
                out += [
                    describe.group_title(group, active=False, versions=names),
                    describe.group_message(group),
                    describe.group_body(repo, group, names),
                ]
            return out

        plain = texts()
        with describe.describing():
            assert texts() == plain
            assert texts() == plain  # read from what was kept
    assert len(plain) == 9 and plain[0].startswith("Update shop/catalog: pg-incluster Platform sources (")
    assert plain[0].endswith(") → PostgreSQL 17 (" + plain[0].rsplit(" (", 1)[1])

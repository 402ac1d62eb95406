"""Acceptance scenarios of the processor (issue 3) on real git: a bare remote, the engine's clone, a developer's
clone, the scenario platform of tests/testing/scenario.py and the local forge.

Every scenario asserts exact outcomes: the files a commit touches, the set of pull requests (checked against a full
re-render of the new main), refs on the remote before and after, forge writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from testing.cli import run_cli
from testing.platform import Resource
from testing.repos import git
from testing.scenario import ENVIRONMENTS, PLATFORM_YAML, WORKLOADS, environment, score
from testing.world import World

from gitops_engine import RENDER_VERSION, reconcile, reconciled
from gitops_engine.errors import GitopsError
from gitops_engine.forge import PullRequest
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import ENGINE_EMAIL, Git, default_identity
from gitops_engine.loading import load_snapshot
from gitops_engine.model import LOCK_FILE
from gitops_engine.plan import plan_changes
from gitops_engine.provenance import RenderedState
from gitops_engine.publishing import describe
from gitops_engine.publishing.describe import HUMAN_MARKER
from gitops_engine.publishing.report import RunReport
from gitops_engine.reconcile import process as process_repo
from gitops_engine.source import GitSource, WorkTreeSource
from gitops_engine.tree import build_tree

PG_INCLUSTER = "definitions/postgres/pg-incluster.yaml"
RECONCILED = reconciled.RECONCILED_REF
PG_17 = (PG_INCLUSTER, "postgres:16.4", "postgres:17.0")
SHOP_PG = ["shop/catalog", "shop/orders"]  # the workloads pg-incluster serves (development and staging)


@pytest.fixture(scope="module")
def _prepared(prepared_world: World) -> World:
    """The platform's sources pushed to a bare remote and rendered by the processor itself (a new repo's first
    push), cloned twice (conftest's `prepared_world`). Tests work on copies."""
    world = prepared_world
    # The processor's first render is exactly what `render` writes.
    code, output = run_cli(["render", "--check"], world.dev)
    assert code == 0, output
    assert len(world.files("main")) == 36
    return world


@pytest.fixture(params=["full", "range"])
def world(_prepared: World, tmp_path: Path, request: pytest.FixtureRequest) -> World:
    """A private copy of the prepared world. Each scenario runs twice: as the scheduled reconcile (no --base) and
    as CI's push workflow (--base = main before the push), which takes the cheap, index-driven path."""
    return _prepared.copy_to(tmp_path / "world", request.param)


@pytest.fixture
def plain_world(_prepared: World, tmp_path: Path) -> World:
    """A private copy, for scenarios that pass --base themselves or do not depend on it."""
    return _prepared.copy_to(tmp_path / "world")


# -------------------------------------------------------------------------------------------------------------
# Helpers


def process(world: World, *args: str) -> tuple[int, str]:
    """`gitops-engine process --forge local ARGS` in the engine's clone, through the real CLI (with --base as CI
    passes it in range mode)."""
    if world.mode == "range" and "--base" not in args and world.before:
        args = (*args, "--base", world.before)
    return run_cli(["process", "--forge", "local", *args], world.engine)


def process_ok(world: World, *args: str) -> str:
    code, output = process(world, *args)
    assert code == 0, output
    return output


def process_api(world: World, base: str | None = None) -> tuple[RunReport, LocalForge]:
    """One run through `process_repo`, with a fresh forge client (so its stats count this run only)."""
    if world.mode == "range" and base is None:
        base = world.before
    forge = LocalForge(world.remote)
    return process_repo(world.engine, forge, default_identity(), base=base), forge


def pulls(world: World, state: str = "all") -> list[PullRequest]:
    return LocalForge(world.remote).list_pull_requests(state)  # type: ignore[arg-type]


def pull_of(world: World, unit: str) -> PullRequest:
    found = [p for p in pulls(world) if p.branch == f"gitops-engine/{unit}"]
    assert len(found) == 1, found
    return found[0]


def open_units(world: World) -> list[str]:
    return sorted(p.branch.removeprefix("gitops-engine/") for p in pulls(world, "open"))


def unit_of(path: str) -> str:
    """`rendered/<env>/<a>/<b>/<file>` -> `a/b`."""
    return "/".join(path.split("/")[2:4])


def blob(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def unit_files(world: World, rev: str, unit: str) -> dict[str, str]:
    """path -> blob id of the unit's folders in every environment at `rev`."""
    return {p: sha for p, sha in world.files(rev).items() if unit_of(p) == unit}


def full_render(world: World) -> dict[str, bytes]:
    """A full re-render of main, in memory, from a fresh work tree of it (independent of the processor)."""
    git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
    snapshot = load_snapshot(WorkTreeSource(world.dev))
    build = build_tree(snapshot)
    assert build.ok, build.findings
    return build.files()


def units_differing(world: World, rendering: dict[str, bytes], rev: str = "main") -> set[str]:
    """Units whose manifests (not provenance locks) differ between `rendering` and rendered/ at `rev`."""
    held = {p: sha for p, sha in world.files(rev).items() if not p.endswith("/" + LOCK_FILE)}
    desired = {p: blob(c) for p, c in rendering.items() if not p.endswith("/" + LOCK_FILE)}
    return {unit_of(p) for p in set(held) | set(desired) if held.get(p) != desired.get(p)}


def assert_branch_holds_new_rendering(world: World, unit: str, rendering: dict[str, bytes]) -> None:
    """The pull request's branch is main plus exactly the unit's new rendering (manifests and lock)."""
    branch = f"refs/heads/gitops-engine/{unit}"
    assert unit_files(world, branch, unit) == {p: blob(c) for p, c in rendering.items() if unit_of(p) == unit}
    assert [
        p for p in world.changed("main", branch) if unit_of(p) != unit or not p.startswith("rendered/")
    ] == []
    assert world.rgit("merge-base", "main", branch).strip() == world.main()


def version_at(world: World, rev: str, path: str) -> str:
    """A definition's version as the engine names it (its blob id, shortened)."""
    return world.rgit("rev-parse", f"{rev}:{path}").strip()[:12]


def named_at(world: World, rev: str, path: str) -> str:
    """A definition's human-readable version: the subject and short id of the last commit that changed it."""
    return world.rgit("log", "-1", "--format=%s (%h)", "--abbrev=7", rev, "--", path).strip()


def lock(world: World, rev: str, env: str, unit: str) -> dict[str, Any]:
    return json.loads(world.show(f"{rev}:rendered/{env}/{unit}/{LOCK_FILE}"))


def forge_store(world: World) -> dict[str, str]:
    folder = world.remote / "gitops-engine" / "pulls"
    return {p.name: p.read_text() for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def engine_commits(world: World, since: str) -> list[str]:
    """Commits on main after `since`, asserting each is the engine's."""
    commits = world.log(f"{since}..main")
    for sha in commits:
        assert world.rgit("log", "-1", "--format=%ae", sha).strip() == ENGINE_EMAIL
    return commits


@pytest.fixture
def upgraded(world: World) -> tuple[World, str]:
    """pg-incluster moved to PostgreSQL 17 and the processor ran: pull requests for shop/catalog and shop/orders."""
    pushed = world.push_change(world.edit(*PG_17), "Upgrade in-cluster PostgreSQL to 17")
    process_ok(world)
    assert open_units(world) == SHOP_PG
    return world, pushed


# -------------------------------------------------------------------------------------------------------------
# Workload changes go to main


def test_workload_change_is_one_commit_touching_only_that_workload(world: World) -> None:
    pushed = world.push_change(
        world.edit("workloads/shop/cart/score.yaml", "cart:2.0.0", "cart:2.1.0"), "cart 2.1.0"
    )

    output = process_ok(world)

    (commit,) = engine_commits(world, pushed)
    assert world.rgit("rev-parse", f"{commit}^").strip() == pushed
    assert world.changed(pushed, commit) == sorted(
        f"rendered/{env}/shop/cart/{name}" for env in ENVIRONMENTS for name in ("manifest.yaml", LOCK_FILE)
    )
    assert "cart:2.1.0" in world.show(f"{commit}:rendered/production/shop/cart/deployment-cart.yaml")
    assert f"committed {commit[:12]} to main: shop/cart" in output
    assert pulls(world) == []
    assert world.branches() == {}
    # main is now exactly what a full render gives.
    rendering = full_render(world)
    assert units_differing(world, rendering) == set()
    assert {p: blob(c) for p, c in rendering.items()} == world.files("main")


def test_port_change_in_an_override_reaches_the_workloads_that_look_it_up(world: World) -> None:
    """shop/cart reads orders' http port through service-port; orders moves it in staging with an override file."""
    override = "service:\n  ports:\n    http:\n      port: 9090\n"
    pushed = world.push_change(
        {"workloads/shop/orders/overrides.staging.yaml": override}, "orders on 9090 in staging"
    )

    process_ok(world)

    (commit,) = engine_commits(world, pushed)
    assert {unit_of(p) for p in world.changed(pushed, commit)} == {"shop/orders"}
    rendering = full_render(world)
    assert units_differing(world, rendering) == {"shop/cart"}
    assert open_units(world) == ["shop/cart"]
    assert_branch_holds_new_rendering(world, "shop/cart", rendering)
    # The port moves in staging only: locks record what the lookup returned, so the other environments are
    # untouched.
    assert world.changed_objects("main", "refs/heads/gitops-engine/shop/cart") == [
        "rendered/staging/shop/cart/deployment-cart.yaml",
        f"rendered/staging/shop/cart/{LOCK_FILE}",
    ]
    assert "9090" in world.show(
        "refs/heads/gitops-engine/shop/cart:rendered/staging/shop/cart/deployment-cart.yaml"
    )


PAY_LOOKS_UP_ORDERS = score(
    "pay",
    "registry.example.com/pay:1.0.0",
    variables={"ORDERS": "http://${resources.orders.hostname}:${resources.orders.port}"},
    resources={"orders": Resource("service-port", params={"workload": "orders", "port": "http"})},
)


def test_a_bare_lookup_follows_the_callers_team_when_its_team_gains_a_workload_of_that_name(
    world: World,
) -> None:
    """billing/pay looks up `orders`: shop's while billing has none. Once billing/orders appears, the name means
    billing's for billing/pay (its own team first) and still shop's for shop/cart: the locks record the name as
    asked, so the processor re-renders exactly billing/pay."""
    world.push_change({"workloads/billing/pay/score.yaml": PAY_LOOKS_UP_ORDERS}, "billing/pay")
    process_ok(world)
    assert "orders.shop-development.svc" in world.show(
        "main:rendered/development/billing/pay/deployment-pay.yaml"
    )
    assert list(lock(world, "main", "development", "billing/pay")["lookups"]) == ["orders"]  # as asked

    pushed = world.push_change(
        {
            "workloads/billing/orders/score.yaml": score(
                "orders", "registry.example.com/billing-orders:1.0.0", port=9090
            )
        },
        "billing/orders",
    )
    process_ok(world)

    (commit,) = engine_commits(world, pushed)
    assert {unit_of(p) for p in world.changed(pushed, commit)} == {"billing/orders"}
    rendering = full_render(world)
    assert units_differing(world, rendering) == {"billing/pay"}
    assert open_units(world) == ["billing/pay"]
    assert_branch_holds_new_rendering(world, "billing/pay", rendering)
    assert "orders.billing-development.svc.cluster.local:9090" in world.show(
        "refs/heads/gitops-engine/billing/pay:rendered/development/billing/pay/deployment-pay.yaml"
    )


# -------------------------------------------------------------------------------------------------------------
# Definition changes become one pull request per workload whose manifests change


def test_definition_change_opens_a_pull_request_per_affected_workload(world: World) -> None:
    old_version, old_name = version_at(world, "main", PG_INCLUSTER), named_at(world, "main", PG_INCLUSTER)
    pushed = world.push_change(world.edit(*PG_17), "Upgrade in-cluster PostgreSQL to 17")
    new_version, new_name = version_at(world, "main", PG_INCLUSTER), named_at(world, "main", PG_INCLUSTER)
    assert new_name == f"Upgrade in-cluster PostgreSQL to 17 ({pushed[:7]})"
    rendering = full_render(world)
    expected = units_differing(world, rendering)
    assert expected == set(SHOP_PG)  # the scenario is what we think it is

    code, output = process(world)

    assert code == 0, output
    assert world.main() == pushed  # nothing committed to main
    assert world.refs()[RECONCILED] == pushed  # but what the run reconciled is recorded
    assert sorted(world.branches()) == sorted(expected)
    opened = pulls(world)
    assert sorted(p.branch for p in opened) == [f"gitops-engine/{u}" for u in sorted(expected)]
    for pull in opened:
        unit = pull.branch.removeprefix("gitops-engine/")
        assert pull.state == "open"
        assert pull.base == "main"
        assert pull.title == f"Update {unit}: pg-incluster {old_name} → {new_name}"
        assert f"| `pg-incluster` | {old_name} `{old_version}` | {new_name} `{new_version}` |" in pull.body
        assert re.search(r"^-\s+image: docker.io/library/postgres:16.4$", pull.body, re.M)
        assert re.search(r"^\+\s+image: docker.io/library/postgres:17.0$", pull.body, re.M)
        assert "```mermaid" in pull.body
        assert "| development | 1 | 0 | 0 |" in pull.body and "| staging | 1 | 0 | 0 |" in pull.body
        assert "production" not in pull.body.split("### Environments")[1].split("### Why")[0]
        assert pull.labels == ("gitops-engine", "rendered")
        assert pull.reviewers == ("shop-team",)
        assert f"opened #{pull.number} {pull.title}" in output
        assert_branch_holds_new_rendering(world, unit, rendering)
        assert world.changed_objects("main", pull.branch) == sorted(
            f"rendered/{env}/{unit}/{name}"
            for env in ("development", "staging")
            for name in (LOCK_FILE, f"statefulset-{unit.split('/')[1]}-db.yaml")
        )


def test_comment_only_definition_edit_commits_provenance_to_main(world: World) -> None:
    pushed = world.push_change(
        world.edit(PG_INCLUSTER, "driver: template\n", "# Owned by the database guild.\ndriver: template\n"),
        "Document pg-incluster",
    )

    process_ok(world)

    (commit,) = engine_commits(world, pushed)
    assert world.changed(pushed, commit) == sorted(
        f"rendered/{env}/{unit}/{LOCK_FILE}" for env in ("development", "staging") for unit in SHOP_PG
    )
    assert (
        lock(world, commit, "staging", "shop/orders")["inputs"][PG_INCLUSTER]
        == world.rgit("rev-parse", f"main:{PG_INCLUSTER}").strip()
    )
    assert pulls(world) == []
    assert world.branches() == {}


def test_criteria_change_moves_workloads_both_ways(world: World) -> None:
    """pg-tuned moves from team billing to team shop: billing/invoices leaves it, shop's postgres users join it."""
    pushed = world.push_change(
        world.edit("definitions/postgres/pg-tuned.yaml", "team: billing", "team: shop")
    )
    rendering = full_render(world)
    expected = units_differing(world, rendering)
    assert expected == {"billing/invoices", "shop/catalog", "shop/orders"}

    process_ok(world)

    assert world.main() == pushed
    assert open_units(world) == sorted(expected)
    for unit in expected:
        assert_branch_holds_new_rendering(world, unit, rendering)
    invoices = "refs/heads/gitops-engine/billing/invoices"
    assert [
        r["definition"] for r in lock(world, invoices, "production", "billing/invoices")["resources"]
    ].count("pg-managed") == 1
    assert "tuned-orders-db" in world.show(
        "refs/heads/gitops-engine/shop/orders:rendered/production/shop/orders/configmap-tuned-orders-db.yaml"
    )


def test_a_broken_definition_never_removes_the_shared_resources_of_the_workloads_it_breaks(
    world: World,
) -> None:
    """Development's labels change (every unit there is stale, the shared `cache` too) and every workload fails
    there (a new workload definition has a template error), so no user reaches `cache`: the processor reports the
    failures and leaves the shared resource's manifests alone, with no pull request removing them."""
    main_before = world.main()
    world.push_change(
        {
            **world.edit(
                "environments/development.yaml", "example.com/env: development", "example.com/env: dev"
            ),
            "definitions/workload/workload-development.yaml": (
                "apiVersion: gitops-engine.dev/v1\nkind: ResourceDefinition\nid: workload-development\n"
                "type: workload\ncriteria:\n  - env_type: development\ndriver: template\ntemplate:\n"
                "  outputs: |\n    replicas: {{ resource.params.replicas }}\n"
            ),
        },
        "A workload definition for development, with a mistake",
    )

    code, output = process(world)

    assert code == 1, output
    assert "undefined value in template" in output
    assert pulls(world) == []
    assert world.branches() == {}
    assert world.files("main") == world.files(main_before)


def test_deleted_definition_falls_back_to_the_next_one(world: World) -> None:
    pushed = world.push_change({"definitions/postgres/pg-tuned.yaml": None}, "Retire pg-tuned")
    rendering = full_render(world)
    assert units_differing(world, rendering) == {"billing/invoices"}

    process_ok(world)

    assert world.main() == pushed
    assert open_units(world) == ["billing/invoices"]
    assert_branch_holds_new_rendering(world, "billing/invoices", rendering)
    branch = "refs/heads/gitops-engine/billing/invoices"
    changed = world.changed_objects("main", branch)
    assert "rendered/development/billing/invoices/configmap-tuned-invoices-db.yaml" in changed
    assert "rendered/development/billing/invoices/statefulset-invoices-db.yaml" in changed
    assert "pg-tuned" in pull_of(world, "billing/invoices").body


def test_added_environment_opens_pull_requests_adding_its_folders(world: World) -> None:
    platform = PLATFORM_YAML.replace(
        "[development, staging, production]", "[development, staging, qa, production]"
    )
    pushed = world.push_change(
        {"platform.yaml": platform, "environments/qa.yaml": environment("qa", "staging")}
    )
    rendering = full_render(world)
    every_unit = {*WORKLOADS, "_shared/cache"}
    assert units_differing(world, rendering) == every_unit

    process_ok(world)

    assert world.main() == pushed
    assert open_units(world) == sorted(every_unit)
    for unit in every_unit:
        assert_branch_holds_new_rendering(world, unit, rendering)
        added = [
            p for p in world.changed("main", f"refs/heads/gitops-engine/{unit}") if not p.endswith(LOCK_FILE)
        ]
        assert added and all(p.startswith(f"rendered/qa/{unit}/") for p in added), added


# -------------------------------------------------------------------------------------------------------------
# Idempotence


def test_second_run_changes_nothing(upgraded: tuple[World, str]) -> None:
    world, _ = upgraded
    world.push_change(world.edit("workloads/billing/mailer/score.yaml", "mailer:5.0.0", "mailer:5.0.1"))
    process_ok(world)  # commits mailer; the two pull requests stay as they are
    refs, store = world.refs(), forge_store(world)

    report, forge = process_api(world)

    assert world.refs() == refs
    assert forge_store(world) == store
    assert forge.stats.writes == 0
    assert report.committed is None and report.opened == [] and report.updated == [] and report.closed == []
    assert report.pending == SHOP_PG and report.unchanged == []
    code, output = process(world)
    assert code == 0 and "nothing to do" in output and world.refs() == refs


def test_units_with_an_up_to_date_pull_request_are_not_rendered_again(upgraded: tuple[World, str]) -> None:
    """After a definition change, every push still has those pull requests open: their branches' locks show they
    are current, so a developer's push costs what it touches, not what the definition change reached."""
    world, _ = upgraded
    refs, store = world.refs(), forge_store(world)
    pushed = world.push_change(
        world.edit("workloads/billing/mailer/score.yaml", "mailer:5.0.0", "mailer:5.0.1")
    )

    report, forge = process_api(world, base=f"{pushed}^")

    assert report.plan is not None and report.plan.mode == "range"
    # The upgrade's run recorded what it reconciled: only the push is examined, not the units with pull requests.
    assert report.plan.candidates == 1 and list(report.plan.units) == ["billing/mailer"]
    assert report.committed_units == ["billing/mailer"]
    assert report.pending == SHOP_PG and report.unchanged == []
    assert forge.stats.writes == 0 and forge_store(world) == store
    assert {r: sha for r, sha in world.refs().items() if r.startswith("refs/heads/gitops-engine/")} == {
        r: sha for r, sha in refs.items() if r.startswith("refs/heads/gitops-engine/")
    }
    assert len([r for r in refs if r.startswith("refs/heads/gitops-engine/")]) == len(SHOP_PG)
    # A pull request whose branch is behind its inputs is examined again (here: the definition moved on).
    world.push_change(world.edit(PG_INCLUSTER, "postgres:17.0", "postgres:17.1"), "PostgreSQL 17.1")
    report, _ = process_api(world, base=None)
    assert report.plan is not None and report.plan.mode == "range"
    assert sorted(p.branch for p in report.updated) == [f"gitops-engine/{u}" for u in SHOP_PG]


def test_another_change_of_the_same_type_leaves_fresh_pull_requests_alone(
    upgraded: tuple[World, str],
) -> None:
    """pg-tuned (billing's postgres) changes while the pg-incluster pull requests are open: the shop units use the
    changed type, so they are checked, but their branches are still fresh and nothing touches them."""
    world, _ = upgraded
    branches = world.branches()
    world.push_change(world.edit("definitions/postgres/pg-tuned.yaml", '"300"', '"400"'), "More connections")

    report, _ = process_api(world, base=None)

    assert [p.branch for p in report.opened] == ["gitops-engine/billing/invoices"]
    assert report.pending == SHOP_PG and report.updated == [] and report.closed == []
    assert {u: sha for u, sha in world.branches().items() if u in SHOP_PG} == branches
    assert open_units(world) == sorted([*SHOP_PG, "billing/invoices"])


def test_a_squash_merged_pull_request_is_closed_not_left_pending(upgraded: tuple[World, str]) -> None:
    """A person lands the branch's rendering on main by a new commit (squash merge, cherry-pick): main holds the
    change, so the pull request is closed, although its branch is still fresh."""
    world, _ = upgraded
    branch = "refs/heads/gitops-engine/shop/orders"
    files = {path: world.show(f"{branch}:{path}") for path in world.changed("main", branch)}
    squashed = world.push_change(files, "Squash-merge the orders upgrade")

    report, _ = process_api(world, base=f"{squashed}^")

    assert [(p.branch, why) for p, why in report.closed] == [
        (
            "gitops-engine/shop/orders",
            "`main` already contains this change for `shop/orders`: nothing left to merge.",
        )
    ]
    assert report.pending == ["shop/catalog"]
    assert report.committed is None and open_units(world) == ["shop/catalog"]


# -------------------------------------------------------------------------------------------------------------
# Pull request life cycle


def test_merged_pull_request_is_recognised(upgraded: tuple[World, str]) -> None:
    world, _ = upgraded
    merged = pull_of(world, "shop/orders")
    git(world.dev, "fetch", "--quiet", "origin", merged.branch)
    git(world.dev, "merge", "--quiet", "--no-ff", "-m", f"Merge #{merged.number}", "FETCH_HEAD")
    git(world.dev, "push", "--quiet", "origin", "HEAD:main")
    merge = world.main()

    report, _ = process_api(world)

    assert world.main() == merge  # nothing to commit: main has the change
    assert pull_of(world, "shop/orders").state == "merged"
    assert pull_of(world, "shop/catalog").state == "open"
    assert sorted(world.branches()) == ["shop/catalog"]
    assert report.deleted_branches == ["gitops-engine/shop/orders"]
    assert report.opened == [] and report.closed == []
    assert len(pulls(world)) == 2  # nothing reopened
    assert units_differing(world, full_render(world)) == {"shop/catalog"}
    process_ok(world)
    assert len(pulls(world)) == 2 and open_units(world) == ["shop/catalog"]


def test_pull_requests_merged_after_their_branches_were_updated_are_recognised(
    upgraded: tuple[World, str],
) -> None:
    """Issue 10, item 5 (local forge ghosts): a second definition change updates the branches; people merge them
    with `--no-ff`; the pull requests are merged, not left open forever, and a later change opens new ones."""
    world, _ = upgraded
    before = {p.branch: p.number for p in pulls(world)}
    world.push_change(world.edit(PG_INCLUSTER, "postgres:17.0", "postgres:17.2"), "PostgreSQL 17.2")
    process_ok(world)
    assert {p.branch: p.number for p in pulls(world, "open")} == before  # updated in place
    for branch, number in sorted(before.items()):
        git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
        git(world.dev, "fetch", "--quiet", "origin", branch)
        git(world.dev, "merge", "--quiet", "--no-ff", "-m", f"Merge #{number}", "FETCH_HEAD")
        git(world.dev, "push", "--quiet", "origin", "HEAD:main")
    world.before = world.rgit("rev-parse", "main~2").strip()

    process_ok(world)

    assert world.branches() == {}
    assert [(p.number, p.state) for p in pulls(world)] == [(n, "merged") for n in sorted(before.values())]
    code, output = run_cli(["pulls", "--forge", "local", "--state", "open"], world.engine)
    assert code == 0 and "gitops-engine/" not in output, output
    refs = world.refs()
    process_ok(world, "--full")
    assert world.refs() == refs and [p.state for p in pulls(world)] == ["merged", "merged"]
    # A later change to the same units opens new pull requests: the merged ones are not revived.
    world.push_change(world.edit(PG_INCLUSTER, "postgres:17.2", "postgres:17.3"), "PostgreSQL 17.3")
    process_ok(world)
    assert [(p.branch, p.state) for p in pulls(world) if p.number not in before.values()] == [
        (f"gitops-engine/{u}", "open") for u in SHOP_PG
    ]
    assert [p.state for p in pulls(world) if p.number in before.values()] == ["merged", "merged"]


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_automerge_pull_requests_are_merged_at_the_start_of_the_next_run(
    upgraded: tuple[World, str], method: str
) -> None:
    """The local forge merges auto-merge pull requests as if their checks had passed, when a run starts; the run
    then finds main holding the change: nothing to open or update, the branch deleted, a second run a no-op."""
    world, _ = upgraded
    orders = pull_of(world, "shop/orders")
    LocalForge(world.remote).enable_automerge(orders.number, method)  # type: ignore[arg-type]
    rendering = full_render(world)

    report, _ = process_api(world)

    assert [(p.number, p.state) for p in report.merged] == [(orders.number, "merged")]
    assert pull_of(world, "shop/orders").state == "merged"
    assert units_differing(world, full_render(world)) == {"shop/catalog"}
    assert unit_files(world, "main", "shop/orders") == {
        p: blob(c) for p, c in rendering.items() if unit_of(p) == "shop/orders"
    }
    assert sorted(world.branches()) == ["shop/catalog"] and open_units(world) == ["shop/catalog"]
    assert report.opened == [] and report.updated == [] and report.closed == []
    refs = world.refs()
    again, forge = process_api(world)
    assert again.merged == [] and forge.stats.writes == 0 and world.refs() == refs


def test_a_refused_branch_deletion_is_retried_by_the_next_run(upgraded: tuple[World, str]) -> None:
    """The remote refuses to delete the merged branch once (a pre-receive hook): the run says so, does not count as
    complete, and the next run deletes it."""
    world, _ = upgraded
    merged = pull_of(world, "shop/orders")
    git(world.dev, "fetch", "--quiet", "origin", merged.branch)
    git(world.dev, "merge", "--quiet", "--no-ff", "-m", f"Merge #{merged.number}", "FETCH_HEAD")
    git(world.dev, "push", "--quiet", "origin", "HEAD:main")
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text('#!/bin/sh\nwhile read old new ref; do\n  case "$new" in 0000000*) exit 1;; esac\ndone\n')
    hook.chmod(0o755)
    refs = world.refs()

    report, _ = process_api(world)

    assert report.deleted_branches == [] and report.retry
    assert world.refs() == refs  # nothing deleted, no reconciled marker moved
    hook.unlink()
    report, _ = process_api(world)
    assert report.deleted_branches == ["gitops-engine/shop/orders"] and not report.retry
    assert sorted(world.branches()) == ["shop/catalog"]


def test_superseding_workload_change_closes_the_pull_request(upgraded: tuple[World, str]) -> None:
    world, _ = upgraded
    superseded = pull_of(world, "shop/catalog")
    pushed = world.push_change(
        world.edit("workloads/shop/catalog/score.yaml", "catalog:3.1.0", "catalog:3.2.0")
    )

    process_ok(world)

    (commit,) = engine_commits(world, pushed)
    assert {unit_of(p) for p in world.changed(pushed, commit)} == {"shop/catalog"}
    # The developer's render adopted the pending definition update too.
    assert "postgres:17.0" in world.show(
        f"{commit}:rendered/staging/shop/catalog/statefulset-catalog-db.yaml"
    )
    assert pull_of(world, "shop/catalog").state == "closed"
    comments = LocalForge(world.remote).comments(superseded.number)
    assert len(comments) == 1 and "Superseded" in comments[0] and commit[:12] in comments[0]
    assert sorted(world.branches()) == ["shop/orders"]
    assert open_units(world) == ["shop/orders"]
    refs = world.refs()
    process_ok(world)
    assert world.refs() == refs and len(pulls(world)) == 2


def test_later_definition_change_updates_the_open_pull_request(upgraded: tuple[World, str]) -> None:
    world, first_push = upgraded
    before = {p.branch: p for p in pulls(world)}
    oldest = named_at(world, f"{first_push}^", PG_INCLUSTER)
    world.push_change(world.edit(PG_INCLUSTER, "postgres:17.0", "postgres:17.2"), "PostgreSQL 17.2")
    newest = named_at(world, "main", PG_INCLUSTER)
    assert newest.startswith("PostgreSQL 17.2 (")
    rendering = full_render(world)

    report, _ = process_api(world)

    assert report.opened == [] and sorted(p.number for p in report.updated) == sorted(
        p.number for p in before.values()
    )
    after = pulls(world)
    assert [(p.number, p.branch, p.state) for p in after] == [
        (p.number, p.branch, "open") for p in before.values()
    ]
    for pull in after:
        unit = pull.branch.removeprefix("gitops-engine/")
        # Still "main's version → the newest": the pull request says what merging it changes.
        assert pull.title == f"Update {unit}: pg-incluster {oldest} → {newest}"
        assert_branch_holds_new_rendering(world, unit, rendering)
        assert len(world.log(f"main..refs/heads/{pull.branch}")) == 1  # regenerated from main, not stacked


def test_reverted_definition_change_closes_its_pull_requests(upgraded: tuple[World, str]) -> None:
    world, _ = upgraded
    numbers = [pull_of(world, u).number for u in SHOP_PG]
    pushed = world.push_change(
        world.edit(PG_INCLUSTER, "postgres:17.0", "postgres:16.4"), "Revert PostgreSQL 17"
    )

    process_ok(world)

    assert world.main() == pushed
    assert [p.state for p in pulls(world)] == ["closed", "closed"]
    for number in numbers:
        (comment,) = LocalForge(world.remote).comments(number)
        assert "already contains this change" in comment
    assert world.branches() == {}


def test_pull_request_closed_by_a_person_is_not_reopened(upgraded: tuple[World, str]) -> None:
    world, _ = upgraded
    declined = pull_of(world, "shop/orders")
    LocalForge(world.remote).close_pull_request(declined.number, "Not now.")
    refs, store = world.refs(), forge_store(world)

    report, forge = process_api(world)

    assert forge.stats.writes == 0 and world.refs() == refs and forge_store(world) == store
    assert report.opened == [] and open_units(world) == ["shop/catalog"]
    # A full run examines shop/orders again, and says why it leaves it.
    forge = LocalForge(world.remote)
    report = process_repo(world.engine, forge, default_identity(), full=True)
    assert forge.stats.writes == 0 and world.refs() == refs and forge_store(world) == store
    assert (
        "shop/orders",
        f"#{declined.number} was closed without merging: not reopened",
    ) in report.blocked


def test_dry_run_changes_nothing(world: World) -> None:
    world.push_change(
        {
            **world.edit(*PG_17),
            **world.edit("workloads/shop/cart/score.yaml", "cart:2.0.0", "cart:2.1.0"),
        }
    )
    refs = world.refs()

    code, output = process(world, "--dry-run")

    assert code == 0, output
    assert world.refs() == refs and pulls(world) == [] and forge_store(world) == {}
    assert "would commit shop/cart (workload): development, staging, production" in output
    assert "would open or update the pull request for shop/orders: development, staging" in output
    assert "would open or update the pull request for shop/catalog: development, staging" in output


# What a merge does, as `affected`, `preview` and `process --dry-run` each tell it: {unit: (where it goes, the
# environments whose manifests change)}, plus the units that fail (left as they are) and those whose provenance
# alone changes.
Merge = tuple[dict[str, tuple[str, tuple[str, ...]]], list[str], list[str]]
ALL = ("development", "staging", "production")
DEV_STAGING = ("development", "staging")
MERGES: dict[str, tuple[dict[str, str | None], Merge]] = {
    "workload change": (
        {"workloads/shop/cart/score.yaml": "cart:2.0.0 -> cart:2.1.0"},
        ({"shop/cart": ("commit", ALL)}, [], []),
    ),
    "failing workload change": (
        {
            "workloads/shop/cart/score.yaml": "cart:2.0.0 -> cart:2.1.0",
            "workloads/shop/orders/score.yaml": "type: postgres -> type: postgress",
        },
        ({"shop/cart": ("commit", ALL)}, ["shop/orders"], []),
    ),
    "definition change": (
        {PG_INCLUSTER: "postgres:16.4 -> postgres:17.0"},
        (
            {"shop/catalog": ("pull request", DEV_STAGING), "shop/orders": ("pull request", DEV_STAGING)},
            [],
            [],
        ),
    ),
    "failing definition change": (
        {PG_INCLUSTER: "port: 5432 -> port: {{ resource.nope }}"},
        ({}, ["shop/catalog", "shop/orders"], []),
    ),
    "definition and workload change": (
        {
            PG_INCLUSTER: "postgres:16.4 -> postgres:17.0",
            "workloads/shop/orders/score.yaml": "orders:1.0.0 -> orders:1.1.0",
        },
        ({"shop/catalog": ("pull request", DEV_STAGING), "shop/orders": ("commit", ALL)}, [], []),
    ),
    "description of a definition": (
        {"definitions/postgres/pg-tuned.yaml": "for the billing team -> for team billing"},
        ({}, [], ["billing/invoices"]),
    ),
    "shared resource's definition": (
        {"definitions/redis/redis-incluster.yaml": "port: 6379 -> port: 6380"},
        # Its users read only the host: their provenance alone changes.
        ({"_shared/cache": ("pull request", ALL)}, [], ["shop/cart", "shop/orders"]),
    ),
    "port that another workload looks up": (
        {"workloads/shop/orders/score.yaml": "port: 8080 -> port: 9090"},
        ({"shop/cart": ("pull request", ALL), "shop/orders": ("commit", ALL)}, [], []),
    ),
    "environment change": (
        {"environments/staging.yaml": "example.com/env: staging -> example.com/env: stage"},
        ({unit: ("pull request", ("staging",)) for unit in [*WORKLOADS, "_shared/cache"]}, [], []),
    ),
    "workload removed": (
        {"workloads/billing/mailer/score.yaml": None},
        ({"billing/mailer": ("commit", ALL)}, [], []),
    ),
    "workload added": (
        {"workloads/billing/pay/score.yaml": PAY_LOOKS_UP_ORDERS},
        ({"billing/pay": ("commit", ALL)}, [], []),
    ),
}


def _propose(world: World, edits: dict[str, str | None]) -> tuple[str, str]:
    """Commit `edits` ("old -> new" in a file, a whole new file, or None to delete) on a branch of main in the
    developer's clone: (base, head)."""
    git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
    base = git(world.dev, "rev-parse", "HEAD").strip()
    git(world.dev, "checkout", "--quiet", "-b", "proposal")
    for path, change in edits.items():
        target = world.dev / path
        if change is None:
            target.unlink()
        elif " -> " in change:
            old, new = change.split(" -> ")
            assert old in target.read_text(), (path, old)
            target.write_text(target.read_text().replace(old, new))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(change)
    git(world.dev, "add", "--all")
    git(world.dev, "commit", "--quiet", "-m", "proposal")
    return base, git(world.dev, "rev-parse", "HEAD").strip()


def _merge_by_affected(world: World, base: str, head: str) -> Merge:
    code, output = run_cli(["affected", "--base", base, "--head", head, "--format", "json"], world.dev)
    report = json.loads(output)
    assert code == (1 if report["failed"] else 0), output
    units = {u["workload"]: (u["merge"], tuple(u["environments"])) for u in report["workloads"]}
    return units, report["failed"], report["provenance_only"]


def _merge_by_preview(world: World, base: str, head: str) -> Merge:
    code, output = run_cli(["preview", "--base", base, "--head", head], world.dev)
    units: dict[str, tuple[str, tuple[str, ...]]] = {}
    failed: list[str] = []
    provenance: list[str] = []
    for line in output.splitlines():
        row = re.fullmatch(r"\| `([^`]+)` \| ([^|]+) \| (committed to main|pull request `[^`]+`) \|", line)
        if row:
            merge = "commit" if row[3] == "committed to main" else "pull request"
            units[row[1]] = (merge, tuple(row[2].split(", ")))
        elif line.startswith(("Failing to render", "Provenance only")):
            named = re.findall(r"`([^`]+)`", line)
            (failed if line.startswith("Failing") else provenance).extend(named)
    assert code == (1 if failed else 0), output
    return units, failed, provenance


def _merge_by_dry_run(world: World, base: str, head: str) -> Merge:
    git(world.dev, "push", "--quiet", "origin", f"{head}:refs/heads/main")  # the merge (a fast-forward)
    code, output = run_cli(["process", "--forge", "local", "--dry-run", "--base", base], world.engine)
    units: dict[str, tuple[str, tuple[str, ...]]] = {}
    failed: list[str] = []
    provenance: list[str] = []
    for line in output.splitlines():
        commit = re.fullmatch(r"would commit (\S+) \((\w+|provenance only)\): (.*)", line)
        pull = re.fullmatch(r"would open or update the pull request for (\S+): (.*)", line)
        left = re.fullmatch(r"would leave (\S+) as it is: it fails to render", line)
        if commit and commit[2] == "provenance only":
            provenance.append(commit[1])
        elif commit:
            units[commit[1]] = ("commit", tuple(commit[3].split(", ")))
        elif pull:
            units[pull[1]] = ("pull request", tuple(pull[2].split(", ")))
        elif left:
            failed.append(left[1])
    assert code == (1 if failed else 0), output
    return units, failed, provenance


@pytest.mark.parametrize("case", list(MERGES), ids=[c.replace(" ", "-") for c in MERGES])
def test_affected_preview_and_dry_run_agree_on_what_a_merge_does(plain_world: World, case: str) -> None:
    edits, expected = MERGES[case]
    base, head = _propose(plain_world, edits)

    by_affected = _merge_by_affected(plain_world, base, head)
    by_preview = _merge_by_preview(plain_world, base, head)
    by_dry_run = _merge_by_dry_run(plain_world, base, head)

    assert by_affected == expected
    assert by_preview == expected
    assert by_dry_run == expected


def test_a_broken_workload_blocks_nothing_else(world: World) -> None:
    orders = world.show("main:workloads/shop/orders/score.yaml")
    held = unit_files(world, "main", "shop/orders")
    pushed = world.push_change(
        {
            **world.edit("workloads/shop/cart/score.yaml", "cart:2.0.0", "cart:2.1.0"),
            "workloads/shop/orders/score.yaml": orders.replace(
                "${resources.db.host}", "${resources.nope.host}"
            ),
        }
    )

    code, output = process(world)

    assert code == 1, output
    assert "workloads/shop/orders/score.yaml" in output and "nope" in output
    (commit,) = engine_commits(world, pushed)
    assert {unit_of(p) for p in world.changed(pushed, commit)} == {"shop/cart"}
    assert unit_files(world, "main", "shop/orders") == held  # never blanked because of an error
    assert reconciled.SOURCE_TRAILER not in world.rgit("log", "-1", "--format=%B", commit)  # not reconciled
    # Fixed later: the next run (whatever its --base) renders orders.
    fixed = world.push_change(
        {"workloads/shop/orders/score.yaml": orders.replace("orders:1.0.0", "orders:1.0.1")}
    )
    process_ok(world)
    (commit,) = engine_commits(world, fixed)
    assert {p: blob(c) for p, c in full_render(world).items()} == world.files("main")


def test_workers_plan_exactly_what_one_process_plans(
    plain_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many candidates are planned in forked worker processes (a definition change reaching thousands of
    workloads): the plan must be the one a single process makes, failures and shared resources included."""
    world = plain_world
    orders = world.show("main:workloads/shop/orders/score.yaml")
    world.push_change(
        {
            **world.edit(*PG_17),
            **world.edit(
                "definitions/redis/redis-incluster.yaml", "port: 6379\n  manifests", "port: 6380\n  manifests"
            ),
            **world.edit("workloads/billing/mailer/score.yaml", "mailer:", "mailer-next:"),
            "workloads/shop/orders/score.yaml": orders.replace(
                "${resources.db.host}", "${resources.nope.host}"
            ),
        },
        "Postgres 17, redis on 6380, a new mailer image and a broken orders",
    )
    git(world.engine, "fetch", "--quiet", "origin")
    plans: dict[str, tuple[object, ...]] = {}
    planners: dict[str, set[int]] = {}
    for workers in ("1", "3"):
        monkeypatch.setenv("GITOPS_ENGINE_WORKERS", workers)
        repo = Git(world.engine)
        main = repo.rev_parse("origin/main")
        snapshot = load_snapshot(GitSource(repo, main))
        # Each body records the process that planned its unit.
        plan = plan_changes(
            snapshot,
            RenderedState(repo, main, full=True),
            describe=lambda unit: f"{os.getpid()}\n{describe.pull_body(repo, unit)}",  # noqa: B023
        )
        planners[workers] = {int((u.body or "0").split("\n", 1)[0]) for u in plan.units.values() if u.body}
        plans[workers] = (
            list(plan.units),
            {
                name: (
                    u.cause,
                    u.reasons,
                    u.writes,
                    u.deletes,
                    u.old_files,
                    (u.body or "").split("\n", 1)[-1],
                    {env: r.provenance for env, r in u.rendered.items()},
                    u.old_locks,
                    u.users,
                    u.removes_production_data,
                )
                for name, u in plan.units.items()
            },
            plan.failures,
            plan.global_findings,
        )
        repo.close()

    assert plans["3"] == plans["1"]
    units, by_unit, failures, _ = plans["1"]
    # The scenario is what we think: a workload change, two pull requests (one through the shared cache), the
    # shared cache itself, and a failure.
    assert units == ["billing/mailer", "shop/cart", "shop/catalog", "_shared/cache"]
    assert by_unit["_shared/cache"][0] == "definitions"  # type: ignore[index]
    assert sorted(failures) == ["shop/orders"]  # type: ignore[call-overload]
    assert planners["1"] == {os.getpid()}
    assert planners["3"] - {os.getpid()}  # planned in worker processes (the first unit is planned here)


def test_a_bad_worker_count_is_refused_before_anything_is_written(
    plain_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = plain_world
    world.push_change(world.edit(*PG_17), "Upgrade in-cluster PostgreSQL to 17")
    refs, store = world.refs(), forge_store(world)
    monkeypatch.setenv("GITOPS_ENGINE_WORKERS", "two")

    code, output = process(world)

    assert code == 2, output
    assert "GITOPS_ENGINE_WORKERS='two': give a whole number of processes, 1 or more" in output
    assert world.refs() == refs and forge_store(world) == store


def test_a_worker_that_dies_fails_the_plan_instead_of_hanging(
    plain_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = plain_world
    world.push_change(world.edit(*PG_17), "Upgrade in-cluster PostgreSQL to 17")
    git(world.engine, "fetch", "--quiet", "origin")
    monkeypatch.setenv("GITOPS_ENGINE_WORKERS", "2")
    repo = Git(world.engine)
    main = repo.rev_parse("origin/main")

    def die(unit: object) -> str:
        os._exit(3)  # what the kernel's out-of-memory killer does to a worker, near enough

    with pytest.raises(GitopsError, match="a planning worker process died"):
        plan_changes(load_snapshot(GitSource(repo, main)), RenderedState(repo, main, full=True), describe=die)
    repo.close()


def test_bodies_written_by_workers_while_the_branches_are_pushed_are_the_ones_written_in_place(
    _prepared: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two workers the bodies are written in worker processes during the push (describe.Bodies); with one,
    in place after it. The pull requests are the same; a second run waits for the bodies before the push, to
    compare them with the open pull requests', and writes nothing."""
    seen: dict[str, tuple[object, ...]] = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("GITOPS_ENGINE_WORKERS", workers)
        world = _prepared.copy_to(tmp_path / f"workers-{workers}")
        world.push_change(world.edit(*PG_17), "Upgrade in-cluster PostgreSQL to 17")
        code, output = process(world)
        assert code == 0, output
        opened = [(p.branch, p.title, p.body, p.labels, p.reviewers) for p in pulls(world)]
        trees = {
            unit: world.rgit("rev-parse", f"{sha}^{{tree}}").strip() for unit, sha in world.branches().items()
        }
        store, refs = forge_store(world), world.refs()

        code, again = process(world)

        assert code == 0, again
        assert (forge_store(world), world.refs()) == (store, refs)
        assert "opened #" not in again and "updated #" not in again
        seen[workers] = (opened, trees)

    assert seen["2"] == seen["1"]
    opened, trees = seen["1"]
    assert sorted(trees) == SHOP_PG and [branch for branch, *_ in opened] == [  # type: ignore[misc]
        f"gitops-engine/{unit}" for unit in SHOP_PG
    ]


def test_removed_environment_is_removed_through_pull_requests(world: World) -> None:
    platform = PLATFORM_YAML.replace("[development, staging, production]", "[development, production]")
    pushed = world.push_change(
        {"platform.yaml": platform, "environments/staging.yaml": None}, "No more staging"
    )
    rendering = full_render(world)
    every_unit = {*WORKLOADS, "_shared/cache"}

    process_ok(world)

    assert world.main() == pushed
    assert open_units(world) == sorted(every_unit)
    for unit in every_unit:
        branch = f"refs/heads/gitops-engine/{unit}"
        assert unit_files(world, branch, unit) == {
            p: blob(c) for p, c in rendering.items() if unit_of(p) == unit
        }
        staging = sorted(p for p in unit_files(world, "main", unit) if p.startswith("rendered/staging/"))
        assert (
            staging
            and [p for p in world.changed("main", branch) if p.startswith("rendered/staging/")] == staging
        )
        assert not any(p.startswith("rendered/staging/") for p in unit_files(world, branch, unit))


def test_human_commit_on_a_pull_request_branch_is_never_overwritten(upgraded: tuple[World, str]) -> None:
    world, _ = upgraded
    branch = "gitops-engine/shop/orders"
    git(world.dev, "fetch", "--quiet", "origin", f"{branch}:{branch}")
    git(world.dev, "checkout", "--quiet", branch)
    (world.dev / "rendered/staging/shop/orders/NOTES.md").write_text("pinned while we test the migration\n")
    git(world.dev, "add", "--all")
    git(world.dev, "commit", "--quiet", "-m", "Hold the migration")
    git(world.dev, "push", "--quiet", "origin", branch)
    git(world.dev, "checkout", "--quiet", "main")
    human_head = world.branches()["shop/orders"]
    catalog_before = world.branches()["shop/catalog"]
    world.push_change(world.edit(PG_INCLUSTER, "postgres:17.0", "postgres:17.2"), "PostgreSQL 17.2")

    code, output = process(world)

    assert code == 0, output
    assert world.branches()["shop/orders"] == human_head
    comments = LocalForge(world.remote).comments(pull_of(world, "shop/orders").number)
    assert len(comments) == 1 and HUMAN_MARKER in comments[0] and "never force-pushes" in comments[0]
    assert "left alone shop/orders" in output
    # The other pull request moves on to the newest rendering.
    assert world.branches()["shop/catalog"] != catalog_before
    assert "postgres:17.2" in world.show(
        "refs/heads/gitops-engine/shop/catalog:rendered/staging/shop/catalog/statefulset-catalog-db.yaml"
    )
    # Running again neither pushes nor comments again.
    refs, store = world.refs(), forge_store(world)
    process_ok(world)
    assert world.refs() == refs and forge_store(world) == store


# -------------------------------------------------------------------------------------------------------------
# Concurrency and crashes


def test_main_moving_during_a_run_loses_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    pushed = world.push_change(world.edit("workloads/shop/cart/score.yaml", "cart:2.0.0", "cart:2.1.0"))
    real_plan = reconcile.plan_changes
    calls: list[str] = []

    def plan_then_someone_pushes(*args: Any, **kwargs: Any) -> Any:
        plan = real_plan(*args, **kwargs)
        if not calls:
            calls.append(
                world.push_change(
                    world.edit("workloads/shop/orders/score.yaml", "orders:1.0.0", "orders:1.1.0")
                )
            )
        else:
            calls.append("again")
        return plan

    monkeypatch.setattr(reconcile, "plan_changes", plan_then_someone_pushes)
    report, _ = process_api(world)

    concurrent = calls[0]
    assert report.attempts == 2 and len(calls) == 2
    history = world.log("main")
    assert concurrent in history and pushed in history  # nobody's commit lost
    (commit,) = engine_commits(world, concurrent)
    assert {unit_of(p) for p in world.changed(concurrent, commit)} == {"shop/cart", "shop/orders"}
    rendering = full_render(world)
    assert {p: blob(c) for p, c in rendering.items()} == world.files("main")


def test_pull_requests_beyond_the_per_run_cap_wait_for_the_next_run(world: World) -> None:
    capped = world.push_change({"platform.yaml": PLATFORM_YAML + "  maxPerRun: 2\n"}, "Cap pull requests")
    process_ok(world)  # nothing to render again: no lock names platform.yaml
    assert world.main() == capped and pulls(world) == [] and world.refs()[RECONCILED] == capped
    world.push_change(
        {
            **world.edit(*PG_17),
            **world.edit("definitions/postgres/pg-tuned.yaml", '"300"', '"400"'),
            **world.edit(
                "definitions/volume/volume-emptydir.yaml", "sizeLimit:", "medium: Memory\n        sizeLimit:"
            ),
        },
        "Three definitions at once",
    )
    rendering = full_render(world)
    affected = units_differing(world, rendering)
    assert affected == {"billing/invoices", "billing/mailer", "shop/catalog", "shop/orders"}

    first, _ = process_api(world)
    assert len(first.opened) == 2 and len(set(first.deferred)) == 2
    assert len(world.branches()) == 2
    assert world.refs()[RECONCILED] == capped  # cut short: the next run goes over the same range
    second, _ = process_api(world)
    assert len(second.opened) == 2 and second.deferred == [] and len(second.unchanged) == 2
    assert world.refs()[RECONCILED] == world.main() and second.reconciled == world.main()
    assert open_units(world) == sorted(affected)
    assert sorted(p.branch for p in first.opened + second.opened) == [
        f"gitops-engine/{u}" for u in sorted(affected)
    ]
    for unit in affected:
        assert_branch_holds_new_rendering(world, unit, rendering)
    third, forge = process_api(world)
    assert third.opened == [] and forge.stats.writes == 0


# -------------------------------------------------------------------------------------------------------------
# Narrowed runs (--base)


def test_base_narrows_the_run_without_losing_dropped_pushes(plain_world: World) -> None:
    world = plain_world
    first = world.push_change(world.edit("workloads/shop/cart/score.yaml", "cart:2.0.0", "cart:2.1.0"))
    process_ok(world, "--base", f"{first}^")
    (engine_commit,) = engine_commits(world, first)

    # A run over the engine's own commit only: a fast no-op.
    refs = world.refs()
    report, forge = process_api(world, base=first)
    assert report.plan is not None and report.plan.mode == "range" and report.plan.candidates == 0
    assert report.committed is None and forge.stats.writes == 0 and world.refs() == refs

    # Two pushes, the first one's CI run dropped: the run for the second still renders both.
    dropped = world.push_change(
        world.edit("workloads/shop/catalog/score.yaml", "catalog:3.1.0", "catalog:3.2.0")
    )
    last = world.push_change(
        world.edit("workloads/billing/mailer/score.yaml", "mailer:5.0.0", "mailer:5.0.1")
    )
    assert world.rgit("rev-parse", f"{last}^").strip() == dropped
    code, output = process(world, "--base", dropped)
    assert code == 0, output
    (commit,) = engine_commits(world, last)
    assert {unit_of(p) for p in world.changed(last, commit)} == {"shop/catalog", "billing/mailer"}
    assert "range reconcile of 2 candidate unit(s)" in output
    assert engine_commit in world.log("main")
    assert {p: blob(c) for p, c in full_render(world).items()} == world.files("main")


def test_without_base_the_run_starts_where_the_last_complete_run_ended(plain_world: World) -> None:
    """The hourly reconcile (no --base) reads only what changed since the engine's last complete commit; --full
    checks every unit; a complete commit by an engine that rendered differently (an upgrade) means a full run."""
    world = plain_world
    pushed = world.push_change(world.edit("workloads/shop/cart/score.yaml", "cart:2.0.0", "cart:2.1.0"))
    report, _ = process_api(world, base=None)
    assert report.plan is not None and report.plan.mode == "range" and report.plan.candidates == 1
    assert report.committed_units == ["shop/cart"]
    message = world.rgit("log", "-1", "--format=%B", "main").rstrip("\n") + "\n"
    assert message.endswith(f"Gitops-Engine-Source: {pushed}\nGitops-Engine-Render: {RENDER_VERSION}\n"), (
        message
    )

    refs = world.refs()
    nothing, forge = process_api(world, base=None)  # over the engine's own commit
    assert nothing.plan is not None and nothing.plan.mode == "range" and nothing.plan.candidates == 0
    assert nothing.committed is None and forge.stats.writes == 0 and world.refs() == refs

    code, output = process(world, "--full")
    assert code == 0, output
    assert "plan: full reconcile of 6 candidate unit(s)" in output and world.refs() == refs

    # An older engine's complete commit (another render version): everything is checked once.
    main = world.main()
    tree = world.rgit("rev-parse", f"{main}^{{tree}}").strip()
    engine = {
        f"GIT_{who}_{what}": value
        for who in ("AUTHOR", "COMMITTER")
        for what, value in (("NAME", "gitops-engine"), ("EMAIL", ENGINE_EMAIL))
    }
    message = f"Render 0 units\n\nGitops-Engine-Source: {main}\nGitops-Engine-Render: 0\n"
    older = subprocess.run(
        ["git", "commit-tree", tree, "-p", main, "-m", message],
        cwd=world.remote,
        env={**os.environ, **engine},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    world.rgit("update-ref", "refs/heads/main", older)
    again, _ = process_api(world, base=None)
    assert again.plan is not None and again.plan.mode == "full"


def test_rendered_files_edited_by_a_person_are_checked_again(plain_world: World) -> None:
    """A person deletes a unit's folder in one environment: the next run (whatever its range) restores it."""
    world = plain_world
    held = world.files("main", "rendered/staging/shop/cart/")
    assert held
    world.push_change({path: None for path in held}, "Remove cart from staging by hand")

    report, _ = process_api(world, base=None)

    assert report.plan is not None and report.plan.mode == "range" and report.plan.candidates == 1
    # Restoring manifests needs review like any change that does not come from the workload's own sources.
    assert report.committed is None
    assert [p.branch for p in report.opened] == ["gitops-engine/shop/cart"]
    assert world.files("refs/heads/gitops-engine/shop/cart", "rendered/staging/shop/cart/") == held


# -------------------------------------------------------------------------------------------------------------
# Removals


def test_deleted_workload_is_removed_in_a_commit_on_main(world: World) -> None:
    before = unit_files(world, "main", "billing/mailer")
    assert len(before) == 6  # manifest.yaml and lock in each environment
    pushed = world.push_change({"workloads/billing/mailer/score.yaml": None}, "Retire the mailer")

    process_ok(world)

    (commit,) = engine_commits(world, pushed)
    assert world.changed(pushed, commit) == sorted(before)
    assert unit_files(world, commit, "billing/mailer") == {}
    assert pulls(world) == []


def test_shared_resource_no_longer_used_is_removed_through_a_pull_request(world: World) -> None:
    shared = unit_files(world, "main", "_shared/cache")
    assert len(shared) == 6
    orders = world.show("main:workloads/shop/orders/score.yaml")
    cart = world.show("main:workloads/shop/cart/score.yaml")
    pushed = world.push_change(
        {
            "workloads/shop/orders/score.yaml": orders.replace(
                "      CACHE: ${resources.cache.host}\n", ""
            ).replace("  cache:\n    type: redis\n    id: cache\n", ""),
            "workloads/shop/cart/score.yaml": cart.replace(
                "      CACHE: ${resources.cache.host}\n", ""
            ).replace("  cache:\n    type: redis\n    id: cache\n", ""),
        },
        "Drop the cache",
    )

    process_ok(world)

    (commit,) = engine_commits(world, pushed)
    assert {unit_of(p) for p in world.changed(pushed, commit)} == {"shop/cart", "shop/orders"}
    assert unit_files(world, "main", "_shared/cache") == shared  # not removed directly
    assert open_units(world) == ["_shared/cache"]
    pull = pull_of(world, "_shared/cache")
    assert pull.title == "Remove rendered manifests of _shared/cache"
    assert world.changed("main", pull.branch) == sorted(shared)
    assert unit_files(world, f"refs/heads/{pull.branch}", "_shared/cache") == {}
    # The pull request stays open until someone merges it.
    refs, store = world.refs(), forge_store(world)
    process_ok(world)
    assert world.refs() == refs and forge_store(world) == store and open_units(world) == ["_shared/cache"]


# -------------------------------------------------------------------------------------------------------------
# Reports: pulls, affected, usage


def test_pulls_json(upgraded: tuple[World, str]) -> None:
    world, _ = upgraded
    code, output = run_cli(["pulls", "--forge", "local", "--state", "all", "--format", "json"], world.dev)
    assert code == 0, output
    listed = json.loads(output)
    store = world.remote / "gitops-engine" / "pulls"
    assert [{k: p[k] for k in ("number", "state", "branch", "workload", "url")} for p in listed] == [
        {
            "number": 1,
            "state": "open",
            "branch": "gitops-engine/shop/catalog",
            "workload": "shop/catalog",
            "url": f"file://{store / '1.json'}",
        },
        {
            "number": 2,
            "state": "open",
            "branch": "gitops-engine/shop/orders",
            "workload": "shop/orders",
            "url": f"file://{store / '2.json'}",
        },
    ]
    assert [p["title"] for p in listed] == [pull_of(world, u).title for u in SHOP_PG]
    assert all(
        p["labels"] == ["gitops-engine", "rendered"] and p["reviewers"] == ["shop-team"] for p in listed
    )


def test_affected_json(plain_world: World) -> None:
    world = plain_world
    base = world.main()
    old = version_at(world, "main", PG_INCLUSTER)
    world.push_change(world.edit(*PG_17), "PostgreSQL 17")
    new = version_at(world, "main", PG_INCLUSTER)
    head = world.push_change(world.edit("workloads/shop/cart/score.yaml", "cart:2.0.0", "cart:2.1.0"))

    code, output = run_cli(["affected", "--base", base, "--head", head, "--format", "json"], world.dev)

    assert code == 0, output
    assert json.loads(output) == {
        "base": base,
        "head": head,
        "workloads": [
            {
                "workload": "shop/cart",
                "environments": ["development", "staging", "production"],
                "reasons": ["workloads/shop/cart/score.yaml changed"],
                "merge": "commit",
            },
            *(
                {
                    "workload": unit,
                    "environments": ["development", "staging"],
                    "reasons": [f"definition pg-incluster: {old} → {new}"],
                    "merge": "pull request",
                }
                for unit in SHOP_PG
            ),
        ],
        "provenance_only": [],
        "failed": [],
        "findings": [],
    }
    # --head defaults to HEAD (the developer's clone is at the second push).
    code, again = run_cli(["affected", "--base", base, "--format", "json"], world.dev)
    assert code == 0 and json.loads(again) == json.loads(output)


def test_render_check_on_main_reports_what_waits_in_engine_pull_requests_as_pending(
    upgraded: tuple[World, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, _ = upgraded
    git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
    numbers = {u: pull_of(world, u).number for u in SHOP_PG}

    code, output = run_cli(["render", "--check"], world.dev)

    assert (code, output) == (
        0,
        f"pending in #{numbers['shop/catalog']}: shop/catalog (4 file(s) differ from main)\n"
        f"pending in #{numbers['shop/orders']}: shop/orders (4 file(s) differ from main)\n"
        "rendered/ is up to date but for 2 unit(s) waiting in engine pull requests\n",
    )

    # No forge to ask (GitHub without a token): the engine branches on origin stand in, and the output says so.
    for name in ("GITHUB_REPOSITORY", "GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code, output = run_cli(["render", "--check", "--forge", "github"], world.dev)
    lines = output.splitlines()
    assert code == 0, output
    assert lines[0].startswith("note: no forge reachable (the github forge needs GITHUB_REPOSITORY")
    assert lines[0].endswith("): judged from the engine branches on origin")
    assert lines[1:] == [
        "pending in branch gitops-engine/shop/catalog: shop/catalog (4 file(s) differ from main)",
        "pending in branch gitops-engine/shop/orders: shop/orders (4 file(s) differ from main)",
        "rendered/ is up to date but for 2 unit(s) waiting in engine pull requests",
    ]

    # Unexplained staleness still fails: a hand edit, and a rendering no pull request holds (a newer definition
    # change the processor has not handled yet).
    world.push_change(world.edit(PG_INCLUSTER, "postgres:17.0", "postgres:17.1"), "PostgreSQL 17.1")
    cart = world.dev / "rendered/staging/shop/cart/manifest.yaml"
    cart.write_text(cart.read_text().replace("cart:2.0.0", "cart:9.9.9"))

    code, output = run_cli(["render", "--check"], world.dev)

    assert code == 1
    assert output.splitlines() == [
        *sorted(
            [
                "stale: rendered/staging/shop/cart/manifest.yaml",
                *(
                    f"stale: rendered/{env}/{unit}/{name}"
                    for unit in SHOP_PG
                    for env in ("development", "staging")
                    for name in (LOCK_FILE, "manifest.yaml")
                ),
            ]
        ),
        "9 rendered file(s) out of date: run `gitops-engine render`",
    ]


def test_usage_json_names_behind_units_and_their_pull_requests(upgraded: tuple[World, str]) -> None:
    world, pushed = upgraded
    seeded = world.rgit("log", "--format=%H", f"{pushed}^", "--", PG_INCLUSTER).split()[-1]
    old = lock(world, "main", "development", "shop/orders")["resources"]
    old_version = next(r["version"] for r in old if r["definition"] == "pg-incluster")
    numbers = {u: pull_of(world, u).number for u in SHOP_PG}

    code, output = run_cli(["usage", "pg-incluster", "--format", "json", "--forge", "local"], world.dev)

    assert code == 0, output
    report = json.loads(output)
    assert report["commit"] == world.main()
    (definition,) = report["definitions"]
    assert definition["id"] == "pg-incluster"
    assert definition["version"] == version_at(world, "main", PG_INCLUSTER) != old_version
    assert definition["human_version"] == f"Upgrade in-cluster PostgreSQL to 17 ({pushed[:7]})"
    assert definition["behind"] == 4
    assert definition["uses"] == [
        {
            "workload": unit,
            "environment": env,
            "resource": "db",
            "version": old_version,
            "human_version": f"Platform sources ({seeded[:7]})",
            "current": False,
            "pull_request": numbers[unit],
        }
        for env in ("development", "staging")
        for unit in SHOP_PG
    ]


# -------------------------------------------------------------------------------------------------------------
# The demo


def test_demo_tells_the_whole_story(tmp_path: Path) -> None:
    started = time.monotonic()
    code, output = run_cli(["demo", str(tmp_path / "demo")], tmp_path)
    elapsed = time.monotonic() - started

    assert code == 0, output
    assert elapsed < 30
    assert "1. Create the platform repo from the bundled template" in output
    assert re.search(
        r"2\. A developer changes a workload and merges it\n.*\n   processor: committed [0-9a-f]{12} \(",
        output,
    )
    assert re.search(r"touches only [\w/-]+'s rendered files: \d+ file\(s\)", output)
    assert "3. The infra team switches on three waves and one pull request per team" in output
    assert re.search(
        r"4\. The infra team upgrades PostgreSQL.*\n.*\n   processor: committed [0-9a-f]{12} \(.*\); "
        r"opened [1-9]\d* pull request\(s\)",
        output,
    )
    # Waves: development committed at once, staging in one auto-merge pull request per team.
    assert re.search(r"\n         branch gitops-engine/[a-z-]+/_team\.automerge, reviewers [a-z-]+\n", output)
    assert "development was committed to main at once (direct)" in output
    assert re.search(
        r"\n   the rollout dashboard, issue #1:\n     \| # gitops-engine rollout dashboard\n", output
    )
    assert "| staging | 0 | 2 | 0 | 0 | 0 |" in output
    # Production waits for staging: wave 2 opens only once the auto-merge pull requests are merged.
    assert "wave 2: 2 production part(s) wait until staging is live" in output
    assert "| production | 0 | 0 | 2 | 0 | 0 |" in output
    assert re.search(r"5\. The next run merges the auto-merge pull requests.*\n.*\n     merged #1 \(", output)
    assert re.search(
        r"\n     #3 Update identity \(1 workload\): postgres-managed .* \[production\]\n", output
    )
    assert "\n         branch gitops-engine/identity/_team-w2, reviewers identity\n" in output
    assert "| production | 0 | 2 | 0 | 0 | 0 |" in output
    assert "| production | 1 | 1 | 0 | 0 | 0 |" in output  # after a team merged its production pull request
    assert "(no commit, no push, no pull-request write)" in output
    assert re.search(r"done in \d+\.\d s", output)
    assert (tmp_path / "demo" / "remote.git" / "gitops-engine" / "pulls" / "1.json").is_file()


def test_misplaced_files_are_reported_by_the_runs_that_cover_them(world: World) -> None:
    """The processor lists workloads/ folder by folder: what discovery finds wrong is reported for the paths in the
    run's range (and by every run whose range still holds them), and the rest of the change is still processed."""
    pushed = world.push_change(
        {
            **world.edit("workloads/shop/cart/score.yaml", "cart:2.0.0", "cart:2.1.0"),
            "workloads/shop/stray.yaml": "a: 1\n",
            "workloads/shop/drafts/notes.json": "{}\n",
        },
        "cart 2.1.0, and two files in the wrong place",
    )

    code, output = process(world)

    assert code == 1, output
    assert "workloads/shop/stray.yaml: Score files live at workloads/<team>/<workload>/score.yaml" in output
    assert (
        "workloads/shop/drafts/score.yaml: workloads/shop/drafts/ has files but no score.yaml: add one or "
        "remove the folder" in output
    )
    (commit,) = engine_commits(world, pushed)
    assert world.changed(pushed, commit) == sorted(
        f"rendered/{env}/shop/cart/{name}" for env in ENVIRONMENTS for name in ("manifest.yaml", LOCK_FILE)
    )
    # Fixed: the next run over the fix is clean, and commits nothing.
    tidy = world.push_change(
        {"workloads/shop/stray.yaml": None, "workloads/shop/drafts/notes.json": None}, "tidy up"
    )
    output = process_ok(world)
    assert "stray.yaml" not in output and "drafts" not in output
    assert world.main() == tidy


def test_a_workload_named_like_another_in_its_namespace_is_refused(world: World) -> None:
    """With a namespace rule without {team}, two teams' workloads of one name would render into one namespace. The
    one already rendered there keeps it; a newcomer fails, with nothing written for it, until one is renamed;
    between two newcomers the first in path order wins, as a full render decides."""
    world.push_change(
        {"environments/development.yaml": environment("development", "development", "{env}")},
        "one namespace for development",
    )
    process_ok(world)  # distinct names so far: every workload moves to namespace 'development'
    pushed = world.push_change(
        {
            "workloads/billing/cart/score.yaml": score("cart", "registry.example.com/billing-cart:1.0.0"),
            "workloads/shop/pay/score.yaml": score("pay", "registry.example.com/pay:1.0.0"),
            "workloads/billing/pay/score.yaml": score("pay", "registry.example.com/pay:1.0.0"),
        },
        "billing/cart, and pay in two teams",
    )

    code, output = process(world)

    assert code == 1, output
    clash = "renders into namespace 'development' of development, as does"
    fix = "names must be unique in a namespace; rename one or change the namespace rule in environments/development.yaml"
    assert (
        f"workloads/billing/cart/score.yaml:1:1: workload 'cart' {clash} workloads/shop/cart/score.yaml: {fix}"
        in output
    )
    assert (
        f"workloads/shop/pay/score.yaml:1:1: workload 'pay' {clash} workloads/billing/pay/score.yaml: {fix}"
        in output
    )
    (commit,) = engine_commits(world, pushed)
    assert sorted({"/".join(p.split("/")[1:4]) for p in world.changed(pushed, commit)}) == [
        f"{env}/billing/pay" for env in sorted(ENVIRONMENTS)
    ]
    # Nothing of billing/cart or shop/pay; shop/cart and billing/pay keep namespace 'development'.
    assert "namespace: development\n" in world.show(
        f"{commit}:rendered/development/billing/pay/deployment-pay.yaml"
    )

    # Renamed: the run over the fix renders it.
    renamed = world.push_change(
        {
            "workloads/billing/cart/score.yaml": None,
            "workloads/billing/basket/score.yaml": score("basket", "registry.example.com/billing-cart:1.0.0"),
            "workloads/shop/pay/score.yaml": None,
        },
        "rename billing/cart; drop shop/pay",
    )
    process_ok(world)
    (fixed,) = engine_commits(world, renamed)
    assert sorted({"/".join(p.split("/")[1:4]) for p in world.changed(renamed, fixed)}) == [
        f"{env}/billing/basket" for env in sorted(ENVIRONMENTS)
    ]


def test_a_workload_rendering_an_object_another_holds_is_refused(world: World) -> None:
    """shop/orders' in-cluster database is the Service orders-db in development and staging. A new workload
    shop/orders-db would render its own Service orders-db into the same namespace: Argo CD would fight over it. The
    unit holding the object keeps it; between two newcomers the first in path order does; the refused unit writes
    nothing, the rest of the push is committed."""
    pushed = world.push_change(
        {
            "workloads/shop/orders-db/score.yaml": score("orders-db", "registry.example.com/x:1", port=5432),
            "workloads/shop/pay/score.yaml": score(
                "pay", "registry.example.com/pay:1", resources={"db": Resource("postgres")}
            ),
            "workloads/shop/pay-db/score.yaml": score("pay-db", "registry.example.com/y:1", port=80),
            **world.edit("workloads/shop/cart/score.yaml", "cart:2.0.0", "cart:2.1.0"),
        },
        "three new workloads, two of them clashing",
    )

    code, output = process(world)

    assert code == 1, output
    for env in ("development", "staging"):
        for unit, keeper in (("orders-db", "orders"), ("pay-db", "pay")):
            assert (
                f"workloads/shop/{unit}/score.yaml:1:1: rendered/{env}/shop/{unit} renders Service {keeper}-db in "
                f"namespace shop-{env}, as rendered/{env}/shop/{keeper} does: rename the resource or workload so "
                "their object names differ" in output
            ) == (env == "development")  # one finding a unit: the first environment found
    (commit,) = engine_commits(world, pushed)
    assert sorted({unit_of(p) for p in world.changed(pushed, commit)}) == ["shop/cart", "shop/pay"]
    assert pulls(world) == []


def test_units_moved_into_one_namespace_are_checked_for_clashes(world: World) -> None:
    """billing/orders-db's Service and shop/orders' database Service are both `orders-db`, each in its team's
    namespace. A namespace rule without {team} moves both into `development`: neither gains an object, but both
    move, so the check runs and the second in path order is refused there, writing nothing."""
    world.push_change(
        {"workloads/billing/orders-db/score.yaml": score("orders-db", "registry.example.com/x:1", port=5432)},
        "billing/orders-db",
    )
    process_ok(world)
    pushed = world.push_change(
        {"environments/development.yaml": environment("development", "development", "{env}")},
        "one namespace for development",
    )

    code, output = process(world)

    assert code == 1, output
    assert (
        "workloads/shop/orders/score.yaml:1:1: rendered/development/shop/orders renders Service orders-db in "
        "namespace development, as rendered/development/billing/orders-db does: rename the resource or workload "
        "so their object names differ" in output
    )
    assert engine_commits(world, pushed) == []
    moved = {pull.branch.removeprefix("gitops-engine/") for pull in pulls(world)}
    assert "billing/orders-db" in moved and "shop/orders" not in moved


def test_the_unit_holding_an_object_keeps_it_from_a_newcomer_first_in_path_order(plain_world: World) -> None:
    world = plain_world
    world.push_change(
        {"workloads/shop/pay-db/score.yaml": score("pay-db", "registry.example.com/y:1", port=80)}, "pay-db"
    )
    process_ok(world, "--base", world.before or "")
    pushed = world.push_change(
        {
            "workloads/shop/pay/score.yaml": score(
                "pay", "registry.example.com/pay:1", resources={"db": Resource("postgres")}
            )
        },
        "pay, whose database Service is pay-db",
    )

    code, output = process(world, "--base", world.before or "")

    assert code == 1, output
    assert (
        "workloads/shop/pay/score.yaml:1:1: rendered/development/shop/pay renders Service pay-db in namespace "
        "shop-development, as rendered/development/shop/pay-db does" in output
    )
    assert world.main() == pushed  # nothing of shop/pay; shop/pay-db untouched


def test_a_definition_change_plans_only_the_workloads_using_the_type(plain_world: World) -> None:
    """The resource-type index: of the five workloads, the two using postgres are candidates, not every one."""
    world = plain_world
    world.push_change(world.edit(*PG_17), "Upgrade in-cluster PostgreSQL to 17")

    output = process_ok(world, "--base", world.before or "")

    assert "plan: range reconcile of 3 candidate unit(s)" in output, output
    assert open_units(world) == SHOP_PG


def test_a_team_called_shared_cannot_take_a_shared_resources_object(plain_world: World) -> None:
    """Shared resources render into the namespace of a team called `shared` (shared-<env>): the shared cache's
    Service cache is there. A workload shared/cache with a port would render a Service cache beside it."""
    world = plain_world
    pushed = world.push_change(
        {"workloads/shared/cache/score.yaml": score("cache", "registry.example.com/cache-ui:1", port=80)},
        "a team called shared",
    )

    code, output = process(world, "--base", world.before or "")

    assert code == 1, output
    assert (
        "workloads/shared/cache/score.yaml:1:1: rendered/development/shared/cache renders Service cache in "
        "namespace shared-development, as rendered/development/_shared/cache does" in output
    )
    assert world.main() == pushed

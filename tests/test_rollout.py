"""Rollouts (issue 13): environments' modes and waves, grouped pull requests, the rollout marker. Real git (a bare
remote and clones), the scenario platform of tests/testing/scenario.py, the local forge; auto-merge against the
GitHub stand-in as well."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.repos import git
from testing.world import World, clone_dev, world_from

from gitops_engine.forge.local import LocalForge
from gitops_engine.git import default_identity
from gitops_engine.loading import load_snapshot
from gitops_engine.model import LOCK_FILE
from gitops_engine.publishing.report import RunReport
from gitops_engine.reconcile import process as process_repo
from gitops_engine.rollout import BranchName, parse_branch, read_marker, unit_of_branch, waves
from gitops_engine.source import WorkTreeSource
from gitops_engine.tree import build_tree

WORKLOAD_DEFS = (
    "definitions/workload/workload-default.yaml",
    "definitions/workload/workload-production.yaml",
)
HARDEN = (
    "podSecurityContext: {runAsNonRoot: true}",
    "podSecurityContext: {runAsNonRoot: true, fsGroup: 2000}",
)
ALL = ["billing/invoices", "billing/mailer", "shop/cart", "shop/catalog", "shop/orders"]


def run(world: World) -> tuple[RunReport, LocalForge]:
    forge = LocalForge(world.remote)
    return process_repo(world.engine, forge, default_identity()), forge


def rollout(world: World, settings: dict[str, str], platform_extra: str = "") -> None:
    """Give each environment a `rollout:` block (env -> YAML of the block's lines) and run the engine over it."""
    files: dict[str, str | None] = {}
    for env, block in settings.items():
        path = f"environments/{env}.yaml"
        files[path] = world.show(f"main:{path}") + "rollout:\n" + block
    if platform_extra:
        files["platform.yaml"] = world.show("main:platform.yaml") + platform_extra
    pushed = world.push_change(files, "Rollout settings")  # type: ignore[arg-type]
    report, forge = run(world)
    assert not report.findings and report.opened == [] and report.waiting == [], report
    assert forge.stats.writes == 0
    assert report.committed is None and world.main() == pushed  # rollout settings render nothing again


def harden(world: World) -> str:
    files: dict[str, str | None] = {}
    for path in WORKLOAD_DEFS:
        files.update(world.edit(path, *HARDEN))
    return world.push_change(files, "Workloads: fsGroup 2000 everywhere")  # type: ignore[arg-type]


def full_render(world: World) -> dict[str, bytes]:
    git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
    build = build_tree(load_snapshot(WorkTreeSource(world.dev)))
    assert build.ok, build.findings
    return build.files()


def main_files(world: World) -> dict[str, bytes]:
    return {path: world.rgit("cat-file", "-p", sha).encode() for path, sha in world.files("main").items()}


def differing(world: World, rendering: dict[str, bytes]) -> set[tuple[str, str]]:
    """(environment, unit) whose files differ between main and a full render."""
    held = main_files(world)
    return {
        (p.split("/")[1], "/".join(p.split("/")[2:4]))
        for p in set(held) | set(rendering)
        if held.get(p) != rendering.get(p)
    }


def open_pulls(world: World) -> list[tuple[str, bool]]:
    return sorted((p.branch, p.automerge) for p in LocalForge(world.remote).list_pull_requests("open"))


def assert_no_op(world: World) -> None:
    main, refs = world.main(), world.refs()
    report, forge = run(world)
    assert forge.stats.writes == 0 and report.opened == report.updated == report.closed == []
    assert report.committed is None and report.deleted_branches == []
    assert world.main() == main and world.refs() == refs


# -------------------------------------------------------------------------------------------------------------
# Three waves: development direct, staging automerge, production pull-request after staging


THREE_WAVES = {
    "development": "  mode: direct\n",
    "staging": "  mode: automerge\n",
    "production": "  mode: pull-request\n  after: [staging]\n",
}


def test_a_definition_change_rolls_out_in_three_waves(world: World) -> None:
    rollout(world, THREE_WAVES)
    before = world.main()
    pushed = harden(world)
    rendering = full_render(world)
    assert differing(world, rendering) == {
        (e, u) for e in ("development", "staging", "production") for u in ALL
    }

    # Run 1: development is committed at once; staging gets auto-merge pull requests; production waits.
    report, _ = run(world)
    assert report.committed is not None and world.main() == report.committed
    assert sorted(report.committed_units) == ALL
    changed = world.changed(pushed, "main")
    assert changed and all(p.startswith("rendered/development/") for p in changed)
    assert sorted((u, e, w) for u, e, w in report.waiting) == [(u, "production", ("staging",)) for u in ALL]
    assert open_pulls(world) == [(f"gitops-engine/{u}.automerge", True) for u in ALL]
    for pull in report.opened:
        unit = unit_of_branch(pull.branch)
        assert pull.title.endswith(" [staging]")
        marker = read_marker(pull.body, pull.branch)
        assert marker is not None
        assert (marker.units, marker.environments, marker.wave, marker.automerge, marker.group) == (
            (unit,),
            ("staging",),
            1,
            True,
            "workload",
        )
        assert marker.versions == {WORKLOAD_DEFS[0]: f"Workloads: fsGroup 2000 everywhere ({pushed[:7]})"}
        assert sorted({p.split("/")[1] for p in world.changed("main", pull.branch)}) == ["staging"]
    assert not any(p.startswith("rendered/production/") for p in world.changed(before, "main"))
    assert differing(world, rendering) == {(e, u) for e in ("staging", "production") for u in ALL}
    code, out = run_cli(["pulls", "--forge", "local", "--format", "json"], world.dev)
    assert code == 0
    entries = json.loads(out)
    assert [(e["units"], e["environments"], e["wave"], e["automerge"], e["group"]) for e in entries] == [
        ([u], ["staging"], 1, True, "workload") for u in ALL
    ]
    assert [e["workload"] for e in entries] == ALL

    # Run 2: the local forge merges the auto-merge pull requests first (their checks passed); staging is then
    # live, so production's pull requests open (squash is the default merge method).
    report, _ = run(world)
    assert sorted(p.branch for p in report.merged) == [f"gitops-engine/{u}.automerge" for u in ALL]
    assert report.waiting == [] and report.committed is None
    assert open_pulls(world) == [(f"gitops-engine/{u}", False) for u in ALL]
    assert differing(world, rendering) == {("production", u) for u in ALL}
    for pull in report.opened:
        assert pull.title.endswith(" [production]")
        marker = read_marker(pull.body, pull.branch)
        assert marker is not None and marker.wave == 2 and marker.environments == ("production",)
        assert marker.versions == {WORKLOAD_DEFS[1]: f"Workloads: fsGroup 2000 everywhere ({pushed[:7]})"}
        assert sorted({p.split("/")[1] for p in world.changed("main", pull.branch)}) == ["production"]
        assert pull.reviewers == (
            ("billing-team",) if pull.branch.startswith("gitops-engine/billing/") else ("shop-team",)
        )
    assert_no_op(world)

    # People merge production's pull requests; the next run tidies up; main then equals a full render.
    for pull in LocalForge(world.remote).list_pull_requests("open"):
        LocalForge(world.remote).enable_automerge(pull.number, "merge")
    report, _ = run(world)
    assert len(report.merged) == len(ALL) and report.opened == [] and report.waiting == []
    assert differing(world, rendering) == set()
    assert open_pulls(world) == []
    assert world.branches() == {}
    assert_no_op(world)


def test_a_wave_released_by_an_edit_of_rollout_settings_gets_its_change_at_the_next_run(world: World) -> None:
    """An edit of rollout settings renders nothing again, but the units still to be rolled out are planned under
    the new settings: production stops waiting for staging once `after` is gone."""
    rollout(world, {"production": "  mode: pull-request\n  after: [staging]\n"})
    harden(world)
    report, _ = run(world)
    assert sorted(report.waiting) == [(u, "production", ("staging",)) for u in ALL]
    assert all(
        "rendered/production/" not in " ".join(world.changed("main", branch))
        for branch, _ in open_pulls(world)
    )
    production = world.show("main:environments/production.yaml").replace("  after: [staging]\n", "")
    released = world.push_change({"environments/production.yaml": production}, "Production need not wait")
    report, _ = run(world)
    assert report.waiting == [] and world.main() == released  # nothing rendered again on main
    assert (
        sorted(
            unit
            for branch, _ in open_pulls(world)
            for unit in [unit_of_branch(branch)]
            if any(p.startswith(f"rendered/production/{unit}/") for p in world.changed("main", branch))
        )
        == ALL
    )


def test_a_teams_later_wave_keeps_its_branch_and_pull_request_while_earlier_waves_come_and_go(
    world: World,
) -> None:
    """groupBy team: a group of wave 2 is `_team-w2` from the start, so a later change opening the team's wave-1
    group (`_team`) neither renames it nor closes and reopens its pull request (its reviews stay)."""
    rollout(
        world,
        {"staging": "  mode: pull-request\n", "production": "  after: [staging]\n"},
        platform_extra="  groupBy: team\n",
    )
    harden(world)
    run(world)
    assert open_pulls(world) == [("gitops-engine/billing/_team", False), ("gitops-engine/shop/_team", False)]
    for pull in LocalForge(world.remote).list_pull_requests("open"):
        LocalForge(world.remote).enable_automerge(pull.number, "merge")
    report, _ = run(world)
    assert len(report.merged) == 2 and report.waiting == []
    later = {p.branch: p.number for p in LocalForge(world.remote).list_pull_requests("open")}
    assert sorted(later) == ["gitops-engine/billing/_team-w2", "gitops-engine/shop/_team-w2"]

    # Postgres 17 for development and staging: shop/catalog and shop/orders (pg-incluster) start over in wave 1, in
    # a new `_team` group; shop/cart stays in the wave-2 group, which keeps its branch and its pull request.
    world.push_change(  # type: ignore[arg-type]
        world.edit("definitions/postgres/pg-incluster.yaml", "postgres:16.4", "postgres:17.0"), "Postgres 17"
    )
    report, _ = run(world)
    assert report.closed == [] and [p.branch for p in report.opened] == ["gitops-engine/shop/_team"]
    assert [p.branch for p in report.updated] == ["gitops-engine/shop/_team-w2"]
    now = {p.branch: p.number for p in LocalForge(world.remote).list_pull_requests("open")}
    assert {b: n for b, n in now.items() if b.endswith("-w2")} == later
    assert sorted(now) == sorted([*later, "gitops-engine/shop/_team"])
    assert_no_op(world)


def test_production_waits_for_staging_whatever_the_range_of_later_runs(world: World) -> None:
    """An unrelated push between the waves does not lose the waiting part: the run after the staging merge still
    opens production's pull requests (waiting runs never record themselves as complete)."""
    rollout(world, {"staging": "  mode: pull-request\n", "production": "  after: [staging]\n"})
    harden(world)
    report, _ = run(world)
    assert sorted(p.branch for p in report.opened) == [f"gitops-engine/{u}" for u in ALL]
    assert {e for _, e, _ in report.waiting} == {"production"}
    for pull in report.opened:  # development and staging together: both wave 1
        marker = read_marker(pull.body, pull.branch)
        assert marker is not None and marker.environments == ("development", "staging") and marker.wave == 1
    assert_no_op(world)
    world.push_change({"README.md": "unrelated\n"}, "Docs")
    report, forge = run(world)
    assert report.opened == [] and forge.stats.writes == 0 and len(report.waiting) == len(ALL)
    # the team merges shop/orders only: its production part comes next, the others still wait
    pull = next(
        p for p in LocalForge(world.remote).list_pull_requests("open") if p.branch.endswith("/orders")
    )
    git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
    git(world.dev, "fetch", "--quiet", "origin", pull.branch)
    git(world.dev, "merge", "--quiet", "--no-ff", "-m", f"Merge #{pull.number}", "FETCH_HEAD")
    git(world.dev, "push", "--quiet", "origin", "HEAD:main")
    report, _ = run(world)
    assert [p.branch for p in report.opened] == ["gitops-engine/shop/orders"]
    marker = read_marker(report.opened[0].body, report.opened[0].branch)
    assert marker is not None and marker.environments == ("production",) and marker.wave == 2
    assert sorted(u for u, _, _ in report.waiting) == [u for u in ALL if u != "shop/orders"]
    assert_no_op(world)


# -------------------------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"production": "  after: [stagign]\n"},
            [
                "environments/production.yaml:11:11: rollout.after names environment 'stagign', which "
                "platform.yaml does not list (did you mean 'staging'?): use one of development, production, "
                "staging"
            ],
        ),
        (
            {"staging": "  after: [production]\n", "production": "  after: [staging]\n"},
            [
                "environments/production.yaml:11:11: rollout.after makes a cycle (production → staging → "
                "production): no environment of it could ever get a change; remove 'staging' here or the entry "
                "that leads back to 'production'",
                "environments/staging.yaml:11:11: rollout.after makes a cycle (staging → production → staging): "
                "no environment of it could ever get a change; remove 'production' here or the entry that leads "
                "back to 'staging'",
            ],
        ),
        (
            {"development": "  after: [development]\n"},
            [
                "environments/development.yaml:11:11: rollout.after makes a cycle (development → development): "
                "no environment of it could ever get a change; remove 'development' here or the entry that leads "
                "back to 'development'"
            ],
        ),
        (
            {"development": "  mode: auto\n"},
            [
                "environments/development.yaml:11:9: rollout.mode: 'auto' is not one of 'direct', "
                "'pull-request', 'automerge'"
            ],
        ),
    ],
)
def test_bad_rollout_settings_are_validation_errors_with_their_line(
    world: World, settings: dict[str, str], expected: list[str]
) -> None:
    for env, block in settings.items():
        path = world.dev / "environments" / f"{env}.yaml"
        git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
        path.write_text(path.read_text() + "rollout:\n" + block)
    code, out = run_cli(["validate"], world.dev)
    assert code == 1, out
    errors = sorted(line for line in out.splitlines() if line.startswith("environments/"))
    assert errors == expected, out


def test_waves_follow_after() -> None:
    from gitops_engine.model import Environment

    def env(name: str, *after: str) -> Environment:
        return Environment(name, name, "{team}", {}, {}, f"environments/{name}.yaml", "", after=after)

    envs = {
        "dev": env("dev"),
        "qa": env("qa", "dev"),
        "stg": env("stg", "dev"),
        "prod": env("prod", "qa", "stg"),
    }
    assert waves(envs) == {"dev": 1, "qa": 2, "stg": 2, "prod": 3}


def test_branch_names_are_made_and_read_in_one_place() -> None:
    assert parse_branch("gitops-engine/shop/orders") == BranchName("shop", "orders")
    assert parse_branch("gitops-engine/shop/orders.automerge") == BranchName("shop", "orders", True)
    assert parse_branch("gitops-engine/shop/_team") == BranchName("shop", "_team")
    assert parse_branch("gitops-engine/shop/_team-w2.automerge") == BranchName("shop", "_team", True, 2)
    assert parse_branch("gitops-engine/_shared/_team") == BranchName("_shared", "_team")
    assert parse_branch("gitops-engine/_shared/cache") == BranchName("_shared", "cache")
    for bad in (
        "gitops-engine/shop",
        "gitops-engine/Shop/x",
        "gitops-engine/shop/_x",
        "feature/x",
        "gitops-engine/a/b/c",
    ):
        assert parse_branch(bad) is None, bad
    for name in (BranchName("shop", "_team", True, 3), BranchName("shop", "orders", True)):
        assert parse_branch(str(name)) == name
    assert unit_of_branch("gitops-engine/shop/_team") is None
    assert unit_of_branch("gitops-engine/shop/orders.automerge") == "shop/orders"
    assert LOCK_FILE  # the marker never names files


def test_shared_resources_form_one_group_reviewed_by_the_owner_of_definitions(world: World) -> None:
    rollout(world, {}, platform_extra="  groupBy: team\n")
    world.push_change(
        world.edit("definitions/redis/redis-incluster.yaml", "port: 6379", "port: 6380"), "Redis on 6380"
    )

    report, _ = run(world)

    assert not report.findings, report.findings
    # The users read only the host: their locks alone change, committed to main; the shared resource is reviewed.
    assert sorted(report.committed_units) == ["shop/cart", "shop/orders"]
    (pull,) = report.opened
    assert pull.branch == "gitops-engine/_shared/_team"
    assert pull.reviewers == ("infra",)
    assert re.fullmatch(
        r"Update shared resources \(1 resource\): redis-incluster Platform sources \([0-9a-f]{7}\) → "
        r"Redis on 6380 \([0-9a-f]{7}\) \[development, staging, production\]",
        pull.title,
    ), pull.title
    marker = read_marker(pull.body, pull.branch)
    assert marker is not None
    assert (marker.units, marker.environments, marker.group, marker.wave, marker.automerge) == (
        ("_shared/cache",),
        ("development", "staging", "production"),
        "team",
        1,
        False,
    )
    assert_no_op(world)

    git(world.dev, "fetch", "--quiet", "origin")
    git(world.dev, "checkout", "--quiet", "-B", "main", "origin/main")
    git(world.dev, "merge", "--quiet", "--no-ff", "--no-edit", f"origin/{pull.branch}")
    git(world.dev, "push", "--quiet", "origin", "HEAD:main")
    report, _ = run(world)
    assert report.deleted_branches == [pull.branch] and report.opened == []
    assert differing(world, full_render(world)) == set()
    assert_no_op(world)


# -------------------------------------------------------------------------------------------------------------
# groupBy team: 300 workloads in 25 teams

TEAMS = [f"t{n:02d}" for n in range(1, 26)]
PG_INCLUSTER = "definitions/postgres/pg-incluster.yaml"
VOLUME = "definitions/volume/volume-emptydir.yaml"


def _big_platform() -> dict[str, str]:
    from testing.platform import Resource
    from testing.scenario import PLATFORM, score

    files = {p: str(c) for p, c in PLATFORM.items() if not p.startswith("workloads/")}
    files["platform.yaml"] = str(PLATFORM["platform.yaml"]) + "  groupBy: team\n"
    files[".github/CODEOWNERS"] = "*  @example-org/infra\n/definitions/  @example-org/infra\n" + "".join(
        f"/workloads/{team}/  @example-org/{team}-team\n" for team in TEAMS
    )
    for t_index, team in enumerate(TEAMS):
        for w in range(12):
            n = t_index * 12 + w
            resources: dict[str, Resource] = {}
            if n % 2 == 0:
                resources["db"] = Resource("postgres")
            if n % 3 == 0:
                resources["scratch"] = Resource("volume")
            files[f"workloads/{team}/w{w:02d}/score.yaml"] = score(
                f"w{w:02d}",
                f"registry.example.com/{team}/w{w:02d}:1.0.0",
                resources=resources,
                volume="scratch" if n % 3 == 0 else "",
            )
    return files


@pytest.fixture(scope="module")
def _big(tmp_path_factory: pytest.TempPathFactory) -> World:
    from testing.repos import make_repo

    root = tmp_path_factory.mktemp("big")
    seed = make_repo(root / "seed", _big_platform(), message="Platform sources")
    world = world_from(root, seed, dev=False, keep_seed=False)
    report, _ = run(world)
    assert report.committed and not report.findings and report.opened == [], report
    clone_dev(world)
    return world


def affected(n: int, *, volume: bool = True) -> bool:
    return n % 2 == 0 or (volume and n % 3 == 0)


def expected_groups(*, volume: bool = True, without: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for t_index, team in enumerate(TEAMS):
        units = [
            f"{team}/w{w:02d}"
            for w in range(12)
            if affected(t_index * 12 + w, volume=volume) and f"{team}/w{w:02d}" not in without
        ]
        if units:
            groups[f"gitops-engine/{team}/_team"] = units
    return groups


def groups_open(world: World) -> dict[str, list[str]]:
    """Open pull requests: branch -> units, checked three ways (marker, unit markers, branch content)."""
    found: dict[str, list[str]] = {}
    for pull in LocalForge(world.remote).list_pull_requests("open"):
        marker = read_marker(pull.body, pull.branch)
        assert marker is not None and marker.group == "team" and marker.wave == 1 and not marker.automerge
        team = pull.branch.split("/")[1]
        assert pull.reviewers == (f"{team}-team",)
        in_branch = sorted(
            {
                "/".join(p.split("/")[2:4])
                for p in world.changed(f"{pull.branch}^", pull.branch)
                if p.startswith("rendered/")
            }
        )
        body_units = re.findall(r"<!-- gitops-engine:unit=([^ ]+) -->", pull.body)
        assert list(marker.units) == body_units == in_branch, pull.branch
        assert [f"## {u}: rendered manifests change" in pull.body for u in marker.units] == [True] * len(
            marker.units
        )
        git(
            world.remote, "merge-tree", "--write-tree", "main", pull.branch
        )  # merges cleanly: never conflicts
        found[pull.branch] = list(marker.units)
    return found


def test_group_by_team_one_pull_request_per_team_through_changes_and_merges(
    _big: World, tmp_path: Path
) -> None:
    world = _big.copy_to(tmp_path / "world")
    volume_text = world.show(f"main:{VOLUME}")
    files = {
        **world.edit(PG_INCLUSTER, "postgres:16.4", "postgres:17.0"),
        **world.edit(VOLUME, "get('size', '1Gi')", "get('size', '2Gi')"),
    }
    world.push_change(files, "Postgres 17, bigger scratch volumes")  # type: ignore[arg-type]
    report, forge = run(world)
    assert report.failures == {} and report.committed is None
    assert groups_open(world) == expected_groups()
    assert len(report.opened) == 25 and forge.stats.writes == 25 + 1  # and the dashboard issue, once
    assert_no_op(world)

    # A workload change inside a group: committed to main, and its team's pull request shrinks.
    world.push_change(world.edit("workloads/t01/w00/score.yaml", ":1.0.0", ":1.1.0"), "t01/w00 1.1.0")
    report, forge = run(world)
    assert report.committed_units == ["t01/w00"]
    assert [p.branch for p in report.updated] == ["gitops-engine/t01/_team"] and report.opened == []
    assert groups_open(world) == expected_groups(without=frozenset({"t01/w00"}))
    assert_no_op(world)

    # A partial revert of the change (volumes back): volume-only units leave their groups.
    world.push_change({VOLUME: volume_text}, "Revert: bigger scratch volumes")
    report, _ = run(world)
    assert report.failures == {} and report.opened == []
    # t01/w00 took both changes with its own commit: the revert of the volume reaches it, so it is back.
    assert groups_open(world) == expected_groups(volume=False)
    assert_no_op(world)

    # Merges of each kind: a merge commit by git, squash and rebase by the forge.
    local = LocalForge(world.remote)
    pulls = sorted(local.list_pull_requests("open"), key=lambda p: p.branch)
    kinds = ["merge", "squash", "rebase"]
    git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
    git(world.dev, "fetch", "--quiet", "origin", pulls[0].branch)
    git(world.dev, "merge", "--quiet", "--no-ff", "-m", f"Merge #{pulls[0].number}", "FETCH_HEAD")
    git(world.dev, "push", "--quiet", "origin", "HEAD:main")
    for index, pull in enumerate(pulls[1:]):
        local.enable_automerge(pull.number, kinds[index % 3])  # type: ignore[arg-type]
    report, _ = run(world)
    assert len(report.merged) == len(pulls) - 1
    assert report.opened == [] and report.failures == {}
    assert groups_open(world) == {}
    assert world.branches() == {}
    assert differing(world, full_render(world)) == set()
    assert_no_op(world)

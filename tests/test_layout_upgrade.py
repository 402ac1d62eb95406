"""Upgrading from one file per object to one manifest.yaml per unit (render version 2 to 3).

`tests/data/legacy-layout/` is a whole platform repo (the sources of tests/data/platforms/focused) with its
`rendered/` tree exactly as the engine at render version 2 wrote it (`gitops-engine render` at commit 24be2d5,
before manifest.yaml): one `<kind>-<name>.yaml` per object beside each lock. It is a fixture on purpose: it must
not follow the engine. The first `process` run of this engine commits the new layout to main in one commit and
opens no pull request, because no object changed (not even where production holds data), and the next run does
nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.golden import rendered_objects
from testing.repos import git, make_repo
from testing.world import World, world_from

from gitops_engine import RENDER_VERSION
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import ENGINE_EMAIL, ENGINE_NAME, default_identity
from gitops_engine.loading import load_snapshot
from gitops_engine.reconcile import process as process_repo
from gitops_engine.source import WorkTreeSource
from gitops_engine.tree import build_tree

LEGACY = Path(__file__).parent / "data" / "legacy-layout"
UNITS = ["_shared/shared-cache", "team-a/orders", "team-b/ledger"]
FOLDERS = [f"rendered/{env}/{unit}" for env in ("development", "production") for unit in UNITS]


def _tree(world: World, rev: str) -> dict[str, bytes]:
    """Every file under rendered/ at `rev` on the remote."""
    paths = world.rgit("ls-tree", "-r", "--name-only", rev, "--", "rendered/").split()
    return {p: world.rgit("show", f"{rev}:{p}").encode() for p in paths}


def _legacy_world(root: Path) -> World:
    """The fixture's sources committed by a person, then its rendered/ committed by the previous engine as a
    complete run of render version 2 (trailers and all), pushed to a bare remote with the engine's and a
    developer's clones."""
    seed = root / "seed"
    shutil.copytree(LEGACY, seed, ignore=shutil.ignore_patterns("rendered"))
    make_repo(seed, {}, message="Platform sources")
    sources = git(seed, "rev-parse", "HEAD").strip()
    shutil.copytree(LEGACY / "rendered", seed / "rendered")
    git(seed, "add", "--all")
    engine = {
        **{f"GIT_{who}_NAME": ENGINE_NAME for who in ("AUTHOR", "COMMITTER")},
        **{f"GIT_{who}_EMAIL": ENGINE_EMAIL for who in ("AUTHOR", "COMMITTER")},
    }
    message = f"Render 3 units\n\nGitops-Engine-Source: {sources}\nGitops-Engine-Render: 2\n"
    subprocess.run(["git", "commit", "--quiet", "-m", message], cwd=seed, env=engine, check=True)
    return world_from(root, seed)


@pytest.fixture
def legacy(tmp_path: Path) -> World:
    world = _legacy_world(tmp_path)
    tree = _tree(world, "main")
    assert "rendered/production/team-b/ledger/statefulset-ledger.yaml" in tree  # really the old layout
    assert {json.loads(c)["engine"] for p, c in tree.items() if p.endswith(".lock")} == {"2"}
    return world


def _assert_upgraded(world: World, before: dict[str, bytes], upgrade: str) -> None:
    after = _tree(world, upgrade)
    assert sorted(after) == sorted(
        f"{folder}/{name}" for folder in FOLDERS for name in ("gitops-engine.lock", "manifest.yaml")
    )
    objects = {p: c for p, c in rendered_objects(after).items() if not p.endswith(".lock")}
    assert objects == {
        p: c for p, c in before.items() if not p.endswith(".lock")
    }  # every object, byte for byte
    for folder in FOLDERS:
        old = json.loads(before[f"{folder}/gitops-engine.lock"])
        new = json.loads(after[f"{folder}/gitops-engine.lock"])
        assert new["engine"] == RENDER_VERSION
        # The same objects with the same content hashes, now named by kind and name.
        assert sorted(new["manifests"].values()) == sorted(old["manifests"].values())
        assert {k.split("/")[0].lower() + "-" + k.split("/")[1] + ".yaml" for k in new["manifests"]} == set(
            old["manifests"]
        )
    # What a full render of the upgraded main writes.
    git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
    build = build_tree(load_snapshot(WorkTreeSource(world.dev)))
    assert build.ok and build.files() == after


def test_the_first_run_commits_the_new_layout_in_one_commit_and_opens_no_pull_request(legacy: World) -> None:
    world = legacy
    start = world.main()
    before = _tree(world, start)

    report = process_repo(world.engine, LocalForge(world.remote), default_identity())

    assert (
        report.findings == []
        and report.opened == []
        and LocalForge(world.remote).list_pull_requests("all") == []
    )
    assert (
        report.plan is not None and report.plan.mode == "full"
    )  # another render version: every unit checked
    (upgrade,) = world.log(f"{start}..main")
    assert sorted(report.committed_units) == UNITS and report.committed == upgrade
    assert world.rgit("log", "-1", "--format=%ae%n%B", upgrade) == (
        f"{ENGINE_EMAIL}\n"
        "Render 3 units\n\n"
        "- team-a/orders (provenance only; development, production)\n"
        "- team-b/ledger (provenance only; development, production)\n"
        "- _shared/shared-cache (provenance only; development, production)\n\n"
        f"Gitops-Engine-Source: {start}\n"
        f"Gitops-Engine-Render: {RENDER_VERSION}\n\n"
    )
    _assert_upgraded(world, before, upgrade)

    # The next run, scheduled or on a push, finds nothing to do.
    refs = world.refs()
    assert run_cli(["process", "--forge", "local"], world.engine) == (
        0,
        f"plan: range reconcile of 0 candidate unit(s) at {upgrade[:12]}: 0 to commit, 0 for pull requests, "
        f"0 failed\nnothing to do: main ({upgrade[:12]}) is up to date\n",
    )
    assert world.refs() == refs


def test_a_developer_push_right_after_the_upgrade_is_still_one_commit(legacy: World) -> None:
    """CI's push workflow passes --base: the upgrade still checks every unit (the range cannot say what the
    render version changed), and the developer's change rides in the same commit."""
    world = legacy
    before = _tree(world, world.main())
    score = world.show("main:workloads/team-a/orders/score.yaml")
    pushed = world.push_change(
        {"workloads/team-a/orders/score.yaml": score.replace("LOG_LEVEL: info", "LOG_LEVEL: debug")}
    )
    assert "LOG_LEVEL: debug" in world.show("main:workloads/team-a/orders/score.yaml")

    code, output = run_cli(["process", "--forge", "local", "--base", world.before or ""], world.engine)

    assert code == 0, output
    (upgrade,) = world.log(f"{pushed}..main")
    assert output.splitlines() == [
        f"plan: full reconcile of 3 candidate unit(s) at {pushed[:12]}: 3 to commit, 0 for pull requests, 0 failed",
        f"committed {upgrade[:12]} to main: 3 unit(s)",
        f"committed {upgrade[:12]} to main: team-a/orders, team-b/ledger, _shared/shared-cache",
    ]
    assert LocalForge(world.remote).list_pull_requests("all") == []
    assert "- team-a/orders (workload changed; development, production)" in world.rgit(
        "log", "-1", "--format=%B"
    )
    after = rendered_objects(_tree(world, upgrade))
    changed = sorted(p for p in after if not p.endswith(".lock") and after[p] != before.get(p))
    assert changed == ["rendered/development/team-a/orders/deployment-orders.yaml"]  # production pins `warn`
    assert b"value: debug" in after["rendered/development/team-a/orders/deployment-orders.yaml"]

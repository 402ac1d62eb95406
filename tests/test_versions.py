"""Human-readable versions: a definition's `version:` field, else the subject and short id of the commit that last
changed the file; `usage` shows them, its JSON keeps the hash beside them."""

from __future__ import annotations

import json

import pytest
from testing.cli import run_cli
from testing.repos import git
from testing.world import World

from gitops_engine.forge.local import LocalForge
from gitops_engine.git import Git, default_identity
from gitops_engine.loading import load_snapshot
from gitops_engine.reconcile import process as process_repo
from gitops_engine.source import GitSource
from gitops_engine.versions import VersionNames

PG = "definitions/postgres/pg-incluster.yaml"
ENV = "environments/staging.yaml"


def _process(world: World) -> None:
    git(world.engine, "pull", "--quiet", "--ff-only", "origin", "main")
    report = process_repo(world.engine, LocalForge(world.remote), default_identity())
    assert not report.findings, report.findings


def _seed(world: World, path: str) -> str:
    return world.rgit("log", "--format=%H", "main", "--", path).split()[-1]


def test_a_version_is_named_by_the_commit_that_made_it(world: World) -> None:
    seeded = _seed(world, PG)
    old_blob = world.rgit("rev-parse", f"main:{PG}").strip()
    pushed = world.push_change(
        world.edit(PG, "postgres:16.4", "postgres:17.0"), "Upgrade in-cluster PostgreSQL to 17"
    )

    with Git(world.dev) as repo:
        names = VersionNames(repo, pushed)
        definition = next(
            d for d in load_snapshot(GitSource(repo, pushed)).definitions.values() if d.path == PG
        )
        assert names.of_definition(definition) == f"Upgrade in-cluster PostgreSQL to 17 ({pushed[:7]})"
        assert names.of_definition_version(PG, old_blob[:12]) == f"Platform sources ({seeded[:7]})"
        assert names.of_definition_version(PG, "0123456789ab") == "0123456789ab"  # no commit made it
        assert names.of_file(ENV) == f"Platform sources ({_seed(world, ENV)[:7]})"
        assert names.of_file("environments/nowhere.yaml") == ""


def test_an_environment_version_is_named_by_the_commit_that_changed_what_rendering_reads(
    world: World,
) -> None:
    """Edits of rollout settings and comments keep the name; a value changed back to an older one is named by
    the commit that changed it back, not the older one."""

    def name(commit: str) -> str:
        with Git(world.dev) as repo:
            environment = load_snapshot(GitSource(repo, commit)).environments["staging"]
            return VersionNames(repo, commit).of_environment(ENV, environment.fingerprint)

    seeded = _seed(world, ENV)
    assert name(world.main()) == f"Platform sources ({seeded[:7]})"
    relabel = world.push_change(
        world.edit(ENV, "example.com/env: staging", "example.com/env: stage"), "Relabel"
    )
    original = world.show(f"main:{ENV}")
    rollout = world.push_change({ENV: original + "rollout:\n  mode: pull-request\n"}, "Say the rollout mode")
    commented = world.push_change({ENV: "# Staging.\n" + world.show(f"main:{ENV}")}, "A comment")
    assert name(rollout) == name(commented) == f"Relabel ({relabel[:7]})"
    back = world.push_change(world.edit(ENV, "example.com/env: stage", "example.com/env: staging"), "Back")
    assert name(back) == f"Back ({back[:7]})"
    with Git(world.dev) as repo:  # a fingerprint no commit gave the file: the last commit that changed it
        assert VersionNames(repo, back).of_environment(ENV, "sha256:00") == f"Back ({back[:7]})"


def test_the_version_field_names_the_definition_when_set(world: World) -> None:
    labelled = world.edit(PG, "type: postgres\n", 'type: postgres\nversion: "PostgreSQL 16.4"\n')
    world.push_change(labelled, "Name the in-cluster PostgreSQL version")
    _process(world)
    text = world.show(f"main:{PG}").replace("postgres:16.4", "postgres:17.0").replace("16.4", "17.0")
    pushed = world.push_change({PG: text}, "Upgrade in-cluster PostgreSQL to 17")
    _process(world)
    git(world.dev, "pull", "--quiet", "--ff-only", "origin", "main")

    code, output = run_cli(["usage", "pg-incluster", "--forge", "local"], world.dev)

    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "pg-incluster (postgres, version PostgreSQL 17.0): used by 4, behind 4"
    assert lines[1:] == [
        f"  {unit} [{env}] db: behind (PostgreSQL 16.4), pull request #{number}"
        for env in ("development", "staging")
        for unit, number in (("shop/catalog", 1), ("shop/orders", 2))
    ]

    code, output = run_cli(["usage", "pg-incluster", "--format", "json", "--forge", "local"], world.dev)
    assert code == 0, output
    (definition,) = json.loads(output)["definitions"]
    assert definition["version"] == world.rgit("rev-parse", f"{pushed}:{PG}").strip()[:12]
    assert definition["human_version"] == "PostgreSQL 17.0"
    assert {u["human_version"] for u in definition["uses"]} == {"PostgreSQL 16.4"}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('""', "use a short one-line text"),
        ("17", 'expected a string, got 17; quote it: "17"'),
    ],
)
def test_a_bad_version_field_is_an_error_at_its_line(world: World, value: str, problem: str) -> None:
    text = world.show(f"main:{PG}").replace("type: postgres\n", f"type: postgres\nversion: {value}\n")
    (world.dev / PG).write_text(text)

    code, output = run_cli(["validate"], world.dev)

    assert code == 1, output
    assert f"{PG}:5:10: " in output
    assert problem in output

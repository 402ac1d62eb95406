"""One bad file never blocks the units that do not depend on it, and units never silently collide."""

from __future__ import annotations

from pathlib import Path

from testing.cli import run_cli
from testing.golden import changed_paths, snapshot_tree
from testing.repos import write_files
from testing.small_platform import WEB_SCORE

API_FOLDERS = ("rendered/development/team-a/api/", "rendered/production/team-a/api/")


def test_a_broken_definition_fails_only_the_units_that_use_its_type(platform_repo: Path) -> None:
    before = snapshot_tree(platform_repo)
    write_files(
        platform_repo,
        {
            "definitions/postgres/pg-dev.yaml": "apiVersion: gitops-engine.dev/v1\nkind: ResourceDefinition\nid: [\n",
            "workloads/team-b/web/score.yaml": WEB_SCORE.replace("web:2.0", "web:2.1"),
        },
    )

    code, output = run_cli(["render", "--keep-going"], platform_repo)

    assert code == 1, output
    lines = output.splitlines()
    assert lines[0].startswith("definitions/postgres/pg-dev.yaml:4:1: invalid YAML")
    assert lines[1] == (
        "workloads/team-a/api/score.yaml:15:5: resource 'db' of type 'postgres' cannot be resolved while "
        "definitions/postgres/pg-dev.yaml fails to load: fix that definition first"
    )
    after = snapshot_tree(platform_repo)
    changed = changed_paths(before, after)
    assert changed == [
        "rendered/development/team-b/web/gitops-engine.lock",
        "rendered/development/team-b/web/manifest.yaml",
        "rendered/production/team-b/web/gitops-engine.lock",
        "rendered/production/team-b/web/manifest.yaml",
    ]
    # The api workload also uses postgres in production, where pg-prod is fine: it is still not rendered, since
    # the unit (all its environments) cannot be rendered consistently.
    assert {p: c for p, c in after.items() if p.startswith(API_FOLDERS)} == {
        p: c for p, c in before.items() if p.startswith(API_FOLDERS)
    }


def test_two_units_rendering_the_same_object_are_refused(platform_repo: Path) -> None:
    # One namespace per environment: team-b's workload `api-db` gets a Service named like team-a/api's database.
    development = (platform_repo / "environments/development.yaml").read_text()
    assert 'namespace: "{team}-{env}"' in development
    write_files(
        platform_repo,
        {
            "environments/development.yaml": development.replace(
                'namespace: "{team}-{env}"', 'namespace: "{env}"'
            ),
            "workloads/team-b/api-db/score.yaml": WEB_SCORE.replace("name: web", "name: api-db")
            + "service:\n  ports:\n    pg:\n      port: 5432\n",
        },
    )

    code, output = run_cli(["validate"], platform_repo)

    assert code == 1, output
    assert output.splitlines() == [
        "workloads/team-b/api-db/score.yaml:1:1: rendered/development/team-b/api-db renders Service api-db in "
        "namespace development, as rendered/development/team-a/api does: rename the resource or workload so their "
        "object names differ",
        "1 error in 1 file",
    ]

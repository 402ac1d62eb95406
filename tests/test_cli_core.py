"""The core commands through the real CLI: exit codes 0/1/2, `validate --format json`, `graph` output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click
import pytest
from testing.cli import run_cli
from testing.golden import read_object, snapshot_tree
from testing.repos import git, write_files
from testing.small_platform import API_SCORE

from gitops_engine.cli import main


# -- exit codes --------------------------------------------------------------------------------------------------
def test_validate_ok_exits_0(platform_repo: Path) -> None:
    assert run_cli(["validate"], platform_repo) == (0, "ok: 2 workloads in 2 environments are valid\n")


def test_commands_accept_repo_option_from_elsewhere(platform_repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert run_cli(["validate", "--repo", str(platform_repo)], elsewhere) == (
        0,
        "ok: 2 workloads in 2 environments are valid\n",
    )
    assert run_cli(["render", "--check", "--repo", str(platform_repo)], elsewhere) == (
        0,
        "rendered/ is up to date\n",
    )


def test_repo_option_accepts_a_subdirectory(platform_repo: Path) -> None:
    code, output = run_cli(["validate", "--repo", str(platform_repo / "workloads" / "team-a")], platform_repo)
    assert (code, output) == (0, "ok: 2 workloads in 2 environments are valid\n")


def test_findings_exit_1(platform_repo: Path) -> None:
    write_files(platform_repo, {"workloads/team-a/api/score.yaml": API_SCORE.replace("db.host", "db.nope")})
    assert run_cli(["validate"], platform_repo)[0] == 1
    assert run_cli(["render"], platform_repo)[0] == 1
    assert run_cli(["render", "--check"], platform_repo)[0] == 1
    assert run_cli(["graph", "team-a/api", "--env", "development"], platform_repo)[0] == 1


@pytest.mark.parametrize(
    "args",
    [["validate"], ["render"], ["render", "--check"], ["graph", "team-a/api", "--env", "development"]],
    ids=["validate", "render", "render-check", "graph"],
)
def test_not_a_git_repository_exits_2(tmp_path: Path, args: list[str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    code, output = run_cli([*args, "--repo", str(plain)], tmp_path)
    assert code == 2
    assert output == (
        f"Error: {plain} is not inside a git repository: pass --repo DIR, or create one with `gitops-engine init DIR`\n"
    )
    assert not (plain / "rendered").exists()


def test_not_a_git_repository_in_the_current_directory_exits_2(tmp_path: Path) -> None:
    assert run_cli(["validate"], tmp_path) == (
        2,
        "Error: . is not inside a git repository: pass --repo DIR, or create one with `gitops-engine init DIR`\n",
    )


def test_bare_repository_exits_2(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    assert run_cli(["validate", "--repo", str(bare)], tmp_path) == (
        2,
        f"Error: {bare} is a bare repository: run gitops-engine in a clone\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "--format", "xml"], "Error: Invalid value for '--format': 'xml' is not one of"),
        (["graph", "team-a/api"], "Error: Missing option '--env'."),
        (
            ["graph", "team-a/api", "--env", "development", "--format", "png"],
            "Error: Invalid value for '--format'",
        ),
        (["render", "--nope"], "Error: No such option"),
        (["frobnicate"], "Error: No such command 'frobnicate'."),
    ],
)
def test_usage_errors_exit_2(platform_repo: Path, args: list[str], message: str) -> None:
    code, output = run_cli(args, platform_repo)
    assert code == 2
    assert message in output


def test_render_unknown_environment_is_a_usage_error_and_writes_nothing(platform_repo: Path) -> None:
    before = snapshot_tree(platform_repo)
    assert run_cli(["render", "--env", "prod"], platform_repo) == (
        2,
        "Error: unknown environment 'prod' (did you mean 'production'?): environments are development, "
        "production\n",
    )
    assert snapshot_tree(platform_repo) == before


def test_graph_unknown_environment_lists_the_environments(platform_repo: Path) -> None:
    assert run_cli(["graph", "team-a/api", "--env", "prod"], platform_repo) == (
        2,
        "Error: unknown environment 'prod' (did you mean 'production'?): environments are development, "
        "production\n",
    )


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        ("team-a/nope", "no workload 'team-a/nope': the workloads of team team-a are api"),
        (
            "team-a/apii",
            "no workload 'team-a/apii' (did you mean 'team-a/api'?): the workloads of team team-a are api",
        ),
        ("orders/nope", "no workload 'orders/nope': there is no team 'orders'; teams are team-a, team-b"),
        (
            "team-c/web",
            "no workload 'team-c/web' (did you mean 'team-b/web'?): there is no team 'team-c' (did you "
            "mean 'team-b' or 'team-a'?); teams are team-a, team-b",
        ),
        (
            "web",
            "'web' is not a workload (did you mean 'team-b/web'?): give it as TEAM/NAME, such as 'team-a/api'",
        ),
        (
            "team-a",
            "'team-a' is not a workload but a team (its workloads: api): give it as TEAM/NAME, such as "
            "'team-a/api'",
        ),
    ],
)
@pytest.mark.parametrize("command", ["graph", "render"])
def test_an_unknown_workload_is_a_usage_error_saying_what_exists(
    platform_repo: Path, command: str, workload: str, message: str
) -> None:
    args = (
        ["graph", workload, "--env", "development"]
        if command == "graph"
        else ["render", "--workload", workload]
    )
    assert run_cli(args, platform_repo) == (2, f"Error: {message}\n")


def test_render_only_selected_environment_and_workload(platform_repo: Path) -> None:
    write_files(
        platform_repo,
        {
            "workloads/team-a/api/score.yaml": API_SCORE.replace("api:1.0", "api:1.1"),
            "workloads/team-b/web/score.yaml": (platform_repo / "workloads/team-b/web/score.yaml")
            .read_text()
            .replace("web:2.0", "web:2.1"),
        },
    )
    before = snapshot_tree(platform_repo)

    code, output = run_cli(["render", "--env", "production", "--workload", "team-a/api"], platform_repo)

    assert (code, output) == (0, "rendered 1 units in 1 environments: 2 file(s) written, 0 removed\n")
    after = snapshot_tree(platform_repo)
    assert sorted(p for p in after if after[p] != before[p]) == [
        "rendered/production/team-a/api/gitops-engine.lock",
        "rendered/production/team-a/api/manifest.yaml",
    ]


def test_render_reads_the_work_tree_not_the_last_commit(platform_repo: Path) -> None:
    write_files(platform_repo, {"workloads/team-a/api/score.yaml": API_SCORE.replace("api:1.0", "api:1.2")})
    assert git(platform_repo, "status", "--short") == " M workloads/team-a/api/score.yaml\n"
    assert run_cli(["render"], platform_repo)[0] == 0
    deployment = read_object(platform_repo, "rendered/development/team-a/api/deployment-api.yaml")
    assert "image: registry.example.com/api:1.2\n" in deployment


# -- validate --format json --------------------------------------------------------------------------------------
def test_validate_json_when_valid(platform_repo: Path) -> None:
    code, output = run_cli(["validate", "--format", "json"], platform_repo)
    assert code == 0
    assert output == '{\n  "ok": true,\n  "workloads": 2,\n  "environments": 2,\n  "findings": []\n}\n'


def test_validate_json_with_findings(platform_repo: Path) -> None:
    write_files(
        platform_repo,
        {
            "workloads/team-a/api/score.yaml": API_SCORE.replace("db.host", "db.nope"),
            "workloads/team-b/web/overrides.production.yaml": "containers:\n  main:\n    imag: x\n",
        },
    )
    code, output = run_cli(["validate", "--format", "json"], platform_repo)
    assert code == 1
    assert json.loads(output) == {
        "ok": False,
        "workloads": 2,
        "environments": 2,
        "findings": [
            {
                "path": "workloads/team-a/api/score.yaml",
                "line": 8,
                "column": 16,
                "severity": "error",
                "environments": [],
                "unit": "team-a/api",
                "message": "containers.main.variables.DB_HOST: ${resources.db.nope}: resources.db has no 'nope' "
                "(known: host, password, port)",
            },
            {
                "path": "workloads/team-b/web/overrides.production.yaml",
                "line": 3,
                "column": 5,
                "severity": "error",
                "environments": [],
                "unit": "team-b/web",
                "message": "after merging this override: containers.main: unknown key 'imag' (allowed: args, before, "
                "command, files, image, livenessProbe, readinessProbe, resources, variables, volumes); did you mean "
                "'image'?",
            },
        ],
    }
    # Machine-readable: nothing but the JSON document.
    assert output.startswith("{\n") and output.endswith("}\n")
    assert list(json.loads(output)) == ["ok", "workloads", "environments", "findings"]


def test_validate_json_global_finding_has_no_unit(platform_repo: Path) -> None:
    write_files(platform_repo, {"environments/qa.yaml": "apiVersion: gitops-engine.dev/v1\n"})
    code, output = run_cli(["validate", "--format", "json"], platform_repo)
    assert code == 1
    assert json.loads(output)["findings"] == [
        {
            "path": "environments/qa.yaml",
            "line": 1,
            "column": 1,
            "severity": "error",
            "environments": [],
            "unit": "",
            "message": "environment 'qa' is not listed in platform.yaml `environments`: add it there",
        }
    ]


# -- graph -------------------------------------------------------------------------------------------------------
# The definition versions are the first 12 hex digits of the definition files' git blob ids.
REDIS = "redis-shared@2d4ac9a928dc"
PVC = "pvc@a9df955b6de3"
POSTGRES = "postgres@2a75f3408d9c"
LOOKUP = "lookup@1260d5dbb419"
DNS = "dns@3f3a30fed68d"
INGRESS = "ingress@d42df339a562"


def test_graph_mermaid(focused_repo: Path) -> None:
    code, output = run_cli(["graph", "team-a/orders", "--env", "development"], focused_repo)
    assert code == 0
    assert output == (
        "graph LR\n"
        '  w["team-a/orders (development)"]\n'
        f'  r0["cache: redis shared<br/><small>{REDIS}</small>"]\n'
        f'  r1["data: volume<br/><small>{PVC}</small>"]\n'
        f'  r2["db: postgres<br/><small>{POSTGRES}</small>"]\n'
        f'  r3["ledger: service-port<br/><small>{LOOKUP}</small>"]\n'
        f'  r4["web-dns: dns<br/><small>{DNS}</small>"]\n'
        f'  r5["route: route<br/><small>{INGRESS}</small>"]\n'
        "  w --> r0\n"
        "  w --> r1\n"
        "  w --> r2\n"
        "  w --> r3\n"
        "  w --> r4\n"
        "  w --> r5\n"
        "  r5 --> r4\n"
    )


def test_graph_dot(focused_repo: Path) -> None:
    code, output = run_cli(["graph", "team-a/orders", "--env", "production", "--format", "dot"], focused_repo)
    assert code == 0
    assert output == (
        "digraph workload {\n"
        "  rankdir=LR;\n"
        '  w [label="team-a/orders (production)", shape=box];\n'
        f'  r0 [label="cache: redis shared\\n{REDIS}"];\n'
        f'  r1 [label="data: volume\\n{PVC}"];\n'
        f'  r2 [label="db: postgres\\n{POSTGRES}"];\n'
        f'  r3 [label="ledger: service-port\\n{LOOKUP}"];\n'
        f'  r4 [label="web-dns: dns\\n{DNS}"];\n'
        f'  r5 [label="route: route\\n{INGRESS}"];\n'
        "  w -> r0;\n"
        "  w -> r1;\n"
        "  w -> r2;\n"
        "  w -> r3;\n"
        "  w -> r4;\n"
        "  w -> r5;\n"
        "  r5 -> r4;\n"
        "}\n"
    )


def test_graph_versions_are_the_definition_blob_ids(focused_repo: Path) -> None:
    for version, path in [
        (REDIS, "definitions/redis/redis-shared.yaml"),
        (INGRESS, "definitions/route/ingress.yaml"),
    ]:
        assert git(focused_repo, "rev-parse", f"HEAD:{path}").startswith(version.split("@")[1])


def test_graph_writes_nothing(focused_repo: Path) -> None:
    assert run_cli(["graph", "team-a/orders", "--env", "development"], focused_repo)[0] == 0
    assert snapshot_tree(focused_repo) == {}


def test_validate_json_names_the_unit_of_a_broken_score_file(platform_repo: Path) -> None:
    write_files(
        platform_repo,
        {"workloads/team-a/api/score.yaml": API_SCORE.replace("  main:\n", "  main:\n\tx: 1\n")},
    )
    code, output = run_cli(["validate", "--format", "json"], platform_repo)
    assert code == 1
    assert json.loads(output)["findings"] == [
        {
            "path": "workloads/team-a/api/score.yaml",
            "line": 6,
            "column": 1,
            "severity": "error",
            "environments": [],
            "unit": "team-a/api",
            "message": "invalid YAML: found character that cannot start any token",
        }
    ]


# -- --help ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help_with_examples_and_described_formats(command: str, tmp_path: Path) -> None:
    code, output = run_cli([command, "--help"], tmp_path)

    assert code == 0, output
    assert "Example" in output, output
    text = " ".join(output.split())  # click wraps the option help
    for param in main.commands[command].params:
        if isinstance(param, click.Option) and param.name == "output_format":
            assert isinstance(param.type, click.Choice)
            for value in param.type.choices:
                assert f"{value}: " in text, (value, output)

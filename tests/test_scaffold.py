"""Scaffolding: `new workload`, `new team`, the CODEOWNERS warning of `validate`, and `init --bare`."""

from __future__ import annotations

from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.repos import commit_all, git, make_repo
from testing.small_platform import BASE_PLATFORM

from gitops_engine.commands.init import create_platform_repo
from gitops_engine.schema import REPO_SCHEMA_DIR


@pytest.fixture(scope="module")
def _bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("bare") / "p"
    create_platform_repo(repo, bare=True)
    return repo


@pytest.fixture
def bare(_bare: Path, tmp_path: Path) -> Path:
    git(tmp_path, "clone", "--quiet", str(_bare), str(tmp_path / "p"))
    return tmp_path / "p"


def test_init_bare_has_definitions_and_no_workloads(_bare: Path, tmp_path: Path) -> None:
    files = git(_bare, "ls-files").split()
    assert not any(f.startswith(("workloads/", "rendered/")) for f in files), files
    assert sum(f.startswith("definitions/") for f in files) >= 20
    assert {f"{REPO_SCHEMA_DIR}/score-v1b1.json", "platform.yaml", "environments/production.yaml"} <= set(
        files
    )
    codeowners = (_bare / ".github" / "CODEOWNERS").read_text()
    assert "/workloads/payments/" not in codeowners and "/rendered/*/payments/" not in codeowners
    assert "/rendered/*/_shared/" in codeowners and "/definitions/" in codeowners
    for args in (["validate"], ["render", "--check"]):
        code, output = run_cli([*args, "--repo", str(_bare)], tmp_path)
        assert code == 0, output
    code, output = run_cli(["validate", "--repo", str(_bare)], tmp_path)
    assert output == "ok: 0 workloads in 3 environments are valid\n"


def test_new_workload_validates_as_written_and_renders(bare: Path) -> None:
    code, output = run_cli(
        ["new", "workload", "payments/refunds", "--resource", "db=postgres", "--resource", "cache=redis"],
        bare,
    )
    assert code == 0, output
    assert output == (
        "created workloads/payments/refunds/score.yaml\n"
        "next: set its image (gitops-engine set-image payments/refunds IMAGE), then gitops-engine render\n"
    )
    text = (bare / "workloads/payments/refunds/score.yaml").read_text()
    lines = text.splitlines()
    assert lines[0] == f"# yaml-language-server: $schema=../../../{REPO_SCHEMA_DIR}/score-v1b1.json"
    # The schema line resolves from the file's folder.
    assert (bare / "workloads/payments/refunds" / lines[0].split("=", 1)[1]).resolve().is_file()
    assert "resources:\n  db:\n    type: postgres\n  cache:\n    type: redis\n" in text
    assert sum(line.lstrip().startswith("#") for line in lines) >= 10  # commented for the people who edit it
    code, output = run_cli(["validate"], bare)
    assert code == 0, output
    assert output.endswith("ok: 1 workloads in 3 environments are valid\n")
    code, output = run_cli(["render"], bare)
    assert code == 0, output
    assert "kind: Deployment\n" in (bare / "rendered/production/payments/refunds/manifest.yaml").read_text()


def test_new_workload_refuses_what_it_cannot_write(bare: Path) -> None:
    code, output = run_cli(["new", "workload", "payments/refunds", "--resource", "db=nosuchtype"], bare)
    assert code == 2
    assert (
        "no definitions for resource type(s) nosuchtype: the types this platform provides are amqp," in output
    )
    code, output = run_cli(["new", "workload", "payments/refunds", "--resource", "x=postgres"], bare)
    assert code == 2 and "--resource 'x=postgres': write NAME=TYPE" in output
    code, output = run_cli(["new", "workload", "Payments/refunds"], bare)
    assert code == 2 and "is not TEAM/NAME" in output
    # A type that needs params it was not given: nothing is left behind.
    code, output = run_cli(["new", "workload", "payments/web", "--resource", "web=route"], bare)
    assert code == 1
    assert "nothing was written: workloads/payments/web would not validate as generated" in output
    assert "Error: definitions/route/" in output
    assert git(bare, "status", "--porcelain", "--untracked-files=all") == ""
    assert run_cli(["new", "workload", "payments/refunds"], bare)[0] == 0
    code, output = run_cli(["new", "workload", "payments/refunds"], bare)
    assert (code, output) == (
        1,
        "Error: workloads/payments/refunds/score.yaml: workloads/payments/refunds/ exists already: pick another name\n",
    )


def test_new_team_adds_exactly_one_line_once(template_repo: Path) -> None:
    repo = template_repo
    path = repo / ".github" / "CODEOWNERS"
    before = path.read_text().splitlines(keepends=True)
    code, output = run_cli(["new", "team", "sales", "--owner", "@example-org/sales"], repo)
    assert code == 0, output
    assert output == (
        ".github/CODEOWNERS:18: workloads/sales/ is owned by @example-org/sales\n"
        ".github/CODEOWNERS:27: rendered/*/sales/ is owned by @example-org/sales\n"
        "next: gitops-engine new workload sales/NAME\n"
    )
    after = path.read_text().splitlines(keepends=True)
    # Two lines, each after the other teams' own, aligned with them: workloads/ and rendered/ (the template gives
    # rendered/ owners of its own).
    assert after == [
        *before[:17],
        "/workloads/sales/           @example-org/sales\n",
        *before[17:25],
        "/rendered/*/sales/          @example-org/sales\n",
        *before[25:],
    ]
    code, output = run_cli(["new", "team", "sales", "--owner", "@example-org/sales"], repo)
    assert (code, output) == (
        0,
        ".github/CODEOWNERS:18: workloads/sales/ is owned by @example-org/sales already: nothing to change\n",
    )
    assert path.read_text().splitlines(keepends=True) == after
    code, output = run_cli(["new", "team", "sales", "--owner", "@example-org/other"], repo)
    assert (code, output) == (
        1,
        "Error: .github/CODEOWNERS:18:1: /workloads/sales/ is owned by @example-org/sales already: edit this line to change its owners\n",
    )
    code, output = run_cli(["new", "team", "sales", "--owner", "example-org/sales"], repo)
    assert code == 2 and "give a GitHub team as @org/team" in output


def test_new_team_creates_codeowners_when_there_is_none(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "p", BASE_PLATFORM)
    code, output = run_cli(["new", "team", "team-a", "--owner", "@org/team-a"], repo)
    assert code == 0, output
    text = (repo / ".github" / "CODEOWNERS").read_text()
    assert text.endswith(
        "# Each team owns its workloads: Score files, the files they reference and per-environment overrides.\n/workloads/team-a/ @org/team-a\n"
    )


def test_validate_warns_about_a_team_without_an_owner_of_its_own(template_repo: Path, tmp_path: Path) -> None:
    repo = template_repo
    code, output = run_cli(["validate"], repo)
    assert (code, output.count("code owner")) == (0, 0)
    assert run_cli(["new", "workload", "sales/crm"], repo)[0] == 0
    code, output = run_cli(["validate"], repo)
    assert code == 0, output
    assert output.splitlines()[0] == (
        ".github/CODEOWNERS:5:1: workloads/sales/ has no code owner of its own: `*` gives its pull requests to "
        "@example-org/infra; run `gitops-engine new team sales --owner @ORG/TEAM`, or add "
        "`/workloads/sales/ @ORG/TEAM` to .github/CODEOWNERS"
    )
    code, output = run_cli(["validate", "--format", "json"], repo)
    assert '"severity": "warning"' in output
    assert run_cli(["new", "team", "sales", "--owner", "@example-org/sales"], repo)[0] == 0
    code, output = run_cli(["validate"], repo)
    assert (code, output) == (0, "ok: 10 workloads in 3 environments are valid\n")
    # A repo without CODEOWNERS does not use code owners: nothing to warn about.
    plain = make_repo(tmp_path / "plain", BASE_PLATFORM)
    commit_all(plain)
    assert run_cli(["validate"], plain) == (0, "ok: 2 workloads in 2 environments are valid\n")

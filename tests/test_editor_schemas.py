"""Editor schemas that resolve: `init` writes them to .gitops-engine/schemas/, every `$schema=` line of the
template points at one of them by relative path, and `gitops-engine schemas --write` refreshes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.repos import git

from gitops_engine.schema import REPO_SCHEMA_DIR, SCHEMA_DIR
from gitops_engine.template import template_dir

SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(?P<target>\S+)$")
KIND_OF_FOLDER = {
    "platform.yaml": "platform.json",
    "environments": "environment.json",
    "definitions": "definition.json",
    "workloads": "score-v1b1.json",
}


@pytest.fixture
def platform(template_repo: Path) -> Path:
    """A fresh copy of `gitops-engine init`'s repo (conftest)."""
    return template_repo


def test_every_engine_file_of_the_template_names_its_schema_by_relative_path(platform: Path) -> None:
    checked = 0
    for path in sorted(template_dir().rglob("*.yaml")):
        rel = path.relative_to(template_dir())
        kind = KIND_OF_FOLDER.get(rel.parts[0])
        if (
            kind is None
            or rel.name.startswith("overrides.")
            or (rel.parts[0] == "workloads" and rel.name != "score.yaml")
        ):
            continue
        first = path.read_text(encoding="utf-8").splitlines()[0]
        match = SCHEMA_LINE.match(first)
        assert match, f"{rel}: first line must be `# yaml-language-server: $schema=…`"
        target = match["target"]
        assert "://" not in target, f"{rel}: point at {REPO_SCHEMA_DIR}/ by relative path, not at {target}"
        # It resolves in the repo `init` makes, to the schema of the file's kind, as shipped.
        resolved = (platform / rel).parent / target
        assert resolved.resolve() == (platform / REPO_SCHEMA_DIR / kind).resolve(), rel
        assert resolved.read_bytes() == (SCHEMA_DIR / kind).read_bytes()
        checked += 1
    assert checked >= 40


def test_init_commits_the_schemas(platform: Path) -> None:
    committed = git(platform, "ls-files", REPO_SCHEMA_DIR).split()
    assert committed == [f"{REPO_SCHEMA_DIR}/{name}" for name in sorted(KIND_OF_FOLDER.values())]


def test_schemas_checks_and_write_refreshes(platform: Path, tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(platform), str(repo))
    assert run_cli(["schemas"], repo) == (0, f"4 schema(s) up to date in {REPO_SCHEMA_DIR}/\n")
    # An older engine's copy, and one deleted by hand.
    (repo / REPO_SCHEMA_DIR / "platform.json").write_text("{}\n")
    (repo / REPO_SCHEMA_DIR / "definition.json").unlink()
    code, output = run_cli(["schemas"], repo)
    assert (code, output) == (
        1,
        f"missing: {REPO_SCHEMA_DIR}/definition.json\nstale: {REPO_SCHEMA_DIR}/platform.json\n"
        "2 schema(s) out of date: run `gitops-engine schemas --write`\n",
    )
    code, output = run_cli(["schemas", "--write"], repo)
    assert (code, output) == (
        0,
        f"wrote {REPO_SCHEMA_DIR}/definition.json\nwrote {REPO_SCHEMA_DIR}/platform.json\n"
        f"4 schema(s) up to date in {REPO_SCHEMA_DIR}/\n",
    )
    assert git(repo, "status", "--porcelain") == ""
    # Idempotent: a second write writes nothing.
    assert run_cli(["schemas", "--write"], repo) == (0, f"4 schema(s) up to date in {REPO_SCHEMA_DIR}/\n")

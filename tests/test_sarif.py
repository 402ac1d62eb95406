"""`validate --format sarif` (SARIF 2.1.0, checked against the schema vendored in tests/data/sarif/, whose README
names its source) and the pre-commit hook definition."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from testing.cli import run_cli

from gitops_engine import __version__, yamlio
from gitops_engine.sarif import RULES
from gitops_engine.source import is_source_path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif" / "sarif-schema-2.1.0.json").read_text())


def _validator() -> Any:
    cls = jsonschema.validators.validator_for(SCHEMA)
    return cls(SCHEMA, format_checker=cls.FORMAT_CHECKER)


def _sarif(repo: Path) -> tuple[int, dict[str, Any]]:
    code, output = run_cli(["validate", "--format", "sarif"], repo)
    return code, json.loads(output)


@pytest.fixture
def broken(template_repo: Path) -> Path:
    """The template with problems of several kinds: a Score file's unknown key, an unparsable definition and a team without a code owner (a warning)."""
    repo = template_repo
    score = repo / "workloads/catalog/media-service/score.yaml"
    score.write_text(
        score.read_text().replace("apiVersion: score.dev/v1b1\n", "apiVersion: score.dev/v1b1\nsurprise: 1\n")
    )
    (repo / "definitions/redis/redis-managed.yaml").write_text("apiVersion: [unclosed\n")
    (repo / "workloads/sales/crm").mkdir(parents=True)
    (repo / "workloads/sales/crm/score.yaml").write_text(
        "apiVersion: score.dev/v1b1\nmetadata:\n  name: crm\ncontainers:\n  main:\n    image: reg/crm:1\n"
    )
    return repo


def test_a_clean_repo_gives_a_valid_log_without_results(template_repo: Path) -> None:
    repo = template_repo
    code, log = _sarif(repo)
    assert code == 0
    _validator().validate(log)
    (run,) = log["runs"]
    assert run["results"] == []
    assert run["tool"]["driver"]["name"] == "gitops-engine"
    assert run["tool"]["driver"]["version"] == __version__
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(RULES)


def test_one_result_per_finding_with_file_line_and_rule(broken: Path) -> None:
    code, text_output = run_cli(["validate"], broken)
    findings = [line for line in text_output.splitlines() if re.match(r"^\S+:\d+:\d+: |^\S+\.yaml: ", line)]
    code, log = _sarif(broken)
    assert code == 1
    _validator().validate(log)
    (run,) = log["runs"]
    results = run["results"]
    assert len(results) == len(findings) == 6
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result in results:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert location["physicalLocation"]["region"]["startLine"] >= 1
    by_file = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: (
            r["ruleId"],
            r["level"],
            r["locations"][0]["physicalLocation"]["region"],
        )
        for r in results
    }
    assert by_file["workloads/catalog/media-service/score.yaml"] == (
        "GE400",
        "error",
        {"startLine": 4, "startColumn": 1},
    )
    assert by_file["definitions/redis/redis-managed.yaml"][0:2] == ("GE001", "error")
    assert by_file[".github/CODEOWNERS"] == ("GE500", "warning", {"startLine": 5, "startColumn": 1})
    messages = {r["message"]["text"] for r in results}
    assert any("unknown key 'surprise'" in m for m in messages), messages


def test_the_schema_check_would_notice_a_broken_log(template_repo: Path) -> None:
    repo = template_repo
    _, log = _sarif(repo)
    log["runs"][0]["results"] = [{"ruleId": "GE400", "level": "fatal", "message": {"text": "x"}}]
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(log)


def test_pre_commit_hook_runs_validate_on_the_engine_sources() -> None:
    hooks = yamlio.load_document((ROOT / ".pre-commit-hooks.yaml").read_text(), ".pre-commit-hooks.yaml").data
    (hook,) = hooks
    assert hook["id"] == "gitops-engine-validate"
    assert hook["entry"] == "gitops-engine validate"
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    paths = [
        "platform.yaml",
        "environments/production.yaml",
        "definitions/postgres/pg.yaml",
        "workloads/team/app/score.yaml",
        "workloads/team/app/config.txt",
        ".github/CODEOWNERS",
        "CODEOWNERS",
        "docs/CODEOWNERS",
        "rendered/production/team/app/deployment-app.yaml",
        "README.md",
        "deploy/flux/production.yaml",
        ".github/workflows/process.yml",
        "x/platform.yaml",
    ]
    # The hook runs exactly when a file the engine reads changes.
    assert [bool(files.search(p)) for p in paths] == [is_source_path(p) for p in paths]
    assert sum(is_source_path(p) for p in paths) == 8


@pytest.mark.parametrize(
    ("path", "message", "rule"),
    [
        ("platform.yaml", "environments: expected a list", "GE100"),
        ("environments/staging.yaml", "type: expected a string", "GE200"),
        ("definitions/redis/r.yaml", "template.outputs: undefined value", "GE300"),
        ("definitions/redis/r.yaml", "invalid YAML: did not find", "GE001"),
        ("workloads/a/b/score.yaml", "containers: required", "GE400"),
        ("workloads/a/b/score.yaml", "not UTF-8 text (invalid start byte): save the file as UTF-8", "GE001"),
        (".github/CODEOWNERS", "workloads/a/ has no code owner", "GE500"),
        ("rendered/production/a/b", "something else", "GE900"),
    ],
)
def test_rule_of_each_kind_of_finding(path: str, message: str, rule: str) -> None:
    from gitops_engine.errors import Finding
    from gitops_engine.sarif import rule_of

    assert rule_of(Finding(path, 1, 1, message)) == rule

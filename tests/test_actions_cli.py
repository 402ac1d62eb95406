"""GitHub Actions conventions through the real CLI: annotations, job summary, step outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_engine.cli import main
from gitops_engine.commands.init import create_platform_repo

TARGET = "workloads/catalog/media-service/score.yaml"  # a workload no other workload looks up


def _break(platform: Path) -> int:
    """Add an unknown key under the first container; returns its line number."""
    path = platform / TARGET
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.lstrip().startswith("image: "))
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines.insert(index + 1, f"{indent}imagePullPolicy: Always\n")
    path.write_text("".join(lines))
    return index + 2


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """The real CLI with an explicit GitHub Actions environment (empty values unset a variable)."""
    result = CliRunner().invoke(main, [*args, "--repo", str(cwd)], env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture()
def platform(tmp_path: Path) -> Path:
    repo = tmp_path / "platform"
    create_platform_repo(repo)
    return repo


def test_validate_in_github_actions_annotates_and_summarises(platform: Path, tmp_path: Path) -> None:
    line = _break(platform)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}

    code, output = run_cli(["validate", "--format", "github"], platform, env)

    assert code == 1
    lines = output.splitlines()
    annotations = [line for line in lines if line.startswith("::error ")]
    assert len(annotations) == 1
    assert annotations[0].startswith(
        f"::error file={TARGET},line={line},col=5,title=gitops-engine%3A catalog/media-service::"
    )
    assert "unknown key 'imagePullPolicy'" in annotations[0]
    text = summary.read_text()
    assert text.startswith("## gitops-engine validate\n")
    assert f"| `{TARGET}` | {line} |" in text


def test_validate_outside_github_actions_writes_no_annotation(platform: Path, tmp_path: Path) -> None:
    line = _break(platform)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": str(summary)}

    code, output = run_cli(["validate"], platform, env)

    assert code == 1
    assert "::error" not in output
    assert output.splitlines()[0].startswith(f"{TARGET}:{line}:5: containers.")
    assert not summary.exists()


def test_process_writes_step_outputs(platform: Path, tmp_path: Path) -> None:
    import subprocess

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(platform), str(remote)], check=True)
    subprocess.run(["git", "remote", "add", "origin", str(remote)], cwd=platform, check=True)
    outputs = tmp_path / "outputs"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md"),
    }

    code, output = run_cli(["process", "--forge", "local"], platform, env)

    assert code == 0, output
    assert outputs.read_text().splitlines() == ["committed=", "opened=0", "updated=0", "closed=0", "failed=0"]

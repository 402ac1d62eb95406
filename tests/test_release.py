"""Releases: one version everywhere, the sdist and wheel build and pass `twine check` as the release workflow
builds and checks them, and the release notes come from CHANGELOG.md."""

from __future__ import annotations

import importlib.metadata
import runpy
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from testing.cli import run_cli

from gitops_engine import __version__, yamlio

ROOT = Path(__file__).resolve().parent.parent
NOTES = runpy.run_path(str(ROOT / ".github" / "scripts" / "release_notes.py"))


def test_one_version_everywhere(tmp_path: Path) -> None:
    code, output = run_cli(["--version"], tmp_path)
    assert (code, output) == (0, f"gitops-engine, version {__version__}\n")
    assert importlib.metadata.version("gitops-engine") == __version__
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject
    template = (ROOT / "platform-repo-template" / ".github" / "workflows" / "gitops-engine.yml").read_text()
    assert f"uses: gitops-engine/gitops-engine@v{__version__}\n" in template
    assert f"gitops-engine/gitops-engine@v{__version__}" in (ROOT / "action.yml").read_text(encoding="utf-8")


def test_the_changelog_has_a_section_for_this_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "## [Unreleased]\n" in text
    body = NOTES["section"](text, __version__)
    assert body is not None and body.startswith("### Added\n"), body
    assert "\n## " not in body and f"[{__version__}]: " not in body


def test_release_notes_are_one_section(tmp_path: Path) -> None:
    text = (
        "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2027-01-02\n\n### Fixed\n- b\n\n"
        "## [1.0.0] - 2026-12-31\n\n### Added\n- a\n\n[1.1.0]: https://example.com/1.1.0\n"
    )
    section = NOTES["section"]
    assert section(text, "1.1.0") == "### Fixed\n- b\n"
    assert section(text, "1.0.0") == "### Added\n- a\n"
    assert section(text, "1.0") is None
    assert section("## [2.0.0] - 2027-01-01\n\n## [1.0.0] - 2026-01-01\n- x\n", "2.0.0") is None  # empty
    script = ROOT / ".github" / "scripts" / "release_notes.py"
    missing = subprocess.run(
        [sys.executable, str(script), "v9.9.9"], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 1 and "no section '## [9.9.9]" in missing.stderr
    found = subprocess.run(
        [sys.executable, str(script), f"v{__version__}"], capture_output=True, text=True, check=False
    )
    assert found.returncode == 0 and found.stdout.startswith("### Added\n")


def _release_steps() -> list[dict[str, Any]]:
    data = yamlio.load_document((ROOT / ".github/workflows/release.yml").read_text(), "release.yml").data
    return [step for job in data["jobs"].values() for step in job["steps"]]


def test_release_workflow_builds_checks_and_publishes_with_trusted_publishing() -> None:
    data = yamlio.load_document((ROOT / ".github/workflows/release.yml").read_text(), "release.yml").data
    assert data["on"] == {"push": {"tags": ["v*"]}}
    assert data["permissions"] == {}
    jobs = data["jobs"]
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}
    assert jobs["pypi"]["environment"]["name"] == "pypi"
    assert jobs["github-release"]["permissions"] == {"contents": "write"}
    runs = "\n".join(str(step.get("run", "")) for step in _release_steps())
    assert "python -m build" in runs and "twine check --strict dist/*" in runs
    assert "release_notes.py" in runs and "--notes-file release-notes.md" in runs
    publish = [
        s for s in _release_steps() if str(s.get("uses", "")).startswith("pypa/gh-action-pypi-publish@")
    ]
    assert len(publish) == 1 and "password" not in (publish[0].get("with") or {})


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` as the release workflow runs it, offline: --no-isolation uses the hatchling of the test
    environment instead of downloading one."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_build_makes_an_sdist_and_a_wheel_of_this_version(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    assert names == [
        f"gitops_engine-{__version__}-py3-none-any.whl",
        f"gitops_engine-{__version__}.tar.gz",
    ]
    with zipfile.ZipFile(dist / names[0]) as wheel:
        files = set(wheel.namelist())
    # The template and the schemas travel in the wheel: `init` and validation need them.
    assert "gitops_engine/_template/platform.yaml" in files
    assert "gitops_engine/schemas/score-v1b1.json" in files
    assert "gitops_engine/py.typed" in files
    assert not any(".venv" in f or "__pycache__" in f for f in files)


def test_twine_check_passes(dist: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(dist.iterdir()))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout

"""The GitHub Action (action.yml) runs as GitHub runs it: its key, install and run steps are executed as the bash
scripts they are, with the environment the runner would give them (GITHUB_ACTION_PATH pointed at this checkout,
step outputs in files, inputs through `env:`). Only the steps of other actions (setup-python, cache) are left
out: the test's Python stands for the one setup-python provides, and there is no cache to restore.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from testing.repos import GIT_ENV, git

from gitops_engine import __version__, yamlio
from gitops_engine.commands.init import create_platform_repo

ROOT = Path(__file__).resolve().parent.parent
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def _action() -> dict[str, Any]:
    data = yamlio.load_document((ROOT / "action.yml").read_text(encoding="utf-8"), "action.yml").data
    assert isinstance(data, dict)
    return data


def _outputs(path: Path) -> dict[str, str]:
    """A GITHUB_OUTPUT file as the runner reads it (name=value lines; no heredocs are expected here)."""
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if line)


class Runner:
    """Runs the action's bash steps one after another, keeping what GitHub keeps between them."""

    def __init__(self, tmp: Path, inputs: dict[str, str], cache_hit: str = "") -> None:
        self.tmp = tmp
        self.runner_temp = tmp / "runner-temp"
        self.runner_temp.mkdir(exist_ok=True)
        self.path_file = tmp / "github-path"
        self.path_file.touch()
        defaults = {name: str(spec["default"]) for name, spec in _action()["inputs"].items()}
        self.context: dict[str, str] = {f"inputs.{k}": v for k, v in {**defaults, **inputs}.items()}
        self.context["steps.python.outputs.python-version"] = f"{sys.version_info[0]}.{sys.version_info[1]}"
        self.context["steps.python.outputs.python-path"] = sys.executable
        self.context["steps.cache.outputs.cache-hit"] = cache_hit
        self.step_outputs: dict[str, dict[str, str]] = {}

    def expand(self, value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("steps.") and ".outputs." in name:
                step, _, output = name[len("steps.") :].partition(".outputs.")
                if step in self.step_outputs:
                    return self.step_outputs[step].get(output, "")
            assert name in self.context, f"the test does not know the expression {name!r}"
            return self.context[name]

        return EXPRESSION.sub(one, value)

    def run(self, step_id: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        (step,) = [s for s in _action()["runs"]["steps"] if s.get("id") == step_id]
        assert step["shell"] == "bash"
        output = self.tmp / f"output-{step_id}"
        env = {
            **os.environ,
            **GIT_ENV,
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_PATH": str(self.path_file),
            "GITHUB_STEP_SUMMARY": str(self.tmp / "summary.md"),
            "RUNNER_TEMP": str(self.runner_temp),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
        }
        env.pop("VIRTUAL_ENV", None)
        env.update({name: self.expand(str(value)) for name, value in (step.get("env") or {}).items()})
        workdir = cwd or Path(self.expand(str(step.get("working-directory", "."))))
        # `bash -e {0}`, GitHub's command line for `shell: bash`.
        script = self.tmp / f"{step_id}.sh"
        script.write_text(step["run"], encoding="utf-8")
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        self.step_outputs[step_id] = _outputs(output)
        return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """The key and install steps, once for the module (a fresh virtual environment and `pip install` of this
    checkout: the slow part)."""
    tmp = tmp_path_factory.mktemp("action")
    runner = Runner(tmp, {})
    key = runner.run("key")
    assert key.returncode == 0, key.stderr
    install = runner.run("install")
    assert install.returncode == 0, install.stdout + install.stderr
    return runner


def test_key_names_the_python_and_the_engine_sources(installed: Runner, tmp_path: Path) -> None:
    key = installed.step_outputs["key"]["key"]
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert re.fullmatch(rf"gitops-engine-Linux-X64-py{re.escape(python)}-[0-9a-f]{{16}}", key), key
    assert installed.step_outputs["key"]["venv"] == f"{installed.runner_temp}/gitops-engine/{key}"
    # The same sources give the same key: a second runner computes it again.
    again = Runner(tmp_path, {})
    assert again.run("key").returncode == 0
    assert again.step_outputs["key"]["key"] == key


def test_install_puts_this_engine_on_the_path(installed: Runner) -> None:
    venv = Path(installed.step_outputs["install"]["venv"])
    assert installed.path_file.read_text(encoding="utf-8") == f"{venv}/bin\n"
    version = subprocess.run(
        [str(venv / "bin" / "gitops-engine"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout == f"gitops-engine, version {__version__}\n"
    # Installed, not linked to the checkout: the template travels inside the package.
    probe = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import gitops_engine, sys; sys.stdout.write(gitops_engine.__file__)",
        ],
        cwd=installed.tmp,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(venv)), probe.stdout


def test_a_restored_environment_is_reused(installed: Runner) -> None:
    venv = Path(installed.step_outputs["install"]["venv"])
    marker = venv / "restored-from-cache"
    marker.write_text("x")
    try:
        installed.context["steps.cache.outputs.cache-hit"] = "true"
        result = installed.run("install")
        assert result.returncode == 0, result.stderr
        assert marker.exists(), "a working cached environment must not be rebuilt"
    finally:
        installed.context["steps.cache.outputs.cache-hit"] = ""
        marker.unlink(missing_ok=True)


def test_run_step_passes_args_and_the_engine_outputs(installed: Runner, tmp_path: Path) -> None:
    platform = tmp_path / "my platform"  # a space: the working directory and args are quoted right
    create_platform_repo(platform)
    git(tmp_path, "clone", "--quiet", "--bare", str(platform), str(tmp_path / "remote.git"))
    git(platform, "remote", "add", "origin", str(tmp_path / "remote.git"))
    runner = installed
    runner.context["inputs.working-directory"] = str(platform)
    runner.context["inputs.args"] = "process --forge 'local'"
    try:
        result = runner.run("run")
    finally:
        runner.context["inputs.working-directory"] = "."
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to do: main" in result.stdout
    # The action's outputs are the run step's outputs, which the engine wrote.
    outputs = runner.step_outputs["run"]
    assert outputs == {"committed": "", "opened": "0", "updated": "0", "closed": "0", "failed": "0"}
    declared = _action()["outputs"]
    assert {name: runner.expand(spec["value"]) for name, spec in declared.items()} == outputs


def test_run_step_never_evaluates_its_args(installed: Runner, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    installed.context["inputs.args"] = f"validate --repo $(touch {canary}) `touch {canary}`"
    result = installed.run("run", cwd=tmp_path)
    assert not canary.exists()
    # The words reached the engine as written (and click refuses the extra ones).
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Got unexpected extra arguments ({canary}) `touch {canary}`)" in result.stderr


def test_run_step_fails_with_the_engine(installed: Runner, tmp_path: Path) -> None:
    installed.context["inputs.args"] = "validate"
    result = installed.run("run", cwd=tmp_path)  # not a git repository
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("Error: ")

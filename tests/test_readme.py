"""The README's two first-screen commands stay true: the test command is what .ci/run runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_first_screen_has_exactly_two_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[0] == "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/gitops-engine demo"
    assert commands[1].endswith(".venv/bin/python -m pytest -n 2")


def test_ci_runs_the_readme_install_and_test_steps() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    install, _, test = _readme_commands()[1].rpartition(" && ")
    assert install in ci
    assert ".venv/bin/python -m pytest -n 2" in ci
    assert test == ".venv/bin/python -m pytest -n 2"

"""The real command line, run in-process through click's runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner

from gitops_engine.cli import main


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_cli(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run `gitops-engine ARGS` in `cwd` through click's CliRunner: (exit code, stdout and stderr)."""
    runner = CliRunner()
    env = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": "", "GITHUB_OUTPUT": ""}
    with _cwd(cwd):
        result = runner.invoke(main, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output

"""Fault injection into a real engine process, from the outside: nothing in `gitops_engine` knows about it.

`fault_env` is the environment for a `python -m gitops_engine ...` (or `python -c ...`) subprocess that loads
`killpoints/sitecustomize.py` at start-up: it counts the process's write steps (a git command that writes, a rename
in the local forge's store, an HTTP write), logs them to a file and sends the process SIGKILL just before the
Nth. The fake GitHub's own faults (errors, rate limits, lost responses) are `FakeGitHub.fail` and friends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

KILLPOINTS = Path(__file__).resolve().parent / "killpoints"


def fault_env(
    *,
    kill_at: int = 0,
    log: Path | None = None,
    no_sleep: bool = False,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`base` (default: this process's environment without GITOPS_ENGINE_* and GITHUB_* variables) with the
    failpoints on PYTHONPATH: SIGKILL just before write step `kill_at` (0: never), one line a step appended to
    `log`, and with `no_sleep` a virtual clock that sleeping moves (the GitHub forge's pacing costs no time)."""
    if base is None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_ENGINE_", "GITHUB_"))}
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(KILLPOINTS), env.get("PYTHONPATH", "")]))
    if kill_at:
        env["GITOPS_ENGINE_TEST_KILL_AT"] = str(kill_at)
    if log is not None:
        env["GITOPS_ENGINE_TEST_WRITE_LOG"] = str(log)
    if no_sleep:
        env["GITOPS_ENGINE_TEST_NO_SLEEP"] = "1"
    return env


def run_engine(
    cwd: Path, args: Sequence[str], env: Mapping[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m gitops_engine ARGS` in `cwd` with `env` (see fault_env): its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "gitops_engine", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )

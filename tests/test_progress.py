"""The progress display: a live counter on stderr when stderr is a terminal (a real pseudo-terminal here), silent
when it is not or under machine-readable formats, and `::group::` sections under GitHub Actions. What goes to
stdout is the same in every mode."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.repos import GIT_ENV, git

COUNTER = re.compile(r"\r\x1b\[K")


def _engine() -> list[str]:
    script = Path(sys.executable).with_name("gitops-engine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gitops_engine"]


def _run(args: list[str], cwd: Path, *, terminal: bool) -> tuple[int, str, str]:
    """The real CLI in a process of its own: (exit code, stdout, stderr); stderr is a pty when `terminal`."""
    env = {**os.environ, **GIT_ENV, "TERM": "xterm"}
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    if not terminal:
        proc = subprocess.run(
            [*_engine(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        return proc.returncode, proc.stdout, proc.stderr
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*_engine(), *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=follower,
            stdin=subprocess.DEVNULL,
        )
        os.close(follower)
        follower = -1
        chunks: list[bytes] = []
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(leader, 65536)
            except OSError:  # the other side closed: the process is done with stderr
                break
            if not data:
                break
            chunks.append(data)
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=300)
        if proc.stdout:
            proc.stdout.close()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    return code, stdout, b"".join(chunks).decode()


@pytest.fixture
def platform(template_repo: Path) -> Path:
    """A fresh copy of `gitops-engine init`'s repo (conftest)."""
    return template_repo


def test_render_counts_units_on_a_terminal(platform: Path) -> None:
    code, stdout, stderr = _run(["render", "--check"], platform, terminal=True)
    assert code == 0, stdout + stderr
    assert stdout == "rendered/ is up to date\n"
    draws = [d for d in COUNTER.split(stderr) if d]
    assert draws[0] == "units rendered: 0/27"
    assert draws[-1] == "units rendered: 27/27"
    assert all(re.fullmatch(r"units rendered: \d+/27", d) for d in draws), draws
    # The counter is cleared before the command's own output, and nothing else reaches stderr.
    assert stderr.endswith("\r\x1b[K")


def test_nothing_on_stderr_when_it_is_not_a_terminal(platform: Path) -> None:
    code, stdout, stderr = _run(["render", "--check"], platform, terminal=False)
    assert (code, stdout, stderr) == (0, "rendered/ is up to date\n", "")


def test_json_output_stays_quiet_on_a_terminal(platform: Path) -> None:
    code, stdout, stderr = _run(["validate", "--format", "json"], platform, terminal=True)
    assert code == 0
    assert stderr == ""
    assert stdout.startswith("{\n")
    code, stdout, stderr = _run(["validate"], platform, terminal=True)
    assert (code, stdout) == (0, "ok: 9 workloads in 3 environments are valid\n")
    assert "units rendered: 27/27" in stderr


def test_process_counts_pull_requests_written_on_a_terminal(platform: Path, tmp_path: Path) -> None:
    repo = tmp_path / "p"
    shutil.copytree(platform, repo)
    git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(tmp_path / "remote.git"))
    git(repo, "remote", "add", "origin", str(tmp_path / "remote.git"))
    definition = repo / "definitions" / "workload" / "workload-production.yaml"
    definition.write_text(definition.read_text().replace("replicas: 3", "replicas: 4"))
    git(repo, "commit", "--quiet", "-am", "four replicas in production")
    git(repo, "push", "--quiet", "origin", "main")
    code, stdout, stderr = _run(["process", "--forge", "local"], repo, terminal=True)
    assert code == 0, stdout + stderr
    opened = len(re.findall(r"^opened #\d+ Update ", stdout, re.M))
    assert opened == 9, stdout
    draws = [d for d in COUNTER.split(stderr) if d]
    assert draws[0] == "reconciling main"
    assert f"reconciling main, {opened} pull requests written" in draws
    assert stderr.endswith("\r\x1b[K")


def test_github_actions_get_groups(platform: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gitops_engine.cli import main

    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md"), "GITHUB_OUTPUT": ""}
    result = CliRunner().invoke(
        main, ["render", "--check", "--repo", str(platform)], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0
    assert result.output == (
        "::group::gitops-engine render: 9 workloads in 3 environments\n::endgroup::\nrendered/ is up to date\n"
    )
    result = CliRunner().invoke(main, ["validate", "--repo", str(platform)], env=env, catch_exceptions=False)
    lines = result.output.splitlines()
    assert lines[0] == "::group::gitops-engine validate: 9 workloads in 3 environments"
    assert lines[1] == "::endgroup::"
    assert lines[-1] == "ok: 9 workloads in 3 environments are valid"
    # Machine-readable output is never grouped.
    result = CliRunner().invoke(main, ["validate", "--format", "sarif", "--repo", str(platform)], env=env)
    assert result.output.startswith("{\n")


def test_outside_a_terminal_the_cli_output_is_unchanged(platform: Path) -> None:
    assert run_cli(["render", "--check", "--repo", str(platform)], platform) == (
        0,
        "rendered/ is up to date\n",
    )

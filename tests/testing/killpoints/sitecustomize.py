"""Failpoints for crash tests, driven from the tests and never from the engine: kill this process at a write step.

Python imports `sitecustomize` at start-up from any folder on PYTHONPATH. `testing.faults.fault_env` puts this
folder there for a `python -m gitops_engine …` subprocess and sets:

- `GITOPS_ENGINE_TEST_KILL_AT=N`: just before the Nth write step starts, the process sends itself SIGKILL (a real
  kill: no exception, no `finally`, no atexit; a git child already finished, the next never starts);
- `GITOPS_ENGINE_TEST_WRITE_LOG=FILE`: append one line per write step to FILE (`git push`, `forge replace
  pulls/3.json`, `http POST /repos/o/r/pulls`), so a test can count the steps of an uninterrupted run;
- `GITOPS_ENGINE_TEST_NO_SLEEP=1`: `time.sleep` only moves a virtual clock that `time.time` follows, so the GitHub
  forge's pacing (a second between writes) costs no wall time in a subprocess.

Write steps are the boundaries where a kill leaves different state behind:
- a git command that writes (to the clone, or through a push to the remote), whatever the code that starts it;
- a file rename (`os.replace`): how the local forge commits each write of its store;
- an HTTP request other than GET or HEAD sent with httpx (the GitHub forge's writes to the stand-in).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

# git subcommands that write objects or refs (reads such as cat-file, ls-remote, log, rev-parse are not steps).
_GIT_WRITES = frozenset(
    {
        "commit-tree",
        "fast-import",
        "fetch",
        "hash-object",
        "merge-tree",  # --write-tree writes tree objects
        "mktree",
        "pack-refs",
        "push",
        "symbolic-ref",
        "update-ref",
    }
)
_KILL_AT = int(os.environ.get("GITOPS_ENGINE_TEST_KILL_AT") or 0)
_LOG = os.environ.get("GITOPS_ENGINE_TEST_WRITE_LOG") or ""
_steps = 0
_pid = os.getpid()  # forked planning workers only read; they never count


def _step(what: str) -> None:
    global _steps
    if os.getpid() != _pid:
        return
    _steps += 1
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{_steps} {what}\n")
    if _steps == _KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)


def _git_subcommand(args: Any) -> str | None:
    if isinstance(args, (str, bytes)) or not args:
        return None
    argv = [os.fsdecode(a) for a in args]
    if os.path.basename(argv[0]) != "git":
        return None
    rest = argv[1:]
    while rest and rest[0].startswith("-"):  # git's own options: `-c key=value`, `-C dir`, `--no-pager`
        rest = rest[2:] if rest[0] in ("-c", "-C") else rest[1:]
    return rest[0] if rest else None


def _install() -> None:
    original_popen = subprocess.Popen

    class _Popen(original_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            command = _git_subcommand(args)
            if command in _GIT_WRITES:
                _step(f"git {command}")
            super().__init__(args, *rest, **kwargs)

    subprocess.Popen = _Popen  # type: ignore[misc]

    original_replace = os.replace

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        target = os.fsdecode(dst)
        _step("forge replace " + "/".join(target.split(os.sep)[-2:]))
        original_replace(src, dst, **kwargs)

    os.replace = replace

    try:
        import httpx
    except ImportError:  # pragma: no cover - the engine depends on httpx
        return
    original_send = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if request.method not in ("GET", "HEAD"):
            _step(f"http {request.method} {request.url.path}")
        return original_send(self, request, **kwargs)

    httpx.Client.send = send  # type: ignore[method-assign]


def _virtual_clock() -> None:
    offset = [0.0]
    real_time = time.time

    def sleep(seconds: float) -> None:
        offset[0] += max(seconds, 0.0)

    def now() -> float:
        return real_time() + offset[0]

    time.sleep = sleep
    time.time = now


if _KILL_AT or _LOG:
    _install()
if os.environ.get("GITOPS_ENGINE_TEST_NO_SLEEP") == "1":
    _virtual_clock()

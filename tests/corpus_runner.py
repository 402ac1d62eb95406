"""The bad-input corpus (tests/data/bad-inputs/<category>/<case>.yaml): loading the cases, applying them to a copy of
the real template repo, and running the real CLI on them under a memory limit and a time limit.

A case is a small patch to a fresh repo made by `gitops-engine init`, the command to run and what it must print:

    about: what the mistake is (one line, for people)
    command: render                # validate | render | process (process: committed and pushed, local forge)
    replace:                       # exact text replacements; each `old` must occur exactly once (`new`: pieces)
      workloads/identity/mailer/score.yaml:
        - old: "    image: ghcr.io/example-org/mailer:2.0.3"
          new: "    imagee: ghcr.io/example-org/mailer:2.0.3"
    write:                         # whole files: text, or a list of pieces (text, or {repeat: text, times: N})
      workloads/identity/mailer/extra.txt: "hello"
    append:                        # text (or pieces) added at the end of a file
      definitions/postgres/postgres-incluster.yaml: "..."
    delete: [workloads/identity/mailer/welcome.txt]
    commands:                      # argv lists run in the repo after the files (e.g. symlinks)
      - [ln, -s, /etc/passwd, workloads/identity/mailer/welcome.txt]
    sentinel: payments/fraud-scoring   # the unit that must still render (default); its image tag is bumped
    others: render                 # render (default): every other unit still renders with --keep-going;
                                   # nothing: the mistake stops every unit (platform-wide settings)
    exit: 1
    messages:                      # every finding line the command prints, exactly and in order
      - "workloads/identity/mailer/score.yaml:15:5: containers.mailer: unknown key 'imagee' ..."

Each case runs in a child forked from one server process that has already imported the engine (`python
corpus_runner.py serve`), so a case costs what the command costs, not an interpreter start. The child runs the real
click entry point with `RLIMIT_AS` set, its stdout and stderr in files; the server kills it after the time limit.
An exception escaping the CLI is printed as the interpreter would print it (a traceback, exit 1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).parent / "data" / "bad-inputs"
CATEGORIES = (
    "score",
    "referenced-files",
    "names",
    "placeholders",
    "definitions",
    "templates",
    "secrets",
    "environments",
    "platform",
    "process",
)
MEMORY_LIMIT = 500 * 1024 * 1024  # bytes of address space for one run
TIME_LIMIT = 10.0  # seconds for one run
SENTINEL = "payments/fraud-scoring"
COMMANDS = {"validate": ["validate"], "render": ["render"], "process": ["process", "--forge", "local"]}
CASE_KEYS = {
    "about",
    "command",
    "replace",
    "write",
    "append",
    "delete",
    "commands",
    "sentinel",
    "others",
    "exit",
    "messages",
}
# A finding line: `path:line:col: message` (`path: message` where no line applies, a missing file say), or an
# error line of the CLI or of `process`.
FINDING = re.compile(r"^(?:(?:error|Error): |[^\s:][^:]*:\d+:\d+: |[^\s:]*[/.][^\s:]*: )")


Pieces = str | list[Any]


@dataclass(frozen=True)
class Case:
    id: str  # <category>/<name>
    path: Path
    about: str
    command: str
    replace: Mapping[str, list[tuple[str, Pieces]]]
    write: Mapping[str, Pieces]
    append: Mapping[str, Pieces]
    delete: tuple[str, ...]
    commands: tuple[tuple[str, ...], ...]
    sentinel: str
    others: str
    exit: int
    messages: tuple[str, ...]

    @property
    def category(self) -> str:
        return self.id.partition("/")[0]


def load_cases(root: Path = CORPUS) -> list[Case]:
    """Every case under `root`, sorted by id; a malformed case file fails loudly."""
    return [load_case(path, root) for path in sorted(root.glob("*/*.yaml"))]


def load_case(path: Path, root: Path = CORPUS) -> Case:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.relative_to(root).as_posix()
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a case is a mapping")
    unknown = set(data) - CASE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    if data.get("command") not in COMMANDS:
        raise ValueError(f"{where}: command must be one of {sorted(COMMANDS)}")
    if data.get("others", "render") not in ("render", "nothing"):
        raise ValueError(f"{where}: others must be 'render' or 'nothing'")
    replace = {
        file: [(str(edit["old"]), edit["new"]) for edit in edits]
        for file, edits in (data.get("replace") or {}).items()
    }
    return Case(
        id=path.relative_to(root).with_suffix("").as_posix(),
        path=path,
        about=str(data.get("about", "")),
        command=data["command"],
        replace=replace,
        write=data.get("write") or {},
        append=data.get("append") or {},
        delete=tuple(data.get("delete") or ()),
        commands=tuple(tuple(str(arg) for arg in argv) for argv in data.get("commands") or ()),
        sentinel=str(data.get("sentinel", SENTINEL)),
        others=str(data.get("others", "render")),
        exit=int(data["exit"]),
        messages=tuple(str(line) for line in data.get("messages") or ()),
    )


# -- applying a case ---------------------------------------------------------------------------------------------


def text_of(pieces: Pieces) -> str:
    """A file's text from pieces: plain text, or `{repeat: text, times: n}` for large or deeply nested input."""
    if isinstance(pieces, str):
        return pieces
    parts = []
    for piece in pieces:
        if isinstance(piece, str):
            parts.append(piece)
        else:
            parts.append(str(piece["repeat"]) * int(piece["times"]))
    return "".join(parts)


def apply_case(repo: Path, case: Case) -> None:
    """Write the case's patch into the work tree `repo`."""
    for rel, edits in case.replace.items():
        target = repo / rel
        text = target.read_text(encoding="utf-8")
        for old, new in edits:
            count = text.count(old)
            if count != 1:
                raise AssertionError(f"{case.id}: {old!r} occurs {count} times in {rel}, not once")
            text = text.replace(old, text_of(new))
        target.write_text(text, encoding="utf-8")
    for rel, pieces in case.write.items():
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text_of(pieces), encoding="utf-8")
    for rel, pieces in case.append.items():
        with (repo / rel).open("a", encoding="utf-8") as handle:
            handle.write(text_of(pieces))
    for rel in case.delete:
        (repo / rel).unlink()
    for argv in case.commands:
        subprocess.run(argv, cwd=repo, check=True, capture_output=True)


SENTINEL_TAG = "9.9.9-sentinel"
_IMAGE = re.compile(r"^(\s+image: \S+?):[^\s:]+$", re.MULTILINE)


def bump_sentinel(repo: Path, unit: str) -> str:
    """Change the image tag of `unit`'s first container: a change every environment's manifests must show."""
    score = repo / "workloads" / unit / "score.yaml"
    text = score.read_text(encoding="utf-8")
    bumped, count = _IMAGE.subn(rf"\1:{SENTINEL_TAG}", text, count=1)
    assert count == 1, f"no image line in {score}"
    score.write_text(bumped, encoding="utf-8")
    return SENTINEL_TAG


# -- what a run changed ------------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, bytes]:
    """Everything below `root` (the folder holding the case's repo, so a write beside the repo shows too) except
    git's own files: rendered files by content, other files by size and modification time, links by target."""
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.endswith(".git"))
        for name in [*filenames, *(d for d in dirnames if os.path.islink(os.path.join(dirpath, d)))]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = b"-> " + os.readlink(path).encode()
            elif "/rendered/" in f"/{rel}":
                found[rel] = path.read_bytes()
            else:
                stat = path.stat()
                found[rel] = f"{stat.st_size} {stat.st_mtime_ns}".encode()
    return found


def changed_paths(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> list[str]:
    return sorted(
        p for p in set(before) | set(after) if before.get(p) != after.get(p) and p != "<git status>"
    )


def finding_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if FINDING.match(line)]


# -- running the CLI ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    code: int  # exit code; -9 when killed for the time limit
    stdout: str
    stderr: str
    seconds: float
    max_rss_kb: int
    timed_out: bool = False
    findings: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class CliServer:
    """A server process with the engine imported, forking one child per run (see the module docstring)."""

    def __init__(self, warm: Path | None = None, python: str = sys.executable) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self._proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "serve", *([str(warm)] if warm else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def run(self, argv: list[str], cwd: Path, scratch: Path) -> Run:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        scratch.mkdir(parents=True, exist_ok=True)
        request = {
            "argv": argv,
            "cwd": str(cwd),
            "stdout": str(scratch / "stdout"),
            "stderr": str(scratch / "stderr"),
        }
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        reply = json.loads(self._proc.stdout.readline())
        run = Run(
            code=reply["code"],
            stdout=(scratch / "stdout").read_text(encoding="utf-8", errors="replace"),
            stderr=(scratch / "stderr").read_text(encoding="utf-8", errors="replace"),
            seconds=reply["seconds"],
            max_rss_kb=reply["max_rss_kb"],
            timed_out=reply["timed_out"],
        )
        run.findings = finding_lines(run.output)
        return run

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


def _serve(warm: Path | None) -> None:
    """The server loop: one JSON request per line in, one JSON reply per line out."""
    import importlib
    import pkgutil

    import gitops_engine.commands
    from gitops_engine import cli

    # Import every command module now, once, so that each forked child starts with the engine loaded.
    for module in pkgutil.iter_modules(gitops_engine.commands.__path__):
        importlib.import_module(f"gitops_engine.commands.{module.name}")
    for name in (
        "render",
        "reconcile",
        "plan",
        "candidates",
        "batch",
        "loading",
        "matching",
        "forge.local",
        "templating",
    ):
        importlib.import_module(f"gitops_engine.{name}")
    if warm is not None:
        _warm_template_cache(warm)
    import gc

    gc.freeze()  # the children share the server's objects: keep the collector from touching (copying) them
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(cli.main, request)
        timed_out = False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - started > TIME_LIMIT:
                os.kill(pid, signal.SIGKILL)
                done, status, usage = os.wait4(pid, 0)
                timed_out = True
                break
            time.sleep(0.002)
        code = os.waitstatus_to_exitcode(status)
        reply = {
            "code": code,
            "seconds": round(time.monotonic() - started, 3),
            "max_rss_kb": usage.ru_maxrss,
            "timed_out": timed_out,
        }
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def _warm_template_cache(repo: Path) -> None:
    """Compile the definitions' templates of `repo` once, here, for every child: compiling is half of a run's cost
    and the engine caches compiled templates by their text (a pure function of it), so a case's own templates are
    still compiled in its child."""
    from gitops_engine import templating

    compile_template = getattr(templating, "_compile", None)
    if compile_template is None:
        return
    for path in sorted(repo.glob("definitions/*/*.yaml")):
        template = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("template") or {}
        for text in template.values():
            if isinstance(text, str):
                compile_template(text)


def _child(main: Any, request: dict[str, Any]) -> None:
    """In the forked child: limits, redirections, then the CLI exactly as the console script runs it."""
    import resource
    import traceback

    code = 1
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        os.chdir(request["cwd"])
        for fd, key in ((1, "stdout"), (2, "stderr")):
            target = os.open(request[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - the child exits right after
        sys.argv = ["gitops-engine", *request["argv"]]
        try:
            main(args=request["argv"], prog_name="gitops-engine")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()  # what the interpreter prints for an uncaught exception, and its exit code
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def copy_repo(source: Path, target: Path) -> Path:
    """A copy of a repo (or of a folder of repos) for one case, made cheap with hard links where nothing writes in
    place: git's objects, and rendered/ (the engine writes a temporary file and renames it). Every other file, the
    inputs a case edits among them, is copied."""

    def copy(src: str, dst: str) -> None:
        parts = Path(src).relative_to(source).parts
        if _linkable(parts):
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=copy)
    return target


def _linkable(parts: tuple[str, ...]) -> bool:
    for i, part in enumerate(parts[:-1]):
        if part.endswith(".git") and parts[i + 1] == "objects":
            return True  # a work tree's .git/objects or a bare repository's x.git/objects
        if part == "rendered" and (i == 0 or parts[i - 1] == "engine"):
            return True
    return False


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) <= 3:
        _serve(Path(sys.argv[2]) if len(sys.argv) == 3 else None)
    else:
        sys.exit("usage: corpus_runner.py serve [REPO whose templates to compile first]")

"""The `gitops-engine` executable's first stop: the command CI runs after every push starts without click.

`process` with nothing but its usual options (`--repo`, `--base`, `--head`, `--forge`, `--full`, `--dry-run`, each
once, each value plain) is run straight away: importing click and building every command's options cost ~25 ms
of a single workload change's start-up. Everything else, help, version, errors of usage and any spelling the
fast path does not know included, goes to `cli.main`, which stays the one definition of the command line; the
fast path accepts nothing that click would read differently, and an engine error it meets is printed by
`cli.py` as click's path prints it.
"""

from __future__ import annotations

import gc
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

_VALUED = ("--repo", "--base", "--head", "--forge")
_FLAGS = ("--full", "--dry-run")
_FORGES = ("local", "github")
_SOURCE_TRAILER = (
    "Gitops-Engine-Source"  # reconciled.SOURCE_TRAILER (importing it would import half the engine)
)
_FULL_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def main(args: Sequence[str] | None = None) -> NoReturn:
    """Run the command line: `args` as given after the program's name (default: sys.argv[1:]). It ends the process
    (and leaves the collector frozen on the way out): not for calling from a program that goes on."""
    options = None if _completing() else process_options(sys.argv[1:] if args is None else list(args))
    try:
        if options is None or not _libyaml():
            from gitops_engine.cli import main as cli

            cli(args)  # None: click reads sys.argv itself, as the executable always did
            raise AssertionError("click's main always exits")  # pragma: no cover
        _run(lambda: _process(options))
    finally:
        if "gitops_engine.git" in sys.modules:
            from gitops_engine.git import drop_early

            drop_early()
        # The interpreter's last collection walks every object the run made, for nothing: the process ends (~20 ms
        # of a single change). What is left is freed with the process; files are closed and flushed by now.
        gc.freeze()


def process_options(args: Sequence[str]) -> dict[str, str | bool] | None:
    """`process`'s options when `args` are `process` and options the fast path reads exactly as click does;
    None for anything else (click then reads them, errors and help included)."""
    if not args or args[0] != "process":
        return None
    options: dict[str, str | bool] = {}
    rest = list(args[1:])
    while rest:
        name, eq, value = rest.pop(0).partition("=")
        if name in _FLAGS and not eq and name not in options:
            options[name] = True
            continue
        if name not in _VALUED or name in options:
            return None  # unknown, repeated, a flag with a value, `--`, a positional argument
        if not eq:
            if not rest:
                return None
            value = rest.pop(0)
        if not value or value.startswith("-"):
            return None  # click may read these differently (or refuse them): let it
        options[name] = value
    forge = options.get("--forge")
    if forge is not None and forge not in _FORGES:
        return None
    return options if _plain_directory(str(options.get("--repo", "."))) else None


def _plain_directory(repo: str) -> bool:
    """Whether click's `Path(file_okay=False)` takes `repo` as it is: a readable folder. Anything else (a file,
    nothing at all) goes to click, which says what is wrong with it."""
    return os.path.isdir(repo) and os.access(repo, os.R_OK)


def _completing() -> bool:
    """Whether a shell asks for completions (click's `_<PROG>_COMPLETE` variable is set)."""
    return any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)


def _libyaml() -> bool:
    """Whether PyYAML has libyaml. Without it, the group's start-up warning names its line in cli.py: click's path
    says it as before."""
    from gitops_engine.yamlio import HAVE_LIBYAML

    return HAVE_LIBYAML


def _process(options: dict[str, str | bool]) -> int:
    """`cli.process`, with the same defaults."""

    def text(name: str) -> str | None:
        value = options.get(name)
        return value if isinstance(value, str) else None

    repo = text("--repo") or "."
    _start_early(repo, text("--base"))
    gc.disable()  # importing makes objects that live as long as the process: collecting them is wasted
    try:
        from gitops_engine.commands.process import process as run
        from gitops_engine.git import find_toplevel
    finally:
        gc.freeze()
        gc.enable()
    return run(
        find_toplevel(Path(repo)),
        base=text("--base"),
        head=text("--head"),
        full=bool(options.get("--full")),
        forge_name=text("--forge"),
        dry_run=bool(options.get("--dry-run")),
    )


def _start_early(repo: str, base: str | None) -> None:
    """Start the run's first git commands before the engine is imported (~100 ms): finding the work tree, and in
    its root, what `reconciled.sync_remote` asks first (the remote's branches, which wait for the remote; the
    clone's) and the `cat-file` pipe. Then two guesses, for the main the clone holds (in CI, the one the push
    made): where the engine's last complete run got to (`reconciled.reconciled_point`) and, given `--base`, what
    the range changes (`candidates.candidates_from_range`, for a range starting there). A command the run does
    not ask for the same way (a wrong guess) is stopped unused (see git.start_early); a test checks that a single
    change takes them all."""
    from gitops_engine import RENDER_VERSION
    from gitops_engine.git import (
        BATCH_ARGS,
        TOPLEVEL_ARGS,
        default_identity,
        diff_names_args,
        last_commit_args,
        read_local_ref,
        start_early,
    )
    from gitops_engine.publishing import BRANCH_PREFIX, MAIN

    start_early(repo, *TOPLEVEL_ARGS)
    if not os.path.exists(os.path.join(repo, ".git")):
        return  # not the work tree's root: its commands run elsewhere
    remote = f"refs/heads/{BRANCH_PREFIX}*", f"refs/gitops-engine/reconciled/r{RENDER_VERSION}"
    start_early(repo, "ls-remote", "origin", f"refs/heads/{MAIN}", *remote)
    start_early(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/remotes/origin/")
    start_early(repo, *BATCH_ARGS)
    main = read_local_ref(repo, f"refs/remotes/origin/{MAIN}")
    if main is None:
        return
    start_early(repo, *last_commit_args(main, f"{_SOURCE_TRAILER}: ", default_identity().email))
    if base is not None and _FULL_ID.fullmatch(base):
        start_early(repo, *diff_names_args(base, main))


def _run(command: Callable[[], int]) -> NoReturn:
    """Run a command and exit with its code; what it raises ends the run as click's standalone mode ends it."""
    from gitops_engine.errors import GitopsError

    try:
        code = command()
    except GitopsError as error:
        from gitops_engine.cli import report_error

        code = report_error(error)
    except (EOFError, KeyboardInterrupt, OSError) as error:
        from gitops_engine.cli import exit_as_click_would

        exit_as_click_would(error)
    sys.exit(code)

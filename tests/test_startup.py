"""Start-up: a single workload change imports only what it uses. Jinja2 (~60 ms), jsonschema (~80 ms) and httpx
(~50 ms) stay out of a run whose definitions need no Jinja (text with `{{ name.name }}` values), whose documents
are valid and whose forge is local; checked in a fresh interpreter, as the CLI runs, on real git repositories."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from testing.repos import commit_all, git, make_repo, write_files
from testing.small_platform import BASE_PLATFORM, PG_DEV_YAML

from gitops_engine import RENDER_VERSION
from gitops_engine.entry import process_options
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import default_identity
from gitops_engine.reconcile import process as process_repo

HEAVY = ("jinja2", "jsonschema", "httpx")
FILES = ("gitops-engine.lock", "manifest.yaml")
# Left out of the executable's single change besides: the command-line library (gitops_engine.entry's fast path), a
# thread pool and the logging it brings, temporary files (and the compression modules shutil brings), and difflib
# (pull-request bodies and mistakes only).
UNUSED = ("click", "concurrent.futures", "logging", "tempfile", "shutil", "bz2", "lzma", "difflib")


def _probe(args: list[str], cwd: Path) -> tuple[str, list[str]]:
    """Run the CLI's main in a fresh interpreter; its last output line: exit code and the heavy modules loaded."""
    probe = (
        "import sys\n"
        "from gitops_engine.cli import main\n"
        "try:\n"
        f"    code = main({args!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    *output, last = proc.stdout.splitlines()
    return last, output


def _world(root: Path, definitions: dict[str, str]) -> tuple[Path, Path, Path]:
    """BASE_PLATFORM (with `definitions` over it) on a bare remote, rendered and committed by the processor; the
    engine's clone and a developer's clone."""
    seed = make_repo(root / "seed", {**BASE_PLATFORM, **definitions}, message="Platform sources")
    remote, engine, dev = root / "remote.git", root / "engine", root / "dev"
    git(root, "clone", "--quiet", "--bare", str(seed), str(remote))
    git(root, "clone", "--quiet", str(remote), str(engine))
    report = process_repo(engine, LocalForge(remote), default_identity())
    assert report.committed and not report.findings, report
    git(root, "clone", "--quiet", str(remote), str(dev))
    return remote, engine, dev


def _bump_api(dev: Path) -> str:
    """A developer's new image for team-a/api, pushed; returns main before it."""
    return _bump(dev, "team-a/api", "api:1.0", "api:1.1")


def _bump(dev: Path, key: str, old: str, new: str) -> str:
    """A developer's new image for a workload, pushed; returns main before it."""
    before = git(dev, "rev-parse", "HEAD").strip()
    text = (dev / f"workloads/{key}/score.yaml").read_text()
    write_files(dev, {f"workloads/{key}/score.yaml": text.replace(old, new)})
    commit_all(dev, f"Bump {key}")
    git(dev, "push", "--quiet", "origin", "HEAD:main")
    return before


def test_a_single_change_with_plain_templates_imports_neither_jinja_nor_schema_nor_http(
    tmp_path: Path,
) -> None:
    _, engine, dev = _world(tmp_path, {})
    before = _bump_api(dev)

    assert _probe(["validate", "--base", before], dev) == (
        "0 []",
        ["ok: 1 workloads in 2 environments are valid"],
    )
    git(engine, "fetch", "--quiet", "origin")
    last, output = _probe(["process", "--base", before, "--forge", "local"], engine)
    assert last == "0 []", output
    assert git(engine, "show", "--name-only", "--format=%s", "origin/main").splitlines() == [
        "Render team-a/api",
        "",
        *(f"rendered/{env}/team-a/api/{name}" for env in ("development", "production") for name in FILES),
    ]


def test_a_template_with_a_filter_brings_jinja_in(tmp_path: Path) -> None:
    """The probe can fail: the same change, with a definition that needs Jinja (a filter), imports it."""
    upper = PG_DEV_YAML.replace("{{ environment.namespace }}", "{{ environment.namespace | lower }}")
    _, _, dev = _world(tmp_path, {"definitions/postgres/pg-dev.yaml": upper})
    before = _bump_api(dev)

    assert _probe(["validate", "--base", before], dev) == (
        "0 ['jinja2']",
        ["ok: 1 workloads in 2 environments are valid"],
    )


def test_a_change_rendering_no_filter_on_a_repo_whose_templates_use_filters_imports_no_jinja(
    tmp_path: Path,
) -> None:
    """A range's snapshot checks a definition's template when the range changes it or renders a unit of its type:
    team-b/web uses no resource, so pg-dev's filter is neither checked nor rendered. A full validate checks it."""
    upper = PG_DEV_YAML.replace("{{ environment.namespace }}", "{{ environment.namespace | lower }}")
    _, engine, dev = _world(tmp_path, {"definitions/postgres/pg-dev.yaml": upper})
    before = _bump(dev, "team-b/web", "web:2.0", "web:2.1")

    assert _probe(["validate", "--base", before], dev) == (
        "0 []",
        ["ok: 1 workloads in 2 environments are valid"],
    )
    git(engine, "fetch", "--quiet", "origin")
    last, output = _probe(["process", "--base", before, "--forge", "local"], engine)
    assert last == "0 []", output
    assert git(engine, "show", "--name-only", "--format=%s", "origin/main").splitlines() == [
        "Render team-b/web",
        "",
        *(f"rendered/{env}/team-b/web/{name}" for env in ("development", "production") for name in FILES),
    ]
    assert _probe(["validate"], dev) == ("0 ['jinja2']", ["ok: 2 workloads in 2 environments are valid"])


def _run_executable(args: list[str], cwd: Path) -> tuple[int, str, str, list[str]]:
    """`python -m gitops_engine ARGS` (the executable's entry point) in a fresh interpreter: exit code, stdout,
    stderr (with the git commands it started early and never used, if any), and which of HEAVY + UNUSED it
    imported (listed by the interpreter as it exits)."""
    probe = (
        "import atexit, sys\n"
        f"watched = {HEAVY + UNUSED!r}\n"
        "def report():\n"
        "    from gitops_engine.git import EARLY_UNUSED\n"
        "    sys.stderr.write(f'unused early: {EARLY_UNUSED}\\n')\n"
        "    sys.stderr.write(f'imported: {sorted(m for m in watched if m in sys.modules)}\\n')\n"
        "atexit.register(report)\n"
        "sys.argv = ['gitops-engine', *sys.argv[1:]]\n"
        "import runpy\n"
        "runpy.run_module('gitops_engine', run_name='__main__')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    *stderr, early, last = proc.stderr.splitlines()
    assert last.startswith("imported: ") and early.startswith("unused early: "), proc.stderr
    said = "".join(f"{line}\n" for line in stderr) + (early if early != "unused early: []" else "")
    return proc.returncode, proc.stdout, said, ast.literal_eval(last[len("imported: ") :])


def test_the_executable_runs_a_single_change_without_click_or_a_thread_pool(tmp_path: Path) -> None:
    _, engine, dev = _world(tmp_path, {})
    before = _bump_api(dev)
    git(engine, "fetch", "--quiet", "origin")

    code, out, err, imported = _run_executable(["process", "--base", before, "--forge", "local"], engine)

    assert (code, err, imported) == (0, "", [])
    head, commit = git(dev, "rev-parse", "HEAD")[:12], git(engine, "rev-parse", "origin/main")[:12]
    assert out == (
        f"plan: range reconcile of 1 candidate unit(s) at {head}: 1 to commit, 0 for pull requests, 0 failed\n"
        f"committed {commit} to main: 1 unit(s)\n"
        f"committed {commit} to main: team-a/api\n"
    )
    assert git(engine, "show", "--name-only", "--format=%s", "origin/main").splitlines() == [
        "Render team-a/api",
        "",
        *(f"rendered/{env}/team-a/api/{name}" for env in ("development", "production") for name in FILES),
    ]


def _both_paths(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ARGS through the executable's entry (gitops_engine.entry.main) and through click's command line
    (gitops_engine.cli.main), each in a fresh interpreter named gitops-engine; they must agree on exit code, stdout
    and stderr. Returns what they said."""
    said = []
    for module in ("gitops_engine.entry", "gitops_engine.cli"):
        probe = f"import sys\nsys.argv[0] = 'gitops-engine'\nfrom {module} import main\nmain({args!r})\n"
        proc = subprocess.run(
            [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, check=False
        )
        said.append((proc.returncode, proc.stdout, proc.stderr))
    assert said[0] == said[1], args
    return said[0]


def test_the_fast_path_says_what_click_says(tmp_path: Path) -> None:
    remote, engine, dev = _world(tmp_path / "world", {})
    before = _bump_api(dev)
    git(engine, "fetch", "--quiet", "origin")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "file.txt").write_text("x\n")

    dry = _both_paths(["process", "--dry-run", "--base", before, "--forge=local"], engine)
    assert dry[0] == 0 and dry[1].endswith("would commit team-a/api (workload): development, production\n")
    assert _both_paths(["process", "--repo", str(plain)], tmp_path) == (
        2,
        "",
        f"Error: {plain} is not inside a git repository: pass --repo DIR, or create one with "
        "`gitops-engine init DIR`\n",
    )
    assert _both_paths(["process", "--repo", str(remote), "--full"], tmp_path)[2] == (
        f"Error: {remote} is a bare repository: run gitops-engine in a clone\n"
    )
    # Spellings only click reads: a file for --repo, an unknown forge, a missing value, an unknown option, a
    # repeated one, help.
    assert _both_paths(["process", "--repo", str(plain / "file.txt")], tmp_path)[0] == 2
    assert _both_paths(["process", "--forge", "gitlab"], engine)[0] == 2
    assert _both_paths(["process", "--base"], engine)[0] == 2
    assert _both_paths(["process", "--bogus"], engine)[0] == 2
    assert _both_paths(["process", "--full", "--full", "--dry-run"], engine)[0] == 0
    assert _both_paths(["process", "--base", "-x", "--dry-run"], engine)[0] == 0  # click: a value
    assert _both_paths(["process", "--help"], engine)[1].startswith("Usage: gitops-engine process [OPTIONS]")


def test_what_the_fast_path_reads_and_what_it_leaves_to_click(tmp_path: Path) -> None:
    assert process_options(["process"]) == {}
    assert process_options(
        ["process", "--repo", str(tmp_path), "--base=abc", "--head", "h=1", "--forge", "github", "--full"]
    ) == {"--repo": str(tmp_path), "--base": "abc", "--head": "h=1", "--forge": "github", "--full": True}
    assert process_options(["process", "--dry-run", "--forge=local"]) == {
        "--dry-run": True,
        "--forge": "local",
    }
    for args in (
        [],
        ["validate"],
        ["--version"],
        ["process", "--help"],
        ["process", "-h"],
        ["process", "--base"],
        ["process", "--base="],
        ["process", "--base", "--full"],
        ["process", "--base", "a", "--base", "b"],
        ["process", "--full=yes"],
        ["process", "--forge", "gitlab"],
        ["process", "--repo", str(tmp_path / "missing")],
        ["process", "--", "--full"],
        ["process", "extra"],
    ):
        assert process_options(args) is None, args


def test_an_interrupt_or_a_closed_pipe_ends_the_run_as_click_ends_it(tmp_path: Path) -> None:
    for error, expected in (
        ("KeyboardInterrupt()", (1, "", "\nAborted!\n")),
        ("EOFError()", (1, "", "\nAborted!\n")),
        ("BrokenPipeError(32, 'Broken pipe')", (1, "", "")),
    ):
        probe = f"from gitops_engine.cli import exit_as_click_would\nexit_as_click_would({error})\n"
        proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
        assert (proc.returncode, proc.stdout, proc.stderr) == expected, error


def test_a_run_that_merges_a_pull_request_first_asks_the_remote_again(tmp_path: Path) -> None:
    """The executable asks the remote for its branches before the engine is imported; a run that then merges an
    auto-merge pull request moved the remote's main, so it asks again instead of rendering the old main (and
    retrying when its push is refused)."""
    remote, engine, dev = _world(tmp_path, {})
    pg = (dev / "definitions/postgres/pg-dev.yaml").read_text()
    write_files(dev, {"definitions/postgres/pg-dev.yaml": pg.replace("- port: 5432", "- port: 5433")})
    commit_all(dev, "pg-dev: port 5433")
    git(dev, "push", "--quiet", "origin", "HEAD:main")
    git(engine, "fetch", "--quiet", "origin")
    report = process_repo(engine, LocalForge(remote), default_identity())
    (pull,) = report.opened
    LocalForge(remote).enable_automerge(pull.number, "merge")
    git(dev, "pull", "--quiet", "--ff-only", "origin", "main")
    before = _bump_api(dev)
    git(engine, "fetch", "--quiet", "origin")

    main = git(engine, "rev-parse", "origin/main").strip()
    committer = ("--committer=<gitops-engine@users.noreply.github.com>", "--format=%H%x00%P%x00%B")
    code, out, err, _ = _run_executable(["process", "--base", before, "--forge", "local"], engine)

    # What was asked ahead of the merge is dropped: the run asks again.
    dropped = [
        ("diff", "--name-status", "--no-renames", "-z", before, main),
        (
            "log",
            "--first-parent",
            "-n",
            "1",
            "--fixed-strings",
            "--grep=Gitops-Engine-Source: ",
            *committer,
            main,
        ),
        ("cat-file", "--batch"),
        ("for-each-ref", "--format=%(refname) %(objectname)", "refs/remotes/origin/"),
        (
            "ls-remote",
            "origin",
            "refs/heads/main",
            "refs/heads/gitops-engine/*",
            f"refs/gitops-engine/reconciled/r{RENDER_VERSION}",
        ),
    ]
    assert (code, err) == (0, f"unused early: {dropped}")
    assert (
        out.startswith(f"merged #{pull.number} ({pull.branch}): auto-merge\n") and "main moved" not in out
    ), out
    assert (
        "committed " in out
        and git(engine, "show", "-s", "--format=%s", "origin/main") == "Render team-a/api\n"
    )


def test_a_clone_behind_the_remote_fetches_and_reads_the_new_main_through_the_pipe_started_early(
    tmp_path: Path,
) -> None:
    """The `cat-file` pipe starts before the run fetches what the remote has and the clone lacks: it still reads
    the new objects. The guesses made for the clone's old main are not taken."""
    _, engine, dev = _world(tmp_path, {})
    old_main = git(engine, "rev-parse", "origin/main").strip()
    before = _bump_api(dev)  # pushed; the engine's clone has not fetched it

    code, out, err, _ = _run_executable(["process", "--base", before, "--forge", "local"], engine)

    head, commit = git(dev, "rev-parse", "HEAD")[:12], git(engine, "rev-parse", "origin/main")[:12]
    assert out == (
        f"plan: range reconcile of 1 candidate unit(s) at {head}: 1 to commit, 0 for pull requests, 0 failed\n"
        f"committed {commit} to main: 1 unit(s)\n"
        f"committed {commit} to main: team-a/api\n"
    )
    committer = ("--committer=<gitops-engine@users.noreply.github.com>", "--format=%H%x00%P%x00%B")
    dropped = [
        ("diff", "--name-status", "--no-renames", "-z", before, old_main),
        (
            "log",
            "--first-parent",
            "-n",
            "1",
            "--fixed-strings",
            "--grep=Gitops-Engine-Source: ",
            *committer,
            old_main,
        ),
    ]
    assert (code, err) == (0, f"unused early: {dropped}")

"""Start-up: a single workload change imports only what it uses. Jinja2 (~60 ms), jsonschema (~80 ms) and httpx
(~50 ms) stay out of a run whose definitions need no Jinja (text with `{{ name.name }}` values), whose documents
are valid and whose forge is local; checked in a fresh interpreter, as the CLI runs, on real git repositories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from testing.repos import commit_all, git, make_repo, write_files
from testing.small_platform import BASE_PLATFORM, PG_DEV_YAML

from gitops_engine.forge.local import LocalForge
from gitops_engine.git import default_identity
from gitops_engine.reconcile import process as process_repo

HEAVY = ("jinja2", "jsonschema", "httpx")
FILES = ("gitops-engine.lock", "manifest.yaml")


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

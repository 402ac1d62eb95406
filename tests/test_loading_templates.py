"""Loading a range (a lazy snapshot) checks a definition's Jinja template when something needs it: when a unit
looks its type up, or when the range changes its file. What it then finds is what a full load finds, in the same
place among the findings; a template nothing needs is left to a full `validate` (README)."""

from __future__ import annotations

import os
from pathlib import Path

from testing import platform as p
from testing.cli import run_cli
from testing.repos import commit_all, git, make_repo, write_files
from testing.small_platform import BASE_PLATFORM, PG_DEV_YAML

from gitops_engine.errors import Finding
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import Git, default_identity
from gitops_engine.loading import Snapshot, load_snapshot
from gitops_engine.publishing.report import RunReport
from gitops_engine.reconcile import process as process_repo
from gitops_engine.source import GitSource

PG_DEV = "definitions/postgres/pg-dev.yaml"
BROKEN_PG_DEV = PG_DEV_YAML.replace("{{ resource.uid }}.", "{{ resource.uid | }}.")
PG_DEV_ERROR = Finding(
    PG_DEV,
    10,
    1,
    "template.outputs: template syntax error: expected token 'name', got 'end of print statement'",
)
# Two definitions with one id, in two types: the first one's template is broken, so a full load never gives it
# the id and the second one loads.
CACHE = p.definition(
    "dup",
    "cache",
    criteria=[{"env_type": "development"}],
    template_outputs="host: {{ resource.uid | upper }\n",
)
QUEUE = p.definition(
    "dup",
    "queue",
    criteria=[{"env_type": "development"}],
    template_outputs="host: {{ resource.uid | upper }}\n",
)
CACHE_ERROR = Finding(CACHE.path, 10, 1, "template.outputs: template syntax error: unexpected '}'")
MISPLACED = Finding(
    "definitions/misplaced.yaml",
    0,
    0,
    "not a resource definition: definitions live at definitions/<type>/<id>.yaml",
)
FILES = {
    **BASE_PLATFORM,
    PG_DEV: BROKEN_PG_DEV,
    CACHE.path: CACHE.text,
    QUEUE.path: QUEUE.text,
    "definitions/misplaced.yaml": "a: 1\n",
}


def _snapshots(repo: Path, git_: Git) -> tuple[Snapshot, Snapshot]:
    return load_snapshot(GitSource(git_, "HEAD")), load_snapshot(GitSource(git_, "HEAD", lazy=True))


def test_a_lazy_snapshot_checks_a_type_when_it_is_looked_up_and_finds_what_a_full_load_finds(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    with Git(repo) as git_:
        full, lazy = _snapshots(repo, git_)
        assert full.local_findings == [CACHE_ERROR, MISPLACED, PG_DEV_ERROR]
        assert dict(full.broken_definition_types) == {"cache": [CACHE.path], "postgres": [PG_DEV]}
        assert sorted(full.definitions) == ["definitions/postgres/pg-prod.yaml", QUEUE.path]

        # The clash of ids needed the cache definition's template at once; pg-dev's waits for its type.
        assert lazy.local_findings == [CACHE_ERROR, MISPLACED]
        assert [d.path for d in lazy.definitions_of("queue")] == [QUEUE.path]
        assert lazy.local_findings == [CACHE_ERROR, MISPLACED]
        assert lazy.broken_definition_types.get("postgres") == [PG_DEV]
        assert lazy.local_findings == full.local_findings
        assert [d.path for d in lazy.definitions_of("postgres")] == ["definitions/postgres/pg-prod.yaml"]
        assert lazy.definitions == full.definitions
        assert dict(lazy.broken_definition_types) == dict(full.broken_definition_types)


def test_findings_of_templates_checked_out_of_order_take_a_full_loads_places(tmp_path: Path) -> None:
    """Without the clash, both broken templates wait, at the same place among the findings: checked the other way
    round, they still come in path order."""
    repo = make_repo(tmp_path / "repo", {**FILES, QUEUE.path: None, "definitions/misplaced.yaml": None})
    with Git(repo) as git_:
        full, lazy = _snapshots(repo, git_)
        assert full.local_findings == [CACHE_ERROR, PG_DEV_ERROR]
        assert lazy.local_findings == []
        assert lazy.definitions_of("postgres") and lazy.local_findings == [PG_DEV_ERROR]
        assert lazy.definitions_of("cache") == []
        assert lazy.local_findings == full.local_findings
        assert dict(lazy.broken_definition_types) == dict(full.broken_definition_types)


def test_every_deferred_template_is_checked_before_a_fork(tmp_path: Path) -> None:
    """Workers plan on copies of the snapshot: what they would find is found in the parent first."""
    repo = make_repo(tmp_path / "repo", FILES)
    with Git(repo) as git_:
        full, lazy = _snapshots(repo, git_)
        assert lazy.local_findings == [CACHE_ERROR, MISPLACED]
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
        assert lazy.local_findings == full.local_findings


def test_a_changed_definition_is_checked_with_the_changed_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    with Git(repo) as git_:
        _, lazy = _snapshots(repo, git_)
        lazy.check_paths([PG_DEV, "workloads/team-a/api/score.yaml"])
        assert lazy.local_findings == [CACHE_ERROR, MISPLACED, PG_DEV_ERROR]
        assert PG_DEV not in lazy.definitions


def test_runs_report_a_broken_template_while_their_range_holds_it_and_pull_request_checks_when_used(
    tmp_path: Path,
) -> None:
    seed = make_repo(tmp_path / "seed", BASE_PLATFORM)
    remote, engine, dev = tmp_path / "remote.git", tmp_path / "engine", tmp_path / "dev"
    git(tmp_path, "clone", "--quiet", "--bare", str(seed), str(remote))
    git(tmp_path, "clone", "--quiet", str(remote), str(engine))
    assert process_repo(engine, LocalForge(remote), default_identity()).committed
    git(tmp_path, "clone", "--quiet", str(remote), str(dev))

    def commit(files: dict[str, str], message: str) -> str:
        """The developer's commit of `files` on main; returns main before it."""
        git(dev, "pull", "--quiet", "--ff-only")
        before = git(dev, "rev-parse", "HEAD").strip()
        write_files(dev, files)
        commit_all(dev, message)
        return before

    def bump(key: str) -> dict[str, str]:
        text = (dev / f"workloads/{key}/score.yaml").read_text()
        name = key.split("/")[1]
        return {f"workloads/{key}/score.yaml": text.replace(f"/{name}:", f"/{name}:9")}  # a new image tag

    def run(base: str) -> RunReport:
        git(dev, "push", "--quiet", "origin", "HEAD:main")
        return process_repo(engine, LocalForge(remote), default_identity(), base=base)

    api_fails = Finding(
        "workloads/team-a/api/score.yaml",
        15,
        5,
        f"resource 'db' of type 'postgres' cannot be resolved while {PG_DEV} fails to load: fix that definition first",
        unit="team-a/api",
    )
    # The range changes the definition: its template is checked, as a full load checks it.
    broken = run(commit({PG_DEV: BROKEN_PG_DEV}, "Break pg-dev"))
    assert broken.committed_units == [] and broken.findings == [PG_DEV_ERROR, api_fails]
    # A run starts from the last complete one, which came before the breaking commit: still reported.
    web = run(commit(bump("team-b/web"), "Bump web"))
    assert web.committed_units == ["team-b/web"] and web.findings == [PG_DEV_ERROR, api_fails]

    # A pull request's check renders what the range reaches: team-b/web needs no postgres, so pg-dev's template
    # is left to a full `validate`; team-a/api needs it, and the check says why the unit fails.
    before = commit(bump("team-b/web"), "Bump web again")
    assert run_cli(["validate", "--base", before], dev) == (
        0,
        "ok: 1 workloads in 2 environments are valid\n",
    )
    before = commit(bump("team-a/api"), "Bump api")
    code, output = run_cli(["validate", "--base", before], dev)
    assert (code, output.splitlines()) == (
        1,
        [
            str(PG_DEV_ERROR),
            f"{api_fails.path}:15:5: {api_fails.message}",
            "2 errors in 2 files",
        ],
    )
    assert run_cli(["validate"], dev)[0] == 1

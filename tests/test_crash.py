"""Crash recovery (issue 9, items 10-12): a run killed at any write step is completed by the next run.

The kill is real: the CLI runs as a subprocess with `tests/testing/killpoints/` on PYTHONPATH, whose `sitecustomize` sends
the process SIGKILL just before its Nth write step (a git command that writes, a rename in the local forge's store,
an HTTP write to the GitHub stand-in). Nothing in the engine knows about it.

The representative run: a definition change that opens two pull requests, a workload change committed to main,
and an open pull request that the workload change makes obsolete (closed, its branch deleted). For every write
step of that run: kill there, run again, and compare the end state with an uninterrupted run's: refs on the remote
(their trees and main's history), pull requests (numbers, titles, bodies, states, comments), and then a third run
that writes nothing at all.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from testing import faults
from testing.fakegithub import FakeGitHub
from testing.faults import fault_env
from testing.repos import git
from testing.world import World, prepare_world

from gitops_engine import reconciled
from gitops_engine.budget import BUDGET_REF
from gitops_engine.forge import PullRequestDraft
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import ENGINE_EMAIL, default_identity
from gitops_engine.reconcile import process as process_repo

PG_17 = ("definitions/postgres/pg-incluster.yaml", "postgres:16.4", "postgres:17.0")
PG_TUNED = ("definitions/postgres/pg-tuned.yaml", '"300"', '"400"')
INVOICES = ("workloads/billing/invoices/score.yaml", "invoices:0.9.0", "invoices:1.0.0")


def run_engine(
    world: World,
    *args: str,
    kill_at: int = 0,
    log: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m gitops_engine process ARGS` in the engine's clone, with the failpoints loaded."""
    env = {**fault_env(kill_at=kill_at, log=log), **(extra_env or {})}
    return faults.run_engine(world.engine, ["process", *args], env)


def steps_of(world: World, *args: str, extra_env: dict[str, str] | None = None) -> list[str]:
    """The write steps of one uninterrupted run (asserting it succeeded)."""
    log = world.root / "steps.log"
    log.unlink(missing_ok=True)
    done = run_engine(world, *args, log=log, extra_env=extra_env)
    assert done.returncode == 0, done.stdout + done.stderr
    return log.read_text().splitlines() if log.exists() else []


def _dated(world: World, text: str) -> str:
    """A commit id in a comment, as the tree and subject it names (the engine's commits are made "now")."""
    return re.sub(
        r"\b[0-9a-f]{40}\b", lambda m: world.rgit("log", "-1", "--format=%T %s", m[0]).strip(), text
    )


def end_state(world: World, since: str, *, pulls: bool = True) -> dict[str, Any]:
    """What a finished run leaves behind, free of commit dates: the remote's refs (as trees), main's history since
    `since`, and the local forge's pull requests."""
    # The write budget's ledger holds the times of the writes: only that it is there counts here.
    refs = {ref: sha for ref, sha in world.refs().items() if ref != BUDGET_REF}
    history = world.rgit(
        "log", "--first-parent", "--format=%T %ae %s", f"{since}..refs/heads/main"
    ).splitlines()
    state: dict[str, Any] = {
        "refs": {ref: world.rgit("rev-parse", f"{sha}^{{tree}}").strip() for ref, sha in refs.items()},
        "main history": history,
    }
    if pulls:
        forge = LocalForge(world.remote)
        state["pulls"] = [
            (
                p.number,
                p.branch,
                p.state,
                p.title,
                p.body,
                p.labels,
                p.reviewers,
                [_dated(world, c) for c in forge.comments(p.number)],
            )
            for p in forge.list_pull_requests("all")
        ]
    return state


@pytest.fixture(scope="module")
def _before_the_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, str]:
    """A rendered platform with one open pull request (billing/invoices, from a pg-tuned change), then a push that
    upgrades pg-incluster (two pull requests to open) and bumps invoices' image (committed to main, which makes its
    pull request obsolete). Returns the world and main before that push."""
    world = prepare_world(tmp_path_factory.mktemp("crash"))
    world.push_change(world.edit(*PG_TUNED), "Tune billing's database")
    report = process_repo(world.engine, LocalForge(world.remote), default_identity())
    assert [p.branch for p in report.opened] == ["gitops-engine/billing/invoices"]
    before = world.main()
    world.push_change({**world.edit(*PG_17), **world.edit(*INVOICES)}, "PostgreSQL 17; invoices 1.0.0")
    return world, before


# The write steps of the representative run, in order. A change to the engine's writes shows here first; every
# one of them is a kill point below.
STEPS = [
    "git fetch",  # the push, into the engine's clone
    "git fast-import",  # main's commit (invoices re-rendered)
    "git push",  # main
    "git fast-import",  # the two branches' commits
    "git hash-object",  # the write budget's ledger, reserving the run's writes before the first one ...
    "git mktree",
    "git commit-tree",
    "git push",  # ... pushed with a lease, with both branches, atomically (to origin's URL) ...
    "git update-ref",  # ... then the branches' remote-tracking refs (killed before: the next run fetches them)
    "forge replace pulls/2.json",  # #2 is written (after its number was appended to branches.log) ...
    "forge replace pulls/3.json",
    "forge replace pulls/1.json",  # #1 closed with its comment
    "git push",  # #1's branch deleted ...
    "git update-ref",  # ... and its remote-tracking ref
    "git push",  # RECONCILED_REF moved to main
    "forge replace issues/1.json",  # the rollout dashboard opened (reserved exactly: no settling)
]


@pytest.fixture(scope="module")
def _uninterrupted(
    _before_the_run: tuple[World, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    prepared, before = _before_the_run
    reference = prepared.copy_to(tmp_path_factory.mktemp("reference") / "world", "range")
    steps = steps_of(reference, "--forge", "local", "--base", before)
    assert [step.split(" ", 1)[1] for step in steps] == STEPS
    expected = end_state(reference, before)
    # The scenario is what it claims to be: one engine commit, two pull requests opened, one closed.
    assert len(expected["main history"]) == 2 and expected["main history"][0].split(" ", 2)[1] == ENGINE_EMAIL
    assert [(p[0], p[1], p[2]) for p in expected["pulls"]] == [
        (1, "gitops-engine/billing/invoices", "closed"),
        (2, "gitops-engine/shop/catalog", "open"),
        (3, "gitops-engine/shop/orders", "open"),
    ]
    assert sorted(expected["refs"]) == [
        "HEAD",
        reconciled.RECONCILED_REF,
        "refs/heads/gitops-engine/shop/catalog",
        "refs/heads/gitops-engine/shop/orders",
        "refs/heads/main",
    ]
    assert BUDGET_REF in reference.refs()
    return expected


@pytest.mark.parametrize("point", range(1, len(STEPS) + 1), ids=[f"{i + 1}-{s}" for i, s in enumerate(STEPS)])
def test_a_run_killed_at_any_write_step_is_completed_by_the_next(
    _before_the_run: tuple[World, str], _uninterrupted: dict[str, Any], tmp_path: Path, point: int
) -> None:
    prepared, before = _before_the_run
    world = prepared.copy_to(tmp_path / "killed", "range")

    killed = run_engine(world, "--forge", "local", "--base", before, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    again = run_engine(world, "--forge", "local", "--base", before)

    assert again.returncode == 0, again.stdout + again.stderr
    assert end_state(world, before) == _uninterrupted  # nothing duplicated, nothing lost
    assert steps_of(world, "--forge", "local", "--base", before) == []  # and then nothing left to do


# -------------------------------------------------------------------------------------------------------------
# Item 11: a lock file left by a killed git


def _lock(path: Path, age: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("0" * 40 + "\n")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_stale_locks_on_the_engines_own_refs_are_removed(
    _before_the_run: tuple[World, str], _uninterrupted: dict[str, Any], tmp_path: Path
) -> None:
    """A kill while git updated a remote-tracking ref leaves `<ref>.lock`; git then refuses every later update of
    that ref ("cannot lock ref", exit 2), and a runner that keeps its workspace never recovers."""
    prepared, before = _before_the_run
    world = prepared.copy_to(tmp_path / "world", "range")
    refs = world.engine / ".git" / "refs"
    locks = [
        _lock(refs / "remotes/origin/main.lock", age=3600),
        _lock(refs / "remotes/origin/gitops-engine/billing/invoices.lock", age=60),
        _lock(refs / "gitops-engine/push/heads/x.lock", age=60),
    ]

    done = run_engine(world, "--forge", "local", "--base", before)

    assert done.returncode == 0, done.stdout + done.stderr
    for lock in locks:
        assert f"removed {lock}: a stale lock left by a git process that was killed\n" in done.stdout
        assert not lock.exists()
    assert end_state(world, before) == _uninterrupted


def test_a_lock_the_engine_does_not_own_is_named_with_what_to_do(
    _before_the_run: tuple[World, str], tmp_path: Path
) -> None:
    """A lock on the remote (a push killed there), or one taken after this run started (a git still running), is
    not the engine's to remove: the run stops (exit 2) and names the file to delete."""
    prepared, before = _before_the_run
    world = prepared.copy_to(tmp_path / "world", "range")
    remote_lock = _lock(world.remote / "refs/heads/main.lock", age=3600)
    main = world.main()

    done = run_engine(world, "--forge", "local", "--base", before)

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"Error: git could not lock a ref: {remote_lock} exists. A git process that was killed (a cancelled job) "
        "left it behind, or another git command is still running in the remote's repository. If none is running, "
        f"delete {remote_lock} and run again.\n"
    )
    assert world.main() == main and remote_lock.exists()

    world = prepared.copy_to(tmp_path / "again", "range")
    fresh = _lock(world.engine / ".git/refs/remotes/origin/main.lock", age=-3600)  # newer than the run
    main = world.main()
    done = run_engine(world, "--forge", "local", "--base", before)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"Error: git could not lock a ref: {fresh} exists." in done.stderr
    assert (
        f"still running in {world.engine}. If none is running, delete {fresh} and run again." in done.stderr
    )
    assert fresh.exists() and world.main() == main


# -------------------------------------------------------------------------------------------------------------
# The same run against the GitHub stand-in: every git write and every HTTP write is a kill point.

GITHUB_STEPS = [
    "git fetch",
    "git fast-import",
    "git push",  # main
    "git fast-import",
    "git hash-object",  # writes reserved in the budget's ledger ...
    "git mktree",
    "git commit-tree",
    "git push",  # ... with both branches
    "git update-ref",  # their remote-tracking refs
    "http POST /repos/octo-org/platform/pulls",  # #2 opened ...
    "http POST /graphql",  # ... then labelled and its team asked to review, in one request
    "http POST /repos/octo-org/platform/pulls",
    "http POST /graphql",
    "http POST /repos/octo-org/platform/issues/1/comments",  # #1: why it is closed ...
    "http PATCH /repos/octo-org/platform/pulls/1",  # ... then closed
    "git push",  # #1's branch deleted
    "git update-ref",
    "git push",  # RECONCILED_REF
    "http POST /repos/octo-org/platform/issues",  # the rollout dashboard opened (reserved exactly: no settling)
]


def github_env(server: FakeGitHub) -> dict[str, str]:
    return {
        "GITHUB_REPOSITORY": server.repository,
        "GITHUB_TOKEN": server.token,
        "GITHUB_API_URL": server.api_url,
        "GITOPS_ENGINE_TEST_NO_SLEEP": "1",  # the forge's pacing between writes costs no wall time
    }


def github_state(world: World, server: FakeGitHub, since: str) -> dict[str, Any]:
    state = end_state(world, since, pulls=False)
    state["pulls"] = [
        (
            p.number,
            p.head_ref,
            p.state,
            p.merged_at is not None,
            p.title,
            p.body,
            sorted(p.labels),
            sorted(p.requested_teams),
            [_dated(world, c.body) for c in server.comments_on(p.number)],
        )
        for p in server.pulls()
    ]
    return state


@pytest.fixture(scope="module")
def _github_before_the_run(
    _before_the_run: tuple[World, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[World, str, FakeGitHub]:
    """The same starting point, with pull request #1 opened on the GitHub stand-in instead of the local forge
    (seeded as the engine opened it). The server is the template every test copies."""
    prepared, before = _before_the_run
    world = prepared.copy_to(tmp_path_factory.mktemp("github") / "world", "range")
    local = LocalForge(world.remote)
    server = FakeGitHub(world.remote)
    for pull in local.list_pull_requests("all"):
        server.seed_pull_request(
            pull.branch, title=pull.title, body=pull.body, labels=pull.labels, teams=pull.reviewers
        )
    shutil.rmtree(world.remote / "gitops-engine")  # the local forge's store: not used here
    return world, before, server


def _serve_copy(template: FakeGitHub, world: World) -> FakeGitHub:
    server = FakeGitHub(world.remote)
    server.issues = copy.deepcopy(template.issues)
    server.comments = copy.deepcopy(template.comments)
    server.repo_labels = dict(template.repo_labels)
    server._next_number = template._next_number
    return server.start()


@pytest.fixture(scope="module")
def _github_uninterrupted(
    _github_before_the_run: tuple[World, str, FakeGitHub], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    prepared, before, template = _github_before_the_run
    reference = prepared.copy_to(tmp_path_factory.mktemp("github-reference") / "world", "range")
    server = _serve_copy(template, reference)
    try:
        steps = steps_of(reference, "--forge", "github", "--base", before, extra_env=github_env(server))
        assert [step.split(" ", 1)[1] for step in steps] == GITHUB_STEPS
        expected = github_state(reference, server, before)
        assert server.spec_violations == [] and server.response_violations == []
    finally:
        server.stop()
    assert [(p[0], p[1], p[2]) for p in expected["pulls"]] == [
        (1, "gitops-engine/billing/invoices", "closed"),
        (2, "gitops-engine/shop/catalog", "open"),
        (3, "gitops-engine/shop/orders", "open"),
    ]
    return expected


@pytest.mark.parametrize(
    "point", range(1, len(GITHUB_STEPS) + 1), ids=[f"{i + 1}-{s}" for i, s in enumerate(GITHUB_STEPS)]
)
def test_a_run_on_github_killed_at_any_write_step_is_completed_by_the_next(
    _github_before_the_run: tuple[World, str, FakeGitHub],
    _github_uninterrupted: dict[str, Any],
    tmp_path: Path,
    point: int,
) -> None:
    prepared, before, template = _github_before_the_run
    world = prepared.copy_to(tmp_path / "killed", "range")
    server = _serve_copy(template, world)
    try:
        env = github_env(server)
        killed = run_engine(world, "--forge", "github", "--base", before, kill_at=point, extra_env=env)
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        again = run_engine(world, "--forge", "github", "--base", before, extra_env=env)

        assert again.returncode == 0, again.stdout + again.stderr
        assert github_state(world, server, before) == _github_uninterrupted
        assert steps_of(world, "--forge", "github", "--base", before, extra_env=env) == []
        assert server.spec_violations == [] and server.response_violations == []
    finally:
        server.stop()


# -------------------------------------------------------------------------------------------------------------
# Item 10, at the forge's level: what a kill between the local forge's two writes leaves behind


def test_a_number_announced_without_its_record_is_never_a_lost_or_borrowed_pull_request(
    tmp_path: Path,
) -> None:
    """Opening a pull request writes the branch's index, then the record. Killed in between, the index announces a
    number that has no record: lookups skip it, the number is taken again (by any branch), and the branch whose
    index still lists it does not claim another branch's pull request."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    forge = LocalForge(remote)
    (remote / "gitops-engine" / "branches").mkdir(parents=True)
    (remote / "gitops-engine" / "branches" / "gitops-engine%2Fshop%2Forders").write_text("1\n")
    (remote / "gitops-engine" / "branches" / ".tmp-killed").write_text("2\n")  # a writer killed mid-write

    assert forge.find_pull_requests("gitops-engine/shop/orders") == []
    other = forge.create_pull_request(_draft("gitops-engine/shop/cart"))
    orders = forge.create_pull_request(_draft("gitops-engine/shop/orders"))

    assert (other.number, orders.number) == (1, 2)
    assert [p.number for p in forge.find_pull_requests("gitops-engine/shop/orders")] == [2]
    assert [p.number for p in forge.find_pull_requests("gitops-engine/shop/cart")] == [1]
    # Written by an earlier version, the branch's index file stays; numbers opened since are appended to the log.
    assert (remote / "gitops-engine" / "branches" / "gitops-engine%2Fshop%2Forders").read_text() == "1\n"
    assert (remote / "gitops-engine" / "branches.log").read_text() == (
        "1 gitops-engine/shop/cart\n2 gitops-engine/shop/orders\n"
    )
    assert not (remote / "gitops-engine" / "branches" / ".tmp-killed").exists()


def _draft(branch: str) -> PullRequestDraft:
    return PullRequestDraft(branch=branch, base="main", title=f"Update {branch}", body="why")

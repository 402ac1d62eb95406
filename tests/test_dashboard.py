"""The rollout dashboard: one issue, created once, edited in place, its counts equal to the state of the pull
requests after every step of a rollout; a run with nothing new writes nothing."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.repos import git
from testing.world import World

from gitops_engine.dashboard import MARKER, TITLE, lock_uses, merge_uses, summarize, usage
from gitops_engine.errors import GitopsError
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import Git, default_identity
from gitops_engine.publishing.status import SHARED_READING_BELOW, MainUsage
from gitops_engine.reconcile import process as process_repo
from gitops_engine.workers import Background

PG = "definitions/postgres/pg-incluster.yaml"
SHOP_PG = ["shop/catalog", "shop/orders"]


def run(world: World) -> int:
    forge = LocalForge(world.remote)
    report = process_repo(world.engine, forge, default_identity())
    assert not report.findings, report.findings
    return forge.stats.writes


def counts(world: World) -> dict[str, dict[str, int]]:
    code, output = run_cli(["dashboard", "--format", "json", "--forge", "local"], world.dev)
    assert code == 0, output
    (change,) = json.loads(output)["changes"]
    assert change["definition"] == "pg-incluster"
    return {
        env: {k: v for k, v in c.items() if k != "pull_requests" and v}
        for env, c in change["environments"].items()
    }


def merge(world: World, number: int) -> None:
    forge = LocalForge(world.remote)
    pull = next(p for p in forge.list_pull_requests("open") if p.number == number)
    git(world.dev, "fetch", "--quiet", "origin")
    git(world.dev, "checkout", "--quiet", "-B", "main", "origin/main")
    git(world.dev, "merge", "--quiet", "--no-edit", f"origin/{pull.branch}")
    git(world.dev, "push", "--quiet", "origin", "HEAD:main")


def test_the_dashboard_follows_a_rollout_created_once_and_edited_in_place(world: World) -> None:
    pushed = world.push_change(
        world.edit(PG, "postgres:16.4", "postgres:17.0"), "Upgrade in-cluster PostgreSQL to 17"
    )
    run(world)
    forge = LocalForge(world.remote)
    issue = forge.find_issue(MARKER)
    assert issue is not None and issue.title == TITLE and issue.state == "open"
    numbers = {p.branch.removeprefix("gitops-engine/"): p.number for p in forge.list_pull_requests("open")}
    assert sorted(numbers) == SHOP_PG
    assert counts(world) == {"development": {"pull_request": 2}, "staging": {"pull_request": 2}}

    code, output = run_cli(["dashboard", "--forge", "local"], world.dev)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == f"#{issue.number} {issue.url}"
    assert f"## `pg-incluster`: Upgrade in-cluster PostgreSQL to 17 ({pushed[:7]})" in lines
    assert "| development | 0 | 2 | 0 | 0 | 0 |" in lines and "| staging | 0 | 2 | 0 | 0 | 0 |" in lines

    # A second run: nothing new, not a single write.
    assert run(world) == 0

    # One pull request merged: its unit is live everywhere, and the same issue says so.
    merge(world, numbers["shop/catalog"])
    run(world)
    assert counts(world) == {
        "development": {"live": 1, "pull_request": 1},
        "staging": {"live": 1, "pull_request": 1},
    }
    assert run(world) == 0

    # The last one merged: nothing left rolling out.
    merge(world, numbers["shop/orders"])
    run(world)
    code, output = run_cli(["dashboard", "--format", "json", "--forge", "local"], world.dev)
    assert code == 0 and json.loads(output)["changes"] == [], output
    assert (
        "Every definition and environment change has rolled out: all units are live."
        in run_cli(["dashboard", "--forge", "local"], world.dev)[1]
    )
    after = LocalForge(world.remote).find_issue(MARKER)
    assert after is not None and after.number == issue.number  # edited in place, never duplicated
    assert [i["number"] for i in _issues(world)] == [issue.number]
    assert run(world) == 0


def _issues(world: World) -> list[dict[str, object]]:
    folder = world.remote / "gitops-engine" / "issues"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_without_a_dashboard_issue_the_command_says_how_to_get_one(world: World) -> None:
    code, output = run_cli(["dashboard", "--forge", "local"], world.dev)

    assert code == 2, output
    assert f"no issue titled {TITLE!r} yet" in output


def test_dashboard_false_keeps_no_issue(world: World) -> None:
    text = world.show("main:platform.yaml") + "  dashboard: false\n"
    world.push_change(
        {"platform.yaml": text, **world.edit(PG, "postgres:16.4", "postgres:17.0")}, "No dashboard"
    )
    run(world)
    assert LocalForge(world.remote).find_issue(MARKER) is None


def test_an_environment_change_is_followed_by_its_file_and_commit(world: World) -> None:
    pushed = world.push_change(
        world.edit("environments/staging.yaml", "example.com/env: staging", "example.com/env: stage"),
        "Staging label: stage",
    )
    run(world)
    forge = LocalForge(world.remote)
    staging_pulls = sorted(p.number for p in forge.list_pull_requests("open"))
    assert staging_pulls  # every unit of staging gets its pull request

    code, output = run_cli(["dashboard", "--format", "json", "--forge", "local"], world.dev)
    assert code == 0, output
    (change,) = json.loads(output)["changes"]
    assert (change["definition"], change["path"]) == (
        "environments/staging.yaml",
        "environments/staging.yaml",
    )
    assert change["human_version"] == f"Staging label: stage ({pushed[:7]})"
    assert list(change["environments"]) == ["staging"]
    staging = change["environments"]["staging"]
    assert staging["pull_request"] == len(staging_pulls) and staging["live"] == 0
    assert [p["number"] for p in staging["pull_requests"]] == staging_pulls
    code, text = run_cli(["dashboard", "--forge", "local"], world.dev)
    assert f"## `environments/staging.yaml`: Staging label: stage ({pushed[:7]})" in text.splitlines()
    assert run(world) == 0
    pulls = forge.list_pull_requests("open")
    assert [p.title for p in pulls] == [
        f"Update {p.branch.removeprefix('gitops-engine/')}: environment staging changed" for p in pulls
    ]

    # An edit of its rollout settings and comments changes nothing rendering reads: no unit is rendered again, no
    # lock rewritten, and the version still bears the name of the change that made it.
    staging = world.show("main:environments/staging.yaml")
    edited = world.push_change(
        {
            "environments/staging.yaml": "# Reviewed by infra.\n"
            + staging
            + "rollout:\n  mode: pull-request\n"
        },
        "Staging: say the rollout mode",
    )
    assert run(world) == 0
    assert world.main() == edited  # the engine committed nothing
    assert sorted(p.number for p in forge.list_pull_requests("open")) == staging_pulls
    code, output = run_cli(["dashboard", "--format", "json", "--forge", "local"], world.dev)
    (change,) = json.loads(output)["changes"]
    assert change["human_version"] == f"Staging label: stage ({pushed[:7]})"


def _upgraded(world: World) -> tuple[Git, str]:
    """The engine's clone and main after the in-cluster PostgreSQL upgrade was processed."""
    world.push_change(world.edit(PG, "postgres:16.4", "postgres:17.0"), "Upgrade in-cluster PostgreSQL to 17")
    run(world)
    repo = Git(world.engine)
    return repo, repo.rev_parse("origin/main")


def test_main_usage_from_a_forked_process_is_the_one_computed_in_place(world: World) -> None:
    """The run computes what main's locks say in a forked process while the forge writes its pull requests."""
    repo, main = _upgraded(world)
    forked = MainUsage(repo, main)
    forked.start()

    found = forked.result()

    assert found == usage(repo, main)
    assert sorted(found.uses) == ["pg-incluster"]
    assert {env: sorted(units) for env, units in found.uses["pg-incluster"].items()} == {
        "development": [("shop/catalog", False), ("shop/orders", False)],
        "staging": [("shop/catalog", False), ("shop/orders", False)],
    }
    assert forked.result() == found  # asked again: computed here
    unneeded = MainUsage(repo, main)
    unneeded.start()
    children = [part._pid for part in unneeded._parts]
    assert len(children) == 2  # one a core
    unneeded.close()  # stopped, not waited for
    for child in children:
        with pytest.raises(ChildProcessError):
            os.waitpid(child, os.WNOHANG)  # reaped already
    many = MainUsage(repo, main, SHARED_READING_BELOW)  # a run of many pull requests: one process reads
    many.start()
    assert many._whole is not None and many._parts == []
    assert many.result() == found
    waiting = threading.Event()
    other = threading.Thread(target=waiting.wait)
    other.start()
    try:
        beside_a_thread = MainUsage(repo, main)
        beside_a_thread.start()  # no fork while another thread runs: computed where it is asked for
        assert beside_a_thread._parts == [] and beside_a_thread._whole is None
        assert beside_a_thread.result() == found
    finally:
        waiting.set()
        other.join()


def test_the_locks_read_in_parts_say_what_they_say_read_at_once(world: World) -> None:
    repo, main = _upgraded(world)
    whole = lock_uses(repo, main)
    assert sum(len(units) for by_env in whole.values() for units in by_env.values()) > 8
    for parts in (1, 2, 3, 7, 40):  # more parts than locks: some read none
        assert merge_uses(lock_uses(repo, main, (k, parts)) for k in range(parts)) == whole
    assert summarize(repo, main, whole) == usage(repo, main)


def test_a_background_task_that_fails_is_said_and_leaves_no_process(tmp_path: Path) -> None:
    def fails() -> None:
        raise ValueError("broken")

    failing = Background(fails, "test")
    with pytest.raises(GitopsError, match="the test process failed or died"):
        failing.result()
    done = Background(lambda: {"n": os.getpid()}, "test")
    child = done.result()["n"]
    assert child != os.getpid()
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # reaped already
    unread = Background(lambda: (tmp_path / "ran").write_text("yes"), "test")
    unread.close()
    assert (tmp_path / "ran").read_text() == "yes"


def test_a_refused_reconciled_ref_is_said_before_the_dashboard_and_the_run_goes_on(world: World) -> None:
    """The reconciled ref is pushed while the dashboard is rebuilt: what each says comes in the run's order."""
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do case $ref in refs/gitops-engine/reconciled/*)\n"
        "  echo 'no reconciled refs here' >&2; exit 1;; esac; done\n"
    )
    hook.chmod(0o755)
    world.push_change(world.edit(PG, "postgres:16.4", "postgres:17.0"), "Upgrade in-cluster PostgreSQL to 17")
    before = {ref: sha for ref, sha in world.refs().items() if "/reconciled/" in ref}

    code, output = run_cli(["process", "--forge", "local"], world.engine)

    assert code == 0, output
    lines = output.splitlines()
    said = [line for line in lines if line.startswith(("could not record the reconciled", "dashboard #"))]
    assert [line.split(" ")[0] for line in said] == ["could", "dashboard"], output
    assert "no reconciled refs here" in said[0]
    assert sum(line.startswith("opened #") and " for " in line for line in lines) == len(SHOP_PG), output
    assert {ref: sha for ref, sha in world.refs().items() if "/reconciled/" in ref} == before

"""Scenario tests of the whole processor against the stand-in GitHub (`tests/testing/fakegithub`), on real git.

Each test gets a copy of one prepared site: the bundled template made into a platform repo
(`create_platform_repo`), pushed to a bare remote the fake GitHub reads branches and merges from, the engine's
clone (CI's checkout, `origin` = the bare remote) and a developer's clone people push from. The processor runs
through `process_repo` with a `GitHubForge` on the fake (a fake clock: nothing sleeps), or through the real CLI.

The pull requests a change must open are computed independently: the new main is rendered in memory with
`build_tree` and compared, manifests only, with the rendered/ main holds. Every test ends with the fake's checks
(no request broke GitHub's OpenAPI description, no answer broke its types) and with the token absent from every
captured log line and output.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from testing.cli import run_cli
from testing.fakegithub import FakeClock, FakeGitHub, Issue, make_forge
from testing.repos import git, write_files

from gitops_engine.commands.init import create_platform_repo
from gitops_engine.commands.process import format_report
from gitops_engine.forge.github import GitHubForge
from gitops_engine.git import ENGINE_EMAIL, ENGINE_NAME, Identity
from gitops_engine.loading import load_snapshot
from gitops_engine.model import LOCK_FILE
from gitops_engine.publishing.describe import HUMAN_MARKER
from gitops_engine.publishing.report import RunReport
from gitops_engine.reconcile import process as process_repo
from gitops_engine.source import WorkTreeSource
from gitops_engine.tree import build_tree

ENGINE = Identity(ENGINE_NAME, ENGINE_EMAIL)
POSTGRES = "definitions/postgres/postgres-incluster.yaml"
WORKLOAD_DEFAULT = "definitions/workload/workload-default.yaml"
PG_USERS = {"identity/accounts-api", "payments/checkout-api"}  # what the template's postgres-incluster serves
TEAM_OF = {"identity/accounts-api": "identity", "payments/checkout-api": "payments"}
PREVIEW_MARKER = "<!-- gitops-engine:preview -->"
REPO = "/repos/octo-org/platform"


# -------------------------------------------------------------------------------------------------------------
# The site: a bare remote, the engine's clone and a developer's clone


@dataclass
class Site:
    root: Path

    @property
    def remote(self) -> Path:
        return self.root / "remote.git"

    @property
    def engine(self) -> Path:
        return self.root / "engine"

    @property
    def dev(self) -> Path:
        return self.root / "dev"

    def rgit(self, *args: str) -> str:
        return git(self.remote, *args).strip()

    def main(self) -> str:
        return self.rgit("rev-parse", "refs/heads/main")

    def is_ancestor(self, commit: str, of: str) -> bool:
        done = subprocess.run(
            ["git", "merge-base", "--is-ancestor", commit, of],
            cwd=self.remote,
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def ls_remote(self) -> str:
        return git(self.root, "ls-remote", str(self.remote))

    def branches(self) -> dict[str, str]:
        """Engine branches on the remote: unit (`team/name`) -> head sha."""
        out = self.rgit("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/gitops-engine/")
        prefix = "refs/heads/gitops-engine/"
        return {ref[len(prefix) :]: sha for ref, _, sha in (line.partition(" ") for line in out.splitlines())}

    def files(self, rev: str) -> dict[str, str]:
        """path -> blob id of every file under rendered/ at `rev` on the remote."""
        found: dict[str, str] = {}
        for line in self.rgit("ls-tree", "-r", "--full-tree", rev, "--", "rendered/").splitlines():
            meta, _, path = line.partition("\t")
            found[path] = meta.split()[2]
        return found

    def push_change(self, files: dict[str, Any], message: str, *, ref: str = "main") -> str:
        """Pull main into the developer's clone, write `files`, commit as the test author, push to `ref`."""
        git(self.dev, "checkout", "--quiet", "-B", "work", "origin/main")
        git(self.dev, "pull", "--quiet", "--ff-only", "origin", "main")
        write_files(self.dev, files)
        git(self.dev, "add", "--all")
        git(self.dev, "commit", "--quiet", "-m", message)
        git(self.dev, "push", "--quiet", "origin", f"HEAD:refs/heads/{ref}")
        return git(self.dev, "rev-parse", "HEAD").strip()

    def edit(self, path: str, old: str, new: str, *, rev: str = "main") -> dict[str, Any]:
        text = self.rgit("show", f"{rev}:{path}") + "\n"
        assert old in text, f"{old!r} not in {path}"
        return {path: text.replace(old, new)}

    def named(self, path: str, rev: str = "main") -> str:
        """A definition's human-readable version: the subject and short id of the last commit that changed it."""
        return self.rgit("log", "-1", "--format=%s (%h)", "--abbrev=7", rev, "--", path)

    def version(self, path: str, rev: str = "main") -> str:
        """A definition's version as the engine names it: its blob id, shortened."""
        return self.rgit("rev-parse", f"{rev}:{path}")[:12]


def blob(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def unit_of(path: str) -> str:
    """`rendered/<env>/<a>/<b>/<file>` -> `a/b`."""
    return "/".join(path.split("/")[2:4])


def units_to_review(site: Site) -> set[str]:
    """Units whose manifests (not locks) differ between a fresh in-memory render of main and its rendered/."""
    git(site.dev, "fetch", "--quiet", "origin")
    git(site.dev, "checkout", "--quiet", "-B", "check", "origin/main")
    build = build_tree(load_snapshot(WorkTreeSource(site.dev)))
    assert build.ok, build.findings
    desired = {p: blob(c) for p, c in build.files().items() if not p.endswith("/" + LOCK_FILE)}
    held = {p: s for p, s in site.files("main").items() if not p.endswith("/" + LOCK_FILE)}
    return {unit_of(p) for p in set(desired) | set(held) if desired.get(p) != held.get(p)}


def changed_images(body: str) -> list[str]:
    """The `image:` lines of a body's diff blocks: sign + image, in order."""
    return [
        line[0] + line.split("image:", 1)[1].strip()
        for line in body.splitlines()
        if line[:1] in "+-" and line[1:].lstrip().startswith("image:")
    ]


def bump_postgres(site: Site, old: str, new: str) -> str:
    return site.push_change(site.edit(POSTGRES, f"postgres:{old}", f"postgres:{new}"), f"PostgreSQL {new}")


def bump_postgres_on(site: Site, branch: str, old: str, new: str) -> str:
    """The same change proposed on `branch` (created from main), for a pull request's preview."""
    exists = site.rgit("for-each-ref", f"refs/heads/{branch}")
    rev = branch if exists else "main"
    git(site.dev, "fetch", "--quiet", "origin")
    git(site.dev, "checkout", "--quiet", "-B", "proposal", f"origin/{rev}")
    write_files(site.dev, site.edit(POSTGRES, f"postgres:{old}", f"postgres:{new}", rev=rev))
    git(site.dev, "commit", "--quiet", "-am", f"PostgreSQL {new}")
    git(site.dev, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
    return git(site.dev, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def _prepared(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The template as a rendered platform repo on a bare remote, cloned twice. Built once per module."""
    site = Site(tmp_path_factory.mktemp("prepared"))
    seed = site.root / "seed"
    create_platform_repo(seed)
    git(site.root, "clone", "--quiet", "--bare", str(seed), str(site.remote))
    git(site.root, "clone", "--quiet", str(site.remote), str(site.engine))
    git(site.root, "clone", "--quiet", str(site.remote), str(site.dev))
    shutil.rmtree(seed)
    return site


@pytest.fixture
def site(_prepared: Site, tmp_path: Path) -> Site:
    copy = Site(tmp_path / "site")
    shutil.copytree(_prepared.root, copy.root, symlinks=True)
    for clone in (copy.engine, copy.dev):
        git(clone, "remote", "set-url", "origin", str(copy.remote))
    return copy


@pytest.fixture(autouse=True)
def _engine_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GITOPS_ENGINE_AUTHOR_NAME",
        "GITOPS_ENGINE_AUTHOR_EMAIL",
        "GITHUB_EVENT_PATH",
        "GH_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def github(
    site: Site, clock: FakeClock, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[FakeGitHub]:
    caplog.set_level(logging.DEBUG)
    with FakeGitHub(site.remote, clock=clock) as server:
        yield server
        assert server.spec_violations == []
        assert server.response_violations == []
        captured = capsys.readouterr()
        assert server.token not in caplog.text
        assert server.token not in captured.out + captured.err


@dataclass
class Run:
    report: RunReport
    forge: GitHubForge


def run(
    site: Site,
    github: FakeGitHub,
    clock: FakeClock,
    *,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> Run:
    """One processor run with a fresh forge client (its stats count this run only)."""
    forge = make_forge(github, clock, **options)
    try:
        report = process_repo(site.engine, forge, ENGINE, progress=progress or (lambda line: None))
    finally:
        forge.close()
    return Run(report, forge)


def engine_pulls(github: FakeGitHub, state: str = "all") -> list[Issue]:
    return [p for p in github.pulls(state) if (p.head_ref or "").startswith("gitops-engine/")]


def open_units(github: FakeGitHub) -> list[str]:
    """Units of the open engine pull requests, one entry per pull request (duplicates would show)."""
    return sorted((p.head_ref or "").removeprefix("gitops-engine/") for p in engine_pulls(github, "open"))


def pull_of(github: FakeGitHub, unit: str, state: str = "all") -> Issue:
    found = [p for p in engine_pulls(github, state) if p.head_ref == f"gitops-engine/{unit}"]
    assert len(found) == 1, found
    return found[0]


def served_units(report: RunReport) -> set[str]:
    """Units whose pull request the run opened, updated, found up to date, or left alone as up to date."""
    return {
        p.branch.removeprefix("gitops-engine/") for p in [*report.opened, *report.updated, *report.unchanged]
    } | set(report.pending)


@pytest.fixture
def opened(site: Site, github: FakeGitHub, clock: FakeClock) -> str:
    """postgres-incluster moved to 17.0 and the processor ran: one pull request per postgres user. Returns main."""
    pushed = bump_postgres(site, "16.4", "17.0")
    result = run(site, github, clock)
    assert sorted(p.branch for p in result.report.opened) == sorted(f"gitops-engine/{u}" for u in PG_USERS)
    return pushed


# -------------------------------------------------------------------------------------------------------------
# 1-3: open one pull request per affected workload; a second run does nothing; later changes update it


def test_definition_change_opens_one_pull_request_per_affected_workload(
    site: Site, github: FakeGitHub, clock: FakeClock
) -> None:
    old_version, old_name = site.version(POSTGRES), site.named(POSTGRES)
    pushed = bump_postgres(site, "16.4", "17.0")
    new_version, new_name = site.version(POSTGRES), site.named(POSTGRES)
    expected = units_to_review(site)
    assert expected == PG_USERS  # the scenario is what we think it is

    result = run(site, github, clock)

    assert site.main() == pushed  # nothing committed to main
    assert result.report.committed is None
    assert result.report.deferred == [] and result.report.failures == {}
    pulls = engine_pulls(github)
    assert sorted(p.head_ref or "" for p in pulls) == sorted(f"gitops-engine/{u}" for u in expected)
    assert sorted(site.branches()) == sorted(expected)
    for pull in pulls:
        unit = (pull.head_ref or "").removeprefix("gitops-engine/")
        assert pull.state == "open" and pull.base_ref == "main"
        assert pull.head_sha == site.branches()[unit]
        assert pull.labels == ["gitops-engine"]
        assert pull.requested_teams == [TEAM_OF[unit]]
        assert pull.title == f"Update {unit}: postgres-incluster {old_name} → {new_name}"
        body = pull.body or ""
        assert f"| `postgres-incluster` | {old_name} `{old_version}` | {new_name} `{new_version}` |" in body
        assert "```diff\n" in body
        assert (
            changed_images(body)
            == ["-docker.io/library/postgres:16.4", "+docker.io/library/postgres:17.0"] * 2
        )
        # The branch is main plus this unit's new rendering, nothing else.
        changed = site.rgit("diff", "--name-only", "main", f"refs/heads/gitops-engine/{unit}").split()
        assert changed and all(unit_of(p) == unit and p.startswith("rendered/") for p in changed)
        assert site.rgit("rev-parse", f"refs/heads/gitops-engine/{unit}^") == pushed
    assert {p.number for p in result.report.opened} == {p.number for p in pulls}


def test_second_run_makes_no_write_and_pushes_nothing(
    site: Site, github: FakeGitHub, clock: FakeClock, opened: str
) -> None:
    before = site.ls_remote()
    pulls_before = [(p.number, p.title, p.body, p.labels, p.requested_teams) for p in engine_pulls(github)]
    github.clear_log()

    result = run(site, github, clock)

    assert github.writes == []
    assert result.forge.stats.writes == 0
    assert site.ls_remote() == before
    assert [
        (p.number, p.title, p.body, p.labels, p.requested_teams) for p in engine_pulls(github)
    ] == pulls_before
    assert result.report.opened == [] and result.report.updated == []
    assert served_units(result.report) == PG_USERS
    # Nothing reached those pull requests: the forge was not even asked about them.
    assert result.report.pending == sorted(PG_USERS)
    assert [r.path for r in github.requests if "/pulls" in r.path] == []


def test_existing_pull_request_is_updated_not_duplicated(
    site: Site, github: FakeGitHub, clock: FakeClock, opened: str
) -> None:
    before = {unit: pull_of(github, unit) for unit in PG_USERS}
    old_heads = site.branches()
    old_bodies = {unit: pull.body for unit, pull in before.items()}
    pushed = bump_postgres(site, "17.0", "17.1")
    assert units_to_review(site) == PG_USERS
    github.clear_log()

    result = run(site, github, clock)

    assert len(engine_pulls(github)) == len(PG_USERS)  # no new pull request
    assert [w for w in github.writes if w.method == "POST" and w.path == f"{REPO}/pulls"] == []
    assert sorted(p.number for p in result.report.updated) == sorted(p.number for p in before.values())
    new_heads = site.branches()
    for unit, old in before.items():
        pull = pull_of(github, unit)
        assert pull.number == old.number and pull.state == "open"
        # Main still holds 16.4: the diff is against main, not against the branch's previous content.
        assert (
            changed_images(pull.body or "")
            == [
                "-docker.io/library/postgres:16.4",
                "+docker.io/library/postgres:17.1",
            ]
            * 2
        )
        assert pull.body != old_bodies[unit]
        patches = [
            w for w in github.writes if w.method == "PATCH" and w.path == f"{REPO}/pulls/{pull.number}"
        ]
        assert len(patches) == 1 and patches[0].body["body"] == pull.body
        # Force-pushed by the engine: a fresh commit on the new main, the old head is not in its history.
        head = new_heads[unit]
        assert head != old_heads[unit]
        assert site.rgit("rev-parse", f"{head}^") == pushed
        assert not site.is_ancestor(old_heads[unit], head)
        assert site.rgit("log", "-1", "--format=%ae %ce", head) == f"{ENGINE_EMAIL} {ENGINE_EMAIL}"
        assert pull.head_sha == head


# -------------------------------------------------------------------------------------------------------------
# 4-5: merged and superseded pull requests; branches with someone else's commits


def test_merged_pull_request_is_detected_and_a_superseded_one_closed(
    site: Site, github: FakeGitHub, clock: FakeClock, opened: str
) -> None:
    merged = pull_of(github, "payments/checkout-api")
    other = pull_of(github, "identity/accounts-api")
    other_head = site.branches()["identity/accounts-api"]
    # The payments team merges its pull request with a merge commit, from a clone of its own.
    git(site.dev, "fetch", "--quiet", "origin")
    git(site.dev, "checkout", "--quiet", "-B", "merging", "origin/main")
    git(
        site.dev,
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        "Merge pull request",
        "origin/gitops-engine/payments/checkout-api",
    )
    git(site.dev, "push", "--quiet", "origin", "HEAD:main")
    assert units_to_review(site) == {"identity/accounts-api"}
    github.clear_log()

    after_merge = run(site, github, clock)

    assert github.pull(merged.number).state == "closed"
    assert github.pull(merged.number).merged_at is not None
    assert after_merge.report.deleted_branches == ["gitops-engine/payments/checkout-api"]
    assert after_merge.report.committed is None and after_merge.report.opened == []
    assert site.branches() == {"identity/accounts-api": other_head}
    # Nothing to say on a merged pull request, and no new one: only the rollout dashboard counts the unit live.
    dashboard = next(i for i in github.issues.values() if not i.is_pull)
    assert [(w.method, w.path) for w in github.writes] == [("PATCH", f"{REPO}/issues/{dashboard.number}")]
    assert open_units(github) == ["identity/accounts-api"]
    assert len(engine_pulls(github)) == 2
    assert github.comments_on(merged.number) == []

    # The identity team changes accounts-api itself: main adopts the new definition, the pull request is obsolete.
    pushed = site.push_change(
        site.edit("workloads/identity/accounts-api/score.yaml", "accounts-api:4.1.0", "accounts-api:4.2.0"),
        "accounts-api 4.2.0",
    )
    github.clear_log()

    superseded = run(site, github, clock)

    assert superseded.report.committed == site.main()
    assert site.rgit("rev-parse", "main^") == pushed
    # accounts-api re-rendered; checkout-api looks it up, but its address and ports did not change: untouched.
    assert superseded.report.committed_units == ["identity/accounts-api"]
    touched = site.rgit("diff", "--name-only", "main^", "main").split()
    assert {unit_of(p) for p in touched} == {"identity/accounts-api"}
    closed = github.pull(other.number)
    assert closed.state == "closed" and closed.merged_at is None
    comments = github.comments_on(other.number)
    assert len(comments) == 1 and comments[0].body.startswith("Superseded: `identity/accounts-api`")
    assert [(w.method, w.path) for w in github.writes] == [
        ("POST", f"{REPO}/issues/{other.number}/comments"),
        ("PATCH", f"{REPO}/pulls/{other.number}"),
        ("PATCH", f"{REPO}/issues/{dashboard.number}"),
    ]
    assert superseded.report.deleted_branches == ["gitops-engine/identity/accounts-api"]
    assert site.branches() == {}
    assert len(engine_pulls(github)) == 2 and open_units(github) == []
    assert units_to_review(site) == set()
    statefulsets = site.rgit("grep", "-h", "image: docker.io/library/postgres", "main", "--", "rendered/")
    assert "16.4" not in statefulsets


def test_branch_with_a_human_commit_is_not_force_pushed_and_gets_one_comment(
    site: Site, github: FakeGitHub, clock: FakeClock, opened: str
) -> None:
    unit = "payments/checkout-api"
    pull = pull_of(github, unit)
    other_head = site.branches()["identity/accounts-api"]
    git(site.dev, "fetch", "--quiet", "origin")
    git(site.dev, "checkout", "--quiet", "-B", "fix", f"origin/gitops-engine/{unit}")
    write_files(site.dev, {f"rendered/development/{unit}/NOTES.md": "Tried by hand in development.\n"})
    git(site.dev, "add", "--all")
    git(site.dev, "commit", "--quiet", "-m", "Notes from testing")
    git(site.dev, "push", "--quiet", "origin", f"HEAD:gitops-engine/{unit}")
    human_head = git(site.dev, "rev-parse", "HEAD").strip()
    bump_postgres(site, "17.0", "17.1")
    github.clear_log()

    result = run(site, github, clock)

    heads = site.branches()
    assert heads[unit] == human_head  # never overwritten
    assert heads["identity/accounts-api"] != other_head  # the other workload is updated as usual
    comments = github.comments_on(pull.number)
    assert len(comments) == 1
    assert comments[0].body.startswith(HUMAN_MARKER)
    assert "never force-pushes" in comments[0].body
    assert [u for u, _ in result.report.blocked] == [unit]
    assert [p.number for p in result.report.updated] == [pull_of(github, "identity/accounts-api").number]
    assert github.pull(pull.number).state == "open"
    assert [w.path for w in github.writes if w.path.startswith(f"{REPO}/pulls/{pull.number}")] == []

    github.clear_log()
    again = run(site, github, clock)

    assert len(github.comments_on(pull.number)) == 1
    assert github.writes == []
    assert site.branches() == heads
    assert [u for u, _ in again.report.blocked] == [unit]


# -------------------------------------------------------------------------------------------------------------
# 6-7: rate limits, faults and the per-run cap: every workload served or left for the next run, never twice


@pytest.fixture
def wide_change(site: Site) -> set[str]:
    """workload-default gets two replicas: every workload changes in development and staging."""
    site.push_change(site.edit(WORKLOAD_DEFAULT, "replicas: 1", "replicas: 2"), "Two replicas by default")
    expected = units_to_review(site)
    assert len(expected) == 9 and all(not u.startswith("_shared/") for u in expected)
    return expected


def assert_served_once(github: FakeGitHub, units: set[str]) -> None:
    """Exactly one open pull request per unit, each with its label and team, and no other engine pull request."""
    assert open_units(github) == sorted(units)
    assert len(engine_pulls(github)) == len(units)
    for pull in engine_pulls(github):
        team = (pull.head_ref or "").split("/")[1]
        assert pull.labels == ["gitops-engine"] and pull.requested_teams == [team]


def test_rate_limits_and_server_errors_leave_the_rest_for_the_next_run(
    site: Site, github: FakeGitHub, clock: FakeClock, wide_change: set[str]
) -> None:
    faults = [
        github.inject_secondary_rate_limit("POST", "/repos/*/pulls", retry_after=7),
        # GitHub created the pull request but the client saw a 502: the retry must find it, not duplicate it.
        github.inject_server_error("POST", "/repos/*/pulls", apply=True),
        github.inject_secondary_rate_limit("POST", "/graphql", status=429),
        github.inject_server_error("POST", "/graphql", times=2),
    ]
    opened_lines: list[str] = []

    def spend_the_primary_limit(line: str) -> None:
        # After the second pull request the token's hourly budget is gone, until an hour from now.
        if line.startswith("opened #"):
            opened_lines.append(line)
            if len(opened_lines) == 2:
                github.set_rate_limit(remaining=0, reset_in=3600)

    first = run(site, github, clock, progress=spend_the_primary_limit)

    assert [f.hits for f in faults] == [f.times for f in faults]
    # retry-after as sent; the 502 backs off (jitter fixed); a 429 without retry-after waits a minute; 502s back off.
    assert first.forge.stats.waits == [7.0, 1.0, 60.0, 1.0, 2.0]
    served = {p.branch.removeprefix("gitops-engine/") for p in first.report.opened}
    deferred = set(first.report.deferred)
    assert len(served) == 2 and len(first.report.opened) == 2
    assert served | deferred == wide_change and not served & deferred
    assert_served_once(github, served)
    assert "deferred to the next run" in format_report(first.report)

    clock.sleep(3601)  # the primary limit resets
    second = run(site, github, clock)

    assert second.report.deferred == []
    assert {p.branch.removeprefix("gitops-engine/") for p in second.report.opened} == deferred
    assert_served_once(github, wide_change)
    assert sorted(site.branches()) == sorted(wide_change)


def test_primary_limit_spent_before_the_run_still_commits_main_and_defers_pull_requests(
    site: Site, github: FakeGitHub, clock: FakeClock
) -> None:
    fraud = "workloads/payments/fraud-scoring/score.yaml"
    pushed = site.push_change(
        {
            **site.edit(POSTGRES, "postgres:16.4", "postgres:17.0"),
            **site.edit(fraud, "fraud-scoring:0.14.2", "fraud-scoring:0.15.0"),
        },
        "PostgreSQL 17 and fraud-scoring 0.15.0",
    )
    assert units_to_review(site) == PG_USERS | {"payments/fraud-scoring"}
    github.set_rate_limit(remaining=0, reset_in=3600)  # another job spent the token's hour

    first = run(site, github, clock)

    # The developer's change needs no forge: it is committed; the pull requests wait for the next run.
    assert first.report.committed == site.main()
    assert site.rgit("rev-parse", "main^") == pushed
    assert "payments/fraud-scoring" in first.report.committed_units
    assert sorted(first.report.deferred) == sorted(PG_USERS)
    assert first.forge.stats.waits == []  # it did not sit out the hour
    assert github.writes == [] and engine_pulls(github) == []
    assert units_to_review(site) == PG_USERS

    clock.sleep(3601)  # the limit resets
    second = run(site, github, clock)

    assert second.report.committed is None and second.report.deferred == []
    assert {p.branch.removeprefix("gitops-engine/") for p in second.report.opened} == PG_USERS
    assert_served_once(github, PG_USERS)


def test_per_run_write_cap_spreads_a_blast_radius_over_runs(
    site: Site, github: FakeGitHub, clock: FakeClock, wide_change: set[str]
) -> None:
    opened_per_run: list[set[str]] = []
    while True:
        result = run(site, github, clock, max_writes_per_run=3)
        assert result.forge.stats.writes <= 3
        opened_per_run.append({p.branch.removeprefix("gitops-engine/") for p in result.report.opened})
        # Nothing lost: every affected workload is served by now or deferred.
        served = set().union(*opened_per_run)
        assert served | set(result.report.deferred) == wide_change
        assert_served_once(github, served)
        if not result.report.deferred:
            break
        assert len(opened_per_run) < len(wide_change)

    # Two writes a pull request (the first run also creates the label): a second does not fit in three.
    assert [len(units) for units in opened_per_run] == [1] * len(wide_change)
    assert_served_once(github, wide_change)
    github.clear_log()
    run(site, github, clock, max_writes_per_run=3)
    assert github.writes == []


# -------------------------------------------------------------------------------------------------------------
# 8-9: the real CLI, with GitHub Actions' environment


@pytest.fixture
def actions_env(github: FakeGitHub, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """What GitHub Actions provides, pointing at the fake; the forge's clock is the fake one, so nothing sleeps."""
    monkeypatch.setenv("GITHUB_REPOSITORY", github.repository)
    monkeypatch.setenv("GITHUB_TOKEN", github.token)
    monkeypatch.setenv("GITHUB_API_URL", github.api_url)
    defaults = GitHubForge.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "sleep", clock.sleep)
    monkeypatch.setitem(defaults, "clock", clock)


def test_preview_upserts_one_comment_on_the_pull_request(
    site: Site, github: FakeGitHub, actions_env: None
) -> None:
    base = site.main()
    head = bump_postgres_on(site, "infra/postgres-17", "16.4", "17.0")
    proposal = github.seed_pull_request("infra/postgres-17", title="PostgreSQL 17")
    github.seed_comment(proposal.number, "Looks good to me")
    args = [
        "preview",
        "--base",
        base,
        "--comment",
        "--pull-request",
        str(proposal.number),
        "--forge",
        "github",
    ]

    code, output = run_cli([*args, "--head", head], site.dev)

    assert code == 0, output
    previews = [c for c in github.comments_on(proposal.number) if PREVIEW_MARKER in c.body]
    assert len(previews) == 1 and len(github.comments_on(proposal.number)) == 2
    first = previews[0]
    assert first.body.startswith(PREVIEW_MARKER)
    for unit in PG_USERS:
        assert f"pull request `gitops-engine/{unit}`" in first.body
    assert "+docker.io/library/postgres:17.0" in changed_images(first.body)
    assert github.token not in output

    github.clear_log()
    code, output = run_cli([*args, "--head", head], site.dev)

    assert code == 0, output
    assert github.writes == []  # same text: not edited
    assert [c.body for c in github.comments_on(proposal.number) if PREVIEW_MARKER in c.body] == [first.body]

    newer = bump_postgres_on(site, "infra/postgres-17", "17.0", "17.1")
    github.clear_log()
    code, output = run_cli([*args, "--head", newer], site.dev)

    assert code == 0, output
    assert [(w.method, w.path) for w in github.writes] == [("PATCH", f"{REPO}/issues/comments/{first.id}")]
    previews = [c for c in github.comments_on(proposal.number) if PREVIEW_MARKER in c.body]
    assert [c.id for c in previews] == [first.id]
    assert "+docker.io/library/postgres:17.1" in changed_images(previews[0].body)


def test_process_through_the_cli_never_shows_the_token(
    site: Site, github: FakeGitHub, actions_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    bump_postgres(site, "16.4", "17.0")

    code, output = run_cli(["process", "--forge", "github"], site.engine)

    assert code == 0, output
    assert open_units(github) == sorted(PG_USERS)
    for pull in engine_pulls(github):
        assert f"opened #{pull.number} {pull.title} (https://github.example/" in output

    # GitHub echoes the token in an error (a misbehaving proxy, say): the run fails, the token stays hidden.
    bump_postgres(site, "17.0", "17.1")
    github.inject(
        "PATCH", "/repos/*/pulls/*", 422, body={"message": f"Validation Failed: Bearer {github.token}"}
    )

    code, failed = run_cli(["process", "--forge", "github"], site.engine)

    assert code == 1
    assert "Error: GitHub answered 422 to PATCH" in failed and "***" in failed

    code, recovered = run_cli(["process", "--forge", "github"], site.engine)

    assert code == 0, recovered
    for pull in engine_pulls(github):
        assert "+docker.io/library/postgres:17.1" in changed_images(pull.body or "")
        assert f"updated #{pull.number}" in recovered
    assert len(engine_pulls(github)) == 2
    for text in (output, failed, recovered, caplog.text):
        assert github.token not in text


# -------------------------------------------------------------------------------------------------------------
# Rollouts on GitHub: staging's pull requests open with auto-merge (GraphQL), land when their checks pass, and
# production's wave opens in the run after


def test_three_waves_on_github_automerge_lands_staging_then_production_opens(
    site: Site, github: FakeGitHub, clock: FakeClock
) -> None:
    settings = {
        "development": "  mode: direct\n",
        "staging": "  mode: automerge\n",
        "production": "  mode: pull-request\n  after: [staging]\n",
    }
    files = {
        f"environments/{env}.yaml": site.rgit("show", f"main:environments/{env}.yaml")
        + "\nrollout:\n"
        + block
        for env, block in settings.items()
    }
    site.push_change(files, "Roll out in three waves")
    assert run(site, github, clock).report.opened == []  # the settings alone change no manifest
    managed = "definitions/postgres/postgres-managed.yaml"
    change = {
        **site.edit(POSTGRES, "postgres:16.4", "postgres:17.0"),
        **site.edit(managed, "host: platform-postgres.cluster", "host: platform-postgres-17.cluster"),
    }
    site.push_change(change, "PostgreSQL 17 everywhere")

    first = run(site, github, clock).report

    assert sorted(first.committed_units) == sorted(PG_USERS)  # development, directly
    assert sorted(p.branch for p in first.opened) == sorted(f"gitops-engine/{u}.automerge" for u in PG_USERS)
    assert sorted((unit, env) for unit, env, _ in first.waiting) == sorted(
        (u, "production") for u in PG_USERS
    )
    staging = engine_pulls(github, "open")
    assert sorted((p.head_ref, p.automerge) for p in staging) == sorted(
        (f"gitops-engine/{u}.automerge", "squash") for u in PG_USERS
    )

    github.clear_log()
    assert run(site, github, clock).report.opened == []  # checks still running: nothing moves
    assert github.writes == []

    assert sorted(github.pass_checks()) == sorted(p.number for p in staging)
    second = run(site, github, clock).report

    assert sorted(p.branch for p in second.opened) == sorted(f"gitops-engine/{u}" for u in PG_USERS)
    assert second.waiting == []
    production = [p for p in engine_pulls(github, "open")]
    assert sorted((p.head_ref, p.automerge) for p in production) == sorted(
        (f"gitops-engine/{u}", None) for u in PG_USERS
    )
    assert all(
        p.requested_teams == [TEAM_OF[(p.head_ref or "").removeprefix("gitops-engine/")]] for p in production
    )
    github.clear_log()
    result = run(site, github, clock)
    assert github.writes == [] and result.forge.stats.writes == 0


def test_a_developers_change_asks_github_nothing_and_the_cli_imports_no_http_library(
    site: Site, github: FakeGitHub
) -> None:
    """A change to one workload is committed without a request to GitHub: the CLI run, in a fresh interpreter as CI
    starts it, neither imports httpx nor makes a client (its TLS set-up included)."""
    score = "workloads/payments/ledger/score.yaml"
    pushed = site.push_change(
        {score: git(site.remote, "show", f"main:{score}") + "# a comment\n"}, "A comment"
    )
    github.clear_log()
    probe = (
        "import sys\n"
        "from gitops_engine.entry import main\n"
        "try:\n"
        "    main(['process', '--forge', 'github'])\n"
        "except SystemExit as exit:\n"
        "    print(exit.code, 'httpx' in sys.modules)\n"
    )
    environment = {
        **os.environ,
        "GITHUB_REPOSITORY": github.repository,
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.api_url,
    }
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=site.engine,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert proc.stdout.splitlines()[-1] == "0 False", proc.stdout + proc.stderr
    assert github.requests == []
    assert site.rgit("log", "--format=%an", f"{pushed}..main") == ENGINE_NAME  # the engine committed it
    assert github.token not in proc.stdout + proc.stderr

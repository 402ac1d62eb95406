"""Candidates: what a range reaches, and a run's selection narrowed by the engine's open pull requests."""

from __future__ import annotations

from pathlib import Path

from testing.repos import commit_all, git
from testing.small_platform import API_SCORE, PG_DEV_YAML, PLATFORM_YAML, WEB_SCORE

from gitops_engine.candidates import Candidates, candidates_from_range, select_candidates
from gitops_engine.git import Git
from gitops_engine.loading import load_snapshot
from gitops_engine.provenance import RenderedState
from gitops_engine.source import GitSource


def _change(repo: Path, path: str, text: str) -> tuple[str, str]:
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / path).write_text(text)
    return base, commit_all(repo, "change").strip()


def _reached(repo: Path, base: str, head: str, engine_email: str = "engine@example.com") -> set[str] | None:
    with Git(repo) as opened:
        snapshot = load_snapshot(GitSource(opened, head, lazy=True))
        return candidates_from_range(
            opened, base, head, snapshot, RenderedState(opened, base, full=False), engine_email
        )


def test_a_definition_reaches_the_units_whose_locks_use_its_type(platform_repo: Path) -> None:
    base, head = _change(platform_repo, "definitions/postgres/pg-dev.yaml", PG_DEV_YAML + "# reviewed\n")
    assert _reached(platform_repo, base, head) == {"team-a/api"}


def test_settings_reach_every_unit_unless_only_comments_changed(platform_repo: Path) -> None:
    base, head = _change(platform_repo, "platform.yaml", "# Reviewed.\n" + PLATFORM_YAML + "\n# reviewed\n")
    assert _reached(platform_repo, base, head) == set()
    for edited in (
        PLATFORM_YAML + "pullRequests:\n  maxPerRun: 7\n",  # what pull requests a run writes
        PLATFORM_YAML + "pullRequests:\n  maxPerRun: seven\n",  # no longer valid
    ):
        base, head = _change(platform_repo, "platform.yaml", edited)
        assert _reached(platform_repo, base, head) is None, edited
        _change(platform_repo, "platform.yaml", PLATFORM_YAML)


def test_an_environment_edit_reaches_every_unit_only_when_the_engine_reads_it_differently(
    platform_repo: Path,
) -> None:
    """Comments and layout reach nothing; rollout settings and what rendering reads (Environment) reach every
    unit; so does a file that no longer loads, or a file added under environments/."""
    path = "environments/development.yaml"
    original = (platform_repo / path).read_text()
    base, head = _change(platform_repo, path, "# the shared cluster\n" + original.replace(": ", ":   "))
    assert _reached(platform_repo, base, head) == set()
    for edited in (
        original + "rollout:\n  mode: direct\n",
        original + "values:\n  tier: dev\n",
        original.replace("namespace:", "namespace: x\nnamespace:"),  # a duplicate key: no longer loads
    ):
        base, head = _change(platform_repo, path, edited)
        assert _reached(platform_repo, base, head) is None, edited
        _change(platform_repo, path, original)
    # Values in another order are equal mappings, but a template iterating over them sees the new order.
    _change(platform_repo, path, original + "values:\n  a: 1\n  b: 2\n")
    base, head = _change(platform_repo, path, original + "values:\n  b: 2\n  a: 1\n")
    assert _reached(platform_repo, base, head) is None
    base, head = _change(platform_repo, "environments/README.md", "Environments.\n")
    assert _reached(platform_repo, base, head) is None


def test_rendered_output_edited_by_anyone_but_the_engine_reaches_its_unit(platform_repo: Path) -> None:
    manifest = "rendered/production/team-b/web/manifest.yaml"
    base, head = _change(platform_repo, manifest, (platform_repo / manifest).read_text() + "# hand edit\n")
    assert _reached(platform_repo, base, head) == {"team-b/web"}
    # The tests commit as author@example.com: as the engine's own commit, the edit reaches nothing.
    assert _reached(platform_repo, base, head, engine_email="author@example.com") == set()


def _engine_branch(repo: Path, unit: str) -> dict[str, str]:
    """An engine branch for `unit`: one commit on HEAD touching its rendered folder, as the engine pushes one."""
    git(repo, "checkout", "-q", "-b", f"gitops-engine/{unit}")
    lock = repo / f"rendered/development/{unit}/gitops-engine.lock"
    lock.write_bytes(lock.read_bytes().replace(b'"engine"', b'"engine" '))
    sha = commit_all(repo, "rendered on a branch").strip()
    git(repo, "checkout", "-q", "-")
    return {f"gitops-engine/{unit}": sha}


def test_a_run_without_a_start_plans_every_unit_against_a_full_listing(platform_repo: Path) -> None:
    with Git(platform_repo) as repo:
        main = repo.rev_parse("HEAD")
        snapshot = load_snapshot(GitSource(repo, main, lazy=True))
        selection = select_candidates(repo, main, None, snapshot, {}, "engine@example.com", None)
    assert (selection.units, selection.with_branch, selection.pending, selection.state.full) == (
        None,
        set(),
        set(),
        True,
    )


def _select(repo: Path, start: str, head: str, branches: dict[str, str]) -> Candidates:
    with Git(repo) as opened:
        snapshot = load_snapshot(GitSource(opened, head, lazy=True))
        return select_candidates(opened, head, start, snapshot, branches, "engine@example.com", None)


def test_a_unit_with_a_pull_request_the_range_does_not_reach_is_left_pending(platform_repo: Path) -> None:
    branches = _engine_branch(platform_repo, "team-b/web")
    api = API_SCORE.replace("api:1.0", "api:1.1")
    selection = _select(
        platform_repo, *_change(platform_repo, "workloads/team-a/api/score.yaml", api), branches
    )
    assert (selection.units, selection.with_branch, selection.pending, selection.state.full) == (
        {"team-a/api"},
        {"team-b/web"},
        {"team-b/web"},
        False,
    )


def test_a_unit_with_a_pull_request_the_range_reaches_is_planned_again(platform_repo: Path) -> None:
    branches = _engine_branch(platform_repo, "team-b/web")
    web = WEB_SCORE.replace("web:2.0", "web:2.1")
    selection = _select(
        platform_repo, *_change(platform_repo, "workloads/team-b/web/score.yaml", web), branches
    )
    assert (selection.units, selection.with_branch, selection.pending) == (
        {"team-b/web"},
        {"team-b/web"},
        set(),
    )


def test_a_pull_request_reached_since_its_branch_was_made_is_planned_though_the_run_starts_later(
    platform_repo: Path,
) -> None:
    branches = _engine_branch(platform_repo, "team-b/web")
    _change(platform_repo, "workloads/team-b/web/score.yaml", WEB_SCORE.replace("web:2.0", "web:2.1"))
    start, head = _change(
        platform_repo, "workloads/team-a/api/score.yaml", API_SCORE.replace("api:1.0", "api:1.1")
    )
    with Git(platform_repo) as repo:
        snapshot = load_snapshot(GitSource(repo, head, lazy=True))
        assert candidates_from_range(repo, start, head, snapshot, RenderedState(repo, head, full=False)) == {
            "team-a/api"
        }
        selection = select_candidates(repo, head, start, snapshot, branches, "engine@example.com", None)
    # The branch was made before web's change: the range from its base reaches it, and its lock is stale now.
    assert (selection.units, selection.pending) == ({"team-a/api", "team-b/web"}, set())

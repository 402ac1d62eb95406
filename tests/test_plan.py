"""Planning on a real rendered repo: which candidates are stale, what each becomes, and where it lands."""

from __future__ import annotations

from pathlib import Path

from helpers import API_SCORE, PG_DEV_YAML, WEB_SCORE, commit_all, git

from gitops_engine.candidates import candidates_from_range, select_candidates
from gitops_engine.git import Git, blob_id
from gitops_engine.loading import GitSource, load_snapshot
from gitops_engine.plan import plan_changes, range_effect
from gitops_engine.provenance import RenderedState

OLD = blob_id(PG_DEV_YAML.encode())[:12]
NEW_PG_DEV = PG_DEV_YAML.replace("- port: 5432", "- port: 5433")
NEW = blob_id(NEW_PG_DEV.encode())[:12]


def _change(repo: Path, path: str, text: str) -> tuple[str, str]:
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / path).write_text(text)
    return base, commit_all(repo, "change").strip()


def test_a_workload_change_is_planned_for_main_in_every_environment(platform_repo: Path) -> None:
    base, head = _change(
        platform_repo, "workloads/team-a/api/score.yaml", API_SCORE.replace("api:1.0", "api:1.1")
    )
    with Git(platform_repo) as repo:
        snapshot = load_snapshot(GitSource(repo, head, lazy=True))
        state = RenderedState(repo, base, full=False)
        candidates = candidates_from_range(repo, base, head, snapshot, state, "engine@example.com")
        assert candidates == {"team-a/api"}
        plan = plan_changes(snapshot, state, candidates=candidates)
    assert (plan.mode, plan.candidates, list(plan.units), plan.failures) == ("range", 1, ["team-a/api"], {})
    unit = plan.units["team-a/api"]
    assert (unit.cause, unit.reasons, unit.deletes) == (
        "workload",
        ["workloads/team-a/api/score.yaml changed"],
        [],
    )
    assert sorted(unit.writes) == [
        "rendered/development/team-a/api/gitops-engine.lock",
        "rendered/development/team-a/api/manifest.yaml",
        "rendered/production/team-a/api/gitops-engine.lock",
        "rendered/production/team-a/api/manifest.yaml",
    ]
    assert (unit.goes_to_main, unit.manifest_environments, unit.definition_changes()) == (
        True,
        ["development", "production"],
        [],
    )
    assert [u.unit for u in plan.main_units()] == ["team-a/api"] and plan.pull_units() == []


def test_a_definition_change_is_planned_for_review_where_its_objects_change(platform_repo: Path) -> None:
    base, head = _change(platform_repo, "definitions/postgres/pg-dev.yaml", NEW_PG_DEV)
    with Git(platform_repo) as repo:
        snapshot = load_snapshot(GitSource(repo, head, lazy=True))
        state = RenderedState(repo, base, full=True)
        plan = plan_changes(snapshot, state)  # every unit: web's locks are fresh, so only api is planned
        assert (plan.mode, plan.candidates, list(plan.units)) == ("full", 2, ["team-a/api"])
        unit = plan.units["team-a/api"]
        assert (unit.cause, unit.reasons, unit.goes_to_main) == (
            "definitions",
            ["definitions/postgres/pg-dev.yaml changed"],
            False,
        )
        assert sorted(unit.writes) == [
            "rendered/development/team-a/api/gitops-engine.lock",
            "rendered/development/team-a/api/manifest.yaml",
        ]
        assert unit.definition_changes() == [("pg-dev", OLD, NEW)]
        assert unit.diff(repo, "development") == (
            "--- a/rendered/development/team-a/api/manifest.yaml: Service api-db\n"
            "+++ b/rendered/development/team-a/api/manifest.yaml: Service api-db\n"
            "@@ -8,4 +8,4 @@\n"
            "     app.kubernetes.io/part-of: team-a\n"
            " spec:\n"
            "   ports:\n"
            "-  - port: 5432\n"
            "+  - port: 5433\n"
        )
        assert plan.pull_units() == [unit] and plan.main_units() == []


def test_range_effect_says_what_merging_a_range_makes_the_processor_do(platform_repo: Path) -> None:
    base, head = _change(platform_repo, "definitions/postgres/pg-dev.yaml", NEW_PG_DEV)
    with Git(platform_repo) as repo:
        effect = range_effect(repo, base, head)
    assert (effect.base, effect.head, effect.changed_paths) == (
        base,
        head,
        ["definitions/postgres/pg-dev.yaml"],
    )
    assert (effect.provenance_only, effect.failed, effect.findings) == ([], [], [])
    assert [(u.unit, u.environments, u.reasons, u.merge) for u in effect.units] == [
        ("team-a/api", ["development"], [f"definition pg-dev: {OLD} → {NEW}"], "pull request")
    ]


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


def test_a_unit_with_a_pull_request_the_range_does_not_reach_is_left_pending(platform_repo: Path) -> None:
    branches = _engine_branch(platform_repo, "team-b/web")
    base, head = _change(
        platform_repo, "workloads/team-a/api/score.yaml", API_SCORE.replace("api:1.0", "api:1.1")
    )
    with Git(platform_repo) as repo:
        snapshot = load_snapshot(GitSource(repo, head, lazy=True))
        selection = select_candidates(repo, head, base, snapshot, branches, "engine@example.com", None)
    assert (selection.units, selection.with_branch, selection.pending, selection.state.full) == (
        {"team-a/api"},
        {"team-b/web"},
        {"team-b/web"},
        False,
    )


def test_a_unit_with_a_pull_request_the_range_reaches_is_planned_again(platform_repo: Path) -> None:
    branches = _engine_branch(platform_repo, "team-b/web")
    base, head = _change(
        platform_repo, "workloads/team-b/web/score.yaml", WEB_SCORE.replace("web:2.0", "web:2.1")
    )
    with Git(platform_repo) as repo:
        snapshot = load_snapshot(GitSource(repo, head, lazy=True))
        selection = select_candidates(repo, head, base, snapshot, branches, "engine@example.com", None)
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

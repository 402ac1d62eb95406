"""Planning on a real rendered repo: which candidates are stale, what each becomes, and where it lands."""

from __future__ import annotations

from pathlib import Path

from helpers import API_SCORE, PG_DEV_YAML, commit_all, git

from gitops_engine.candidates import candidates_from_range
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

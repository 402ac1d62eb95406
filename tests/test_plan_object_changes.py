"""UnitPlan.object_changes and UnitPlan.diff on a real definition change: what a pull-request body asks for twice
(its environments table, then the diff) is read once, and the same whichever is asked first; nothing is kept
once the diff is written, and a rollout part (dataclasses.replace) keeps its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from testing.repos import commit_all, git
from testing.small_platform import PG_DEV_YAML

from gitops_engine.git import Git
from gitops_engine.loading import load_snapshot
from gitops_engine.manifest import ObjectChange
from gitops_engine.plan import plan_changes
from gitops_engine.provenance import RenderedState
from gitops_engine.source import GitSource

DIFF = (
    "--- a/rendered/development/team-a/api/manifest.yaml: Service api-db\n"
    "+++ b/rendered/development/team-a/api/manifest.yaml: Service api-db\n"
    "@@ -8,4 +8,4 @@\n"
    "     app.kubernetes.io/part-of: team-a\n"
    " spec:\n"
    "   ports:\n"
    "-  - port: 5432\n"
    "+  - port: 5433\n"
)


def test_changes_are_read_once_for_the_table_and_the_diff(platform_repo: Path) -> None:
    base = git(platform_repo, "rev-parse", "HEAD").strip()
    (platform_repo / "definitions/postgres/pg-dev.yaml").write_text(
        PG_DEV_YAML.replace("- port: 5432", "- port: 5433")
    )
    head = commit_all(platform_repo, "port")
    with Git(platform_repo) as repo:
        plan = plan_changes(load_snapshot(GitSource(repo, head, lazy=True)), RenderedState(repo, base))
        unit = plan.units["team-a/api"]
        part = replace(unit, wave=2)
        changes = unit.object_changes(repo, "development")
        assert [(c.key, c.old is not None, c.new is not None) for c in changes] == [
            ("Service/api-db", True, True)
        ]
        changes.append(ObjectChange("Service/x", None, b""))  # the caller's list: not the one kept
        assert unit.object_changes(repo, "development") == changes[:1]
        assert unit.object_changes(repo, "production") == []
        assert unit.diff(repo, "development") == DIFF
        assert unit._changes == {}
        assert unit.diff(repo, "development") == DIFF  # read again when asked again
        assert part.diff(repo, "development") == DIFF and part._changes == {}
        unit.object_changes(repo, "development")
        plan.release()
        assert unit._changes == {}

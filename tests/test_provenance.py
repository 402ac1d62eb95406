"""Provenance: the locks on a real rendered repo, their index (type -> units) and staleness against a snapshot."""

from __future__ import annotations

from pathlib import Path

from testing.repos import commit_all, git
from testing.small_platform import API_SCORE, PG_DEV_YAML

from gitops_engine import RENDER_VERSION
from gitops_engine import git as git_module
from gitops_engine.git import Git, drop_early
from gitops_engine.loading import load_snapshot
from gitops_engine.lock import Lock, LockedResource, lock_bytes
from gitops_engine.manifest import object_id
from gitops_engine.provenance import (
    RenderedState,
    definition_versions,
    stale_reasons,
    workload_inputs_changed,
)
from gitops_engine.source import GitSource

API_LOCK = "rendered/development/team-a/api/gitops-engine.lock"


def test_a_lock_reads_back_byte_for_byte_with_typed_views(platform_repo: Path) -> None:
    data = (platform_repo / API_LOCK).read_bytes()
    lock = Lock.parse(data)
    assert lock is not None
    assert lock.to_bytes() == data
    assert lock_bytes(dict(lock)) == data
    assert lock.engine == RENDER_VERSION
    assert lock.namespace == "team-a-development"
    assert sorted(lock.inputs) == [
        "definitions/postgres/pg-dev.yaml",
        "environments/development.yaml",
        "workloads/team-a/api/score.yaml",
    ]
    assert lock.manifests is not None and sorted(lock.manifests) == [
        "Deployment/api",
        "Service/api",
        "Service/api-db",
    ]
    assert lock.resources == (
        LockedResource(
            name="db",
            type="postgres",
            class_="default",
            res_id="db",
            shared=False,
            definition="pg-dev",
            definition_path="definitions/postgres/pg-dev.yaml",
            version=lock.inputs["definitions/postgres/pg-dev.yaml"][:12],
        ),
    )
    assert lock.shared_ids() == []


def test_what_is_not_a_lock_parses_to_none() -> None:
    assert Lock.parse(b"[1, 2]") is None
    assert Lock.parse(b"{not json") is None
    assert Lock.parse(b"\xff\xfe") is None
    empty = Lock({})
    assert (len(empty), empty.manifests, empty.resources, dict(empty.inputs)) == (0, None, (), {})


def test_the_lock_index_finds_the_units_using_a_type(platform_repo: Path) -> None:
    with Git(platform_repo) as repo:
        head = repo.rev_parse("HEAD")
        state = RenderedState(repo, head, full=False)
        assert state.units_using({"postgres"}, set()) == {"team-a/api"}
        assert state.units_using({"redis"}, set()) == set()
        assert state.envs_of("team-b/web") == ["development", "production"]
        locks = state.all_locks()
    assert sorted(locks) == [
        ("development", "team-a/api"),
        ("development", "team-b/web"),
        ("production", "team-a/api"),
        ("production", "team-b/web"),
    ]
    assert definition_versions(locks.values()) == {
        "pg-dev": locks[("development", "team-a/api")].inputs["definitions/postgres/pg-dev.yaml"][:12],
        "pg-prod": locks[("production", "team-a/api")].inputs["definitions/postgres/pg-prod.yaml"][:12],
    }


def test_the_lock_grep_started_ahead_is_the_one_the_index_takes(platform_repo: Path) -> None:
    with Git(platform_repo) as repo:
        state = RenderedState(repo, repo.rev_parse("HEAD"), full=False)
        state.start_units_using(
            {"postgres"}, within={"team-a/api"}
        )  # a few units: their locks are read instead
        assert git_module._EARLY == {}
        state.start_units_using({"postgres", "redis"})
        (started,) = git_module._EARLY.values()
        assert state.units_using({"postgres", "redis"}, set()) == {"team-a/api"}
        assert git_module._EARLY == {} and started.returncode == 0  # taken and read to its end
        state.start_units_using({"redis"})
        assert state.units_using({"postgres"}, set()) == {"team-a/api"}  # another question: its own grep
    drop_early()
    assert git_module.EARLY_UNUSED[-1][:2] == ("grep", "-l") and "redis" in " ".join(
        git_module.EARLY_UNUSED[-1]
    )
    git_module.EARLY_UNUSED.clear()


def test_objects_read_in_bulk_are_the_ones_each_lock_gives(platform_repo: Path) -> None:
    (platform_repo / "rendered/production/team-b/web/gitops-engine.lock").write_text("not a lock\n")
    commit = commit_all(platform_repo, "a hand-edited lock")
    with Git(platform_repo) as repo:
        one_by_one = RenderedState(repo, commit)
        expected = {
            (env, unit): one_by_one.objects_of(env, unit)
            for env in ("development", "production")
            for unit in ("team-a/api", "team-b/web", "team-c/none")
        }
        bulk = RenderedState(repo, commit, full=False)
        for env in ("development", "production"):
            bulk.read_objects(env, ["team-a/api", "team-b/web", "team-c/none"])
        assert {key: bulk.objects_of(*key) for key in expected} == expected
        assert bulk._locks == {}  # answered from the bulk read: no lock parsed and kept
    assert expected[("production", "team-a/api")] == {
        object_id(key): key for key in one_by_one.lock("production", "team-a/api").manifests
    }
    assert expected[("production", "team-b/web")] == {}  # an unreadable lock: the folder's per-object files
    assert expected[("development", "team-c/none")] == {}


def test_a_fresh_unit_has_no_reasons_and_each_change_gives_one(platform_repo: Path) -> None:
    rendered = git(platform_repo, "rev-parse", "HEAD").strip()
    (platform_repo / "workloads/team-a/api/score.yaml").write_text(API_SCORE.replace("api:1.0", "api:1.1"))
    (platform_repo / "workloads/team-a/api/overrides.production.yaml").write_text("containers: {}\n")
    (platform_repo / "definitions/postgres/pg-dev.yaml").write_text(PG_DEV_YAML + "# reviewed\n")
    changed = commit_all(platform_repo, "change")
    with Git(platform_repo) as repo:
        state = RenderedState(repo, rendered, full=False)
        before = load_snapshot(GitSource(repo, rendered, lazy=True))
        after = load_snapshot(GitSource(repo, changed, lazy=True))
        assert (
            stale_reasons(state.lock("development", "team-a/api"), before, "development", "team-a/api") == []
        )
        assert stale_reasons(state.lock("development", "team-a/api"), after, "development", "team-a/api") == [
            "definitions/postgres/pg-dev.yaml changed",
            "workloads/team-a/api/score.yaml changed",
            # A file added to the folder is an input of every environment until a render names it.
            "workloads/team-a/api/overrides.production.yaml added",
        ]
        assert stale_reasons(state.lock("production", "team-a/api"), after, "production", "team-a/api") == [
            "workloads/team-a/api/score.yaml changed",
            "workloads/team-a/api/overrides.production.yaml added",
        ]
        assert stale_reasons(state.lock("production", "team-b/web"), after, "production", "team-b/web") == []
        assert stale_reasons(None, after, "staging", "team-b/web") == ["staging: not rendered yet"]
        assert workload_inputs_changed(state.lock("production", "team-a/api"), after, "team-a/api") is True
        assert workload_inputs_changed(state.lock("production", "team-b/web"), after, "team-b/web") is False

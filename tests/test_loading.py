"""Loading: a platform repo at a commit (git objects, no checkout) or in the work tree, into typed records."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import API_SCORE, BASE_PLATFORM, PG_DEV_YAML, commit_all, git, write_files

from gitops_engine import yamlio
from gitops_engine.errors import InputError
from gitops_engine.git import Git
from gitops_engine.loading import GitSource, LazyFiles, WorkTreeSource, blob_id, load_snapshot
from gitops_engine.model import Criterion, Settings
from gitops_engine.render import Renderer
from gitops_engine.templating import render_template


def test_commit_and_work_tree_snapshots_agree(platform_repo: Path) -> None:
    with Git(platform_repo) as repo_git:
        committed = load_snapshot(GitSource(repo_git, "HEAD"))
        work_tree = load_snapshot(WorkTreeSource(platform_repo))
        assert committed.files == work_tree.files
        # Blob ids are git's own, so both sources name the same content the same way.
        assert (
            committed.files["workloads/team-a/api/score.yaml"]
            == git(platform_repo, "rev-parse", "HEAD:workloads/team-a/api/score.yaml").strip()
        )
        assert sorted(committed.files) == [
            "definitions/postgres/pg-dev.yaml",
            "definitions/postgres/pg-prod.yaml",
            "environments/development.yaml",
            "environments/production.yaml",
            "platform.yaml",
            "workloads/team-a/api/score.yaml",
            "workloads/team-b/web/score.yaml",
        ]
        assert (
            committed.workload_paths
            == work_tree.workload_paths
            == {
                "team-a/api": "workloads/team-a/api/score.yaml",
                "team-b/web": "workloads/team-b/web/score.yaml",
            }
        )


def test_blob_id_is_gits(tmp_path: Path) -> None:
    for data in (b"", b"hello\n", bytes(range(256))):
        (tmp_path / "blob").write_bytes(data)
        assert blob_id(data) == git(tmp_path, "hash-object", "blob").strip()
    assert blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_an_older_commit_is_read_from_git_objects_without_checkout(platform_repo: Path) -> None:
    old = git(platform_repo, "rev-parse", "HEAD").strip()
    write_files(platform_repo, {"workloads/team-a/api/score.yaml": API_SCORE.replace("api:1.0", "api:2.0")})
    commit_all(platform_repo, "api 2.0")
    head_before = git(platform_repo, "rev-parse", "HEAD").strip()
    with Git(platform_repo) as repo_git:
        snapshot = load_snapshot(GitSource(repo_git, old))
        image = snapshot.workload("team-a/api").spec["containers"]["main"]["image"]
        assert image == "registry.example.com/api:1.0"
        assert load_snapshot(GitSource(repo_git, "HEAD")).workload("team-a/api").spec["containers"]["main"][
            "image"
        ] == ("registry.example.com/api:2.0")
    # Nothing was checked out.
    assert git(platform_repo, "rev-parse", "HEAD").strip() == head_before
    assert git(platform_repo, "status", "--short") == ""


def test_work_tree_source_sees_uncommitted_edits(platform_repo: Path) -> None:
    write_files(platform_repo, {"workloads/team-a/api/score.yaml": API_SCORE.replace("api:1.0", "api:3.0")})
    snapshot = load_snapshot(WorkTreeSource(platform_repo))
    assert (
        snapshot.workload("team-a/api").spec["containers"]["main"]["image"] == "registry.example.com/api:3.0"
    )
    with Git(platform_repo) as repo_git:
        committed = load_snapshot(GitSource(repo_git, "HEAD"))
        assert (
            committed.workload("team-a/api").spec["containers"]["main"]["image"]
            == "registry.example.com/api:1.0"
        )


def test_workloads_are_parsed_only_when_asked_for(make_platform: Callable[..., Path]) -> None:
    repo = make_platform({"workloads/team-b/web/score.yaml": "{ broken"})
    snapshot = load_snapshot(WorkTreeSource(repo))
    # Discovered, not parsed: the broken file costs nothing until someone needs it.
    assert snapshot.findings == [] and snapshot.local_findings == []
    assert sorted(snapshot.workload_paths) == ["team-a/api", "team-b/web"]
    assert snapshot.workload("team-a/api").name == "api"
    with pytest.raises(InputError) as caught:
        snapshot.workload("team-b/web")
    [finding] = caught.value.findings
    assert (finding.path, finding.line, finding.unit) == ("workloads/team-b/web/score.yaml", 2, "team-b/web")
    assert finding.message.startswith("invalid YAML: ")
    assert snapshot.try_workload("team-b/web") is None


def test_typed_records(platform_repo: Path) -> None:
    snapshot = load_snapshot(WorkTreeSource(platform_repo))
    assert snapshot.settings == Settings(
        path="platform.yaml",
        blob=snapshot.files["platform.yaml"],
        environments=("development", "production"),
        forge="local",
        labels=("gitops-engine",),
        max_per_run=50,
        max_per_hour=400,
        max_file_bytes=262_144,
    )
    production = snapshot.environments["production"]
    assert (production.id, production.type, production.namespace_rule) == (
        "production",
        "production",
        "{team}-{env}",
    )
    assert dict(production.labels) == {"example.com/tier": "prod"}
    assert production.namespace_for("team-a", "api") == "team-a-production"
    [pg_dev, pg_prod] = snapshot.definitions_of("postgres")
    assert (pg_dev.id, pg_dev.driver, pg_dev.criteria) == (
        "pg-dev",
        "template",
        (Criterion(env_type="development"),),
    )
    assert pg_dev.template_outputs is not None and pg_dev.template_outputs.startswith(
        "host: {{ resource.uid }}"
    )
    assert (pg_prod.id, pg_prod.driver) == ("pg-prod", "static")
    assert dict(pg_prod.static_outputs or {}) == {
        "host": "db.prod.example.com",
        "port": 5432,
        "password": {"secretKeyRef": {"name": "pg-prod", "key": "password"}},
    }
    assert pg_prod.version == snapshot.files["definitions/postgres/pg-prod.yaml"][:12]
    api = snapshot.workload("team-a/api")
    assert (api.team, api.name, api.key, api.folder) == (
        "team-a",
        "api",
        "team-a/api",
        "workloads/team-a/api",
    )


def test_yaml_follows_the_core_schema_as_score_implementations_do() -> None:
    document = yamlio.load_document(
        "a: yes\nb: no\nc: on\nd: 2024-01-01\ne: 0o17\nf: 012\ng: true\nh: ~\ni: 1_000\n", "x.yaml"
    )
    assert document.data == {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": "2024-01-01",
        "e": 15,
        "f": 12,
        "g": True,
        "h": None,
        "i": "1_000",
    }


def test_libyaml_is_used() -> None:
    assert yamlio.HAVE_LIBYAML is True


def test_dump_never_writes_anchors_for_a_reused_dict() -> None:
    shared = {"app": "web"}
    text = yamlio.dump({"labels": shared, "selector": {"matchLabels": shared}, "list": [shared, shared]})
    assert text == (
        "labels:\n  app: web\nselector:\n  matchLabels:\n    app: web\nlist:\n- app: web\n- app: web\n"
    )


def test_template_mapping_items_win_over_dict_methods() -> None:
    # `environment.values` is the environment's values, not dict.values.
    context = {"environment": {"values": {"domain": "example.com"}, "items": [1, 2]}}
    assert render_template("{{ environment.values.domain }}", context, {}) == "example.com"
    assert render_template("{{ environment['values'].domain }}", context, {}) == "example.com"
    assert render_template("{{ environment.items | length }}", context, {}) == "2"
    assert render_template("{{ {'a': 1}.get('a') }}", {}, {}) == "1"


def test_environment_values_reach_templates(make_platform: Callable[..., Path]) -> None:
    repo = make_platform(
        {
            "environments/development.yaml": str(BASE_PLATFORM["environments/development.yaml"])
            + "values:\n  domain: dev.example.com\n",
            "definitions/postgres/pg-dev.yaml": PG_DEV_YAML.replace(
                "host: {{ resource.uid }}.{{ environment.namespace }}.svc",
                "host: db.{{ environment.values.domain }}",
            ),
        }
    )
    snapshot = load_snapshot(WorkTreeSource(repo))
    unit, _ = Renderer(snapshot).render_workload("team-a/api", "development")
    assert b"value: db.dev.example.com\n" in unit.files["manifest.yaml"]


def test_symlinks_in_the_work_tree_are_not_followed(
    make_platform: Callable[..., Path], tmp_path: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("secret: value\n")
    repo = make_platform()
    os.symlink(outside, repo / "workloads/team-a/api/linked.yaml")
    os.symlink(tmp_path, repo / "workloads/team-a/escape")
    snapshot = load_snapshot(WorkTreeSource(repo))
    # Listed as links (never read, never followed) and reported: issue 9, item 8.
    assert snapshot.source.symlinks == {"workloads/team-a/api/linked.yaml", "workloads/team-a/escape"}
    assert not any(path.startswith("workloads/team-a/escape/") for path in snapshot.files)
    assert [f.path for f in snapshot.local_findings] == ["workloads/team-a/escape"]
    with pytest.raises(InputError) as failed:
        snapshot.workload("team-a/api")
    assert [str(f) for f in failed.value.findings] == [
        "workloads/team-a/api/linked.yaml: is a symbolic link: the engine reads only regular files and folders, "
        "so that no input can point outside the repo or differ between checkouts; replace the link with the file "
        "or folder itself"
    ]


def test_misplaced_files_are_reported(make_platform: Callable[..., Path]) -> None:
    repo = make_platform(
        {
            "definitions/postgres/README.md": "notes are fine\n",
            "definitions/postgres/nested/x.yaml": "a: 1\n",
            "workloads/team-a/notes.txt": "fine\n",
            "workloads/team-a/orphan/config.json": "{}\n",
        }
    )
    snapshot = load_snapshot(WorkTreeSource(repo))
    # Confined to their files: reported, but they block nothing else.
    assert snapshot.findings == []
    assert [str(f) for f in snapshot.local_findings] == [
        "definitions/postgres/nested/x.yaml: not a resource definition: definitions live at "
        "definitions/<type>/<id>.yaml",
        "workloads/team-a/orphan/score.yaml: workloads/team-a/orphan/ has files but no score.yaml: add one or "
        "remove the folder",
    ]


def test_codeowners_last_matching_pattern_wins(make_platform: Callable[..., Path]) -> None:
    repo = make_platform(
        {
            ".github/CODEOWNERS": "# owners\n* @acme/platform\n/definitions/ @acme/infra\n"
            "/workloads/team-a/ @acme/team-a  # the team\n",
        }
    )
    snapshot = load_snapshot(WorkTreeSource(repo))
    assert snapshot.owners_of("workloads/team-a/api/score.yaml") == ("@acme/team-a",)
    assert snapshot.owners_of("definitions/postgres/pg-dev.yaml") == ("@acme/infra",)
    assert snapshot.owners_of("workloads/team-b/web/score.yaml") == ("@acme/platform",)


def test_missing_platform_file(make_platform: Callable[..., Path]) -> None:
    repo = make_platform({"platform.yaml": None})
    snapshot = load_snapshot(WorkTreeSource(repo))
    assert [str(f) for f in snapshot.findings] == [
        "platform.yaml: missing: a platform repo needs platform.yaml at its root (see `gitops-engine init`)"
    ]


def test_listed_environment_without_file(make_platform: Callable[..., Path]) -> None:
    repo = make_platform(
        {"platform.yaml": str(BASE_PLATFORM["platform.yaml"]).replace("production]", "production, qa]")}
    )
    snapshot = load_snapshot(WorkTreeSource(repo))
    assert [str(f) for f in snapshot.findings] == [
        "platform.yaml: environment 'qa' is listed but environments/qa.yaml does not exist: add the file or remove "
        "the entry"
    ]


# -- lazy listing (what `process` uses) ------------------------------------------------------------------------

TRICKY_FOLDERS = {
    # Same name in two teams, a name that is a prefix of another, a team that is a prefix of another.
    "workloads/team-b/api/score.yaml": API_SCORE.replace("team-a", "team-b"),
    "workloads/team-a/api-v2/score.yaml": API_SCORE.replace("name: api", "name: api-v2"),
    "workloads/team/api/score.yaml": API_SCORE,
    # Files below a workload's folder, and an override.
    "workloads/team-a/api/files/nginx.conf": "server {}\n",
    "workloads/team-a/api/overrides.production.yaml": "containers: {}\n",
    # Discovery problems: misplaced files, bad folder names, a folder without score.yaml.
    "workloads/stray.yaml": "a: 1\n",
    "workloads/team-a/stray.yaml": "a: 1\n",
    "workloads/team-a/notes.md": "fine\n",
    "workloads/Team-C/x/score.yaml": API_SCORE.replace("name: api", "name: x"),
    "workloads/team-a/orphan/config.json": "{}\n",
}


def test_a_lazy_snapshot_answers_as_a_full_listing_does(make_platform: Callable[..., Path]) -> None:
    repo = make_platform(TRICKY_FOLDERS)
    with Git(repo) as repo_git:
        full = load_snapshot(GitSource(repo_git, "HEAD"))
        lazy = load_snapshot(GitSource(repo_git, "HEAD", lazy=True))
        files = lazy.files
        assert isinstance(files, LazyFiles)

        # Settings, environments and definitions are read without listing workloads/.
        assert lazy.definitions == full.definitions and lazy.environments == full.environments
        assert lazy.local_findings == [] and not files.complete

        for key in ["team-a/api", "team-b/api", "team/api", "team-a/api-v2", "team-b/web"]:
            assert lazy.workload_paths[key] == full.workload_paths[key] == f"workloads/{key}/score.yaml"
            assert list(lazy.workload_files(key).items()) == list(full.workload_files(key).items())
            assert lazy.workload(key) == full.workload(key)
        assert list(lazy.workload_files("team-a/api")) == [
            "workloads/team-a/api/files/nginx.conf",
            "workloads/team-a/api/overrides.production.yaml",
            "workloads/team-a/api/score.yaml",
        ]
        for key in ["Team-C/x", "team-a/orphan", "team-a/nothing", "team-a", "a/b/c", "../x"]:
            assert key not in lazy.workload_paths and key not in full.workload_paths
        for name in ["api", "web", "api-v2", "x", "orphan", "nothing"]:
            assert lazy.workload_by_name(name) == full.workload_by_name(name)
        assert lazy.workload_by_name("api") == ["team-a/api", "team-b/api", "team/api"]
        for path in [*full.files, "workloads/team-a/nothing.yaml", "workloads/nothing/x/score.yaml"]:
            assert files.get(path) == full.files.get(path)
        assert not files.complete  # all of that from a few folders

        # Discovery problems are reported for the paths a run is told about (the ones that changed)...
        lazy.check_paths(["workloads/stray.yaml", "workloads/team-a/orphan/config.json", "definitions/x"])
        assert [str(f) for f in lazy.local_findings] == [
            "workloads/stray.yaml: Score files live at workloads/<team>/<workload>/score.yaml: move this file there",
            "workloads/team-a/orphan/score.yaml: workloads/team-a/orphan/ has files but no score.yaml: add one or "
            "remove the folder",
        ]
        # ... and all of them once every workload is asked for, with the full listing's answers.
        assert dict(lazy.workload_paths) == dict(full.workload_paths)
        assert files.complete and dict(files) == dict(full.files)
        assert sorted(map(str, lazy.local_findings)) == sorted(map(str, full.local_findings))
        assert len(lazy.local_findings) == len(full.local_findings) == 4
        assert lazy.workload_by_name("api") == full.workload_by_name("api")
        assert list(lazy.workload_files("team-a/api")) == list(full.workload_files("team-a/api"))

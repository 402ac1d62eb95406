"""Source: the files of a commit (git objects, no checkout) or of the work tree, under git's blob ids; symbolic
links listed and refused, never followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testing.repos import commit_all, git, make_repo, write_files

from gitops_engine.errors import InputError
from gitops_engine.git import Git, blob_id
from gitops_engine.source import (
    GitSource,
    LazyFiles,
    WorkTreeSource,
    folder_of,
    is_source_path,
    outside_workloads,
)

# Sources and what is not one (rendered output, docs at the root, a folder whose name only starts like a root).
FILES = {
    "platform.yaml": "environments: [development]\n",
    ".github/CODEOWNERS": "/definitions/ @infra\n",
    "environments/development.yaml": "id: development\n",
    "definitions/postgres/pg.yaml": "id: pg\n",
    "workloads/team-a/api/score.yaml": "name: api\n",
    "workloads/team-a/api/files/app.conf": "port 80\n",
    "workloads/team-a/api-v2/score.yaml": "name: api-v2\n",
    "workloads/team-b/api/score.yaml": "name: api\n",
    "workloads/team-b/web/score.yaml": "name: web\n",
    "workloads/team-b/notes.md": "notes\n",
    "workloads/team-c/docs/README.md": "no score here\n",
    "rendered/development/team-a/api/manifest.yaml": "kind: Deployment\n",
    "README.md": "a platform\n",
    "workloads-old/x.yaml": "a: 1\n",
}
SOURCES = [
    ".github/CODEOWNERS",
    "platform.yaml",
    *(path for path in FILES if path.split("/", 1)[0] in ("environments", "definitions", "workloads")),
]

SYMLINK_MESSAGE = (
    "is a symbolic link: the engine reads only regular files and folders, so that no input can point outside the "
    "repo or differ between checkouts; replace the link with the file or folder itself"
)


def blob_of(repo: Path, path: str) -> str:
    return git(repo, "rev-parse", f"HEAD:{path}").strip()


def test_blob_id_is_gits(tmp_path: Path) -> None:
    for data in (b"", b"hello\n", bytes(range(256))):
        (tmp_path / "blob").write_bytes(data)
        assert blob_id(data) == git(tmp_path, "hash-object", "blob").strip()
    assert blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_a_commit_lists_its_source_files_under_gits_blob_ids(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    with Git(repo) as repo_git:
        source = GitSource(repo_git, "HEAD")
        assert source.commit == git(repo, "rev-parse", "HEAD").strip()
        assert source.label == source.commit[:12]
        assert source.files() == {path: blob_of(repo, path) for path in sorted(SOURCES)}
        assert source.symlinks == set()
        assert source.read("workloads/team-a/api/files/app.conf") == b"port 80\n"


def test_the_work_tree_lists_the_same_files_and_sees_uncommitted_edits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    with Git(repo) as repo_git:
        committed = GitSource(repo_git, "HEAD").files()
    work_tree = WorkTreeSource(repo)
    assert work_tree.label == "work tree"
    assert work_tree.files() == committed

    write_files(repo, {"workloads/team-b/web/score.yaml": "name: web\nimage: web:2\n"})
    edited = WorkTreeSource(repo)
    assert edited.read("workloads/team-b/web/score.yaml") == b"name: web\nimage: web:2\n"
    assert edited.files()["workloads/team-b/web/score.yaml"] == blob_id(b"name: web\nimage: web:2\n")
    # Only the paths asked for, when a command needs no more (platform.yaml before a snapshot).
    assert WorkTreeSource(repo, only=("platform.yaml", "missing.yaml")).files() == {
        "platform.yaml": blob_of(repo, "platform.yaml")
    }


def test_symbolic_links_are_listed_never_followed_and_refused_when_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("secret: value\n")
    repo = make_repo(tmp_path / "repo", FILES)
    os.symlink(outside / "secret.yaml", repo / "workloads/team-a/api/linked.yaml")
    os.symlink(outside, repo / "workloads/team-a/escape")
    os.symlink("../environments", repo / "definitions/postgres/envs")
    commit_all(repo, "links")
    links = {
        "workloads/team-a/api/linked.yaml": os.fsencode(outside / "secret.yaml"),
        "workloads/team-a/escape": os.fsencode(outside),
        "definitions/postgres/envs": b"../environments",
    }

    work_tree = WorkTreeSource(repo)
    with Git(repo) as repo_git:
        committed = GitSource(repo_git, "HEAD")
        for source in (work_tree, committed):
            listed = source.files()  # a commit knows its links once it has listed them
            assert source.symlinks == set(links)
            # Listed as git lists a link: the blob of the target's path.
            assert {path: listed[path] for path in links} == {
                path: blob_id(target) for path, target in links.items()
            }
            assert not any(path.startswith("workloads/team-a/escape/") for path in listed)
            for path in links:
                with pytest.raises(InputError) as refused:
                    source.read(path)
                assert [str(f) for f in refused.value.findings] == [f"{path}: {SYMLINK_MESSAGE}"]
        assert work_tree.files() == committed.files()


def test_a_root_folder_that_is_a_link_is_listed_as_one_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "development.yaml").write_text("id: development\n")
    repo = make_repo(tmp_path / "repo", {"platform.yaml": "environments: [development]\n"})
    os.symlink(elsewhere, repo / "environments")
    commit_all(repo, "linked environments")
    with Git(repo) as repo_git:
        committed = GitSource(repo_git, "HEAD")
        assert committed.symlinks == set()  # not listed yet
        assert committed.files() == {
            "environments": blob_id(os.fsencode(elsewhere)),
            "platform.yaml": blob_of(repo, "platform.yaml"),
        }
        assert committed.symlinks == {"environments"}
    assert WorkTreeSource(repo).files() == committed.files()
    assert WorkTreeSource(repo).symlinks == {"environments"}


def test_a_lazy_listing_reads_one_workload_folder_at_a_time(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    with Git(repo) as repo_git:
        full = GitSource(repo_git, "HEAD").files()
        files = GitSource(repo_git, "HEAD", lazy=True).files()
        assert isinstance(files, LazyFiles)
        assert sorted(files.outside()) == [
            ".github/CODEOWNERS",
            "definitions/postgres/pg.yaml",
            "environments/development.yaml",
            "platform.yaml",
        ]
        assert files.folder("team-a/api") == {
            "workloads/team-a/api/files/app.conf": full["workloads/team-a/api/files/app.conf"],
            "workloads/team-a/api/score.yaml": full["workloads/team-a/api/score.yaml"],
        }
        assert files.folder("team-a/nothing") == {} and files.folder("a/b/c") == {}
        assert files["workloads/team-b/notes.md"] == full["workloads/team-b/notes.md"]
        assert files.get("workloads/team-b/missing.md") is None
        assert files.get("rendered/development/team-a/api/manifest.yaml") is None
        assert not files.complete
        assert dict(files) == full and files.complete and len(files) == len(SOURCES)
        assert files.folder("team-a/api") == folder_of(
            sorted(p for p in full if p.startswith("workloads/")), full, "team-a/api"
        )


def test_folders_named_finds_a_name_in_every_team(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    with Git(repo) as repo_git:
        source = GitSource(repo_git, "HEAD", lazy=True)
        assert source.folders_named("api") == ["team-a/api", "team-b/api"]
        assert source.folders_named("docs") == ["team-c/docs"]  # a folder, whether or not a workload
        assert source.folders_named("api-v") == [] and source.folders_named("notes.md") == []
        assert source.folders_named("files") == []  # only folders right inside a team folder


def test_outside_workloads_and_source_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    listed = WorkTreeSource(repo).files()
    assert sorted(outside_workloads(listed)) == [
        ".github/CODEOWNERS",
        "definitions/postgres/pg.yaml",
        "environments/development.yaml",
        "platform.yaml",
    ]
    assert [path for path in FILES if is_source_path(path)] == [path for path in FILES if path in SOURCES]

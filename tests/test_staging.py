"""Staging: the process that renders a unit writes its files under temporary names, and `render` renames them into
place only when the whole render succeeded. Kills, failures and leftovers of killed runs never leave a state the
next run does not repair."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.faults import fault_env, run_engine
from testing.golden import snapshot_tree
from testing.small_platform import WEB_SCORE

from gitops_engine.render import RenderedUnit
from gitops_engine.staging import Stager, temporary_name

API = "rendered/development/team-a/api"
WEB = "rendered/development/team-b/web"


def _folders(repo: Path) -> list[str]:
    return sorted(p.relative_to(repo).as_posix() for p in (repo / "rendered").rglob("*") if p.is_dir())


def _leftovers(repo: Path) -> list[str]:
    return sorted(p.relative_to(repo).as_posix() for p in repo.rglob(".tmp-*"))


def _unit(files: dict[str, bytes]) -> RenderedUnit:
    return RenderedUnit(unit="team-a/api", env="development", files=files, provenance={})


def test_a_unit_is_staged_beside_its_folder_and_only_the_files_that_differ(platform_repo: Path) -> None:
    held = (platform_repo / API / "manifest.yaml").read_bytes()
    staged = Stager(platform_repo)(_unit({"manifest.yaml": held, "gitops-engine.lock": b"new\n"}))

    assert (staged.folder, staged.names, staged.written) == (
        API,
        ("manifest.yaml", "gitops-engine.lock"),
        ("gitops-engine.lock",),
    )
    assert staged.existing == ("gitops-engine.lock", "manifest.yaml")
    assert (staged.created, staged.error) == ((), None)
    assert (platform_repo / API / temporary_name("gitops-engine.lock")).read_bytes() == b"new\n"
    assert (platform_repo / API / "gitops-engine.lock").read_bytes() != b"new\n"  # not renamed yet


def test_a_new_unit_notes_the_folders_it_made(platform_repo: Path) -> None:
    unit = RenderedUnit(unit="team-c/new", env="staging", files={"manifest.yaml": b"a\n"}, provenance={})

    staged = Stager(platform_repo)(unit)

    assert staged.created == ("rendered/staging", "rendered/staging/team-c", "rendered/staging/team-c/new")
    assert (staged.written, staged.existing) == (("manifest.yaml",), ())
    assert (platform_repo / "rendered/staging/team-c/new/.tmp-manifest.yaml.part").read_bytes() == b"a\n"


def test_a_symbolic_link_in_the_way_is_an_error_and_nothing_is_followed(
    platform_repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(platform_repo / WEB)
    (platform_repo / WEB).symlink_to(outside)
    staged = Stager(platform_repo)(
        RenderedUnit(unit="team-b/web", env="development", files={"manifest.yaml": b"x\n"}, provenance={})
    )
    assert staged.error == (str(platform_repo / WEB), "a symbolic link is in the way (remove it)")
    assert list(outside.iterdir()) == []


def test_render_through_a_symbolic_link_writes_nothing(platform_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (platform_repo / API / "manifest.yaml").write_text("stale\n")
    shutil.rmtree(platform_repo / WEB)
    (platform_repo / WEB).symlink_to(outside)
    before = snapshot_tree(platform_repo)

    code, output = run_cli(["render"], platform_repo)

    assert code == 2
    assert output.splitlines()[-1] == (
        f"Error: cannot write {platform_repo / WEB}: a symbolic link is in the way (remove it); nothing was "
        "written. Fix the file system (a file where a folder should be, permissions, space) and run again"
    )
    assert snapshot_tree(platform_repo) == before
    assert _leftovers(platform_repo) == [] and list(outside.iterdir()) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_refused_render_leaves_no_trace_and_keep_going_writes_only_the_good_units(
    make_platform: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv("GITOPS_ENGINE_WORKERS", workers)
    repo = make_platform(
        {
            "workloads/team-c/fresh/score.yaml": WEB_SCORE.replace("web", "fresh"),
            "workloads/team-d/broken/score.yaml": WEB_SCORE.replace("web", "broken") + "resources: [\n",
        }
    )
    code, output = run_cli(["render", "--workload", "team-a/api", "--workload", "team-b/web"], repo)
    assert code == 0, output
    before, folders = snapshot_tree(repo), _folders(repo)

    code, output = run_cli(["render"], repo)

    assert code == 1
    assert output.splitlines()[-1].startswith("nothing written: 1 problem(s).")
    assert (snapshot_tree(repo), _folders(repo), _leftovers(repo)) == (before, folders, [])

    code, output = run_cli(["render", "--keep-going"], repo)

    assert code == 1
    assert output.splitlines()[-1] == "rendered 3 units in 2 environments: 4 file(s) written, 0 removed"
    assert sorted(set(snapshot_tree(repo)) - set(before)) == [
        f"rendered/{env}/team-c/fresh/{name}"
        for env in ("development", "production")
        for name in ("gitops-engine.lock", "manifest.yaml")
    ]
    assert _leftovers(repo) == [] and not (repo / "rendered/development/team-d").exists()


def test_leftovers_of_a_run_killed_while_staging_are_repaired_by_the_next_run(platform_repo: Path) -> None:
    expected = snapshot_tree(platform_repo)
    (platform_repo / API / temporary_name("manifest.yaml")).write_bytes(b"half")  # replaced silently
    (platform_repo / API / ".tmp-k2j4l1.part").write_bytes(b"an older engine's temporary name")
    gone = platform_repo / "rendered/development/team-z/gone"
    gone.mkdir(parents=True)
    (gone / temporary_name("manifest.yaml")).write_bytes(b"a workload deleted since\n")

    code, output = run_cli(["render"], platform_repo)

    assert code == 0, output
    assert output.splitlines()[-1] == "rendered 2 units in 2 environments: 0 file(s) written, 2 removed"
    assert snapshot_tree(platform_repo) == expected
    assert _leftovers(platform_repo) == [] and not gone.parent.exists()


def test_a_render_killed_at_any_rename_is_completed_by_the_next_run(
    platform_repo: Path, tmp_path: Path
) -> None:
    expected = snapshot_tree(platform_repo)
    shutil.rmtree(platform_repo / "rendered")
    log = tmp_path / "steps.log"
    assert run_engine(platform_repo, ["render"], fault_env(log=log)).returncode == 0
    steps = log.read_text().splitlines()
    assert len(steps) == 8 and all(" forge replace " in step for step in steps)  # one rename a file

    for kill_at in range(1, len(steps) + 1):
        repo = tmp_path / f"killed-{kill_at}"
        shutil.copytree(platform_repo, repo, symlinks=True)
        shutil.rmtree(repo / "rendered")
        killed = run_engine(repo, ["render"], fault_env(kill_at=kill_at))
        assert killed.returncode == -9, killed.stdout + killed.stderr
        assert len([p for p in snapshot_tree(repo) if ".tmp-" not in p]) == kill_at - 1

        again = run_engine(repo, ["render"], fault_env())

        assert again.returncode == 0, again.stdout + again.stderr
        assert snapshot_tree(repo) == expected and _leftovers(repo) == []

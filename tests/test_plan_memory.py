"""What keeps a definition change's memory flat, and that none of it changes a result: a plan's files kept packed
(`plan.PackedFiles`), old locks shared with the rendered state, fast-import fed one commit at a time
(`Git.write_commits_streamed`), and locks gone over a batch at a time (`RenderedState.each_lock`)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from testing.repos import commit_all, git, remote_and_clone

from gitops_engine.errors import GitError
from gitops_engine.git import CommitRequest, Git, Identity
from gitops_engine.loading import load_snapshot
from gitops_engine.plan import PackedFiles, plan_changes
from gitops_engine.provenance import RenderedState
from gitops_engine.source import GitSource

WHO = Identity("gitops-engine", "gitops-engine@users.noreply.github.com")


@pytest.mark.parametrize("pack", [True, False])
def test_packed_files_read_back_what_was_written_in_order(pack: bool) -> None:
    files = PackedFiles(
        {"b/manifest.yaml": b"kind: Service\n" * 50, "a/gitops-engine.lock": b"{}\n"}, pack=pack
    )
    files["c/empty"] = b""
    assert list(files) == ["b/manifest.yaml", "a/gitops-engine.lock", "c/empty"]
    assert dict(files) == {
        "b/manifest.yaml": b"kind: Service\n" * 50,
        "a/gitops-engine.lock": b"{}\n",
        "c/empty": b"",
    }
    assert files == dict(files) and "c/empty" in files and "d" not in files and len(files) == 3
    del files["a/gitops-engine.lock"]
    assert list(files.items()) == [("b/manifest.yaml", b"kind: Service\n" * 50), ("c/empty", b"")]
    copied = pickle.loads(pickle.dumps(files))  # what a planning worker sends back
    assert isinstance(copied, PackedFiles) and list(copied.items()) == list(files.items())
    copied["d"] = b"kind: Service\n" * 50  # packed as the original packs
    assert (len(pickle.dumps(copied)) < 300) is pack
    assert repr(PackedFiles({"x": b"1"})) == "PackedFiles({'x': b'1'})"
    with pytest.raises(KeyError):
        files["a/gitops-engine.lock"]


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    files = {
        "rendered/dev/a b/manifest.yaml": "old\n",
        "rendered/dev/gone.yaml": "gone\n",
        "keep.txt": "keep\n",
    }
    return Git(remote_and_clone(tmp_path, files, push=False))


def _requests(main: str, count: int) -> list[CommitRequest]:
    return [
        CommitRequest(
            parent=main,
            changes={
                f"rendered/dev/a b/ünï-{i}.yaml": f"{i}\n".encode() * (i + 1),
                "rendered/dev/gone.yaml": None,
            },
            message=f"Unit {i}\n\nBody {i}\n",
            identity=WHO,
            delete_prefixes=("rendered/dev/a b/",) if i % 2 else (),
        )
        for i in range(count)
    ]


def _shape(repo: Git, commit: str) -> tuple[str, str, str]:
    """A commit without its date: tree, parents and message."""
    tree, parents = repo.run("log", "-1", "--format=%T %P", commit).split()
    return tree, parents, repo.run("log", "-1", "--format=%B", commit)


def test_streamed_commits_are_the_ones_one_stream_writes(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    whole = repo.write_commits(_requests(main, 6))
    streamed = repo.write_commits_streamed(iter(_requests(main, 6)))
    assert [_shape(repo, c) for c in streamed] == [_shape(repo, c) for c in whole]
    assert repo.run(
        "-c", "core.quotePath=false", "ls-tree", "-r", "--name-only", streamed[1]
    ).splitlines() == [
        "keep.txt",
        "rendered/dev/a b/ünï-1.yaml",
    ]
    assert repo.run("for-each-ref", "--format=%(refname)").split() == ["refs/heads/main"]  # no scratch ref


def test_streamed_commits_answer_more_ids_than_a_pipe_holds(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    count = 1700  # 1,700 answers of 41 bytes: more than a 64 KiB pipe, which must not stall the run
    shas = repo.write_commits_streamed(
        CommitRequest(parent=main, changes={f"r/{i}": b"%d\n" % i}, message=f"{i}\n", identity=WHO)
        for i in range(count)
    )
    assert len(set(shas)) == count
    assert repo.try_read(f"{shas[-1]}:r/{count - 1}") == b"%d\n" % (count - 1)
    assert repo.write_commits_streamed(iter([])) == []


def test_streamed_commits_fail_with_git_s_reason(repo: Git) -> None:
    with pytest.raises(GitError) as failed:
        repo.write_commits_streamed(_requests("1" * 40, 2))  # no such parent
    assert str(failed.value).startswith("git fast-import failed: fatal: ")
    assert "1" * 40 in str(failed.value)


def test_each_lock_gives_every_lock_in_order_whatever_was_read_before(platform_repo: Path) -> None:
    with Git(platform_repo) as repo:
        head = repo.rev_parse("HEAD")
        expected = sorted(RenderedState(repo, head).all_locks().items())
        assert len(expected) == 4
        for batch in (1, 3, 2048):
            state = RenderedState(repo, head, full=False)
            state.read_all_locks({"team-b/web"})  # kept as bytes
            state.lock("production", "team-a/api")  # parsed
            assert list(state.each_lock(batch)) == expected
            assert ("development", "team-a/api") not in state._locks  # gone over, not kept


def test_worker_plans_keep_the_state_s_locks(platform_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit planned in a worker comes back with copies of its old locks; the plan holds the state's own."""
    env_file = platform_repo / "environments" / "development.yaml"
    base = git(platform_repo, "rev-parse", "HEAD").strip()
    env_file.write_text(env_file.read_text() + "values:\n  tier: dev\n")  # every development unit is stale
    head = commit_all(platform_repo, "a value").strip()
    plans = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("GITOPS_ENGINE_WORKERS", workers)
        with Git(platform_repo) as repo:
            state = RenderedState(repo, base, full=True)
            plan = plan_changes(load_snapshot(GitSource(repo, head)), state)
            assert sorted(plan.units) == ["team-a/api", "team-b/web"]
            for name, unit in plan.units.items():
                assert list(unit.old_locks) == ["development"]
                assert unit.old_locks["development"] is state.lock("development", name)
            plans[workers] = {n: (u.writes, u.old_locks, u.reasons) for n, u in plan.units.items()}
    assert plans["2"] == plans["1"]


def test_plans_of_many_workloads_keep_their_files_packed(
    platform_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From PACK_FILES_FROM workloads planned at once the new files are kept compressed (a plan worker sends
    them so); below, as they are. The files are the same either way."""
    base = git(platform_repo, "rev-parse", "HEAD").strip()
    path = platform_repo / "definitions" / "postgres" / "pg-dev.yaml"
    path.write_text(path.read_text().replace("- port: 5432", "- port: 5433"))
    head = commit_all(platform_repo, "port").strip()
    writes, sizes = {}, {}
    for threshold in (2, 3):  # the repo has two workloads
        monkeypatch.setattr("gitops_engine.plan.PACK_FILES_FROM", threshold)
        with Git(platform_repo) as repo:
            plan = plan_changes(load_snapshot(GitSource(repo, head)), RenderedState(repo, base, full=True))
        unit = plan.units["team-a/api"]
        writes[threshold] = dict(unit.writes)
        sizes[threshold] = len(pickle.dumps(unit.writes))
    assert writes[2] == writes[3]
    assert sorted(writes[2]) == [
        "rendered/development/team-a/api/gitops-engine.lock",
        "rendered/development/team-a/api/manifest.yaml",
    ]
    assert sizes[2] < sizes[3] / 2


def test_a_released_plan_still_says_what_each_unit_was(platform_repo: Path) -> None:
    """After its pull requests are written a run lets go of renderings and old locks; the report's view of the
    plan (which units, why, where they landed) stays, and the state reads again whatever it is asked."""
    base = git(platform_repo, "rev-parse", "HEAD").strip()
    path = platform_repo / "definitions" / "postgres" / "pg-dev.yaml"
    path.write_text(path.read_text().replace("- port: 5432", "- port: 5433"))
    head = commit_all(platform_repo, "port").strip()
    with Git(platform_repo) as repo:
        state = RenderedState(repo, base, full=True)
        plan = plan_changes(load_snapshot(GitSource(repo, head)), state)
        unit = plan.units["team-a/api"]
        before = (unit.cause, unit.reasons, dict(unit.writes), unit.environments, unit.manifest_environments)
        lock = state.lock("development", "team-a/api")
        assert unit.rendered and unit.old_locks == {"development": lock}
        plan.release()
        assert (unit.rendered, unit.old_locks) == ({}, {})
        assert (
            unit.cause,
            unit.reasons,
            dict(unit.writes),
            unit.environments,
            unit.manifest_environments,
        ) == before
        assert plan.pull_units() == [unit] and plan.main_units() == []
        assert state.folders == {} and state.lock("development", "team-a/api") == lock  # read again
        assert sorted(state.units()) == ["team-a/api", "team-b/web"]

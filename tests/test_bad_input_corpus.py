"""The bad-input corpus: every case in tests/data/bad-inputs/ through the real CLI on the real template repo.

Each case must exit 1 with exactly its expected finding lines (file:line:column), without a traceback, within
10 s and 500 MB; write nothing; and, run again with `render --keep-going` (or as a `process` run) beside a change
to another unit, leave that unit rendering. See tests/corpus_runner.py for the case format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus_runner import (
    CATEGORIES,
    COMMANDS,
    MEMORY_LIMIT,
    SENTINEL_TAG,
    Case,
    CliServer,
    Run,
    apply_case,
    bump_sentinel,
    changed_paths,
    copy_repo,
    load_cases,
    snapshot,
)
from testing.repos import git

CASES = load_cases()


@pytest.fixture(scope="session")
def cli_server(_template_base: Path) -> Iterator[CliServer]:
    server = CliServer(warm=_template_base)
    yield server
    server.close()


@pytest.fixture(scope="session")
def _process_world(_template_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template repo as a bare remote (`remote.git`) and the engine's clone of it (`engine`)."""
    root = tmp_path_factory.mktemp("corpus-world")
    git(root, "clone", "--quiet", "--bare", str(_template_base), "remote.git")
    git(root, "clone", "--quiet", "remote.git", "engine")
    return root


def _check_run(case: Case, run: Run) -> None:
    assert not run.timed_out, f"{case.id}: still running after 10 s"
    assert "Traceback (most recent call last)" not in run.output, run.output
    assert run.max_rss_kb * 1024 < MEMORY_LIMIT, run.max_rss_kb
    assert run.code == case.exit, run.output
    assert run.findings == list(case.messages), run.output


def _sentinel_files(repo: Path, unit: str) -> list[str]:
    """The files a bumped image tag must change: the workload object and the lock, in every environment."""
    expected = []
    for env in sorted(p.name for p in (repo / "rendered").iterdir()):
        folder = repo / "rendered" / env / unit
        for path in sorted(folder.iterdir()):
            text = path.read_text(encoding="utf-8")
            if path.name == "gitops-engine.lock" or SENTINEL_TAG in text:
                expected.append(path.relative_to(repo).as_posix())
    return expected


@pytest.mark.parametrize("case", [c for c in CASES if c.command != "process"], ids=lambda c: c.id)
def test_bad_input_exits_1_writes_nothing_and_others_still_render(
    case: Case, cli_server: CliServer, _template_base: Path, tmp_path: Path
) -> None:
    root = tmp_path / "case"
    repo = copy_repo(_template_base, root / "repo")
    apply_case(repo, case)
    before = snapshot(root)

    run = cli_server.run(COMMANDS[case.command], repo, tmp_path / "run")

    _check_run(case, run)
    assert snapshot(root) == before

    # The same mistake beside a valid change to another unit: that unit renders, the broken ones keep their files.
    bump_sentinel(repo, case.sentinel)
    before = snapshot(root)
    run = cli_server.run(["render", "--keep-going"], repo, tmp_path / "keep-going")

    _check_run(case, run)
    after = snapshot(root)
    expected = (
        [f"repo/{path}" for path in _sentinel_files(repo, case.sentinel)] if case.others == "render" else []
    )
    assert changed_paths(before, after) == expected, run.output
    assert len(expected) in (0, 2 * len(list((repo / "rendered").iterdir())))


@pytest.mark.parametrize("case", [c for c in CASES if c.command == "process"], ids=lambda c: c.id)
def test_bad_input_pushed_fails_only_its_units_in_process(
    case: Case, cli_server: CliServer, _process_world: Path, tmp_path: Path
) -> None:
    world = copy_repo(_process_world, tmp_path / "world")
    engine, remote = world / "engine", world / "remote.git"
    git(engine, "remote", "set-url", "origin", str(remote))
    apply_case(engine, case)
    bump_sentinel(engine, case.sentinel)
    git(engine, "add", "--all")
    git(engine, "commit", "--quiet", "-m", f"corpus: {case.id}")
    git(engine, "push", "--quiet", "origin", "HEAD:main")
    pushed = git(engine, "rev-parse", "HEAD").strip()
    refs_before = _remote_refs(remote)

    run = cli_server.run(COMMANDS["process"], engine, tmp_path / "run")

    _check_run(case, run)
    refs_after = _remote_refs(remote)
    # A broken definition is a change rolling out: the dashboard issue lists its failed units, and that forge write
    # is recorded in the write budget's ledger. Nothing else may move.
    kept = {"refs/heads/main", "refs/gitops-engine/budget"}
    assert {r: s for r, s in refs_after.items() if r not in kept} == {
        r: s for r, s in refs_before.items() if r not in kept
    }, "no pull-request branch and no other ref may be written"
    assert not list(remote.glob("gitops-engine/pulls/*.json")), "no pull request may be opened"
    new_commits = git(remote, "rev-list", f"{pushed}..main").split()
    if case.others == "nothing":
        assert new_commits == []
        return
    assert len(new_commits) == 1, new_commits
    changed = git(remote, "diff", "--name-only", pushed, "main").split()
    git(engine, "pull", "--quiet", "--ff-only", "origin", "main")
    assert changed == _sentinel_files(engine, case.sentinel)


def _remote_refs(remote: Path) -> dict[str, str]:
    out = git(remote, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ", 1) for line in out.splitlines())


def test_the_corpus_covers_every_category_with_140_distinct_cases() -> None:
    counts = Counter(case.category for case in CASES)
    assert set(counts) == set(CATEGORIES), counts
    assert all(counts[c] >= 5 for c in CATEGORIES), counts
    assert len(CASES) >= 140, counts
    patches = {
        repr((case.replace, case.write, case.append, case.delete, case.commands, case.command))
        for case in CASES
    }
    assert len(patches) == len(CASES), "two cases make the same mistake"
    assert all(case.exit == 1 and case.messages and case.about for case in CASES)

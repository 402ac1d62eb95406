"""Work spread over forked worker processes (gitops_engine.workers.Spread): started when made, read later, in
slice order, ended whether or not it was read."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gitops_engine.errors import GitopsError
from gitops_engine.workers import Background, Spread, map_in_workers


def _gone(pid: int) -> bool:
    """The process has ended and been reaped (a zombie still has its /proc entry)."""
    return not Path(f"/proc/{pid}").exists()


def test_results_come_in_slice_order_from_worker_processes() -> None:
    slices = [[1, 2], [3], [4, 5, 6], [7]]

    found = list(map_in_workers(lambda part: (os.getpid(), [n * n for n in part]), slices, 2, "squaring"))

    assert [squares for _, squares in found] == [[1, 4], [9], [16, 25, 36], [49]]
    pids = {pid for pid, _ in found}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert all(_gone(pid) for pid in pids)  # the workers end with the last result


def test_the_work_is_done_while_the_caller_goes_on(tmp_path: Path) -> None:
    def mark(part: list[str]) -> list[str]:
        for name in part:
            (tmp_path / name).write_text(str(os.getpid()))
        return part

    spread = Spread(mark, [["a"], ["b"], ["c"]], 2, "marking")
    deadline = time.monotonic() + 60
    while len(list(tmp_path.iterdir())) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # nothing is read: the workers have started on their own

    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]
    assert [part for part in spread.results()] == [["a"], ["b"], ["c"]]


def test_workers_asked_to_be_nice_run_at_a_lower_priority() -> None:
    """The bodies' workers give way to the run's critical path: their niceness is the caller's plus `nice`."""
    mine = os.nice(0)
    polite = Spread(lambda part: [os.nice(0)], [[1], [2]], 2, "describing", nice=10).results()
    plain = Spread(lambda part: [os.nice(0)], [[1], [2]], 2, "describing").results()

    assert list(polite) == [[min(mine + 10, 19)]] * 2
    assert list(plain) == [[mine]] * 2
    assert Background(lambda: os.nice(0), "reading", nice=5).result() == min(mine + 5, 19)
    assert Background(lambda: os.nice(0), "reading").result() == mine
    assert os.nice(0) == mine


def test_work_runs_where_the_system_refuses_a_lower_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(increment: int) -> int:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(
        os, "nice", refuse
    )  # what a locked-down container may answer (inherited by the forks)

    assert list(Spread(lambda part: part, [[1], [2]], 2, "describing", nice=10).results()) == [[1], [2]]
    assert Background(lambda: "read", "reading", nice=10).result() == "read"


def _children() -> set[int]:
    return {
        int(pid)
        for task in Path("/proc/self/task").iterdir()
        for pid in (task / "children").read_text().split()
    }


def test_closing_unread_work_ends_every_worker() -> None:
    before = _children()
    spread = Spread(lambda part: part, [[n] for n in range(6)], 2, "echoing")
    workers = _children() - before  # forked when made
    spread.close()

    assert len(workers) == 2
    assert all(_gone(pid) for pid in workers)
    spread.close()  # twice is harmless


def test_a_worker_that_dies_is_said_instead_of_waited_for() -> None:
    def die(part: list[int]) -> list[int]:
        os._exit(3)  # what the kernel's out-of-memory killer does, near enough

    spread = Spread(die, [[1], [2]], 2, "describing")

    with pytest.raises(GitopsError) as raised:
        list(spread.results())

    assert str(raised.value) == (
        "a describing worker process died (out of memory?) while describing 2 units: run again, with "
        "GITOPS_ENGINE_WORKERS=1 to do it in one process"
    )

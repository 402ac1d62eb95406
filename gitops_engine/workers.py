"""Spreading CPU-bound work (rendering, planning) over forked worker processes.

Rendering and planning many units is CPU-bound Python: templates, YAML and diffs. Above a few dozen units the work
is cut into contiguous slices of its sorted input and handed to forked workers, which inherit everything loaded so
far (the snapshot, the rendered state, compiled templates) and send back each slice's result; the caller merges
the results in slice order, so the outcome is the one a single process would reach.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

from gitops_engine.errors import GitopsError, UsageError

T = TypeVar("T")
R = TypeVar("R")

# Below this many units a worker's start-up costs more than it saves.
PARALLEL_MIN_UNITS = 48
MAX_WORKERS = 8

_TASK: Callable[[Any], Any] | None = None  # what forked workers inherit (set just before the pool forks)


def plan_workers(units: int) -> int:
    """How many processes handle `units` workloads. GITOPS_ENGINE_WORKERS, when set, is obeyed (1 turns workers
    off); otherwise the CPUs this process may use (at most MAX_WORKERS) for runs of PARALLEL_MIN_UNITS or more,
    and 1 below that. Workers are forked, so only where `fork` is safe (Linux)."""
    if sys.platform != "linux" or units < 2:
        return 1
    configured = os.environ.get("GITOPS_ENGINE_WORKERS", "").strip()
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise UsageError(
                f"GITOPS_ENGINE_WORKERS={configured!r}: give a whole number of processes, 1 or more"
            )
        return min(int(configured), units)
    if units < PARALLEL_MIN_UNITS:
        return 1
    cpus = len(os.sched_getaffinity(0))
    return max(1, min(MAX_WORKERS, cpus, units // (PARALLEL_MIN_UNITS // 2)))


def slices_of(items: Sequence[T], workers: int) -> list[list[T]]:
    """Contiguous slices, small enough to even out the workers' loads."""
    chunk = max(1, min(64, len(items) // (workers * 8)))
    return [list(items[i : i + chunk]) for i in range(0, len(items), chunk)]


def _run_slice(part: list[Any]) -> Any:
    assert _TASK is not None
    return _TASK(part)


def map_in_workers(
    task: Callable[[list[T]], R], slices: list[list[T]], workers: int, what: str
) -> Iterator[R]:
    """`task` of each slice, computed in `workers` forked processes, yielded in slice order. `task` is inherited
    by the fork (never pickled); slices and results are. `what` names the work in the error a dead worker
    causes."""
    return Spread(task, slices, workers, what).results()


class Spread(Generic[R]):
    """map_in_workers started now, its results read later: the workers compute while the caller does something
    else (the run writes and pushes the branches while the pull requests' bodies are written).

    `nice`, when above 0, is added to the workers' niceness: what the caller does meanwhile is the run's critical
    path, and on a machine of few cores the workers then take the time it leaves (the bodies are read after the
    push; at the same priority they took a core from the branches' writing)."""

    def __init__(
        self, task: Callable[[list[T]], R], slices: list[list[T]], workers: int, what: str, *, nice: int = 0
    ) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        global _TASK
        self._what, self._units = what, sum(len(s) for s in slices)
        # An executor rather than multiprocessing.Pool: a worker that dies (out of memory) fails the run instead
        # of leaving it waiting forever; with `fork` it starts every worker before any helper thread of its own.
        self._executor: ProcessPoolExecutor | None = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=functools.partial(_lower_priority, nice) if nice > 0 else None,
        )
        # What is loaded now stays out of the collector's sight until the results are read (see _collector_frozen).
        gc.freeze()
        _TASK = task
        try:
            self._results = self._executor.map(_run_slice, slices)  # every worker is forked by now
        except BaseException:
            self.close()
            raise
        finally:
            _TASK = None

    def results(self) -> Iterator[R]:
        """Each slice's result, in slice order, as the workers send them; the workers end with the last one."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            with _collector_paused():
                yield from self._results
        except BrokenProcessPool:
            raise GitopsError(
                f"a {self._what} worker process died (out of memory?) while {self._what} {self._units} units: "
                f"run again, with GITOPS_ENGINE_WORKERS=1 to do it in one process"
            ) from None
        finally:
            self.close()

    def close(self) -> None:
        """End the workers, their results unread (a slice being computed is finished first)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
            gc.unfreeze()


class Background(Generic[R]):
    """`task()` computed in one forked process from now on, for work that fits a core the run leaves idle (the
    parent writing to the forge). The child inherits `task` and sends back its pickled result through a pipe,
    then exits: it never waits for anything, so a parent killed meanwhile leaves no process behind for long.
    `nice`: as for Spread."""

    def __init__(self, task: Callable[[], R], what: str, *, nice: int = 0) -> None:
        self._what = what
        read, write = os.pipe()
        try:
            with _collector_frozen():
                pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            raise
        if pid == 0:
            _run_in_child(task, read, write, nice)
        os.close(write)
        self._pid, self._read = pid, read

    def result(self) -> R:
        """What `task` returned; raises GitopsError when it failed or its process died."""
        import pickle

        data = self._collect()
        if data is None:
            raise GitopsError(f"the {self._what} process failed or died (out of memory?)")
        result: R = pickle.loads(data)
        return result

    def close(self) -> None:
        """Wait for the process to end, its result unread."""
        self._collect()

    def stop(self) -> None:
        """End the process now, its result unread (for a task without effects that is no longer needed)."""
        if self._pid != 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
        self._collect()

    def _collect(self) -> bytes | None:
        if self._pid == 0:
            return None
        with os.fdopen(self._read, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        return data if status == 0 else None


def _lower_priority(nice: int) -> None:
    """Add `nice` to this process's niceness; where the system refuses, the work runs at the priority it has."""
    if nice > 0:
        with contextlib.suppress(OSError):
            os.nice(nice)


def _run_in_child(task: Callable[[], Any], read: int, write: int, nice: int) -> None:
    import pickle

    code = 1
    try:
        os.close(read)
        _lower_priority(nice)
        data = pickle.dumps(task(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:
        os._exit(code)  # not the parent's exit handlers, nor its buffered output


@contextlib.contextmanager
def _collector_frozen() -> Iterator[None]:
    """What is loaded before the fork is moved out of the cyclic garbage collector's sight: workers never scan
    (or, scanning, copy) the pages they inherit, and the parent does not scan them again while results arrive."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection in the parent while it unpickles results: they are all kept, and on a machine
    with as many cores as workers, the collector's passes over a growing heap take a core from a worker."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

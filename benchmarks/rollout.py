"""Issue 13's figure: a definition change reaching 2,000 workloads in 40 teams with `groupBy: team`, published
against the GitHub stand-in (tests/testing/fakegithub) with GitHub's documented budget of 500 content-creating requests
an hour (`pullRequests.maxPerHour: 500`).

    python benchmarks/rollout.py                 # 2,000 workloads, 50 a team
    python benchmarks/rollout.py --workloads 200 # quicker

Runs the processor hourly on a simulated clock (the write budget across runs, see gitops_engine.budget) until a
run leaves nothing for a later one, and prints pull requests opened, content-creating requests spent (every
non-GET request the stand-in received), and the runs needed. Goal: at most 2 writes per affected team and wave: a
pull request costs its REST create plus one GraphQL request for its labels, team reviewers and auto-merge. Writes
made once per run or per repository (the dashboard issue, a label the repository lacks) are counted apart.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import generate  # noqa: E402
import run as bench  # noqa: E402
from testing.fakegithub import FakeClock, FakeGitHub, make_forge  # noqa: E402

from gitops_engine.git import default_identity  # noqa: E402
from gitops_engine.reconcile import process as process_repo  # noqa: E402

MAX_RUNS = 24
HOURLY_BUDGET = 500  # GitHub: content-creating requests an hour


def _postgres(text: str) -> str:
    for old, new in zip(generate.POSTGRES_OLD, generate.POSTGRES_NEW, strict=True):
        text = text.replace(old, new)
    return text


def _group_by_team(text: str) -> str:
    return text.replace("  maxPerHour: 100000\n", f"  maxPerHour: {HOURLY_BUDGET}\n  groupBy: team\n")


_RUN_LEVEL = re.compile(r"/repos/[^/]+/[^/]+/(labels|issues(/\d+)?)")


def _is_run_level(path: str) -> bool:
    """A write that is not a pull request's: the dashboard issue, or a label created in the repository."""
    return _RUN_LEVEL.fullmatch(path) is not None


def measure(workloads: int, per_team: int, fresh: bool) -> dict[str, object]:
    repo = bench.ensure_repo(workloads, per_team, fresh)
    with tempfile.TemporaryDirectory(prefix="rollout-bench-") as scratch:
        remote, work, dev = bench.scratch_clones(repo, Path(scratch))
        bench.dev_commit(
            dev,
            {generate.POSTGRES_DEFINITION: _postgres, "platform.yaml": _group_by_team},
            "Postgres 16.6 for development and staging, one pull request per team\n",
        )
        bench.ci_checkout(work)
        clock = FakeClock()
        with FakeGitHub(remote, clock=clock) as server:
            runs, opened, seconds = 0, 0, 0.0
            units: set[str] = set()
            while runs < MAX_RUNS:
                runs += 1
                forge = make_forge(server, clock, max_writes_per_run=HOURLY_BUDGET)
                started = time.perf_counter()
                report = process_repo(work, forge, default_identity(), clock=clock)
                seconds += time.perf_counter() - started
                opened += len(report.opened)
                units |= {u for u in report.committed_units}
                print(
                    f"run {runs}: {len(report.opened)} opened, {len(report.updated)} updated, "
                    f"{len(report.deferred)} deferred, {forge.stats.writes} writes",
                    file=sys.stderr,
                )
                if not (report.deferred or report.retry):
                    break
                clock.now += 3600  # the next hourly run
            pulls = server.pulls("open")
            teams = {p.head_ref.split("/")[1] for p in pulls}
            writes = len(server.writes)
            run_level = sum(1 for w in server.writes if _is_run_level(w.path))
            violations = server.spec_violations + server.response_violations
    return {
        "workloads": workloads,
        "teams": workloads // per_team,
        "pull requests opened": opened,
        "open pull requests": len(pulls),
        "teams with a pull request": len(teams),
        "content-creating requests": writes,
        "of them for pull requests": writes - run_level,
        "of them once per run or repository (dashboard, labels)": run_level,
        "writes per team and wave": round((writes - run_level) / max(1, len(teams)), 2),
        "all writes per team and wave": round(writes / max(1, len(teams)), 2),
        "runs needed": runs,
        "processor seconds (all runs)": round(seconds, 1),
        "API description violations": len(violations),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", type=int, default=2000)
    parser.add_argument("--per-team", type=int, default=50)
    parser.add_argument("--fresh", action="store_true", help="regenerate the synthetic repo first")
    args = parser.parse_args(argv)
    figures = measure(args.workloads, args.per_team, args.fresh)
    width = max(len(k) for k in figures)
    print("| figure | value |\n|---|---|")
    for key, value in figures.items():
        print(f"| {key:<{width}} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

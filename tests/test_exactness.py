"""The exactness property (issue 10's acceptance), on a real bare remote with the local forge, over seeded random
histories: definition, criteria, environment, settings and workload changes, and merges of every kind (a merge
commit, a squash, a rebase, through the forge or by a person with git, often after the branch was updated).

After every step and the processor's run, against a full `render` of main's sources (the oracle):
- every unit whose rendering on main differs from the oracle's has exactly one open pull request, whose branch
  holds exactly the oracle's rendering of that unit and changes nothing else;
- no other unit has an open pull request;
- every pull request that was merged is `merged`;
- a second run makes no commit, moves no ref and writes nothing to the forge.

Seeded, so a failure replays exactly (the step log is in the assertion message); bounded to stay CI-fast.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

import pytest
from testing.repos import git
from testing.world import World

from gitops_engine.forge.local import LocalForge
from gitops_engine.git import default_identity
from gitops_engine.loading import load_snapshot
from gitops_engine.publishing import BRANCH_PREFIX
from gitops_engine.reconcile import process as process_repo
from gitops_engine.source import WorkTreeSource
from gitops_engine.tree import build_tree

STEPS = 16
SEEDS = [11, 29, 47]
# A person's merge commit pushed with git, or the forge's merge by method (as GitHub's merge button does).
MERGE_KINDS = ("git merge --no-ff", "squash", "rebase", "merge")

PG_INCLUSTER = "definitions/postgres/pg-incluster.yaml"
PG_TUNED = "definitions/postgres/pg-tuned.yaml"
REDIS = "definitions/redis/redis-incluster.yaml"
VOLUME = "definitions/volume/volume-emptydir.yaml"
WORKLOAD_PRODUCTION = "definitions/workload/workload-production.yaml"
WORKLOAD_DEFAULT = "definitions/workload/workload-default.yaml"
IMAGES = {
    "workloads/shop/orders/score.yaml": "orders:",
    "workloads/shop/cart/score.yaml": "cart:",
    "workloads/shop/catalog/score.yaml": "catalog:",
    "workloads/billing/invoices/score.yaml": "invoices:",
    "workloads/billing/mailer/score.yaml": "mailer:",
}


def unit_of(path: str) -> str:
    return "/".join(path.split("/")[2:4])


def blob(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class History:
    """One seeded history on a private copy of the prepared world."""

    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.rng = random.Random(seed)
        self.log: list[str] = [f"seed {seed}"]
        self.merged: set[int] = set()  # pull requests this history merged
        self.merge_kinds: set[str] = set()
        self.counter = 0

    def trace(self) -> str:
        return "\n".join(["", *self.log])

    # -- people ----------------------------------------------------------------------------------------------
    def text(self, path: str) -> str:
        return self.world.show(f"main:{path}")

    def push(self, files: dict[str, str], what: str) -> None:
        self.log.append(what)
        self.world.push_change(files, what)

    def replace_between(self, path: str, options: list[str], what: str) -> None:
        """Switch `path` from whichever of `options` it holds to another one."""
        text = self.text(path)
        current = next(o for o in options if o in text)
        new = self.rng.choice([o for o in options if o != current])
        self.push({path: text.replace(current, new)}, f"{what}: {current!r} -> {new!r}")

    def definition(self) -> None:
        path, options = self.rng.choice(
            [
                (PG_INCLUSTER, ["postgres:16.4", "postgres:17.0", "postgres:17.2"]),
                (PG_TUNED, ['"300"', '"400"', '"500"']),
                (REDIS, ["port: 6379}", "port: 6380}"]),  # the shared `_shared/cache` unit
                (VOLUME, ["'1Gi'", "'2Gi'", "'4Gi'"]),
                (WORKLOAD_PRODUCTION, ["replicas: 3", "replicas: 4"]),
                (
                    WORKLOAD_DEFAULT,
                    ["automountServiceAccountToken: false", "automountServiceAccountToken: true"],
                ),
            ]
        )
        self.replace_between(path, options, f"definition {path}")

    def comment(self) -> None:
        path = self.rng.choice([PG_INCLUSTER, REDIS, WORKLOAD_DEFAULT])
        self.counter += 1
        self.push({path: self.text(path) + f"# note {self.counter}\n"}, f"comment in {path}")

    def criteria(self) -> None:
        self.replace_between(
            WORKLOAD_PRODUCTION,
            ["  - env_type: production\n", "  - env_type: production\n    team: shop\n"],
            "criteria of workload-production",
        )

    def environment(self) -> None:
        env = self.rng.choice(["development", "staging", "production"])
        self.replace_between(
            f"environments/{env}.yaml",
            [f"domain: {env}.example.com", f"domain: {env}.example.org"],
            f"environment {env}",
        )

    def settings(self) -> None:
        self.replace_between(
            "platform.yaml", ["labels: [gitops-engine, rendered]", "labels: [gitops-engine]"], "settings"
        )

    def workload(self) -> None:
        path, prefix = self.rng.choice(sorted(IMAGES.items()))
        text = self.text(path)
        self.counter += 1
        start = text.index(prefix) + len(prefix)
        end = text.index("\n", start)
        self.push({path: text[:start] + f"9.{self.counter}.0" + text[end:]}, f"workload {path}")

    def merge(self) -> None:
        """A person merges an open engine pull request: a merge commit with git, or the forge merges it by a
        method chosen at random (squash, rebase or merge) at the start of the next run."""
        forge = LocalForge(self.world.remote)
        candidates = [p for p in forge.list_pull_requests("open") if p.branch.startswith(BRANCH_PREFIX)]
        if not candidates:
            self.log.append("merge: nothing open")
            return
        pull = self.rng.choice(candidates)
        kinds = [k for k in MERGE_KINDS if k not in self.merge_kinds] or list(MERGE_KINDS)
        kind = self.rng.choice(kinds)
        self.merge_kinds.add(kind)
        self.log.append(f"merge #{pull.number} {pull.branch} by {kind}")
        self.merged.add(pull.number)
        if kind != "git merge --no-ff":
            forge.enable_automerge(pull.number, kind)  # type: ignore[arg-type]
            return
        dev = self.world.dev
        self.world.before = self.world.main()
        git(dev, "pull", "--quiet", "--ff-only", "origin", "main")
        git(dev, "fetch", "--quiet", "origin", pull.branch)
        git(dev, "merge", "--quiet", "--no-ff", "-m", f"Merge #{pull.number}", "FETCH_HEAD")
        git(dev, "push", "--quiet", "origin", "HEAD:main")

    # -- the engine and the oracle -----------------------------------------------------------------------------
    def run(self) -> None:
        base = self.world.before if self.rng.random() < 0.5 else None
        forge = LocalForge(self.world.remote)
        report = process_repo(self.world.engine, forge, default_identity(), base=base)
        assert not report.findings, (self.trace(), report.findings)
        assert not report.deferred and not report.blocked, (self.trace(), report.deferred, report.blocked)
        self.log.append(
            f"  run (base={'yes' if base else 'no'}): committed {report.committed_units}, "
            f"opened {[p.number for p in report.opened]}, updated {[p.number for p in report.updated]}, "
            f"closed {[p.number for p, _ in report.closed]}, merged {[p.number for p in report.merged]}"
        )

    def oracle(self) -> dict[str, str]:
        """A full render of main's sources, from a fresh work tree (path -> blob id)."""
        git(self.world.dev, "pull", "--quiet", "--ff-only", "origin", "main")
        build = build_tree(load_snapshot(WorkTreeSource(self.world.dev)))
        assert build.ok, (self.trace(), build.findings)
        return {path: blob(content) for path, content in build.files().items()}

    def check(self) -> None:
        world = self.world
        desired = self.oracle()
        held = world.files("main")
        units = {unit_of(p) for p in set(desired) | set(held)}
        differing = {u for u in units if _of(held, u) != _of(desired, u)}
        forge = LocalForge(world.remote)
        pulls = forge.list_pull_requests("all")
        open_pulls = [p for p in pulls if p.state == "open"]
        open_units = sorted(p.branch.removeprefix(BRANCH_PREFIX) for p in open_pulls)
        assert open_units == sorted(differing), (self.trace(), open_units, sorted(differing))
        for pull in open_pulls:
            unit = pull.branch.removeprefix(BRANCH_PREFIX)
            branch = f"refs/heads/{pull.branch}"
            assert _of(world.files(branch), unit) == _of(desired, unit), (self.trace(), unit)
            fork = world.rgit("merge-base", "main", branch).strip()
            assert {unit_of(p) for p in world.changed(fork, branch)} == {unit}, (self.trace(), unit)
            assert all(p.startswith("rendered/") for p in world.changed(fork, branch)), (self.trace(), unit)
        states = {p.number: p.state for p in pulls}
        assert {n: states[n] for n in self.merged} == {n: "merged" for n in self.merged}, (
            self.trace(),
            states,
        )

        refs, main, store = world.refs(), world.main(), _store(world)
        again = LocalForge(world.remote)
        report = process_repo(world.engine, again, default_identity())
        assert report.committed is None and report.merged == [], self.trace()
        assert world.refs() == refs and world.main() == main, self.trace()
        assert again.stats.writes == 0 and _store(world) == store, self.trace()


def _of(files: dict[str, str], unit: str) -> dict[str, str]:
    return {p: sha for p, sha in files.items() if unit_of(p) == unit}


def _store(world: World) -> dict[str, bytes]:
    store = world.remote / "gitops-engine"
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("seed", SEEDS)
def test_every_unit_has_exactly_the_pull_request_a_full_render_calls_for(world: World, seed: int) -> None:
    history = History(world, seed)
    changes: list[Callable[[], None]] = [
        history.criteria,
        history.environment,
        history.settings,
        history.comment,
        history.workload,
    ]
    # Every kind of change once, a merge of every kind, definition changes (which open and update pull requests)
    # for the rest; shuffled, after a first definition change.
    schedule = [*changes, *[history.merge] * len(MERGE_KINDS)]
    schedule += [history.definition] * (STEPS - 1 - len(schedule))
    history.rng.shuffle(schedule)
    for move in [history.definition, *schedule]:
        move()
        history.run()
        history.check()
    assert sorted(history.merge_kinds) == sorted(MERGE_KINDS), history.trace()

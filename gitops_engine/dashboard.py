"""The rollout dashboard: one issue saying how far each definition change has rolled out.

Computed from durable state, so it is right whatever range a run looked at: main's locks say which units are live
on a definition's current version in each environment; the open pull requests' rollout markers say which parts
wait in a pull request; the run says which parts wait for a wave, for the write budget, or failed. The issue is
found by its hidden marker and written only when its body changes: a run with nothing new writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gitops_engine.forge import Forge, Issue, PullRequest
from gitops_engine.git import Git
from gitops_engine.loading import Snapshot, load_snapshot
from gitops_engine.lock import lock_object
from gitops_engine.model import ENVIRONMENT_FINGERPRINT
from gitops_engine.provenance import RenderedState
from gitops_engine.rollout import read_marker
from gitops_engine.source import GitSource, environment_of
from gitops_engine.versions import VersionNames

TITLE = "gitops-engine rollout dashboard"
MARKER = "<!-- gitops-engine:dashboard -->"
DATA_START = "<!-- gitops-engine:dashboard-data "
DATA_END = " -->"
STATES = ("live", "pull_request", "waiting_for_wave", "waiting_for_budget", "failed")
HEADINGS = {
    "live": "live",
    "pull_request": "pull request open",
    "waiting_for_wave": "waiting for a wave",
    "waiting_for_budget": "waiting for the write budget",
    "failed": "failed",
}


@dataclass
class RunState:
    """What only the run knows: parts waiting for a wave, units left for the write budget, failed units."""

    waiting: set[tuple[str, str]] = field(default_factory=set)  # (unit, environment)
    deferred: set[str] = field(default_factory=set)  # units (or branches) left for a later run
    failed: dict[str, str] = field(default_factory=dict)  # unit -> its first problem


@dataclass(frozen=True)
class Usage:
    """What main's locks say of every rollout, whatever the pull requests: for each definition or environment file
    that some unit is behind on, the units of each environment using it and whether each is live
    on its current version, in the dashboard's order; and how each is named. Plain data: a forked process can
    compute it while the forge writes the run's pull requests (gitops_engine.publishing.status)."""

    uses: dict[str, dict[str, list[tuple[str, bool]]]]  # definition or file -> env -> [(unit, live)]
    environment_order: list[str]
    names: dict[str, tuple[str, str, str]]  # definition or file -> (path, version, human version)


Uses = dict[str, dict[str, list[tuple[str, bool]]]]  # definition or file -> env -> [(unit, live)]


def usage(git: Git, main: str) -> Usage:
    """What main's locks say of every rollout (see Usage), read in this process."""
    snapshot = _sources(git, main)
    return summarize(git, main, lock_uses(git, main, snapshot=snapshot), snapshot=snapshot)


def _sources(git: Git, main: str) -> Snapshot:
    return load_snapshot(GitSource(git, main, lazy=True))  # workloads/ is not listed: only locks are read


def lock_uses(
    git: Git, main: str, part: tuple[int, int] = (0, 1), *, snapshot: Snapshot | None = None
) -> Uses:
    """What main's locks say: for each definition and environment file, the units of each
    environment using it and whether each is live on its current version. `part` = (k, n): from the k-th of n
    runs of the locks in order only (see merge_uses). `snapshot`: main's, when loaded already."""
    snapshot = snapshot if snapshot is not None else _sources(git, main)
    state = RenderedState(git, main)
    current = {d.id: d for d in snapshot.definitions.values()}
    uses: Uses = {}
    for (env, unit), lock in state.each_lock(parse=lock_object, part=part):
        for resource in lock.get("resources", []):
            definition = current.get(resource["definition"])
            if definition is not None:
                live = resource["version"] == definition.version
                uses.setdefault(definition.id, {}).setdefault(env, []).append((unit, live))
        # An environment change rolls out too: a unit is behind on it while its lock records an older fingerprint
        # of the environment file (what rendering reads of it: an edit of its rollout settings rolls nothing out).
        # platform.yaml changes no rendered byte: locks of render version 4 on do not name it.
        path = f"environments/{env}.yaml"
        inputs = lock.get("inputs", {})
        environment = snapshot.environments.get(env)
        if path in inputs and environment is not None:
            live = inputs[path] == environment.fingerprint
            uses.setdefault(path, {}).setdefault(env, []).append((unit, live))
    return uses


def merge_uses(parts: Iterable[Uses]) -> Uses:
    """The lock_uses of every part, in part order: what lock_uses of all the locks gives."""
    merged: Uses = {}
    for uses in parts:
        for key, by_env in uses.items():
            for env, units in by_env.items():
                merged.setdefault(key, {}).setdefault(env, []).extend(units)
    return merged


def summarize(git: Git, main: str, uses: Uses, *, snapshot: Snapshot | None = None) -> Usage:
    """The Usage of main's lock_uses: only what some unit is behind on, named. `snapshot`: main's, when loaded
    already."""
    snapshot = snapshot if snapshot is not None else _sources(git, main)
    current = {d.id: d for d in snapshot.definitions.values()}
    versions = VersionNames(git, main)
    behind: Uses = {}
    names: dict[str, tuple[str, str, str]] = {}
    for key in sorted(uses, key=lambda key: (key not in current, key)):
        if all(live for units in uses[key].values() for _, live in units):
            continue  # nothing left to roll out
        behind[key] = uses[key]
        definition = current.get(key)
        names[key] = (
            (definition.path, definition.version, versions.of_definition(definition))
            if definition is not None
            else _environment_names(key, snapshot, versions)
        )
    return Usage(behind, list(snapshot.environment_order), names)


def _environment_names(path: str, snapshot: Snapshot, versions: VersionNames) -> tuple[str, str, str]:
    """Usage.names of an environment file: its path, its short fingerprint and the commit that made it."""
    fingerprint = snapshot.environments[environment_of(path) or ""].fingerprint
    short = fingerprint.removeprefix(ENVIRONMENT_FINGERPRINT)[:12]
    return path, short, versions.of_environment(path, fingerprint)


def build(
    git: Git, main: str, open_pulls: list[PullRequest], run: RunState, main_usage: Usage | None = None
) -> dict[str, Any]:
    """The dashboard's data: every definition or environment file some unit is behind on in some
    environment, by version. `main_usage`: `usage(git, main)`, when it was computed already."""
    found = main_usage if main_usage is not None else usage(git, main)
    in_pull: dict[tuple[str, str], PullRequest] = {}
    for pull in open_pulls:
        marker = read_marker(pull.body, pull.branch)
        if marker is not None:
            for unit in marker.units:
                for env in marker.environments:
                    in_pull[(unit, env)] = pull
    changes = []
    for key, by_env in found.uses.items():
        environments = {}
        for env in [e for e in found.environment_order if e in by_env]:
            counts = {name: 0 for name in STATES}
            pulls: dict[int, str] = {}
            for unit, live in sorted(set(by_env[env])):
                status = _status(unit, env, live, in_pull, run)
                counts[status] += 1
                if status == "pull_request":
                    pull = in_pull[(unit, env)]
                    pulls[pull.number] = pull.url
            environments[env] = {
                **counts,
                "pull_requests": [{"number": n, "url": pulls[n]} for n in sorted(pulls)],
            }
        path, version, human_version = found.names[key]
        changes.append(
            {
                "definition": key,
                "path": path,
                "version": version,
                "human_version": human_version,
                "environments": environments,
            }
        )
    failed = [{"unit": unit, "problem": run.failed[unit]} for unit in sorted(run.failed)]
    return {"changes": changes, "failed": failed}


def _status(
    unit: str, env: str, live: bool, in_pull: dict[tuple[str, str], PullRequest], run: RunState
) -> str:
    if live:
        return "live"
    if unit in run.failed:
        return "failed"
    if (unit, env) in in_pull:
        return "pull_request"
    if (unit, env) in run.waiting:
        return "waiting_for_wave"
    return "waiting_for_budget"  # planned, but no pull request could be written yet


def render_body(data: dict[str, Any]) -> str:
    lines = [MARKER, f"# {TITLE}", ""]
    if not data["changes"]:
        lines.append("Every definition and environment change has rolled out: all units are live.")
    for change in data["changes"]:
        lines += [f"## `{change['definition']}`: {change['human_version']}", ""]
        lines.append("| environment | " + " | ".join(HEADINGS[s] for s in STATES) + " |")
        lines.append("|---|" + "---|" * len(STATES))
        for env, counts in change["environments"].items():
            lines.append(f"| {env} | " + " | ".join(str(counts[s]) for s in STATES) + " |")
        links = {p["number"]: p["url"] for c in change["environments"].values() for p in c["pull_requests"]}
        if links:
            lines += ["", "Pull requests: " + ", ".join(f"[#{n}]({links[n]})" for n in sorted(links))]
        lines.append("")
    if data["failed"]:
        lines += ["", "## Failed units", ""]
        lines += [f"- `{f['unit']}`: {f['problem']}" for f in data["failed"]]
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).replace(
        "--", "-\\u002d"
    )
    lines += ["", DATA_START + payload + DATA_END]
    return "\n".join(lines).rstrip("\n") + "\n"


def publish(forge: Forge, data: dict[str, Any]) -> Issue | None:
    """Create the dashboard issue, or edit it in place; nothing is written when its body would not change."""
    body = render_body(data)
    found = forge.find_issue(MARKER)
    if found is None and not data["changes"]:
        # Nothing is rolling out: no issue to open (a workload's own mistake fails its team's check and the run,
        # not a rollout; once the issue exists, it lists failed units too).
        return None
    if found is not None and found.body == body and found.title == TITLE and found.state == "open":
        return None
    return forge.upsert_issue(MARKER, TITLE, body)


def read(issue: Issue) -> dict[str, Any] | None:
    """The data a dashboard issue holds (None when its hidden data is missing or broken)."""
    start = issue.body.find(DATA_START)
    if start < 0:
        return None
    end = issue.body.find(DATA_END, start + len(DATA_START))
    try:
        data = json.loads(issue.body[start + len(DATA_START) : end])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None

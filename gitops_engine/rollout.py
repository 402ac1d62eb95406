"""Rollouts: how a definition, environment or settings change reaches each environment.

An environment's `rollout.mode` says how its part of such a change lands (committed to main, a pull request, or a
pull request that merges itself), and `rollout.after` orders environments into waves: a unit's part for an
environment is planned only once every environment it waits for is live for that unit (main's rendering there
equals what today's sources render). Parts that wait are reported, not failed; the run after the previous wave is
merged picks them up (a run with waiting parts never records itself as complete, so the change stays in range).

`pullRequests.groupBy: team` gathers the pull-request parts of a team's units into one pull request per team,
wave and mode. Every branch name the engine writes is made and parsed here (`branch_of`, `parse_branch`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from gitops_engine import names
from gitops_engine.errors import Finding, did_you_mean
from gitops_engine.model import LOCK_FILE, SHARED_FOLDER, Environment, is_dns_label
from gitops_engine.yamlio import Document

if TYPE_CHECKING:
    from gitops_engine.loading import Snapshot
    from gitops_engine.plan import Plan, UnitPlan

BRANCH_PREFIX = names.BRANCH_PREFIX
AUTOMERGE_SUFFIX = ".automerge"
TEAM_BRANCH = "_team"  # no workload can take it: workload names are DNS labels
ROLLOUT_MARKER = "<!-- gitops-engine:rollout {payload} -->"
_ROLLOUT_MARKER_RE = re.compile(r"<!-- gitops-engine:rollout (\{.*?\}) -->")
_UNIT_MARKER_RE = re.compile(r"<!-- gitops-engine:unit=([^ ]+) -->")
_GROUP_NAME = re.compile(rf"{TEAM_BRANCH}(?:-w([1-9][0-9]*))?")

Mode = Literal["direct", "pull-request", "automerge"]
MODES: tuple[Mode, ...] = ("direct", "pull-request", "automerge")
Group = Literal["workload", "team"]


# -------------------------------------------------------------------------------------------------------------
# Validation and waves


def rollout_problems(
    environments: Mapping[str, Environment], documents: Mapping[str, Document], listed: Sequence[str]
) -> list[Finding]:
    """`rollout.after` naming an environment platform.yaml does not list, or environments waiting for each other
    (a cycle): findings at the `after` entry's line."""
    known = set(listed) or set(environments)
    findings: list[Finding] = []
    for env_id in sorted(environments):
        for index, other in enumerate(environments[env_id].after):
            if other not in known:
                findings.append(
                    documents[env_id].finding(
                        ("rollout", "after", index),
                        f"rollout.after names environment {other!r}, which platform.yaml does not list"
                        f"{did_you_mean(other, known)}: use one of {', '.join(sorted(known))}",
                    )
                )
    for cycle in _cycles(environments):
        for position, env_id in enumerate(cycle):
            waits_for = cycle[(position + 1) % len(cycle)]
            index = environments[env_id].after.index(waits_for)
            path = " → ".join([*cycle[position:], *cycle[:position], env_id])
            findings.append(
                documents[env_id].finding(
                    ("rollout", "after", index),
                    f"rollout.after makes a cycle ({path}): no environment of it could ever get a change; "
                    f"remove {waits_for!r} here or the entry that leads back to {env_id!r}",
                )
            )
    return findings


def _cycles(environments: Mapping[str, Environment]) -> list[list[str]]:
    """Each cycle of the `after` graph once, starting at its smallest environment id."""
    found: set[tuple[str, ...]] = set()

    def walk(env_id: str, path: list[str]) -> None:
        for other in environments[env_id].after:
            if other not in environments:
                continue
            if other in path:
                cycle = path[path.index(other) :]
                start = cycle.index(min(cycle))
                found.add(tuple(cycle[start:] + cycle[:start]))
            else:
                walk(other, [*path, other])

    for env_id in sorted(environments):
        walk(env_id, [env_id])
    return [list(c) for c in sorted(found)]


def waves(environments: Mapping[str, Environment]) -> dict[str, int]:
    """Wave of each environment: 1 with no `after`, else 1 + the largest wave among those it waits for."""
    memo: dict[str, int] = {}

    def wave(env_id: str, seen: frozenset[str]) -> int:
        if env_id not in memo:
            after = [a for a in environments[env_id].after if a in environments and a not in seen]
            memo[env_id] = 1 + max((wave(a, seen | {a}) for a in after), default=0)
        return memo[env_id]

    return {env_id: wave(env_id, frozenset({env_id})) for env_id in environments}


# -------------------------------------------------------------------------------------------------------------
# Branch names


@dataclass(frozen=True)
class BranchName:
    """What an engine branch stands for: one unit (`name` a workload or shared resource) or a team's group
    (`name` is TEAM_BRANCH), the automerge part or not, and the wave of a group of wave 2 or later."""

    team: str
    name: str
    automerge: bool = False
    wave: int | None = None

    @property
    def is_group(self) -> bool:
        return self.name == TEAM_BRANCH

    @property
    def unit(self) -> str | None:
        return None if self.is_group else f"{self.team}/{self.name}"

    def __str__(self) -> str:
        name = self.name if self.wave is None else f"{self.name}-w{self.wave}"
        return f"{BRANCH_PREFIX}{self.team}/{name}{AUTOMERGE_SUFFIX if self.automerge else ''}"


def parse_branch(branch: str) -> BranchName | None:
    """The engine branch `branch` names (see BranchName); None for anything else."""
    if not branch.startswith(BRANCH_PREFIX):
        return None
    rest = branch[len(BRANCH_PREFIX) :]
    automerge = rest.endswith(AUTOMERGE_SUFFIX)
    if automerge:
        rest = rest[: -len(AUTOMERGE_SUFFIX)]
    team, slash, name = rest.partition("/")
    if not slash or not (is_dns_label(team) or team == SHARED_FOLDER):
        return None
    group = _GROUP_NAME.fullmatch(name)
    if group is not None:
        return BranchName(team, TEAM_BRANCH, automerge, int(group[1]) if group[1] else None)
    if not is_dns_label(name) and not (team == SHARED_FOLDER and _is_res_id(name)):
        return None
    return BranchName(team, name, automerge)


def _is_res_id(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith(".") and not name.endswith(AUTOMERGE_SUFFIX)


def unit_of_branch(branch: str) -> str | None:
    """The unit of a per-unit engine branch (its pull-request or automerge part); None for groups and others."""
    parsed = parse_branch(branch)
    return parsed.unit if parsed is not None else None


def branch_of(unit: str, *, automerge: bool = False) -> str:
    """A unit's branch, checked as git checks a branch name (names.branch_for, the one place for that)."""
    return names.branch_for(unit) + (AUTOMERGE_SUFFIX if automerge else "")


# -------------------------------------------------------------------------------------------------------------
# Splitting units into parts


@dataclass(frozen=True)
class RolloutConfig:
    modes: Mapping[str, Mode]
    after: Mapping[str, tuple[str, ...]]
    waves: Mapping[str, int]
    group_by: Group
    merge_method: str

    @property
    def active(self) -> bool:
        """Does anything differ from one pull request per workload with every environment in it?"""
        return (
            self.group_by != "workload"
            or any(self.after.values())
            or any(m != "pull-request" for m in self.modes.values())
        )


def rollout_config(snapshot: Snapshot) -> RolloutConfig:
    environments = snapshot.environments
    return RolloutConfig(
        modes={e: _mode(env.rollout_mode) for e, env in environments.items()},
        after={e: env.after for e, env in environments.items()},
        waves=waves(environments),
        group_by="team" if snapshot.settings.group_by == "team" else "workload",
        merge_method=snapshot.settings.merge_method,
    )


def _mode(value: str) -> Mode:
    for mode in MODES:
        if mode == value:
            return mode
    return "pull-request"


Waiting = tuple[str, str, tuple[str, ...]]  # (unit, environment, environments it waits for)


def apply_rollout(plan: Plan, snapshot: Snapshot) -> list[Waiting]:
    """Split each definition-caused unit of `plan` into its parts by environment mode and wave (plan.parts);
    returns the parts that wait. Without rollout settings the plan is left as it is (one part per unit)."""
    config = rollout_config(snapshot)
    if not config.active:
        return []
    parts: list[UnitPlan] = []
    waiting: list[Waiting] = []
    for unit_plan in plan.units.values():
        unit_parts, unit_waiting = split_unit(unit_plan, config, snapshot)
        parts += unit_parts
        waiting += unit_waiting
    plan.parts = parts
    plan.waiting = waiting
    return waiting


def split_unit(
    unit: UnitPlan, config: RolloutConfig, snapshot: Snapshot
) -> tuple[list[UnitPlan], list[Waiting]]:
    """The unit's parts: one per mode among its ready environments (lock-only environments join their mode's
    part when it changes manifests, else go to main), and the environments that wait."""
    if unit.cause != "definitions" or not unit.changed:
        return [replace(unit, wave=_wave_of(unit.environments, config))], []
    changed = set(unit.environments)
    waiting: list[Waiting] = []
    by_mode: dict[str, list[str]] = {}
    for env in unit.environments:
        lock_only = env not in unit.manifest_environments
        blockers = tuple(a for a in config.after.get(env, ()) if a in changed)
        if blockers and not lock_only:
            waiting.append((unit.unit, env, blockers))
            continue
        mode: str = config.modes.get(env, "pull-request")
        if mode == "direct" and _removes_data(unit, snapshot, env):
            mode = "pull-request"  # data-holding objects in production are removed through a review only
        by_mode.setdefault(mode, []).append(env)
    main_envs = list(by_mode.pop("direct", []))
    parts: list[UnitPlan] = []
    for mode in ("pull-request", "automerge"):
        envs = by_mode.get(mode, [])
        if not envs:
            continue
        if not any(e in unit.manifest_environments for e in envs):
            main_envs += envs  # provenance only: deploys nothing, so it is committed
            continue
        parts.append(_part(unit, envs, mode, config, snapshot))
    if main_envs:
        parts.insert(0, _part(unit, main_envs, "direct", config, snapshot))
    return parts, waiting


def _part(
    unit: UnitPlan, envs: Sequence[str], mode: str, config: RolloutConfig, snapshot: Snapshot
) -> UnitPlan:
    whole = set(unit.environments) == set(envs)
    keep = set(envs)

    def mine(path: str) -> bool:
        return path.split("/")[1] in keep

    part = replace(
        unit,
        writes={p: c for p, c in unit.writes.items() if mine(p)},
        deletes=[p for p in unit.deletes if mine(p)],
        old_files={p: b for p, b in unit.old_files.items() if mine(p)},
        rendered={e: r for e, r in unit.rendered.items() if e in keep},
        old_locks={e: lk for e, lk in unit.old_locks.items() if e in keep},
        object_envs=unit.object_envs & keep,
        body=unit.body if whole and mode == "pull-request" else None,
        mode=mode,
        wave=_wave_of(envs, config),
    )
    part.removes_production_data = any(_removes_data(part, snapshot, e) for e in envs)
    return part


def _wave_of(envs: Iterable[str], config: RolloutConfig) -> int:
    return max((config.waves.get(e, 1) for e in envs), default=1)


def _removes_data(unit: UnitPlan, snapshot: Snapshot, env: str) -> bool:
    from gitops_engine.plan import DATA_KINDS

    environment = snapshot.environments.get(env)
    if environment is None or environment.type != "production":
        return False
    kinds = {k.lower() for k in DATA_KINDS}
    prefix = f"rendered/{env}/"
    return any(
        p.startswith(prefix) and p.rsplit("/", 1)[1].split("-", 1)[0] in kinds and not p.endswith(LOCK_FILE)
        for p in unit.deletes
    )


# -------------------------------------------------------------------------------------------------------------
# Pull requests: which parts go together, on which branch


@dataclass
class PullGroup:
    """One pull request to open or update: its branch and the unit parts it holds."""

    branch: str
    units: list[UnitPlan]
    wave: int
    automerge: bool
    group: Group
    team: str

    @property
    def names(self) -> list[str]:
        return [u.unit for u in self.units]

    @property
    def environments(self) -> list[str]:
        order = self.units[0].order if self.units else ()
        rank = {env: index for index, env in enumerate(order)}
        envs = {e for u in self.units for e in u.environments}
        return sorted(envs, key=lambda env: (rank.get(env, len(rank)), env))

    @property
    def label(self) -> str:
        """How reports name it: the unit, or `<team>/_team` for a group."""
        return self.units[0].unit if self.group == "workload" else f"{self.team}/{TEAM_BRANCH}"


def pull_groups(parts: Iterable[UnitPlan], group_by: Group) -> list[PullGroup]:
    """The pull requests the parts make, sorted by branch: one per unit and mode, or with groupBy team one per team,
    wave and mode (shared resources are a team of their own, `_shared`); a group of wave 2 or later has its wave in
    its branch name (`_team-w2`), so the name of a group never depends on what else is open."""
    parts = [p for p in parts if p.changed and not p.goes_to_main]
    if group_by == "workload":
        groups = [
            PullGroup(
                branch_of(p.unit, automerge=p.mode == "automerge"),
                [p],
                p.wave,
                p.mode == "automerge",
                "workload",
                p.unit.split("/", 1)[0],
            )
            for p in parts
        ]
        return sorted(groups, key=lambda g: g.branch)
    keyed: dict[tuple[str, bool, int], list[UnitPlan]] = {}
    for p in sorted(parts, key=lambda p: p.unit):
        keyed.setdefault((p.unit.split("/", 1)[0], p.mode == "automerge", p.wave), []).append(p)
    groups = []
    for (team, automerge, wave), units in keyed.items():
        # The wave is in the name from wave 2 on, whatever else is open: a group's branch never changes while its
        # pull request is open (a name taken from "the lowest wave open" moved when an earlier wave merged, and
        # the pull request was closed and opened again under the new name, losing its reviews).
        branch = str(BranchName(team, TEAM_BRANCH, automerge, None if wave == 1 else wave))
        groups.append(PullGroup(branch, units, wave, automerge, "team", team))
    return sorted(groups, key=lambda g: g.branch)


# -------------------------------------------------------------------------------------------------------------
# The rollout marker in pull-request bodies (written by publishing.describe.rollout_marker)


@dataclass(frozen=True)
class RolloutMarker:
    units: tuple[str, ...]
    environments: tuple[str, ...] = ()
    wave: int = 1
    automerge: bool = False
    group: Group = "workload"
    versions: Mapping[str, str] = field(default_factory=dict)


def read_marker(body: str, branch: str) -> RolloutMarker | None:
    """The rollout marker of a pull request's body; for bodies written before markers existed, what the unit markers
    and the branch say. None for a pull request that is not the engine's."""
    found = _ROLLOUT_MARKER_RE.search(body)
    if found is not None:
        try:
            data = json.loads(found[1])
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("units"), list):
            return RolloutMarker(
                units=tuple(str(u) for u in data["units"]),
                environments=tuple(str(e) for e in data.get("environments", [])),
                wave=int(data.get("wave", 1)),
                automerge=bool(data.get("automerge", False)),
                group="team" if data.get("group") == "team" else "workload",
                versions={str(k): str(v) for k, v in dict(data.get("versions", {})).items()},
            )
    parsed = parse_branch(branch)
    if parsed is None:
        return None
    units = tuple(_UNIT_MARKER_RE.findall(body)) or ((parsed.unit,) if parsed.unit else ())
    return RolloutMarker(
        units=units, automerge=parsed.automerge, group="team" if parsed.is_group else "workload"
    )

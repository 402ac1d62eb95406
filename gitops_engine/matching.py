"""Stage 2: which definition provides a resource in an environment.

A criterion matches when every field it sets equals the resource's; `class` is a filter (absent means `default`),
never a rank. Among matching definitions the most specific wins, comparing res_id > workload > team > env >
env_type. A tie between two definitions is an error naming both; never a silent pick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitops_engine.model import DEFAULT_CLASS, Criterion, Definition, Environment


@dataclass(frozen=True)
class ResourceKey:
    """What matching looks at. `team` and `workload` are None for shared resources."""

    type: str
    class_: str
    res_id: str
    team: str | None
    workload: str | None

    def describe(self) -> str:
        owner = f"{self.team}/{self.workload}" if self.team else "shared"
        return f"{self.type} resource {self.res_id!r} (class {self.class_!r}, {owner})"


class NoMatch(Exception):
    def __init__(self, key: ResourceKey, env: Environment, considered: Sequence[Definition]) -> None:
        self.key = key
        self.env = env
        self.considered = list(considered)
        names = ", ".join(d.path for d in considered) or "none"
        super().__init__(
            f"no definition provides {key.describe()} in environment {env.id!r} (type {env.type!r}); "
            f"definitions of type {key.type!r} considered: {names}. Add a criterion that matches, "
            "or ask the infra team for one"
        )


class Ambiguous(Exception):
    def __init__(self, key: ResourceKey, env: Environment, tied: Sequence[Definition]) -> None:
        self.key = key
        self.env = env
        self.tied = list(tied)
        super().__init__(
            f"{' and '.join(d.path for d in tied)} both match {key.describe()} in environment {env.id!r} "
            "equally specifically: make one criterion more specific (res_id > workload > team > env > env_type)"
        )


def criterion_matches(criterion: Criterion, key: ResourceKey, env: Environment) -> bool:
    if (criterion.class_ or DEFAULT_CLASS) != key.class_:
        return False
    if criterion.env_type is not None and criterion.env_type != env.type:
        return False
    if criterion.env is not None and criterion.env != env.id:
        return False
    if criterion.team is not None and criterion.team != key.team:
        return False
    if criterion.workload is not None and criterion.workload != key.workload:
        return False
    return criterion.res_id is None or criterion.res_id == key.res_id


def specificity(definition: Definition, key: ResourceKey, env: Environment) -> tuple[bool, ...] | None:
    """The definition's best matching criterion's rank, or None when no criterion matches."""
    best: tuple[bool, ...] | None = None
    for criterion in definition.criteria:
        if criterion_matches(criterion, key, env):
            rank = criterion.specificity
            if best is None or rank > best:
                best = rank
    return best


def match_definition(candidates: Sequence[Definition], key: ResourceKey, env: Environment) -> Definition:
    """The most specific of `candidates` (definitions of key.type) for the resource in `env`."""
    best_rank: tuple[bool, ...] | None = None
    best: list[Definition] = []
    for definition in candidates:
        rank = specificity(definition, key, env)
        if rank is None:
            continue
        if best_rank is None or rank > best_rank:
            best_rank, best = rank, [definition]
        elif rank == best_rank:
            best.append(definition)
    if not best:
        raise NoMatch(key, env, candidates)
    if len(best) > 1:
        raise Ambiguous(key, env, best)
    return best[0]

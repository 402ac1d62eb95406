"""The order a workload's resources are resolved in: every resource after the resources its params refer to.

The order is observable (locks list resources in it, and a resource's failure skips the ones after it that use
it), so it is the one the engine has always used: walking resource names alphabetically, each resource's
dependencies first, in alphabetical order. graphlib.TopologicalSorter keeps the dependencies first; among the
resources ready at a step, the one that walk reaches first goes next. That walk reaches each resource first along
its alphabetically smallest chain of dependents (the resource itself, or a resource that depends on it, and so on),
so that chain is its rank.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Set
from graphlib import CycleError, TopologicalSorter


class DependencyCycle(Exception):
    """Resources that depend on each other, as the walk meets them: `cycle[0]` depends on `cycle[1]` and so on;
    the last is `cycle[0]` again."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__(" -> ".join(cycle))
        self.cycle = cycle


def dependency_order(deps: Mapping[str, Set[str]]) -> list[str]:
    """Every name of `deps` after the names it depends on (`deps[name]`, all keys of `deps`).
    Raises DependencyCycle."""
    if not any(deps.values()):  # the common case, and the walk's order then: alphabetical
        return sorted(deps)
    sorter = TopologicalSorter(deps)
    try:
        sorter.prepare()
    except CycleError:
        # get_ready() still gives every name that does not depend on a cycle; the rest do.
        raise DependencyCycle(_first_cycle(deps, set(deps) - set(_drain(sorter)))) from None
    rank = _ranks(deps)
    order: list[str] = []
    ready = [(rank[name], name) for name in sorter.get_ready()]
    heapq.heapify(ready)
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        sorter.done(name)
        for after in sorter.get_ready():
            heapq.heappush(ready, (rank[after], after))
    return order


def _ranks(deps: Mapping[str, Set[str]]) -> dict[str, tuple[str, ...]]:
    """Each name's alphabetically smallest chain of dependents ending at it (dependents are ranked first)."""
    dependents: dict[str, list[str]] = {name: [] for name in deps}
    for name, wanted in deps.items():
        for dep in wanted:
            dependents[dep].append(name)
    rank: dict[str, tuple[str, ...]] = {}
    for name in TopologicalSorter(dependents).static_order():
        rank[name] = min([(name,), *((*rank[user], name) for user in dependents[name])])
    return rank


def _drain(sorter: TopologicalSorter[str]) -> list[str]:
    done: list[str] = []
    while ready := sorter.get_ready():
        done.extend(ready)
        sorter.done(*ready)
    return done


def _first_cycle(deps: Mapping[str, Set[str]], stuck: Set[str]) -> list[str]:
    """The cycle the alphabetical walk meets first. `stuck`: the names that depend on a cycle (each has a
    dependency among them); the walk passes every other name without meeting one, and from a stuck name it
    goes to its alphabetically first stuck dependency until it comes back to a name on its way."""
    path = [min(stuck)]
    while True:
        following = min(dep for dep in deps[path[-1]] if dep in stuck)
        if following in path:
            return [*path[path.index(following) :], following]
        path.append(following)

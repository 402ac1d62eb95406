"""render/ordering.py: the order a workload's resources are resolved in (locks list them in it), and the cycle a
cycle error names.

The order must stay the one the engine used before graphlib: a depth-first walk over the names in alphabetical
order, dependencies first, also alphabetically. `_walk` below is that walk, kept here as the reference; every graph
of up to four resources is compared with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Set

import pytest

from gitops_engine.render.ordering import DependencyCycle, dependency_order


def _walk(deps: Mapping[str, Set[str]]) -> list[str]:
    """The reference: the engine's depth-first order before graphlib (rendering.py's `_dependency_order`)."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise DependencyCycle([*chain[chain.index(name) :], name])
        state[name] = 1
        for dep in sorted(deps[name]):
            visit(dep, [*chain, name])
        state[name] = 2
        order.append(name)

    for name in sorted(deps):
        visit(name, [])
    return order


def _outcome(order: object, deps: Mapping[str, Set[str]]) -> list[str] | tuple[str, ...]:
    try:
        return order(deps)  # type: ignore[operator, no-any-return]
    except DependencyCycle as exc:
        return tuple(exc.cycle)


def _graphs(nodes: list[str], self_loops: bool) -> list[dict[str, set[str]]]:
    edges = [(a, b) for a in nodes for b in nodes if self_loops or a != b]
    graphs = []
    for chosen in itertools.product((False, True), repeat=len(edges)):
        deps: dict[str, set[str]] = {n: set() for n in nodes}
        for (a, b), on in zip(edges, chosen, strict=True):
            if on:
                deps[a].add(b)
        graphs.append(deps)
    return graphs


@pytest.mark.parametrize(
    ("nodes", "self_loops", "count"),
    [(["c", "a", "b"], True, 512), (["b", "d", "a", "c"], False, 4096)],
)
def test_every_small_graph_orders_and_fails_as_the_depth_first_walk_did(
    nodes: list[str], self_loops: bool, count: int
) -> None:
    graphs = _graphs(nodes, self_loops)
    assert len(graphs) == count
    differ = [deps for deps in graphs if _outcome(dependency_order, deps) != _outcome(_walk, deps)]
    assert differ == []
    cyclic = sum(isinstance(_outcome(_walk, deps), tuple) for deps in graphs)
    assert 0 < cyclic < count  # both outcomes were compared


def test_a_resource_comes_after_its_dependencies_and_otherwise_alphabetically() -> None:
    deps = {"route": {"web-dns"}, "db": set(), "web-dns": set(), "cache": set(), "api": {"route", "db"}}
    # `api` is walked first: its dependencies db, then route (after web-dns), then api itself; cache comes last.
    assert dependency_order(deps) == ["db", "web-dns", "route", "api", "cache"]


def test_no_resources_and_independent_resources() -> None:
    assert dependency_order({}) == []
    assert dependency_order({"b": set(), "a": set(), "c": set()}) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("deps", "cycle", "message"),
    [
        ({"db": {"db"}}, ["db", "db"], "db -> db"),
        ({"dns": {"route"}, "route": {"dns"}}, ["dns", "route", "dns"], "dns -> route -> dns"),
        # The walk enters the cycle at d (through a), not at its alphabetically first member c.
        ({"a": {"d"}, "c": {"d"}, "d": {"c"}}, ["d", "c", "d"], "d -> c -> d"),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}, "x": set()}, ["b", "c", "b"], "b -> c -> b"),
        # Two cycles: the one the alphabetical walk meets first.
        ({"a": {"b", "e"}, "b": {"a"}, "e": {"f"}, "f": {"e"}}, ["a", "b", "a"], "a -> b -> a"),
    ],
)
def test_a_cycle_names_the_cycle_the_walk_meets_first(
    deps: dict[str, set[str]], cycle: list[str], message: str
) -> None:
    with pytest.raises(DependencyCycle) as caught:
        dependency_order(deps)
    assert caught.value.cycle == cycle
    assert str(caught.value) == message

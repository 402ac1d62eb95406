"""Rendering a set of units: a failing shared resource fails its workload too; clashes keep the unit in place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.repos import commit_all
from testing.small_platform import DEVELOPMENT_YAML, WEB_SCORE

from gitops_engine.batch import build_tree, namespace_clash_of, render_unit
from gitops_engine.errors import Finding
from gitops_engine.git import Git
from gitops_engine.loading import load_snapshot
from gitops_engine.provenance import RenderedState
from gitops_engine.render import Renderer
from gitops_engine.source import GitSource, WorkTreeSource
from gitops_engine.tree import rendered_units

BROKEN_CACHE = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: cache
type: redis
driver: template
template:
  outputs: |
    host: {{ nope.missing }}
"""
CACHE_PROBLEM = (
    "workloads/team-b/web/score.yaml:9:5: resource 'cache' of type 'redis' cannot be resolved while "
    "definitions/redis/cache.yaml fails to load: fix that definition first"
)
CLASH = (
    "workloads/{loser}/score.yaml:1:1: workload 'web' renders into namespace 'apps-development' of development, as "
    "does workloads/{keeper}/score.yaml: names must be unique in a namespace; rename one or change the namespace "
    "rule in environments/development.yaml"
)


def _texts(failures: dict[str, list[Finding]]) -> dict[str, list[str]]:
    return {unit: [str(f) for f in findings] for unit, findings in failures.items()}


def _with_broken_shared_cache(make_platform: Callable[..., Path]) -> Path:
    return make_platform(
        {
            "definitions/redis/cache.yaml": BROKEN_CACHE,
            "workloads/team-b/web/score.yaml": WEB_SCORE
            + "resources:\n  cache:\n    type: redis\n    id: main-cache\n",
        }
    )


def test_a_failing_shared_resource_fails_the_workload_declaring_it_and_nothing_else(
    make_platform: Callable[..., Path],
) -> None:
    snapshot = load_snapshot(WorkTreeSource(_with_broken_shared_cache(make_platform)))
    build = build_tree(snapshot)
    assert sorted(build.units) == [("development", "team-a/api"), ("production", "team-a/api")]
    assert _texts(build.failures) == {"team-b/web": [CACHE_PROBLEM], "_shared/main-cache": [CACHE_PROBLEM]}
    assert [str(f) for f in build.findings] == [
        "definitions/redis/cache.yaml:1:1: top level: missing required key 'criteria'; add it: where this "
        "definition applies: it matches when any criterion matches",
        CACHE_PROBLEM,
    ]
    assert not build.ok


def test_render_unit_records_a_shared_failure_apart_and_charges_the_workload_only_when_asked(
    make_platform: Callable[..., Path],
) -> None:
    snapshot = load_snapshot(WorkTreeSource(_with_broken_shared_cache(make_platform)))
    renderer = Renderer(snapshot)
    failures: dict[str, list[Finding]] = {}
    shared: dict[str, list[Finding]] = {}
    assert render_unit(renderer, "team-b/web", "development", failures, shared_failures=shared) is None
    assert (_texts(failures), _texts(shared)) == (
        {"team-b/web": [CACHE_PROBLEM]},
        {"_shared/main-cache": [CACHE_PROBLEM]},
    )
    uncharged: dict[str, list[Finding]] = {}
    assert render_unit(renderer, "team-b/web", "production", uncharged, charge_unit=False) is None
    assert _texts(uncharged) == {"_shared/main-cache": [CACHE_PROBLEM]}
    done = render_unit(renderer, "team-a/api", "production", uncharged)
    assert done is not None
    rendered, shared_units = done
    assert (rendered.unit, rendered.env, sorted(rendered.files), shared_units) == (
        "team-a/api",
        "production",
        ["gitops-engine.lock", "manifest.yaml"],
        [],
    )


def test_of_two_workloads_in_one_namespace_the_one_rendered_there_keeps_it(
    make_platform: Callable[..., Path],
) -> None:
    repo = make_platform(
        {"environments/development.yaml": DEVELOPMENT_YAML.replace("{team}-{env}", "apps-{env}")}
    )
    assert run_cli(["render"], repo)[0] == 0
    rendered = commit_all(repo, "render")
    (repo / "workloads/team-a/web").mkdir()
    (repo / "workloads/team-a/web/score.yaml").write_text(WEB_SCORE)
    commit_all(repo, "a newcomer named web")
    snapshot = load_snapshot(WorkTreeSource(repo))
    # Nothing rendered counts: the first in path order keeps the namespace.
    first = build_tree(snapshot)
    assert _texts(first.failures) == {"team-b/web": [CLASH.format(loser="team-b/web", keeper="team-a/web")]}
    # team-b/web is rendered there already: the newcomer is refused, in a full render and in planning alike.
    held = build_tree(snapshot, already_rendered=rendered_units(repo))
    assert _texts(held.failures) == {"team-a/web": [CLASH.format(loser="team-a/web", keeper="team-b/web")]}
    with Git(repo) as git:
        state = RenderedState(git, rendered, full=False)
        at_head = load_snapshot(GitSource(git, "HEAD", lazy=True))
        clash = namespace_clash_of(at_head, state, "team-a/web", "development")
        assert str(clash) == CLASH.format(loser="team-a/web", keeper="team-b/web")
        assert namespace_clash_of(at_head, state, "team-b/web", "development") is None
        assert namespace_clash_of(at_head, state, "team-a/web", "production") is None  # {team}-{env} there


def test_a_shared_resource_first_declared_through_an_escaped_key_renders_alike_with_one_and_two_workers(
    template_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # catalog/product-api comes before product-search in path order: it now declares order-events too, its `id`
    # key spelled with an escape (the text holds no "id"). It is still found to be the first declarer, and
    # rendered before the fork (so no worker reports its declarations).
    score = template_repo / "workloads/catalog/product-api/score.yaml"
    score.write_text(
        score.read_text()
        + '  orders:\n    type: kafka-topic\n    "\\x69d": order-events\n'
        + "    params:\n      topic: orders.events.v1\n      partitions: 6\n"
    )
    snapshot = load_snapshot(WorkTreeSource(template_repo))
    builds = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("GITOPS_ENGINE_WORKERS", workers)
        builds[workers] = build_tree(snapshot)
    assert builds["2"].files() == builds["1"].files()
    assert builds["2"].findings == builds["1"].findings == []
    assert "rendered/staging/_shared/order-events/manifest.yaml" in builds["1"].files()
    assert "catalog/product-api" not in builds["2"].declarations
    assert "catalog/product-search" in builds["2"].declarations

"""render/resources.py: shared resources rendered once per environment, and resources that depend on each other
through their params, on the focused platform."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import rendered_objects, snapshot_tree
from render_support import container_of, env_vars, load_object, render_focused


@pytest.fixture
def rendered_focused(focused_repo: Path) -> Path:
    return render_focused(focused_repo)


def test_shared_resource_rendered_once(rendered_focused: Path) -> None:
    tree = snapshot_tree(rendered_focused)
    shared = sorted(p for p in tree if "/_shared/" in p)
    assert shared == [
        "rendered/development/_shared/shared-cache/gitops-engine.lock",
        "rendered/development/_shared/shared-cache/manifest.yaml",
        "rendered/production/_shared/shared-cache/gitops-engine.lock",
        "rendered/production/_shared/shared-cache/manifest.yaml",
    ]
    # Not once per workload.
    objects = rendered_objects(tree)
    assert [p for p in objects if p.endswith("service-shared-cache.yaml") and "/_shared/" not in p] == []
    service = load_object(
        rendered_focused, "rendered/development/_shared/shared-cache/service-shared-cache.yaml"
    )
    assert service["metadata"]["namespace"] == "shared-development"
    ledger = env_vars(container_of(rendered_focused, "development", "team-b/ledger", "statefulset", "ledger"))
    assert ledger["CACHE_HOST"] == "shared-cache.shared-development.svc.cluster.local"


def test_dependency_between_resources_through_params(rendered_focused: Path) -> None:
    lock = load_object(rendered_focused, "rendered/development/team-a/orders/gitops-engine.lock")
    order = [(r["name"], r["depends_on"]) for r in lock["resources"]]
    # `route` sorts before `web-dns` but needs its host, so it is rendered after it.
    assert order == [
        ("cache", []),
        ("data", []),
        ("db", []),
        ("ledger", []),
        ("web-dns", []),
        ("route", ["web-dns"]),
        ("orders", []),
    ]
    ingress = load_object(rendered_focused, "rendered/development/team-a/orders/ingress-orders-route.yaml")
    assert ingress["spec"]["rules"][0]["host"] == "orders-2d7171.dev.example.com"

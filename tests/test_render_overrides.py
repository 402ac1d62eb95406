"""render/overrides.py: an environment's override deep-merged onto a workload (null deletes), on the focused
platform and on plain data."""

from __future__ import annotations

from pathlib import Path

import pytest
from render_support import container_of, env_vars, load_object, render_focused

from gitops_engine.render import deep_merge


@pytest.fixture
def rendered_focused(focused_repo: Path) -> Path:
    return render_focused(focused_repo)


def test_override_deep_merges_and_null_deletes(rendered_focused: Path) -> None:
    dev = env_vars(container_of(rendered_focused, "development", "team-a/orders", "deployment", "orders"))
    prod_container = container_of(rendered_focused, "production", "team-a/orders", "deployment", "orders")
    prod = env_vars(prod_container)
    assert prod_container["image"] == "registry.example.com/orders:1.3.9"
    assert (dev["LOG_LEVEL"], prod["LOG_LEVEL"]) == ("info", "warn")
    assert "DEBUG" in dev and "DEBUG" not in prod
    # Everything the override does not mention is kept.
    assert set(dev) - set(prod) == {"DEBUG"}
    assert prod["DB_PASSWORD"] == dev["DB_PASSWORD"]
    pvc = load_object(
        rendered_focused, "rendered/production/team-a/orders/persistentvolumeclaim-orders-data.yaml"
    )
    assert pvc["spec"]["resources"] == {"requests": {"storage": "50Gi"}}


def test_deep_merge_merges_mappings_deletes_on_null_and_replaces_the_rest() -> None:
    base = {"a": {"b": 1, "c": [1, 2], "d": "x"}, "e": 1}
    override = {"a": {"b": 2, "c": [3], "d": None, "f": {"g": 1}}, "e": {"h": 1}}
    merged = deep_merge(base, override)
    assert merged == {"a": {"b": 2, "c": [3], "f": {"g": 1}}, "e": {"h": 1}}
    assert merged is base  # merged in place
    assert merged["a"]["f"] is not override["a"]["f"]  # never shares the override's data
    assert deep_merge([1, 2], {"x": None}) == {"x": None}

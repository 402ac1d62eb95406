"""Rendering as a whole: focused golden cases (tests/golden/focused/), the layout of `rendered/`, determinism, the
absence of YAML anchors, removal of deleted workloads and `render --check`. What each aspect of a workload must
produce is in test_render_convert.py; resources and shared resources in test_render_resources.py; overrides in
test_render_overrides.py; the order of resources in test_render_ordering.py.

The platform under test is tests/data/platforms/focused/. Refresh the golden files with GOLDEN_UPDATE=1 (see
tests/helpers.py) and review the diff.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from helpers import (
    API_SCORE,
    assert_golden_tree,
    clone,
    commit_all,
    rendered_objects,
    run_cli,
    snapshot_tree,
    write_files,
)
from render_support import render_focused

ORDERS = "workloads/team-a/orders/score.yaml"


@pytest.fixture
def rendered_focused(focused_repo: Path) -> Path:
    return render_focused(focused_repo)


# -- golden files ------------------------------------------------------------------------------------------------
def test_focused_platform_matches_golden_files(rendered_focused: Path) -> None:
    code, output = run_cli(["render"], rendered_focused)
    assert (code, output) == (0, "rendered 3 units in 2 environments: 0 file(s) written, 0 removed\n")
    assert_golden_tree("focused", snapshot_tree(rendered_focused))


def test_rendered_layout(rendered_focused: Path) -> None:
    assert sorted(snapshot_tree(rendered_focused)) == [
        "rendered/development/_shared/shared-cache/gitops-engine.lock",
        "rendered/development/_shared/shared-cache/manifest.yaml",
        "rendered/development/team-a/orders/gitops-engine.lock",
        "rendered/development/team-a/orders/manifest.yaml",
        "rendered/development/team-b/ledger/gitops-engine.lock",
        "rendered/development/team-b/ledger/manifest.yaml",
        "rendered/production/_shared/shared-cache/gitops-engine.lock",
        "rendered/production/_shared/shared-cache/manifest.yaml",
        "rendered/production/team-a/orders/gitops-engine.lock",
        "rendered/production/team-a/orders/manifest.yaml",
        "rendered/production/team-b/ledger/gitops-engine.lock",
        "rendered/production/team-b/ledger/manifest.yaml",
    ]
    # Every object in one stream, in the order Argo CD and Helm install kinds in, then by name.
    manifest = (rendered_focused / "rendered/production/team-a/orders/manifest.yaml").read_text()
    assert [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(manifest)] == [
        ("PodDisruptionBudget", "orders"),
        ("ExternalSecret", "orders-db"),
        ("ConfigMap", "orders-files-9c9d75c93b"),
        ("PersistentVolumeClaim", "orders-data"),
        ("Service", "orders"),
        ("Service", "orders-db"),
        ("Deployment", "orders"),
        ("Ingress", "orders-route"),
    ]
    assert manifest.startswith("---\napiVersion: policy/v1\nkind: PodDisruptionBudget\n")


# -- determinism -------------------------------------------------------------------------------------------------
def test_rendering_twice_changes_nothing(rendered_focused: Path) -> None:
    first = snapshot_tree(rendered_focused)
    code, output = run_cli(["render"], rendered_focused)
    assert (code, output) == (0, "rendered 3 units in 2 environments: 0 file(s) written, 0 removed\n")
    assert snapshot_tree(rendered_focused) == first


def test_two_clones_render_byte_identical_trees(focused_repo: Path, tmp_path: Path) -> None:
    one = clone(focused_repo, tmp_path / "one")
    two = clone(focused_repo, tmp_path / "elsewhere" / "two")
    assert run_cli(["render"], one)[0] == 0
    assert run_cli(["render"], two)[0] == 0
    assert snapshot_tree(one) == snapshot_tree(two)
    assert len(snapshot_tree(one)) == 12


ANCHOR_OR_ALIAS = re.compile(rb"(^|[\s\[{,:-])[&*][A-Za-z0-9_]+")


def test_no_yaml_anchors_or_aliases_in_output(rendered_focused: Path) -> None:
    tree = snapshot_tree(rendered_focused)
    for path, content in tree.items():
        assert ANCHOR_OR_ALIAS.search(content) is None, path
    # The static definition's anchored selector is written out in full, twice.
    objects = rendered_objects(tree)
    policy = objects["rendered/development/team-a/orders/networkpolicy-same-namespace.yaml"].decode()
    assert policy.count("app.kubernetes.io/managed-by: gitops-engine") == 3
    # So is the template's (ExternalSecret labels reused through an alias).
    secret = objects["rendered/development/team-a/orders/externalsecret-orders-db.yaml"].decode()
    assert secret.count("app.kubernetes.io/instance: orders-db") == 2


def test_anchor_pattern_would_catch_an_alias() -> None:
    assert ANCHOR_OR_ALIAS.search(b"a: &id001\n  b: 1\nc: *id001\n")
    assert ANCHOR_OR_ALIAS.search(b"- &x 1\n- *x\n")
    assert ANCHOR_OR_ALIAS.search(b"image: nginx\nvalue: a&b*c\n") is None


# -- removal and --check -----------------------------------------------------------------------------------------
def test_deleted_workload_is_removed_on_full_render(platform_repo: Path) -> None:
    before = snapshot_tree(platform_repo)
    (platform_repo / "workloads/team-b/web/score.yaml").unlink()

    code, output = run_cli(["render"], platform_repo)

    assert (code, output) == (0, "rendered 1 units in 2 environments: 0 file(s) written, 4 removed\n")
    after = snapshot_tree(platform_repo)
    assert sorted(set(before) - set(after)) == [
        "rendered/development/team-b/web/gitops-engine.lock",
        "rendered/development/team-b/web/manifest.yaml",
        "rendered/production/team-b/web/gitops-engine.lock",
        "rendered/production/team-b/web/manifest.yaml",
    ]
    assert not (platform_repo / "rendered/development/team-b").exists()
    assert {p: after[p] for p in after} == {p: before[p] for p in after}


def test_deleted_workload_is_kept_by_a_partial_render(platform_repo: Path) -> None:
    before = snapshot_tree(platform_repo)
    (platform_repo / "workloads/team-b/web/score.yaml").unlink()

    code, output = run_cli(["render", "--workload", "team-a/api"], platform_repo)

    assert (code, output) == (0, "rendered 1 units in 2 environments: 0 file(s) written, 0 removed\n")
    assert snapshot_tree(platform_repo) == before


def test_render_check_when_fresh(platform_repo: Path) -> None:
    assert run_cli(["render", "--check"], platform_repo) == (0, "rendered/ is up to date\n")


def test_render_check_lists_stale_missing_and_extra_files(platform_repo: Path) -> None:
    write_files(
        platform_repo,
        {
            "workloads/team-a/api/score.yaml": API_SCORE.replace("api:1.0", "api:1.1"),
            "rendered/development/team-b/web/extra.yaml": "kind: ConfigMap\n",
            "rendered/production/team-c/gone/manifest.yaml": "kind: Deployment\n",
        },
    )
    (platform_repo / "rendered/production/team-b/web/manifest.yaml").unlink()
    before = snapshot_tree(platform_repo)

    code, output = run_cli(["render", "--check"], platform_repo)

    assert code == 1
    assert output == (
        "stale: rendered/development/team-a/api/gitops-engine.lock\n"
        "stale: rendered/development/team-a/api/manifest.yaml\n"
        "extra: rendered/development/team-b/web/extra.yaml\n"
        "stale: rendered/production/team-a/api/gitops-engine.lock\n"
        "stale: rendered/production/team-a/api/manifest.yaml\n"
        "missing: rendered/production/team-b/web/manifest.yaml\n"
        "extra: rendered/production/team-c/gone/manifest.yaml\n"
        "7 rendered file(s) out of date: run `gitops-engine render`\n"
    )
    assert snapshot_tree(platform_repo) == before  # --check writes nothing

    assert run_cli(["render"], platform_repo)[0] == 0
    assert run_cli(["render", "--check"], platform_repo) == (0, "rendered/ is up to date\n")
    assert not (platform_repo / "rendered/production/team-c").exists()


def test_render_check_fails_on_an_invalid_workload(platform_repo: Path) -> None:
    write_files(platform_repo, {"workloads/team-a/api/score.yaml": API_SCORE.replace("db.host", "db.nope")})
    code, output = run_cli(["render", "--check"], platform_repo)
    assert code == 1
    assert output.startswith("workloads/team-a/api/score.yaml:8:16: ")


def test_committed_render_is_fresh_in_a_clone(platform_repo: Path, tmp_path: Path) -> None:
    commit_all(platform_repo, "nothing new")
    other = clone(platform_repo, tmp_path / "clone")
    assert run_cli(["render", "--check"], other) == (0, "rendered/ is up to date\n")

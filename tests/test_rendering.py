"""Rendering: focused golden cases (tests/golden/focused/) plus explicit checks of what each feature must produce,
determinism, the absence of YAML anchors, removal of deleted workloads and `render --check`.

The platform under test is tests/data/platforms/focused/. Refresh the golden files with GOLDEN_UPDATE=1 (see
tests/testing/__init__.py) and review the diff.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing.cli import run_cli
from testing.golden import assert_golden_tree, read_object, rendered_objects, snapshot_tree
from testing.repos import clone, commit_all, write_files
from testing.small_platform import API_SCORE

ORDERS = "workloads/team-a/orders/score.yaml"


@pytest.fixture
def rendered_focused(focused_repo: Path) -> Path:
    code, output = run_cli(["render"], focused_repo)
    assert code == 0, output
    return focused_repo


def _load(repo: Path, path: str) -> Any:
    """A lock, or one object named `rendered/<env>/<unit>/<kind>-<name>.yaml` (read from the unit's manifest.yaml)."""
    if path.endswith(".lock"):
        return yaml.safe_load((repo / path).read_text(encoding="utf-8"))
    return yaml.safe_load(read_object(repo, path))


def _container(repo: Path, env: str, unit: str, kind: str, name: str) -> dict[str, Any]:
    obj = _load(repo, f"rendered/{env}/{unit}/{kind}-{name}.yaml")
    [container] = obj["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _env_vars(container: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]}


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


# -- variables: secrets, escapes, JSON ---------------------------------------------------------------------------
def test_variables(rendered_focused: Path) -> None:
    container = _container(rendered_focused, "development", "team-a/orders", "deployment", "orders")
    names = [v["name"] for v in container["env"]]
    # Secret helpers first, then the variables in name order.
    assert names == [
        "GE_SECRET_DB_PASSWORD",
        "GE_SECRET_DB_USERNAME",
        "CACHE",
        "DB_PASSWORD",
        "DB_PORT",
        "DB_TUNING",
        "DB_URL",
        "DEBUG",
        "LEDGER_URL",
        "LOG_LEVEL",
        "PRICE",
    ]
    env = _env_vars(container)
    # A variable that is exactly a secret output becomes a secretKeyRef.
    assert env["DB_PASSWORD"] == {"secretKeyRef": {"name": "orders-db", "key": "password"}}
    # Inside a longer string, secrets become $(VAR) references to secret-backed helper variables.
    assert env["GE_SECRET_DB_USERNAME"] == {"secretKeyRef": {"name": "orders-db", "key": "username"}}
    assert env["GE_SECRET_DB_PASSWORD"] == {"secretKeyRef": {"name": "orders-db", "key": "password"}}
    assert env["DB_URL"] == (
        "postgres://$(GE_SECRET_DB_USERNAME):$(GE_SECRET_DB_PASSWORD)"
        "@orders-db.team-a-development.svc.cluster.local:5432/orders"
    )
    # Values that are not strings are inserted as JSON.
    assert env["DB_PORT"] == "5432"
    assert env["DB_TUNING"] == '{"max_connections":100,"ssl":true}'
    assert env["DEBUG"] == "true"
    # $$ is a literal $; text Kubernetes would expand ($(X), $$) is escaped so it stays literal.
    assert env["PRICE"] == "$5 or $$(NOT_A_VAR) or $$$$(ESCAPED)"
    # A shared resource's outputs, and another workload's port through lookup_workload (service-port).
    assert env["CACHE"] == "shared-cache.shared-development.svc.cluster.local:6379"
    assert env["LEDGER_URL"] == "http://ledger.team-b-development.svc.cluster.local:9090"
    assert container["args"] == ["--listen", ":8080", "--name", "orders"]
    assert container["command"] == ["/bin/orders"]


def test_no_secret_value_in_any_output(rendered_focused: Path) -> None:
    for path, content in snapshot_tree(rendered_focused).items():
        if path.endswith(".yaml"):
            for obj in yaml.safe_load_all(content):
                assert not (obj["kind"] == "Secret" and ("data" in obj or "stringData" in obj)), path


# -- files and volumes -------------------------------------------------------------------------------------------
def test_files_map_form(rendered_focused: Path) -> None:
    configmap = _load(
        rendered_focused, "rendered/development/team-a/orders/configmap-orders-files-daca3b6ed4.yaml"
    )
    assert configmap["data"] == {
        # content with placeholders and a $$ escape
        "app.conf-2c01bd20": (
            "name = orders\ndb = orders-db.team-a-development.svc.cluster.local:5432\nhome = ${HOME}\n"
        ),
        # source file relative to score.yaml, placeholders expanded
        "banner.txt-343a350c": "Welcome to orders\n",
        # noExpand: the file as it is
        "raw.tmpl-24fb3195": "raw ${resources.db.host} stays $${as is}\n",
    }
    assert configmap["binaryData"] == {"logo.png-67114651": "iVBORw0KGgo="}
    deployment = _load(rendered_focused, "rendered/development/team-a/orders/deployment-orders.yaml")
    [files_volume, *_] = deployment["spec"]["template"]["spec"]["volumes"]
    assert files_volume == {
        "name": "files",
        "configMap": {
            "name": "orders-files-daca3b6ed4",
            "items": [
                {"key": "app.conf-2c01bd20", "path": "app.conf-2c01bd20", "mode": 0o640},
                {"key": "banner.txt-343a350c", "path": "banner.txt-343a350c"},
                {"key": "logo.png-67114651", "path": "logo.png-67114651", "mode": 0o400},
                {"key": "raw.tmpl-24fb3195", "path": "raw.tmpl-24fb3195"},
            ],
        },
    }


def test_files_and_volumes_deprecated_list_forms(rendered_focused: Path) -> None:
    configmap = _load(
        rendered_focused, "rendered/development/team-b/ledger/configmap-ledger-files-67a75abfc5.yaml"
    )
    assert configmap["data"] == {
        "ledger.conf-682e1b49": "cache=shared-cache.shared-development.svc.cluster.local\n",
        "motd-1edf7729": "ledger in ledger",
    }
    container = _container(rendered_focused, "development", "team-b/ledger", "statefulset", "ledger")
    assert container["volumeMounts"] == [
        {
            "name": "files",
            "mountPath": "/etc/ledger/ledger.conf",
            "subPath": "ledger.conf-682e1b49",
            "readOnly": True,
        },
        {"name": "files", "mountPath": "/etc/ledger/motd", "subPath": "motd-1edf7729", "readOnly": True},
        {"name": "volume-0", "mountPath": "/var/lib/ledger"},
    ]


def test_volumes_map_form_with_a_volume_resource(rendered_focused: Path) -> None:
    deployment = _load(rendered_focused, "rendered/development/team-a/orders/deployment-orders.yaml")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"][1:] == [
        {"name": "volume-0", "persistentVolumeClaim": {"claimName": "orders-data"}},
        {"name": "volume-1", "persistentVolumeClaim": {"claimName": "orders-data"}},
    ]
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] != "files"]
    assert mounts == [
        {"name": "volume-0", "mountPath": "/var/cache/orders", "subPath": "cache", "readOnly": True},
        {"name": "volume-1", "mountPath": "/var/data"},
    ]
    pvc = _load(rendered_focused, "rendered/development/team-a/orders/persistentvolumeclaim-orders-data.yaml")
    assert pvc["spec"]["resources"] == {"requests": {"storage": "5Gi"}}


def test_probes_resources_and_service(rendered_focused: Path) -> None:
    container = _container(rendered_focused, "development", "team-a/orders", "deployment", "orders")
    assert container["livenessProbe"] == {
        "httpGet": {
            "path": "/healthz",
            "port": 8080,
            "httpHeaders": [{"name": "X-Probe", "value": "liveness"}],
        }
    }
    assert container["readinessProbe"] == {"exec": {"command": ["/bin/orders", "ready"]}}
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    service = _load(rendered_focused, "rendered/development/team-a/orders/service-orders.yaml")
    assert service["spec"] == {
        "selector": {"app.kubernetes.io/name": "orders", "app.kubernetes.io/instance": "orders"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    }
    assert service["metadata"]["namespace"] == "team-a-development"


def test_statefulset_through_the_kind_annotation(rendered_focused: Path) -> None:
    statefulset = _load(rendered_focused, "rendered/development/team-b/ledger/statefulset-ledger.yaml")
    assert statefulset["kind"] == "StatefulSet"
    assert statefulset["spec"]["serviceName"] == "ledger"
    assert "rendered/development/team-b/ledger/deployment-ledger.yaml" not in rendered_objects(
        snapshot_tree(rendered_focused)
    )


# -- overrides ---------------------------------------------------------------------------------------------------
def test_override_deep_merges_and_null_deletes(rendered_focused: Path) -> None:
    dev = _env_vars(_container(rendered_focused, "development", "team-a/orders", "deployment", "orders"))
    prod_container = _container(rendered_focused, "production", "team-a/orders", "deployment", "orders")
    prod = _env_vars(prod_container)
    assert prod_container["image"] == "registry.example.com/orders:1.3.9"
    assert (dev["LOG_LEVEL"], prod["LOG_LEVEL"]) == ("info", "warn")
    assert "DEBUG" in dev and "DEBUG" not in prod
    # Everything the override does not mention is kept.
    assert set(dev) - set(prod) == {"DEBUG"}
    assert prod["DB_PASSWORD"] == dev["DB_PASSWORD"]
    pvc = _load(rendered_focused, "rendered/production/team-a/orders/persistentvolumeclaim-orders-data.yaml")
    assert pvc["spec"]["resources"] == {"requests": {"storage": "50Gi"}}


# -- shared resources and dependencies ---------------------------------------------------------------------------
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
    service = _load(rendered_focused, "rendered/development/_shared/shared-cache/service-shared-cache.yaml")
    assert service["metadata"]["namespace"] == "shared-development"
    ledger = _env_vars(_container(rendered_focused, "development", "team-b/ledger", "statefulset", "ledger"))
    assert ledger["CACHE_HOST"] == "shared-cache.shared-development.svc.cluster.local"


def test_dependency_between_resources_through_params(rendered_focused: Path) -> None:
    lock = _load(rendered_focused, "rendered/development/team-a/orders/gitops-engine.lock")
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
    ingress = _load(rendered_focused, "rendered/development/team-a/orders/ingress-orders-route.yaml")
    assert ingress["spec"]["rules"][0]["host"] == "orders-2d7171.dev.example.com"


# -- the workload resource type ----------------------------------------------------------------------------------
def test_workload_definition_adjusts_generated_objects(rendered_focused: Path) -> None:
    dev = _load(rendered_focused, "rendered/development/team-a/orders/deployment-orders.yaml")
    prod = _load(rendered_focused, "rendered/production/team-a/orders/deployment-orders.yaml")
    assert "replicas" not in dev["spec"]
    assert prod["spec"]["replicas"] == 3
    assert dev["spec"]["template"]["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert dev["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert dev["spec"]["template"]["spec"]["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert prod["spec"]["template"]["spec"]["securityContext"] == {"runAsNonRoot": True}
    # Labels and annotations go on the object; podAnnotations on the pod template.
    assert prod["metadata"]["labels"]["example.com/tier"] == "critical"
    assert prod["metadata"]["annotations"] == {"example.com/owner": "team-a"}
    assert prod["spec"]["template"]["metadata"]["annotations"] == {"example.com/scrape": "true"}
    pdb = _load(rendered_focused, "rendered/production/team-a/orders/poddisruptionbudget-orders.yaml")
    assert pdb["spec"] == {
        "minAvailable": 2,
        "selector": {"matchLabels": {"app.kubernetes.io/instance": "orders"}},
    }
    assert pdb["metadata"]["namespace"] == "team-a"


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

"""render/convert/: what each aspect of a Score file becomes, on the focused platform (tests/data/platforms/focused/):
containers and variables, files, volumes, probes and resources, the Service, the StatefulSet kind and the
`workload` definition's outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import rendered_objects, run_cli, snapshot_tree, write_files
from render_support import container_of, env_vars, load_object, render_focused


@pytest.fixture
def rendered_focused(focused_repo: Path) -> Path:
    return render_focused(focused_repo)


def test_variables(rendered_focused: Path) -> None:
    container = container_of(rendered_focused, "development", "team-a/orders", "deployment", "orders")
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
    env = env_vars(container)
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


def test_files_map_form(rendered_focused: Path) -> None:
    configmap = load_object(
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
    deployment = load_object(rendered_focused, "rendered/development/team-a/orders/deployment-orders.yaml")
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
    configmap = load_object(
        rendered_focused, "rendered/development/team-b/ledger/configmap-ledger-files-67a75abfc5.yaml"
    )
    assert configmap["data"] == {
        "ledger.conf-682e1b49": "cache=shared-cache.shared-development.svc.cluster.local\n",
        "motd-1edf7729": "ledger in ledger",
    }
    container = container_of(rendered_focused, "development", "team-b/ledger", "statefulset", "ledger")
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
    deployment = load_object(rendered_focused, "rendered/development/team-a/orders/deployment-orders.yaml")
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
    pvc = load_object(
        rendered_focused, "rendered/development/team-a/orders/persistentvolumeclaim-orders-data.yaml"
    )
    assert pvc["spec"]["resources"] == {"requests": {"storage": "5Gi"}}


def test_probes_resources_and_service(rendered_focused: Path) -> None:
    container = container_of(rendered_focused, "development", "team-a/orders", "deployment", "orders")
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
    service = load_object(rendered_focused, "rendered/development/team-a/orders/service-orders.yaml")
    assert service["spec"] == {
        "selector": {"app.kubernetes.io/name": "orders", "app.kubernetes.io/instance": "orders"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    }
    assert service["metadata"]["namespace"] == "team-a-development"


def test_statefulset_through_the_kind_annotation(rendered_focused: Path) -> None:
    statefulset = load_object(rendered_focused, "rendered/development/team-b/ledger/statefulset-ledger.yaml")
    assert statefulset["kind"] == "StatefulSet"
    assert statefulset["spec"]["serviceName"] == "ledger"
    assert "rendered/development/team-b/ledger/deployment-ledger.yaml" not in rendered_objects(
        snapshot_tree(rendered_focused)
    )


def test_workload_definition_adjusts_generated_objects(rendered_focused: Path) -> None:
    dev = load_object(rendered_focused, "rendered/development/team-a/orders/deployment-orders.yaml")
    prod = load_object(rendered_focused, "rendered/production/team-a/orders/deployment-orders.yaml")
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
    pdb = load_object(rendered_focused, "rendered/production/team-a/orders/poddisruptionbudget-orders.yaml")
    assert pdb["spec"] == {
        "minAvailable": 2,
        "selector": {"matchLabels": {"app.kubernetes.io/instance": "orders"}},
    }
    assert pdb["metadata"]["namespace"] == "team-a"


STATIC_WORKLOAD_DEFINITION = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: production
type: workload
criteria:
  - env_type: production
driver: static
outputs:
  podSecurityContext: {runAsNonRoot: true}
  %s
"""


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            "replicas: many",
            "10:13: workload output replicas is 'many': give a whole number from 0 to 2147483647 (Kubernetes' int32)",
        ),
        (
            "replica: 3",
            "9:3: workload definition outputs replica are not known: allowed are annotations, "
            "automountServiceAccountToken, containerSecurityContext, labels, podAnnotations, podSecurityContext, "
            "replicas, serviceAccountName",
        ),
    ],
)
def test_a_static_workload_definition_is_told_about_its_output(
    focused_repo: Path, output: str, message: str
) -> None:
    """A static definition's mistake is located at the output (a template's at its `template.outputs`)."""
    path = "definitions/workload/production.yaml"
    write_files(focused_repo, {path: STATIC_WORKLOAD_DEFINITION % output})
    code, printed = run_cli(["render", "--env", "production"], focused_repo)
    line = f"{path}:{message}\n"  # orders and ledger both
    assert (code, printed) == (
        1,
        f"{line}{line}nothing written: 2 problem(s). Fix them, or pass --keep-going to render the units that are "
        "valid and leave the others as they are\n",
    )

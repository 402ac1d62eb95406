"""The processor's scenario platform: two teams (`shop`, `billing`), five workloads, three environments,
definitions for postgres, redis, volume, service-port and the workload itself. Which workload uses which definition
is chosen so that every scenario has units that must change and units that must not:

| workload          | postgres                   | redis (shared `cache`) | volume | service-port   |
|-------------------|----------------------------|------------------------|--------|----------------|
| shop/orders       | pg-incluster / pg-managed  | yes                    |        |                |
| shop/cart         |                            | yes                    |        | orders (http)  |
| shop/catalog      | pg-incluster / pg-managed  |                        | yes    |                |
| billing/invoices  | pg-tuned (team billing)    |                        |        |                |
| billing/mailer    |                            |                        | yes    |                |

pg-incluster serves development and staging, pg-managed production, pg-tuned every environment of team billing
(team ranks above env_type). Every workload matches workload-default; production ones workload-production too.
"""

from __future__ import annotations

from . import platform as p
from .platform import Resource, score
from .repos import FileSpec

ENVIRONMENTS = ["development", "staging", "production"]
WORKLOADS = ["billing/invoices", "billing/mailer", "shop/cart", "shop/catalog", "shop/orders"]
# Workloads whose postgres comes from pg-incluster in development and staging.
INCLUSTER_USERS = ["shop/catalog", "shop/orders"]

PLATFORM_FILE = p.platform(
    ENVIRONMENTS, forge="local", extra="pullRequests:\n  labels: [gitops-engine, rendered]\n"
)
PLATFORM_YAML = PLATFORM_FILE.text

CODEOWNERS = p.codeowners(
    [
        ("*", "@example-org/infra"),
        ("/definitions/", "@example-org/infra"),
        ("/workloads/shop/", "@example-org/shop-team"),
        ("/workloads/billing/", "@example-org/billing-team"),
    ],
    pad=22,
)


def environment(env_id: str, env_type: str, namespace: str = "{team}-{env}") -> str:
    """The text of environments/<id>.yaml as this platform writes it."""
    return environment_file(env_id, env_type, namespace).text


def environment_file(env_id: str, env_type: str, namespace: str = "{team}-{env}") -> p.File:
    return p.environment(
        env_id,
        env_type,
        namespace=namespace,
        labels={"example.com/env": env_id},
        values={"domain": f"{env_id}.example.com"},
    )


IN_CLUSTER_HOST = "{{ resource.uid }}.{{ environment.namespace }}.svc.cluster.local"

PG_INCLUSTER = p.definition(
    "pg-incluster",
    "postgres",
    description="In-cluster PostgreSQL for development and staging.",
    criteria=[{"env_type": "development"}, {"env_type": "staging"}],
    template_outputs=p.database_outputs(IN_CLUSTER_HOST, "{{ resource.uid }}"),
    manifests=p.service_manifest("postgres", 5432)
    + """\
- apiVersion: apps/v1
  kind: StatefulSet
  metadata:
    name: {{ resource.uid }}
  spec:
    serviceName: {{ resource.uid }}
    replicas: 1
    selector:
      matchLabels: {app.kubernetes.io/instance: {{ resource.uid }}}
    template:
      metadata:
        labels: {app.kubernetes.io/instance: {{ resource.uid }}}
      spec:
        containers:
          - name: postgres
            image: docker.io/library/postgres:16.4
""",
)
PG_MANAGED = p.definition(
    "pg-managed",
    "postgres",
    description="The managed database in production.",
    criteria=[{"env_type": "production"}],
    outputs=p.database_outputs("db.production.example.com", "pg-managed"),
)
PG_TUNED = p.definition(
    "pg-tuned",
    "postgres",
    description="A tuned database for the billing team.",
    criteria=[{"team": "billing"}],
    template_outputs=p.database_outputs(f"tuned-{IN_CLUSTER_HOST}", "tuned-{{ resource.uid }}", 6432),
    manifests="""\
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: tuned-{{ resource.uid }}
  data:
    max_connections: "300"
""",
)
REDIS = p.definition(
    "redis-incluster",
    "redis",
    criteria=[{}],
    template_outputs=f"host: {IN_CLUSTER_HOST}\nport: 6379\n",
    manifests=p.service_manifest("redis", 6379),
)
VOLUME = p.definition(
    "volume-emptydir",
    "volume",
    criteria=[{}],
    template_outputs="""\
source:
  emptyDir:
    sizeLimit: {{ resource.params.get('size', '1Gi') }}
""",
)
SERVICE_PORT = p.definition(
    "service-port",
    "service-port",
    criteria=[{}],
    template_outputs="""\
{% set target = lookup_workload(resource.params.workload) %}
hostname: {{ target.host }}
port: {{ target.ports[resource.params.port].port }}
""",
)
WORKLOAD_DEFAULT = p.definition(
    "workload-default",
    "workload",
    criteria=[{}],
    outputs="automountServiceAccountToken: false\npodSecurityContext: {runAsNonRoot: true}\n",
)
WORKLOAD_PRODUCTION = p.definition(
    "workload-production",
    "workload",
    criteria=[{"env_type": "production"}],
    template_outputs="replicas: 3\npodSecurityContext: {runAsNonRoot: true}\n",
    manifests="""\
- apiVersion: policy/v1
  kind: PodDisruptionBudget
  metadata:
    name: {{ workload.name }}
  spec:
    maxUnavailable: 1
    selector:
      matchLabels: {app.kubernetes.io/instance: {{ workload.name }}}
""",
)

DB = {"db": Resource("postgres")}
CACHE = {"cache": Resource("redis", id="cache")}
ORDERS = score(
    "orders",
    "registry.example.com/orders:1.0.0",
    port=8080,
    variables={"DB_HOST": "${resources.db.host}", "CACHE": "${resources.cache.host}"},
    resources={**DB, **CACHE},
)
CART = score(
    "cart",
    "registry.example.com/cart:2.0.0",
    port=8081,
    variables={
        "CACHE": "${resources.cache.host}",
        "ORDERS": "http://${resources.orders.hostname}:${resources.orders.port}",
    },
    resources={
        **CACHE,
        "orders": Resource("service-port", params={"workload": "orders", "port": "http"}),
    },
)
CATALOG = score(
    "catalog",
    "registry.example.com/catalog:3.1.0",
    variables={"DB_HOST": "${resources.db.host}"},
    resources={**DB, "scratch": Resource("volume")},
    volume="scratch",
)
INVOICES = score(
    "invoices",
    "registry.example.com/invoices:0.9.0",
    variables={"DB_HOST": "${resources.db.host}"},
    resources=DB,
)
MAILER = score(
    "mailer",
    "registry.example.com/mailer:5.0.0",
    resources={"spool": Resource("volume", params={"size": "2Gi"})},
    volume="spool",
)

PLATFORM: dict[str, FileSpec] = p.files(
    PLATFORM_FILE,
    CODEOWNERS,
    environment_file("development", "development"),
    environment_file("staging", "staging"),
    environment_file("production", "production", "{team}"),
    PG_INCLUSTER,
    PG_MANAGED,
    PG_TUNED,
    REDIS,
    VOLUME,
    SERVICE_PORT,
    WORKLOAD_DEFAULT,
    WORKLOAD_PRODUCTION,
    p.workload("shop", "orders", ORDERS),
    p.workload("shop", "cart", CART),
    p.workload("shop", "catalog", CATALOG),
    p.workload("billing", "invoices", INVOICES),
    p.workload("billing", "mailer", MAILER),
)

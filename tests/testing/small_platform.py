"""The CLI tests' small platform: two environments, postgres (a template in development, static in production),
two teams with one workload each."""

from __future__ import annotations

from . import platform as p
from .repos import FileSpec

PLATFORM = p.platform(["development", "production"])
DEVELOPMENT = p.environment("development", "development")
PRODUCTION = p.environment("production", "production", labels={"example.com/tier": "prod"})

PG_DEV = p.definition(
    "pg-dev",
    "postgres",
    criteria=[{"env_type": "development"}],
    template_outputs=p.database_outputs(
        "{{ resource.uid }}.{{ environment.namespace }}.svc", "{{ resource.uid }}"
    ),
    manifests="""\
- apiVersion: v1
  kind: Service
  metadata:
    name: {{ resource.uid }}
  spec:
    ports:
      - port: 5432
""",
)
PG_PROD = p.definition(
    "pg-prod",
    "postgres",
    criteria=[{"env_type": "production"}],
    outputs=p.database_outputs("db.prod.example.com", "pg-prod"),
)

API = p.workload(
    "team-a",
    "api",
    p.score(
        "api",
        "registry.example.com/api:1.0",
        variables={"DB_HOST": "${resources.db.host}"},
        port=8080,
        resources={"db": p.Resource("postgres")},
    ),
)
WEB = p.workload("team-b", "web", p.score("web", "registry.example.com/web:2.0"))

# The texts by the names tests use.
PLATFORM_YAML = PLATFORM.text
DEVELOPMENT_YAML = DEVELOPMENT.text
PRODUCTION_YAML = PRODUCTION.text
PG_DEV_YAML = PG_DEV.text
PG_PROD_YAML = PG_PROD.text
API_SCORE = API.text
WEB_SCORE = WEB.text

BASE_PLATFORM: dict[str, FileSpec] = p.files(PLATFORM, DEVELOPMENT, PRODUCTION, PG_DEV, PG_PROD, API, WEB)

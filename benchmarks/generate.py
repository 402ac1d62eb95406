"""Generate a large synthetic platform repo for the benchmarks.

    python benchmarks/generate.py --workloads 2000 --out benchmarks/out/w2000

Layout of OUT:
    work/        a clone (checked out) whose origin is ../remote.git; main holds the sources and rendered/
    remote.git/  the bare remote (one pack)
    meta.json    the parameters, so run.py can reuse a repo whose size matches

The repo has `--workloads` workloads, `--per-team` to a team, three environments (development, staging,
production), definitions for postgres, redis, dns, route, volume, service-port and workload (in-cluster template
definitions for development/staging, static managed-service ones for production, a workload definition with three
replicas and a PodDisruptionBudget in production). Score files are realistic: one or two containers, variables with
`${resources...}` placeholders, an inline file, probes, one to three resources. Everything is seeded, so the same
arguments give the same repo. Sources are written directly and committed with one `git add -A`; `rendered/` is
produced with the engine's Python API and committed with the trailers `Gitops-Engine-Source: self` and
`Gitops-Engine-Render`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

# The platform builder the tests use too.
from testing import platform as p

GENERATOR_VERSION = 2  # 2: the render commit's trailers name the render version
DEFAULT_SEED = 20240601
ENVIRONMENTS = ("development", "staging", "production")
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench Developer",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Bench Developer",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_AUTHOR_DATE": "2024-06-01T12:00:00Z",
    "GIT_COMMITTER_DATE": "2024-06-01T12:00:00Z",
}
ENGINE_IDENTITY = {
    **IDENTITY,
    "GIT_AUTHOR_NAME": "gitops-engine",
    "GIT_AUTHOR_EMAIL": "gitops-engine@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "gitops-engine",
    "GIT_COMMITTER_EMAIL": "gitops-engine@users.noreply.github.com",
}

TEAM_WORDS = (
    "payments",
    "checkout",
    "catalog",
    "search",
    "identity",
    "billing",
    "shipping",
    "inventory",
    "pricing",
    "loyalty",
    "messaging",
    "analytics",
    "fraud",
    "ledger",
    "media",
    "reviews",
    "recommendations",
    "support",
    "onboarding",
    "compliance",
    "reporting",
    "partners",
    "marketplace",
    "logistics",
    "returns",
    "orders",
    "accounts",
    "notifications",
    "content",
    "growth",
)
NOUNS = (
    "orders",
    "cart",
    "invoice",
    "ledger",
    "profile",
    "session",
    "token",
    "product",
    "price",
    "stock",
    "review",
    "rating",
    "coupon",
    "wallet",
    "refund",
    "payout",
    "shipment",
    "parcel",
    "label",
    "route",
    "quote",
    "offer",
    "basket",
    "receipt",
    "customer",
    "vendor",
    "audit",
    "export",
    "import",
    "feed",
    "search",
    "index",
    "thumbnail",
    "upload",
    "report",
    "metric",
    "event",
    "webhook",
    "mailer",
    "sms",
)
ROLES = ("api", "worker", "service", "gateway", "consumer", "scheduler", "sync", "indexer")
SIDECARS = ("log-shipper", "metrics-exporter", "envoy")

# ---------------------------------------------------------------------------------------------------------------
# Fixed files

PLATFORM = p.platform(
    ENVIRONMENTS,
    forge="local",
    comment="# Synthetic platform repo for gitops-engine benchmarks.\n",
    schema=True,
    extra="""\
pullRequests:
  labels: [gitops-engine]
  # High enough that a definition change reaching every workload is published in one run.
  maxPerRun: 100000
  maxPerHour: 100000
limits:
  maxFileBytes: 262144
""",
)

ENVIRONMENT_VALUES = {
    "development": {"domain": "dev.example.com", "logLevel": "debug", "storage": "standard", "data": "1Gi"},
    "staging": {"domain": "staging.example.com", "logLevel": "info", "storage": "gp3", "data": "10Gi"},
    "production": {"domain": "example.com", "logLevel": "info", "storage": "gp3", "data": "100Gi"},
}


# What both workload definitions give every Pod: the restricted Pod Security Standard and the team label.
RESTRICTED_WORKLOAD = """\
automountServiceAccountToken: false
podSecurityContext:
  runAsNonRoot: true
  seccompProfile:
    type: RuntimeDefault
containerSecurityContext:
  allowPrivilegeEscalation: false
  capabilities:
    drop: [ALL]
labels:
  example.com/team: {{ workload.team }}
"""


def environment(env: str) -> p.File:
    given = ENVIRONMENT_VALUES[env]
    values = {
        "domain": given["domain"],
        "region": "eu-west-1",
        "logLevel": given["logLevel"],
        "gatewayName": "internal",
        "gatewayNamespace": "gateway-system",
        "ingressClass": "nginx",
        "clusterIssuer": "letsencrypt-production",
        "storageClass": given["storage"],
        "dataStorage": given["data"],
    }
    return p.environment(env, env, labels={"example.com/environment": env}, values=values, schema=True)


DEFINITIONS: list[p.File] = [
    p.definition(
        "postgres-incluster",
        "postgres",
        description="PostgreSQL 16.4 in the workload's namespace for development and staging.",
        criteria=[{"env_type": "development"}, {"env_type": "staging"}],
        template_outputs="""\
{% set db = resource.params.get('database', resource.uid | replace('-', '_')) %}
host: {{ resource.uid }}.{{ environment.namespace }}.svc.cluster.local
port: 5432
name: {{ db | to_json }}
database: {{ db | to_json }}
username:
  secretKeyRef: {name: {{ resource.uid }}, key: username}
password:
  secretKeyRef: {name: {{ resource.uid }}, key: password}
""",
        manifests="""\
{% set db = resource.params.get('database', resource.uid | replace('-', '_')) %}
- apiVersion: external-secrets.io/v1beta1
  kind: ExternalSecret
  metadata:
    name: {{ resource.uid }}
  spec:
    refreshInterval: "0"
    target:
      name: {{ resource.uid }}
      creationPolicy: Owner
      template:
        engineVersion: v2
        data:
          username: {{ db | to_json }}
          password: "{% raw %}{{ .password }}{% endraw %}"
    dataFrom:
      - sourceRef:
          generatorRef:
            apiVersion: generators.external-secrets.io/v1alpha1
            kind: Password
            name: {{ resource.uid }}
- apiVersion: v1
  kind: Service
  metadata:
    name: {{ resource.uid }}
  spec:
    clusterIP: None
    selector:
      app.kubernetes.io/name: postgresql
      app.kubernetes.io/instance: {{ resource.uid }}
    ports:
      - name: postgres
        port: 5432
        targetPort: postgres
- apiVersion: apps/v1
  kind: StatefulSet
  metadata:
    name: {{ resource.uid }}
  spec:
    serviceName: {{ resource.uid }}
    replicas: 1
    selector:
      matchLabels:
        app.kubernetes.io/name: postgresql
        app.kubernetes.io/instance: {{ resource.uid }}
    template:
      metadata:
        labels:
          app.kubernetes.io/name: postgresql
          app.kubernetes.io/instance: {{ resource.uid }}
          app.kubernetes.io/version: "16.4"
      spec:
        securityContext:
          runAsNonRoot: true
          runAsUser: 999
          fsGroup: 999
        containers:
          - name: postgres
            image: docker.io/library/postgres:16.4
            ports:
              - name: postgres
                containerPort: 5432
            env:
              - name: POSTGRES_DB
                value: {{ db | to_json }}
              - name: POSTGRES_PASSWORD
                valueFrom:
                  secretKeyRef: {name: {{ resource.uid }}, key: password}
            readinessProbe:
              exec:
                command: ["pg_isready", "--host=127.0.0.1"]
            resources:
              requests: {cpu: 100m, memory: 256Mi}
              limits: {memory: 512Mi}
            volumeMounts:
              - name: data
                mountPath: /var/lib/postgresql/data
    volumeClaimTemplates:
      - metadata:
          name: data
        spec:
          accessModes: [ReadWriteOnce]
          storageClassName: {{ environment.values.storageClass }}
          resources:
            requests:
              storage: {{ resource.params.get('storage', environment.values.dataStorage) }}
""",
        schema=True,
    ),
    p.definition(
        "postgres-managed",
        "postgres",
        description="Production PostgreSQL on the shared Aurora cluster; credentials through External Secrets.",
        criteria=[{"env_type": "production"}],
        outputs="""\
host: platform-postgres.cluster-c8x2k4example.eu-west-1.rds.amazonaws.com
port: 5432
name: app
database: app
username:
  secretKeyRef: {name: platform-postgres, key: username}
password:
  secretKeyRef: {name: platform-postgres, key: password}
""",
        schema=True,
    ),
    p.definition(
        "redis-incluster",
        "redis",
        description="Redis 7.4 in the workload's namespace for development and staging.",
        criteria=[{"env_type": "development"}, {"env_type": "staging"}],
        template_outputs="""\
host: {{ resource.uid }}.{{ environment.namespace }}.svc.cluster.local
port: 6379
username: default
password:
  secretKeyRef: {name: {{ resource.uid }}, key: password}
""",
        manifests="""\
- apiVersion: v1
  kind: Service
  metadata:
    name: {{ resource.uid }}
  spec:
    selector:
      app.kubernetes.io/name: redis
      app.kubernetes.io/instance: {{ resource.uid }}
    ports:
      - name: redis
        port: 6379
        targetPort: redis
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: {{ resource.uid }}
  spec:
    replicas: 1
    selector:
      matchLabels:
        app.kubernetes.io/name: redis
        app.kubernetes.io/instance: {{ resource.uid }}
    template:
      metadata:
        labels:
          app.kubernetes.io/name: redis
          app.kubernetes.io/instance: {{ resource.uid }}
      spec:
        containers:
          - name: redis
            image: docker.io/library/redis:7.4.1
            ports:
              - name: redis
                containerPort: 6379
            resources:
              requests: {cpu: 50m, memory: 64Mi}
              limits: {memory: 128Mi}
""",
        schema=True,
    ),
    p.definition(
        "redis-managed",
        "redis",
        description="Production Redis on the shared ElastiCache replication group.",
        criteria=[{"env_type": "production"}],
        outputs="""\
host: master.platform-redis.c8x2k4.euw1.cache.amazonaws.com
port: 6379
username: default
password:
  secretKeyRef: {name: platform-redis, key: password}
""",
        schema=True,
    ),
    p.definition(
        "dns-subdomain",
        "dns",
        description="A host name under the environment's domain.",
        criteria=[{}],
        template_outputs="""\
host: {{ resource.params.get('subdomain', workload.name ~ '-' ~ workload.team) }}.{{ environment.values.domain }}
""",
        schema=True,
    ),
    p.definition(
        "route-httproute",
        "route",
        description="Gateway API HTTPRoute for development and staging.",
        criteria=[{"env_type": "development"}, {"env_type": "staging"}],
        manifests="""\
- apiVersion: gateway.networking.k8s.io/v1
  kind: HTTPRoute
  metadata:
    name: {{ resource.uid }}
  spec:
    parentRefs:
      - group: gateway.networking.k8s.io
        kind: Gateway
        name: {{ environment.values.gatewayName }}
        namespace: {{ environment.values.gatewayNamespace }}
    hostnames:
      - {{ resource.params.host | to_json }}
    rules:
      - matches:
          - path:
              type: PathPrefix
              value: {{ resource.params.get('path', '/') | to_json }}
        backendRefs:
          - name: {{ workload.name }}
            port: {{ resource.params.port | int }}
""",
        schema=True,
    ),
    p.definition(
        "route-ingress",
        "route",
        description="Ingress for production with a cert-manager certificate.",
        criteria=[{"env_type": "production"}],
        manifests="""\
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata:
    name: {{ resource.uid }}
    annotations:
      cert-manager.io/cluster-issuer: {{ environment.values.clusterIssuer }}
  spec:
    ingressClassName: {{ environment.values.ingressClass }}
    tls:
      - hosts:
          - {{ resource.params.host | to_json }}
        secretName: {{ resource.uid }}-tls
    rules:
      - host: {{ resource.params.host | to_json }}
        http:
          paths:
            - path: {{ resource.params.get('path', '/') | to_json }}
              pathType: Prefix
              backend:
                service:
                  name: {{ workload.name }}
                  port:
                    number: {{ resource.params.port | int }}
""",
        schema=True,
    ),
    p.definition(
        "volume-emptydir",
        "volume",
        description="Scratch space in development.",
        criteria=[{"env_type": "development"}],
        template_outputs="""\
source:
  emptyDir:
    sizeLimit: {{ resource.params.get('size', '1Gi') }}
""",
        schema=True,
    ),
    p.definition(
        "volume-pvc",
        "volume",
        description="A PersistentVolumeClaim per resource for staging and production.",
        criteria=[{"env_type": "staging"}, {"env_type": "production"}],
        template_outputs="""\
source:
  persistentVolumeClaim:
    claimName: {{ resource.uid }}
""",
        manifests="""\
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata:
    name: {{ resource.uid }}
  spec:
    accessModes: [ReadWriteOnce]
    storageClassName: {{ environment.values.storageClass }}
    resources:
      requests:
        storage: {{ resource.params.get('size', '1Gi') }}
""",
        schema=True,
    ),
    p.definition(
        "service-port-default",
        "service-port",
        description="The in-cluster address of another workload's named port in the same environment.",
        criteria=[{}],
        template_outputs="""\
{% set target = lookup_workload(resource.params.workload) %}
hostname: {{ target.host }}
port: {{ target.ports[resource.params.port].port }}
""",
        schema=True,
    ),
    p.definition(
        "workload-default",
        "workload",
        description="One replica and the restricted Pod Security Standard everywhere.",
        criteria=[{}],
        template_outputs=f"replicas: 1\n{RESTRICTED_WORKLOAD}",
        schema=True,
    ),
    p.definition(
        "workload-production",
        "workload",
        description="Three replicas and a PodDisruptionBudget in production.",
        criteria=[{"env_type": "production"}],
        template_outputs=f"replicas: 3\n{RESTRICTED_WORKLOAD}",
        manifests="""\
- apiVersion: policy/v1
  kind: PodDisruptionBudget
  metadata:
    name: {{ resource.uid }}
  spec:
    maxUnavailable: 1
    selector:
      matchLabels:
        app.kubernetes.io/name: {{ workload.name }}
        app.kubernetes.io/instance: {{ workload.name }}
""",
        schema=True,
    ),
]

# The definition change run.py makes: dev/staging postgres to a new minor version (manifests change).
POSTGRES_DEFINITION = "definitions/postgres/postgres-incluster.yaml"
POSTGRES_OLD = ("postgres:16.4", '"16.4"', "PostgreSQL 16.4")
POSTGRES_NEW = ("postgres:16.6", '"16.6"', "PostgreSQL 16.6")


# ---------------------------------------------------------------------------------------------------------------
# Workloads


@dataclass
class WorkloadSpec:
    team: str
    name: str
    has_service: bool
    files: dict[str, str] = field(default_factory=dict)  # file name in the folder -> content


def team_names(count: int) -> list[str]:
    names = []
    for i in range(count):
        word = TEAM_WORDS[i % len(TEAM_WORDS)]
        names.append(word if i < len(TEAM_WORDS) else f"{word}-{i // len(TEAM_WORDS) + 1}")
    return names


def plan_workloads(count: int, per_team: int, seed: int) -> list[WorkloadSpec]:
    rng = random.Random(seed)
    teams = team_names((count + per_team - 1) // per_team)
    used: set[str] = set()
    specs: list[WorkloadSpec] = []
    for index in range(count):
        team = teams[index // per_team]
        base = f"{rng.choice(NOUNS)}-{rng.choice(ROLES)}"
        name = base
        suffix = 2
        while name in used:
            name = f"{base}-{suffix}"
            suffix += 1
        used.add(name)
        specs.append(WorkloadSpec(team=team, name=name, has_service=rng.random() < 0.8))
    by_team: dict[str, list[WorkloadSpec]] = {}
    for spec in specs:
        by_team.setdefault(spec.team, []).append(spec)
    for spec in specs:
        peers = [p for p in by_team[spec.team] if p.has_service and p is not spec]
        spec.files = workload_files(spec, peers, rng)
    return specs


def workload_files(spec: WorkloadSpec, peers: list[WorkloadSpec], rng: random.Random) -> dict[str, str]:
    """score.yaml (and sometimes overrides.production.yaml) of one workload."""
    # 1-3 resources; postgres for ~60% of workloads so a postgres definition change reaches over half of them.
    wanted = rng.randint(1, 3)
    resources: list[str] = []
    if rng.random() < 0.6:
        resources.append("db")
    optional = ["cache", "web", "data", "backend"]
    rng.shuffle(optional)
    for choice in optional:
        size = 2 if choice == "web" else 1
        if len(resources) + size > wanted:
            continue
        if choice == "web" and not spec.has_service:
            continue
        if choice == "backend" and not peers:
            continue
        resources.append(choice)
    if not resources:
        resources.append("cache")
    backend = rng.choice(peers) if "backend" in resources else None
    version = f"{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    lines = [
        "# yaml-language-server: $schema=https://gitops-engine.dev/schemas/score-v1b1.json",
        "apiVersion: score.dev/v1b1",
        "metadata:",
        f"  name: {spec.name}",
        "  annotations:",
        f"    example.com/owner: {spec.team}",
        "",
    ]
    if spec.has_service:
        lines += ["service:", "  ports:", "    http:", "      port: 80", "      targetPort: 8080", ""]
    lines += ["containers:", "  main:", f"    image: ghcr.io/example-org/{spec.name}:{version}"]
    if rng.random() < 0.4:
        lines.append('    args: ["--config", "/etc/app/config.yaml"]')
    lines += [
        "    variables:",
        "      SERVICE_NAME: ${metadata.name}",
        f"      LOG_FORMAT: {rng.choice(['json', 'logfmt'])}",
        f'      WORKERS: "{rng.randint(1, 8)}"',
    ]
    config = ["server:", "  port: 8080", "  name: ${metadata.name}"]
    if "db" in resources:
        lines += [
            "      DATABASE_URL: postgresql://${resources.db.username}:${resources.db.password}@${resources.db.host}:${resources.db.port}/${resources.db.database}",
            "      DB_HOST: ${resources.db.host}",
            "      DB_PASSWORD: ${resources.db.password}",
        ]
        config += [
            "database:",
            "  host: ${resources.db.host}",
            "  port: ${resources.db.port}",
            "  name: ${resources.db.name}",
        ]
    if "cache" in resources:
        lines += [
            "      REDIS_HOST: ${resources.cache.host}",
            "      REDIS_PORT: ${resources.cache.port}",
            "      REDIS_PASSWORD: ${resources.cache.password}",
        ]
        config += ["cache:", "  address: ${resources.cache.host}:${resources.cache.port}"]
    if "web" in resources:
        lines.append("      PUBLIC_URL: https://${resources.dns.host}")
    if backend is not None:
        lines.append("      BACKEND_URL: http://${resources.backend.hostname}:${resources.backend.port}")
        config += ["backend:", "  url: http://${resources.backend.hostname}:${resources.backend.port}"]
    lines += ["    files:", "      /etc/app/config.yaml:", '        mode: "0444"', "        content: |"]
    lines += [f"          {line}" for line in config]
    if "data" in resources:
        lines += ["    volumes:", "      /var/lib/app:", "        source: ${resources.data}"]
    cpu = rng.choice(["50m", "100m", "250m", "500m"])
    memory = rng.choice(["128Mi", "256Mi", "512Mi"])
    lines += [
        "    resources:",
        "      requests:",
        f"        cpu: {cpu}",
        f"        memory: {memory}",
        "      limits:",
        f"        memory: {memory}",
        "    livenessProbe:",
        "      httpGet:",
        "        port: 8080",
        "        path: /healthz",
        "    readinessProbe:",
    ]
    if rng.random() < 0.7:
        lines += ["      httpGet:", "        port: 8080", "        path: /readyz"]
    else:
        lines += ["      exec:", f'        command: ["/{spec.name}", "healthcheck"]']
    if rng.random() < 0.3:
        sidecar = rng.choice(SIDECARS)
        lines += [
            f"  {sidecar}:",
            f"    image: ghcr.io/example-org/{sidecar}:1.{rng.randint(0, 9)}.0",
            "    variables:",
            "      TARGET: ${metadata.name}",
            "    resources:",
            "      requests:",
            "        cpu: 10m",
            "        memory: 32Mi",
        ]
    lines += ["", "resources:"]
    if "db" in resources:
        lines += ["  db:", "    type: postgres"]
    if "cache" in resources:
        lines += ["  cache:", "    type: redis"]
    if "web" in resources:
        lines += [
            "  dns:",
            "    type: dns",
            "  route:",
            "    type: route",
            "    params:",
            "      host: ${resources.dns.host}",
            "      path: /",
            "      port: 80",
        ]
    if "data" in resources:
        lines += [
            "  data:",
            "    type: volume",
            "    params:",
            f"      size: {rng.choice(['1Gi', '5Gi', '20Gi'])}",
        ]
    if backend is not None:
        lines += [
            "  backend:",
            "    type: service-port",
            "    params:",
            f"      workload: {backend.name}",
            "      port: http",
        ]
    files = {"score.yaml": "\n".join(lines) + "\n"}
    if rng.random() < 0.1:
        files["overrides.production.yaml"] = (
            "# Production runs the last release that passed staging.\n"
            "containers:\n"
            "  main:\n"
            f"    image: ghcr.io/example-org/{spec.name}:{version.split('.')[0]}.0.0\n"
        )
    return files


# ---------------------------------------------------------------------------------------------------------------
# Writing the repo


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or IDENTITY)},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout


def write_sources(root: Path, specs: list[WorkloadSpec]) -> None:
    teams = sorted({s.team for s in specs})
    owners = p.codeowners(
        [("*", "@example-org/infra"), *((f"/workloads/{team}/", f"@example-org/{team}") for team in teams)],
        comment="Teams own their workloads; infra owns the rest.",
    )
    workloads = [p.workload(s.team, s.name, text, name) for s in specs for name, text in s.files.items()]
    environments = [environment(env) for env in ENVIRONMENTS]
    p.write(root, PLATFORM, p.File(".gitignore", ""), *environments, *DEFINITIONS, owners, *workloads)


def render_into(root: Path) -> tuple[int, float]:
    """Render rendered/ with the engine's Python API; returns (units, seconds)."""
    from gitops_engine.loading import load_snapshot
    from gitops_engine.source import WorkTreeSource
    from gitops_engine.tree import build_tree, diff_tree, existing_rendered, write_tree

    started = time.perf_counter()
    snapshot = load_snapshot(WorkTreeSource(root))
    build = build_tree(snapshot)
    if not build.ok:
        for finding in build.findings[:20]:
            print(f"  {finding}", file=sys.stderr)
        raise SystemExit(f"the generated repo does not render: {len(build.findings)} problem(s)")
    write_tree(root, diff_tree(existing_rendered(root), build, snapshot))
    return len(build.units), time.perf_counter() - started


def generate(
    out: Path, workloads: int, per_team: int, seed: int, *, quiet: bool = False
) -> dict[str, object]:
    """Create OUT/work and OUT/remote.git (OUT is replaced). Returns the metadata written to OUT/meta.json."""

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    if out.exists():
        shutil.rmtree(out)
    work = out / "work"
    work.mkdir(parents=True)
    started = time.perf_counter()
    specs = plan_workloads(workloads, per_team, seed)
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "config", "gc.auto", "0")
    write_sources(work, specs)
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "--no-verify", "-m", f"Synthetic platform repo: {workloads} workloads")
    say(f"  sources for {workloads} workloads written and committed in {time.perf_counter() - started:.1f}s")
    units, seconds = render_into(work)
    say(f"  rendered {units} units in {seconds:.1f}s")
    git(work, "add", "-A")
    from gitops_engine import RENDER_VERSION

    message = f"Render {workloads} workloads\n\nGitops-Engine-Source: self\nGitops-Engine-Render: {RENDER_VERSION}\n"
    git(work, "commit", "--quiet", "--no-verify", "-m", message, env=ENGINE_IDENTITY)
    # --no-local makes the bare remote a single pack (work/ keeps loose objects; nothing reads them in bulk).
    git(out, "clone", "--quiet", "--bare", "--no-local", "work", "remote.git")
    git(work, "remote", "add", "origin", "../remote.git")
    git(work, "fetch", "--quiet", "origin")
    git(work, "branch", "--quiet", "--set-upstream-to=origin/main", "main")
    meta: dict[str, object] = {
        "generator": GENERATOR_VERSION,
        "render": RENDER_VERSION,
        "workloads": workloads,
        "per_team": per_team,
        "seed": seed,
        "teams": len({s.team for s in specs}),
        "with_postgres": sum("type: postgres" in s.files["score.yaml"] for s in specs),
        "main": git(work, "rev-parse", "HEAD").strip(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    say(f"  {out}: done in {meta['seconds']}s")
    return meta


def matches(out: Path, workloads: int, per_team: int, seed: int) -> bool:
    """Whether OUT holds a complete repo generated with these parameters (so it can be reused)."""
    try:
        meta = json.loads((out / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    from gitops_engine import RENDER_VERSION

    # A repo rendered by another render version would be re-rendered whole by every run: generate it again.
    wanted = {
        "generator": GENERATOR_VERSION,
        "render": RENDER_VERSION,
        "workloads": workloads,
        "per_team": per_team,
        "seed": seed,
    }
    return all(meta.get(k) == v for k, v in wanted.items()) and (out / "remote.git" / "HEAD").exists()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workloads", type=int, default=2000, help="number of workloads (default 2000)")
    parser.add_argument("--per-team", type=int, default=50, help="workloads per team (default 50)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default benchmarks/out/w<N>)")
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent / "out" / f"w{args.workloads}"
    meta = generate(out, args.workloads, args.per_team, args.seed)
    print(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

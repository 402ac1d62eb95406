"""A small real platform for the processor's scenario tests, and the git plumbing those tests share.

Two teams (`shop`, `billing`), five workloads, three environments, definitions for postgres, redis, volume,
service-port and the workload itself. Which workload uses which definition is chosen so that every scenario has
units that must change and units that must not:

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

import shutil
from pathlib import Path

from helpers import FileSpec, git, make_repo, rendered_objects, write_files

from gitops_engine.forge.local import LocalForge
from gitops_engine.git import default_identity
from gitops_engine.reconcile import process as process_repo

PLATFORM_YAML = """\
apiVersion: gitops-engine.dev/v1
kind: Platform
environments: [development, staging, production]
forge: local
pullRequests:
  labels: [gitops-engine, rendered]
"""

ENVIRONMENT_YAML = """\
apiVersion: gitops-engine.dev/v1
kind: Environment
id: {id}
type: {type}
namespace: "{namespace}"
labels:
  example.com/env: {id}
values:
  domain: {id}.example.com
"""

CODEOWNERS = """\
*                      @example-org/infra
/definitions/          @example-org/infra
/workloads/shop/       @example-org/shop-team
/workloads/billing/    @example-org/billing-team
"""

PG_INCLUSTER = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: pg-incluster
type: postgres
description: In-cluster PostgreSQL for development and staging.
criteria:
  - env_type: development
  - env_type: staging
driver: template
template:
  outputs: |
    host: {{ resource.uid }}.{{ environment.namespace }}.svc.cluster.local
    port: 5432
    password:
      secretKeyRef: {name: {{ resource.uid }}, key: password}
  manifests: |
    - apiVersion: v1
      kind: Service
      metadata:
        name: {{ resource.uid }}
      spec:
        selector: {app.kubernetes.io/instance: {{ resource.uid }}}
        ports:
          - {name: postgres, port: 5432}
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
"""

PG_MANAGED = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: pg-managed
type: postgres
description: The managed database in production.
criteria:
  - env_type: production
driver: static
outputs:
  host: db.production.example.com
  port: 5432
  password:
    secretKeyRef: {name: pg-managed, key: password}
"""

PG_TUNED = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: pg-tuned
type: postgres
description: A tuned database for the billing team.
criteria:
  - team: billing
driver: template
template:
  outputs: |
    host: tuned-{{ resource.uid }}.{{ environment.namespace }}.svc.cluster.local
    port: 6432
    password:
      secretKeyRef: {name: tuned-{{ resource.uid }}, key: password}
  manifests: |
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        name: tuned-{{ resource.uid }}
      data:
        max_connections: "300"
"""

REDIS = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: redis-incluster
type: redis
criteria:
  - {}
driver: template
template:
  outputs: |
    host: {{ resource.uid }}.{{ environment.namespace }}.svc.cluster.local
    port: 6379
  manifests: |
    - apiVersion: v1
      kind: Service
      metadata:
        name: {{ resource.uid }}
      spec:
        selector: {app.kubernetes.io/instance: {{ resource.uid }}}
        ports:
          - {name: redis, port: 6379}
"""

VOLUME = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: volume-emptydir
type: volume
criteria:
  - {}
driver: template
template:
  outputs: |
    source:
      emptyDir:
        sizeLimit: {{ resource.params.get('size', '1Gi') }}
"""

SERVICE_PORT = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: service-port
type: service-port
criteria:
  - {}
driver: template
template:
  outputs: |
    {% set target = lookup_workload(resource.params.workload) %}
    hostname: {{ target.host }}
    port: {{ target.ports[resource.params.port].port }}
"""

WORKLOAD_DEFAULT = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: workload-default
type: workload
criteria:
  - {}
driver: static
outputs:
  automountServiceAccountToken: false
  podSecurityContext: {runAsNonRoot: true}
"""

WORKLOAD_PRODUCTION = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: workload-production
type: workload
criteria:
  - env_type: production
driver: template
template:
  outputs: |
    replicas: 3
    podSecurityContext: {runAsNonRoot: true}
  manifests: |
    - apiVersion: policy/v1
      kind: PodDisruptionBudget
      metadata:
        name: {{ workload.name }}
      spec:
        maxUnavailable: 1
        selector:
          matchLabels: {app.kubernetes.io/instance: {{ workload.name }}}
"""


def score(
    name: str,
    image: str,
    *,
    resources: str = "",
    port: int | None = None,
    variables: str = "",
    volume: str = "",
) -> str:
    text = (
        f"apiVersion: score.dev/v1b1\nmetadata:\n  name: {name}\ncontainers:\n  main:\n    image: {image}\n"
    )
    if variables:
        text += "    variables:\n" + variables
    if volume:
        text += f"    volumes:\n      /var/{volume}:\n        source: ${{resources.{volume}}}\n"
    if port is not None:
        text += f"service:\n  ports:\n    http:\n      port: {port}\n"
    if resources:
        text += "resources:\n" + resources
    return text


ORDERS = score(
    "orders",
    "registry.example.com/orders:1.0.0",
    port=8080,
    variables="      DB_HOST: ${resources.db.host}\n      CACHE: ${resources.cache.host}\n",
    resources="  db:\n    type: postgres\n  cache:\n    type: redis\n    id: cache\n",
)
CART = score(
    "cart",
    "registry.example.com/cart:2.0.0",
    port=8081,
    variables="      CACHE: ${resources.cache.host}\n      ORDERS: http://${resources.orders.hostname}:${resources.orders.port}\n",
    resources=(
        "  cache:\n    type: redis\n    id: cache\n"
        "  orders:\n    type: service-port\n    params: {workload: orders, port: http}\n"
    ),
)
CATALOG = score(
    "catalog",
    "registry.example.com/catalog:3.1.0",
    variables="      DB_HOST: ${resources.db.host}\n",
    resources="  db:\n    type: postgres\n  scratch:\n    type: volume\n",
    volume="scratch",
)
INVOICES = score(
    "invoices",
    "registry.example.com/invoices:0.9.0",
    variables="      DB_HOST: ${resources.db.host}\n",
    resources="  db:\n    type: postgres\n",
)
MAILER = score(
    "mailer",
    "registry.example.com/mailer:5.0.0",
    resources="  spool:\n    type: volume\n    params: {size: 2Gi}\n",
    volume="spool",
)

WORKLOADS = ["billing/invoices", "billing/mailer", "shop/cart", "shop/catalog", "shop/orders"]
ENVIRONMENTS = ["development", "staging", "production"]
# Workloads whose postgres comes from pg-incluster in development and staging.
INCLUSTER_USERS = ["shop/catalog", "shop/orders"]


def environment(env_id: str, env_type: str, namespace: str = "{team}-{env}") -> str:
    return ENVIRONMENT_YAML.format(id=env_id, type=env_type, namespace=namespace)


PLATFORM: dict[str, FileSpec] = {
    "platform.yaml": PLATFORM_YAML,
    ".github/CODEOWNERS": CODEOWNERS,
    "environments/development.yaml": environment("development", "development"),
    "environments/staging.yaml": environment("staging", "staging"),
    "environments/production.yaml": environment("production", "production", "{team}"),
    "definitions/postgres/pg-incluster.yaml": PG_INCLUSTER,
    "definitions/postgres/pg-managed.yaml": PG_MANAGED,
    "definitions/postgres/pg-tuned.yaml": PG_TUNED,
    "definitions/redis/redis-incluster.yaml": REDIS,
    "definitions/volume/volume-emptydir.yaml": VOLUME,
    "definitions/service-port/service-port.yaml": SERVICE_PORT,
    "definitions/workload/workload-default.yaml": WORKLOAD_DEFAULT,
    "definitions/workload/workload-production.yaml": WORKLOAD_PRODUCTION,
    "workloads/shop/orders/score.yaml": ORDERS,
    "workloads/shop/cart/score.yaml": CART,
    "workloads/shop/catalog/score.yaml": CATALOG,
    "workloads/billing/invoices/score.yaml": INVOICES,
    "workloads/billing/mailer/score.yaml": MAILER,
}


# -------------------------------------------------------------------------------------------------------------
# A world: a bare remote, the engine's clone (where `process` runs) and a developer's clone.


class World:
    """`root/remote.git` (the hosted remote), `root/engine` (CI's checkout), `root/dev` (people push from here).

    `mode` is how the processor is run after a push: `full` (no --base, as the scheduled reconcile) or `range`
    (`--base` = main before the push, as CI's push workflow does).
    """

    def __init__(self, root: Path, mode: str = "full") -> None:
        self.root = root
        self.remote = root / "remote.git"
        self.engine = root / "engine"
        self.dev = root / "dev"
        self.mode = mode
        self.before: str | None = None  # main before the latest push_change (the push event's `before`)

    def copy_to(self, target: Path, mode: str = "full") -> World:
        """A private copy (clones re-pointed at the copied remote)."""
        shutil.copytree(self.root, target, symlinks=True)
        world = World(target, mode)
        for clone in (world.engine, world.dev):
            git(clone, "remote", "set-url", "origin", str(world.remote))
        return world

    # -- people ----------------------------------------------------------------------------------------------
    def push_change(
        self, files: dict[str, FileSpec], message: str = "change", *, clone: Path | None = None
    ) -> str:
        """Pull main, write `files` (None deletes), commit as the test author and push; returns the commit."""
        where = clone or self.dev
        self.before = self.main()
        git(where, "pull", "--quiet", "--ff-only", "origin", "main")
        write_files(where, files)
        git(where, "add", "--all")
        git(where, "commit", "--quiet", "-m", message)
        git(where, "push", "--quiet", "origin", "HEAD:main")
        return git(where, "rev-parse", "HEAD").strip()

    def edit(self, path: str, old: str, new: str) -> dict[str, FileSpec]:
        """`{path: text}` with `old` replaced by `new` in the file as main holds it (fails if `old` is absent)."""
        text = self.show(f"main:{path}")
        assert old in text, f"{old!r} not in {path}"
        return {path: text.replace(old, new)}

    # -- reading the remote ----------------------------------------------------------------------------------
    def rgit(self, *args: str) -> str:
        return git(self.remote, *args)

    def main(self) -> str:
        return self.rgit("rev-parse", "refs/heads/main").strip()

    def show(self, spec: str) -> str:
        """`git show REV:PATH`; an object named `rendered/<env>/<unit>/<kind>-<name>.yaml` is read out of the
        folder's manifest.yaml (see helpers.rendered_objects)."""
        rev, _, path = spec.partition(":")
        folder, _, name = path.rpartition("/")
        if path.startswith("rendered/") and name not in ("manifest.yaml", "gitops-engine.lock"):
            manifest = self.rgit("show", f"{rev}:{folder}/manifest.yaml").encode()
            objects = rendered_objects({f"{folder}/manifest.yaml": manifest})
            if path not in objects:
                raise AssertionError(f"{spec}: no such object in {folder}/manifest.yaml")
            return objects[path].decode()
        return self.rgit("show", spec)

    def objects(self, rev: str, under: str = "rendered/") -> dict[str, str]:
        """Every rendered object at `rev` on the remote by its `<kind>-<name>.yaml` path (rendered_objects)."""
        manifests = {
            p: self.rgit("show", f"{rev}:{p}").encode() for p in self.files(rev, under) if p.endswith(".yaml")
        }
        return {p: c.decode() for p, c in rendered_objects(manifests).items()}

    def refs(self) -> dict[str, str]:
        """Every ref on the remote: `git ls-remote`, ref -> sha."""
        out = git(self.root, "ls-remote", str(self.remote))
        return {ref: sha for sha, _, ref in (line.partition("\t") for line in out.splitlines())}

    def branches(self) -> dict[str, str]:
        """Engine branches on the remote: `team/name` (unit) -> head sha."""
        prefix = "refs/heads/gitops-engine/"
        return {ref[len(prefix) :]: sha for ref, sha in self.refs().items() if ref.startswith(prefix)}

    def files(self, rev: str, under: str = "rendered/") -> dict[str, str]:
        """path -> blob id of every file under `under` at `rev` on the remote."""
        out = self.rgit("ls-tree", "-r", "--full-tree", rev, "--", under)
        found: dict[str, str] = {}
        for line in out.splitlines():
            meta, _, path = line.partition("\t")
            found[path] = meta.split()[2]
        return found

    def changed(self, a: str, b: str) -> list[str]:
        return sorted(self.rgit("diff", "--name-only", "--no-renames", a, b).split())

    def changed_objects(self, a: str, b: str) -> list[str]:
        """Objects (by their `<kind>-<name>.yaml` path) and locks that differ between two revisions."""
        folders = sorted(
            {p.rpartition("/")[0] + "/" for p in self.changed(a, b) if p.startswith("rendered/")}
        )
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        for folder in folders:
            before.update(self.objects(a, folder))
            after.update(self.objects(b, folder))
        locks = [p for p in self.changed(a, b) if p.endswith("/gitops-engine.lock")]
        return sorted([*(p for p in {*before, *after} if before.get(p) != after.get(p)), *locks])

    def log(self, rev_range: str) -> list[str]:
        return self.rgit("log", "--format=%H", rev_range).split()


def prepare_world(root: Path) -> World:
    """PLATFORM's sources pushed to a bare remote and rendered by the processor itself (a new repo's first push,
    committed to main), with the engine's clone and a developer's clone."""
    seed = make_repo(root / "seed", PLATFORM, message="Platform sources")
    world = World(root)
    git(root, "clone", "--quiet", "--bare", str(seed), str(world.remote))
    shutil.rmtree(seed)
    git(root, "clone", "--quiet", str(world.remote), str(world.engine))
    report = process_repo(world.engine, LocalForge(world.remote), default_identity())
    assert report.committed and not report.findings and report.opened == [], report
    git(root, "clone", "--quiet", str(world.remote), str(world.dev))
    return world

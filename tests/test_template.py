"""The shipped template is tested like code (STYLE.md habit 8): it initialises, validates and renders; every rendered
object is valid Kubernetes 1.30 (custom resources at least well-formed); nothing secret is rendered; output is
deterministic; and the whole rendered tree is a golden file set, so any change to the template or the renderer shows
up as a reviewable diff.

Golden files: `tests/golden/template/` mirrors `rendered/` of `gitops-engine init`, gitops-engine.lock files
included. Locks hold the git blob id of every template file used, so editing the template changes them: that is
intended. Refresh with

    GOLDEN_UPDATE=1 /work/venv/bin/python -m pytest tests/test_template.py

and review `git diff tests/golden/template`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import GIT_ENV, GOLDEN_DIR, GOLDEN_UPDATE, assert_golden, clone, git, run_cli, snapshot_tree
from k8s import is_builtin, load_objects, validate_object, validate_tree

from gitops_engine.loading import WorkTreeSource, load_snapshot
from gitops_engine.manifest import order_key
from gitops_engine.matching import NoMatch, ResourceKey, match_definition
from gitops_engine.model import SecretRef
from gitops_engine.render import Renderer
from gitops_engine.template import template_dir

ENVIRONMENTS = ("development", "staging", "production")

# The output names Score users rely on (issue 2's table); `environment` exposes the environment's values.
OUTPUTS: dict[str, set[str]] = {
    "postgres": {"host", "port", "name", "database", "username", "password"},
    "mysql": {"host", "port", "name", "database", "username", "password"},
    "mssql": {"server", "port", "connection", "database", "username", "password"},
    "mongodb": {"host", "port", "username", "password", "connection"},
    "redis": {"host", "port", "username", "password"},
    "elasticsearch": {"host", "port", "username", "password"},
    "amqp": {"host", "port", "vhost", "username", "password"},
    "kafka-topic": {"host", "port", "name", "num_partitions"},
    "s3": {
        "bucket",
        "endpoint",
        "region",
        "access_key_id",
        "secret_key",
        "aws_access_key_id",
        "aws_secret_key",
    },
    "dns": {"host"},
    "route": set(),
    "volume": {"source"},
    "service-port": {"hostname", "port"},
}
SECRET_OUTPUTS = {"password", "connection", "secret_key", "aws_secret_key"}
DATA_SERVICES = (
    "postgres",
    "mysql",
    "mssql",
    "mongodb",
    "redis",
    "amqp",
    "kafka-topic",
    "s3",
    "elasticsearch",
)
REQUIRED_KINDS = {
    "Deployment",
    "StatefulSet",
    "Service",
    "ConfigMap",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "Ingress",
    "HTTPRoute",
    "ExternalSecret",
}
# Keys whose scalar value would be a credential if it were written literally.
# snake_case on purpose: External Secrets' `secretKey` names a key of the target Secret, it holds no value.
_SECRET_KEY = re.compile(
    r"^([a-z0-9]+_)*(password|passwd|secret|secret_key|token|api_key|secret_access_key)$"
)
# What a secret-looking key may hold instead: an External Secrets template or a Kubernetes $(VAR) reference.
_SECRET_REFERENCE = re.compile(r"^(\{\{.*\}\}|\$\([A-Z0-9_]+\))$")
_URL_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]+:(\{\{[^}]*\}\}|[^/@\s]+)@")
_KEYWORD_PASSWORD = re.compile(r"(?i)(?:^|;)\s*(?:password|pwd)\s*=\s*([^;]*)")  # ADO.NET/ODBC strings


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`gitops-engine init` of the shipped template, once for this module; tests only read it."""
    parent = tmp_path_factory.mktemp("template")
    code, output = run_cli(["init", "p"], parent)
    assert code == 0, output
    return parent / "p"


@pytest.fixture(scope="module")
def rendered_objects(template_repo: Path) -> dict[str, list[dict[str, Any]]]:
    """Every manifest under rendered/: path relative to rendered/ -> its documents."""
    return load_objects(template_repo / "rendered")


def _objects(rendered: dict[str, list[dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, documents in rendered.items():
        for document in documents:
            yield path, document


# ---------------------------------------------------------------------------------------------------------------
# (a) init, validate, render, render --check


def test_init_gives_a_repo_that_validates_renders_and_is_up_to_date(tmp_path: Path) -> None:
    code, output = run_cli(["init", str(tmp_path / "p")], tmp_path)
    assert code == 0, output
    repo = tmp_path / "p"
    for args in (["validate"], ["render"], ["render", "--check"]):
        code, output = run_cli([*args, "--repo", str(repo)], tmp_path)
        assert code == 0, f"gitops-engine {' '.join(args)}: {output}"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(repo, "branch", "--show-current").strip() == "main"
    assert git(repo, "rev-list", "--count", "main").strip() == "1"
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/heads").split() == ["refs/heads/main"]
    committed = git(repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert any(p.startswith("rendered/production/") for p in committed), (
        "the first commit must include rendered/"
    )


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "keep.txt").write_text("mine\n")
    code, output = run_cli(["init", str(tmp_path / "p")], tmp_path)
    assert code == 2, output
    assert "not empty" in output
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["keep.txt"]


def test_render_check_fails_when_the_template_output_is_stale(template_repo: Path, tmp_path: Path) -> None:
    # `render --check` passing above means something only if it can fail on this very repo.
    repo = clone(template_repo, tmp_path / "stale")
    victim = next(
        p
        for p in sorted((repo / "rendered" / "production").rglob("manifest.yaml"))
        if "replicas: 3" in p.read_text()
    )
    victim.write_text(victim.read_text().replace("replicas: 3", "replicas: 1", 1))
    code, output = run_cli(["render", "--check", "--repo", str(repo)], tmp_path)
    assert code == 1, output
    assert victim.relative_to(repo).as_posix() in output


# ---------------------------------------------------------------------------------------------------------------
# (b) valid Kubernetes


def test_every_rendered_object_is_valid_kubernetes(template_repo: Path) -> None:
    assert validate_tree(template_repo / "rendered") == {}


def test_rendered_kinds_cover_what_the_template_promises(
    rendered_objects: dict[str, list[dict[str, Any]]],
) -> None:
    kinds = {obj["kind"] for _, obj in _objects(rendered_objects)}
    assert kinds >= REQUIRED_KINDS, f"missing: {sorted(REQUIRED_KINDS - kinds)}"
    builtin = {
        obj["kind"] for _, obj in _objects(rendered_objects) if is_builtin(obj["apiVersion"], obj["kind"])
    }
    assert builtin >= {"Deployment", "StatefulSet", "Service", "ConfigMap", "PersistentVolumeClaim"}
    assert "HTTPRoute" not in builtin and "ExternalSecret" not in builtin


def test_one_manifest_per_unit_in_install_order(template_repo: Path) -> None:
    """Each unit folder holds manifest.yaml (every object, kinds in install order, then by name) and the lock;
    nothing else: one entry fewer per object for git, Argo CD and Flux to walk."""
    folders = sorted({p.parent for p in (template_repo / "rendered").rglob("*") if p.is_file()})
    assert len(folders) == 30
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == ["gitops-engine.lock", "manifest.yaml"], folder
        documents = load_objects(folder)["manifest.yaml"]
        keys = [order_key(f"{obj['kind']}/{obj['metadata']['name']}") for obj in documents]
        assert keys == sorted(keys) and len(set(keys)) == len(keys), folder
        lock = json.loads((folder / "gitops-engine.lock").read_text())
        assert sorted(lock["manifests"]) == sorted(
            f"{obj['kind']}/{obj['metadata']['name']}" for obj in documents
        )


def test_the_validator_rejects_what_kubernetes_rejects(
    rendered_objects: dict[str, list[dict[str, Any]]],
) -> None:
    # Guard against a validator that accepts everything: break objects the template really renders.
    by_kind = {obj["kind"]: obj for _, obj in _objects(rendered_objects)}
    deployment = json.loads(json.dumps(by_kind["Deployment"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 7
    deployment["spec"]["template"]["spec"]["containers"][0]["unknownField"] = True
    problems = validate_object(deployment)
    assert any("imagePullPolicy" in p for p in problems), problems
    assert any("unknownField" in p for p in problems), problems

    selector = json.loads(json.dumps(by_kind["StatefulSet"]))
    selector["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "other"}
    assert any("spec.selector" in p for p in validate_object(selector))

    service = json.loads(json.dumps(by_kind["Service"]))
    service["metadata"]["name"] = "1-starts-with-a-digit"
    assert any("metadata.name" in p for p in validate_object(service))

    removed = {**by_kind["Ingress"], "apiVersion": "extensions/v1beta1"}
    assert validate_object(removed) == ["Ingress extensions/v1beta1 is not served by Kubernetes 1.30"]

    route = json.loads(json.dumps(by_kind["HTTPRoute"]))
    del route["metadata"]["namespace"]
    route["spec"] = ["not", "a", "mapping"]
    route["metadata"]["labels"] = {"bad key!": "x"}
    problems = validate_object(route)
    assert len(problems) == 3, problems


def test_the_validator_agrees_with_kubernetes_validate(
    rendered_objects: dict[str, list[dict[str, Any]]],
) -> None:
    # Our cached validators must say what the library itself says (strict mode, same schema files).
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    by_kind = {obj["kind"]: obj for _, obj in _objects(rendered_objects)}
    for kind in ("Deployment", "PodDisruptionBudget", "Ingress"):
        obj = json.loads(json.dumps(by_kind[kind]))
        assert kubernetes_validate.validate(obj, "1.30", strict=True) == "1.30"
        assert validate_object(obj) == []
        obj["spec"]["surprise"] = 1
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(obj, "1.30", strict=True)
        assert validate_object(obj), kind


# ---------------------------------------------------------------------------------------------------------------
# (c) no secret values


def _secret_values(value: Any, where: str = "") -> Iterator[str]:
    """Places in a document where a credential appears to be written literally."""
    if isinstance(value, dict):
        for key, item in value.items():
            at = f"{where}.{key}" if where else str(key)
            if (
                isinstance(key, str)
                and _SECRET_KEY.match(key)
                and isinstance(item, (str, int))
                and not _SECRET_REFERENCE.match(str(item))
            ):
                yield f"{at}: {item!r}"
            yield from _secret_values(item, at)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _secret_values(item, f"{where}[{i}]")
    elif isinstance(value, str):
        for match in [*_URL_USERINFO.finditer(value), *_KEYWORD_PASSWORD.finditer(value)]:
            if not _SECRET_REFERENCE.match(match.group(1).strip()):
                yield f"{where}: a connection string with a literal password"


def test_nothing_secret_is_rendered(
    template_repo: Path, rendered_objects: dict[str, list[dict[str, Any]]]
) -> None:
    problems: list[str] = []
    for path, obj in _objects(rendered_objects):
        if obj["kind"] == "Secret":
            problems.append(f"{path}: a Secret")
        if "stringData" in json.dumps(obj):
            problems.append(f"{path}: stringData")
        problems += [f"{path}: {p}" for p in _secret_values(obj)]
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            for container in obj["spec"]["template"]["spec"]["containers"]:
                for env in container.get("env", []):
                    # MYSQL_RANDOM_ROOT_PASSWORD=yes and the like are switches, not credentials.
                    literal = env.get("value", "").lower() not in {"", "yes", "no", "true", "false"}
                    if re.search(r"PASSWORD|SECRET|TOKEN", env["name"]) and literal:
                        problems.append(f"{path}: variable {env['name']} has a literal value")
    for lock in sorted((template_repo / "rendered").rglob("gitops-engine.lock")):
        text = lock.read_text()
        if re.search(r"(?i)\"?(password|secret_key|stringData)\"?\s*:\s*\"?[^\s\"{]", text):
            problems.append(f"{lock}: looks like it holds a secret value")
    assert problems == []


def test_the_secret_scan_would_notice_a_literal_password() -> None:
    leaked = {
        "spec": {"target": {"template": {"data": {"password": "hunter2"}}}},
        "url": "redis://u:hunter2@h:1/0",
        "connection": "Server=tcp:db,1433;User Id=app;Password=hunter2;Encrypt=True",
    }
    assert len(list(_secret_values(leaked))) == 3
    referenced = {
        "password": "{{ .password }}",
        "url": "amqp://$(U):$(P)@host:5672/vhost",
        "connection": "mongodb://root:{{ .password }}@host:27017/",
        "mssql": "Server=tcp:db,1433;User Id={{ .username }};Password={{ .password }};Encrypt=True",
    }
    assert list(_secret_values(referenced)) == []


def test_pod_references_resolve(rendered_objects: dict[str, list[dict[str, Any]]]) -> None:
    """What a pod refers to exists: Secrets (from an ExternalSecret in its namespace, or the platform's
    ClusterExternalSecrets in deploy/platform), ConfigMaps and claims of its folder, and $(VAR) references to
    variables defined earlier in the same container."""
    platform_secrets = {
        doc["spec"]["externalSecretSpec"]["target"]["name"]
        for _, doc in _objects(load_objects(template_dir() / "deploy" / "platform"))
        if doc["kind"] == "ClusterExternalSecret"
    }
    provided: set[tuple[str, str, str]] = set()
    for _, obj in _objects(rendered_objects):
        namespace = obj["metadata"]["namespace"]
        if obj["kind"] == "ExternalSecret":
            provided.add(
                (namespace, "Secret", obj["spec"].get("target", {}).get("name") or obj["metadata"]["name"])
            )
        provided.add((namespace, obj["kind"], obj["metadata"]["name"]))
        if obj["kind"] == "StatefulSet":
            for claim in obj["spec"].get("volumeClaimTemplates", []):
                provided.add((namespace, "PersistentVolumeClaim", claim["metadata"]["name"]))
    problems: list[str] = []
    for path, obj in _objects(rendered_objects):
        if obj["kind"] not in {"Deployment", "StatefulSet"}:
            continue
        namespace = obj["metadata"]["namespace"]
        production = path.startswith("production/")
        pod = obj["spec"]["template"]["spec"]

        def need(
            kind: str, name: str, path: str = path, namespace: str = namespace, production: bool = production
        ) -> None:
            if (namespace, kind, name) in provided:
                return
            if kind == "Secret" and production and name in platform_secrets:
                return
            problems.append(f"{path}: {kind} {name!r} is not rendered in namespace {namespace}")

        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                need("ConfigMap", volume["configMap"]["name"])
            if "persistentVolumeClaim" in volume:
                need("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
            if "secret" in volume:
                need("Secret", volume["secret"]["secretName"])
        for container in pod["containers"]:
            defined: set[str] = set()
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    need("Secret", ref["name"])
                for var in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", env.get("value", "")):
                    if var not in defined:
                        problems.append(f"{path}: {env['name']} uses $({var}) before it is defined")
                defined.add(env["name"])
    assert problems == []


def test_traffic_reaches_pods(rendered_objects: dict[str, list[dict[str, Any]]]) -> None:
    """Every Service and PodDisruptionBudget selects pods rendered in its namespace, every Service targetPort is
    a port those pods declare or a number, and every HTTPRoute or Ingress backend is a port of a rendered Service."""
    pods: dict[str, list[tuple[dict[str, str], set[Any]]]] = {}  # namespace -> (pod labels, named ports)
    services: dict[tuple[str, str], set[Any]] = {}  # (namespace, name) -> port numbers and names
    for _, obj in _objects(rendered_objects):
        namespace = obj["metadata"]["namespace"]
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            template = obj["spec"]["template"]
            ports = {p.get("name") for c in template["spec"]["containers"] for p in c.get("ports", [])}
            pods.setdefault(namespace, []).append((template["metadata"]["labels"], ports))
        if obj["kind"] == "Service":
            ports = obj["spec"].get("ports", [])
            services[(namespace, obj["metadata"]["name"])] = {p["port"] for p in ports} | {
                p.get("name") for p in ports
            }
    problems: list[str] = []
    for path, obj in _objects(rendered_objects):
        namespace, spec = obj["metadata"].get("namespace"), obj.get("spec", {})
        if obj["kind"] in {"Service", "PodDisruptionBudget"}:
            selector = spec.get("selector", {})
            selector = (
                selector.get("matchLabels", selector) if obj["kind"] == "PodDisruptionBudget" else selector
            )
            selected = [
                ports
                for labels, ports in pods.get(namespace, [])
                if selector and all(labels.get(k) == v for k, v in selector.items())
            ]
            if not selected:
                problems.append(f"{path}: selector {selector} matches no pod in {namespace}")
            for port in spec.get("ports", []) if obj["kind"] == "Service" else []:
                target = port.get("targetPort", port["port"])
                if isinstance(target, str) and not any(target in ports for ports in selected):
                    problems.append(f"{path}: targetPort {target!r} is not a port of the selected pods")
        backends: list[tuple[str, Any]] = []
        if obj["kind"] == "HTTPRoute":
            backends = [(b["name"], b.get("port")) for r in spec["rules"] for b in r.get("backendRefs", [])]
        if obj["kind"] == "Ingress":
            backends = [
                (p["backend"]["service"]["name"], p["backend"]["service"]["port"].get("number"))
                for rule in spec["rules"]
                for p in rule["http"]["paths"]
            ]
        for name, port in backends:
            if port not in services.get((namespace, name), set()):
                problems.append(f"{path}: backend {name}:{port} is not a port of a Service in {namespace}")
    assert problems == []


# ---------------------------------------------------------------------------------------------------------------
# (d) determinism


def test_output_is_byte_identical_across_inits_and_clones(template_repo: Path, tmp_path: Path) -> None:
    first = snapshot_tree(template_repo)
    # A second init through the installed console script, in a fresh process and another directory.
    script = Path(sys.executable).with_name("gitops-engine")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gitops_engine"]
    env = {**os.environ, **GIT_ENV, "GITHUB_ACTIONS": "", "PYTHONHASHSEED": "12345"}
    proc = subprocess.run(
        [*command, "init", "elsewhere/p2"], cwd=tmp_path, capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert snapshot_tree(tmp_path / "elsewhere" / "p2") == first

    # A clone with rendered/ deleted renders the same bytes again.
    copy = clone(template_repo, tmp_path / "clone")
    subprocess.run(["rm", "-rf", str(copy / "rendered")], check=True)
    code, output = run_cli(["render", "--repo", str(copy)], tmp_path)
    assert code == 0, output
    assert snapshot_tree(copy) == first
    assert git(copy, "status", "--porcelain") == ""


# ---------------------------------------------------------------------------------------------------------------
# (e) golden files


def test_rendered_template_matches_golden_files(template_repo: Path) -> None:
    rendered = template_repo / "rendered"
    actual = {
        p.relative_to(rendered).as_posix(): p.read_bytes() for p in sorted(rendered.rglob("*")) if p.is_file()
    }
    golden_root = GOLDEN_DIR / "template"
    golden = {p.relative_to(golden_root).as_posix() for p in golden_root.rglob("*") if p.is_file()}
    if GOLDEN_UPDATE:
        for stale in golden - set(actual):
            (golden_root / stale).unlink()
    failures: list[str] = []
    for rel, content in actual.items():
        try:
            assert_golden(f"template/{rel}", content.decode("utf-8"))
        except AssertionError as exc:
            failures.append(str(exc))
    if not GOLDEN_UPDATE:
        failures += [
            f"golden/template/{rel} is no longer rendered (GOLDEN_UPDATE=1 removes it)"
            for rel in golden - set(actual)
        ]
    assert not failures, f"{len(failures)} golden file(s) differ:\n" + "\n".join(failures)


# ---------------------------------------------------------------------------------------------------------------
# (f) definitions per environment and their outputs


@pytest.fixture(scope="module")
def template_renders() -> tuple[Any, dict[tuple[str, str], list[Any]]]:
    """The shipped template rendered in memory: (snapshot, (type, env) -> resolved resources of that type)."""
    snapshot = load_snapshot(WorkTreeSource(template_dir()))
    assert [f for f in [*snapshot.findings, *snapshot.local_findings] if f.severity == "error"] == []
    renderer = Renderer(snapshot)
    by_type: dict[tuple[str, str], list[Any]] = {}
    for key in sorted(snapshot.workload_paths):
        for env in snapshot.environment_order:
            unit, _ = renderer.render_workload(key, env)
            for resource in unit.resources:
                by_type.setdefault((resource.request.type, env), []).append(resource)
    return snapshot, by_type


def test_every_type_has_a_definition_in_every_environment(template_renders: Any) -> None:
    snapshot, _ = template_renders
    assert tuple(snapshot.environment_order) == ENVIRONMENTS
    chosen: dict[str, dict[str, str]] = {}
    for type_ in [*OUTPUTS, "environment", "workload"]:
        for env_id in ENVIRONMENTS:
            env = snapshot.environments[env_id]
            key = ResourceKey(type_, "default", "any", "some-team", "some-workload")
            try:
                chosen.setdefault(type_, {})[env_id] = match_definition(
                    snapshot.definitions_of(type_), key, env
                ).id
            except NoMatch as exc:
                pytest.fail(f"no {type_} definition for {env_id}: {exc}")
    for type_ in DATA_SERVICES:
        # In-cluster for development and staging, a managed service for production.
        assert chosen[type_]["development"] == chosen[type_]["staging"] != chosen[type_]["production"], (
            chosen[type_]
        )


def test_outputs_have_the_names_score_users_rely_on(template_renders: Any) -> None:
    snapshot, by_type = template_renders
    problems: list[str] = []
    for env_id in ENVIRONMENTS:
        expected = dict(OUTPUTS, environment=set(snapshot.environments[env_id].values))
        for type_, names in expected.items():
            resources = by_type.get((type_, env_id), [])
            if not resources:
                problems.append(f"{env_id}: no template workload uses a {type_} resource")
            for resource in resources:
                if set(resource.outputs) != names:
                    problems.append(
                        f"{env_id} {type_} {resource.request.name} ({resource.definition.id}): "
                        f"outputs {sorted(resource.outputs)} != {sorted(names)}"
                    )
                for name in SECRET_OUTPUTS & set(resource.outputs):
                    if not isinstance(resource.outputs[name], SecretRef):
                        problems.append(
                            f"{env_id} {type_} {resource.definition.id}: {name} is not a secret reference"
                        )
    assert problems == []


def test_production_data_services_are_managed(rendered_objects: dict[str, list[dict[str, Any]]]) -> None:
    # A managed service runs outside the cluster: production renders no database StatefulSet for a resource.
    stateful = [
        path
        for path, obj in _objects(rendered_objects)
        if path.startswith("production/")
        and obj["kind"] == "StatefulSet"
        and obj["metadata"]["name"] != path.split("/")[2]
    ]
    assert stateful == []


def test_the_deploy_examples_apply_each_manifest_and_never_a_lock(template_repo: Path) -> None:
    """Argo CD's ApplicationSet: one Application per folder its generator finds, applying what `include` matches;
    Flux: one Kustomization per environment folder, reading .yaml/.yml/.json files."""
    import fnmatch

    deploy = template_dir() / "deploy"
    appset = load_objects(deploy / "argocd")["applicationset.yaml"][0]
    (generator,) = appset["spec"]["generators"]
    (directories,) = generator["git"]["directories"]
    include = appset["spec"]["template"]["spec"]["source"]["directory"]["include"]
    folders = sorted(p for p in (template_repo / "rendered").glob("*/*/*") if p.is_dir())
    assert sorted(template_repo.glob(directories["path"])) == folders and len(folders) == 30
    for folder in folders:
        assert [p.name for p in sorted(folder.iterdir()) if fnmatch.fnmatch(p.name, include)] == [
            "manifest.yaml"
        ]
    for env in ENVIRONMENTS:
        kustomization = load_objects(deploy / "flux")[f"{env}.yaml"][0]
        path = template_repo / kustomization["spec"]["path"]
        assert path == template_repo / "rendered" / env and path.is_dir()
        applied = sorted(p.name for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        assert applied and set(applied) == {"manifest.yaml"}

"""The community resource types `service`, `endpoint` and `llm-model`: Score files written the way score-compose
and score-k8s examples use them (tests/data/community-corpus/) render with the template's definitions alone, with
the outputs those tools name, in every environment, into valid Kubernetes objects with no secret value."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import commit_all, run_cli
from k8s import load_objects, validate_tree

from gitops_engine.commands.init import create_platform_repo
from gitops_engine.loading import WorkTreeSource, load_snapshot
from gitops_engine.model import SecretRef
from gitops_engine.render import Renderer

CORPUS = Path(__file__).parent / "data" / "community-corpus"
ENVIRONMENTS = ("development", "staging", "production")
# Output names as score-compose and score-k8s provisioners of these types give them (community-provisioners:
# service -> name; endpoint -> url, name; llm-model -> model, url, api-key), plus host and port for service.
OUTPUTS = {
    "service": {"name", "host", "port"},
    "endpoint": {"url", "name"},
    "llm-model": {"model", "url", "api-key"},
}


@pytest.fixture(scope="module")
def corpus_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template without its samples (`init --bare`), plus the corpus: nothing else is added."""
    repo = tmp_path_factory.mktemp("corpus") / "p"
    create_platform_repo(repo, bare=True)
    shutil.copytree(CORPUS, repo / "workloads")
    commit_all(repo, "the corpus")
    code, output = run_cli(["render"], repo)
    assert code == 0, output
    return repo


def _env_values(repo: Path, env: str, workload: str) -> dict[str, Any]:
    objects = load_objects(repo / "rendered" / env / "demo" / workload)
    (deployment,) = [o for docs in objects.values() for o in docs if o["kind"] == "Deployment"]
    return {
        e["name"]: e.get("value", e.get("valueFrom"))
        for c in deployment["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
    }


def test_the_corpus_validates_and_renders_with_the_template_definitions_alone(corpus_repo: Path) -> None:
    code, output = run_cli(["validate"], corpus_repo)
    assert code == 0, output
    assert output.endswith("ok: 6 workloads in 3 environments are valid\n")
    assert run_cli(["render", "--check"], corpus_repo)[0] == 0


def test_rendered_objects_are_valid_kubernetes(corpus_repo: Path) -> None:
    assert validate_tree(corpus_repo / "rendered") == {}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs_reach_the_variables(corpus_repo: Path, env: str) -> None:
    domain = f"demo-{env}.svc.cluster.local"
    assert _env_values(corpus_repo, env, "frontend") == {
        "BACKEND_SVC": "backend",
        "BACKEND_URL": f"http://backend.{domain}:8080",
    }
    assert _env_values(corpus_repo, env, "web") == {
        "SERVICE_DEP": f"http://backend.{domain}:8080/0.1.0/orders"
    }
    payments = (
        "https://api.payments.example.net/v2"
        if env == "production"
        else "https://sandbox.payments.example.net/v2"
    )
    assert _env_values(corpus_repo, env, "checkout") == {
        "PAYMENTS_NAME": "payments-provider",
        "PAYMENTS_URL": payments,
    }
    chat = _env_values(corpus_repo, env, "chat")
    if env == "production":
        assert chat == {
            "LLM_API_KEY": {"secretKeyRef": {"name": "chat-model", "key": "api-key"}},
            "LLM_BASE_URL": "https://llm-gateway.example.com/v1",
            "LLM_MODEL_NAME": "ai/smollm2:135M-Q4_0",
        }
    else:
        assert chat == {
            "LLM_API_KEY": "not-needed",
            "LLM_BASE_URL": f"http://chat-model.{domain}:11434",
            "LLM_MODEL_NAME": "ai/smollm2:135M-Q4_0",
        }


def test_llm_models_run_in_cluster_outside_production(corpus_repo: Path) -> None:
    for env in ENVIRONMENTS:
        objects = load_objects(corpus_repo / "rendered" / env / "demo" / "open-webui")
        kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for docs in objects.values() for o in docs)
        if env == "production":
            assert "StatefulSet/open-webui-gemma3" not in kinds
            assert {"ExternalSecret/open-webui-gemma3", "ExternalSecret/open-webui-smollm2"} <= set(kinds)
        else:
            assert {
                "StatefulSet/open-webui-gemma3",
                "Service/open-webui-gemma3",
                "StatefulSet/open-webui-smollm2",
            } <= set(kinds), kinds
            (ollama,) = [
                o
                for docs in objects.values()
                for o in docs
                if o["metadata"]["name"] == "open-webui-gemma3" and o["kind"] == "StatefulSet"
            ]
            container = ollama["spec"]["template"]["spec"]["containers"][0]
            assert {"name": "MODEL", "value": "gemma3:270m"} in container["env"]


def test_outputs_are_named_as_score_compose_and_score_k8s_name_them(corpus_repo: Path) -> None:
    snapshot = load_snapshot(WorkTreeSource(corpus_repo))
    renderer = Renderer(snapshot)
    seen: dict[str, set[str]] = {}
    for key in sorted(snapshot.workload_paths):
        for env in ENVIRONMENTS:
            unit, _ = renderer.render_workload(key, env)
            for resource in unit.resources:
                type_ = resource.request.type
                if type_ in OUTPUTS:
                    assert set(resource.outputs) == OUTPUTS[type_], (key, env, type_)
                    seen.setdefault(type_, set()).add(env)
                    secret = isinstance(resource.outputs.get("api-key"), SecretRef)
                    assert secret == (type_ == "llm-model" and env == "production"), (key, env)
    assert seen == {type_: set(ENVIRONMENTS) for type_ in OUTPUTS}


def test_an_endpoint_with_no_url_and_no_workload_fails_in_its_definition(
    corpus_repo: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "p"
    shutil.copytree(corpus_repo, repo)
    score = repo / "workloads" / "demo" / "checkout" / "score.yaml"
    score.write_text(score.read_text().replace("payments-provider", "billing"))
    code, output = run_cli(["validate"], repo)
    assert code == 1
    assert "definitions/endpoint/endpoint-url.yaml:" in output
    assert "no workload named 'billing'" in output

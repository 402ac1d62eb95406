"""benchmarks/kapitan.py and its kadet component, without Kapitan: the inventory generated for a synthetic repo,
the component's objects against the engine's own render of that repo, and the output comparison."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
ENVIRONMENTS = ["development", "staging", "production"]


def _module(name: str, file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _module("bench_kapitan", "kapitan.py")
component = _module("bench_kapitan_component", "kapitan_component.py")
generate = _module("bench_generate", "generate.py")


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kapitan") / "w3"
    generate.generate(out, 3, 50, generate.DEFAULT_SEED, quiet=True)
    return out / "work"


@pytest.fixture(scope="module")
def twelve(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two teams of six: every definition, an override, workloads with and without a Service, sidecars."""
    out = tmp_path_factory.mktemp("kapitan") / "w12"
    generate.generate(out, 12, 6, generate.DEFAULT_SEED, quiet=True)
    return out / "work"


def _unescaped(value: Any) -> Any:
    """What reclass gives back for `\\${`: the Score placeholder as written."""
    if isinstance(value, str):
        return value.replace("\\${", "${")
    if isinstance(value, dict):
        return {k: _unescaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescaped(v) for v in value]
    return value


def _resolved(files: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The inventory as reclass resolves it: each target's parameters over the platform class's, by target."""
    platform = files["classes/platform.yml"]["parameters"]["platform"]
    targets = {
        target["parameters"]["kapitan"]["vars"]["target"]: {
            **_unescaped(target["parameters"]),
            "platform": platform,
        }
        for rel, target in files.items()
        if rel.startswith("targets/")
    }
    return platform, targets


def _render_all(work: Path, per: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every target's output files, rendered by the component as kadet would (lookups through the inventory)."""
    platform, targets = _resolved(bench.inventory(work, per))

    def lookup(workload: str, env: str) -> Mapping[str, Any]:
        other = targets[bench.TARGET_NAMES[per].replace("{workload}", workload).replace("{env}", env)]
        rule = platform["environments"][env]["namespace"]
        return {
            "namespace": rule.replace("{env}", env).replace("{team}", other["team"]),
            "service": other["score"]["service"],
        }

    return {name: component.render_target(params, lookup) for name, params in targets.items()}


def test_the_inventory_has_the_platform_class_and_one_target_per_workload(three: Path) -> None:
    files = bench.inventory(three)
    scores = sorted(three.glob("workloads/*/*/score.yaml"))
    assert len(scores) == 3
    assert sorted(files) == sorted(
        ["classes/platform.yml"]
        + [f"targets/{path.parent.parent.name}/{path.parent.name}.yml" for path in scores]
    )
    platform = files["classes/platform.yml"]["parameters"]
    assert platform["platform"]["definitions"] == {
        "dns": {env: "dns-subdomain" for env in ENVIRONMENTS},
        "postgres": {
            "development": "postgres-incluster",
            "staging": "postgres-incluster",
            "production": "postgres-managed",
        },
        "redis": {
            "development": "redis-incluster",
            "staging": "redis-incluster",
            "production": "redis-managed",
        },
        "route": {
            "development": "route-httproute",
            "staging": "route-httproute",
            "production": "route-ingress",
        },
        "service-port": {env: "service-port-default" for env in ENVIRONMENTS},
        "volume": {"development": "volume-emptydir", "staging": "volume-pvc", "production": "volume-pvc"},
        "workload": {
            "development": "workload-default",
            "staging": "workload-default",
            "production": "workload-production",
        },
    }
    assert sorted(platform["platform"]["static"]) == ["postgres-managed", "redis-managed"]
    assert platform["platform"]["static"]["redis-managed"]["password"] == {
        "secretKeyRef": {"name": "platform-redis", "key": "password"}
    }
    assert platform["platform"]["environments"]["staging"] == {
        "type": "staging",
        "namespace": "{team}-{env}",
        "labels": {"example.com/environment": "staging"},
        "values": yaml.safe_load((three / "environments/staging.yaml").read_text())["values"],
    }
    assert platform["kapitan"] == {
        "compile": [
            {
                "name": "workload",
                "input_type": "kadet",
                "output_path": ".",
                "output_type": "yaml",
                "input_paths": ["components/workload"],
            }
        ]
    }


def test_a_target_holds_its_score_file_with_placeholders_escaped_for_reclass(three: Path) -> None:
    score_path = sorted(three.glob("workloads/*/*/score.yaml"))[0]
    team, name = score_path.parent.parent.name, score_path.parent.name
    target = bench.inventory(three)[f"targets/{team}/{name}.yml"]
    score = yaml.safe_load(score_path.read_text())
    assert target["classes"] == ["platform"]
    parameters = target["parameters"]
    assert {k: v for k, v in parameters.items() if k != "score"} == {
        "kapitan": {"vars": {"target": name}},
        "name": name,
        "team": team,
        "render": ENVIRONMENTS,
        "target_of": "{workload}",
    }
    main = parameters["score"]["containers"]["main"]
    assert main["variables"]["SERVICE_NAME"] == "\\${metadata.name}"
    assert parameters["score"] != score
    assert _unescaped(parameters["score"]) == score


def test_one_target_per_workload_and_environment_on_request(three: Path) -> None:
    files = bench.inventory(three, "unit")
    targets = [rel for rel in files if rel.startswith("targets/")]
    assert len(targets) == 9
    score_path = sorted(three.glob("workloads/*/*/score.yaml"))[0]
    team, name = score_path.parent.parent.name, score_path.parent.name
    staging = files[f"targets/{team}/{name}--staging.yml"]["parameters"]
    assert (staging["kapitan"], staging["render"], staging["target_of"]) == (
        {"vars": {"target": f"{name}--staging"}},
        ["staging"],
        "{workload}--{env}",
    )


def test_write_project_writes_the_inventory_and_the_component(three: Path, tmp_path: Path) -> None:
    assert bench.write_project(three, tmp_path, "workload") == 3
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    expected = sorted(
        ["components/workload/__init__.py", *(f"inventory/{rel}" for rel in bench.inventory(three))]
    )
    assert written == expected
    for rel, content in bench.inventory(three).items():
        assert yaml.safe_load((tmp_path / "inventory" / rel).read_text()) == content
    assert (tmp_path / "components/workload/__init__.py").read_bytes() == bench.COMPONENT.read_bytes()


def test_reclass_escaping_refuses_text_it_could_not_give_back() -> None:
    assert bench.reclass_escaped({"a": ["x ${b} y", 1]}) == {"a": ["x \\${b} y", 1]}
    with pytest.raises(ValueError, match="already holds"):
        bench.reclass_escaped("\\${metadata.name}")


@pytest.mark.parametrize("per", ["workload", "unit"])
def test_the_component_renders_the_objects_the_engine_renders(twelve: Path, per: str) -> None:
    outputs = _render_all(twelve, per)
    kinds: set[str] = set()
    units = 0
    for name, files in outputs.items():
        workload = name.split("--")[0]
        (folder,) = list(twelve.glob(f"workloads/*/{workload}"))
        for key, objects in files.items():
            env = key.split("/")[0]
            assert key == f"{env}/manifest"
            engine = twelve / "rendered" / env / folder.parent.name / workload / "manifest.yaml"
            expected = [d for d in yaml.safe_load_all(engine.read_text()) if d]
            # Through YAML, as Kapitan writes it: tuples and the like would not survive.
            assert list(yaml.safe_load_all(yaml.safe_dump_all(objects))) == expected, f"{env}/{workload}"
            kinds.update(o["kind"] for o in objects)
            units += 1
    assert units == 36
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "ExternalSecret",
        "HTTPRoute",
        "Ingress",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Service",
        "StatefulSet",
    }


def test_compare_counts_units_with_the_same_objects_and_names_the_first_difference(
    twelve: Path, tmp_path: Path
) -> None:
    for name, files in _render_all(twelve, "workload").items():
        for key, objects in files.items():
            path = tmp_path / "compiled" / name / f"{key}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump_all(objects))
    same = bench.compare(twelve, tmp_path, "workload")
    objects = sum(
        len([d for d in yaml.safe_load_all(p.read_text()) if d])
        for p in twelve.glob("rendered/*/*/*/manifest.yaml")
    )
    assert same == {
        "units": 36,
        "objects": objects,
        "same_objects": 36,
        "same_kinds_and_names": 36,
        "first_difference": None,
    }

    first, second = (path.parent for path in sorted(twelve.glob("workloads/*/*/score.yaml"))[:2])
    changed = tmp_path / "compiled" / first.name / "production" / "manifest.yaml"
    documents = list(yaml.safe_load_all(changed.read_text()))
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    deployment["spec"]["replicas"] = 2
    changed.write_text(yaml.safe_dump_all(documents))
    (tmp_path / "compiled" / second.name / "staging" / "manifest.yaml").unlink()
    result = bench.compare(twelve, tmp_path, "workload")
    assert (result["units"], result["same_objects"], result["same_kinds_and_names"]) == (36, 34, 35)
    assert result["first_difference"].startswith(
        f"production/{first.parent.name}/{first.name} Deployment/{first.name}:\n  engine  "
    )


def test_kapitans_phases_are_read_from_its_log() -> None:
    log = (
        "Rendered inventory (2.86s): discovered 200 targets.\n"
        "Compiled import-gateway (1.22s)\n"
        "Compiled 200 targets in 10.45s\n"
    )
    assert bench.phases(log) == {"inventory_s": 2.86, "targets_s": 10.45}
    assert bench.phases("Compiled import-gateway (1.22s)\n") == {}


def test_the_summary_puts_the_fastest_configuration_first_with_each_rounds_ratio() -> None:
    runs = [
        {"engine_wall_s": 10.0, "engine_cpu_s": 8.0, "default_wall_s": 60.0, "default_cpu_s": 40.0}
        | {"fast_wall_s": 40.0, "fast_cpu_s": 24.0},
        {"engine_wall_s": 20.0, "engine_cpu_s": 10.0, "default_wall_s": 50.0, "default_cpu_s": 50.0}
        | {"fast_wall_s": 30.0, "fast_cpu_s": 30.0},
    ]
    check = {"units": 6, "same_objects": 6}
    result = {
        "kapitan_version": "0.36.3",
        "targets": 2000,
        "configs": ["default", "fast"],
        "runs": runs,
        "compare": {"default": check, "fast": check},
        "median": {key: (runs[0][key] + runs[1][key]) / 2 for key in runs[0]},
    }
    assert bench.summary(result) == (
        "**2.33×** ❌ against Kapitan fast (2,000 targets), median of 2 rounds (each round: 4.00, 1.50×; CPU time "
        "3.00×): engine CLI 15.0 s [10.0–20.0] (CPU 9.0 s); Kapitan 0.36.3 default 55.0 s [50.0–60.0] (CPU 45.0 s; "
        "3.67×, CPU 5.00×; same objects in 6 of 6 units); Kapitan 0.36.3 fast 35.0 s [30.0–40.0] (CPU 27.0 s; "
        "2.33×, CPU 3.00×; same objects in 6 of 6 units)"
    )

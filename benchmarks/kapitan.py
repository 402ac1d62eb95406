"""Issue 12's "vs Kapitan" row: a full render of the synthetic platform repo by `gitops-engine render` and by
Kapitan, compiling the same Kubernetes objects from the same inputs, timed back to back on this machine.

    python benchmarks/kapitan.py --install            # Kapitan into benchmarks/out/kapitan-venv (its own venv)
    python benchmarks/kapitan.py                      # 2,000 workloads: 2,000 targets, 3 environments each
    python benchmarks/kapitan.py --targets unit       # one target per workload×environment (6,000)

Kapitan is never a dependency of gitops-engine: `--install` puts a pinned version into a venv of its own, and
everything else here runs without it (run.py only asks `available()`). The Kapitan project is generated from the
synthetic repo (benchmarks/out/w<N>/work, read only): an inventory class `platform` (environments, which
definition serves each resource type in each environment, the managed services' outputs) and one target per
workload holding its Score content; the kadet component benchmarks/kapitan_component.py turns a target into the
objects the engine renders. After the first compile the output is compared with the engine's committed render,
unit by unit (objects loaded from YAML). See benchmarks/README.md, "Issue 12: vs Kapitan".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
VENV = OUT / "kapitan-venv"
KAPITAN_VERSION = "0.36.3"
COMPONENT = HERE / "kapitan_component.py"
ENVIRONMENTS = ("development", "staging", "production")
TARGET_NAMES = {"workload": "{workload}", "unit": "{workload}--{env}"}
# Kapitan as installed (reclass, PyYAML's pure-Python dumper, spawned workers), and with its optional speed-ups:
# the Rust reclass, rapidyaml output and forked workers. (global flags, compile flags, what it needs installed)
CONFIGS: dict[str, tuple[list[str], list[str], tuple[str, ...]]] = {
    "default": ([], [], ()),
    "fast": (
        ["--mp-method", "fork"],
        ["--inventory-backend", "reclass-rs", "--yaml-use-rapidyaml"],
        ("reclass_rs", "ryml"),
    ),
}


# ---------------------------------------------------------------------------------------------------------------
# Kapitan's own venv


def kapitan_bin(venv: Path = VENV) -> Path:
    return venv / "bin" / "kapitan"


def available(venv: Path = VENV) -> bool:
    """Whether `--install` has been run (run.py measures the row only then)."""
    return kapitan_bin(venv).exists()


def configs_available(venv: Path = VENV) -> list[str]:
    """The CONFIGS whose optional packages the venv holds."""
    site = sorted(venv.glob("lib/python*/site-packages"))
    return [
        name
        for name, (_, _, needs) in CONFIGS.items()
        if available(venv) and all(site and (site[0] / package).is_dir() for package in needs)
    ]


def install(venv: Path = VENV) -> str:
    """Kapitan, pinned, in a venv of its own; returns `kapitan --version`."""
    if not available(venv):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, f"kapitan[reclass-rs,rapidyaml]=={KAPITAN_VERSION}"], check=True)
    return kapitan_version(venv)


def kapitan_version(venv: Path = VENV) -> str:
    proc = subprocess.run([str(kapitan_bin(venv)), "--version"], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


# ---------------------------------------------------------------------------------------------------------------
# The Kapitan inventory of a platform repo


def _load(path: Path) -> Any:
    return yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)


def reclass_escaped(value: Any) -> Any:
    """`value` with every `${` written `\\${`: reclass would take a Score placeholder for one of its references;
    it gives the escaped text back as `${…}`, so the component sees the Score file as written."""
    if isinstance(value, str):
        if "\\${" in value:
            raise ValueError(f"cannot escape {value!r} for reclass: it already holds \\${{")
        return value.replace("${", "\\${")
    if isinstance(value, dict):
        return {k: reclass_escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reclass_escaped(v) for v in value]
    return value


def _chosen_definitions(work: Path, env_types: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """{type: {env: definition id}} (a criterion naming the environment's type beats an empty one, as in the
    engine's matching), and the static definitions' outputs by id."""
    chosen: dict[str, dict[str, str]] = {}
    rank: dict[tuple[str, str], int] = {}
    static: dict[str, Any] = {}
    for path in sorted((work / "definitions").glob("*/*.yaml")):
        definition = _load(path)
        if definition.get("driver") == "static":
            static[definition["id"]] = definition["outputs"]
        criteria = definition.get("criteria") or [{}]
        if any(set(c) - {"env_type"} for c in criteria):
            raise SystemExit(f"{path}: only env_type criteria are translated for Kapitan")
        for env, env_type in env_types.items():
            matched = [int("env_type" in c) for c in criteria if c.get("env_type") in (None, env_type)]
            key = (definition["type"], env)
            if matched and max(matched) > rank.get(key, -1):
                chosen.setdefault(definition["type"], {})[env] = definition["id"]
                rank[key] = max(matched)
    return chosen, static


def platform_class(work: Path) -> dict[str, Any]:
    """inventory/classes/platform.yml: what every target shares, and how Kapitan compiles it."""
    environments: dict[str, Any] = {}
    for env in _load(work / "platform.yaml")["environments"]:
        data = _load(work / "environments" / f"{env}.yaml")
        environments[env] = {
            "type": data["type"],
            "namespace": data.get("namespace", "{team}"),
            "labels": data.get("labels") or {},
            "values": data.get("values") or {},
        }
    chosen, static = _chosen_definitions(work, {env: e["type"] for env, e in environments.items()})
    compile_ = [
        {
            "name": "workload",
            "input_type": "kadet",
            "output_path": ".",
            "output_type": "yaml",
            "input_paths": ["components/workload"],
        }
    ]
    return {
        "parameters": {
            "platform": {"environments": environments, "definitions": chosen, "static": static},
            "kapitan": {"compile": compile_},
        }
    }


@dataclass(frozen=True)
class Workload:
    team: str
    name: str
    folder: Path


def workloads(work: Path) -> list[Workload]:
    return [
        Workload(score.parent.parent.name, score.parent.name, score.parent)
        for score in sorted((work / "workloads").glob("*/*/score.yaml"))
    ]


def target_files(workload: Workload, per: str) -> dict[str, dict[str, Any]]:
    """inventory/targets/<team>/<target>.yml of one workload: one target, or one per environment (`per`)."""
    score = reclass_escaped(_load(workload.folder / "score.yaml"))
    overrides = {
        env: reclass_escaped(_load(path))
        for env in ENVIRONMENTS
        if (path := workload.folder / f"overrides.{env}.yaml").is_file()
    }
    pattern = TARGET_NAMES[per]
    groups = [list(ENVIRONMENTS)] if per == "workload" else [[env] for env in ENVIRONMENTS]
    files: dict[str, dict[str, Any]] = {}
    for envs in groups:
        name = pattern.replace("{workload}", workload.name).replace("{env}", envs[0])
        parameters = {
            "kapitan": {"vars": {"target": name}},
            "name": workload.name,
            "team": workload.team,
            "render": envs,
            "target_of": pattern,
            "score": score,
            **({"overrides": overrides} if overrides else {}),
        }
        files[f"targets/{workload.team}/{name}.yml"] = {"classes": ["platform"], "parameters": parameters}
    return files


def inventory(work: Path, per: str = "workload") -> dict[str, dict[str, Any]]:
    """Every inventory file (path under inventory/ -> content) for the platform repo at `work`."""
    files = {"classes/platform.yml": platform_class(work)}
    for workload in workloads(work):
        files.update(target_files(workload, per))
    return files


def write_project(work: Path, project: Path, per: str) -> int:
    """A Kapitan project for `work`: its inventory and the kadet component. Returns the number of targets."""
    files = inventory(work, per)
    for rel, content in files.items():
        path = project / "inventory" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.dump(content, Dumper=yaml.CSafeDumper, sort_keys=False))
    component = project / "components" / "workload" / "__init__.py"
    component.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(COMPONENT, component)
    return len(files) - 1


# ---------------------------------------------------------------------------------------------------------------
# Timing


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float  # user + system of the command and every process it waited for
    output: str = ""


# What `kapitan compile` says of its two phases: the inventory (reclass) and compiling the targets.
_PHASES = {
    "inventory_s": re.compile(r"Rendered inventory \(([0-9.]+)s\)"),
    "targets_s": re.compile(r"Compiled [0-9]+ targets in ([0-9.]+)s"),
}


def phases(output: str) -> dict[str, float]:
    """Kapitan's own timing of its phases, from its log (absent ones left out)."""
    return {key: float(m.group(1)) for key, pattern in _PHASES.items() if (m := pattern.search(output))}


def timed_command(command: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[:3])} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu, proc.stdout + proc.stderr)


def engine_command() -> list[str]:
    cli = Path(sys.executable).with_name("gitops-engine")
    return [str(cli)] if cli.exists() else [sys.executable, "-m", "gitops_engine"]


def compile_bytecode(project: Path, venv: Path = VENV) -> None:
    """Both sides' bytecode written before timing, as `pip install` leaves an installed package: under
    PYTHONDONTWRITEBYTECODE=1 (set on this machine) the engine's editable install would compile every module at
    every start, and Kapitan would compile the kadet component again for every target (~5 ms each)."""
    import compileall

    import gitops_engine

    compileall.compile_dir(Path(gitops_engine.__file__).parent, quiet=1)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "compileall", "-q", str(project / "components")], check=True)


def time_engine(work: Path, scratch: Path) -> Timing:
    """`gitops-engine render` on a fresh copy of the sources (no rendered/), as run.py's CLI figure."""
    fresh = scratch / "engine"
    shutil.copytree(work, fresh, ignore=shutil.ignore_patterns("rendered", ".git"))
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], cwd=fresh, check=True)
    try:
        return timed_command([*engine_command(), "render", "--repo", str(fresh)], fresh)
    finally:
        shutil.rmtree(fresh)


def time_kapitan(project: Path, parallelism: int | None, config: str, venv: Path = VENV) -> Timing:
    """`kapitan compile` of every target (compiled/ removed first, so nothing is reused)."""
    shutil.rmtree(project / "compiled", ignore_errors=True)
    global_flags, compile_flags, _ = CONFIGS[config]
    command = [str(kapitan_bin(venv)), *global_flags, "compile", *compile_flags]
    if parallelism:
        command += ["--parallelism", str(parallelism)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return timed_command(command, project, env)


# ---------------------------------------------------------------------------------------------------------------
# Same objects?


def _documents(path: Path) -> list[Any]:
    if not path.is_file():
        return []
    return [d for d in yaml.load_all(path.read_bytes(), Loader=yaml.CSafeLoader) if d]


def _key(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def compiled_units(work: Path, project: Path, per: str) -> Iterator[tuple[str, Path, Path]]:
    """(unit, the engine's manifest.yaml, Kapitan's manifest.yml) for every workload×environment."""
    for workload in workloads(work):
        for env in ENVIRONMENTS:
            target = TARGET_NAMES[per].replace("{workload}", workload.name).replace("{env}", env)
            ours = work / "rendered" / env / workload.team / workload.name / "manifest.yaml"
            yield (
                f"{env}/{workload.team}/{workload.name}",
                ours,
                project / "compiled" / target / env / "manifest.yaml",
            )


def compare(work: Path, project: Path, per: str) -> dict[str, Any]:
    """Unit by unit: the same objects (after YAML load), the same kinds and names, and the first difference."""
    units = same_objects = same_keys = objects = 0
    first: str | None = None
    for unit, ours_path, theirs_path in compiled_units(work, project, per):
        ours, theirs = _documents(ours_path), _documents(theirs_path)
        units += 1
        objects += len(ours)
        same_keys += [_key(o) for o in ours] == [_key(o) for o in theirs]
        if ours == theirs:
            same_objects += 1
        elif first is None:
            first = _difference(unit, ours, theirs)
    return {
        "units": units,
        "objects": objects,
        "same_objects": same_objects,
        "same_kinds_and_names": same_keys,
        "first_difference": first,
    }


def _difference(unit: str, ours: list[Any], theirs: list[Any]) -> str:
    keys_ours, keys_theirs = [_key(o) for o in ours], [_key(o) for o in theirs]
    if keys_ours != keys_theirs:
        return f"{unit}: engine {keys_ours}, Kapitan {keys_theirs}"
    for a, b in zip(ours, theirs, strict=True):
        if a != b:
            return f"{unit} {_key(a)}:\n  engine  {json.dumps(a, sort_keys=True)}\n  Kapitan {json.dumps(b, sort_keys=True)}"
    return unit


# ---------------------------------------------------------------------------------------------------------------
# The measurement


def measure(
    repo: Path,
    repeats: int = 3,
    parallelism: int | None = None,
    per: str = "workload",
    configs: list[str] | None = None,
) -> dict[str, Any]:
    """Engine render, then `kapitan compile` in each configuration, `repeats` times back to back; each
    configuration's output compared with the engine's render after its first compile."""
    work = repo / "work"
    configs = configs or configs_available()
    runs: list[dict[str, float]] = []
    comparison: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=OUT, prefix="kapitan-") as scratch_dir:
        scratch = Path(scratch_dir)
        project = scratch / "project"
        targets = write_project(work, project, per)
        compile_bytecode(project)
        for index in range(repeats):
            print(f"kapitan: round {index + 1} of {repeats} …", file=sys.stderr, flush=True)
            engine = time_engine(work, scratch)
            run = {"engine_wall_s": engine.wall_s, "engine_cpu_s": engine.cpu_s}
            for config in configs:
                kapitan = time_kapitan(project, parallelism, config)
                run[f"{config}_wall_s"], run[f"{config}_cpu_s"] = kapitan.wall_s, kapitan.cpu_s
                run.update({f"{config}_{key}": value for key, value in phases(kapitan.output).items()})
                if index == 0:
                    comparison[config] = compare(work, project, per)
            runs.append(run)
    return {
        "kapitan_version": kapitan_version(),
        "targets": targets,
        "per": per,
        "parallelism": parallelism or os.cpu_count(),
        "configs": configs,
        "runs": runs,
        "compare": comparison,
        "median": {
            key: statistics.median(r[key] for r in runs) for key in runs[0] if all(key in r for r in runs)
        },
    }


def _spread(result: Mapping[str, Any], key: str) -> str:
    values = [r[key] for r in result["runs"]]
    return f"{result['median'][key]:.1f} s [{min(values):.1f}–{max(values):.1f}]"


def summary(result: Mapping[str, Any]) -> str:
    """The figures as run.py's goals table and this script print them: the ratio to the fastest configuration (by
    CPU time, which the load of a shared machine disturbs less than wall time) first (medians, each round's own
    ratio beside, and the ratio in CPU time), then every side's median with the [min–max] of the rounds. The goal
    counts as met only when both the wall and the CPU ratio reach 3."""
    median = result["median"]
    fastest = min(result["configs"], key=lambda c: median[f"{c}_cpu_s"])
    ratio = median[f"{fastest}_wall_s"] / median["engine_wall_s"]
    rounds = ", ".join(f"{r[f'{fastest}_wall_s'] / r['engine_wall_s']:.2f}" for r in result["runs"])
    cpu_ratio = median[f"{fastest}_cpu_s"] / median["engine_cpu_s"]
    parts = [f"engine CLI {_spread(result, 'engine_wall_s')} (CPU {median['engine_cpu_s']:.1f} s)"]
    for config in result["configs"]:
        check = result["compare"][config]
        parts.append(
            f"Kapitan {result['kapitan_version']} {config} {_spread(result, f'{config}_wall_s')} (CPU "
            f"{median[f'{config}_cpu_s']:.1f} s; {median[f'{config}_wall_s'] / median['engine_wall_s']:.2f}×, "
            f"CPU {median[f'{config}_cpu_s'] / median['engine_cpu_s']:.2f}×; same objects in "
            f"{check['same_objects']:,} of {check['units']:,} units)"
        )
    return (
        f"**{ratio:.2f}×** {'✅' if min(ratio, cpu_ratio) >= 3 else '❌'} against Kapitan {fastest} ({result['targets']:,} targets), "
        f"median of {len(result['runs'])} rounds (each round: {rounds}×; CPU time {cpu_ratio:.2f}×): "
        + "; ".join(parts)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--install", action="store_true", help=f"install Kapitan {KAPITAN_VERSION} into {VENV}"
    )
    parser.add_argument(
        "--size", type=int, default=2000, help="workloads (benchmarks/out/w<N>, default 2000)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="back-to-back rounds (default 3; medians shown)"
    )
    parser.add_argument(
        "--parallelism",
        type=int,
        default=None,
        help="kapitan compile --parallelism (default: Kapitan's, one a CPU)",
    )
    parser.add_argument(
        "--targets",
        choices=sorted(TARGET_NAMES),
        default="workload",
        help="one Kapitan target per workload (default; 3 environments each) or per workload×environment",
    )
    parser.add_argument(
        "--configs",
        type=lambda text: [c for c in text.split(",") if c],
        default=None,
        help=f"Kapitan configurations to time ({', '.join(CONFIGS)}; default: every one installed)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    if args.install:
        print(install(), file=sys.stderr)
    if not available():
        raise SystemExit(f"Kapitan is not installed: run `python {Path(__file__).name} --install` first")
    repo = OUT / f"w{args.size}"
    if not (repo / "work" / "rendered").is_dir():
        raise SystemExit(
            f"{repo} does not exist: run `python benchmarks/generate.py --workloads {args.size}` first"
        )
    result = measure(repo, args.repeats, args.parallelism, args.targets, args.configs)
    for index, run in enumerate(result["runs"], 1):
        print(
            f"round {index}: "
            + "; ".join(
                f"{who} {run[f'{who}_wall_s']:.1f} s wall / {run[f'{who}_cpu_s']:.1f} s CPU"
                + (
                    f" (inventory {run[f'{who}_inventory_s']:.1f} s, targets {run[f'{who}_targets_s']:.1f} s)"
                    if f"{who}_targets_s" in run
                    else ""
                )
                for who in ("engine", *result["configs"])
            )
        )
    for config, check in result["compare"].items():
        print(
            f"Kapitan {config} output: {check['units']:,} units, {check['objects']:,} objects; same objects in "
            f"{check['same_objects']:,} units, same kinds and names in {check['same_kinds_and_names']:,}"
        )
        if check["first_difference"]:
            print(f"  first difference: {check['first_difference']}")
    print(f"Kapitan / engine, wall: {summary(result)}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

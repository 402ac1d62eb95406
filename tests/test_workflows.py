"""The GitHub Actions workflows: ours (.github/workflows/) and the ones the platform-repo template ships.

actionlint checks syntax, expressions, contexts and action inputs; the tests below check the rules it does not
know: actions pinned to commit SHAs, minimal permissions, concurrency that never cancels a running processor,
and calls of local reusable workflows (which actionlint's WebAssembly build cannot open).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitops_engine import yamlio

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tests" / "tools"
WORKFLOW_DIRS = (ROOT / ".github" / "workflows", ROOT / "platform-repo-template" / ".github" / "workflows")
INSTALL_STEP = "bash tests/tools/install-actionlint.sh"
LINTER = TOOLS / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm"

USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
PINNED = re.compile(r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"^\s+#\s*(?P<version>v\d+(?:\.\d+){0,2})\s*$")
REUSABLE = "gitops-engine.yml"
PROCESSOR_MODES = {"process", "reconcile"}
ACTION = ROOT / "action.yml"
# This project's own action, as platform repos use it: pinned by the engine's release tag. A commit SHA cannot
# be written into the template beforehand (the release's commit would have to contain its own hash).
OWN_ACTION = re.compile(r"^gitops-engine/gitops-engine@v(?P<version>\d+\.\d+\.\d+)$")


def _workflow_files() -> list[Path]:
    return sorted(
        p for d in WORKFLOW_DIRS if d.is_dir() for p in d.iterdir() if p.suffix in {".yml", ".yaml"}
    )


def _load(path: Path) -> dict[str, Any]:
    data = yamlio.load_document(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))).data
    assert isinstance(data, dict), f"{path}: a workflow is a mapping"
    return data


def _triggers(workflow: dict[str, Any]) -> set[str]:
    on = workflow["on"]
    return {on} if isinstance(on, str) else set(on)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _all_uses(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_all_uses(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_all_uses(item))
    return found


WORKFLOWS = _workflow_files()
IDS = [_rel(p) for p in WORKFLOWS]


def test_the_expected_workflows_exist() -> None:
    names = {_rel(p) for p in WORKFLOWS}
    assert {
        ".github/workflows/ci.yml",
        ".github/workflows/action.yml",
        ".github/workflows/release.yml",
        "platform-repo-template/.github/workflows/gitops-engine.yml",
        "platform-repo-template/.github/workflows/process.yml",
        "platform-repo-template/.github/workflows/pull-request.yml",
        "platform-repo-template/.github/workflows/reconcile.yml",
    } <= names


def test_actionlint_finds_nothing() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"node is not installed: actionlint runs on Node.js >= 20; install it, then run `{INSTALL_STEP}`"
        )
    if not LINTER.is_file():
        pytest.fail(f"actionlint is not installed: run `{INSTALL_STEP}`")
    result = subprocess.run(
        [node, str(TOOLS / "actionlint.mjs"), *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode == 3:
        pytest.fail(f"actionlint is not installed: run `{INSTALL_STEP}`\n{result.stderr}")
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"
    assert f"{len(WORKFLOWS)} workflow file(s), no problems" in result.stdout


def test_actionlint_reports_problems(tmp_path: Path) -> None:
    """The linter really runs: a broken workflow fails, with file, line and the problem."""
    node = shutil.which("node")
    if node is None or not LINTER.is_file():
        pytest.fail(f"actionlint is not installed: run `{INSTALL_STEP}`")
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "permissions: {}\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n"
        "        with:\n"
        "          fetch-deptj: 0\n"
        "      - run: echo ${{ github.nope }}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [node, str(TOOLS / "actionlint.mjs"), str(broken)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith('broken.yml:9:11: input "fetch-deptj" is not defined') for line in lines), (
        lines
    )
    assert any(line.startswith('broken.yml:10:23: property "nope" is not defined') for line in lines), lines


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_actions_are_pinned_to_commit_shas(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = USES_LINE.match(line)
        if not match:
            continue
        seen += 1
        ref, rest = match["ref"], match["rest"]
        where = f"{_rel(path)}:{number}"
        if ref.startswith("./"):
            assert not rest.strip(), f"{where}: nothing may follow a local `uses:`"
            continue
        assert not ref.startswith("docker://"), f"{where}: use an action, not a docker image"
        own = OWN_ACTION.match(ref)
        if own:
            assert own["version"] == _version(), f"{where}: pin the engine's action to v{_version()}"
            continue
        assert PINNED.match(ref), f"{where}: pin {ref} to a full 40-character commit SHA"
        assert VERSION_COMMENT.match(rest), f"{where}: follow the SHA with its release as `# vX.Y.Z`"
    # Every `uses:` the YAML holds was checked above (none hides in flow style or a quoted string).
    assert seen == len(_all_uses(_load(path))), f"{_rel(path)}: write each `uses:` on its own line"


def test_each_action_is_pinned_to_one_release_everywhere() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOWS:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = USES_LINE.match(line)
            pinned = PINNED.match(match["ref"]) if match else None
            version = VERSION_COMMENT.match(match["rest"]) if match else None
            if match and pinned and version:
                pins.setdefault(pinned["action"], set()).add((pinned["sha"], version["version"]))
    assert pins, "no pinned actions found"
    mixed = {action: sorted(refs) for action, refs in pins.items() if len(refs) > 1}
    assert not mixed, f"update every workflow together; these actions are pinned differently: {mixed}"


def _callers_of(name: str) -> list[tuple[Path, str, dict[str, Any]]]:
    calls = []
    for path in WORKFLOWS:
        for job_id, job in _load(path).get("jobs", {}).items():
            if job.get("uses") == f"./.github/workflows/{name}":
                calls.append((path, job_id, job))
    return calls


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_permissions_are_explicit_and_minimal(path: Path) -> None:
    workflow = _load(path)
    jobs: dict[str, dict[str, Any]] = workflow["jobs"]
    grants = [workflow.get("permissions")] + [job.get("permissions") for job in jobs.values()]
    assert all(g != "write-all" for g in grants), f"{_rel(path)}: never grant write-all"
    assert all(g != "read-all" for g in grants), f"{_rel(path)}: name the scopes a job reads"
    if _triggers(workflow) == {"workflow_call"}:
        # A reusable workflow gets its permissions from each calling job, which must set them.
        callers = _callers_of(path.name)
        assert callers, f"{_rel(path)}: a reusable workflow nobody calls"
        for caller, job_id, job in callers:
            assert "permissions" in job, (
                f"{_rel(caller)}: job {job_id} calls {path.name}; set its permissions"
            )
        return
    if "permissions" in workflow:
        return
    missing = [job_id for job_id, job in jobs.items() if "permissions" not in job]
    assert not missing, f"{_rel(path)}: set top-level `permissions`, or `permissions` on jobs {missing}"


def _modes(workflow: dict[str, Any]) -> set[str]:
    return {
        str(job.get("with", {}).get("mode"))
        for job in workflow["jobs"].values()
        if str(job.get("uses", "")).endswith(f"/{REUSABLE}")
    }


def _processor_workflows() -> list[Path]:
    return [
        p
        for p in WORKFLOWS
        if _modes(_load(p)) & PROCESSOR_MODES or "gitops-engine process" in p.read_text(encoding="utf-8")
    ]


def test_processors_share_one_group_and_are_never_cancelled() -> None:
    processors = _processor_workflows()
    names = {p.name for p in processors}
    assert {"process.yml", "reconcile.yml"} <= names, names
    groups = set()
    for path in processors:
        workflow = _load(path)
        if _triggers(workflow) == {"workflow_call"}:
            continue  # the callers hold the concurrency group
        concurrency = workflow.get("concurrency")
        assert isinstance(concurrency, dict), f"{_rel(path)}: set a top-level `concurrency:` group"
        assert concurrency.get("cancel-in-progress") is False, (
            f"{_rel(path)}: a running processor may be half-way through a push: set `cancel-in-progress: false`"
        )
        assert "${{" not in str(concurrency["group"]), (
            f"{_rel(path)}: the processor group must be one fixed name"
        )
        groups.add(concurrency["group"])
    assert len(groups) == 1, f"process and reconcile must share one concurrency group, found {sorted(groups)}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_triggered_workflow_has_a_concurrency_group(path: Path) -> None:
    workflow = _load(path)
    if _triggers(workflow) == {"workflow_call"}:
        return
    concurrency = workflow.get("concurrency")
    has_group = (isinstance(concurrency, dict) and concurrency.get("group")) or isinstance(concurrency, str)
    assert has_group, f"{_rel(path)}: set a `concurrency:` group"


def test_reusable_workflow_calls_match_its_inputs_and_secrets() -> None:
    calls = 0
    for path in WORKFLOWS:
        for job_id, job in _load(path)["jobs"].items():
            uses = job.get("uses", "")
            if not uses.startswith("./"):
                continue
            calls += 1
            where = f"{_rel(path)}: job {job_id}"
            # Local reusable workflows resolve from the root of the repository that runs them.
            target = path.parent.parent.parent / uses
            assert target.is_file(), f"{where}: {uses} does not exist"
            call = _load(target)["on"]["workflow_call"]
            inputs: dict[str, Any] = call.get("inputs") or {}
            secrets: dict[str, Any] = call.get("secrets") or {}
            given = job.get("with") or {}
            assert set(given) <= set(inputs), f"{where}: unknown inputs {sorted(set(given) - set(inputs))}"
            required = {name for name, spec in inputs.items() if spec.get("required")}
            assert required <= set(given), f"{where}: missing required inputs {sorted(required - set(given))}"
            passed = job.get("secrets") or {}
            if passed != "inherit":
                assert set(passed) <= set(secrets), (
                    f"{where}: unknown secrets {sorted(set(passed) - set(secrets))}"
                )
            mode = given.get("mode")
            if mode is not None:
                assert mode in {"process", "validate", "reconcile"}, f"{where}: unknown mode {mode!r}"
    assert calls >= 3, "process.yml, pull-request.yml and reconcile.yml call the reusable workflow"


def _version() -> str:
    from gitops_engine import __version__

    return __version__


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def test_template_installs_the_engine_it_ships_with() -> None:
    """`gitops-engine init` copies the template: its workflows must install this very version, through the action."""
    reusable = _load(ROOT / "platform-repo-template" / ".github" / "workflows" / REUSABLE)
    engine = [step for _, step in _steps(reusable) if OWN_ACTION.match(str(step.get("uses", "")))]
    assert len(engine) == 1, f"{REUSABLE}: install the engine with gitops-engine/gitops-engine@v{_version()}"
    assert engine[0]["uses"] == f"gitops-engine/gitops-engine@v{_version()}"
    assert engine[0]["id"] == "install"  # later steps' conditions read steps.install.outcome
    text = (ROOT / "platform-repo-template" / ".github" / "workflows" / REUSABLE).read_text(encoding="utf-8")
    assert "pip install" not in text, f"{REUSABLE}: the action installs the engine; pip has no such release"


def _action_inputs() -> dict[str, dict[str, Any]]:
    inputs: dict[str, dict[str, Any]] = _load(ACTION)["inputs"]
    return inputs


def test_workflows_give_the_action_only_the_inputs_it_declares() -> None:
    """actionlint's WebAssembly build cannot open action.yml: the calls of the action are checked here, both
    `uses: ./` in this repository and the template's pinned release."""
    inputs = _action_inputs()
    required = {name for name, spec in inputs.items() if spec.get("required")}
    calls = []
    for path in WORKFLOWS:
        for job_id, step in _steps(_load(path)):
            uses = str(step.get("uses", ""))
            if uses == "./" or OWN_ACTION.match(uses):
                calls.append(uses)
                given = set(step.get("with") or {})
                where = f"{_rel(path)}: job {job_id}, step {step.get('name', uses)}"
                assert given <= set(inputs), f"{where}: unknown inputs {sorted(given - set(inputs))}"
                assert required <= given, f"{where}: missing required inputs {sorted(required - given)}"
    assert "./" in calls and any(OWN_ACTION.match(c) for c in calls), calls


def test_template_workflow_and_action_agree_on_inputs() -> None:
    """The reusable workflow's own inputs that the action also has mean the same: same name, same default, and
    the workflow hands them to the action."""
    inputs = _action_inputs()
    reusable = _load(ROOT / "platform-repo-template" / ".github" / "workflows" / REUSABLE)
    declared = reusable["on"]["workflow_call"]["inputs"]
    (step,) = [step for _, step in _steps(reusable) if OWN_ACTION.match(str(step.get("uses", "")))]
    shared = set(declared) & set(inputs)
    assert shared == {"python-version"}, shared
    for name in shared:
        assert str(declared[name]["default"]) == str(inputs[name]["default"]), name
        assert step["with"][name] == f"${{{{ inputs.{name} }}}}", name


def test_action_outputs_are_the_step_outputs_the_engine_writes() -> None:
    import inspect

    from gitops_engine.commands import process

    outputs: dict[str, dict[str, Any]] = _load(ACTION)["outputs"]
    written = set(re.findall(r'^\s+"([a-z-]+)": ', inspect.getsource(process.process), re.M))
    assert written == {"committed", "opened", "updated", "closed", "failed"}
    assert set(outputs) == written
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}", name
        assert spec["description"]


def test_action_steps_pin_actions_and_keep_expressions_out_of_scripts() -> None:
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    text = ACTION.read_text(encoding="utf-8")
    uses = [m["ref"] for m in map(USES_LINE.match, text.splitlines()) if m]
    assert uses and all(PINNED.match(ref) for ref in uses), uses
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash", step.get("name")
            assert "${{" not in step["run"], (
                f"{step.get('name')}: pass inputs through env:, not into the script"
            )


def test_actionlint_finds_nothing_in_the_action_steps(tmp_path: Path) -> None:
    """actionlint lints workflows, not action metadata: the composite action's steps are linted as the steps of a
    workflow whose inputs are the action's (line numbers differ; messages name the step)."""
    node = shutil.which("node")
    if node is None or not LINTER.is_file():
        pytest.fail(f"actionlint is not installed: run `{INSTALL_STEP}`")
    action = _load(ACTION)
    workflow = {
        "on": {
            "workflow_dispatch": {
                "inputs": {
                    name: {"type": "string", "default": spec["default"]}
                    for name, spec in action["inputs"].items()
                }
            }
        },
        "permissions": {},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    path = tmp_path / "action-as-workflow.yml"

    def lint(data: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        path.write_text(yamlio.dump(data), encoding="utf-8")
        return subprocess.run(
            [node, str(TOOLS / "actionlint.mjs"), str(path)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    result = lint(workflow)
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"
    # It can fail: a step reading an output no step sets.
    workflow["jobs"]["action"]["steps"][-1]["env"]["VENV"] = "${{ steps.nope.outputs.venv }}"
    result = lint(workflow)
    assert result.returncode == 1 and "nope" in result.stdout, result.stdout + result.stderr


def test_process_runs_on_the_sources_not_on_its_own_output() -> None:
    """The engine's own commits touch only rendered/: they must not start the processor again."""
    push = _load(ROOT / "platform-repo-template" / ".github" / "workflows" / "process.yml")["on"]["push"]
    assert push["branches"] == ["main"]
    assert set(push["paths"]) == {"workloads/**", "definitions/**", "environments/**", "platform.yaml"}
    assert not any(p.startswith("rendered") for p in push["paths"])

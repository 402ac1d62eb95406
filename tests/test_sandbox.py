"""The sandbox under attack (issue 9, items 4, 5 and 7): templates that would run forever or build gigabytes, alias
bombs in what a template renders, and data nested hundreds deep. Each one is a clear finding at the definition's
(or the input's) file:line, exit 1, and the other units still render.

The hostile renders run in a child process with an address-space cap, so that a regression fails the test (a
MemoryError traceback, exit 1 without the finding) instead of taking the machine down; a generous timeout only
guards against a hang. The child's peak memory is asserted (the issue's bar: under 500 MB).
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.golden import changed_paths, snapshot_tree
from testing.hostile import alias_bomb
from testing.repos import commit_all, write_files

from gitops_engine.yamlio import YamlSyntaxError, load_all

PG = "definitions/postgres/postgres-incluster.yaml"
PG_UNITS = (
    "identity/accounts-api",
    "payments/checkout-api",
)  # the units whose postgres PG provides (dev, staging)
OTHER = "rendered/development/catalog/product-api/manifest.yaml"
GUARD_BYTES = 2 * 1024**3
OUTPUT_LIMIT = "(platform.yaml limits.templateOutputChars)"
STEPS = (
    "over its budget: the template took more than 20000 steps (loop iterations, calls and filters): simplify it, "
    "or raise platform.yaml limits.templateSteps"
)


def _inject_manifests(repo: Path, line: str) -> None:
    """`line` becomes the first line of PG's manifests template: line 26 of the file."""
    text = (repo / PG).read_text()
    marker = "  manifests: |\n"
    assert text.count(marker) == 1
    write_files(repo, {PG: text.replace(marker, f"{marker}    {line}\n")})


def _render_guarded(repo: Path, *args: str) -> tuple[int, str, int]:
    """`gitops-engine render --keep-going` in a child process: (exit code, output, peak memory of the child in MB)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (GUARD_BYTES, GUARD_BYTES))

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, "-m", "gitops_engine", "render", "--keep-going", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=300,
        check=False,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return proc.returncode, proc.stdout + proc.stderr, max(peak, before) // 1024


def _findings_for_pg_units(line: int, message: str) -> list[str]:
    return [f"{PG}:{line}:1: template.manifests for {unit}: {message}" for unit in PG_UNITS]


HOSTILE_TEMPLATES = {
    "nested-range-loops": (
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        STEPS,
    ),
    "exponential-macro": (
        "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(40) }}",
        STEPS,
    ),
    "center-filter": (
        "# {{ 'a' | center(2000000000) }}",
        f"over its budget: the center filter would build a value of more than 1000000 characters {OUTPUT_LIMIT}",
    ),
    "format-filter": (
        "# {{ '%2000000000d' | format(1) }}",
        f"over its budget: the format filter would build a value of more than 1000000 characters {OUTPUT_LIMIT}",
    ),
    "str-ljust": (
        "# {{ 'a'.ljust(10**10) }}",
        f"over its budget: str.ljust would build a value of more than 1000000 characters {OUTPUT_LIMIT}",
    ),
    "percent-star-width": (
        "# {{ '%*d' % (2000000000, 1) }}",
        f"over its budget: % formatting would build a value of more than 1000000 characters {OUTPUT_LIMIT}",
    ),
    "str-format-nested-width": (
        "# {{ '{:{w}}'.format(1, w=2000000000) }}",
        f"over its budget: str.format would build a value of more than 1000000 characters {OUTPUT_LIMIT}",
    ),
    "concat-doubling": (
        "{% set ns = namespace(s='x' * 900000) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        f"over its budget: joining text would build a value of more than 1000000 characters {OUTPUT_LIMIT}",
    ),
    "aliased-list-written-out": (
        "{% set a = 'x' * 900000 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}{% set c = [b, b, b, b, b, b, b] %}"
        "# {{ c }}",
        "over its budget: writing out this value would build a value of more than 1000000 characters "
        + OUTPUT_LIMIT,
    ),
    "aliased-list-to-json": (
        "{% set a = 'x' * 900000 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}# {{ b | tojson }}",
        f"over its budget: the tojson filter would build a value of more than 1000000 characters {OUTPUT_LIMIT}",
    ),
    "append-in-a-loop": (
        "{% set l = [] %}{% for i in range(10000) %}{% set _ = l.append('x' * 900000) %}{% endfor %}",
        "over its budget: the template built more than 16000000 characters of values in all "
        "(16 x platform.yaml limits.templateOutputChars)",
    ),
    "map-center-list": (
        "# {{ range(100000) | map('center', 900000) | list | length }}",
        "over its budget: the template built more than 16000000 characters of values in all "
        "(16 x platform.yaml limits.templateOutputChars)",
    ),
    "output-size": (
        "{% for i in range(5000) %}{{ 'x' * 900 }}{% endfor %}",
        "over its budget: the template's output is over 1000000 characters (platform.yaml "
        "limits.templateOutputChars)",
    ),
    "big-integer-power": (
        "# {{ (10**64)**64 }}",
        "over its budget: the power would be an integer of more than 4096 bits",
    ),
    "endless-recursive-loop": (
        "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
        "over its budget: recursion too deep (a macro or recursive loop that never ends?)",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TEMPLATES))
def test_a_template_over_its_budget_fails_its_units_only(template_repo: Path, case: str) -> None:
    line, message = HOSTILE_TEMPLATES[case]
    _inject_manifests(template_repo, line)
    (template_repo / OTHER).unlink()  # must come back: the other units still render
    commit_all(template_repo, f"hostile template: {case}")
    before = snapshot_tree(template_repo)

    code, output, peak_mb = _render_guarded(template_repo)

    assert code == 1, output
    assert "Traceback" not in output
    # Output is counted as it streams out, past the template's own lines: that finding is at `manifests:`.
    line_number = 25 if case == "output-size" else 26
    assert [ln for ln in output.splitlines() if ln.startswith(PG)] == _findings_for_pg_units(
        line_number, message
    )
    after = snapshot_tree(template_repo)
    assert changed_paths(before, after) == [OTHER]
    assert peak_mb < 500, peak_mb


def test_the_budget_is_set_in_platform_yaml(template_repo: Path) -> None:
    platform = (template_repo / "platform.yaml").read_text()
    _inject_manifests(
        template_repo, "# {{ 'a' | center(1200000) | length }}{% for i in range(50) %}{% endfor %}"
    )
    commit_all(template_repo)

    code, output = run_cli(["validate"], template_repo)  # the defaults: 20000 steps, 1000000 characters

    assert code == 1
    too_big = f"over its budget: the center filter would build a value of more than 1000000 characters {OUTPUT_LIMIT}"
    assert [ln for ln in output.splitlines() if ln.startswith(PG)] == _findings_for_pg_units(26, too_big)

    raised = platform.replace("limits:\n", "limits:\n  templateOutputChars: 1500000\n  templateSteps: 40\n")
    write_files(template_repo, {"platform.yaml": raised})
    commit_all(template_repo)
    code, output = run_cli(["validate"], template_repo)
    assert code == 1
    steps = STEPS.replace("20000", "40")
    assert [ln for ln in output.splitlines() if ln.startswith(PG)] == _findings_for_pg_units(26, steps)

    write_files(template_repo, {"platform.yaml": raised.replace("templateSteps: 40", "templateSteps: 60")})
    commit_all(template_repo)
    code, output = run_cli(["validate"], template_repo)
    assert (code, output) == (0, "ok: 9 workloads in 3 environments are valid\n")


def test_platform_yaml_refuses_a_budget_that_is_not_a_number(template_repo: Path) -> None:
    platform = (template_repo / "platform.yaml").read_text()
    write_files(
        template_repo, {"platform.yaml": platform.replace("limits:\n", "limits:\n  templateSteps: lots\n")}
    )
    commit_all(template_repo)

    code, output = run_cli(["validate"], template_repo)

    assert code == 1
    assert output.startswith("platform.yaml:19:18: ")
    assert "lots" in output.splitlines()[0]


# ---------------------------------------------------------------------------------------------------------------
# The budget in process: what counts, and what does not


# ---------------------------------------------------------------------------------------------------------------
# Item 5: an alias bomb in what a template renders

BOMB = "- apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: bomb}\n      data:\n" + alias_bomb(8)


def test_an_alias_bomb_rendered_by_a_template_is_a_finding(template_repo: Path) -> None:
    _inject_manifests(template_repo, BOMB)
    (template_repo / OTHER).unlink()
    commit_all(template_repo, "alias bomb in a template")
    before = snapshot_tree(template_repo)

    code, output, peak_mb = _render_guarded(template_repo)

    assert code == 1, output
    message = (
        "template.manifests rendered invalid YAML (YAML aliases expand to more than 100000 values (an alias "
        "bomb?): write the values out instead of repeating anchors) for {unit}"
    )
    assert [ln for ln in output.splitlines() if ln.startswith(PG)] == [
        f"{PG}:26:5: {message.format(unit=unit)}" for unit in PG_UNITS
    ]
    after = snapshot_tree(template_repo)
    assert changed_paths(before, after) == [OTHER]
    assert peak_mb < 500, peak_mb


def test_load_all_checks_every_document_for_alias_bombs() -> None:
    bomb = BOMB.replace("\n      ", "\n").replace("- apiVersion", "apiVersion")
    with pytest.raises(YamlSyntaxError) as failure:
        load_all(f"a: 1\n---\n{bomb}\n", "rendered.yaml")
    assert str(failure.value.finding).startswith("rendered.yaml:3:1: YAML aliases expand to more than 100000")


# ---------------------------------------------------------------------------------------------------------------
# Item 7: depth


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


DEEP_MESSAGE = (
    "invalid YAML: nested more than 64 levels deep: flatten the data (the engine reads at most 64 levels of "
    "nested mappings and lists)"
)


def test_deep_params_in_a_score_file_are_blamed_on_the_score_file(template_repo: Path) -> None:
    score = "workloads/payments/checkout-api/score.yaml"
    text = (template_repo / score).read_text()
    marker = "  db:\n    type: postgres\n"
    assert marker in text
    write_files(
        template_repo, {score: text.replace(marker, f"{marker}    params:\n      x: {_nested(600)}\n")}
    )
    commit_all(template_repo)

    code, output = run_cli(["validate"], template_repo)

    line = (
        text[: text.index(marker)].count("\n") + 4
    )  # x's first `{` is the 5th collection, its 61st the 65th
    assert (code, output.splitlines()[0]) == (1, f"{score}:{line}:{10 + 6 * 60}: {DEEP_MESSAGE}")
    assert "Traceback" not in output and "RecursionError" not in output


def test_deep_environment_values_are_blamed_on_the_environment_file(template_repo: Path) -> None:
    env = "environments/development.yaml"
    text = (template_repo / env).read_text()
    write_files(
        template_repo, {env: text.replace("values:\n", "values:\n  deep: " + "[" * 600 + "]" * 600 + "\n")}
    )
    commit_all(template_repo)

    code, output = run_cli(["validate"], template_repo)

    line = text[: text.index("values:\n")].count("\n") + 2
    assert code == 1
    assert (
        output.splitlines()[0] == f"{env}:{line}:{9 + 62}: {DEEP_MESSAGE}"
    )  # the 63rd `[` is the 65th collection


def test_a_template_that_renders_deep_yaml_is_a_finding(template_repo: Path) -> None:
    _inject_manifests(template_repo, "{{ '[' * 100 }}{{ ']' * 100 }}")
    commit_all(template_repo)

    code, output = run_cli(["validate"], template_repo)

    assert code == 1
    assert [ln for ln in output.splitlines() if ln.startswith(PG)] == [
        f"{PG}:26:69: template.manifests rendered invalid YAML ({DEEP_MESSAGE}) for {unit}"
        for unit in PG_UNITS
    ]


def test_a_template_nested_too_deep_to_compile_is_a_finding(template_repo: Path) -> None:
    _inject_manifests(template_repo, "# {{ " + "(" * 300 + "1" + ")" * 300 + " }}")
    commit_all(template_repo)

    code, output = run_cli(["validate"], template_repo)

    assert code == 1
    assert output.splitlines()[0] == (
        f"{PG}:25:14: template.manifests: template nested too deeply to compile (brackets, parentheses or blocks "
        "inside one another): flatten it"
    )
    assert "Traceback" not in output

"""Property-based tests (Hypothesis) over Score files and resource definitions, valid-ish and hostile, rendered on
the real template repo.

The invariant, whatever the input: either a clear finding (exit 1, `file:line:column: message`) or valid output;
never a traceback, never a write outside `rendered/`, never a secret value in the output or in what is printed.

The budget is small and fixed for CI: a derandomized run (the same examples on every machine, every run) with no
example database, a few seconds in all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testing.cli import run_cli
from testing.repos import write_files

SETTINGS = settings(
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SECRET = "hypothesisSecretValue7Q"  # planted in every hostile Secret; must never come out
SCORE = "workloads/fuzz/app/score.yaml"
DEFINITION = "definitions/fuzz/fuzz.yaml"
LOCATED = re.compile(r"^[\w./-]+:\d+:\d+: \S")

# ---------------------------------------------------------------------------------------------------------------
# Strategies

names = st.sampled_from(["app", "db", "x", "main", "a-b", "Bad_Name", "../up", "", "a" * 80, "ünï"])
placeholders = st.sampled_from(
    [
        "${metadata.name}",
        "${resources.db.host}",
        "${resources.db.password}",
        "${resources.missing.x}",
        "${resources.db}",
        "$${escaped}",
        "${",
        "${resources.db.host",
        "plain",
        "",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.text(max_size=12),
    placeholders,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
images = st.sampled_from(["nginx:1.27", "ghcr.io/example-org/app:1.0.0", "", "UPPER:case", "a" * 300, 42])
resource_types = st.sampled_from(["postgres", "redis", "fuzz", "fuzz", "nope", "../x", "environment"])


@st.composite
def score_documents(draw: st.DrawFn) -> Any:
    containers = draw(
        st.dictionaries(
            names,
            st.fixed_dictionaries(
                {"image": images},
                optional={
                    "variables": st.dictionaries(st.text(min_size=1, max_size=8), placeholders, max_size=3),
                    "command": st.lists(placeholders, max_size=2),
                },
            ),
            min_size=1,
            max_size=2,
        )
    )
    resources = draw(
        st.dictionaries(
            names,
            st.fixed_dictionaries(
                {"type": resource_types},
                optional={
                    "params": st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=3)
                },
            ),
            max_size=3,
        )
    )
    document: dict[str, Any] = {
        "apiVersion": draw(st.sampled_from(["score.dev/v1b1", "score.dev/v1b1", "score.dev/v2", 1])),
        "metadata": {"name": draw(st.sampled_from(["app", "app", "other", ""]))},
        "containers": containers,
    }
    if resources:
        document["resources"] = resources
    if draw(st.booleans()):
        document["service"] = {"ports": {"web": {"port": draw(st.integers(min_value=-5, max_value=70000))}}}
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        document[draw(st.text(min_size=1, max_size=5))] = draw(json_values)
    return document


# Template fragments, each a whole line: ordinary ones, broken ones and hostile ones.
MANIFEST_LINES = [
    "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: '{{ resource.uid }}'}\n  data: {k: v}",
    "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: '{{ resource.uid }}-p'}\n"
    "  data: {p: {{ resource.params | to_json }}}",
    f"- apiVersion: v1\n  kind: Secret\n  metadata: {{name: s}}\n  stringData: {{password: {SECRET}}}",
    f"- apiVersion: v1\n  kind: Secret\n  metadata: {{name: s}}\n  data: {{password: {SECRET}}}",
    "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    "# {{ 'a' | center(2000000000) }}",
    "# {{ '%2000000000d' | format(1) }}",
    "# {{ 'a'.ljust(10**10) }}",
    "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}# {{ m(30) }}",
    "- a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "  e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
    "{{ '[' * 100 }}{{ ']' * 100 }}",
    "{{ resource.__class__ }}",
    "{{ undefined_name.x }}",
    "{% if %}",
    "- kind: ''",
    "- 42",
]
OUTPUT_LINES = [
    "host: {{ resource.uid }}",
    "port: 5432",
    "password: {secretKeyRef: {name: '{{ resource.uid }}', key: password}}",
    "url: {{ resource.params.get('url', 'x') | to_json }}",
    "# {{ 'x' * 2000000 }}",
    "- not a mapping",
]


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())


@st.composite
def definition_documents(draw: st.DrawFn) -> str:
    manifests = draw(st.lists(st.sampled_from(MANIFEST_LINES), max_size=3))
    outputs = draw(st.lists(st.sampled_from(OUTPUT_LINES), max_size=3))
    text = (
        "apiVersion: gitops-engine.dev/v1\nkind: ResourceDefinition\nid: fuzz\ntype: fuzz\ndriver: template\n"
    )
    text += "template:\n"
    text += "  outputs: |\n" + (_indent("\n".join(outputs)) if outputs else "    {}\n")
    if manifests:
        text += "  manifests: |\n" + _indent("\n".join(manifests))
    return text


def _fuzz_score() -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "score.dev/v1b1",
            "metadata": {"name": "app"},
            "containers": {"main": {"image": "nginx:1.27", "variables": {"H": "${resources.f.host}"}}},
            "resources": {"f": {"type": "fuzz", "params": {"url": "https://x"}}},
        }
    )


# ---------------------------------------------------------------------------------------------------------------
# The invariant


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def _check_run(repo: Path, written: set[str], command: str) -> None:
    before = _files(repo)
    code, output = run_cli([command], repo)  # an exception here (a traceback) fails the test
    after = _files(repo)

    assert code in (0, 1), output
    assert "Traceback" not in output
    if code == 1:
        assert any(LOCATED.match(line) for line in output.splitlines()), output
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert all(p.startswith("rendered/") for p in changed - written), sorted(changed - written)
    if command == "validate":
        assert changed <= written
    assert SECRET not in output
    for path in changed:
        assert SECRET.encode() not in after.get(path, b""), path


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gitops_engine.commands.init import create_platform_repo

    repo = tmp_path_factory.mktemp("properties") / "platform"
    create_platform_repo(repo)
    return repo


def _reset(repo: Path) -> None:
    """Back to the freshly created template (rendered output included), keeping the repo itself."""
    from testing.repos import git

    git(repo, "checkout", "--quiet", "--", ".")
    git(repo, "clean", "--quiet", "-fdx")


@SETTINGS
@given(document=score_documents(), command=st.sampled_from(["validate", "render"]))
def test_any_score_file_gives_a_finding_or_valid_output(fuzz_repo: Path, document: Any, command: str) -> None:
    _reset(fuzz_repo)
    write_files(
        fuzz_repo, {SCORE: yaml.safe_dump(document, allow_unicode=True), DEFINITION: _fuzz_definition()}
    )
    _check_run(fuzz_repo, {SCORE, DEFINITION}, command)


@SETTINGS
@given(text=st.text(alphabet="ab:-[]{}&*!|>'\"\n #$%.0123456789", max_size=120))
def test_any_score_text_gives_a_finding_or_valid_output(fuzz_repo: Path, text: str) -> None:
    _reset(fuzz_repo)
    write_files(fuzz_repo, {SCORE: "apiVersion: score.dev/v1b1\n" + text})
    _check_run(fuzz_repo, {SCORE}, "validate")


@SETTINGS
@given(definition=definition_documents(), command=st.sampled_from(["validate", "render"]))
def test_any_definition_gives_a_finding_or_valid_output(
    fuzz_repo: Path, definition: str, command: str
) -> None:
    _reset(fuzz_repo)
    write_files(fuzz_repo, {DEFINITION: definition, SCORE: _fuzz_score()})
    _check_run(fuzz_repo, {DEFINITION, SCORE}, command)


def _fuzz_definition() -> str:
    """A plain, valid definition of the `fuzz` type the generated Score files may ask for."""
    return (
        "apiVersion: gitops-engine.dev/v1\nkind: ResourceDefinition\nid: fuzz\ntype: fuzz\ndriver: template\n"
        "template:\n  outputs: |\n    host: {{ resource.uid }}\n    port: 1\n"
    )

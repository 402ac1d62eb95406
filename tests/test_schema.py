"""The shipped JSON schemas and the messages validation gives.

Score compatibility is checked with a corpus of Score files written the way people write them for score-k8s,
score-compose and score-helm (tests/data/score-corpus: all must validate, and together they use every field the
schema knows) and a corpus of mistakes (tests/data/score-invalid: each file's first two lines say the message and
the line:column it must produce).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import pytest

from gitops_engine.errors import Finding
from gitops_engine.schema import KINDS, load_schema, schema_path, validate_document
from gitops_engine.yamlio import Document, load_document

ROOT = Path(__file__).parent.parent
CORPUS = sorted((ROOT / "tests/data/score-corpus").glob("*.yaml"))
INVALID = sorted((ROOT / "tests/data/score-invalid").glob("*.yaml"))


def _load(path: Path) -> Document:
    return load_document(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())


def _validate(kind: str, text: str, path: str = "file.yaml") -> list[Finding]:
    return validate_document(kind, load_document(text, path))


def _located(findings: list[Finding]) -> list[str]:
    return [f"{f.line}:{f.column} {f.message}" for f in findings]


# ---------------------------------------------------------------------------------------------------------------
# The schemas themselves


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_a_valid_2020_12_schema(kind: str) -> None:
    schema = load_schema(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema_rs.Draft202012Validator(
        schema, offline=True
    )  # compiles: every $ref resolves, every regex is valid
    assert jsonschema_rs.meta.is_valid(schema)


def test_schema_ids_and_files() -> None:
    assert {kind: schema_path(kind).name for kind in KINDS} == {
        "score": "score-v1b1.json",
        "platform": "platform.json",
        "environment": "environment.json",
        "definition": "definition.json",
    }
    for kind in KINDS:
        assert load_schema(kind)["$id"] == f"https://gitops-engine.dev/schemas/{schema_path(kind).name}"
        assert json.loads(schema_path(kind).read_text(encoding="utf-8")) == load_schema(kind)


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown schema kind 'workload'"):
        schema_path("workload")


def _property_schemas(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every schema that describes a property (or an item or value of one), with a readable location."""
    found: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(node, dict):
        return found
    for name, sub in node.get("properties", {}).items():
        if isinstance(sub, dict) and sub.get("not") == {}:
            continue  # declared only to be refused with an explanation
        found.append((f"{where}.{name}", sub))
        found += _property_schemas(sub, f"{where}.{name}")
    for keyword in ("items", "additionalProperties"):
        if isinstance(node.get(keyword), dict):
            found += _property_schemas(node[keyword], f"{where}[{keyword}]")
    for name, sub in node.get("$defs", {}).items():
        found += _property_schemas(sub, f"$defs.{name}")
    for keyword in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(node.get(keyword, [])):
            found += _property_schemas(sub, f"{where}[{keyword}{i}]")
    for keyword in ("then", "else"):
        found += _property_schemas(node.get(keyword), f"{where}[{keyword}]")
    return found


@pytest.mark.parametrize("kind", ["platform", "environment", "definition"])
def test_every_property_has_a_title_and_description(kind: str) -> None:
    schema = load_schema(kind)
    assert schema["title"] and schema["description"]
    undocumented = [
        where
        for where, sub in _property_schemas(schema, kind)
        if "$ref" not in sub and not (sub.get("title") and sub.get("description"))
    ]
    assert undocumented == []


def test_every_score_property_has_a_description() -> None:
    undocumented = [
        where
        for where, sub in _property_schemas(load_schema("score"), "score")
        if "$ref" not in sub and not sub.get("description")
    ]
    assert undocumented == []


# ---------------------------------------------------------------------------------------------------------------
# Score compatibility corpus


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 12
    assert len(INVALID) >= 10


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_file_is_valid(path: Path) -> None:
    assert validate_document("score", _load(path)) == []


def _resolve(root: dict[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = root
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def _uses(
    root: dict[str, Any], node: dict[str, Any], pointer: str, value: Any, used: set[tuple[str, str]]
) -> None:
    """Record (schema location, property) for every property the value sets, following the schema it meets."""
    if "$ref" in node:
        _uses(root, _resolve(root, node["$ref"]), node["$ref"], value, used)
    for i, branch in enumerate(node.get("oneOf", [])):
        wanted = {"array": list, "object": dict}.get(branch.get("type", ""), object)
        if isinstance(value, wanted) and "type" in branch:
            _uses(root, branch, f"{pointer}/oneOf/{i}", value, used)
    if isinstance(value, dict):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, sub in value.items():
            if key in properties:
                used.add((pointer, key))
                _uses(root, properties[key], f"{pointer}/properties/{key}", sub, used)
            elif isinstance(extra, dict):
                _uses(root, extra, f"{pointer}/additionalProperties", sub, used)
            elif extra is True and properties:
                used.add((pointer, "<any other key>"))
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            _uses(root, node["items"], f"{pointer}/items", item, used)


def _declared(node: Any, pointer: str, declared: set[tuple[str, str]]) -> None:
    if not isinstance(node, dict):
        return
    properties = node.get("properties", {})
    for key, sub in properties.items():
        if not (isinstance(sub, dict) and sub.get("not") == {}):
            declared.add((pointer, key))
        _declared(sub, f"{pointer}/properties/{key}", declared)
    if properties and node.get("additionalProperties", True) is True:
        declared.add((pointer, "<any other key>"))
    for keyword in ("items", "additionalProperties"):
        _declared(node.get(keyword), f"{pointer}/{keyword}", declared)
    for i, branch in enumerate(node.get("oneOf", [])):
        _declared(branch, f"{pointer}/oneOf/{i}", declared)
    for name, sub in node.get("$defs", {}).items():
        _declared(sub, f"#/$defs/{name}", declared)


def test_corpus_uses_every_score_field() -> None:
    schema = load_schema("score")
    used: set[tuple[str, str]] = set()
    for path in CORPUS:
        _uses(schema, schema, "#", _load(path).data, used)
    declared: set[tuple[str, str]] = set()
    _declared(schema, "#", declared)
    assert sorted(declared - used) == []
    # Both deprecated list forms and both map forms are in there.
    assert {("#/$defs/fileInList", "target"), ("#/$defs/volumeInList", "target")} <= used
    assert {("#/$defs/fileInMap", "binaryContent"), ("#/$defs/volumeInMap", "readOnly")} <= used


def _expectation(path: Path) -> tuple[str, str]:
    first, second = path.read_text(encoding="utf-8").splitlines()[:2]
    assert first.startswith("# expect: ") and second.startswith("# at: "), path
    return first.removeprefix("# expect: "), second.removeprefix("# at: ")


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_file_gives_the_expected_finding(path: Path) -> None:
    expected_message, expected_at = _expectation(path)
    document = _load(path)
    findings = validate_document("score", document, unit="team/name")
    assert len(findings) == 1, _located(findings)
    (finding,) = findings
    assert expected_message in finding.message
    assert f"{finding.line}:{finding.column}" == expected_at
    assert finding.path == document.path
    assert finding.unit == "team/name"
    assert finding.severity == "error"


# ---------------------------------------------------------------------------------------------------------------
# Messages


SCORE_WITH_MANY_MISTAKES = """\
apiVersion: score.dev/v1b1
metadata:
  name: web
containers:
  web:
    image: 42
    imagee: nginx
    variables:
      PORT: 8080
service:
  ports:
    http: {port: 80, protocol: tcp}
"""


def test_collects_every_problem_sorted_and_located() -> None:
    assert _located(_validate("score", SCORE_WITH_MANY_MISTAKES)) == [
        '6:12 containers.web.image: expected a string, got 42; quote it: "42"',
        "7:5 containers.web: unknown key 'imagee' (allowed: args, before, command, files, image, livenessProbe, "
        "readinessProbe, resources, variables, volumes); did you mean 'image'?",
        '9:13 containers.web.variables.PORT: expected a string, got 8080; quote it: "8080"',
        "12:32 service.ports.http.protocol: 'tcp' is not one of 'TCP', 'UDP' (did you mean 'TCP'?)",
    ]


def test_finding_names_the_file() -> None:
    (finding,) = _validate(
        "score", "apiVersion: score.dev/v1b1\nmetadata: {name: web}\n", "workloads/a/web/score.yaml"
    )
    assert str(finding) == (
        "workloads/a/web/score.yaml:1:1: top level: missing required key 'containers'; "
        "add it: the named containers of the workload (at least one)"
    )


def test_valid_document_gives_nothing() -> None:
    assert (
        _validate(
            "score", "apiVersion: score.dev/v1b1\nmetadata: {name: web}\ncontainers: {web: {image: x}}\n"
        )
        == []
    )


def test_same_problem_is_reported_once() -> None:
    # Two missing keys in one place are two findings; the pattern and length failures of one value are one.
    text = "apiVersion: score.dev/v1b1\nmetadata: {name: web}\ncontainers: {web: {image: x}}\nresources:\n  db: {type: x}\n"
    assert _located(_validate("score", text)) == [
        "5:14 resources.db.type: 'x' has an invalid format; "
        "use 2 to 63 letters, digits and '-', starting and ending with a letter or digit"
    ]
    probe = "apiVersion: score.dev/v1b1\nmetadata: {name: web}\ncontainers:\n  web:\n    image: x\n    livenessProbe: {httpGet: {}}\n"
    assert _located(_validate("score", probe)) == [
        "6:21 containers.web.livenessProbe.httpGet: missing required key 'path'; add it: the path to request, e.g. /healthz",
        "6:21 containers.web.livenessProbe.httpGet: missing required key 'port'; "
        "add it: the container port to connect to (1-65535)",
    ]


def test_regex_end_anchor_does_not_accept_a_trailing_newline() -> None:
    # Python's `$` matches before a final newline; JSON Schema's (ECMA-262) does not.
    text = "apiVersion: score.dev/v1b1\nmetadata:\n  name: |\n    web\ncontainers: {web: {image: x}}\n"
    assert _located(_validate("score", text)) == [
        "3:9 metadata.name: 'web\\n' has an invalid format; "
        "use 2 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
    ]


def test_non_string_keys_are_read_as_score_implementations_read_them() -> None:
    # YAML makes `80:` an int key; Go's decoder (score-k8s, score-compose) reads it as the string "80".
    text = "apiVersion: score.dev/v1b1\nmetadata: {name: web}\ncontainers: {web: {image: x}}\nservice:\n  ports:\n    80: {port: 80}\n"
    assert _validate("score", text) == []
    bad = text.replace("{port: 80}", "{port: 0}")
    assert _located(_validate("score", bad)) == ["6:16 service.ports.80.port: 0 is below the minimum 1"]


def test_empty_document() -> None:
    assert _located(_validate("platform", "")) == [
        "1:1 top level: expected a mapping, got null; the file is empty"
    ]


def test_file_needs_exactly_one_content() -> None:
    text = """\
apiVersion: score.dev/v1b1
metadata: {name: web}
containers:
  web:
    image: nginx
    files:
      /etc/a: {mode: "0644"}
      /etc/b: {content: x, binaryContent: eA==, source: b.txt}
      /etc/c: not-a-mapping
"""
    assert _located(_validate("score", text)) == [
        "7:7 containers.web.files./etc/a: missing one of 'content', 'binaryContent' or 'source'; set exactly one",
        "8:7 containers.web.files./etc/b: 'content', 'binaryContent' and 'source' are all set; "
        "set only one of 'content', 'binaryContent' or 'source'",
        "9:15 containers.web.files./etc/c: expected a mapping, got 'not-a-mapping'",
    ]


def test_performance_of_valid_documents() -> None:
    # 2,000+ documents are validated on the critical path; the valid ones must cost microseconds each.
    documents = [_load(path) for path in CORPUS]
    validate_document("score", documents[0])  # build the validators once
    started = time.perf_counter()
    for _ in range(2000 // len(documents) + 1):
        for document in documents:
            assert validate_document("score", document) == []
    assert time.perf_counter() - started < 2.0


# ---------------------------------------------------------------------------------------------------------------
# platform.yaml, environments/<id>.yaml, definitions/<type>/<id>.yaml: the examples of docs/formats.md

PLATFORM_EXAMPLE = """\
apiVersion: gitops-engine.dev/v1
kind: Platform
environments: [development, staging, production]   # order used in reports; each needs environments/<id>.yaml
forge: local                                        # local | github (the --forge option overrides)
pullRequests:
  labels: [gitops-engine]                           # added to every engine pull request
  maxPerRun: 50                                     # pull requests opened or updated per run; the rest next run
  maxPerHour: 400                                   # GitHub content-creation budget (engine-wide)
limits:
  maxFileBytes: 262144                              # any source file (Score file, referenced file, definition)
"""

ENVIRONMENT_EXAMPLE = """\
apiVersion: gitops-engine.dev/v1
kind: Environment
id: production            # must equal the file name
type: production          # free-form class of environment, matched by `env_type` criteria
namespace: "{team}"       # namespace rule; placeholders {env} {team} {workload}; result must be a DNS label
labels:                   # optional, added to every rendered object's metadata.labels
  example.com/env: production
values:                   # optional, free-form; definitions read them as environment.values;
  domain: example.com     # the `environment` resource type exposes them as outputs
"""

TEMPLATE_DEFINITION_EXAMPLE = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: postgres-incluster    # must equal the file name (without .yaml)
type: postgres            # must equal the folder name
description: In-cluster PostgreSQL 16 for development and staging.
criteria:                 # OR of criteria; within one criterion, every set field must match
  - env_type: development
  - env_type: staging
    class: default        # optional; absent means class "default" (class filters, it does not rank)
  # other fields: env, team, workload, res_id
driver: template          # template | static
template:                 # driver: template only. Jinja2, sandboxed, StrictUndefined
  outputs: |              # renders to a YAML mapping: output name -> value
    host: {{ resource.uid }}.{{ environment.namespace }}.svc.cluster.local
    port: 5432
    password:
      secretKeyRef: {name: "{{ resource.uid }}", key: password}
  manifests: |            # optional; renders to a YAML list of Kubernetes objects
    - apiVersion: apps/v1
      kind: StatefulSet
"""

STATIC_DEFINITION_EXAMPLE = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: postgres-managed
type: postgres
criteria:
  - env_type: production
  - {env: staging, team: payments, workload: ledger, res_id: db, class: large}
driver: static
outputs: {host: db.prod.example.com, port: 5432}   # fixed outputs
manifests: []                                      # optional fixed objects (e.g. an ExternalSecret)
"""


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("platform", PLATFORM_EXAMPLE),
        ("platform", "apiVersion: gitops-engine.dev/v1\nkind: Platform\nenvironments: [dev]\n"),
        ("environment", ENVIRONMENT_EXAMPLE),
        ("environment", ENVIRONMENT_EXAMPLE.replace('"{team}"', '"{team}-{env}-{workload}"')),
        ("definition", TEMPLATE_DEFINITION_EXAMPLE),
        ("definition", TEMPLATE_DEFINITION_EXAMPLE.split("  manifests:")[0]),
        ("definition", STATIC_DEFINITION_EXAMPLE),
        (
            "definition",
            STATIC_DEFINITION_EXAMPLE.replace(
                "manifests: []", "manifests: [{apiVersion: v1, kind: ConfigMap}]"
            ),
        ),
    ],
)
def test_formats_examples_are_valid(kind: str, text: str) -> None:
    assert _validate(kind, text) == []


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        (
            "platform",
            PLATFORM_EXAMPLE.replace("pullRequests:", "pullRequest:"),
            [
                "5:1 top level: unknown key 'pullRequest' (allowed: apiVersion, environments, forge, kind, limits, "
                "pullRequests); did you mean 'pullRequests'?"
            ],
        ),
        (
            "platform",
            PLATFORM_EXAMPLE.replace("  maxFileBytes", "  maxFileSize"),
            [
                "10:3 limits: unknown key 'maxFileSize' (allowed: maxFileBytes, templateOutputChars, templateSeconds, templateSteps)"
            ],
        ),
        (
            "environment",
            ENVIRONMENT_EXAMPLE.replace("values:", "value:"),
            [
                "8:1 top level: unknown key 'value' (allowed: apiVersion, id, kind, labels, namespace, rollout, type, values); "
                "did you mean 'values'?"
            ],
        ),
        (
            "definition",
            TEMPLATE_DEFINITION_EXAMPLE.replace("  - env_type: development", "  - environment: development"),
            [
                "7:5 criteria[0]: unknown key 'environment' (allowed: class, env, env_type, res_id, team, workload); "
                "did you mean 'env'?"
            ],
        ),
        (
            "definition",
            TEMPLATE_DEFINITION_EXAMPLE.replace("  manifests: |", "  manifest: |"),
            [
                "18:3 template: unknown key 'manifest' (allowed: manifests, outputs); did you mean 'manifests'?"
            ],
        ),
    ],
)
def test_unknown_keys_are_precise(kind: str, text: str, expected: list[str]) -> None:
    assert _located(_validate(kind, text)) == expected


def test_platform_mistakes() -> None:
    text = "apiVersion: gitops-engine.dev/v1\nkind: platform\nenvironments: [dev, Prod, dev]\nforge: gitlab\n"
    dns_label = "use a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
    assert _located(_validate("platform", text)) == [
        "2:7 kind: expected 'Platform', got 'platform'",
        "3:1 environments: has duplicate entries; list at least one environment id, each once, "
        "e.g. [development, staging, production]",
        f"3:21 environments[1]: 'Prod' has an invalid format; {dns_label}",
        "4:8 forge: 'gitlab' is not one of 'local', 'github'",
    ]


def test_environment_mistakes() -> None:
    text = """\
apiVersion: gitops-engine.dev/v1
kind: Environment
id: prod
type: production
namespace: "{teams}"
labels:
  example.com/env: true
"""
    assert _located(_validate("environment", text)) == [
        "5:12 namespace: '{teams}' has an invalid format; use lowercase letters, digits, '-' and the placeholders "
        '{env}, {team} and {workload}, e.g. "{team}-{env}"',
        '7:20 labels.example.com/env: expected a string, got true; quote it: "true"',
    ]
    assert _located(
        _validate("environment", "apiVersion: gitops-engine.dev/v1\nkind: Environment\nid: x\ntype: y\n")
    ) == [
        "1:1 top level: missing required key 'namespace'; add it: the Kubernetes namespace of a workload in this "
        "environment, with placeholders {env}, {team} and {workload}, e.g."
        ' "{team}" or "{team}-{env}"'
    ]


def test_definition_driver_rules() -> None:
    template_with_fixed_outputs = TEMPLATE_DEFINITION_EXAMPLE + "outputs: {host: x}\n"
    assert _located(_validate("definition", template_with_fixed_outputs)) == [
        "21:1 outputs: not allowed here; with driver: template, write outputs as a Jinja2 string under "
        "template.outputs (or use driver: static)"
    ]
    static_with_template = STATIC_DEFINITION_EXAMPLE + "template: {outputs: 'host: x'}\n"
    assert _located(_validate("definition", static_with_template)) == [
        "11:1 template: not allowed here; with driver: static, give fixed outputs and manifests at the top level "
        "(or use driver: template)"
    ]
    template_without_template = TEMPLATE_DEFINITION_EXAMPLE.split("template:                 #")[0]
    assert _located(_validate("definition", template_without_template)) == [
        "1:1 top level: missing required key 'template'; driver: template needs template.outputs, "
        "template.manifests or both"
    ]
    empty_template = template_without_template + "template: {}\n"
    assert _located(_validate("definition", empty_template)) == [
        "12:1 template: must not be empty; set template.outputs, template.manifests or both, as Jinja2 strings"
    ]


def test_definition_criteria_and_manifests() -> None:
    text = STATIC_DEFINITION_EXAMPLE.replace(
        "  - env_type: production\n", "  - env_type: Production\n    res_id: shared.db\n"
    ).replace("manifests: []", "manifests: [{kind: ConfigMap}]")
    assert _located(_validate("definition", text)) == [
        "6:15 criteria[0].env_type: 'Production' has an invalid format; use a DNS label: at most 63 lowercase "
        "letters, digits and '-', starting and ending with a letter or digit",
        "11:13 manifests[0]: missing required key 'apiVersion'; add it: the object's Kubernetes API version, "
        "e.g. v1 or apps/v1",
    ]
    no_criteria = STATIC_DEFINITION_EXAMPLE.replace(
        "criteria:\n  - env_type: production\n  - {env: staging, team: payments, workload: ledger, res_id: db, class: large}\n",
        "criteria: []\n",
    )
    assert _located(_validate("definition", no_criteria)) == [
        "5:1 criteria: must not be empty; list at least one criterion, e.g. criteria: [{env_type: development}] "
        "or [{}] to match everywhere"
    ]

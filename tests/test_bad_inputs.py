"""Bad inputs through the real CLI on a real, already rendered platform repo.

Every case must give exit code 1, an error naming the exact file, line and column with a message saying what is
wrong, and leave `rendered/` byte-for-byte as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.golden import changed_paths, rendered_objects, snapshot_tree
from testing.hostile import alias_bomb
from testing.repos import FileSpec, write_files
from testing.small_platform import (
    API_SCORE,
    DEVELOPMENT_YAML,
    PG_DEV_YAML,
    PG_PROD_YAML,
    PLATFORM_YAML,
    WEB_SCORE,
)

API = "workloads/team-a/api/score.yaml"
PG_DEV = "definitions/postgres/pg-dev.yaml"
PG_PROD = "definitions/postgres/pg-prod.yaml"
DEV_ENV = "environments/development.yaml"


@dataclass(frozen=True)
class Bad:
    id: str
    files: dict[str, FileSpec]
    location: str  # path:line:column of the error
    message: str  # a substring of the error message
    count: int = 1  # how many errors validate reports
    # Errors reported for workloads that depend on the broken file (a definition that fails to load makes every
    # resource of its type fail rather than fall back silently to another definition).
    dependents: int = 0
    also: tuple[str, ...] = field(default=())  # further substrings of the same error line


def _api(old: str, new: str) -> dict[str, FileSpec]:
    assert old in API_SCORE, old
    return {API: API_SCORE.replace(old, new, 1)}


def _pg_dev(old: str, new: str) -> dict[str, FileSpec]:
    assert old in PG_DEV_YAML, old
    return {PG_DEV: PG_DEV_YAML.replace(old, new, 1)}


BILLION_LAUGHS = API_SCORE + "x-bomb:\n" + alias_bomb(2) + "\n"

CYCLE = API_SCORE.replace(
    "  db:\n    type: postgres\n",
    """  db:
    type: postgres
    params:
      x: ${resources.other.host}
  other:
    type: postgres
    params:
      y: ${resources.db.host}
""",
)

SECRET_MANIFEST_TEMPLATE = """    - apiVersion: v1
      kind: Secret
      metadata:
        name: {{ resource.uid }}
      stringData:
        password: hunter2
"""

SECRET_MANIFEST_STATIC = """manifests:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: pg-prod
    data:
      password: aHVudGVyMg==
"""

WITH_FILE = """    files:
      /etc/app.conf:
        {file}
    variables:
"""

CASES = [
    # -- YAML ------------------------------------------------------------------------------------------------
    Bad(
        "broken-yaml-indentation",
        _api("    variables:\n", "   variables:\n"),
        f"{API}:7:4",
        "invalid YAML: did not find expected key",
    ),
    Bad(
        "broken-yaml-tab",
        _api("  main:\n", "  main:\n\tfoo: 1\n"),
        f"{API}:6:1",
        "invalid YAML: found character that cannot start any token",
    ),
    Bad(
        "duplicate-key-score",
        _api("  name: api\n", "  name: api\n  name: api\n"),
        f"{API}:4:3",
        "duplicate key 'name'",
    ),
    Bad(
        "duplicate-key-definition",
        {PG_PROD: PG_PROD_YAML.replace("  port: 5432\n", "  port: 5432\n  port: 5433\n")},
        f"{PG_PROD}:11:3",
        "duplicate key 'port'",
        dependents=1,
    ),
    Bad(
        "alias-bomb",
        {API: BILLION_LAUGHS},
        f"{API}:1:1",
        "YAML aliases expand to more than 100000 values",
    ),
    Bad("empty-score-file", {API: ""}, f"{API}:1:1", "top level: expected a mapping, got null"),
    # -- unknown keys ----------------------------------------------------------------------------------------
    Bad(
        "unknown-key-score-container",
        _api("    image:", "    imagee: x\n    image:"),
        f"{API}:6:5",
        "containers.main: unknown key 'imagee'",
        also=("did you mean 'image'?",),
    ),
    Bad(
        "unknown-key-score-resource",
        _api("    type: postgres\n", "    type: postgres\n    clas: large\n"),
        f"{API}:16:5",
        "resources.db: unknown key 'clas'",
    ),
    Bad(
        "unknown-key-definition",
        _pg_dev("driver: template", "driver: template\nflavour: x"),
        f"{PG_DEV}:8:1",
        "top level: unknown key 'flavour'",
        dependents=1,
    ),
    Bad(
        "unknown-key-criterion",
        _pg_dev("  - env_type: development\n", "  - env_type: development\n    environment: x\n"),
        f"{PG_DEV}:7:5",
        "criteria[0]: unknown key 'environment'",
        dependents=1,
    ),
    Bad(
        "unknown-key-environment",
        {DEV_ENV: DEVELOPMENT_YAML + "colour: blue\n"},
        f"{DEV_ENV}:6:1",
        "top level: unknown key 'colour'",
    ),
    Bad(
        "unknown-key-platform",
        {"platform.yaml": PLATFORM_YAML + "limit: {}\n"},
        "platform.yaml:4:1",
        "top level: unknown key 'limit'",
    ),
    Bad(
        "unknown-key-override",
        {"workloads/team-a/api/overrides.production.yaml": "containers:\n  main:\n    imag: x\n"},
        "workloads/team-a/api/overrides.production.yaml:3:5",
        "after merging this override: containers.main: unknown key 'imag'",
    ),
    # -- wrong types and values ------------------------------------------------------------------------------
    Bad(
        "wrong-type-port",
        _api("port: 8080", "port: eighty"),
        f"{API}:12:13",
        "service.ports.http.port: expected an integer, got 'eighty'",
    ),
    Bad(
        "wrong-type-platform-environments",
        {"platform.yaml": PLATFORM_YAML.replace("[development, production]", "development")},
        "platform.yaml:3:15",
        "environments: expected a list, got 'development'",
    ),
    Bad(
        "unknown-driver",
        _pg_dev("driver: template", "driver: helm"),
        f"{PG_DEV}:7:9",
        "driver: 'helm' is not one of 'template', 'static'",
        dependents=1,
    ),
    Bad(
        "override-deletes-required-image",
        {"workloads/team-a/api/overrides.production.yaml": "containers:\n  main:\n    image: null\n"},
        "workloads/team-a/api/overrides.production.yaml:2:3",
        "containers.main: missing required key 'image'",
    ),
    # -- names and folders -----------------------------------------------------------------------------------
    Bad(
        "duplicate-workload-in-namespace",
        {
            DEV_ENV: DEVELOPMENT_YAML.replace('"{team}-{env}"', '"{env}"'),
            "workloads/team-b/api/score.yaml": API_SCORE,
        },
        "workloads/team-b/api/score.yaml:1:1",
        "workload 'api' renders into namespace 'development' of development, as does workloads/team-a/api/score.yaml",
    ),
    Bad(
        "team-folder-uppercase",
        {"workloads/Team-C/x/score.yaml": WEB_SCORE.replace("name: web", "name: x")},
        "workloads/Team-C/x/score.yaml:1:1",
        "team folder name 'Team-C' is not a valid name",
    ),
    Bad(
        "team-folder-shared",
        {"workloads/_shared/x/score.yaml": WEB_SCORE.replace("name: web", "name: x")},
        "workloads/_shared/x/score.yaml:1:1",
        "team folder name '_shared' is not a valid name",
    ),
    Bad(
        "workload-folder-underscore",
        {"workloads/team-a/my_app/score.yaml": WEB_SCORE.replace("name: web", "name: my_app")},
        "workloads/team-a/my_app/score.yaml:1:1",
        "workload folder name 'my_app' is not a valid name",
    ),
    Bad(
        "workload-folder-dots",
        {"workloads/team-a/..x/score.yaml": WEB_SCORE.replace("name: web", "name: ..x")},
        "workloads/team-a/..x/score.yaml:1:1",
        "workload folder name '..x' is not a valid name",
    ),
    Bad(
        "folder-not-metadata-name",
        _api("name: api", "name: apix"),
        f"{API}:3:9",
        "metadata.name 'apix' differs from the folder name 'api'",
    ),
    Bad(
        "shared-id-escapes",
        _api("    type: postgres\n", "    type: postgres\n    id: ../evil\n"),
        f"{API}:16:9",
        "resources.db.id: '../evil' has an invalid format",
    ),
    Bad(
        "file-source-escapes-workload-folder",
        _api("    variables:\n", WITH_FILE.format(file="source: ../../team-b/web/score.yaml")),
        f"{API}:9:17",
        "file source '../../team-b/web/score.yaml' points outside the workload folder workloads/team-a/api/",
    ),
    Bad(
        "invalid-port-name-score",
        _api("    http:\n", "    HTTP_Port:\n"),
        f"{API}:11:5",
        "service.ports: name 'HTTP_Port' has an invalid format",
    ),
    Bad(
        "invalid-port-name-too-long-for-kubernetes",
        _api("    http:\n", "    http-for-the-public:\n"),
        f"{API}:12:7",
        "port name 'http-for-the-public' is not valid in Kubernetes",
    ),
    Bad(
        "invalid-port-name-digits-only",
        _api("    http:\n", '    "8080":\n'),
        f"{API}:12:7",
        "port name '8080' is not valid in Kubernetes",
    ),
    Bad(
        "invalid-kind-annotation",
        _api("  name: api\n", "  name: api\n  annotations:\n    k8s.score.dev/kind: DaemonSet\n"),
        f"{API}:5:25",
        "k8s.score.dev/kind must be Deployment or StatefulSet, not 'DaemonSet'",
    ),
    Bad(
        "resource-type-workload-reserved",
        _api("type: postgres", "type: workload"),
        f"{API}:15:11",
        "'workload' is reserved for the workload itself",
    ),
    # -- placeholders and resources --------------------------------------------------------------------------
    Bad(
        "missing-output",
        _api("db.host", "db.nope"),
        f"{API}:8:16",
        "${resources.db.nope}: resources.db has no 'nope' (known: host, password, port)",
    ),
    Bad(
        "placeholder-to-unknown-resource",
        _api("resources.db.host", "resources.cache.host"),
        f"{API}:8:16",
        "${resources.cache.host}: unknown resource 'cache' (declared: db)",
    ),
    Bad(
        "params-placeholder-to-unknown-resource",
        _api("    type: postgres\n", "    type: postgres\n    params:\n      x: ${resources.cache.host}\n"),
        f"{API}:17:7",
        "${resources.cache.host} refers to resource 'cache', which this workload does not declare",
    ),
    Bad(
        "unknown-metadata-placeholder",
        _api("${resources.db.host}", "${metadata.nope}"),
        f"{API}:8:16",
        "metadata has no 'nope' (known: name)",
    ),
    Bad(
        "dependency-cycle",
        {API: CYCLE},
        f"{API}:17:7",
        "resource dependency cycle: db -> other -> db",
    ),
    Bad(
        "secret-output-spliced-into-params",
        _api(
            "    type: postgres\n",
            "    type: postgres\n  other:\n    type: postgres\n    params:\n      x: pw-${resources.db.password}\n",
        ),
        f"{API}:19:7",
        "resources.other.params: ${resources.db.password} is a secret: it cannot be part of a longer text",
    ),
    Bad(
        "secret-output-in-file-content",
        _api("    variables:\n", WITH_FILE.format(file='content: "password=${resources.db.password}"')),
        f"{API}:9:18",
        "${resources.db.password} is a secret: it cannot be written into a file",
    ),
    Bad(
        "image-dot",
        _api("image: registry.example.com/api:1.0", "image: ."),
        f"{API}:6:12",
        "image '.' means 'build me' in score-compose",
    ),
    Bad(
        "image-from-resource-output",
        _api("image: registry.example.com/api:1.0", "image: registry.example.com/api:${resources.db.port}"),
        f"{API}:6:12",
        "containers.main.image: ${resources.db.port}: resource outputs cannot be used here; only ${metadata.…} "
        "placeholders can",
    ),
    # -- matching --------------------------------------------------------------------------------------------
    Bad(
        "unknown-resource-type",
        _api("type: postgres", "type: postgress"),
        f"{API}:15:11",
        "resource 'db': no definition provides type 'postgress' (did you mean 'postgres'?); types with "
        "definitions: postgres.",
        # One finding for both environments, listing them (in platform.yaml's order).
        also=("(in development, production)",),
    ),
    Bad(
        "class-without-definition",
        _api("    type: postgres\n", "    type: postgres\n    class: large\n"),
        f"{API}:15:5",
        "resource 'db': no definition of type 'postgres' matches it (class 'large', team team-a, workload api)",
        also=(
            "considered: definitions/postgres/pg-dev.yaml, definitions/postgres/pg-prod.yaml",
            "(in development, production)",
        ),
    ),
    Bad(
        "ambiguous-definitions",
        {"definitions/postgres/pg-dev2.yaml": PG_DEV_YAML.replace("id: pg-dev", "id: pg-dev2")},
        f"{PG_DEV}:6:3",
        "definitions/postgres/pg-dev.yaml and definitions/postgres/pg-dev2.yaml both match postgres resource 'db'",
    ),
    # -- definitions and templates ---------------------------------------------------------------------------
    Bad(
        "sandbox-escape-mro",
        _pg_dev("    port: 5432\n", "    port: {{ ''.__class__.__mro__ }}\n"),
        f"{PG_DEV}:11:1",
        "template.outputs: the template reaches outside the sandbox",
    ),
    Bad(
        "sandbox-escape-globals",
        _pg_dev("    port: 5432\n", "    port: {{ cycler.__init__.__globals__ }}\n"),
        f"{PG_DEV}:11:1",
        "template.outputs: the template reaches outside the sandbox",
    ),
    Bad(
        "secret-literal-from-template",
        {PG_DEV: PG_DEV_YAML + SECRET_MANIFEST_TEMPLATE},
        f"{PG_DEV}:14:14",
        "manifest 1: a Secret with literal data or stringData would put secret values in git",
    ),
    Bad(
        "secret-literal-static",
        {PG_PROD: PG_PROD_YAML + SECRET_MANIFEST_STATIC},
        f"{PG_PROD}:14:5",
        "a Secret with literal data or stringData would put secret values in git",
        dependents=1,
    ),
    Bad(
        "template-syntax-error",
        _pg_dev("name: {{ resource.uid }}\n      spec", "name: {{ resource.uid }\n      spec"),
        f"{PG_DEV}:18:1",
        "template.manifests: template syntax error: unexpected '}'",
        dependents=1,
    ),
    Bad(
        "template-undefined-variable",
        _pg_dev("    port: 5432\n", "    port: {{ resource.params.port }}\n"),
        f"{PG_DEV}:11:1",
        "template.outputs: undefined value in template: 'dict object' has no attribute 'port'",
    ),
    Bad(
        "template-renders-non-yaml",
        _pg_dev("    port: 5432\n", "    port: [5432\n"),
        f"{PG_DEV}:12:13",
        "template.outputs rendered invalid YAML",
    ),
    Bad(
        "definition-type-not-folder",
        _pg_dev("type: postgres", "type: mysql"),
        f"{PG_DEV}:4:7",
        "type 'mysql' differs from its folder definitions/postgres/",
        dependents=1,
    ),
    Bad(
        "definition-id-not-file-name",
        _pg_dev("id: pg-dev", "id: pg-devel"),
        f"{PG_DEV}:3:5",
        "id 'pg-devel' differs from the file name: rename one so both are 'pg-dev'",
        dependents=1,
    ),
    # -- environments and settings ---------------------------------------------------------------------------
    Bad(
        "environment-id-not-file-name",
        {DEV_ENV: DEVELOPMENT_YAML.replace("id: development", "id: dev")},
        f"{DEV_ENV}:3:5",
        "id 'dev' differs from the file name: rename one so both are 'development'",
    ),
    Bad(
        "environment-not-listed",
        {"environments/qa.yaml": DEVELOPMENT_YAML.replace("id: development", "id: qa")},
        "environments/qa.yaml:1:1",
        "environment 'qa' is not listed in platform.yaml `environments`",
    ),
    Bad(
        "override-for-unknown-environment",
        {"workloads/team-a/api/overrides.staging.yaml": "containers:\n  main:\n    image: x\n"},
        "workloads/team-a/api/overrides.staging.yaml:1:1",
        "override for unknown environment 'staging': environments are development, production",
    ),
    Bad(
        "namespace-rule-unknown-placeholder",
        {DEV_ENV: DEVELOPMENT_YAML.replace('"{team}-{env}"', '"{team}-{cluster}"')},
        f"{DEV_ENV}:5:12",
        "namespace: '{team}-{cluster}' has an invalid format",
    ),
    Bad(
        "namespace-rule-not-a-dns-label",
        {DEV_ENV: DEVELOPMENT_YAML.replace('"{team}-{env}"', '"{team}-"')},
        f"{DEV_ENV}:5:12",
        "namespace rule '{team}-' must be a DNS label",
    ),
    # -- size limits -----------------------------------------------------------------------------------------
    Bad(
        "definition-over-size-limit",
        {"platform.yaml": PLATFORM_YAML + "limits:\n  maxFileBytes: 300\n"},
        f"{PG_DEV}:1:1",
        f"file is {len(PG_DEV_YAML)} bytes, over the limit of 300 (platform.yaml limits.maxFileBytes)",
        dependents=1,
    ),
    Bad(
        "score-file-over-size-limit",
        {
            "platform.yaml": PLATFORM_YAML + "limits:\n  maxFileBytes: 1000\n",
            API: API_SCORE + "# " + "x" * 1000 + "\n",
        },
        f"{API}:1:1",
        f"file is {len(API_SCORE) + 1003} bytes, over the limit of 1000",
    ),
    Bad(
        "referenced-file-over-size-limit",
        {
            "platform.yaml": PLATFORM_YAML + "limits:\n  maxFileBytes: 1000\n",
            "workloads/team-a/api/big.txt": "x" * 1001,
        },
        "workloads/team-a/api/big.txt:1:1",
        "file is 1001 bytes, over the limit of 1000",
    ),
]


def _error_lines(output: str, location: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(f"{location}: ")]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_reports_bad_input(platform_repo: Path, case: Bad) -> None:
    write_files(platform_repo, case.files)
    before = snapshot_tree(platform_repo)

    code, output = run_cli(["validate"], platform_repo)

    assert code == 1, output
    lines = _error_lines(output, case.location)
    assert any(case.message in line and all(a in line for a in case.also) for line in lines), output
    total = case.count + case.dependents
    errors = "error" if total == 1 else "errors"
    files = "1 file" if not case.dependents else "2 files"
    assert output.splitlines()[-1].startswith(f"{total} {errors} in {files}"), output
    assert snapshot_tree(platform_repo) == before


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_render_refuses_bad_input_and_writes_nothing(platform_repo: Path, case: Bad) -> None:
    write_files(platform_repo, case.files)
    before = snapshot_tree(platform_repo)
    assert before, "the repo must have been rendered once"

    code, output = run_cli(["render"], platform_repo)

    assert code == 1, output
    lines = _error_lines(output, case.location)
    assert any(case.message in line and all(a in line for a in case.also) for line in lines), output
    total = case.count + case.dependents
    assert output.splitlines()[-1].startswith(f"nothing written: {total} problem(s)."), output
    assert snapshot_tree(platform_repo) == before


def test_at_least_thirty_distinct_bad_inputs() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("name", ["../../etc", "team-a/../../x", "/etc/passwd", "Team-A/api"])
def test_render_refuses_workload_names_that_escape(platform_repo: Path, name: str) -> None:
    before = snapshot_tree(platform_repo)

    code, output = run_cli(["render", "--workload", name], platform_repo)

    assert code == 2, output
    assert output.startswith(f"Error: {'no workload' if name.count('/') == 1 else repr(name) + ' is not'}"), (
        output
    )
    assert snapshot_tree(platform_repo) == before


def _break_api_and_change_web(repo: Path) -> None:
    write_files(
        repo,
        {
            API: API_SCORE.replace("db.host", "db.nope"),
            "workloads/team-b/web/score.yaml": WEB_SCORE.replace("web:2.0", "web:2.1"),
        },
    )


def test_render_keep_going_renders_the_valid_units(platform_repo: Path) -> None:
    _break_api_and_change_web(platform_repo)
    before = snapshot_tree(platform_repo)

    code, output = run_cli(["render", "--keep-going"], platform_repo)

    assert code == 1, output
    assert output.splitlines() == [
        f"{API}:8:16: containers.main.variables.DB_HOST: ${{resources.db.nope}}: resources.db has no 'nope' "
        "(known: host, password, port)",
        "rendered 1 units in 2 environments: 4 file(s) written, 0 removed",
    ]
    after = snapshot_tree(platform_repo)
    changed = changed_paths(before, after)
    assert changed == [
        "rendered/development/team-b/web/gitops-engine.lock",
        "rendered/development/team-b/web/manifest.yaml",
        "rendered/production/team-b/web/gitops-engine.lock",
        "rendered/production/team-b/web/manifest.yaml",
    ]
    assert (
        b"image: registry.example.com/web:2.1\n"
        in rendered_objects(after)["rendered/production/team-b/web/deployment-web.yaml"]
    )
    # The broken workload keeps its last rendered output, untouched and complete.
    assert {p: c for p, c in after.items() if "/team-a/api/" in p} == {
        p: c for p, c in before.items() if "/team-a/api/" in p
    }
    assert sorted(after) == sorted(before)


def test_keep_going_keeps_shared_resources_of_failed_workloads(template_repo: Path) -> None:
    """Every workload fails (the workload definition is broken) before reaching its shared resources: the shared
    resources' manifests stay, as every failed unit's do."""
    default = template_repo / "definitions/workload/workload-default.yaml"
    default.write_text(default.read_text().replace("    replicas: 1\n", "    replicas: 1\n    replica: 2\n"))
    before = snapshot_tree(template_repo)

    code, output = run_cli(["render", "--keep-going"], template_repo)

    assert code == 1, output
    assert output.splitlines()[-1] == "rendered 10 units in 3 environments: 0 file(s) written, 0 removed"
    assert "rendered/staging/_shared/order-events/manifest.yaml" in before
    assert snapshot_tree(template_repo) == before


def test_render_without_keep_going_writes_nothing(platform_repo: Path) -> None:
    _break_api_and_change_web(platform_repo)
    before = snapshot_tree(platform_repo)

    code, output = run_cli(["render"], platform_repo)

    assert code == 1, output
    assert output.splitlines()[-1] == (
        "nothing written: 1 problem(s). Fix them, or pass --keep-going to render the units that are valid and "
        "leave the others as they are"
    )
    assert snapshot_tree(platform_repo) == before


def test_validate_collects_problems_of_several_workloads(platform_repo: Path) -> None:
    write_files(
        platform_repo,
        {
            API: API_SCORE.replace("db.host", "db.nope"),
            "workloads/team-b/web/score.yaml": WEB_SCORE.replace(
                "image: registry.example.com/web:2.0", "image: ."
            ),
        },
    )

    code, output = run_cli(["validate"], platform_repo)

    assert code == 1
    assert output.splitlines() == [
        f"{API}:8:16: containers.main.variables.DB_HOST: ${{resources.db.nope}}: resources.db has no 'nope' "
        "(known: host, password, port)",
        "workloads/team-b/web/score.yaml:6:12: image '.' means 'build me' in score-compose; a platform repo deploys "
        "built images: set an image reference (for example in overrides.<env>.yaml) such as "
        "registry.example.com/app:1.2.3",
        "2 errors in 2 files",
    ]


def test_a_namespace_clash_leaves_the_namespace_to_the_workload_already_rendered(
    make_platform: Callable[..., Path],
) -> None:
    """team-b/api is rendered into namespace 'development'; team-a/api (first in path order) arrives with the same
    name: it is the one refused, also when rendered on its own, and nothing is written."""
    repo = make_platform(
        {
            DEV_ENV: DEVELOPMENT_YAML.replace('"{team}-{env}"', '"{env}"'),
            API: None,
            "workloads/team-b/api/score.yaml": API_SCORE,
        }
    )
    code, output = run_cli(["render"], repo)
    assert code == 0, output
    write_files(repo, {API: API_SCORE})
    before = snapshot_tree(repo)

    for args in (["render"], ["render", "--workload", "team-a/api"], ["validate"]):
        code, output = run_cli(args, repo)

        assert code == 1, output
        assert (
            f"{API}:1:1: workload 'api' renders into namespace 'development' of development, as does "
            "workloads/team-b/api/score.yaml: names must be unique in a namespace; rename one or change the "
            f"namespace rule in {DEV_ENV}" in output
        )
        assert "workloads/team-b/api/score.yaml:1:1" not in output
        assert snapshot_tree(repo) == before


def test_an_object_clash_leaves_the_object_to_the_unit_already_holding_it(
    make_platform: Callable[..., Path],
) -> None:
    """team-a/api-db is rendered with its Service api-db; team-a/api (first in path order) arrives with a postgres
    resource `db`, whose Service is api-db too: team-a/api is refused and nothing is written."""
    repo = make_platform(
        {
            API: None,
            "workloads/team-a/api-db/score.yaml": WEB_SCORE.replace("name: web", "name: api-db")
            + "service:\n  ports:\n    sql:\n      port: 5432\n",
        }
    )
    code, output = run_cli(["render"], repo)
    assert code == 0, output
    write_files(repo, {API: API_SCORE})
    before = snapshot_tree(repo)

    for args in (["render"], ["validate"]):
        code, output = run_cli(args, repo)

        assert code == 1, output
        assert (
            f"{API}:1:1: rendered/development/team-a/api renders Service api-db in namespace team-a-development, as "
            "rendered/development/team-a/api-db does: rename the resource or workload so their object names differ"
            in output
        )
        assert "workloads/team-a/api-db/score.yaml:1:1" not in output
        assert snapshot_tree(repo) == before

"""What a new team hits in its first hour (issue 10), on the real template as `gitops-engine init` creates it.

Each test starts from the mistake a new user makes (the repros of the issue) and asserts the exact answer: where the
error is reported, what it says, the exit code, and that nothing is written.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.golden import snapshot_tree
from testing.repos import git
from testing.world import World

from gitops_engine.commands.demo import engine_command
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import default_identity
from gitops_engine.reconcile import process as process_repo

CHECKOUT = "workloads/payments/checkout-api/score.yaml"
PRODUCT_OVERRIDE = "workloads/catalog/product-api/overrides.production.yaml"
SERVICE_PORT = "definitions/service-port/service-port-default.yaml"


@pytest.fixture
def repo(template_repo: Path) -> Path:
    """`gitops-engine init`'s platform repo: what a new team starts from."""
    return template_repo


def edit(repo: Path, path: str, old: str, new: str) -> None:
    text = (repo / path).read_text()
    assert old in text, f"{old!r} not in {path}"
    (repo / path).write_text(text.replace(old, new, 1))


def refused(repo: Path) -> str:
    """`validate` fails, `render` writes nothing; returns validate's output."""
    before = snapshot_tree(repo)
    code, output = run_cli(["validate"], repo)
    assert code == 1, output
    code, rendered = run_cli(["render"], repo)
    assert code == 1, rendered
    assert snapshot_tree(repo) == before
    return output


# -------------------------------------------------------------------------------------------------------------
# 1. Overrides refine what score.yaml declares


def test_a_misspelt_container_in_an_override_is_an_error_not_a_second_container(repo: Path) -> None:
    edit(repo, PRODUCT_OVERRIDE, "  api:", "  apii:")

    assert refused(repo) == (
        f"{PRODUCT_OVERRIDE}:3:3: container 'apii' is not declared in score.yaml (did you mean 'api'?): an override "
        "only refines the containers score.yaml declares (api); to add one, declare it in score.yaml for every "
        "environment\n"
        "1 error in 1 file\n"
    )


@pytest.mark.parametrize(
    ("addition", "line"),
    [
        (
            "resources:\n  cache:\n    type: redis\n",
            ":12:3: resource 'cache' is not declared in score.yaml: an override only refines the resources "
            "score.yaml declares (db, dns, env, route, search); to add one, declare it in score.yaml for every "
            "environment",
        ),
        (
            "service:\n  ports:\n    htp:\n      port: 81\n",
            ":13:5: service port 'htp' is not declared in score.yaml (did you mean 'http'?): an override only "
            "refines the service ports score.yaml declares (http, management); to add one, declare it in "
            "score.yaml for every environment",
        ),
        (
            "containers:\n  worker:\n    image: ghcr.io/example-org/worker:1\n",
            ":3:3: container 'worker' is not declared in score.yaml: an override only refines the containers "
            "score.yaml declares (api); to add one, declare it in score.yaml for every environment",
        ),
    ],
    ids=["resource", "service-port", "container"],
)
def test_an_override_cannot_add_what_score_yaml_does_not_declare(
    repo: Path, addition: str, line: str
) -> None:
    text = (repo / PRODUCT_OVERRIDE).read_text()
    if addition.startswith("containers:"):  # a second `containers:` key would be a YAML error of its own
        addition = addition.replace("containers:\n", "")
        text = text.replace("containers:\n", "containers:\n" + addition, 1)
        addition = ""
    (repo / PRODUCT_OVERRIDE).write_text(text + addition)

    assert refused(repo) == f"{PRODUCT_OVERRIDE}{line}\n1 error in 1 file\n"


def test_an_override_may_refine_a_declared_volume_but_not_add_one(repo: Path) -> None:
    media = "workloads/catalog/media-service"
    override = f"{media}/overrides.production.yaml"
    (repo / override).write_text(
        "containers:\n  media:\n    volumes:\n      /var/cache/thumbnails:\n        readOnly: true\n"
    )
    code, output = run_cli(["validate"], repo)
    assert (code, output) == (0, "ok: 9 workloads in 3 environments are valid\n")

    (repo / override).write_text(
        "containers:\n  media:\n    volumes:\n      /var/cache/thumbnail:\n        readOnly: true\n"
    )

    assert refused(repo) == (
        f"{override}:4:7: volume '/var/cache/thumbnail' is not declared in score.yaml (did you mean "
        "'/var/cache/thumbnails'?): an override only refines the volumes score.yaml declares "
        "(/var/cache/thumbnails); to add one, declare it in score.yaml for every environment\n"
        "1 error in 1 file\n"
    )


def test_an_override_for_a_misspelt_environment_says_which_was_meant(repo: Path) -> None:
    (repo / PRODUCT_OVERRIDE).rename(repo / PRODUCT_OVERRIDE.replace(".production.", ".prod."))

    assert refused(repo) == (
        "workloads/catalog/product-api/overrides.prod.yaml:1:1: override for unknown environment 'prod' (did you "
        "mean 'production'?): environments are development, staging, production\n"
        "1 error in 1 file\n"
    )


# -------------------------------------------------------------------------------------------------------------
# 2. A workload's mistake in a lookup is reported at its Score file


def test_a_misspelt_workload_in_a_service_port_param_is_reported_at_the_score_file(repo: Path) -> None:
    edit(repo, CHECKOUT, "workload: ledger\n", "workload: ledgr\n")

    assert refused(repo) == (
        f"{CHECKOUT}:75:17: resource 'ledger' (service-port) of payments/checkout-api: no workload named 'ledgr' "
        f"(did you mean 'ledger'?); {SERVICE_PORT}:14 looks it up (in development, staging, production)\n"
        "1 error in 1 file\n"
    )
    code, annotations = run_cli(["validate", "--format", "github"], repo)
    assert code == 1
    assert [line for line in annotations.splitlines() if line.startswith("::")] == [
        f"::error file={CHECKOUT},line=75,col=17,title=gitops-engine%3A payments/checkout-api::resource 'ledger' "
        "(service-port) of payments/checkout-api: no workload named 'ledgr' (did you mean 'ledger'?); "
        f"{SERVICE_PORT}:14 looks it up (in development, staging, production)"
    ]


def test_a_misspelt_port_in_a_service_port_param_is_reported_at_the_score_file(repo: Path) -> None:
    edit(repo, CHECKOUT, "port: grpc\n", "port: grpcc\n")

    assert refused(repo) == (
        f"{CHECKOUT}:76:13: resource 'ledger' (service-port) of payments/checkout-api: workload payments/ledger "
        "has no port 'grpcc' (did you mean 'grpc'?): its service ports are grpc, metrics; "
        f"{SERVICE_PORT}:16 looks it up (in development, staging, production)\n"
        "1 error in 1 file\n"
    )


def test_a_mistake_in_the_definition_itself_stays_at_the_definition(repo: Path) -> None:
    edit(repo, SERVICE_PORT, "target.ports[resource.params.port]", "target.port[resource.params.port]")

    output = refused(repo)

    # One finding per unit that uses the definition (three), each at the definition's line.
    problem = "template.outputs: undefined value in template: 'dict object' has no attribute 'port'"
    assert output == f"{SERVICE_PORT}:16:1: {problem}\n" * 3 + "3 errors in 1 file\n"


# -------------------------------------------------------------------------------------------------------------
# 4. A bare workload name means the caller's own team first


def _add_workload(repo: Path, key: str, like: str, *, extra: str = "") -> None:
    source = repo / "workloads" / like
    target = repo / "workloads" / key
    shutil.copytree(source, target)
    score = target / "score.yaml"
    name = key.split("/", 1)[1]
    score.write_text(score.read_text().replace(f"name: {like.split('/', 1)[1]}", f"name: {name}", 1) + extra)


def test_another_teams_workload_of_the_same_name_does_not_break_a_lookup(repo: Path) -> None:
    _add_workload(repo, "catalog/ledger", "payments/ledger")

    code, output = run_cli(["validate"], repo)

    assert (code, output) == (0, "ok: 10 workloads in 3 environments are valid\n")
    code, output = run_cli(["render", "--workload", "payments/checkout-api", "--check"], repo)
    assert (code, output) == (0, "rendered/ is up to date\n")


def test_a_bare_name_that_several_other_teams_have_is_ambiguous_and_says_how_to_write_it(repo: Path) -> None:
    _add_workload(repo, "catalog/ledger", "payments/ledger")
    edit(repo, "workloads/identity/accounts-api/score.yaml", "\nresources:\n", LEDGER_LOOKUP)

    output = refused(repo)

    assert output.splitlines() == [
        "workloads/identity/accounts-api/score.yaml:58:17: resource 'books' (service-port) of "
        "identity/accounts-api: workload name 'ledger' is ambiguous: catalog/ledger, payments/ledger have it and "
        "team identity has none; write team/name, such as 'catalog/ledger'; "
        f"{SERVICE_PORT}:14 looks it up (in development, staging, production)",
        "1 error in 1 file",
    ]
    edit(repo, "workloads/identity/accounts-api/score.yaml", "workload: ledger", "workload: payments/ledger")
    assert run_cli(["validate"], repo) == (0, "ok: 10 workloads in 3 environments are valid\n")


LEDGER_LOOKUP = (
    "\nresources:\n  books:\n    type: service-port\n    params:\n      workload: ledger\n      port: grpc\n"
)


# -------------------------------------------------------------------------------------------------------------
# Papercuts: every problem once, with what was probably meant


def test_every_unresolved_resource_is_reported_once_for_all_environments(repo: Path) -> None:
    edit(repo, CHECKOUT, "type: postgres\n", "type: postgress\n")
    edit(repo, CHECKOUT, "type: redis\n", "type: redsi\n")

    output = refused(repo)

    types = (
        "amqp, dns, elasticsearch, endpoint, environment, kafka-topic, llm-model, mongodb, mssql, mysql, postgres, "
        "redis, route, s3, service, service-port, volume"
    )
    assert output.splitlines() == [
        f"{CHECKOUT}:62:11: resource 'db': no definition provides type 'postgress' (did you mean 'postgres'?); "
        f"types with definitions: {types}. Fix the type, or ask the infra team for a definition (in development, "
        "staging, production)",
        f"{CHECKOUT}:64:11: resource 'cache': no definition provides type 'redsi' (did you mean 'redis'?); "
        f"types with definitions: {types}. Fix the type, or ask the infra team for a definition (in development, "
        "staging, production)",
        "2 errors in 1 file",
    ]


# -------------------------------------------------------------------------------------------------------------
# 3. preview never shows a workload that fails to render as deleted


def test_preview_of_a_workload_that_fails_to_render_shows_no_deletion(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "-b", "typo")
    edit(repo, CHECKOUT, "type: postgres\n", "type: postgress\n")
    git(repo, "commit", "--quiet", "-am", "typo")

    code, output = run_cli(["preview", "--base", "main"], repo)

    assert code == 1
    assert output == (
        "<!-- gitops-engine:preview -->\n"
        "## gitops-engine preview\n"
        "\n"
        "**1 problem(s)** — the check fails until they are fixed:\n"
        "\n"
        f"- `{CHECKOUT}:62:11`: resource 'db': no definition provides type 'postgress' (did you mean "
        "'postgres'?); types with definitions: amqp, dns, elasticsearch, endpoint, environment, kafka-topic, "
        "llm-model, mongodb, mssql, mysql, postgres, redis, route, s3, service, service-port, volume. Fix the type, "
        "or ask the infra team for a "
        "definition (in development, staging, production)\n"
        "\n"
        "Failing to render, so left as they are after merge: `payments/checkout-api`.\n"
        "\n"
        "No rendered manifests change.\n"
    )


# -------------------------------------------------------------------------------------------------------------
# 6. A second run rewrites no pull request: bodies are a function of the state


@pytest.fixture
def site(template_world: World) -> World:
    return template_world


@pytest.mark.parametrize("with_base", [True, False], ids=["push-event", "reconcile"])
def test_a_second_run_leaves_a_shared_resources_pull_request_as_it_is(site: World, with_base: bool) -> None:
    kafka = "definitions/kafka-topic/kafka-topic-production.yaml"
    site.push_change(
        {
            **site.edit(kafka, "retentionHours', 168", "retentionHours', 72"),
            **site.edit(
                "definitions/postgres/postgres-managed.yaml", "refreshInterval: 1h", "refreshInterval: 2h"
            ),
            **site.edit("definitions/redis/redis-managed.yaml", "port: 6379", "port: 6380"),
        },
        "Production: shorter topic retention, managed database and cache settings",
    )
    base = site.before if with_base else None  # CI's push workflow passes the event's base
    first = process_repo(site.engine, LocalForge(site.remote), default_identity(), base=base)
    assert not first.findings
    shared = [p for p in first.opened if p.branch == "gitops-engine/_shared/order-events"]
    assert len(shared) == 1 and len(first.opened) > 1
    refs = site.refs()

    forge = LocalForge(site.remote)
    second = process_repo(site.engine, forge, default_identity(), base=base)

    assert (second.opened, second.updated, second.closed, second.committed) == ([], [], [], None)
    assert forge.stats.writes == 0 and site.refs() == refs
    (body,) = [p.body for p in forge.list_pull_requests("open") if p.branch == shared[0].branch]
    assert body == shared[0].body
    assert f"- {kafka} changed" in body


# -------------------------------------------------------------------------------------------------------------
# Papercuts: the demo shows the product and says how to go on


def test_the_demo_shows_a_pull_request_and_ends_with_commands_that_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = run_cli(["demo", "demo"], tmp_path)  # a relative folder, as people type it

    assert code == 0, output
    root = tmp_path / "demo"
    excerpt = output[
        output.index("   pull request #1 as its team sees it") : output.index(
            "   wave 2: 2 production part(s) wait until staging is live"
        )
    ]
    assert re.fullmatch(
        r"   pull request #1 as its team sees it \(an excerpt of its body\):\n"
        r"     \| # 1 unit\(s\) of team `identity`: rendered manifests change\n"
        r"     \|\n"
        r"     \| ### Definitions\n"
        r"     \|\n"
        r"     \| \| definition \| before \| after \|\n"
        r"     \| \|---\|---\|---\|\n"
        r"     \| \| `postgres-incluster` \| Platform repo from the gitops-engine template \([0-9a-f]{7}\) `[0-9a-f]{12}` "
        r"\| Upgrade PostgreSQL 16\.4 -> 17\.0 \([0-9a-f]{7}\) `[0-9a-f]{12}` \|\n"
        r"     \|\n"
        r"     \| ```diff\n"
        r"     \| --- a/rendered/staging/identity/accounts-api/manifest.yaml: StatefulSet accounts-api-db\n"
        r"     \| \+\+\+ b/rendered/staging/identity/accounts-api/manifest.yaml: StatefulSet accounts-api-db\n"
        r"     \| -        image: docker.io/library/postgres:16.4\n"
        r"     \| \+        image: docker.io/library/postgres:17.0\n"
        r"     \| … \(the whole diff is in the pull request\)\n",
        excerpt,
    ), excerpt
    assert f"   the demo's folder:    {root} (remove it with: rm -rf {root})\n" in output
    (try_line,) = [line for line in output.splitlines() if line.startswith("   try: ")]
    # Under the test runner this process is not the gitops-engine script: the line says `python -m`.
    assert try_line.startswith(f"   try: cd {root / 'platform'} && {sys.executable} -m gitops_engine pulls")
    tried = subprocess.run(try_line[len("   try: ") :], shell=True, capture_output=True, text=True)
    assert tried.returncode == 0, tried.stderr
    assert (
        "#1\tmerged\tidentity/accounts-api\tUpdate identity (1 workload): postgres-incluster " in tried.stdout
    )
    assert "postgres-incluster (postgres, version " in tried.stdout


def test_the_demos_command_is_the_script_itself_when_path_does_not_find_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = Path(sys.executable).parent / "gitops-engine"
    assert script.is_file(), "the package installs its console script beside the interpreter"
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.setenv("PATH", "/nonexistent")

    assert engine_command() == str(script.resolve())

    monkeypatch.setenv("PATH", str(script.parent))
    assert engine_command() == "gitops-engine"


def test_every_misspelt_output_is_reported_with_what_was_meant(repo: Path) -> None:
    edit(repo, CHECKOUT, "${resources.db.host}", "${resources.db.hots}")
    edit(repo, CHECKOUT, "${resources.cache.port}", "${resources.cach.port}")

    assert refused(repo).splitlines() == [
        f"{CHECKOUT}:21:21: containers.api.variables.DATABASE_URL: ${{resources.db.hots}}: resources.db has no "
        "'hots' (did you mean 'host'?) (known: database, host, name, password, port, username)",
        f"{CHECKOUT}:23:19: containers.api.variables.REDIS_PORT: ${{resources.cach.port}}: unknown resource "
        "'cach' (did you mean 'cache'?) (declared: accounts, cache, db, dns, env, ledger, orders, route)",
        "2 errors in 1 file",
    ]


def test_a_score_yml_is_told_to_be_renamed(repo: Path) -> None:
    mailer = repo / "workloads/identity/mailer"
    (mailer / "score.yaml").rename(mailer / "score.yml")

    output = refused(repo)

    assert (
        "workloads/identity/mailer/score.yml: the Score file must be named score.yaml: rename it (git mv "
        "workloads/identity/mailer/score.yml workloads/identity/mailer/score.yaml)\n"
    ) in output


def test_usage_lists_environments_in_platform_yaml_order(repo: Path) -> None:
    code, output = run_cli(["usage", "dns-subdomain"], repo)

    assert code == 0, output
    workloads = [
        "catalog/media-service",
        "catalog/product-api",
        "identity/accounts-api",
        "payments/checkout-api",
    ]
    assert output.splitlines()[1:] == [
        f"  {unit} [{env}] dns: current"
        for env in ("development", "staging", "production")
        for unit in workloads
    ]

"""Speed without changing answers: render and validate on worker processes, `validate --base` proportional to the
change, imports only when needed."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.golden import snapshot_tree
from testing.repos import commit_all, git, write_files

BROKEN = {
    # A reference to a resource the workload does not declare, and a Score file that is not YAML.
    "workloads/catalog/product-api/score.yaml": ("${resources.db.host}", "${resources.nope.host}"),
    "workloads/identity/mailer/score.yaml": ("metadata:", "metadata: [\n"),
    # A shared topic declared differently from its other users.
    "workloads/payments/fraud-scoring/score.yaml": (
        "    id: order-events\n",
        "    id: order-events\n    class: big\n",
    ),
}


def _break(repo: Path) -> None:
    for path, (old, new) in BROKEN.items():
        text = (repo / path).read_text()
        assert old in text, path
        write_files(repo, {path: text.replace(old, new, 1)})


def test_render_and_validate_say_and_write_the_same_with_one_and_two_workers(
    template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.rmtree(template_repo / "rendered")
    _break(template_repo)
    results: dict[str, tuple[object, ...]] = {}
    for workers in ("1", "2"):
        repo = tmp_path / f"workers-{workers}"
        shutil.copytree(template_repo, repo, symlinks=True)
        monkeypatch.setenv("GITOPS_ENGINE_WORKERS", workers)
        validated = run_cli(["validate"], repo)
        rendered = run_cli(["render", "--keep-going"], repo)
        results[workers] = (validated, rendered, snapshot_tree(repo))

    assert results["2"] == results["1"]
    (code, output), (render_code, render_output), tree = results["1"]
    assert code == 1 and render_code == 1
    assert output == (
        "workloads/catalog/product-api/score.yaml:20:30: containers.api.variables.SPRING_DATASOURCE_URL: "
        "${resources.nope.host}: unknown resource 'nope' (declared: db, dns, env, route, search)\n"
        "workloads/identity/accounts-api/score.yaml:66:17: resource 'mailer' (service-port) of "
        "identity/accounts-api: workload identity/mailer is invalid (workloads/identity/mailer/score.yaml:9:8: "
        "invalid YAML: did not find expected ',' or ']'); definitions/service-port/service-port-default.yaml:14 "
        "looks it up (in development, staging, production)\n"
        "workloads/identity/mailer/score.yaml:9:8: invalid YAML: did not find expected ',' or ']'\n"
        + "".join(
            "workloads/payments/fraud-scoring/score.yaml:34:5: shared resource 'order-events' is declared with a "
            "different type, class or params than in workloads/catalog/product-search/score.yaml "
            f"({env}): a shared resource must be declared the same way everywhere\n"
            for env in ("development", "production", "staging")
        )
        + "6 errors in 4 files\n"
    )
    assert render_output.endswith("rendered 7 units in 3 environments: 36 file(s) written, 0 removed\n")
    assert not any(
        p in path
        for p in (
            "/catalog/product-api/",
            "/identity/mailer/",
            "/identity/accounts-api/",
            "/payments/fraud-scoring/",
        )
        for path in tree
    )
    assert any("/payments/checkout-api/" in path for path in tree)


# -- validate --base ---------------------------------------------------------------------------------------------

Edit = Callable[[Path, random.Random], None]


def _workloads(repo: Path) -> list[str]:
    return sorted(
        p.parent.relative_to(repo / "workloads").as_posix() for p in repo.glob("workloads/*/*/score.yaml")
    )


def _edit(repo: Path, path: str, old: str, new: str) -> None:
    text = (repo / path).read_text()
    assert old in text, (path, old)
    (repo / path).write_text(text.replace(old, new, 1))


def _unknown_key(repo: Path, rng: random.Random) -> None:
    key = rng.choice(_workloads(repo))
    _edit(repo, f"workloads/{key}/score.yaml", "\nmetadata:", "\nbogus: 1\nmetadata:")


def _not_yaml(repo: Path, rng: random.Random) -> None:
    key = rng.choice(_workloads(repo))
    _edit(repo, f"workloads/{key}/score.yaml", "\ncontainers:", "\ncontainers: [\n")


def _unknown_reference(repo: Path, rng: random.Random) -> None:
    keys = [
        k for k in _workloads(repo) if "${resources." in (repo / "workloads" / k / "score.yaml").read_text()
    ]
    key = rng.choice(keys)
    _edit(repo, f"workloads/{key}/score.yaml", "${resources.", "${resources.nope")


def _unknown_type(repo: Path, rng: random.Random) -> None:
    keys = [
        k for k in _workloads(repo) if "\nresources:\n" in (repo / "workloads" / k / "score.yaml").read_text()
    ]
    key = rng.choice(keys)
    _edit(
        repo,
        f"workloads/{key}/score.yaml",
        "\nresources:\n",
        "\nresources:\n  extra:\n    type: no-such-type\n",
    )


def _removed_lookup(repo: Path, rng: random.Random) -> None:
    """A workload another one looks up is removed: the looker fails."""
    shutil.rmtree(repo / "workloads" / "catalog" / "product-search")


def _broken_definition(repo: Path, rng: random.Random) -> None:
    definitions = sorted(p for p in (repo / "definitions").glob("*/*.yaml"))
    path = rng.choice(definitions).relative_to(repo).as_posix()
    _edit(repo, path, "\nid:", "\nbogus: 1\nid:")


def _new_team_without_owner(repo: Path, rng: random.Random) -> None:
    key = rng.choice(_workloads(repo))
    target = repo / "workloads" / "newteam" / key.split("/")[1]
    shutil.copytree(repo / "workloads" / key, target)


EDITS: list[Edit] = [
    _unknown_key,
    _not_yaml,
    _unknown_reference,
    _unknown_type,
    _removed_lookup,
    _broken_definition,
    _new_team_without_owner,
]


def _findings(output: str) -> list[str]:
    """The finding lines (the closing count aside, which counts what each run checked)."""
    return output.splitlines()[:-1]


@pytest.mark.parametrize("seed", range(6))
def test_validate_base_finds_what_a_full_validate_finds_in_the_change(template_repo: Path, seed: int) -> None:
    rng = random.Random(seed)
    edits = rng.sample(EDITS, rng.randint(1, 3))
    git(template_repo, "checkout", "--quiet", "-b", "change")
    for edit in edits:
        edit(template_repo, rng)
    commit_all(template_repo, "bad edits")

    full_code, full = run_cli(["validate"], template_repo)
    ranged_code, ranged = run_cli(["validate", "--base", "main"], template_repo)

    assert full_code != 0, (edits, full)
    assert (ranged_code, _findings(ranged)) == (full_code, _findings(full)), [e.__name__ for e in edits]


def test_validate_base_of_a_good_change_counts_only_what_it_reaches(template_repo: Path) -> None:
    git(template_repo, "checkout", "--quiet", "-b", "change")
    text = (template_repo / "workloads/payments/ledger/score.yaml").read_text()
    write_files(template_repo, {"workloads/payments/ledger/score.yaml": text + "# a comment\n"})
    commit_all(template_repo, "a comment")

    assert run_cli(["validate", "--base", "main"], template_repo) == (
        0,
        "ok: 1 workloads in 3 environments are valid\n",
    )


# -- start-up ----------------------------------------------------------------------------------------------------

# jinja2 is not among them yet: loading the definitions compiles every template (syntax errors are reported
# with the definition), and the template's workloads all use definitions.
HEAVY = ("jsonschema", "httpx")


def test_a_single_workload_change_imports_no_schema_or_http_library(template_repo: Path) -> None:
    """`validate --base` of a change to one workload: the JSON-schema and HTTP libraries stay unimported
    (measured in a fresh interpreter, as the CLI runs)."""
    git(template_repo, "checkout", "--quiet", "-b", "change")
    text = (template_repo / "workloads/payments/ledger/score.yaml").read_text()
    write_files(template_repo, {"workloads/payments/ledger/score.yaml": text + "# a comment\n"})
    commit_all(template_repo, "a comment")
    probe = (
        "import sys\n"
        "from gitops_engine.cli import main\n"
        "try:\n"
        "    main(['validate', '--base', 'main'])\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=template_repo, capture_output=True, text=True, check=False
    )
    assert proc.stdout.splitlines()[-1] == "0 []", proc.stdout + proc.stderr

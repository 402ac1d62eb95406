"""Matching: which definition provides a resource in an environment (gitops_engine.matching)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import API_SCORE, BASE_PLATFORM, run_cli

from gitops_engine.git import Git
from gitops_engine.loading import GitSource, WorkTreeSource, load_snapshot
from gitops_engine.matching import (
    Ambiguous,
    NoMatch,
    ResourceKey,
    criterion_matches,
    match_definition,
    specificity,
)
from gitops_engine.model import Criterion, Definition, Environment
from gitops_engine.render import Renderer, UnitFailure
from gitops_engine.yamlio import dump, load_document

DEV = Environment(
    id="dev-eu",
    type="development",
    namespace_rule="{team}",
    labels={},
    values={},
    path="environments/dev-eu.yaml",
    blob="0" * 40,
)
PROD = Environment(
    id="prod-eu",
    type="production",
    namespace_rule="{team}",
    labels={},
    values={},
    path="environments/prod-eu.yaml",
    blob="1" * 40,
)
DB = ResourceKey(type="postgres", class_="default", res_id="db", team="team-a", workload="api")
LARGE_DB = ResourceKey(type="postgres", class_="large", res_id="db", team="team-a", workload="api")
SHARED_DB = ResourceKey(type="postgres", class_="default", res_id="main-db", team=None, workload=None)


def definition(name: str, *criteria: dict[str, str]) -> Definition:
    """A real Definition record, built from the YAML text a definition file would hold."""
    path = f"definitions/postgres/{name}.yaml"
    data: dict[str, Any] = {
        "apiVersion": "gitops-engine.dev/v1",
        "kind": "ResourceDefinition",
        "id": name,
        "type": "postgres",
        "criteria": list(criteria),
        "driver": "static",
        "outputs": {"host": f"{name}.example.com"},
    }
    document = load_document(dump(data), path)
    return Definition(
        id=name,
        type="postgres",
        description="",
        criteria=tuple(
            Criterion(
                class_=c.get("class"),
                env_type=c.get("env_type"),
                env=c.get("env"),
                team=c.get("team"),
                workload=c.get("workload"),
                res_id=c.get("res_id"),
            )
            for c in criteria
        ),
        driver="static",
        path=path,
        blob=name.ljust(40, "0")[:40],
        document=document,
        static_outputs=document.data["outputs"],
    )


# -- precedence: res_id > workload > team > env > env_type ----------------------------------------------------
# Each step: one field set on the winner beats every less specific field set together on the loser.
PRECEDENCE = [
    (
        "res_id",
        {"res_id": "db"},
        {"workload": "api", "team": "team-a", "env": "dev-eu", "env_type": "development"},
    ),
    ("workload", {"workload": "api"}, {"team": "team-a", "env": "dev-eu", "env_type": "development"}),
    ("team", {"team": "team-a"}, {"env": "dev-eu", "env_type": "development"}),
    ("env", {"env": "dev-eu"}, {"env_type": "development"}),
    ("env_type", {"env_type": "development"}, {}),
]


@pytest.mark.parametrize(("step", "winner", "loser"), PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_precedence_step(step: str, winner: dict[str, str], loser: dict[str, str]) -> None:
    specific = definition("specific", winner)
    general = definition("general", loser)
    # The order of candidates must not matter.
    assert match_definition([general, specific], DB, DEV) is specific
    assert match_definition([specific, general], DB, DEV) is specific


@pytest.mark.parametrize(
    "field",
    ["res_id", "workload", "team", "env", "env_type"],
)
def test_a_set_field_that_differs_never_matches(field: str) -> None:
    other = {
        "res_id": "cache",
        "workload": "web",
        "team": "team-b",
        "env": "prod-eu",
        "env_type": "production",
    }
    mismatched = definition("mismatched", {field: other[field]})
    fallback = definition("fallback", {})
    assert criterion_matches(mismatched.criteria[0], DB, DEV) is False
    assert match_definition([mismatched, fallback], DB, DEV) is fallback


def test_specificity_is_that_of_the_best_matching_criterion() -> None:
    several = definition(
        "several", {"env_type": "production"}, {"team": "team-a"}, {"env_type": "development"}
    )
    assert specificity(several, DB, DEV) == (False, False, True, False, False)
    assert specificity(several, DB, PROD) == (False, False, True, False, False)
    no_team = ResourceKey("postgres", "default", "db", "team-b", "web")
    assert specificity(several, no_team, DEV) == (False, False, False, False, True)
    assert specificity(several, no_team, PROD) == (False, False, False, False, True)
    by_env = definition("by-env", {"env": "dev-eu"})
    assert match_definition([several, by_env], DB, DEV) is several  # team beats env
    assert match_definition([several, by_env], no_team, DEV) is by_env  # env beats env_type


# -- class: a filter, never a rank ----------------------------------------------------------------------------
def test_criterion_without_class_matches_only_default_class() -> None:
    anything = definition("anything", {})
    assert criterion_matches(anything.criteria[0], DB, DEV) is True
    assert criterion_matches(anything.criteria[0], LARGE_DB, DEV) is False
    with pytest.raises(NoMatch):
        match_definition([anything], LARGE_DB, DEV)


def test_class_mismatch_never_matches_however_specific() -> None:
    wrong_class = definition("wrong-class", {"class": "small", "res_id": "db", "workload": "api"})
    right_class = definition("right-class", {"class": "large"})
    assert match_definition([wrong_class, right_class], LARGE_DB, DEV) is right_class
    with pytest.raises(NoMatch):
        match_definition([wrong_class], LARGE_DB, DEV)


def test_explicit_default_class_matches_like_no_class() -> None:
    explicit = definition("explicit", {"class": "default", "env_type": "development"})
    assert match_definition([explicit], DB, DEV) is explicit
    with pytest.raises(NoMatch):
        match_definition([explicit], LARGE_DB, DEV)


def test_class_does_not_rank() -> None:
    with_class = definition("with-class", {"class": "default"})
    without_class = definition("without-class", {})
    with pytest.raises(Ambiguous) as caught:
        match_definition([with_class, without_class], DB, DEV)
    assert caught.value.tied == [with_class, without_class]
    # A class on the less specific side does not make it win either.
    classed = definition("classed", {"class": "large"})
    by_team = definition("by-team", {"class": "large", "team": "team-a"})
    assert match_definition([classed, by_team], LARGE_DB, DEV) is by_team


# -- shared resources -------------------------------------------------------------------------------------------
def test_shared_resources_match_with_team_and_workload_unset() -> None:
    by_team = definition("by-team", {"team": "team-a"})
    by_res_id = definition("by-res-id", {"res_id": "main-db"})
    everywhere = definition("everywhere", {})
    assert criterion_matches(by_team.criteria[0], SHARED_DB, DEV) is False
    assert match_definition([by_team, everywhere], SHARED_DB, DEV) is everywhere
    assert match_definition([by_team, everywhere, by_res_id], SHARED_DB, DEV) is by_res_id


# -- errors -----------------------------------------------------------------------------------------------------
def test_ambiguity_names_both_files() -> None:
    first = definition("first", {"env_type": "development"})
    second = definition("second", {"env_type": "development"})
    with pytest.raises(Ambiguous) as caught:
        match_definition([first, second], DB, DEV)
    assert str(caught.value) == (
        "definitions/postgres/first.yaml and definitions/postgres/second.yaml both match postgres resource 'db' "
        "(class 'default', team-a/api) in environment 'dev-eu' equally specifically: make one criterion more "
        "specific (res_id > workload > team > env > env_type)"
    )


def test_a_tie_below_the_winner_is_not_ambiguous() -> None:
    first = definition("first", {"env_type": "development"})
    second = definition("second", {"env_type": "development"})
    winner = definition("winner", {"env": "dev-eu"})
    assert match_definition([first, second, winner], DB, DEV) is winner


def test_no_match_names_resource_environment_and_definitions_considered() -> None:
    prod_only = definition("prod-only", {"env_type": "production"})
    other_team = definition("other-team", {"team": "team-b"})
    with pytest.raises(NoMatch) as caught:
        match_definition([prod_only, other_team], DB, DEV)
    assert str(caught.value) == (
        "no definition provides postgres resource 'db' (class 'default', team-a/api) in environment 'dev-eu' "
        "(type 'development'); definitions of type 'postgres' considered: definitions/postgres/prod-only.yaml, "
        "definitions/postgres/other-team.yaml. Add a criterion that matches, or ask the infra team for one"
    )


def test_no_match_for_an_unknown_type_says_none_were_considered() -> None:
    with pytest.raises(NoMatch) as caught:
        match_definition([], ResourceKey("postgress", "default", "db", "team-a", "api"), DEV)
    assert "definitions of type 'postgress' considered: none." in str(caught.value)


# -- through loading: definitions read from a real repo ---------------------------------------------------------
LAYERED = {
    "definitions/postgres/pg-dev.yaml": None,
    "definitions/postgres/pg-prod.yaml": None,
    "definitions/postgres/everywhere.yaml": """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: everywhere
type: postgres
criteria: [{}]
driver: static
outputs: {host: everywhere}
""",
    "definitions/postgres/team-a-prod.yaml": """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: team-a-prod
type: postgres
criteria:
  - {team: team-a, env_type: production}
driver: static
outputs: {host: team-a-prod}
""",
    "definitions/postgres/api-db.yaml": """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: api-db
type: postgres
criteria:
  - {workload: api, res_id: db, env: production}
driver: static
outputs: {host: api-db}
""",
}


def test_matching_definitions_loaded_from_a_repo(make_platform: Callable[..., Path]) -> None:
    repo = make_platform(
        {
            **LAYERED,
            "workloads/team-b/web/score.yaml": API_SCORE.replace("name: api", "name: web"),
        }
    )
    snapshot = load_snapshot(GitSource(Git(repo), "HEAD"))
    assert snapshot.findings == [] and snapshot.local_findings == []
    candidates = snapshot.definitions_of("postgres")
    assert [d.path for d in candidates] == [
        "definitions/postgres/api-db.yaml",
        "definitions/postgres/everywhere.yaml",
        "definitions/postgres/team-a-prod.yaml",
    ]
    dev, prod = snapshot.environments["development"], snapshot.environments["production"]
    api_db = ResourceKey("postgres", "default", "db", "team-a", "api")
    web_db = ResourceKey("postgres", "default", "db", "team-b", "web")
    assert match_definition(candidates, api_db, dev).id == "everywhere"
    assert match_definition(candidates, api_db, prod).id == "api-db"
    assert match_definition(candidates, web_db, prod).id == "everywhere"
    other_api = ResourceKey("postgres", "default", "db", "team-a", "worker")
    assert match_definition(candidates, other_api, prod).id == "team-a-prod"


def test_no_match_when_rendering_names_the_workload_file(make_platform: Callable[..., Path]) -> None:
    repo = make_platform({"definitions/postgres/pg-prod.yaml": None})
    snapshot = load_snapshot(WorkTreeSource(repo))
    with pytest.raises(UnitFailure) as caught:
        Renderer(snapshot).render_workload("team-a/api", "production")
    [finding] = caught.value.findings
    assert (finding.path, finding.line, finding.column) == ("workloads/team-a/api/score.yaml", 15, 5)
    assert finding.environments == ("production",)
    assert str(finding) == (
        "workloads/team-a/api/score.yaml:15:5: resource 'db': no definition of type 'postgres' matches it (class "
        "'default', team team-a, workload api); considered: definitions/postgres/pg-dev.yaml. Add a criterion "
        "that matches, or ask the infra team for one (in production)"
    )


def test_ambiguity_is_found_by_validate_naming_both_files(make_platform: Callable[..., Path]) -> None:
    twin = str(BASE_PLATFORM["definitions/postgres/pg-prod.yaml"]).replace("id: pg-prod", "id: pg-prod-twin")
    repo = make_platform({"definitions/postgres/pg-prod-twin.yaml": twin})
    code, output = run_cli(["validate"], repo)
    assert code == 1
    assert output == (
        # Definitions are considered in path order: '-' sorts before '.'.
        "definitions/postgres/pg-prod-twin.yaml:6:3: definitions/postgres/pg-prod-twin.yaml and "
        "definitions/postgres/pg-prod.yaml both match postgres resource 'db' (class 'default', team-a/api) "
        "equally specifically: make one criterion more specific (res_id > workload > team > env > env_type) "
        "(in production)\n"
        "1 error in 1 file\n"
    )

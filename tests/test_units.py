"""The Unit record: text round trip, ordering as text orders, folders and branches checked by names."""

from __future__ import annotations

import pytest

from gitops_engine.names import InvalidName
from gitops_engine.units import Unit, is_shared


def test_a_workload_unit_round_trips_through_its_text_and_names_its_parts() -> None:
    unit = Unit.parse("team-a/api")
    assert unit == Unit.workload("team-a", "api")
    assert str(unit) == "team-a/api"
    assert (unit.first, unit.name, unit.team, unit.is_shared) == ("team-a", "api", "team-a", False)
    assert unit.source_folder == "workloads/team-a/api/"
    assert unit.folder("production") == "rendered/production/team-a/api"
    assert unit.branch == "gitops-engine/team-a/api"


def test_a_shared_unit_has_no_team_and_no_source_folder() -> None:
    unit = Unit.parse("_shared/main-db")
    assert unit == Unit.shared("main-db")
    assert str(unit) == "_shared/main-db"
    assert (unit.first, unit.name, unit.team, unit.is_shared) == ("_shared", "main-db", None, True)
    assert unit.source_folder is None
    assert unit.folder("development") == "rendered/development/_shared/main-db"
    assert unit.branch == "gitops-engine/_shared/main-db"
    assert is_shared("_shared/main-db") and not is_shared("team-a/api")


def test_units_sort_exactly_as_their_text_does() -> None:
    # "-" sorts before "/": a tuple (team, name) would put "a/x" first, the text puts "a-b/x" first.
    texts = ["a/x", "a-b/x", "_shared/z", "team-b/web", "team-a/api", "a/x-y", "a/x1"]
    assert [str(u) for u in sorted(Unit(t) for t in texts)] == sorted(texts)
    assert Unit("a-b/x") < Unit("a/x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api", "unit 'api' is not team/workload or _shared/<id>"),
        (
            "Team/api",
            "team 'Team' is not a valid name: use lower-case letters, digits and '-', starting and ending with a "
            "letter or digit (a DNS label, at most 63 characters)",
        ),
    ],
)
def test_parse_refuses_what_is_not_a_unit(text: str, message: str) -> None:
    with pytest.raises(InvalidName) as caught:
        Unit.parse(text)
    assert str(caught.value) == message


def test_the_unit_of_a_path_under_rendered_or_workloads() -> None:
    assert Unit.of_path("rendered/production/team-a/api/manifest.yaml") == Unit("team-a/api")
    assert Unit.of_path("rendered/production/_shared/db/gitops-engine.lock") == Unit("_shared/db")
    assert Unit.of_path("workloads/team-b/web/overrides.production.yaml") == Unit("team-b/web")
    assert Unit.of_path("definitions/postgres/pg-dev.yaml") is None
    assert Unit.of_path("rendered/production/team-a") is None

"""CODEOWNERS: reading its rules, matching its patterns, adding a team's line, and the check that every team folder
has an owner of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitops_engine import codeowners
from gitops_engine.errors import InputError
from gitops_engine.loading import load_snapshot
from gitops_engine.source import WorkTreeSource

TEXT = """\
# owners
*                   @acme/platform
/definitions/       @acme/infra
/workloads/team-a/  @acme/team-a  # the team

/workloads/team-a/  @acme/team-a @acme/sre
docs/               nobody@example.com
"""


def test_rules_are_read_in_file_order_and_a_repeated_pattern_keeps_its_last_owners_and_place() -> None:
    assert list(codeowners.parse(TEXT).items()) == [
        ("*", ("@acme/platform",)),
        ("/definitions/", ("@acme/infra",)),
        ("/workloads/team-a/", ("@acme/team-a", "@acme/sre")),
        ("docs/", ("nobody@example.com",)),
    ]
    assert codeowners.parse("# only a comment\n\n") == {}
    assert codeowners.rule_words("  /x/ @a @b  # note") == ["/x/", "@a", "@b"]
    assert codeowners.rule_words("#/x/ @a") == []


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*", "workloads/team-a/api/score.yaml", True),
        ("/workloads/team-a/", "workloads/team-a/api/score.yaml", True),
        ("/workloads/team-a/", "workloads/team-ab/api/score.yaml", False),
        ("/workloads/team-a/", "other/workloads/team-a/x", False),  # anchored at the root
        ("docs/", "a/docs/readme.md", True),  # a bare folder name matches at any depth
        ("docs/", "a/docsx/readme.md", False),
        ("*.yaml", "workloads/team-a/api/score.yaml", True),
        ("*.yaml", "workloads/team-a/api/app.conf", False),
        ("/platform.yaml", "platform.yaml", True),
        ("/platform.yaml", "x/platform.yaml", False),
        ("workloads/**", "workloads/team-a/api/score.yaml", True),
    ],
)
def test_patterns_match_as_on_github(pattern: str, path: str, expected: bool) -> None:
    assert codeowners.matches(pattern, path) is expected


def test_a_teams_line_goes_after_the_other_teams_aligned_and_once() -> None:
    text = "*  @acme/platform\n/workloads/team-a/  @acme/team-a\n/definitions/  @acme/infra\n"
    added = codeowners.add_team_owner(".github/CODEOWNERS", text, "team-b", "@acme/team-b")
    assert added == codeowners.Addition(
        ".github/CODEOWNERS",
        "*  @acme/platform\n/workloads/team-a/  @acme/team-a\n/workloads/team-b/  @acme/team-b\n"
        "/definitions/  @acme/infra\n",
        3,
    )
    assert added.text is not None
    again = codeowners.add_team_owner(".github/CODEOWNERS", added.text, "team-b", "@acme/team-b")
    assert again == codeowners.Addition(".github/CODEOWNERS", None, 3)
    with pytest.raises(InputError) as taken:
        codeowners.add_team_owner(".github/CODEOWNERS", added.text, "team-b", "@acme/other")
    assert [str(f) for f in taken.value.findings] == [
        ".github/CODEOWNERS:3:1: /workloads/team-b/ is owned by @acme/team-b already: edit this line to change "
        "its owners"
    ]


def test_a_new_file_starts_with_how_reviews_work() -> None:
    added = codeowners.add_team_owner("CODEOWNERS", None, "team-a", "@acme/team-a")
    assert added.text is not None
    assert added.text.splitlines()[-1] == "/workloads/team-a/ @acme/team-a"
    assert added.line == len(added.text.splitlines()) == 5
    assert added.text.startswith("# Who reviews what. The last matching pattern wins")


def test_teams_owned_only_by_a_catch_all_are_reported(make_platform: Callable[..., Path]) -> None:
    repo = make_platform({".github/CODEOWNERS": TEXT})
    snapshot = load_snapshot(WorkTreeSource(repo))
    assert snapshot.owners_of("workloads/team-a/api/score.yaml") == ("@acme/team-a", "@acme/sre")
    assert snapshot.owner_pattern("workloads/team-b/web/score.yaml") == "*"
    assert [(str(f), f.severity) for f in codeowners.unowned_teams(snapshot)] == [
        (
            ".github/CODEOWNERS:2:1: workloads/team-b/ has no code owner of its own: `*` gives its pull "
            "requests to @acme/platform; run `gitops-engine new team team-b --owner @ORG/TEAM`, or add "
            "`/workloads/team-b/ @ORG/TEAM` to .github/CODEOWNERS",
            "warning",
        )
    ]
    assert codeowners.unowned_teams(snapshot, ["team-a/api"]) == []
    # Without a CODEOWNERS file, a repo does not use code owners: nothing to check.
    assert codeowners.unowned_teams(load_snapshot(WorkTreeSource(make_platform()))) == []

"""CODEOWNERS: reading its rules, matching its patterns, adding a team's line, and the check that every team folder
has an owner of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


_MATCH_CASES = [
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
    # GitHub's documented examples (docs "About code owners", example CODEOWNERS file)
    ("docs/*", "docs/getting-started.md", True),
    ("docs/*", "docs/build-app/troubleshooting.md", False),  # `/*` last: not nested further
    ("/build/logs/", "build/logs/a/b.log", True),
    ("/build/logs/", "src/build/logs/a.log", False),
    ("apps/", "deeply/nested/apps/x.py", True),
    ("**/logs", "build/logs/a", True),
    ("**/logs", "deeply/nested/logs/a", True),
    ("**/logs", "catalogs/a", False),
    ("/apps/github", "apps/github/x.py", True),  # a last part naming a folder covers what is inside
    ("/apps/github", "apps/github-x/y.py", False),
    # a '*' inside a folder pattern: one folder level, any name
    ("/rendered/*/team-a/", "rendered/production/team-a/api/manifest.yaml", True),
    ("/rendered/*/team-a/", "rendered/production/x/team-a/manifest.yaml", False),
    ("/rendered/*/team-a/", "rendered/team-a/api/manifest.yaml", False),
    ("/workloads/team-?/", "workloads/team-b/api/score.yaml", True),
    ("a/**/b", "a/b/c", True),  # `**` in the middle: zero or more folders
    ("a/**/b", "a/x/y/b/c", True),
    ("a/**/b", "a/xb/c", False),
    ("**", "any/path", True),
    ("/", "anything", False),  # covers nothing
    ("/[ab]/", "a/x", False),  # ranges do not work on GitHub: plain characters
    ("/[ab]/", "[ab]/x", True),
    ("/a\\*b/", "a*b/x", True),  # an escaped '*' is a plain one
    ("/a\\*b/", "axxb/x", False),
    # a path ending in '/' is a folder: what covers any file right in it
    ("*", "definitions/", True),
    ("/definitions/", "definitions/", True),
    ("*.yaml", "definitions/", False),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), _MATCH_CASES)
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


def test_a_team_gets_its_rendered_line_too_where_rendered_has_owners_of_its_own() -> None:
    template = (Path(__file__).parent.parent / "platform-repo-template/.github/CODEOWNERS").read_text()
    added = codeowners.add_team_owner(".github/CODEOWNERS", template, "search", "@example-org/search")
    assert added.text is not None
    new_lines = [line for line in added.text.splitlines() if "search" in line]
    assert new_lines == [
        "/workloads/search/          @example-org/search",
        "/rendered/*/search/         @example-org/search",
    ]
    lines = added.text.splitlines()
    assert lines[added.line - 1] == new_lines[0]
    assert lines[lines.index(new_lines[1]) - 1] == "/rendered/*/_shared/        @example-org/infra"
    # GitHub reads it as meant: the team reviews its rendered output, infra the rest of rendered/
    rules = codeowners.parse(added.text)
    owner = {
        path: next(rules[p] for p in reversed(rules) if codeowners.matches(p, path))
        for path in (
            "rendered/production/search/api/manifest.yaml",
            "rendered/production/_shared/postgres/manifest.yaml",
            "rendered/production/catalog/api/manifest.yaml",
        )
    }
    assert list(owner.values()) == [
        ("@example-org/search",),
        ("@example-org/infra",),
        ("@example-org/catalog",),
    ]
    assert codeowners.add_team_owner(".github/CODEOWNERS", added.text, "search", "@example-org/search") == (
        codeowners.Addition(".github/CODEOWNERS", None, added.line, added.rendered_line)
    )
    # a repo whose team has its workloads line only (added before this rule): the rendered line is added
    older = added.text.replace("/rendered/*/search/         @example-org/search\n", "")
    assert (
        codeowners.add_team_owner(".github/CODEOWNERS", older, "search", "@example-org/search").text
        == added.text
    )


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


_PATTERNS = sorted({pattern for pattern, _, _ in _MATCH_CASES} | {"/workloads/", "workloads/", "*.md", "/"})
_PATHS = sorted({path for _, path, _ in _MATCH_CASES} | {"workloads/", "README.md", "docs/", "a*b/"})


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(st.sampled_from(_PATTERNS), max_size=12, unique=True),
    path=st.sampled_from(_PATHS)
    | st.lists(
        st.sampled_from(["a", "b", "docs", "logs", "team-a", "x.yaml", "*", "\\"]), min_size=1, max_size=4
    ).map("/".join),
)
def test_one_expression_finds_the_last_pattern_that_covers_a_path_as_matching_each_does(
    patterns: list[str], path: str
) -> None:
    last = None
    for pattern in patterns:
        if codeowners.matches(pattern, path):
            last = pattern
    assert codeowners.last_match(patterns)(path) == last

"""What the rollout layer (issue 13) builds on, in both forges: pull requests with auto-merge, merged by the chosen
method (a real merge on a bare repository), and the dashboard issue found by its marker and edited in place.

GitHub is the stand-in (`tests/testing/fakegithub`): REST requests are checked against GitHub's OpenAPI description and
GraphQL documents against GitHub's published GraphQL schema (`@octokit/graphql-schema`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from testing.fakegithub import FakeClock, FakeGitHub, commit_files, git, make_bare_repo, make_forge
from testing.faults import KILLPOINTS

from gitops_engine.errors import ForgeError
from gitops_engine.forge import Forge, MergeMethod, PullRequestDraft
from gitops_engine.forge.github import GitHubForge
from gitops_engine.forge.local import LocalForge

REPO = "/repos/octo-org/platform"
MARKER = "<!-- gitops-engine:dashboard -->"


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    return make_bare_repo(
        tmp_path / "remote.git", files={"README.md": "platform\n", "rendered/a.yaml": "a: 1\n"}
    )


@pytest.fixture
def github(bare: Path) -> Iterator[FakeGitHub]:
    clock = FakeClock()
    with FakeGitHub(bare, clock=clock) as server:
        yield server
        assert server.spec_violations == []
        assert server.response_violations == []


def github_forge(github: FakeGitHub) -> GitHubForge:
    return make_forge(github, FakeClock())


@pytest.fixture(params=["local", "github"])
def forge(request: pytest.FixtureRequest, bare: Path) -> Iterator[Forge]:
    """Each forge on the same kind of bare repository (GitHub's through the stand-in)."""
    if request.param == "local":
        yield LocalForge(bare)
        return
    server = request.getfixturevalue("github")
    client = github_forge(server)
    yield client
    client.close()


def push_branch(bare: Path, name: str, files: dict[str, str], *, parent: str = "main") -> str:
    branch = f"gitops-engine/{name}"
    commit_files(bare, branch, files, message=f"Render {name}", parent=parent)
    return branch


def draft(branch: str, **fields: Any) -> PullRequestDraft:
    values: dict[str, Any] = {"branch": branch, "base": "main", "title": f"Update {branch}", "body": "why"}
    return PullRequestDraft(**{**values, **fields})


def land(forge: Forge, github: FakeGitHub | None) -> list[int]:
    """Checks pass: GitHub merges auto-merge pull requests itself; the local forge when the processor asks."""
    if github is not None:
        assert forge.merge_ready() == []
        return github.pass_checks()
    return [p.number for p in forge.merge_ready()]


def server_of(forge: Forge, request: pytest.FixtureRequest) -> FakeGitHub | None:
    return request.getfixturevalue("github") if isinstance(forge, GitHubForge) else None


# -------------------------------------------------------------------------------------------------------------
# Auto-merge


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_an_automerge_pull_request_is_merged_by_its_method_once_checks_pass(
    forge: Forge, bare: Path, method: MergeMethod, request: pytest.FixtureRequest
) -> None:
    server = server_of(forge, request)
    branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
    head = git(bare, "rev-parse", branch)
    before = git(bare, "rev-parse", "main")
    # Someone else's commit lands on main after the branch was made: the merge keeps it.
    concurrent = commit_files(bare, "main", {"README.md": "platform, documented\n"}, message="docs")

    opened = forge.create_pull_request(draft(branch, automerge=method))

    assert opened.automerge and opened.state == "open"
    assert [p.automerge for p in forge.find_pull_requests(branch)] == [True]
    merged = land(forge, server)
    assert merged == [opened.number]
    assert [p.state for p in forge.find_pull_requests(branch)] == ["merged"]
    main = git(bare, "rev-parse", "main")
    assert git(bare, "show", "main:rendered/a.yaml") == "a: 2"
    assert git(bare, "show", "main:README.md") == "platform, documented"
    parents = git(bare, "log", "-1", "--format=%P", "main").split()
    if method == "merge":
        assert parents == [concurrent, head]
    else:
        assert parents == [concurrent]
        contained = subprocess.run(["git", "merge-base", "--is-ancestor", head, main], cwd=bare, check=False)
        assert contained.returncode == 1  # a new commit, not the branch's
        assert git(bare, "rev-list", "--count", f"{before}..main") == "2"
    if method == "squash":
        assert git(bare, "log", "-1", "--format=%s", "main") == f"Update {branch} (#{opened.number})"
    if method == "rebase":  # the branch's own commit, replayed with its author and message
        assert git(bare, "log", "-1", "--format=%an|%s", "main") == "Test Author|Render shop/orders"
    # Merged once: nothing more to merge, and the next call writes nothing.
    assert land(forge, server) == []
    assert git(bare, "rev-parse", "main") == main


def test_enabling_automerge_writes_once(forge: Forge, bare: Path, request: pytest.FixtureRequest) -> None:
    branch = push_branch(bare, "shop/cart", {"rendered/b.yaml": "b: 1\n"})
    pull = forge.create_pull_request(draft(branch))
    assert not pull.automerge
    writes = forge.stats.writes

    assert forge.enable_automerge(pull.number, "squash").automerge
    assert forge.stats.writes == writes + 1
    assert forge.enable_automerge(pull.number, "squash").automerge
    # An update whose draft asks for auto-merge leaves it as it is when it is on already.
    forge.update_pull_request(pull.number, draft(branch, automerge="squash"))
    assert forge.stats.writes == writes + 1
    server = server_of(forge, request)
    if server is not None:
        assert server.pull(pull.number).automerge == "squash"


def test_a_conflicting_automerge_pull_request_stays_open(
    forge: Forge, bare: Path, request: pytest.FixtureRequest
) -> None:
    branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
    commit_files(bare, "main", {"rendered/a.yaml": "a: 3\n"}, message="someone else's edit")
    main = git(bare, "rev-parse", "main")
    pull = forge.create_pull_request(draft(branch, automerge="merge"))

    assert land(forge, server_of(forge, request)) == []

    assert git(bare, "rev-parse", "main") == main
    assert [(p.number, p.state) for p in forge.find_pull_requests(branch)] == [(pull.number, "open")]


def test_the_automerge_mutation_follows_githubs_graphql_schema(github: FakeGitHub, bare: Path) -> None:
    forge = github_forge(github)
    branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
    pull = forge.create_pull_request(draft(branch, labels=("gitops-engine",), automerge="rebase"))

    # The label is new to the repository: created once; then the pull request and ONE GraphQL request.
    assert [(r.method, r.path) for r in github.writes] == [
        ("POST", f"{REPO}/pulls"),
        ("POST", f"{REPO}/labels"),
        ("POST", "/graphql"),
    ]
    assert github.writes[2].body["variables"] == {
        "pullRequestId": pull.node_id,
        "labelIds": [rest(github, f"{REPO}/labels/gitops-engine")["node_id"]],
        "mergeMethod": "REBASE",
    }
    assert pull.node_id == github.pull(1).node_id and pull.automerge
    assert forge.stats.writes == 3
    # The stand-in refuses what GitHub's schema does: a misspelt field, an unknown merge method.
    for query in (
        'mutation { enablePullRequestAutoMerge(input: {pullRequestId: "x", mergeMethod: FAST}) { clientMutationId } }',
        'mutation { enablePullRequestAutoMerge(input: {pullRequestId: "x"}) { pullRequest { numbr } } }',
    ):
        answer = httpx.post(
            f"{github.api_url}/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {github.token}", "User-Agent": "t"},
        )
        assert answer.status_code == 200 and answer.json()["errors"]
    assert github.spec_violations == [
        "POST /graphql: GraphQL: Value 'FAST' does not exist in 'PullRequestMergeMethod' enum.",
        "POST /graphql: GraphQL: Cannot query field 'numbr' on type 'PullRequest'. Did you mean 'number'?",
    ]
    github.spec_violations.clear()
    forge.close()


def rest(github: FakeGitHub, path: str) -> Any:
    """What the stand-in's REST view shows (a person looking; not counted as the forge's request)."""
    answer = httpx.get(
        github.api_url + path, headers={"Authorization": f"Bearer {github.token}", "User-Agent": "test"}
    )
    assert answer.status_code == 200, answer.text
    github.requests.pop()
    return answer.json()


def follow_ups(github: FakeGitHub) -> list[list[str]]:
    """The mutations of every GraphQL request sent, by field name."""
    return [
        re.findall(r"^  \w+: (\w+)\(", r.body["query"], flags=re.MULTILINE)
        for r in github.writes
        if r.path.endswith("/graphql")
    ]


def test_a_pull_request_with_labels_reviewers_and_automerge_costs_two_writes(bare: Path) -> None:
    """Issue 13's budget: the pull request (REST), then its labels, team reviewers and auto-merge in one GraphQL
    request. Read back through GitHub's REST views, every part took."""
    with FakeGitHub(bare, labels=("gitops-engine", "postgres")) as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
        wanted = draft(
            branch, labels=("gitops-engine", "postgres"), reviewers=("shop", "dba"), automerge="squash"
        )
        assert forge.draft_writes(wanted) == 2

        pull = forge.create_pull_request(wanted)

        assert [(r.method, r.path) for r in github.writes] == [
            ("POST", f"{REPO}/pulls"),
            ("POST", "/graphql"),
        ]
        assert forge.stats.writes == 2
        assert follow_ups(github) == [
            ["addLabelsToLabelable", "requestReviews", "enablePullRequestAutoMerge"]
        ]
        assert (pull.labels, pull.reviewers, pull.automerge) == (
            ("gitops-engine", "postgres"),
            ("dba", "shop"),
            True,
        )
        number = pull.number
        assert [label["name"] for label in rest(github, f"{REPO}/issues/{number}/labels")] == [
            "gitops-engine",
            "postgres",
        ]
        assert [
            team["slug"] for team in rest(github, f"{REPO}/pulls/{number}/requested_reviewers")["teams"]
        ] == [
            "shop",
            "dba",
        ]
        shown = rest(github, f"{REPO}/pulls/{number}")
        assert [team["slug"] for team in shown["requested_teams"]] == ["shop", "dba"]
        assert [label["name"] for label in shown["labels"]] == ["gitops-engine", "postgres"]
        assert shown["auto_merge"]["merge_method"] == "squash"
        # Nothing differs: an update reads and writes nothing.
        github.clear_log()
        assert forge.update_pull_request(number, wanted) == pull
        assert github.writes == []
        assert github.spec_violations == [] and github.response_violations == []
        forge.close()


def test_an_update_that_only_adds_a_reviewer_costs_one_write(bare: Path) -> None:
    with FakeGitHub(bare, labels=("gitops-engine",)) as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
        pull = forge.create_pull_request(draft(branch, labels=("gitops-engine",), reviewers=("shop",)))
        github.clear_log()
        writes = forge.stats.writes

        updated = forge.update_pull_request(
            pull.number, draft(branch, labels=("gitops-engine",), reviewers=("shop", "dba"))
        )

        assert forge.stats.writes == writes + 1
        assert [(r.method, r.path) for r in github.writes] == [("POST", "/graphql")]
        assert follow_ups(github) == [["requestReviews"]]
        assert updated.reviewers == ("dba", "shop")
        assert [
            t["slug"] for t in rest(github, f"{REPO}/pulls/{pull.number}/requested_reviewers")["teams"]
        ] == [
            "shop",
            "dba",
        ]
        assert github.spec_violations == []
        forge.close()


def test_a_missing_label_is_created_once_then_read_from_the_cache_and_the_repository(bare: Path) -> None:
    with FakeGitHub(bare) as github:
        forge = github_forge(github)
        first = draft(
            push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"}), labels=("gitops-engine",)
        )
        second = draft(
            push_branch(bare, "shop/carts", {"rendered/a.yaml": "a: 3\n"}), labels=("gitops-engine",)
        )
        # Not known yet: the reservation counts its creation.
        assert forge.draft_writes(first) == 3

        forge.create_pull_request(first)
        # Read once (it is missing), created once.
        assert [(r.method, r.path) for r in github.requests] == [
            ("GET", f"{REPO}/labels/gitops-engine"),
            ("POST", f"{REPO}/pulls"),
            ("POST", f"{REPO}/labels"),
            ("POST", "/graphql"),
        ]
        assert forge.stats.writes == 3
        assert forge.draft_writes(second) == 2  # known now
        github.clear_log()
        forge.create_pull_request(second)
        # Cached for the run: not even read again.
        assert [(r.method, r.path) for r in github.requests] == [
            ("POST", f"{REPO}/pulls"),
            ("POST", "/graphql"),
        ]
        forge.close()

        next_run = github_forge(github)
        third = draft(
            push_branch(bare, "shop/users", {"rendered/a.yaml": "a: 4\n"}), labels=("gitops-engine",)
        )
        github.clear_log()
        next_run.create_pull_request(third)
        # A later run reads the label (a read), and creates nothing.
        assert [(r.method, r.path) for r in github.requests] == [
            ("GET", f"{REPO}/labels/gitops-engine"),
            ("POST", f"{REPO}/pulls"),
            ("POST", "/graphql"),
        ]
        assert next_run.stats.writes == 2
        assert [p.labels for p in github.pulls()] == [["gitops-engine"]] * 3
        assert github.repo_labels == {"gitops-engine": "gitops-engine"}
        assert github.spec_violations == []
        next_run.close()


def test_a_partly_failed_follow_up_keeps_what_took_and_names_the_pull_request(bare: Path) -> None:
    """GitHub answers `data` plus `errors`: the labels took, a team without access is only logged, and auto-merge
    the repository does not allow is an error naming the pull request; the next update sends only what is left."""
    with FakeGitHub(bare, labels=("gitops-engine",), teams={"shop"}, allow_auto_merge=False) as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
        wanted = draft(branch, labels=("gitops-engine",), reviewers=("shop", "ghosts"), automerge="merge")

        with pytest.raises(ForgeError) as raised:
            forge.create_pull_request(wanted)

        assert str(raised.value) == (
            "GitHub would not enable auto-merge on #1: Auto merge is not allowed for this repository (allow "
            "auto-merge in the repository's settings, and protect the base branch with required checks)"
        )
        assert forge.stats.writes == 2
        pull = github.pull(1)
        assert (pull.labels, pull.requested_teams, pull.automerge) == (["gitops-engine"], [], None)
        # The repository now allows auto-merge; the next run's update sends auto-merge and the teams, no labels.
        github.allow_auto_merge = True
        github.teams = None
        github.clear_log()
        updated = forge.update_pull_request(1, wanted)
        assert follow_ups(github) == [["requestReviews", "enablePullRequestAutoMerge"]]
        assert [(r.method, r.path) for r in github.writes] == [("POST", "/graphql")]
        assert (updated.labels, updated.reviewers, updated.automerge) == (
            ("gitops-engine",),
            ("ghosts", "shop"),
            True,
        )
        assert github.spec_violations == []
        forge.close()


def test_refused_reviewers_are_logged_and_the_rest_of_the_follow_up_stands(
    bare: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeGitHub(bare, labels=("gitops-engine",), teams={"shop"}) as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})

        pull = forge.create_pull_request(draft(branch, labels=("gitops-engine",), reviewers=("ghosts",)))

        assert (pull.labels, pull.reviewers) == (("gitops-engine",), ())
        assert github.pull(pull.number).labels == ["gitops-engine"]
        assert (
            "GitHub would not request review from ghosts on #1 (Could not request review: one or more of the teams "
            "you specified is not a collaborator of the octo-org/platform repository): give the teams access to "
            "octo-org/platform"
        ) in caplog.text
        assert forge.stats.writes == 2
        forge.close()


def test_a_follow_up_error_is_scrubbed_of_the_token(bare: Path) -> None:
    with FakeGitHub(bare, labels=("gitops-engine",)) as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
        github.inject(
            "POST",
            "/graphql",
            200,
            body={
                "data": {"labels": None},
                "errors": [
                    {"type": "FORBIDDEN", "path": ["labels"], "message": f"token {github.token} may not"}
                ],
            },
        )

        with pytest.raises(ForgeError) as raised:
            forge.create_pull_request(draft(branch, labels=("gitops-engine",)))

        assert str(raised.value) == "GitHub would not add the labels gitops-engine to #1: token *** may not"
        forge.close()


def test_a_team_the_organisation_lacks_is_logged_and_left_out(
    bare: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeGitHub(bare, labels=("gitops-engine",), org_teams={"shop"}) as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})

        pull = forge.create_pull_request(
            draft(branch, labels=("gitops-engine",), reviewers=("ghosts", "shop"))
        )

        assert pull.reviewers == ("shop",)
        assert follow_ups(github) == [["addLabelsToLabelable", "requestReviews"]]
        assert (
            "GitHub shows no team 'ghosts' in octo-org to this token (404 Not Found): no review requested from it"
        ) in caplog.text
        assert github.spec_violations == []
        forge.close()


def test_a_token_that_may_not_read_teams_requests_them_over_rest(
    bare: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading a team needs the organisation permission Members: read; without it GitHub answers 403, and the team
    is requested over REST (which needs no team id): one more write, counted before it is made."""
    with FakeGitHub(bare, labels=("gitops-engine",)) as github:
        forge = github_forge(github)
        github.inject(
            "GET",
            "/orgs/octo-org/teams/*",
            403,
            body={"message": "Resource not accessible by integration"},
            times=1,
        )
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
        wanted = draft(branch, labels=("gitops-engine",), reviewers=("shop",))

        assert forge.draft_writes(wanted) == 3
        pull = forge.create_pull_request(wanted)

        assert (pull.labels, pull.reviewers) == (("gitops-engine",), ("shop",))
        assert follow_ups(github) == [["addLabelsToLabelable"]]
        assert forge.stats.writes == 3
        assert github.pull(pull.number).requested_teams == ["shop"]
        assert (
            "this token may not read team 'shop' of octo-org (Resource not accessible by integration): its review "
            "is requested over REST, one more write a pull request; give the GitHub App the organisation "
            "permission Members: read"
        ) in caplog.text
        assert github.spec_violations == []
        forge.close()


def test_a_follow_up_refused_as_a_whole_fails_every_part(
    bare: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeGitHub(bare, labels=("gitops-engine",)) as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
        github.inject(
            "POST",
            "/graphql",
            200,
            body={"errors": [{"type": "FORBIDDEN", "message": "Resource not accessible by integration"}]},
        )

        with pytest.raises(ForgeError) as raised:
            forge.create_pull_request(
                draft(branch, labels=("gitops-engine",), reviewers=("shop",), automerge="squash")
            )

        assert str(raised.value) == (
            "GitHub would not add the labels gitops-engine to #1: Resource not accessible by integration; GitHub "
            "would not enable auto-merge on #1: Resource not accessible by integration (allow auto-merge in the "
            "repository's settings, and protect the base branch with required checks)"
        )
        assert "GitHub would not request review from shop on #1 (Resource not accessible by integration)" in (
            caplog.text
        )
        assert (github.pull(1).labels, github.pull(1).requested_teams, github.pull(1).automerge) == (
            [],
            [],
            None,
        )
        forge.close()


def test_labels_with_spaces_and_colons_are_read_and_created_by_their_escaped_name(bare: Path) -> None:
    with FakeGitHub(bare, labels=("rollout: wave 1",)) as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})

        pull = forge.create_pull_request(draft(branch, labels=("rollout: wave 1", "needs review")))

        assert pull.labels == ("needs review", "rollout: wave 1")
        assert [(r.method, r.path) for r in github.requests][:3] == [
            ("GET", f"{REPO}/labels/rollout%3A%20wave%201"),
            ("GET", f"{REPO}/labels/needs%20review"),
            ("POST", f"{REPO}/pulls"),
        ]
        assert sorted(github.pull(1).labels) == ["needs review", "rollout: wave 1"]
        assert github.spec_violations == []
        forge.close()


def test_github_enterprise_serves_graphql_beside_its_rest_root(bare: Path) -> None:
    with FakeGitHub(bare, api_prefix="/api/v3") as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
        assert forge.create_pull_request(draft(branch, automerge="merge")).automerge
        assert [r.path for r in github.writes] == [f"{REPO}/pulls", "/api/graphql"]
        assert github.spec_violations == []
        forge.close()


def test_a_repository_that_does_not_allow_automerge_says_what_to_change(bare: Path) -> None:
    with FakeGitHub(bare, allow_auto_merge=False) as github:
        forge = github_forge(github)
        branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
        pull = forge.create_pull_request(draft(branch))
        with pytest.raises(ForgeError) as raised:
            forge.enable_automerge(pull.number, "squash")
        assert str(raised.value) == (
            f"GitHub would not enable auto-merge on #{pull.number}: Auto merge is not allowed for this repository "
            "(allow auto-merge in the repository's settings, and protect the base branch with required checks)"
        )
        assert github.spec_violations == []
        forge.close()


STEPS = ["git merge-tree", "git commit-tree", "git update-ref", "forge replace pulls/1.json"]


@pytest.mark.parametrize("point", [1, 2, 3, 4])
def test_the_local_forge_killed_while_merging_merges_once(bare: Path, point: int) -> None:
    """Killed at each write step of a squash merge (the merged tree, the squashed commit, main moved, the record
    saved), the next call completes it: main has exactly one squashed commit, and the pull request is merged."""
    branch = push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"})
    main = git(bare, "rev-parse", "main")
    LocalForge(bare).create_pull_request(draft(branch, automerge="squash"))
    script = "import sys; from pathlib import Path; from gitops_engine.forge.local import LocalForge; LocalForge(Path(sys.argv[1])).merge_ready()"
    env = {**os.environ, "PYTHONPATH": str(KILLPOINTS), "GITOPS_ENGINE_TEST_KILL_AT": str(point)}
    log = bare.parent / "steps.log"
    env["GITOPS_ENGINE_TEST_WRITE_LOG"] = str(log)

    killed = subprocess.run(
        [sys.executable, "-c", script, str(bare)], env=env, capture_output=True, check=False
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert log.read_text().splitlines()[-1] == f"{point} " + STEPS[point - 1]
    merged = LocalForge(bare).merge_ready()
    assert [(p.number, p.state) for p in merged] in ([(1, "merged")], [])
    assert [p.state for p in LocalForge(bare).find_pull_requests(branch)] == ["merged"]
    assert git(bare, "rev-list", "--count", f"{main}..main") == "1"
    assert git(bare, "show", "main:rendered/a.yaml") == "a: 2"


# -------------------------------------------------------------------------------------------------------------
# The dashboard issue


def test_the_dashboard_issue_is_created_once_and_edited_in_place(
    forge: Forge, bare: Path, request: pytest.FixtureRequest
) -> None:
    # A pull request whose body holds the marker is not the issue.
    forge.create_pull_request(
        draft(push_branch(bare, "shop/orders", {"rendered/a.yaml": "a: 2\n"}), body=MARKER)
    )
    assert forge.find_issue(MARKER, label="gitops-engine") is None

    body = f"{MARKER}\n# Rollout\n\n- pg 17: 3 of 9 live\n"
    created = forge.upsert_issue(MARKER, "gitops-engine rollout dashboard", body, labels=("gitops-engine",))
    writes = forge.stats.writes

    assert (created.title, created.body, created.state, created.labels) == (
        "gitops-engine rollout dashboard",
        body,
        "open",
        ("gitops-engine",),
    )
    assert forge.find_issue(MARKER, label="gitops-engine") == created
    assert forge.find_issue(MARKER) == created
    assert forge.find_issue(MARKER, label="other") is None
    assert forge.upsert_issue(MARKER, created.title, body, labels=("gitops-engine",)) == created
    assert forge.stats.writes == writes  # the same body: no write

    edited = forge.upsert_issue(
        MARKER, created.title, body.replace("3 of 9", "9 of 9"), labels=("gitops-engine",)
    )
    assert edited.number == created.number and "9 of 9 live" in edited.body
    assert forge.stats.writes == writes + 1
    server = server_of(forge, request)
    if server is not None:  # closed by a person: reopened, never duplicated
        server.issues[created.number].state = "closed"
        reopened = forge.upsert_issue(MARKER, created.title, edited.body, labels=("gitops-engine",))
        assert (reopened.number, reopened.state) == (created.number, "open")
        assert [i.number for i in server.issues.values() if not i.is_pull] == [created.number]
        assert [r.body for r in server.writes if r.path == f"{REPO}/issues"] == [
            {"title": created.title, "body": body, "labels": ["gitops-engine"]}
        ]
    with pytest.raises(ForgeError):
        forge.upsert_issue(MARKER, "no marker", "a body without it")

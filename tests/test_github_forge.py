"""The GitHub forge against the stand-in GitHub (`tests/testing/fakegithub`), backed by a real bare git repository.

Every test ends with the fake's checks: no request broke GitHub's OpenAPI description, and the fake's own answers
kept the description's types. Time is a fake clock shared by client and server: nothing here really sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from testing.fakegithub import (
    FakeClock,
    FakeGitHub,
    commit_files,
    make_bare_repo,
    make_forge,
    merge_into,
    point_branches,
)
from testing.fakegithub.openapi import TRIMMED_SPEC, OpenApiSpec
from testing.fakegithub.trim_openapi import OPERATIONS

from gitops_engine.errors import ForgeError, RateLimited, UsageError
from gitops_engine.forge import PullRequest, PullRequestDraft
from gitops_engine.forge.github import MAX_BODY_CHARS, GitHubForge


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    return make_bare_repo(tmp_path / "remote.git")


@pytest.fixture
def github(bare_repo: Path, clock: FakeClock) -> Iterator[FakeGitHub]:
    # A repository the engine has run on before: its label exists (test_a_missing_label_is_created_once covers a
    # repository that lacks it).
    with FakeGitHub(bare_repo, clock=clock, labels=("gitops-engine",)) as server:
        yield server
        assert server.spec_violations == []
        assert server.response_violations == []


@pytest.fixture
def forge(github: FakeGitHub, clock: FakeClock) -> Iterator[GitHubForge]:
    forge = make_forge(github, clock)
    yield forge
    forge.close()


def push_branch(bare: Path, workload: str) -> str:
    """An engine branch with one commit on top of main, as the publisher pushes it."""
    branch = f"gitops-engine/{workload}"
    commit_files(
        bare, branch, {f"rendered/{workload}.yaml": f"name: {workload}\n"}, message=f"render {workload}"
    )
    return branch


def draft_for(branch: str, **fields: Any) -> PullRequestDraft:
    values: dict[str, Any] = {
        "branch": branch,
        "base": "main",
        "title": f"Update {branch}",
        "body": "postgres 1 → 2",
        "labels": ("gitops-engine",),
        "reviewers": ("payments",),
    }
    return PullRequestDraft(**{**values, **fields})


def publish(forge: GitHubForge, drafts: list[PullRequestDraft]) -> list[PullRequest]:
    """What the publisher does per unit: update the open pull request for the branch, or open one."""
    served = []
    for draft in drafts:
        open_pulls = [p for p in forge.find_pull_requests(draft.branch) if p.state == "open"]
        if open_pulls:
            served.append(forge.update_pull_request(open_pulls[0].number, draft))
        else:
            served.append(forge.create_pull_request(draft))
    return served


def writes(github: FakeGitHub) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in github.writes]


def mutations(github: FakeGitHub) -> list[tuple[list[str], dict[str, Any]]]:
    """Every GraphQL request sent: the mutations its document holds (alias: field) and its variables."""
    sent = []
    for request in github.writes:
        if request.path == "/graphql":
            document = graphql.parse(request.body["query"])
            operation = document.definitions[0]
            assert isinstance(operation, graphql.OperationDefinitionNode)
            names = [
                f"{field.alias.value}: {field.name.value}"
                for field in operation.selection_set.selections
                if isinstance(field, graphql.FieldNode) and field.alias is not None
            ]
            sent.append((names, request.body["variables"]))
    return sent


def label_id(github: FakeGitHub, name: str) -> str:
    return str(github_get(github, f"{REPO}/labels/{name}")["node_id"])


def team_id(github: FakeGitHub, slug: str) -> str:
    return str(github_get(github, f"/orgs/octo-org/teams/{slug}")["node_id"])


def github_get(github: FakeGitHub, path: str) -> Any:
    """A read through the stand-in's REST view, as a person would look (not logged as the forge's)."""
    answer = httpx.get(
        github.api_url + path, headers={"Authorization": f"Bearer {github.token}", "User-Agent": "test"}
    )
    assert answer.status_code == 200, answer.text
    github.requests.pop()
    return answer.json()


REPO = "/repos/octo-org/platform"


# -- pull requests ---------------------------------------------------------------------------------------------------


def test_create_opens_a_pull_request_with_labels_and_team_reviewers(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    branch = push_branch(bare_repo, "payments/api")

    pull = forge.create_pull_request(draft_for(branch, labels=("gitops-engine", "postgres")))

    assert pull == PullRequest(
        number=1,
        title=f"Update {branch}",
        body="postgres 1 → 2",
        state="open",
        branch=branch,
        base="main",
        url="https://github.example/octo-org/platform/pull/1",
        labels=("gitops-engine", "postgres"),
        reviewers=("payments",),
        automerge=False,
        node_id=github.pull(1).node_id,
    )
    # "postgres" is new to the repository: created once, then the pull request costs two requests.
    assert writes(github) == [
        ("POST", f"{REPO}/pulls"),
        ("POST", f"{REPO}/labels"),
        ("POST", "/graphql"),
    ]
    assert github.writes[1].body == {"name": "postgres"}
    assert mutations(github) == [
        (
            ["labels: addLabelsToLabelable", "reviewers: requestReviews"],
            {
                "pullRequestId": pull.node_id,
                "labelIds": [label_id(github, "gitops-engine"), label_id(github, "postgres")],
                "teamIds": [team_id(github, "payments")],
            },
        )
    ]
    assert forge.stats.writes == 3
    assert forge.find_pull_requests(branch) == [pull]
    assert [label["name"] for label in github_get(github, f"{REPO}/issues/1/labels")] == [
        "gitops-engine",
        "postgres",
    ]
    assert [team["slug"] for team in github_get(github, f"{REPO}/pulls/1/requested_reviewers")["teams"]] == [
        "payments"
    ]


def test_pull_request_numbers_are_shared_with_issues(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    github.seed_issue()
    github.seed_issue()
    pull = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b"), labels=(), reviewers=()))
    assert pull.number == 3
    assert writes(github) == [("POST", f"{REPO}/pulls")]


def test_find_filters_by_head_branch_with_the_owner_prefix(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    first = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/one")))
    other = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/two")))
    forge.close_pull_request(first.number, "obsolete")
    # A later pull request for the same branch: GitHub allows it once the first is closed.
    commit_files(bare_repo, first.branch, {"x": "2"}, parent=first.branch)
    second = forge.create_pull_request(draft_for(first.branch, title="again"))

    found = forge.find_pull_requests(first.branch)

    assert [(p.number, p.state) for p in found] == [(second.number, "open"), (first.number, "closed")]
    assert other.number not in {p.number for p in found}
    lookups = [r for r in github.requests if r.method == "GET" and r.path == f"{REPO}/pulls"]
    assert lookups[-1].query == {"head": f"octo-org:{first.branch}", "state": "all", "per_page": "100"}


def test_update_writes_only_what_differs(github: FakeGitHub, forge: GitHubForge, bare_repo: Path) -> None:
    branch = push_branch(bare_repo, "a/b")
    pull = forge.create_pull_request(draft_for(branch))
    github.clear_log()

    retitled = forge.update_pull_request(pull.number, draft_for(branch, title="new title"))
    assert retitled.title == "new title"
    assert [(r.method, r.body) for r in github.writes] == [("PATCH", {"title": "new title"})]

    github.clear_log()
    relabelled = forge.update_pull_request(
        pull.number, draft_for(branch, title="new title", labels=("x", "y"))
    )
    # Labels are only ever added: the draft's are merged with those already there (a person's "on-hold" stays).
    assert relabelled.labels == ("gitops-engine", "x", "y")
    # Two labels new to the repository (created once each), then one request adds them.
    assert [(r.method, r.body) for r in github.writes[:2]] == [
        ("POST", {"name": "x"}),
        ("POST", {"name": "y"}),
    ]
    assert mutations(github) == [
        (
            ["labels: addLabelsToLabelable"],
            {"pullRequestId": pull.node_id, "labelIds": [label_id(github, "x"), label_id(github, "y")]},
        )
    ]
    assert len(github.writes) == 3

    github.clear_log()
    draft = draft_for(branch, title="new title", labels=("x", "y"), reviewers=("payments", "infra"))
    writes_before = forge.stats.writes
    reviewed = forge.update_pull_request(pull.number, draft)
    assert reviewed.reviewers == ("infra", "payments")
    # Only the reviewers changed: one request.
    assert mutations(github) == [
        (
            ["reviewers: requestReviews"],
            {"pullRequestId": pull.node_id, "teamIds": [team_id(github, "infra")]},
        )
    ]
    assert forge.stats.writes == writes_before + 1 and len(github.writes) == 1
    assert github.pull(pull.number).requested_teams == ["payments", "infra"]

    github.clear_log()
    unchanged = forge.update_pull_request(pull.number, draft_for(branch, title="new title", labels=()))
    assert unchanged.labels == ("gitops-engine", "x", "y")
    assert github.writes == []
    assert sorted(github.pull(pull.number).labels) == ["gitops-engine", "x", "y"]


def test_update_with_nothing_changed_makes_no_write(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    branch = push_branch(bare_repo, "a/b")
    draft = draft_for(branch, labels=("b-label", "a-label"), reviewers=("payments", "infra"))
    created = forge.create_pull_request(draft)
    github.clear_log()
    writes_before = forge.stats.writes

    updated = forge.update_pull_request(created.number, draft)

    assert github.writes == []
    assert forge.stats.writes == writes_before
    assert updated == created


def test_labels_differing_only_in_case_are_one_label(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    branch = push_branch(bare_repo, "a/b")
    created = forge.create_pull_request(draft_for(branch, labels=("Rollout", "rollout")))
    assert created.labels == ("Rollout",)
    assert [r.body for r in github.writes if r.method == "POST" and r.path.endswith("/labels")] == [
        {"name": "Rollout"}
    ]
    github.clear_log()
    # GitHub's label names are case-insensitive: the pull request has this one already, so nothing is written.
    updated = forge.update_pull_request(created.number, draft_for(branch, labels=("ROLLOUT",)))
    assert github.writes == []
    assert updated.labels == ("Rollout",)


def test_empty_body_round_trips_without_rewrites(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    branch = push_branch(bare_repo, "a/b")
    pull = forge.create_pull_request(draft_for(branch, body=""))
    assert github.pull(pull.number).body is None  # GitHub answers null for an empty body
    assert pull.body == ""
    github.clear_log()
    forge.update_pull_request(pull.number, draft_for(branch, body=""))
    assert github.writes == []


def test_long_body_is_truncated_to_githubs_limit_and_stays_stable(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    branch = push_branch(bare_repo, "a/b")
    draft = draft_for(branch, body="x" * (MAX_BODY_CHARS + 5000))
    pull = forge.create_pull_request(draft)
    assert len(pull.body) == MAX_BODY_CHARS
    assert pull.body.endswith("(truncated: GitHub keeps at most 65,536 characters)")
    github.clear_log()
    forge.update_pull_request(pull.number, draft)
    assert github.writes == []


def test_close_comments_then_closes_once(github: FakeGitHub, forge: GitHubForge, bare_repo: Path) -> None:
    pull = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))
    github.clear_log()

    forge.close_pull_request(pull.number, "main already has this change")

    assert [(r.method, r.path, r.body) for r in github.writes] == [
        ("POST", f"{REPO}/issues/{pull.number}/comments", {"body": "main already has this change"}),
        ("PATCH", f"{REPO}/pulls/{pull.number}", {"state": "closed"}),
    ]
    assert github.pull(pull.number).state == "closed"
    assert forge.find_pull_requests(pull.branch)[0].state == "closed"

    github.clear_log()
    forge.close_pull_request(pull.number, "main already has this change")
    assert github.writes == []


def test_close_after_a_crash_between_comment_and_close_does_not_comment_twice(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    pull = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))
    github.inject_server_error("PATCH", f"{REPO}/pulls/*", times=4)  # the close fails past every retry

    with pytest.raises(ForgeError, match="502"):
        forge.close_pull_request(pull.number, "obsolete")
    forge.close_pull_request(pull.number, "obsolete")

    assert [c.body for c in github.comments_on(pull.number)] == ["obsolete"]
    assert github.pull(pull.number).state == "closed"


def test_merged_when_the_head_commit_reaches_the_base_branch(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    merged = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/merged")))
    still_open = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/open")))

    merge_into(bare_repo, merged.branch)

    assert forge.find_pull_requests(merged.branch)[0].state == "merged"
    assert github.pull(merged.number).merged_at is not None
    assert [p.number for p in forge.list_pull_requests("closed")] == [merged.number]
    assert [p.number for p in forge.list_pull_requests("open")] == [still_open.number]
    assert {p.state for p in forge.list_pull_requests("all")} == {"merged", "open"}


def test_list_pull_requests_paginates_past_100(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    for index in range(130):
        github.seed_pull_request(
            f"gitops-engine/team/w{index:03}", state="closed" if index % 10 == 0 else "open"
        )

    everything = forge.list_pull_requests("all")
    open_ones = forge.list_pull_requests("open")

    assert [p.number for p in everything] == list(range(1, 131))
    assert len(open_ones) == 117
    pages = [r.query.get("page") for r in github.requests if r.path == f"{REPO}/pulls"]
    assert pages == [None, "2", None, "2"]


def test_find_pages_through_many_pull_requests_for_one_branch(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    # Renovate-style history: a branch that has had many closed pull requests over the years.
    sha = commit_files(bare_repo, "scratch", {"a": "1"})
    point_branches(bare_repo, {"gitops-engine/a/b": sha})
    for _ in range(105):
        github.seed_pull_request("gitops-engine/a/b", state="closed")
    github.seed_pull_request("gitops-engine/a/c")

    found = forge.find_pull_requests("gitops-engine/a/b")

    assert len(found) == 105
    assert [p.number for p in found] == sorted((p.number for p in found), reverse=True)


def test_create_when_one_is_already_open_updates_it_instead(
    github: FakeGitHub, clock: FakeClock, bare_repo: Path
) -> None:
    branch = push_branch(bare_repo, "a/b")
    first_run = make_forge(github, clock)
    first = first_run.create_pull_request(draft_for(branch))

    # A later run that (say) crashed before recording the first: it tries to create again.
    second_run = make_forge(github, clock)
    second = second_run.create_pull_request(draft_for(branch, title="newer"))

    assert second.number == first.number
    assert second.title == "newer"
    assert len(github.pulls()) == 1
    assert [(r.method, r.status) for r in github.requests if r.is_write][-2:] == [
        ("POST", 422),
        ("PATCH", 200),
    ]


def test_a_502_after_github_created_the_pull_request_never_duplicates(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    branch = push_branch(bare_repo, "a/b")
    github.inject_server_error("POST", f"{REPO}/pulls", apply=True)

    pull = forge.create_pull_request(draft_for(branch))

    assert len(github.pulls()) == 1
    assert pull.labels == ("gitops-engine",)
    assert pull.reviewers == ("payments",)


def test_a_502_after_a_comment_was_posted_does_not_post_it_twice(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    pull = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))
    github.inject_server_error("POST", f"{REPO}/issues/*/comments", apply=True)

    forge.upsert_comment(pull.number, "gitops-engine:preview", "preview")

    assert len(github.comments_on(pull.number)) == 1


def test_team_reviewers_github_refuses_do_not_fail_the_pull_request(
    bare_repo: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeGitHub(bare_repo, clock=clock, teams={"payments"}) as github:
        forge = make_forge(github, clock)
        pull = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b"), reviewers=("ghosts",)))
        assert pull.number == 1
        assert pull.reviewers == ()
        assert "ghosts" in caplog.text
        assert github.spec_violations == []


def test_github_validation_errors_are_reported(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    with pytest.raises(ForgeError, match="No commits between main and main"):
        forge.create_pull_request(draft_for("main"))
    with pytest.raises(ForgeError, match="404"):
        forge.update_pull_request(99, draft_for("x"))


# -- comments --------------------------------------------------------------------------------------------------------


def test_upsert_comment_creates_then_edits_only_when_the_text_changes(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    pull = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))
    github.seed_comment(pull.number, "LGTM from a human")
    github.clear_log()

    forge.upsert_comment(pull.number, "gitops-engine:preview", "diff v1")
    forge.upsert_comment(pull.number, "gitops-engine:preview", "diff v1")
    forge.upsert_comment(pull.number, "gitops-engine:preview", "diff v2")

    assert [r.method for r in github.writes] == ["POST", "PATCH"]
    bodies = [c.body for c in github.comments_on(pull.number)]
    assert bodies == ["LGTM from a human", "<!-- gitops-engine:preview -->\ndiff v2"]


def test_upsert_comment_finds_its_marker_past_the_first_page(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    pull = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))
    for index in range(150):
        github.seed_comment(pull.number, f"chatter {index}")
    mine = github.seed_comment(pull.number, "<!-- gitops-engine:preview -->\nold")
    github.clear_log()

    forge.upsert_comment(pull.number, "<!-- gitops-engine:preview -->", "<!-- gitops-engine:preview -->\nnew")

    assert [(r.method, r.path) for r in github.writes] == [("PATCH", f"{REPO}/issues/comments/{mine.id}")]
    assert github.comments[mine.id].body == "<!-- gitops-engine:preview -->\nnew"
    assert [r.query.get("page") for r in github.requests if r.method == "GET"] == [None, "2"]


# -- rate limits and faults -----------------------------------------------------------------------------------------


def test_secondary_limit_with_retry_after_waits_exactly_that(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    github.inject_secondary_rate_limit("POST", f"{REPO}/pulls", retry_after=7)

    forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))

    assert forge.stats.waits == [7.0]
    assert len(github.pulls()) == 1


def test_secondary_limit_without_retry_after_waits_a_minute_then_backs_off(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    github.inject_secondary_rate_limit("POST", f"{REPO}/pulls", times=2)

    forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))

    assert forge.stats.waits == [60.0, 120.0]
    assert len(github.pulls()) == 1


def test_secondary_limit_that_persists_stops_the_run(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    fault = github.inject_secondary_rate_limit("POST", f"{REPO}/pulls", times=10)

    with pytest.raises(RateLimited, match="next run"):
        forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))

    assert fault.hits == 4  # the first try and three retries
    assert github.pulls() == []


def test_429_with_and_without_retry_after(github: FakeGitHub, forge: GitHubForge) -> None:
    github.inject_secondary_rate_limit("GET", f"{REPO}/pulls", status=429, retry_after=3)
    github.inject(
        "GET", f"{REPO}/pulls", 429, body={"message": "Too Many Requests"}, headers={"retry-after": "2"}
    )
    github.inject_secondary_rate_limit("GET", f"{REPO}/pulls", status=429)

    assert forge.list_pull_requests("open") == []
    # retry-after when sent; the third limit in a row, without one, backs off exponentially: 60 s * 2**2.
    assert forge.stats.waits == [3.0, 2.0, 240.0]


def test_server_errors_are_retried_with_backoff(github: FakeGitHub, forge: GitHubForge) -> None:
    github.inject_server_error("GET", f"{REPO}/pulls", times=2)

    assert forge.list_pull_requests("all") == []

    assert forge.stats.waits == [1.0, 2.0]  # jitter fixed at the midpoint: 2**n * (0.5 + 0.5)
    assert forge.stats.reads == 3


def test_server_errors_that_persist_raise_after_bounded_retries(
    github: FakeGitHub, forge: GitHubForge
) -> None:
    fault = github.inject_server_error("GET", f"{REPO}/pulls", status=503, times=10)

    with pytest.raises(ForgeError, match="503") as raised:
        forge.list_pull_requests("all")

    assert not isinstance(raised.value, RateLimited)
    assert fault.hits == 4


def test_unreachable_github_is_retried_then_reported(clock: FakeClock, bare_repo: Path) -> None:
    with FakeGitHub(bare_repo, clock=clock) as github:
        forge = make_forge(github, clock)
    # The server is gone: every connection is refused.
    with pytest.raises(ForgeError, match="cannot reach GitHub"):
        forge.list_pull_requests("open")
    assert forge.stats.reads == 4


def test_primary_limit_near_its_reset_is_waited_out(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    github.inject_primary_rate_limit("POST", f"{REPO}/pulls", reset_in=30)

    forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))

    assert len(forge.stats.waits) == 1
    assert 30 <= forge.stats.waits[0] <= 32
    assert len(github.pulls()) == 1


def test_primary_limit_spent_by_the_last_answer_is_waited_for_before_the_next_request(
    github: FakeGitHub, forge: GitHubForge, clock: FakeClock
) -> None:
    github.set_rate_limit(remaining=1, reset_in=20)

    forge.list_pull_requests("open")  # answered with x-ratelimit-remaining: 0
    forge.list_pull_requests("open")

    assert len(forge.stats.waits) == 1
    assert [r.status for r in github.requests] == [200, 200]


def test_primary_limit_with_a_far_reset_stops_the_run_and_the_next_run_finishes(
    github: FakeGitHub, clock: FakeClock, bare_repo: Path
) -> None:
    drafts = [draft_for(push_branch(bare_repo, f"team/w{index}")) for index in range(5)]
    first_run = make_forge(github, clock)
    publish(first_run, drafts[:2])
    github.inject_primary_rate_limit("POST", f"{REPO}/pulls", reset_in=3600)

    with pytest.raises(RateLimited, match="next run"):
        publish(first_run, drafts)
    assert first_run.stats.waits == []  # it did not sit out the hour
    assert len(github.pulls()) == 2

    second_run = make_forge(github, clock)
    publish(second_run, drafts)

    pulls = github.pulls()
    assert sorted(p.head_ref or "" for p in pulls) == sorted(d.branch for d in drafts)
    assert all(p.labels == ["gitops-engine"] and p.requested_teams == ["payments"] for p in pulls)


def test_per_run_write_budget_leaves_the_rest_for_the_next_run(
    github: FakeGitHub, clock: FakeClock, bare_repo: Path
) -> None:
    drafts = [draft_for(push_branch(bare_repo, f"team/w{index}"), reviewers=()) for index in range(3)]

    first_run = make_forge(github, clock, max_writes_per_run=5)
    with pytest.raises(RateLimited, match="5 forge"):
        publish(first_run, drafts)
    # Each pull request needs 2 writes (the pull request, then its labels): the third did not start, rather than
    # open without its labels.
    assert first_run.stats.writes == 4
    assert [p.labels for p in github.pulls()] == [["gitops-engine"], ["gitops-engine"]]

    second_run = make_forge(github, clock, max_writes_per_run=5)
    publish(second_run, drafts)
    assert second_run.stats.writes == 2
    assert len(github.pulls()) == 3

    third_run = make_forge(github, clock, max_writes_per_run=5)
    github.clear_log()
    publish(third_run, drafts)
    assert github.writes == []


def test_writes_are_spaced_and_capped_per_minute(
    github: FakeGitHub, clock: FakeClock, bare_repo: Path
) -> None:
    forge = make_forge(github, clock, min_write_interval=1.0, max_writes_per_minute=3)
    pull = forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b"), labels=(), reviewers=()))
    started = clock.now
    for index in range(4):
        forge.upsert_comment(pull.number, f"m{index}", "text")

    # Writes 1-3 fill the minute (1 s apart); the fourth waits for the first to leave the window; the fifth waits
    # for the second.
    assert forge.stats.waits[:2] == [1.0, 1.0]
    assert forge.stats.waits[2] == pytest.approx(58.0)
    assert clock.now - started >= 60
    assert forge.stats.writes == 5


# -- configuration and secrets --------------------------------------------------------------------------------------


def test_from_environment_reads_what_github_actions_provides(github: FakeGitHub) -> None:
    forge = GitHubForge.from_environment(
        {"GITHUB_REPOSITORY": github.repository, "GH_TOKEN": github.token, "GITHUB_API_URL": github.api_url}
    )
    assert forge.list_pull_requests("open") == []
    assert forge.api_url == github.api_url

    default = GitHubForge.from_environment({"GITHUB_REPOSITORY": "o/r", "GITHUB_TOKEN": "t"})
    assert default.api_url == "https://api.github.com"


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({}, "GITHUB_REPOSITORY and GITHUB_TOKEN"),
        ({"GITHUB_REPOSITORY": "o/r"}, "needs GITHUB_TOKEN"),
        ({"GITHUB_TOKEN": "t"}, "needs GITHUB_REPOSITORY"),
    ],
)
def test_from_environment_says_what_is_missing(environ: dict[str, str], missing: str) -> None:
    with pytest.raises(UsageError, match=missing) as raised:
        GitHubForge.from_environment(environ)
    assert "--forge local" in str(raised.value)


def test_malformed_repository_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="owner/name"):
        GitHubForge("not-a-repo", "t")


def test_github_enterprise_base_url(bare_repo: Path, clock: FakeClock) -> None:
    with FakeGitHub(bare_repo, clock=clock, api_prefix="/api/v3") as github:
        forge = GitHubForge.from_environment(
            {
                "GITHUB_REPOSITORY": github.repository,
                "GITHUB_TOKEN": github.token,
                "GITHUB_API_URL": github.api_url,
            }
        )
        for index in range(120):
            github.seed_pull_request(f"b{index}")
        assert len(forge.list_pull_requests("open")) == 120  # the next-page link keeps the /api/v3 prefix
        assert github.spec_violations == []


def test_the_token_never_appears_in_errors_logs_or_repr(
    github: FakeGitHub, clock: FakeClock, bare_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    forge = make_forge(github, clock)
    echoed = {"message": f"internal error for Authorization: Bearer {github.token}"}
    github.inject("GET", f"{REPO}/pulls", 500, body=echoed, times=10)
    messages = []

    with pytest.raises(ForgeError) as server_error:
        forge.list_pull_requests("open")
    messages.append(str(server_error.value))
    github.faults.clear()
    github.inject("POST", f"{REPO}/pulls", 422, body={"message": f"Validation Failed {github.token}"})
    with pytest.raises(ForgeError) as validation_error:
        forge.create_pull_request(draft_for(push_branch(bare_repo, "a/b")))
    messages.append(str(validation_error.value))

    wrong = GitHubForge(
        github.repository, "ghp_wrongTokenValue", api_url=github.api_url, sleep=clock.sleep, clock=clock
    )
    with pytest.raises(UsageError, match="rejected the token") as bad_token:
        wrong.list_pull_requests("open")
    messages.append(str(bad_token.value))

    assert all(github.token not in m and "ghp_wrongTokenValue" not in m for m in messages)
    assert "***" in messages[0]
    assert github.token not in caplog.text
    assert github.token not in repr(forge)


# -- the fake itself --------------------------------------------------------------------------------------------------


def test_the_fake_rejects_requests_that_break_the_openapi_description(bare_repo: Path) -> None:
    with FakeGitHub(bare_repo) as github:
        client = httpx.Client(base_url=github.api_url, headers={"Authorization": f"token {github.token}"})
        commit_files(bare_repo, "feature", {"f": "1"})

        unknown_param = client.get(f"{REPO}/pulls", params={"head": "octo-org:feature", "limit": "5"})
        wrong_type = client.post(f"{REPO}/pulls", json={"title": 7, "head": "feature", "base": "main"})
        missing_field = client.post(f"{REPO}/issues/1/comments", json={"text": "hi"})
        bad_path_param = client.get(f"{REPO}/pulls/first")
        unknown_route = client.get(f"{REPO}/pulls/1/files")
        bad_enum = client.get(f"{REPO}/pulls", params={"state": "merged"})
        empty_labels = client.put(f"{REPO}/issues/1/labels", json={"labels": []})

        assert [
            r.status_code for r in (unknown_param, wrong_type, missing_field, bad_path_param, bad_enum)
        ] == [400] * 5
        assert empty_labels.status_code == 400
        assert unknown_route.status_code == 404
        assert len(github.spec_violations) == 7
        joined = "\n".join(github.spec_violations)
        assert "unknown query parameter 'limit'" in joined
        assert "7 is not of type 'string'" in joined
        assert "'body' is a required property" in joined
        assert github.pulls() == []

        # And it accepts the same calls made correctly.
        github.spec_violations.clear()
        assert (
            client.post(f"{REPO}/pulls", json={"title": "t", "head": "feature", "base": "main"}).status_code
            == 201
        )
        assert github.spec_violations == []


def test_the_checked_in_description_holds_every_operation_the_trim_script_lists() -> None:
    spec = OpenApiSpec()
    assert {(op.method.lower(), op.template) for op in spec.operations} == set(OPERATIONS)
    assert "@octokit/openapi" in spec.version
    assert TRIMMED_SPEC.stat().st_size < 200_000


def test_the_fake_behaves_like_github_on_auth_and_headers(github: FakeGitHub) -> None:
    anonymous = httpx.get(f"{github.api_url}{REPO}/pulls")
    wrong = httpx.get(f"{github.api_url}{REPO}/pulls", headers={"Authorization": "Bearer nope"})
    other_repo = httpx.get(
        f"{github.api_url}/repos/someone/else/pulls", headers={"Authorization": f"Bearer {github.token}"}
    )
    assert (anonymous.status_code, wrong.status_code, other_repo.status_code) == (401, 401, 404)
    for response in (anonymous, wrong, other_repo):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used"} <= set(
            response.headers
        )
        assert response.headers["x-ratelimit-resource"] == "core"


def test_the_fake_ignores_a_head_filter_without_owner_like_github(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    forge.create_pull_request(draft_for(push_branch(bare_repo, "a/one")))
    forge.create_pull_request(draft_for(push_branch(bare_repo, "a/two")))
    response = httpx.get(
        f"{github.api_url}{REPO}/pulls",
        params={"head": "gitops-engine/a/one"},
        headers={"Authorization": f"Bearer {github.token}"},
    )
    assert len(response.json()) == 2


def test_update_asks_for_review_only_when_no_team_was_ever_asked_and_nobody_reviewed(
    github: FakeGitHub, forge: GitHubForge, bare_repo: Path
) -> None:
    """A run killed between opening a pull request and asking for review leaves it with no team: the next
    update asks. A team that reviewed is dropped from the requested ones by GitHub: it is not asked again."""
    branch = push_branch(bare_repo, "payments/api")
    cut_short = forge.create_pull_request(draft_for(branch, reviewers=()))
    github.clear_log()

    forge.update_pull_request(cut_short.number, draft_for(branch))

    assert mutations(github) == [
        (
            ["reviewers: requestReviews"],
            {"pullRequestId": cut_short.node_id, "teamIds": [team_id(github, "payments")]},
        )
    ]
    assert len(github.writes) == 1
    assert github.pull(cut_short.number).requested_teams == ["payments"]
    github.seed_review(cut_short.number, "alice", team="payments")
    assert github.pull(cut_short.number).requested_teams == []
    github.clear_log()

    forge.update_pull_request(cut_short.number, draft_for(branch))

    assert writes(github) == []
    assert [r.path for r in github.requests][-1] == f"{REPO}/pulls/{cut_short.number}/reviews"

"""The GitHub transport (`gitops_engine.forge.http`) on its own, against the stand-in GitHub: what one request
costs, how GraphQL answers come back, what it refuses to follow, and how it keeps the token out of messages.

The forge-level behaviour built on it (back-off on 403/429 with and without retry-after, 5xx retries, primary
limits, pacing) is tested through the forge in tests/test_github_forge.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakegithub import FakeClock, FakeGitHub, commit_files, make_bare_repo

from gitops_engine.errors import ForgeError, RateLimited
from gitops_engine.forge import ForgeStats
from gitops_engine.forge.http import GitHubTransport

REPO = "/repos/octo-org/platform"
AUTOMERGE = """\
mutation ($id: ID!) {
  automerge: enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: SQUASH}) {
    clientMutationId
  }
}
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def github(tmp_path: Path, clock: FakeClock) -> Iterator[FakeGitHub]:
    bare = make_bare_repo(tmp_path / "remote.git")
    commit_files(bare, "gitops-engine/a/b", {"a.yaml": "a: 2\n"})
    with FakeGitHub(bare, clock=clock) as server:
        yield server
        assert server.spec_violations == []
        assert server.response_violations == []


@pytest.fixture
def http(github: FakeGitHub, clock: FakeClock) -> Iterator[GitHubTransport]:
    transport = GitHubTransport(
        github.api_url,
        github.token,
        stats=ForgeStats(),
        repository=github.repository,
        min_write_interval=0.0,
        sleep=clock.sleep,
        clock=clock,
        jitter=lambda: 0.5,
    )
    yield transport
    transport.close()


def open_pull(http: GitHubTransport) -> dict[str, object]:
    response = http.request(
        "POST", f"{REPO.lstrip('/')}/pulls", json={"title": "t", "head": "gitops-engine/a/b", "base": "main"}
    )
    data = http.expect(response, 201)
    assert isinstance(data, dict)
    return data


def test_a_graphql_request_is_one_write_and_answers_data_and_errors(
    github: FakeGitHub, http: GitHubTransport
) -> None:
    pull = open_pull(http)
    github.allow_auto_merge = False

    answer = http.graphql(AUTOMERGE, {"id": pull["node_id"]})

    assert answer == {
        "data": {"automerge": None},
        "errors": [
            {
                "type": "UNPROCESSABLE",
                "message": "Auto merge is not allowed for this repository",
                "path": ["automerge"],
                "locations": [{"line": 2, "column": 3}],
            }
        ],
    }
    assert (http.stats.writes, http.stats.reads) == (2, 0)


def test_a_graphql_request_that_failed_on_the_server_is_retried(
    github: FakeGitHub, http: GitHubTransport, clock: FakeClock
) -> None:
    """The follow-up mutations are idempotent (adding a label or a team twice, enabling auto-merge twice): a 502
    is retried like a GET, after a back-off."""
    pull = open_pull(http)
    github.inject_server_error("POST", "/graphql", apply=True)

    answer = http.graphql(AUTOMERGE, {"id": pull["node_id"]})

    assert answer == {"data": {"automerge": {"clientMutationId": None}}}
    assert http.stats.writes == 3 and clock.slept == [1.0]
    assert github.pulls()[0].automerge == "squash"


def test_a_graphql_secondary_limit_waits_as_long_as_retry_after_says(
    github: FakeGitHub, http: GitHubTransport, clock: FakeClock
) -> None:
    pull = open_pull(http)
    github.inject_secondary_rate_limit("POST", "/graphql", retry_after=12, status=429)

    http.graphql(AUTOMERGE, {"id": pull["node_id"]})

    assert clock.slept == [12.0] and http.stats.waits == [12.0]
    assert github.pulls()[0].automerge == "squash"


def test_the_write_budget_is_checked_before_anything_is_sent(
    github: FakeGitHub, http: GitHubTransport
) -> None:
    http.max_writes_per_run = 2
    open_pull(http)

    with pytest.raises(RateLimited) as raised:
        http.require_write_budget(2)

    assert str(raised.value) == (
        "this run has 1 of its 2 forge writes left and the next step needs 2; the rest is left for the next run"
    )
    assert len(github.writes) == 1


def test_a_redirect_is_reported_not_followed(github: FakeGitHub, http: GitHubTransport) -> None:
    github.inject("GET", f"{REPO}/pulls", 301, headers={"location": "https://elsewhere.example/moved"})

    with pytest.raises(ForgeError) as raised:
        http.get_all(f"{REPO.lstrip('/')}/pulls", {})

    assert str(raised.value) == (
        f"GitHub redirects GET {REPO}/pulls: was octo-org/platform renamed? Update GITHUB_REPOSITORY"
    )


def test_a_next_page_link_to_another_host_is_not_followed(github: FakeGitHub, http: GitHubTransport) -> None:
    github.inject(
        "GET", f"{REPO}/pulls", 200, body=[], headers={"link": '<https://evil.example/p?page=2>; rel="next"'}
    )

    with pytest.raises(ForgeError) as raised:
        http.get_all(f"{REPO.lstrip('/')}/pulls", {})

    assert str(raised.value) == (
        f"GitHub's next-page link for {REPO.lstrip('/')}/pulls leaves {github.api_url}: not following it"
    )
    assert http.stats.reads == 1


def test_messages_never_carry_the_token(github: FakeGitHub, http: GitHubTransport) -> None:
    github.inject(
        "GET",
        f"{REPO}/pulls/1",
        422,
        body={"message": f"bad {github.token}", "errors": [{"message": f"echo {github.token}"}]},
    )

    with pytest.raises(ForgeError) as raised:
        http.get_json(f"{REPO.lstrip('/')}/pulls/1")

    assert str(raised.value) == f"GitHub answered 422 to GET {REPO}/pulls/1: bad ***; echo ***"
    assert github.token not in repr(http)

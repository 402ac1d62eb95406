"""What the rollout layer (issue 13) builds on, in both forges: pull requests with auto-merge, merged by the chosen
method (a real merge on a bare repository), and the dashboard issue found by its marker and edited in place.

GitHub is the stand-in (`tests/fakegithub`): REST requests are checked against GitHub's OpenAPI description and
GraphQL documents against GitHub's published GraphQL schema (`@octokit/graphql-schema`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakegithub import FakeClock, FakeGitHub, commit_files, git, make_bare_repo, make_forge
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

    assert [(r.method, r.path) for r in github.writes] == [
        ("POST", f"{REPO}/pulls"),
        ("PUT", f"{REPO}/issues/1/labels"),
        ("POST", "/graphql"),
    ]
    assert github.writes[2].body["variables"] == {"pullRequestId": pull.node_id, "mergeMethod": "REBASE"}
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

"""A stand-in for the GitHub REST API: pull requests, issues, labels, review requests and comments, on loopback;
and the GraphQL mutations the forge sends: labels, team review requests and auto-merge (see graphql_api.py). A real merge (`pass_checks`) lands auto-merge pull requests.

It keeps state the way GitHub does (issue and pull-request numbers share one sequence; a pull request is merged when
its head commit reaches the base branch of a real bare repository; closed ones stay listed), checks every request
against GitHub's published OpenAPI description (violations answer 400 and are kept in `spec_violations`), sends
GitHub's rate-limit headers, and fails on demand (`inject…`) so clients can be tested against the faults GitHub
documents. Tests drive it through Python methods, never through extra HTTP endpoints.

    with FakeGitHub(bare_repo=path) as github:
        forge = GitHubForge("octo-org/platform", github.token, api_url=github.api_url)
        ...
        assert github.spec_violations == []
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from gitops_engine.git import Git, Identity

from . import graphql_api
from .openapi import Match, OpenApiSpec

DOCS = "https://docs.github.com/rest"
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID ABCD:1234."
)
PRIMARY_LIMIT_MESSAGE = "API rate limit exceeded for installation ID 1."
MAX_BODY_CHARS = 65536  # GitHub's limit for pull-request and comment bodies (not in the OpenAPI description)

_SPEC: OpenApiSpec | None = None
_SPEC_LOCK = threading.Lock()


def load_spec() -> OpenApiSpec:
    """The trimmed description, parsed once per test session (it is immutable)."""
    global _SPEC
    with _SPEC_LOCK:
        if _SPEC is None:
            _SPEC = OpenApiSpec()
        return _SPEC


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (never the credentials)."""

    method: str
    path: str  # without the API prefix and query
    query: dict[str, str]
    body: Any  # parsed JSON, or None
    status: int

    @property
    def is_write(self) -> bool:
        return self.method not in {"GET", "HEAD"}


@dataclass
class Fault:
    """Answer the next `times` requests matching `method` and `path` (fnmatch patterns) with this response.

    With `apply`, the request still takes effect before the fault replaces the answer: GitHub did the work but the
    client saw an error (a 502 after the pull request was created), the case that tempts clients into duplicates.
    """

    method: str
    path: str
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    apply: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.hits < self.times
            and fnmatch.fnmatchcase(method, self.method)
            and fnmatch.fnmatchcase(path, self.path)
        )


@dataclass
class Issue:
    """An issue or, when `head_ref` is set, a pull request (GitHub's pull requests are issues too)."""

    number: int
    title: str
    body: str | None
    state: str = "open"  # open | closed
    labels: list[str] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    closed_at: str | None = None
    # pull-request fields
    head_ref: str | None = None
    head_sha: str = ""
    base_ref: str = "main"
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    requested_teams: list[str] = field(default_factory=list)
    head_seen: bool = False  # its branch existed once; deleting it now closes the pull request, as on GitHub
    automerge: str | None = (
        None  # the merge method auto-merge will use (merge | squash | rebase), None when off
    )

    @property
    def node_id(self) -> str:
        """The global id GitHub's GraphQL API takes (opaque to clients; any unique string will do)."""
        return f"{'PR' if self.is_pull else 'I'}_kwDOfake{self.number}"

    @property
    def is_pull(self) -> bool:
        return self.head_ref is not None


@dataclass
class Comment:
    id: int
    issue_number: int
    body: str
    created_at: str
    updated_at: str


class _ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors is not None:
            self.body["errors"] = errors


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeGitHub:
    """The fake API for one repository, `owner/repo`, served at `api_url` until `stop()`.

    `bare_repo` is the git remote the repository's branches live in; without it, branch checks and merge detection
    are off. `api_prefix` serves under a path, as GitHub Enterprise does (`/api/v3`).
    """

    def __init__(
        self,
        bare_repo: Path | None = None,
        *,
        owner: str = "octo-org",
        repo: str = "platform",
        token: str = "ghs_fakeTokenValue0123456789abcdefABCDEF",
        api_prefix: str = "",
        teams: set[str] | None = None,
        org_teams: set[str] | None = None,
        labels: tuple[str, ...] = (),
        rate_limit: int = 5000,
        clock: Callable[[], float] = time.time,
        allow_auto_merge: bool = True,
    ) -> None:
        self.bare_repo = bare_repo
        self.clock = clock  # share the client's fake clock so rate-limit resets pass when the client "sleeps"
        self.owner = owner
        self.repo = repo
        self.token = token
        self.api_prefix = api_prefix.rstrip("/")
        self.teams = teams  # None: any team slug may be requested for review
        self.org_teams = org_teams  # the organisation's teams; None: every slug names one
        self.repo_labels: dict[str, str] = {}  # the repository's labels: lower-cased name -> name
        for name in labels:
            self._register_label(name)
        self.allow_auto_merge = allow_auto_merge  # the repository setting "Allow auto-merge"
        self.spec = load_spec()
        self.requests: list[RecordedRequest] = []
        self.spec_violations: list[str] = []
        self.response_violations: list[str] = []  # the fake's own answers that break the description's types
        self.faults: list[Fault] = []
        self.issues: dict[int, Issue] = {}
        self.comments: dict[int, Comment] = {}
        self.reviews: dict[int, list[tuple[str, str]]] = {}  # pull request -> (reviewer login, state)
        self.rate_limit = rate_limit
        self.rate_remaining = rate_limit
        self.rate_reset = int(self.clock()) + 3600
        self._next_number = 1
        self._next_comment_id = 1_000_000_001
        self._ancestry: dict[tuple[str, str], bool] = {}
        self._current_branches: dict[str, str] = {}  # as of the last _refresh(), for building responses
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        """Listen on a free loopback port in a background thread."""
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            # A short poll keeps stop() quick: shutdown() waits for the loop to notice.
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-github",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """What a client uses as GITHUB_API_URL."""
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{self.api_prefix}"

    @property
    def repository(self) -> str:
        """What a client uses as GITHUB_REPOSITORY."""
        return f"{self.owner}/{self.repo}"

    # -- fault injection ---------------------------------------------------------------------------------------

    def inject(
        self,
        method: str,
        path: str,
        status: int,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        apply: bool = False,
    ) -> Fault:
        """Answer the next `times` requests matching `method`/`path` (fnmatch, e.g. `"*/pulls"`) with `status`."""
        fault = Fault(method, path, status, body, dict(headers or {}), times, apply)
        with self._lock:
            self.faults.append(fault)
        return fault

    def inject_secondary_rate_limit(
        self,
        method: str = "*",
        path: str = "*",
        *,
        retry_after: int | None = None,
        status: int = 403,
        times: int = 1,
    ) -> Fault:
        """GitHub's secondary limit: 403 (or 429) with its message, and `retry-after` when given."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        body = {
            "message": SECONDARY_LIMIT_MESSAGE,
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
        }
        return self.inject(method, path, status, body=body, headers=headers, times=times)

    def inject_primary_rate_limit(
        self, method: str = "*", path: str = "*", *, reset_in: float = 3600, times: int = 1
    ) -> Fault:
        """The primary limit used up: 403, `x-ratelimit-remaining: 0`, `x-ratelimit-reset` `reset_in` from now."""
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(self.clock() + reset_in))}
        body = {
            "message": PRIMARY_LIMIT_MESSAGE,
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
        }
        return self.inject(method, path, 403, body=body, headers=headers, times=times)

    def inject_server_error(
        self, method: str = "*", path: str = "*", *, status: int = 502, times: int = 1, apply: bool = False
    ) -> Fault:
        """A 5xx; with `apply` the request took effect anyway."""
        body = {"message": "Server Error"} if status != 502 else {"message": "Bad Gateway"}
        return self.inject(method, path, status, body=body, times=times, apply=apply)

    # -- inspection and seeding --------------------------------------------------------------------------------

    @property
    def writes(self) -> list[RecordedRequest]:
        """Every request that could change something (anything but GET)."""
        with self._lock:
            return [r for r in self.requests if r.is_write]

    def clear_log(self) -> None:
        """Forget recorded requests (between two runs of a scenario)."""
        with self._lock:
            self.requests.clear()

    def pulls(self, state: str = "all") -> list[Issue]:
        """Pull requests by number, merge state refreshed from the bare repository."""
        with self._lock:
            self._refresh()
            return [
                i
                for n, i in sorted(self.issues.items())
                if i.is_pull and (state == "all" or i.state == state)
            ]

    def pull(self, number: int) -> Issue:
        with self._lock:
            self._refresh()
            return self.issues[number]

    def comments_on(self, number: int) -> list[Comment]:
        with self._lock:
            return [c for _, c in sorted(self.comments.items()) if c.issue_number == number]

    def seed_issue(self, title: str = "an issue") -> Issue:
        """A plain issue: it takes a number from the sequence pull requests share."""
        with self._lock:
            issue = Issue(self._take_number(), title, None, created_at=self._now(), updated_at=self._now())
            self.issues[issue.number] = issue
            return issue

    def seed_pull_request(
        self,
        head: str,
        *,
        base: str = "main",
        title: str = "seeded",
        body: str | None = None,
        state: str = "open",
        labels: tuple[str, ...] = (),
        teams: tuple[str, ...] = (),
    ) -> Issue:
        """A pull request as if someone made it earlier; its branch need not exist (then it is left alone)."""
        with self._lock:
            for name in labels:
                self._register_label(name)
            sha = self._branches().get(head, "0" * 40)
            pull = Issue(
                self._take_number(),
                title,
                body or None,
                state=state,
                labels=list(labels),
                created_at=self._now(),
                updated_at=self._now(),
                closed_at=self._now() if state == "closed" else None,
                head_ref=head,
                head_sha=sha,
                base_ref=base,
                requested_teams=list(teams),
                head_seen=False,
            )
            self.issues[pull.number] = pull
            return pull

    def seed_review(
        self, number: int, login: str, *, team: str | None = None, state: str = "APPROVED"
    ) -> None:
        """`login` reviews pull request `number`; a member of `team` reviewing drops the team from the requested
        reviewers, as GitHub does."""
        with self._lock:
            pull = self.issues[number]
            self.reviews.setdefault(number, []).append((login, state))
            if team in pull.requested_teams:
                pull.requested_teams.remove(team)

    def seed_comment(self, number: int, body: str) -> Comment:
        """A comment someone left earlier on issue or pull request `number`."""
        with self._lock:
            comment = Comment(self._next_comment_id, number, body, self._now(), self._now())
            self._next_comment_id += 1
            self.comments[comment.id] = comment
            return comment

    def set_rate_limit(self, remaining: int, reset_in: float = 3600) -> None:
        """Set the primary limit's budget: at 0 every request gets GitHub's 403 until the reset passes."""
        with self._lock:
            self.rate_remaining = remaining
            self.rate_reset = int(self.clock() + reset_in)

    # -- request handling (called by _Handler, one request at a time under the lock) ----------------------------

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes) -> _Response:
        with self._lock:
            parts = urlsplit(raw_path)
            path = parts.path
            query_lists = parse_qs(parts.query, keep_blank_values=True)
            query = {k: v[-1] for k, v in query_lists.items()}
            body: Any = None
            response = self._handle(method, path, query_lists, headers, raw_body)
            if raw_body:
                try:
                    body = json.loads(raw_body)
                except ValueError:
                    body = raw_body.decode("utf-8", "replace")
            response.headers = {**self._rate_headers(), **response.headers}
            self.requests.append(
                RecordedRequest(method, path.removeprefix(self.api_prefix), query, body, response.status)
            )
            return response

    def _handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], raw_body: bytes
    ) -> _Response:
        graphql = path == self.graphql_path
        if not graphql and not path.startswith(self.api_prefix + "/"):
            return _error(404, "Not Found")
        path = path.removeprefix(self.api_prefix)
        if not headers.get("user-agent"):
            # GitHub rejects requests without a User-Agent outright.
            return _error(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
            )
        auth = headers.get("authorization", "")
        if not auth:
            return _error(401, "Requires authentication")
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() not in {"bearer", "token"} or credential != self.token:
            return _error(401, "Bad credentials")

        if graphql:
            return self._graphql(method, headers, raw_body)
        match, path_problems = self.spec.match(method, path)
        if match is None:
            self._violation(method, path, path_problems)
            return _error(404, "Not Found")
        query_values, query_problems = self.spec.check_query(match.operation, query)
        body, body_problems = _parse_body(raw_body, headers.get("content-type", ""))
        if not body_problems:
            body_problems = self.spec.check_body(match.operation, body, present=bool(raw_body))
        problems = path_problems + query_problems + body_problems
        if problems:
            self._violation(method, path, problems)
            return _error(400, "Invalid request.\n\n" + "\n".join(problems))

        fault = next((f for f in self.faults if f.matches(method, path)), None)
        if fault is not None:
            fault.hits += 1
            if fault.apply:
                with contextlib.suppress(_ApiError):  # the client sees the fault either way
                    self._dispatch(match, query_values, body)
            return _Response(fault.status, fault.body, dict(fault.headers))

        self._replenish()
        if self.rate_remaining <= 0:
            return _Response(
                403,
                {"message": PRIMARY_LIMIT_MESSAGE, "documentation_url": DOCS},
                {"x-ratelimit-remaining": "0"},
            )
        self.rate_remaining -= 1
        try:
            response = self._dispatch(match, query_values, body)
        except _ApiError as error:
            response = _Response(error.status, error.body)
        for problem in self.spec.check_response(match.operation, response.status, response.body):
            self.response_violations.append(f"{method} {path}: {problem}")
        return response

    @property
    def graphql_path(self) -> str:
        """Where GitHub serves GraphQL: `/graphql`, or `/api/graphql` beside GitHub Enterprise's `/api/v3`."""
        return self.api_prefix.removesuffix("/v3") + "/graphql" if self.api_prefix else "/graphql"

    def _graphql(self, method: str, headers: Mapping[str, str], raw_body: bytes) -> _Response:
        """POST /graphql: the document is validated against GitHub's published GraphQL schema (a violation is a
        spec violation, answered as GitHub does: 200 with `errors`), then executed with the few resolvers this
        stand-in has (addLabelsToLabelable, requestReviews, enablePullRequestAutoMerge)."""
        if method != "POST":
            return _error(404, "Not Found")
        request, problems = _parse_body(raw_body, headers.get("content-type", ""))
        if not problems and not (isinstance(request, dict) and isinstance(request.get("query"), str)):
            problems = ["a GraphQL request is a JSON object with a `query` string"]
        if problems:
            self._violation(method, "/graphql", problems)
            return _error(400, "Problems parsing JSON")
        fault = next((f for f in self.faults if f.matches(method, "/graphql")), None)
        if fault is not None and not fault.apply:
            fault.hits += 1
            return _Response(fault.status, fault.body, dict(fault.headers))
        result = graphql_api.execute(request["query"], request.get("variables") or {}, self)
        if result.violations:
            self._violation(method, "/graphql", result.violations)
        if fault is not None:  # the document took effect, but the client sees the fault
            fault.hits += 1
            return _Response(fault.status, fault.body, dict(fault.headers))
        return _Response(200, result.payload)

    def enable_automerge(self, node_id: str, method: str) -> Issue:
        """The enablePullRequestAutoMerge mutation (called by the GraphQL resolver, under the lock)."""
        self._refresh()
        pull = next((i for i in self.issues.values() if i.is_pull and i.node_id == node_id), None)
        if pull is None:
            raise graphql_api.GraphQLFailure(f"Could not resolve to a node with the global id of '{node_id}'")
        if not self.allow_auto_merge:
            raise graphql_api.GraphQLFailure("Auto merge is not allowed for this repository")
        if pull.state != "open":
            raise graphql_api.GraphQLFailure("Pull request is not open")
        pull.automerge = method.lower()
        pull.updated_at = self._now()
        return pull

    def add_labels(self, labelable_id: str, label_ids: list[str]) -> Issue:
        """The addLabelsToLabelable mutation: add existing repository labels to an issue or pull request (those it
        has already stay)."""
        self._refresh()
        issue = self._node(labelable_id)
        by_id = {_label_node_id(name): name for name in self.repo_labels.values()}
        missing = [node for node in label_ids if node not in by_id]
        if missing:
            raise graphql_api.GraphQLFailure(
                f"Could not resolve to a node with the global id of '{missing[0]}'"
            )
        issue.labels = sorted(set(issue.labels) | {by_id[node] for node in label_ids}, key=str.lower)
        issue.updated_at = self._now()
        return issue

    def request_reviews(self, pull_id: str, team_ids: list[str], *, union: bool) -> Issue:
        """The requestReviews mutation for teams: add them to the pull request's requested reviewers (with
        `union`), or make them the only ones."""
        self._refresh()
        pull = self._node(pull_id)
        if not pull.is_pull:
            raise graphql_api.GraphQLFailure(
                f"Could not resolve to a PullRequest with the global id of '{pull_id}'"
            )
        slugs = []
        for node in team_ids:
            slug = node.removeprefix(_TEAM_NODE_PREFIX)
            if not node.startswith(_TEAM_NODE_PREFIX) or (
                self.org_teams is not None and slug not in self.org_teams
            ):
                raise graphql_api.GraphQLFailure(
                    f"Could not resolve to a node with the global id of '{node}'"
                )
            slugs.append(slug)
        if self.teams is not None and any(slug not in self.teams for slug in slugs):
            raise graphql_api.GraphQLFailure(
                "Could not request review: one or more of the teams you specified is not a collaborator of the "
                f"{self.repository} repository"
            )
        kept = pull.requested_teams if union else []
        pull.requested_teams = kept + [slug for slug in slugs if slug not in kept]
        pull.updated_at = self._now()
        return pull

    def _node(self, node_id: str) -> Issue:
        issue = next((i for i in self.issues.values() if i.node_id == node_id), None)
        if issue is None:
            raise graphql_api.GraphQLFailure(f"Could not resolve to a node with the global id of '{node_id}'")
        return issue

    def pass_checks(self, number: int | None = None) -> list[int]:
        """The required checks of open pull requests pass (of `number` only, when given): GitHub merges those with
        auto-merge on, by their method, into their base branch of the bare repository. Returns their numbers; one
        that conflicts stays open."""
        merged = []
        with self._lock:
            self._refresh()
            assert self.bare_repo is not None, "merging needs the bare repository"
            repo = Git(self.bare_repo)
            try:
                for pull in sorted(self.issues.values(), key=lambda i: i.number):
                    if not pull.is_pull or pull.state != "open" or pull.automerge is None:
                        continue
                    if number is not None and pull.number != number:
                        continue
                    assert pull.head_ref is not None
                    base = self._branches()[pull.base_ref]
                    title = f"Merge pull request #{pull.number} from {self.owner}/{pull.head_ref}\n\n{pull.title}\n"
                    if pull.automerge != "merge":
                        title = f"{pull.title} (#{pull.number})\n"
                    landed = repo.merge_commit(
                        base,
                        pull.head_sha,
                        pull.automerge,  # type: ignore[arg-type]
                        title,
                        Identity("GitHub", "noreply@github.com"),
                    )
                    if landed is None or not repo.update_ref(f"refs/heads/{pull.base_ref}", landed, base):
                        continue
                    pull.state = "closed"
                    pull.merged_at = pull.closed_at = pull.updated_at = self._now()
                    pull.merge_commit_sha = landed
                    merged.append(pull.number)
            finally:
                repo.close()
            self._ancestry.clear()
        return merged

    def _violation(self, method: str, path: str, problems: list[str]) -> None:
        self.spec_violations.extend(f"{method} {path}: {problem}" for problem in problems)

    def _dispatch(self, match: Match, query: dict[str, Any], body: Any) -> _Response:
        params = match.path_params
        text = body.get("body") if isinstance(body, dict) else None
        if isinstance(text, str) and len(text) > MAX_BODY_CHARS:
            raise _ApiError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Issue",
                        "code": "custom",
                        "field": "body",
                        "message": "body is too long (maximum is 65536 characters)",
                    }
                ],
            )
        if "org" in params:
            if params["org"].lower() != self.owner.lower():
                raise _ApiError(404, "Not Found")
        elif (params["owner"].lower(), params["repo"].lower()) != (self.owner.lower(), self.repo.lower()):
            raise _ApiError(404, "Not Found")
        handler: Callable[[dict[str, Any], dict[str, Any], Any], _Response] = getattr(
            self, "_op_" + match.operation.operation_id.replace("/", "_").replace("-", "_")
        )
        self._refresh()
        return handler(params, query, body)

    # -- operations ---------------------------------------------------------------------------------------------

    def _op_pulls_list(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        state = query.get("state", "open")
        pulls = [i for i in self.issues.values() if i.is_pull and (state == "all" or i.state == state)]
        head = query.get("head")
        # GitHub ignores a `head` filter without the `owner:` part and lists everything: a classic client bug.
        if head is not None and ":" in head:
            owner, _, branch = head.partition(":")
            pulls = [p for p in pulls if owner.lower() == self.owner.lower() and p.head_ref == branch]
        if "base" in query:
            pulls = [p for p in pulls if p.base_ref == query["base"]]
        direction = query.get("direction", "desc" if query.get("sort", "created") == "created" else "asc")
        pulls.sort(key=lambda p: p.number, reverse=direction == "desc")
        return self._page(params, query, [self._pull_json(p, full=False) for p in pulls], "pulls")

    def _op_pulls_create(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        head = body["head"]
        if ":" in head:
            owner, _, head = head.partition(":")
            if owner.lower() != self.owner.lower():
                raise _ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                )
        base = body["base"]
        if "title" not in body:
            raise _ApiError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "title", "code": "missing_field"}],
            )
        branches = self._branches()
        if self.bare_repo is not None:
            if base not in branches:
                raise _ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": "base", "code": "invalid"}],
                )
            if head not in branches:
                raise _ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                )
            if self._is_ancestor(branches[head], branches[base]):
                raise _ApiError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"No commits between {base} and {head}",
                        }
                    ],
                )
        for other in self.issues.values():
            if other.is_pull and other.state == "open" and other.head_ref == head and other.base_ref == base:
                raise _ApiError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {self.owner}:{head}.",
                        }
                    ],
                )
        pull = Issue(
            self._take_number(),
            body["title"],
            body.get("body") or None,  # GitHub keeps an empty body as null
            created_at=self._now(),
            updated_at=self._now(),
            head_ref=head,
            head_sha=branches.get(head, "0" * 40),
            base_ref=base,
            head_seen=head in branches,
        )
        self.issues[pull.number] = pull
        return _Response(
            201, self._pull_json(pull, full=True), {"location": self._url(f"pulls/{pull.number}")}
        )

    def _op_pulls_get(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        return _Response(200, self._pull_json(self._pull(params["pull_number"]), full=True))

    def _op_pulls_update(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        pull = self._pull(params["pull_number"])
        body = body or {}
        if "state" in body and body["state"] != pull.state:
            if pull.merged_at is not None:
                raise _ApiError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": "Cannot change the state of a merged pull request.",
                        }
                    ],
                )
            if (
                body["state"] == "open"
                and self.bare_repo is not None
                and pull.head_ref not in self._branches()
            ):
                raise _ApiError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": "state cannot be changed. The head branch was deleted.",
                        }
                    ],
                )
            pull.state = body["state"]
            pull.closed_at = self._now() if pull.state == "closed" else None
        if "title" in body:
            pull.title = body["title"]
        if "body" in body:
            pull.body = body["body"] or None
        if "base" in body:
            if self.bare_repo is not None and body["base"] not in self._branches():
                raise _ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": "base", "code": "invalid"}],
                )
            pull.base_ref = body["base"]
        pull.updated_at = self._now()
        return _Response(200, self._pull_json(pull, full=True))

    def _op_pulls_list_requested_reviewers(
        self, params: dict[str, Any], query: dict[str, Any], body: Any
    ) -> _Response:
        pull = self._pull(params["pull_number"])
        return _Response(200, {"users": [], "teams": [self._team_json(t) for t in pull.requested_teams]})

    def _op_pulls_list_reviews(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        pull = self._pull(params["pull_number"])
        items = [
            {
                "id": 300_000 + index,
                "node_id": f"PRR_fake{index}",
                "user": self._user_json(login),
                "body": "",
                "state": state,
                "commit_id": pull.head_sha,
                "html_url": self._html(f"pull/{pull.number}#pullrequestreview-{300_000 + index}"),
                "pull_request_url": self._url(f"pulls/{pull.number}"),
                "_links": {
                    "html": {"href": self._html(f"pull/{pull.number}")},
                    "pull_request": {"href": self._url(f"pulls/{pull.number}")},
                },
                "author_association": "MEMBER",
            }
            for index, (login, state) in enumerate(self.reviews.get(pull.number, []), start=1)
        ]
        return self._page(params, query, items, f"pulls/{pull.number}/reviews")

    def _op_pulls_request_reviewers(
        self, params: dict[str, Any], query: dict[str, Any], body: Any
    ) -> _Response:
        pull = self._pull(params["pull_number"])
        body = body or {}
        if body.get("reviewers"):
            # No users exist in this fake; the engine only requests teams.
            raise _ApiError(
                422,
                f"Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {self.repository} repository.",
            )
        teams = body.get("team_reviewers", [])
        if self.teams is not None and any(t not in self.teams for t in teams):
            raise _ApiError(
                422,
                f"Reviews may only be requested from collaborators. One or more of the teams you specified is not a collaborator of the {self.repository} repository.",
            )
        for team in teams:
            if team not in pull.requested_teams:
                pull.requested_teams.append(team)
        pull.updated_at = self._now()
        return _Response(201, self._pull_json(pull, full=False))

    def _op_issues_list_for_repo(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        """Issues and pull requests (GitHub lists both here; pull requests carry a `pull_request` key)."""
        state = query.get("state", "open")
        items = [i for i in self.issues.values() if state == "all" or i.state == state]
        if query.get("labels"):
            wanted = {name.strip().lower() for name in query["labels"].split(",")}
            items = [i for i in items if wanted <= {name.lower() for name in i.labels}]
        direction = query.get("direction", "desc")
        items.sort(key=lambda i: i.number, reverse=direction == "desc")
        return self._page(params, query, [self._issue_json(i) for i in items], "issues")

    def _op_issues_create(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        names = [item if isinstance(item, str) else item["name"] for item in body.get("labels", [])]
        issue = Issue(
            self._take_number(),
            str(body["title"]),
            body.get("body") or None,
            labels=sorted({self._register_label(n) for n in names}, key=str.lower),
            created_at=self._now(),
            updated_at=self._now(),
        )
        self.issues[issue.number] = issue
        return _Response(201, self._issue_json(issue), {"location": self._url(f"issues/{issue.number}")})

    def _op_issues_get(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        return _Response(200, self._issue_json(self._issue(params["issue_number"])))

    def _op_issues_update(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        issue = self._issue(params["issue_number"])
        body = body or {}
        if "title" in body and body["title"] is not None:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = body["body"] or None
        if "state" in body and body["state"] != issue.state:
            if issue.is_pull and issue.merged_at is not None:
                raise _ApiError(422, "Validation Failed", [{"resource": "Issue", "code": "custom"}])
            issue.state = body["state"]
            issue.closed_at = self._now() if issue.state == "closed" else None
        issue.updated_at = self._now()
        return _Response(200, self._issue_json(issue))

    def _op_issues_list_labels_on_issue(
        self, params: dict[str, Any], query: dict[str, Any], body: Any
    ) -> _Response:
        issue = self._issue(params["issue_number"])
        return self._page(
            params, query, [self._label_json(n) for n in issue.labels], f"issues/{issue.number}/labels"
        )

    def _op_issues_set_labels(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        issue = self._issue(params["issue_number"])
        names = [item if isinstance(item, str) else item["name"] for item in (body or {}).get("labels", [])]
        # GitHub creates the labels the repository lacks.
        issue.labels = sorted({self._register_label(n) for n in names}, key=str.lower)
        issue.updated_at = self._now()
        return _Response(200, [self._label_json(n) for n in issue.labels])

    def _op_issues_remove_all_labels(
        self, params: dict[str, Any], query: dict[str, Any], body: Any
    ) -> _Response:
        issue = self._issue(params["issue_number"])
        issue.labels = []
        issue.updated_at = self._now()
        return _Response(204)

    def _op_issues_get_label(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        name = self.repo_labels.get(unquote(params["name"]).lower())
        if name is None:
            raise _ApiError(404, "Not Found")
        return _Response(200, self._label_json(name))

    def _op_issues_create_label(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        if body["name"].lower() in self.repo_labels:
            raise _ApiError(
                422,
                "Validation Failed",
                [{"resource": "Label", "code": "already_exists", "field": "name"}],
            )
        name = self._register_label(body["name"])
        return _Response(201, self._label_json(name), {"location": self._url(f"labels/{quote(name)}")})

    def _op_teams_get_by_name(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        slug = params["team_slug"]
        if self.org_teams is not None and slug not in self.org_teams:
            raise _ApiError(404, "Not Found")
        return _Response(200, self._team_json(slug))

    def _op_issues_list_comments(self, params: dict[str, Any], query: dict[str, Any], body: Any) -> _Response:
        issue = self._issue(params["issue_number"])
        items = [self._comment_json(c) for c in self.comments_on(issue.number)]
        if "since" in query:
            items = [c for c in items if c["updated_at"] >= query["since"]]
        return self._page(params, query, items, f"issues/{issue.number}/comments")

    def _op_issues_create_comment(
        self, params: dict[str, Any], query: dict[str, Any], body: Any
    ) -> _Response:
        issue = self._issue(params["issue_number"])
        comment = Comment(self._next_comment_id, issue.number, body["body"], self._now(), self._now())
        self._next_comment_id += 1
        self.comments[comment.id] = comment
        return _Response(
            201, self._comment_json(comment), {"location": self._url(f"issues/comments/{comment.id}")}
        )

    def _op_issues_update_comment(
        self, params: dict[str, Any], query: dict[str, Any], body: Any
    ) -> _Response:
        comment = self.comments.get(params["comment_id"])
        if comment is None:
            raise _ApiError(404, "Not Found")
        comment.body = body["body"]
        comment.updated_at = self._now()
        return _Response(200, self._comment_json(comment))

    # -- state helpers -----------------------------------------------------------------------------------------

    def _now(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))

    def _register_label(self, name: str) -> str:
        """The repository's label called `name` (GitHub matches label names case-insensitively), created if new."""
        return self.repo_labels.setdefault(name.lower(), name)

    def _take_number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _issue(self, number: int) -> Issue:
        issue = self.issues.get(number)
        if issue is None:
            raise _ApiError(404, "Not Found")
        return issue

    def _pull(self, number: int) -> Issue:
        issue = self._issue(number)
        if not issue.is_pull:
            raise _ApiError(404, "Not Found")
        return issue

    def _branches(self) -> dict[str, str]:
        if self.bare_repo is None:
            return {}
        out = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"],
            cwd=self.bare_repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {
            ref.removeprefix("refs/heads/"): sha
            for ref, _, sha in (line.partition(" ") for line in out.splitlines())
        }

    def _is_ancestor(self, commit: str, of: str) -> bool:
        key = (commit, of)
        if key not in self._ancestry:
            result = subprocess.run(
                ["git", "merge-base", "--is-ancestor", commit, of],
                cwd=self.bare_repo,
                capture_output=True,
                check=False,
            )
            self._ancestry[key] = result.returncode == 0
        return self._ancestry[key]

    def _refresh(self) -> None:
        """Bring open pull requests up to date with the bare repository, as GitHub does on every push."""
        if self.bare_repo is None:
            return
        branches = self._current_branches = self._branches()
        for pull in self.issues.values():
            if not pull.is_pull or pull.state != "open":
                continue
            assert pull.head_ref is not None
            tip = branches.get(pull.head_ref)
            if tip is not None:
                pull.head_sha = tip
                pull.head_seen = True
            base = branches.get(pull.base_ref)
            if base is not None and pull.head_seen and self._is_ancestor(pull.head_sha, base):
                # Pushing the head's commits to the base marks the pull request merged on GitHub.
                pull.state = "closed"
                pull.merged_at = pull.closed_at = pull.updated_at = self._now()
                pull.merge_commit_sha = base
            elif tip is None and pull.head_seen:
                pull.state = "closed"
                pull.closed_at = pull.updated_at = self._now()

    def _replenish(self) -> None:
        if self.clock() >= self.rate_reset:
            self.rate_remaining = self.rate_limit
            self.rate_reset = int(self.clock()) + 3600

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(self.rate_remaining, 0)),
            "x-ratelimit-reset": str(self.rate_reset),
            "x-ratelimit-used": str(self.rate_limit - max(self.rate_remaining, 0)),
            "x-ratelimit-resource": "core",
        }

    # -- JSON shapes (the fields of GitHub's objects that clients read, with GitHub's types) ---------------------

    def _url(self, suffix: str) -> str:
        return f"{self.api_url}/repos/{self.owner}/{self.repo}/{suffix}"

    def _html(self, suffix: str) -> str:
        return f"https://github.example/{self.owner}/{self.repo}/{suffix}"

    def _page(
        self, params: dict[str, Any], query: dict[str, Any], items: list[Any], resource: str
    ) -> _Response:
        per_page = min(max(int(query.get("per_page", 30)), 1), 100)  # GitHub caps per_page at 100
        page = max(int(query.get("page", 1)), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(number: int, rel: str) -> str:
            kept = {
                k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in query.items() if k != "page"
            }
            return f'<{self._url(resource)}?{urlencode({**kept, "page": number})}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return _Response(200, chunk, {"link": ", ".join(links)} if links else {})

    def _user_json(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": 41898282 if login.endswith("[bot]") else 1,
            "node_id": "MDQ6VXNlcjE=",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
            "url": f"{self.api_url}/users/{login}",
            "html_url": f"https://github.example/{login}",
        }

    def _label_json(self, name: str) -> dict[str, Any]:
        return {
            "id": zlib.crc32(name.encode()),
            "node_id": _label_node_id(name),
            "url": self._url(f"labels/{name}"),
            "name": name,
            "description": "",
            "color": "ededed",
            "default": False,
        }

    def _team_json(self, slug: str) -> dict[str, Any]:
        return {
            "id": zlib.crc32(slug.encode()),
            "node_id": _team_node_id(slug),
            "url": f"{self.api_url}/orgs/{self.owner}/teams/{slug}",
            "html_url": f"https://github.example/orgs/{self.owner}/teams/{slug}",
            "name": slug,
            "slug": slug,
            "description": None,
            "privacy": "closed",
            "permission": "pull",
            "members_url": f"{self.api_url}/orgs/{self.owner}/teams/{slug}/members{{/member}}",
            "repositories_url": f"{self.api_url}/orgs/{self.owner}/teams/{slug}/repos",
            "parent": None,
        }

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "node_id": "IC_fake",
            "url": self._url(f"issues/comments/{comment.id}"),
            "html_url": self._html(f"pull/{comment.issue_number}#issuecomment-{comment.id}"),
            "issue_url": self._url(f"issues/{comment.issue_number}"),
            "body": comment.body,
            "user": self._user_json("gitops-engine[bot]"),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "author_association": "NONE",
        }

    def _ref_json(self, ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{self.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self._user_json(self.owner),
            "repo": {
                "id": 1,
                "node_id": "R_fake",
                "name": self.repo,
                "full_name": self.repository,
                "private": True,
                "html_url": f"https://github.example/{self.repository}",
                "url": f"{self.api_url}/repos/{self.repository}",
                "default_branch": "main",
            },
        }

    def _issue_json(self, issue: Issue) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": 200_000 + issue.number,
            "node_id": issue.node_id,
            "url": self._url(f"issues/{issue.number}"),
            "repository_url": f"{self.api_url}/repos/{self.repository}",
            "labels_url": self._url(f"issues/{issue.number}/labels{{/name}}"),
            "comments_url": self._url(f"issues/{issue.number}/comments"),
            "events_url": self._url(f"issues/{issue.number}/events"),
            "html_url": self._html(f"{'pull' if issue.is_pull else 'issues'}/{issue.number}"),
            "number": issue.number,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "user": self._user_json("gitops-engine[bot]"),
            "labels": [self._label_json(n) for n in issue.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "comments": len(self.comments_on(issue.number)),
            "closed_at": issue.closed_at,
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "author_association": "NONE",
        }
        if issue.is_pull:
            data["pull_request"] = {
                "url": self._url(f"pulls/{issue.number}"),
                "html_url": self._html(f"pull/{issue.number}"),
                "diff_url": self._html(f"pull/{issue.number}.diff"),
                "patch_url": self._html(f"pull/{issue.number}.patch"),
                "merged_at": issue.merged_at,
            }
        return data

    def _pull_json(self, pull: Issue, *, full: bool) -> dict[str, Any]:
        assert pull.head_ref is not None
        branches = self._current_branches
        data: dict[str, Any] = {
            "url": self._url(f"pulls/{pull.number}"),
            "id": 100_000 + pull.number,
            "node_id": pull.node_id,
            "html_url": self._html(f"pull/{pull.number}"),
            "diff_url": self._html(f"pull/{pull.number}.diff"),
            "patch_url": self._html(f"pull/{pull.number}.patch"),
            "issue_url": self._url(f"issues/{pull.number}"),
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self._user_json("gitops-engine[bot]"),
            "body": pull.body,
            "labels": [self._label_json(n) for n in pull.labels],
            "milestone": None,
            "created_at": pull.created_at,
            "updated_at": pull.updated_at,
            "closed_at": pull.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [self._team_json(t) for t in pull.requested_teams],
            "head": self._ref_json(pull.head_ref, pull.head_sha),
            "base": self._ref_json(pull.base_ref, branches.get(pull.base_ref, "0" * 40)),
            "author_association": "NONE",
            "auto_merge": None
            if pull.automerge is None
            else {
                "enabled_by": self._user_json("gitops-engine[bot]"),
                "merge_method": pull.automerge,
                "commit_title": pull.title,
                "commit_message": "",
            },
            "draft": False,
        }
        if full:
            data |= {
                "merged": pull.merged_at is not None,
                "mergeable": None,
                "mergeable_state": "unknown",
                "merged_by": None,
                "comments": len(self.comments_on(pull.number)),
                "review_comments": 0,
                "maintainer_can_modify": False,
                "commits": 1,
                "additions": 0,
                "deletions": 0,
                "changed_files": 0,
            }
        return data


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub
    protocol_version = "HTTP/1.1"  # keep-alive, as clients expect from GitHub
    server_version = "GitHub.com"
    # Headers and body go out in separate writes; with Nagle's algorithm each answer would stall ~40 ms.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.fake.handle(self.command, self.path, headers, raw_body)
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is `FakeGitHub.requests`."""


_TEAM_NODE_PREFIX = "T_kwDOfake_"


def _label_node_id(name: str) -> str:
    """A label's global id (opaque to clients): unique per name."""
    return f"LA_kwDOfake{zlib.crc32(name.lower().encode()):08x}"


def _team_node_id(slug: str) -> str:
    return _TEAM_NODE_PREFIX + slug


def _parse_body(raw: bytes, content_type: str) -> tuple[Any, list[str]]:
    if not raw:
        return None, []
    if "json" not in content_type:
        return None, [f"request body sent as {content_type or 'no content type'}, not application/json"]
    try:
        return json.loads(raw), []
    except ValueError as error:
        return None, [f"body is not JSON: {error}"]


def _error(status: int, message: str) -> _Response:
    return _Response(status, {"message": message, "documentation_url": DOCS, "status": str(status)})

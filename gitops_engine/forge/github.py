"""The GitHub forge: pull requests, labels, team reviewers, comments and issues over the GitHub REST API, and
auto-merge through its GraphQL API (REST has no call for it).

A thin typed layer over `httpx` rather than a client SDK, because the rate-limit behaviour is the point: GitHub's
best practices for integrators (https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api)
are followed here, in one place, where SDKs hide or automate them differently:

- requests are strictly serial (one client, no concurrency);
- `retry-after` is honoured whenever GitHub sends it;
- the primary limit (`x-ratelimit-remaining: 0`) is waited out when its reset is near (`max_wait`), otherwise the run
  stops with `RateLimited` and the next run picks the rest up from the repository's state;
- a secondary limit without `retry-after` waits at least a minute, then backs off exponentially, a bounded number of
  times;
- 5xx answers and dropped connections are retried with jittered exponential backoff, a bounded number of times;
- content creation is paced: at least `min_write_interval` between writes, at most `max_writes_per_minute` in any
  minute, and at most `max_writes_per_run` in one run (GitHub's hourly content budget, `pullRequests.maxPerHour`).

Every wait goes through the injected `sleep` and `clock` and is recorded in `stats.waits`, so tests never sleep.
The token lives only in the HTTP client's headers; no message, log line or repr contains it.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from gitops_engine import __version__
from gitops_engine.errors import ForgeError, RateLimited, UsageError
from gitops_engine.forge import ForgeStats, Issue, MergeMethod, PullRequest, PullRequestDraft

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
# GitHub rejects pull-request and comment bodies longer than this with a 422.
MAX_BODY_CHARS = 65536
_TRUNCATION_NOTE = "\n\n… (truncated: GitHub keeps at most 65,536 characters)"
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+")

Json = Any  # what response.json() returns; narrowed where it is read


class _ServerFailure(Exception):
    """A 5xx or a dropped connection on a request that is not safe to repeat blindly."""


class GitHubForge:
    """Pull requests of one GitHub repository (`owner/name`), through the REST API at `api_url`.

    `max_writes_per_run` is the run's share of GitHub's hourly content budget (platform.yaml
    `pullRequests.maxPerHour`); past it every write raises `RateLimited`, and the work is left for the next run.
    """

    name = "github"

    def __init__(
        self,
        repository: str,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        max_writes_per_run: int = 500,
        max_writes_per_minute: int = 80,
        min_write_interval: float = 1.0,
        max_wait: float = 60.0,
        max_secondary_wait: float = 300.0,
        secondary_retries: int = 3,
        server_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not _REPOSITORY.fullmatch(repository):
            raise UsageError(f"GITHUB_REPOSITORY must be 'owner/name', not {repository!r}")
        if not token.strip():
            raise UsageError("the GitHub token is empty: set GITHUB_TOKEN (or GH_TOKEN)")
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.api_url = api_url.rstrip("/")
        self.stats = ForgeStats()
        self.max_writes_per_run = max_writes_per_run
        self.max_writes_per_minute = max_writes_per_minute
        self.min_write_interval = min_write_interval
        self.max_wait = max_wait
        self.max_secondary_wait = max_secondary_wait
        self.secondary_retries = secondary_retries
        self.server_retries = server_retries
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._secret = token  # kept only to scrub it from anything GitHub echoes back
        self._recent_writes: deque[float] = deque()
        self._primary_reset: float | None = None  # set when a response said the primary budget is spent
        self._client = httpx.Client(
            base_url=self.api_url + "/",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"gitops-engine/{__version__}",
            },
            timeout=timeout,
            transport=transport,
            # A redirect could carry the token to another host; a moved repository is reported instead.
            follow_redirects=False,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **options: Any) -> GitHubForge:
        """The forge GitHub Actions describes: GITHUB_REPOSITORY, GITHUB_TOKEN (or GH_TOKEN), GITHUB_API_URL.

        `options` are passed to the constructor (limits from platform.yaml, for instance).
        """
        env = os.environ if environ is None else environ
        repository = env.get("GITHUB_REPOSITORY", "").strip()
        token = (env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or "").strip()
        api_url = env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
        missing = [
            name for name, value in (("GITHUB_REPOSITORY", repository), ("GITHUB_TOKEN", token)) if not value
        ]
        if missing:
            raise UsageError(
                f"the github forge needs {' and '.join(missing)}: GitHub Actions sets GITHUB_REPOSITORY; pass a "
                "token with `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` (or a GitHub App token) and grant "
                "`contents: write` and `pull-requests: write`. Outside Actions export both, or use --forge local."
            )
        return cls(repository, token, api_url=api_url, **options)

    def __repr__(self) -> str:
        return f"GitHubForge(repository={self.repository!r}, api_url={self.api_url!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    # -- the Forge protocol ---------------------------------------------------------------------------------------

    def find_pull_requests(self, branch: str) -> list[PullRequest]:
        """Every pull request whose head is `branch` (any state), newest first."""
        # `head` needs the `owner:` prefix: without it GitHub ignores the filter and lists every pull request.
        items = self._get_all(self._repo_path("pulls"), {"head": f"{self.owner}:{branch}", "state": "all"})
        pulls = [_to_pull(item) for item in items]
        return sorted((p for p in pulls if p.branch == branch), key=lambda p: p.number, reverse=True)

    def list_pull_requests(self, state: Literal["open", "closed", "all"]) -> list[PullRequest]:
        """Pull requests in a state (`closed` includes merged ones), ordered by number."""
        items = self._get_all(
            self._repo_path("pulls"), {"state": state, "sort": "created", "direction": "asc"}
        )
        return sorted((_to_pull(item) for item in items), key=lambda p: p.number)

    def create_pull_request(self, draft: PullRequestDraft) -> PullRequest:
        """Open a pull request with the draft's labels and team reviewers, or update the open one for its branch."""
        # Check the budget for the whole pull request up front, so a run never stops between the request and its
        # labels; a half-made one would still be completed by the next run's update.
        self._require_write_budget(1 + bool(draft.labels) + bool(draft.reviewers) + bool(draft.automerge))
        body = _fit_body(draft.body)
        response = self._request(
            "POST",
            self._repo_path("pulls"),
            json={"title": draft.title, "head": draft.branch, "base": draft.base, "body": body},
        )
        if response.status_code == 422 and _already_exists(response):
            # Created by an earlier, interrupted run (or by a retried request whose first attempt did succeed).
            open_pulls = [p for p in self.find_pull_requests(draft.branch) if p.state == "open"]
            if not open_pulls:
                raise self._error(response)
            log.info("pull request #%d already open for %s: updating it", open_pulls[0].number, draft.branch)
            return self.update_pull_request(open_pulls[0].number, draft)
        data = self._expect(response, 201)
        number = int(data["number"])
        labels: tuple[str, ...] = ()
        if draft.labels:
            labels = self._set_labels(number, draft.labels)
        if draft.reviewers:
            data = self._request_teams(number, draft.reviewers) or data
        if draft.automerge:
            data = {**data, "auto_merge": self._enable_automerge(data, draft.automerge)}
        return _to_pull(data, labels=labels)

    def update_pull_request(self, number: int, draft: PullRequestDraft) -> PullRequest:
        """Bring title, body and base to the draft's, add its missing labels and team reviewers; write only what
        differs.

        Team reviewers are added, never removed. GitHub lists only pending review requests, so a team that has
        already reviewed counts as missing and is requested again: call this when the draft differs, not blindly.
        """
        data = self._get_json(self._repo_path(f"pulls/{number}"))
        body = _fit_body(draft.body)
        patch: dict[str, str] = {}
        if data["title"] != draft.title:
            patch["title"] = draft.title
        if (data.get("body") or "") != body:
            patch["body"] = body
        if data["base"]["ref"] != draft.base:
            patch["base"] = draft.base
        current_labels = _label_names(data)
        # Add missing labels, keep the ones people added ("on-hold", …): never take a label away.
        labels_differ = not set(draft.labels) <= set(current_labels)
        current_teams = _team_slugs(data)
        missing_teams = tuple(t for t in dict.fromkeys(draft.reviewers) if t not in current_teams)
        if (
            missing_teams
            and not current_teams
            and self._get_all(self._repo_path(f"pulls/{number}/reviews"), {})
        ):
            # Someone reviewed already, and GitHub drops a team that reviewed from the requested ones: asking
            # again would be noise. (No team and no review: the request never happened, say a run killed
            # between opening the pull request and asking for review.)
            missing_teams = ()
        automerge = draft.automerge if draft.automerge and data.get("auto_merge") is None else None
        self._require_write_budget(bool(patch) + labels_differ + bool(missing_teams) + bool(automerge))

        if patch:
            data = self._expect(self._request("PATCH", self._repo_path(f"pulls/{number}"), json=patch), 200)
        wanted_labels = tuple(sorted(set(current_labels) | set(draft.labels)))
        labels = self._set_labels(number, wanted_labels) if labels_differ else current_labels
        if missing_teams:
            data = self._request_teams(number, missing_teams) or data
        if automerge:
            data = {**data, "auto_merge": self._enable_automerge(data, automerge)}
        return _to_pull(data, labels=labels)

    def enable_automerge(self, number: int, method: MergeMethod) -> PullRequest:
        """Turn on auto-merge by `method` (GraphQL `enablePullRequestAutoMerge`), unless it is on with that method
        already; GitHub merges the pull request once its required checks pass."""
        data = self._get_json(self._repo_path(f"pulls/{number}"))
        current = data.get("auto_merge")
        if data["state"] == "open" and (current is None or current.get("merge_method") != method):
            self._require_write_budget(1)
            data = {**data, "auto_merge": self._enable_automerge(data, method)}
        return _to_pull(data)

    def draft_writes(self, draft: PullRequestDraft) -> int:
        """The pull request itself, its labels, its reviewers and auto-merge: a request each."""
        return 1 + bool(draft.labels) + bool(draft.reviewers) + bool(draft.automerge)

    def merge_ready(self) -> list[PullRequest]:
        """Nothing to do: GitHub merges auto-merge pull requests itself once their checks pass."""
        return []

    def find_issue(self, marker: str, *, label: str | None = None) -> Issue | None:
        """The issue whose body holds `marker` (open first, then the oldest); GitHub filters by `label`."""
        params = {"state": "all", "sort": "created", "direction": "asc"}
        if label:
            params["labels"] = label
        items = [
            item
            for item in self._get_all(self._repo_path("issues"), params)
            if "pull_request" not in item and marker in (item.get("body") or "")
        ]
        items.sort(key=lambda item: (item["state"] != "open", int(item["number"])))
        return _to_issue(items[0]) if items else None

    def upsert_issue(self, marker: str, title: str, body: str, *, labels: tuple[str, ...] = ()) -> Issue:
        """Create the issue holding `marker`, or edit it in place (and reopen it) only where it differs."""
        if marker not in body:
            raise ForgeError(f"the body of issue {title!r} must contain its marker {marker!r}")
        text = _fit_body(body)
        found = self.find_issue(marker, label=labels[0] if labels else None)
        if found is None:
            self._require_write_budget(1)
            response = self._request(
                "POST",
                self._repo_path("issues"),
                json={"title": title, "body": text, "labels": list(labels)},
                idempotent=False,
            )
            return _to_issue(self._expect(response, 201))
        patch = {
            key: value
            for key, value, current in (
                ("title", title, found.title),
                ("body", text, found.body),
                ("state", "open", found.state),
            )
            if value != current
        }
        if not patch:
            return found
        self._require_write_budget(1)
        response = self._request("PATCH", self._repo_path(f"issues/{found.number}"), json=patch)
        return _to_issue(self._expect(response, 200))

    def close_pull_request(self, number: int, comment: str) -> None:
        """Comment why, then close. A pull request that is no longer open is left as it is."""
        data = self._get_json(self._repo_path(f"pulls/{number}"))
        if data["state"] != "open":
            return
        self._require_write_budget(2)
        # A run that died between the comment and the close must not comment twice when the next run retries.
        if not any(c.get("body") == _fit_body(comment) for c in self._comments(number)):
            self._create_comment(number, comment)
        response = self._request("PATCH", self._repo_path(f"pulls/{number}"), json={"state": "closed"})
        self._expect(response, 200)

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        """Create the comment carrying hidden `marker`, or edit the one that has it, only if its text differs.

        `marker` is a plain id (`gitops-engine:preview`) that becomes `<!-- gitops-engine:preview -->` at the top of
        the comment, or already such an HTML comment; a body that contains it is used unchanged.
        """
        hidden = marker if marker.startswith("<!--") else f"<!-- {marker} -->"
        text = _fit_body(body if hidden in body else f"{hidden}\n{body}")
        existing = next((c for c in self._comments(number) if hidden in (c.get("body") or "")), None)
        if existing is None:
            self._require_write_budget(1)
            self._create_comment(number, text)
        elif existing["body"] != text:
            self._require_write_budget(1)
            response = self._request(
                "PATCH", self._repo_path(f"issues/comments/{existing['id']}"), json={"body": text}
            )
            self._expect(response, 200)

    # -- calls -------------------------------------------------------------------------------------------------------

    def _enable_automerge(self, pull: Json, method: MergeMethod) -> Json:
        """Enable auto-merge on the pull request `pull` (its REST JSON) through GraphQL; its new `auto_merge`."""
        response = self._request(
            "POST",
            self._graphql_url(),
            json={
                "query": ENABLE_AUTOMERGE,
                "variables": {"pullRequestId": pull["node_id"], "mergeMethod": method.upper()},
            },
        )
        data = self._expect(response, 200)
        errors = data.get("errors") if isinstance(data, dict) else None
        if errors:
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
            raise ForgeError(
                f"GitHub would not enable auto-merge on #{pull['number']}: {self._scrub(messages)} (allow "
                "auto-merge in the repository's settings, and protect the base branch with required checks)"
            )
        request = data["data"]["enablePullRequestAutoMerge"]["pullRequest"]["autoMergeRequest"]
        return {"merge_method": str(request["mergeMethod"]).lower()}

    def _graphql_url(self) -> str:
        """GitHub's GraphQL endpoint: `/graphql` beside the REST root; GitHub Enterprise serves REST at
        `/api/v3` and GraphQL at `/api/graphql`."""
        root = self.api_url[: -len("/v3")] if self.api_url.endswith("/api/v3") else self.api_url
        return f"{root}/graphql"

    def _set_labels(self, number: int, labels: tuple[str, ...]) -> tuple[str, ...]:
        if not labels:
            # The set-labels body requires at least one label; removing all has its own endpoint.
            response = self._request("DELETE", self._repo_path(f"issues/{number}/labels"))
            self._expect(response, 204)
            return ()
        response = self._request(
            "PUT", self._repo_path(f"issues/{number}/labels"), json={"labels": list(labels)}
        )
        items = self._expect(response, 200)
        return tuple(sorted(str(item["name"]) for item in items))

    def _request_teams(self, number: int, teams: tuple[str, ...]) -> Json:
        """The pull request after requesting `teams`, or None when GitHub refused them (logged, not fatal)."""
        response = self._request(
            "POST",
            self._repo_path(f"pulls/{number}/requested_reviewers"),
            json={"team_reviewers": list(teams)},
        )
        if response.status_code == 422:
            # A CODEOWNERS team without access to the repository: the pull request is still worth having.
            log.warning(
                "GitHub would not request review from %s on #%d (%s): give the teams access to %s",
                ", ".join(teams),
                number,
                self._message(response),
                self.repository,
            )
            return None
        return self._expect(response, 201)

    def _comments(self, number: int) -> list[Json]:
        return self._get_all(self._repo_path(f"issues/{number}/comments"), {})

    def _create_comment(self, number: int, body: str) -> None:
        text = _fit_body(body)
        path = self._repo_path(f"issues/{number}/comments")
        attempt = 0
        while True:
            try:
                response = self._request("POST", path, json={"body": text}, idempotent=False)
            except _ServerFailure as failure:
                attempt += 1
                self._back_off_server(attempt, str(failure))
                # The failed request may have posted the comment all the same: look before posting again.
                if any(c.get("body") == text for c in self._comments(number)):
                    return
                continue
            self._expect(response, 201)
            return

    def _get_json(self, path: str) -> Json:
        return self._expect(self._request("GET", path), 200)

    def _get_all(self, path: str, params: dict[str, str]) -> list[Json]:
        """Every item of a paginated list, following GitHub's `Link: <…>; rel="next"` headers."""
        items: list[Json] = []
        response = self._request("GET", path, params={**params, "per_page": "100"})
        while True:
            page = self._expect(response, 200)
            items.extend(page)
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return items
            if not self._same_origin(next_url):
                # Following it would send the token to another host.
                raise ForgeError(
                    f"GitHub's next-page link for {path} leaves {self.api_url}: not following it"
                )
            response = self._request("GET", next_url)

    def _repo_path(self, suffix: str) -> str:
        return f"repos/{self.repository}/{suffix}"

    def _same_origin(self, url: str) -> bool:
        mine, theirs = urlsplit(self.api_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    # -- pacing and retries -------------------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: Json = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one request, waiting and retrying as GitHub asks; the final answer (maybe an error status).

        Raises `RateLimited` when GitHub wants a longer pause than we wait, `ForgeError` when it keeps failing, and
        `_ServerFailure` at once for a failed non-idempotent request: its caller backs off and checks whether the
        request took effect before repeating it.
        """
        is_write = method != "GET"
        secondary_hits = 0
        primary_hits = 0
        server_failures = 0
        while True:
            self._wait_for_primary_reset()
            if is_write:
                self._pace_write()
                self.stats.writes += 1
            else:
                self.stats.reads += 1
            try:
                response = self._client.request(method, url, params=params, json=json)
            except httpx.TransportError as error:
                server_failures += 1
                detail = f"cannot reach GitHub at {self.api_url} ({type(error).__name__}: {self._scrub(str(error))})"
                if not idempotent:
                    raise _ServerFailure(detail) from None
                self._back_off_server(server_failures, detail)
                continue
            self._note_rate_limit(response)
            status = response.status_code
            if status in (403, 429):
                message = self._message(response)
                retry_after = _number(response.headers.get("retry-after"))
                is_primary = response.headers.get("x-ratelimit-remaining") == "0"
                is_secondary = "secondary rate limit" in message.lower()
                # GitHub's order: retry-after if sent, else the primary reset if spent, else a secondary backoff.
                if retry_after is not None or (is_secondary and not is_primary):
                    secondary_hits += 1
                    self._back_off_secondary(secondary_hits, retry_after, method, url)
                    continue
                if is_primary:
                    primary_hits += 1
                    if primary_hits > 2:
                        raise RateLimited(
                            "GitHub's primary rate limit did not reset as announced; try the next run"
                        )
                    continue  # _wait_for_primary_reset() waits (or raises) before the next attempt
                return response
            if status >= 500:
                server_failures += 1
                detail = (
                    f"GitHub answered {status} to {method} {_path(url)} ({self._message(response)[:200]})"
                )
                if not idempotent:
                    raise _ServerFailure(detail)
                self._back_off_server(server_failures, detail)
                continue
            return response

    def _wait_for_primary_reset(self) -> None:
        if self._primary_reset is None:
            return
        wait = self._primary_reset - self._clock()
        if wait > self.max_wait:
            reset = time.strftime("%H:%M:%S UTC", time.gmtime(self._primary_reset))
            raise RateLimited(
                f"GitHub's rate limit for this token is used up until {reset}; the rest is left for the next run"
            )
        self._primary_reset = None
        if wait > 0:
            self._wait(wait + 1, "the primary rate limit resets")  # one second of slack for clock skew

    def _note_rate_limit(self, response: httpx.Response) -> None:
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = _number(response.headers.get("x-ratelimit-reset"))
            # Without a reset time, GitHub's advice is to wait at least a minute.
            self._primary_reset = reset if reset is not None else self._clock() + 60

    def _back_off_secondary(self, attempt: int, retry_after: float | None, method: str, url: str) -> None:
        if attempt > self.secondary_retries:
            raise RateLimited(
                f"GitHub kept rate-limiting {method} {_path(url)} after {self.secondary_retries} retries; "
                "the rest is left for the next run"
            )
        # GitHub: honour retry-after; without it wait at least a minute, longer on every repeat.
        wait = retry_after if retry_after is not None else 60.0 * 2 ** (attempt - 1)
        if wait > self.max_secondary_wait:
            raise RateLimited(
                f"GitHub asks to pause {wait:.0f} s (secondary rate limit); the rest is left for the next run"
            )
        self._wait(wait, "a secondary rate limit")

    def _back_off_server(self, attempt: int, detail: str) -> None:
        if attempt > self.server_retries:
            raise ForgeError(
                f"{detail}, and {self.server_retries} retries failed; the next run will try again"
            )
        # Jitter spreads the retries of many runners that failed together.
        wait = 2.0 ** (attempt - 1) * (0.5 + self._jitter())
        self._wait(wait, detail)

    def _pace_write(self) -> None:
        if self.stats.writes >= self.max_writes_per_run:
            raise RateLimited(
                f"this run made its {self.max_writes_per_run} forge writes (pullRequests.maxPerHour); "
                "the rest is left for the next run"
            )
        now = self._clock()
        while self._recent_writes and self._recent_writes[0] <= now - 60:
            self._recent_writes.popleft()
        if len(self._recent_writes) >= self.max_writes_per_minute:
            self._wait(self._recent_writes[0] + 60 - now, f"{self.max_writes_per_minute} writes a minute")
            now = self._clock()
            self._recent_writes.popleft()
        if self._recent_writes and now - self._recent_writes[-1] < self.min_write_interval:
            self._wait(self._recent_writes[-1] + self.min_write_interval - now, "writes are spaced")
            now = self._clock()
        self._recent_writes.append(now)

    def _require_write_budget(self, writes: int) -> None:
        if self.stats.writes + writes > self.max_writes_per_run:
            raise RateLimited(
                f"this run has {self.max_writes_per_run - self.stats.writes} of its {self.max_writes_per_run} forge "
                f"writes left and the next step needs {writes}; the rest is left for the next run"
            )

    def _wait(self, seconds: float, reason: str) -> None:
        self.stats.waits.append(seconds)
        if seconds >= 5:
            log.warning("GitHub: waiting %.0f s (%s)", seconds, reason)
        else:
            log.debug("GitHub: waiting %.2f s (%s)", seconds, reason)
        self._sleep(seconds)

    # -- answers ------------------------------------------------------------------------------------------------------

    def _expect(self, response: httpx.Response, *ok: int) -> Json:
        """The JSON of an answer with an expected status; any other status becomes the matching error."""
        if response.status_code not in ok:
            raise self._error(response)
        if response.status_code == 204:
            return None
        return response.json()

    def _error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        where = f"{response.request.method} {_path(str(response.request.url))}"
        message = self._message(response)
        if status == 401:
            return UsageError(
                f"GitHub rejected the token ({status} {message} on {where}): check GITHUB_TOKEN (expired, revoked, "
                "or for another host than GITHUB_API_URL)"
            )
        if status == 403:
            return UsageError(
                f"GitHub refused {where} ({status} {message}): the token needs `contents: write` and "
                "`pull-requests: write` on the repository"
            )
        if status in (301, 302, 307, 308):
            return ForgeError(
                f"GitHub redirects {where}: was {self.repository} renamed? Update GITHUB_REPOSITORY"
            )
        return ForgeError(f"GitHub answered {status} to {where}: {message}")

    def _message(self, response: httpx.Response) -> str:
        """GitHub's error message with its validation details, scrubbed of the token."""
        try:
            data = response.json()
        except ValueError:
            return self._scrub(response.text[:200])
        if not isinstance(data, dict):
            return ""
        parts = [str(data.get("message", ""))]
        for error in data.get("errors") or []:
            if isinstance(error, dict):
                parts.append(str(error.get("message") or f"{error.get('field')} {error.get('code')}"))
            else:
                parts.append(str(error))
        return self._scrub("; ".join(p for p in parts if p))

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***")


ENABLE_AUTOMERGE = """\
mutation EnableAutoMerge($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!) {
  enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod}) {
    pullRequest {
      number
      autoMergeRequest {
        mergeMethod
      }
    }
  }
}
"""


def _to_issue(data: Json) -> Issue:
    return Issue(
        number=int(data["number"]),
        title=str(data["title"]),
        body=str(data.get("body") or ""),
        state="open" if data["state"] == "open" else "closed",
        url=str(data["html_url"]),
        labels=_label_names(data),
    )


def _to_pull(data: Json, *, labels: tuple[str, ...] | None = None) -> PullRequest:
    merged = bool(data.get("merged_at"))
    return PullRequest(
        number=int(data["number"]),
        title=str(data["title"]),
        body=str(data.get("body") or ""),  # GitHub returns null for an empty body
        state="merged" if merged else ("open" if data["state"] == "open" else "closed"),
        branch=str(data["head"]["ref"]),
        base=str(data["base"]["ref"]),
        url=str(data["html_url"]),
        labels=labels if labels is not None else _label_names(data),
        reviewers=_team_slugs(data),
        automerge=data.get("auto_merge") is not None,
        node_id=str(data.get("node_id") or ""),
    )


def _label_names(data: Json) -> tuple[str, ...]:
    return tuple(sorted(str(label["name"]) for label in data.get("labels") or []))


def _team_slugs(data: Json) -> tuple[str, ...]:
    return tuple(sorted(str(team["slug"]) for team in data.get("requested_teams") or []))


def _already_exists(response: httpx.Response) -> bool:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any("already exists" in str(e.get("message", "")) for e in errors if isinstance(e, dict))


def _fit_body(body: str) -> str:
    if len(body) <= MAX_BODY_CHARS:
        return body
    return body[: MAX_BODY_CHARS - len(_TRUNCATION_NOTE)] + _TRUNCATION_NOTE


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _path(url: str) -> str:
    """The path of a request URL, for messages (never the query: it could carry anything)."""
    return urlsplit(url).path or url

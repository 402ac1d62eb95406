"""The GitHub forge's transport: one serial HTTP client that follows GitHub's rate-limit rules, in one place.

GitHub's best practices for integrators (https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api)
are followed here, where SDKs hide or automate them differently:

- requests are strictly serial (one client, no concurrency);
- `retry-after` is honoured whenever GitHub sends it;
- the primary limit (`x-ratelimit-remaining: 0`) is waited out when its reset is near (`max_wait`), otherwise the run
  stops with `RateLimited` and the next run picks the rest up from the repository's state;
- a secondary limit without `retry-after` waits at least a minute, then backs off exponentially, a bounded number of
  times;
- 5xx answers and dropped connections are retried with jittered exponential backoff, a bounded number of times;
- content creation is paced: at least `min_write_interval` between writes, at most `max_writes_per_minute` in any
  minute, and at most `max_writes_per_run` in one run (GitHub's hourly content budget, `pullRequests.maxPerHour`).
  A GraphQL request is one write whatever its document holds: GitHub counts content-generating *requests*.

Every wait goes through the injected `sleep` and `clock` and is recorded in `stats.waits`, so tests never sleep.
The token lives only in the HTTP client's headers; no message, log line or repr contains it. httpx is imported and
the client made at the first request: a run that asks GitHub nothing (a developer's change to one workload) spares
both (~100–150 ms of a CI step on the benchmark machine, the TLS set-up included).
`gitops_engine.forge.github` holds the forge calls built on this.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gitops_engine import __version__
from gitops_engine.errors import ForgeError, RateLimited, UsageError
from gitops_engine.forge import ForgeStats

log = logging.getLogger("gitops_engine.forge.github")

API_VERSION = "2022-11-28"

Json = Any  # what response.json() returns; narrowed where it is read

if TYPE_CHECKING:
    import httpx


class ServerFailure(Exception):
    """A 5xx or a dropped connection on a request that is not safe to repeat blindly."""


class GitHubTransport:
    """Requests to GitHub's REST API at `api_url` (and its GraphQL endpoint beside it), paced, retried and counted
    in `stats` (every non-GET request is a write)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        stats: ForgeStats,
        repository: str = "the repository",
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
        self.api_url = api_url.rstrip("/")
        self.stats = stats
        self.repository = repository  # for messages
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
        self._timeout = timeout
        self._transport = transport
        self._opened: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"GitHubTransport(api_url={self.api_url!r})"

    def _client(self) -> httpx.Client:
        """The HTTP client, made at the first request."""
        if self._opened is None:
            import httpx

            self._opened = httpx.Client(
                base_url=self.api_url + "/",
                headers={
                    "Authorization": f"Bearer {self._secret}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": API_VERSION,
                    "User-Agent": f"gitops-engine/{__version__}",
                },
                timeout=self._timeout,
                transport=self._transport,
                # A redirect could carry the token to another host; a moved repository is reported instead.
                follow_redirects=False,
            )
        return self._opened

    def close(self) -> None:
        """Close the HTTP connection pool (when a request opened one)."""
        if self._opened is not None:
            self._opened.close()

    # -- reading ------------------------------------------------------------------------------------------------------

    def get_json(self, path: str) -> Json:
        return self.expect(self.request("GET", path), 200)

    def get_all(self, path: str, params: dict[str, str]) -> list[Json]:
        """Every item of a paginated list, following GitHub's `Link: <…>; rel="next"` headers."""
        items: list[Json] = []
        response = self.request("GET", path, params={**params, "per_page": "100"})
        while True:
            page = self.expect(response, 200)
            items.extend(page)
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return items
            if not self._same_origin(next_url):
                # Following it would send the token to another host.
                raise ForgeError(
                    f"GitHub's next-page link for {path} leaves {self.api_url}: not following it"
                )
            response = self.request("GET", next_url)

    def _same_origin(self, url: str) -> bool:
        mine, theirs = urlsplit(self.api_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    # -- GraphQL ------------------------------------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Json]) -> dict[str, Json]:
        """POST one GraphQL document (one write, whatever it holds); GitHub's answer, `data` and/or `errors`.

        GitHub answers 200 even when some or all of the document failed: the caller reads `errors`. A failed
        request is retried like a GET: send only mutations that are safe to repeat (adding labels or review
        requests, enabling auto-merge)."""
        response = self.request("POST", self.graphql_url(), json={"query": query, "variables": variables})
        data = self.expect(response, 200)
        if not isinstance(data, dict):
            raise ForgeError(
                f"GitHub's GraphQL API answered something other than an object: {str(data)[:200]}"
            )
        return data

    def graphql_url(self) -> str:
        """GitHub's GraphQL endpoint: `/graphql` beside the REST root; GitHub Enterprise serves REST at
        `/api/v3` and GraphQL at `/api/graphql`."""
        root = self.api_url[: -len("/v3")] if self.api_url.endswith("/api/v3") else self.api_url
        return f"{root}/graphql"

    # -- pacing and retries -------------------------------------------------------------------------------------------

    def request(
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
        `ServerFailure` at once for a failed non-idempotent request: its caller backs off and checks whether the
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
            client = self._client()
            import httpx  # imported by _client

            try:
                response = client.request(method, url, params=params, json=json)
            except httpx.TransportError as error:
                server_failures += 1
                detail = f"cannot reach GitHub at {self.api_url} ({type(error).__name__}: {self.scrub(str(error))})"
                if not idempotent:
                    raise ServerFailure(detail) from None
                self.back_off_server(server_failures, detail)
                continue
            self._note_rate_limit(response)
            status = response.status_code
            if status in (403, 429):
                verdict = self._rate_limit_verdict(response)
                if verdict == "secondary":
                    secondary_hits += 1
                    self._back_off_secondary(secondary_hits, _retry_after(response), method, url)
                    continue
                if verdict == "primary":
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
                    f"GitHub answered {status} to {method} {path_of(url)} ({self.message(response)[:200]})"
                )
                if not idempotent:
                    raise ServerFailure(detail)
                self.back_off_server(server_failures, detail)
                continue
            return response

    def _rate_limit_verdict(self, response: httpx.Response) -> str:
        """`secondary`, `primary` or `refused` for a 403/429, in GitHub's order: retry-after if sent, else the
        primary reset if spent, else a secondary backoff."""
        is_primary = response.headers.get("x-ratelimit-remaining") == "0"
        is_secondary = "secondary rate limit" in self.message(response).lower()
        if _retry_after(response) is not None or (is_secondary and not is_primary):
            return "secondary"
        return "primary" if is_primary else "refused"

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
            reset = number_or_none(response.headers.get("x-ratelimit-reset"))
            # Without a reset time, GitHub's advice is to wait at least a minute.
            self._primary_reset = reset if reset is not None else self._clock() + 60

    def _back_off_secondary(self, attempt: int, retry_after: float | None, method: str, url: str) -> None:
        if attempt > self.secondary_retries:
            raise RateLimited(
                f"GitHub kept rate-limiting {method} {path_of(url)} after {self.secondary_retries} retries; "
                "the rest is left for the next run"
            )
        # GitHub: honour retry-after; without it wait at least a minute, longer on every repeat.
        wait = retry_after if retry_after is not None else 60.0 * 2 ** (attempt - 1)
        if wait > self.max_secondary_wait:
            raise RateLimited(
                f"GitHub asks to pause {wait:.0f} s (secondary rate limit); the rest is left for the next run"
            )
        self._wait(wait, "a secondary rate limit")

    def back_off_server(self, attempt: int, detail: str) -> None:
        """Wait before retry `attempt` after a server failure; `ForgeError` once the retries are used up."""
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

    def require_write_budget(self, writes: int) -> None:
        """Raise `RateLimited` unless this run can still make `writes` writes: checked before a step that needs
        several, so a run never stops half-way through it."""
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

    def expect(self, response: httpx.Response, *ok: int) -> Json:
        """The JSON of an answer with an expected status; any other status becomes the matching error."""
        if response.status_code not in ok:
            raise self.error(response)
        if response.status_code == 204:
            return None
        return response.json()

    def error(self, response: httpx.Response) -> Exception:
        """The error for an answer GitHub refused: what went wrong and what to do, without the token."""
        status = response.status_code
        where = f"{response.request.method} {path_of(str(response.request.url))}"
        message = self.message(response)
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

    def message(self, response: httpx.Response) -> str:
        """GitHub's error message with its validation details, scrubbed of the token."""
        try:
            data = response.json()
        except ValueError:
            return self.scrub(response.text[:200])
        if not isinstance(data, dict):
            return ""
        parts = [str(data.get("message", ""))]
        for error in data.get("errors") or []:
            if isinstance(error, dict):
                parts.append(str(error.get("message") or f"{error.get('field')} {error.get('code')}"))
            else:
                parts.append(str(error))
        return self.scrub("; ".join(p for p in parts if p))

    def scrub(self, text: str) -> str:
        """`text` without the token (GitHub may echo a request back)."""
        return text.replace(self._secret, "***")


def number_or_none(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    return number_or_none(response.headers.get("retry-after"))


def path_of(url: str) -> str:
    """The path of a request URL, for messages (never the query: it could carry anything)."""
    return urlsplit(url).path or url

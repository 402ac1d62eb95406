"""The GitHub forge: pull requests, labels, team reviewers, comments and issues of one repository.

A pull request costs GitHub two content-creating requests, whatever it carries: the REST call that opens it, then
ONE GraphQL request whose document holds every follow-up mutation it needs (`addLabelsToLabelable`,
`requestReviews` for its teams, `enablePullRequestAutoMerge` for an auto-merge one). GitHub's secondary limits count
requests ("no more than 80 content-generating requests per minute and 500 per hour"), and a GraphQL request with
mutations costs the same as one REST write. The GraphQL mutations take node ids, which are read (never written) and
cached for the run: labels through `GET /repos/{o}/{r}/labels/{name}`, teams through `GET /orgs/{org}/teams/{slug}`.
A label the repository does not have yet is created once (a write of its own, once per repository).

The transport (pacing, back-off, retries, the write budget, errors without the token) is `forge/http.py`; this
module keeps the forge calls and the mapping of GitHub's JSON to records.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from gitops_engine.errors import ForgeError, UsageError
from gitops_engine.forge import ForgeStats, Issue, MergeMethod, PullRequest, PullRequestDraft
from gitops_engine.forge.http import GitHubTransport, Json, ServerFailure

if TYPE_CHECKING:
    import httpx  # imported by the transport at its first request

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
# GitHub rejects pull-request and comment bodies longer than this with a 422.
MAX_BODY_CHARS = 65536
_TRUNCATION_NOTE = "\n\n… (truncated: GitHub keeps at most 65,536 characters)"
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+")
_AUTOMERGE_HINT = (
    "allow auto-merge in the repository's settings, and protect the base branch with required checks"
)


@dataclass(frozen=True)
class FollowUp:
    """What a pull request needs after its REST create or update: labels to add, teams to ask for review, and
    auto-merge to turn on. Sent as one GraphQL request (one write), or nothing when empty."""

    labels: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    automerge: MergeMethod | None = None

    def __bool__(self) -> bool:
        return bool(self.labels or self.teams or self.automerge)


class GitHubForge:
    """Pull requests of one GitHub repository (`owner/name`), through the REST API at `api_url` and the GraphQL API
    beside it.

    `max_writes_per_run` is the run's share of GitHub's hourly content budget (platform.yaml
    `pullRequests.maxPerHour`); past it every write raises `RateLimited`, and the work is left for the next run.
    The other options tune the transport (see `GitHubTransport`).
    """

    name = "github"

    def __init__(
        self,
        repository: str,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        transport: httpx.BaseTransport | None = None,
        **options: Any,
    ) -> None:
        if not _REPOSITORY.fullmatch(repository):
            raise UsageError(f"GITHUB_REPOSITORY must be 'owner/name', not {repository!r}")
        if not token.strip():
            raise UsageError("the GitHub token is empty: set GITHUB_TOKEN (or GH_TOKEN)")
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.stats = ForgeStats()
        self.http = GitHubTransport(
            api_url, token, stats=self.stats, repository=repository, transport=transport, **options
        )
        self.api_url = self.http.api_url
        # label name -> node id, None while the repository lacks it (read once per run)
        self._label_ids: dict[str, str | None] = {}
        self._team_ids: dict[
            str, str | None
        ] = {}  # team slug -> node id, None when the organisation has none
        self._unreadable: set[str] = set()  # team slugs this token may not read (no Members: read)

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
        self.http.close()

    # -- the Forge protocol ---------------------------------------------------------------------------------------

    def find_pull_requests(self, branch: str) -> list[PullRequest]:
        """Every pull request whose head is `branch` (any state), newest first."""
        # `head` needs the `owner:` prefix: without it GitHub ignores the filter and lists every pull request.
        items = self.http.get_all(
            self._repo_path("pulls"), {"head": f"{self.owner}:{branch}", "state": "all"}
        )
        pulls = [_to_pull(item) for item in items]
        return sorted((p for p in pulls if p.branch == branch), key=lambda p: p.number, reverse=True)

    def list_pull_requests(self, state: Literal["open", "closed", "all"]) -> list[PullRequest]:
        """Pull requests in a state (`closed` includes merged ones), ordered by number."""
        items = self.http.get_all(
            self._repo_path("pulls"), {"state": state, "sort": "created", "direction": "asc"}
        )
        return sorted((_to_pull(item) for item in items), key=lambda p: p.number)

    def create_pull_request(self, draft: PullRequestDraft) -> PullRequest:
        """Open a pull request, then give it the draft's labels, team reviewers and auto-merge in one GraphQL
        request; or update the open one for its branch."""
        # Check the budget for the whole pull request up front, so a run never stops between the request and its
        # follow-up; a half-made one would still be completed by the next run's update.
        self.http.require_write_budget(self.draft_writes(draft))
        body = _fit_body(draft.body)
        response = self.http.request(
            "POST",
            self._repo_path("pulls"),
            json={"title": draft.title, "head": draft.branch, "base": draft.base, "body": body},
        )
        if response.status_code == 422 and _already_exists(response):
            # Created by an earlier, interrupted run (or by a retried request whose first attempt did succeed).
            open_pulls = [p for p in self.find_pull_requests(draft.branch) if p.state == "open"]
            if not open_pulls:
                raise self.http.error(response)
            log.info("pull request #%d already open for %s: updating it", open_pulls[0].number, draft.branch)
            return self.update_pull_request(open_pulls[0].number, draft)
        data = self.http.expect(response, 201)
        wanted = FollowUp(
            _missing_labels(draft.labels, ()), tuple(dict.fromkeys(draft.reviewers)), draft.automerge
        )
        return _to_pull(self._follow_up(data, wanted))

    def update_pull_request(self, number: int, draft: PullRequestDraft) -> PullRequest:
        """Bring title, body and base to the draft's (one REST write), then add its missing labels and team
        reviewers and turn on auto-merge if asked (one GraphQL write); write only what differs.

        Labels and team reviewers are added, never removed. GitHub lists only pending review requests, so a team
        that has already reviewed counts as missing and is requested again: call this when the draft differs, not
        blindly.
        """
        data = self.http.get_json(self._repo_path(f"pulls/{number}"))
        patch = _patch_for(data, draft)
        wanted = FollowUp(
            # Add missing labels, keep the ones people added ("on-hold", …): never take a label away.
            labels=_missing_labels(draft.labels, _label_names(data)),
            teams=self._missing_teams(number, data, draft.reviewers),
            automerge=draft.automerge if draft.automerge and data.get("auto_merge") is None else None,
        )
        self.http.require_write_budget(bool(patch) + self._follow_up_writes(wanted))
        if patch:
            data = self.http.expect(
                self.http.request("PATCH", self._repo_path(f"pulls/{number}"), json=patch), 200
            )
        return _to_pull(self._follow_up(data, wanted))

    def enable_automerge(self, number: int, method: MergeMethod) -> PullRequest:
        """Turn on auto-merge by `method` (GraphQL `enablePullRequestAutoMerge`), unless it is on with that method
        already; GitHub merges the pull request once its required checks pass."""
        data = self.http.get_json(self._repo_path(f"pulls/{number}"))
        current = data.get("auto_merge")
        if data["state"] == "open" and (current is None or current.get("merge_method") != method):
            self.http.require_write_budget(1)
            data = self._follow_up(data, FollowUp(automerge=method))
        return _to_pull(data)

    def draft_writes(self, draft: PullRequestDraft) -> int:
        """The pull request itself, one GraphQL request for its labels, reviewers and auto-merge, and one for each
        of its labels the repository lacks (created once). Reads the labels it has not seen in this run, so the
        count is exact, not a bound."""
        return 1 + self._follow_up_writes(FollowUp(draft.labels, draft.reviewers, draft.automerge))

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
            for item in self.http.get_all(self._repo_path("issues"), params)
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
            self.http.require_write_budget(1)
            response = self.http.request(
                "POST",
                self._repo_path("issues"),
                json={"title": title, "body": text, "labels": list(labels)},
                idempotent=False,
            )
            return _to_issue(self.http.expect(response, 201))
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
        self.http.require_write_budget(1)
        response = self.http.request("PATCH", self._repo_path(f"issues/{found.number}"), json=patch)
        return _to_issue(self.http.expect(response, 200))

    def close_pull_request(self, number: int, comment: str) -> None:
        """Comment why, then close. A pull request that is no longer open is left as it is."""
        data = self.http.get_json(self._repo_path(f"pulls/{number}"))
        if data["state"] != "open":
            return
        self.http.require_write_budget(2)
        # A run that died between the comment and the close must not comment twice when the next run retries.
        if not any(c.get("body") == _fit_body(comment) for c in self._comments(number)):
            self._create_comment(number, comment)
        response = self.http.request("PATCH", self._repo_path(f"pulls/{number}"), json={"state": "closed"})
        self.http.expect(response, 200)

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        """Create the comment carrying hidden `marker`, or edit the one that has it, only if its text differs.

        `marker` is a plain id (`gitops-engine:preview`) that becomes `<!-- gitops-engine:preview -->` at the top of
        the comment, or already such an HTML comment; a body that contains it is used unchanged.
        """
        hidden = marker if marker.startswith("<!--") else f"<!-- {marker} -->"
        text = _fit_body(body if hidden in body else f"{hidden}\n{body}")
        existing = next((c for c in self._comments(number) if hidden in (c.get("body") or "")), None)
        if existing is None:
            self.http.require_write_budget(1)
            self._create_comment(number, text)
        elif existing["body"] != text:
            self.http.require_write_budget(1)
            response = self.http.request(
                "PATCH", self._repo_path(f"issues/comments/{existing['id']}"), json={"body": text}
            )
            self.http.expect(response, 200)

    # -- the follow-up: labels, reviewers and auto-merge in one GraphQL request ---------------------------------------

    def _follow_up_writes(self, wanted: FollowUp) -> int:
        """Writes `_follow_up(…, wanted)` takes: the GraphQL request, a create for each label the repository
        lacks, and a REST review request for teams the token may not read (see `_lookup_teams`)."""
        self._read_labels(wanted.labels)
        readable = self._lookup_teams(wanted.teams)
        graphql = bool(wanted.labels or readable or wanted.automerge)
        creates = sum(self._label_ids[label] is None for label in dict.fromkeys(wanted.labels))
        return graphql + creates + bool(self._unreadable_teams(wanted.teams))

    def _follow_up(self, pull: Json, wanted: FollowUp) -> Json:
        """Send `wanted` for the pull request `pull` (its REST JSON) as one GraphQL request; `pull` as GitHub has it
        afterwards. Team reviewers GitHub refuses are logged, not fatal (the pull request is still worth having);
        labels or auto-merge it refuses raise `ForgeError`, after whatever else the request did."""
        label_ids = self._ensure_labels(wanted.labels)
        team_ids = self._lookup_teams(wanted.teams)
        pull = self._request_unreadable_teams(pull, self._unreadable_teams(wanted.teams))
        wanted = FollowUp(tuple(label_ids), tuple(team_ids), wanted.automerge)
        if not wanted:
            return pull
        variables: dict[str, Json] = {"pullRequestId": pull["node_id"]}
        if wanted.labels:
            variables["labelIds"] = list(label_ids.values())
        if wanted.teams:
            variables["teamIds"] = list(team_ids.values())
        if wanted.automerge:
            variables["mergeMethod"] = wanted.automerge.upper()
        answer = self.http.graphql(follow_up_document(wanted), variables)
        failed = _failed_mutations(answer, _aliases(wanted))
        result = dict(pull)
        if wanted.labels and "labels" not in failed:
            names = sorted(set(_label_names(pull)) | set(wanted.labels))
            result["labels"] = [{"name": name} for name in names]
        if wanted.teams and "reviewers" not in failed:
            slugs = sorted(set(_team_slugs(pull)) | set(wanted.teams))
            result["requested_teams"] = [{"slug": slug} for slug in slugs]
        if wanted.automerge and "automerge" not in failed:
            request = answer["data"]["automerge"]["pullRequest"]["autoMergeRequest"]
            result["auto_merge"] = {"merge_method": str(request["mergeMethod"]).lower()}
        self._report_failures(int(pull["number"]), wanted, failed)
        return result

    def _report_failures(self, number: int, wanted: FollowUp, failed: dict[str, str]) -> None:
        if "reviewers" in failed:
            # A CODEOWNERS team without access to the repository: the pull request is still worth having.
            log.warning(
                "GitHub would not request review from %s on #%d (%s): give the teams access to %s",
                ", ".join(wanted.teams),
                number,
                self.http.scrub(failed["reviewers"]),
                self.repository,
            )
        problems = []
        if "labels" in failed:
            problems.append(
                f"GitHub would not add the labels {', '.join(wanted.labels)} to #{number}: {failed['labels']}"
            )
        if "automerge" in failed:
            problems.append(
                f"GitHub would not enable auto-merge on #{number}: {failed['automerge']} ({_AUTOMERGE_HINT})"
            )
        if problems:
            raise ForgeError(self.http.scrub("; ".join(problems)))

    def _read_labels(self, names: tuple[str, ...]) -> None:
        """Look up the node ids of the labels `names` not seen in this run (reads)."""
        for name in dict.fromkeys(names):
            if name in self._label_ids:
                continue
            response = self.http.request("GET", self._repo_path(f"labels/{quote(name, safe='')}"))
            if response.status_code == 404:
                self._label_ids[name] = None
                continue
            self._label_ids[name] = str(self.http.expect(response, 200)["node_id"])

    def _ensure_labels(self, names: tuple[str, ...]) -> dict[str, str]:
        """The node ids of the labels `names`; one the repository lacks is created (a write, once)."""
        self._read_labels(names)
        ids = {}
        for name in dict.fromkeys(names):
            node = self._label_ids[name]
            if node is None:
                response = self.http.request(
                    "POST", self._repo_path("labels"), json={"name": name}, idempotent=False
                )
                if response.status_code == 422:  # created meanwhile (another run, or a retried request)
                    response = self.http.request("GET", self._repo_path(f"labels/{quote(name, safe='')}"))
                node = self._label_ids[name] = str(self.http.expect(response, 200, 201)["node_id"])
                log.info("created the label %r in %s", name, self.repository)
            ids[name] = node
        return ids

    def _lookup_teams(self, slugs: tuple[str, ...]) -> dict[str, str]:
        """The node ids of teams `slugs` of the repository's organisation, read once per run. Reading a team needs
        the organisation permission Members: read: a token without it (403) gets its teams requested over REST
        instead (`_request_unreadable_teams`: one more write). A team that does not exist (404) is logged and left
        out: the pull request is still worth having."""
        for slug in slugs:
            if slug in self._team_ids or slug in self._unreadable:
                continue
            response = self.http.request(
                "GET", f"orgs/{quote(self.owner, safe='')}/teams/{quote(slug, safe='')}"
            )
            if response.status_code == 403:
                log.warning(
                    "this token may not read team %r of %s (%s): its review is requested over REST, one more "
                    "write a pull request; give the GitHub App the organisation permission Members: read",
                    slug,
                    self.owner,
                    self.http.message(response),
                )
                self._unreadable.add(slug)
                continue
            if response.status_code == 404:
                log.warning(
                    "GitHub shows no team %r in %s to this token (%d %s): no review requested from it; give the "
                    "GitHub App the organisation permission Members: read, or check the CODEOWNERS team",
                    slug,
                    self.owner,
                    response.status_code,
                    self.http.message(response),
                )
                self._team_ids[slug] = None
                continue
            self._team_ids[slug] = str(self.http.expect(response, 200)["node_id"])
        return {slug: node for slug in slugs if (node := self._team_ids.get(slug)) is not None}

    def _unreadable_teams(self, slugs: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(slug for slug in dict.fromkeys(slugs) if slug in self._unreadable)

    def _request_unreadable_teams(self, pull: Json, teams: tuple[str, ...]) -> Json:
        """`pull` after requesting review from `teams` over REST (POST requested_reviewers, which needs no team
        ids); GitHub refusing a team (422: no access to the repository) is logged, not fatal."""
        if not teams:
            return pull
        number = int(pull["number"])
        response = self.http.request(
            "POST",
            self._repo_path(f"pulls/{number}/requested_reviewers"),
            json={"team_reviewers": list(teams)},
        )
        if response.status_code == 422:
            log.warning(
                "GitHub would not request review from %s on #%d (%s): give the teams access to %s",
                ", ".join(teams),
                number,
                self.http.message(response),
                self.repository,
            )
            return pull
        result = dict(pull)
        result["requested_teams"] = self.http.expect(response, 201).get("requested_teams", [])
        return result

    def _missing_teams(self, number: int, data: Json, reviewers: tuple[str, ...]) -> tuple[str, ...]:
        current_teams = _team_slugs(data)
        missing = tuple(t for t in dict.fromkeys(reviewers) if t not in current_teams)
        if (
            missing
            and not current_teams
            and self.http.get_all(self._repo_path(f"pulls/{number}/reviews"), {})
        ):
            # Someone reviewed already, and GitHub drops a team that reviewed from the requested ones: asking
            # again would be noise. (No team and no review: the request never happened, say a run killed
            # between opening the pull request and asking for review.)
            return ()
        return missing

    # -- calls -------------------------------------------------------------------------------------------------------

    def _comments(self, number: int) -> list[Json]:
        return self.http.get_all(self._repo_path(f"issues/{number}/comments"), {})

    def _create_comment(self, number: int, body: str) -> None:
        text = _fit_body(body)
        path = self._repo_path(f"issues/{number}/comments")
        attempt = 0
        while True:
            try:
                response = self.http.request("POST", path, json={"body": text}, idempotent=False)
            except ServerFailure as failure:
                attempt += 1
                self.http.back_off_server(attempt, str(failure))
                # The failed request may have posted the comment all the same: look before posting again.
                if any(c.get("body") == text for c in self._comments(number)):
                    return
                continue
            self.http.expect(response, 201)
            return

    def _repo_path(self, suffix: str) -> str:
        return f"repos/{self.repository}/{suffix}"


def follow_up_document(wanted: FollowUp) -> str:
    """The GraphQL document for `wanted`: one aliased mutation per part (GitHub runs them in order), and only the
    variables they use (GraphQL rejects an unused one)."""
    variables = ["$pullRequestId: ID!"]
    fields = []
    if wanted.labels:
        variables.append("$labelIds: [ID!]!")
        fields.append(
            "  labels: addLabelsToLabelable(input: {labelableId: $pullRequestId, labelIds: $labelIds}) {\n"
            "    clientMutationId\n"
            "  }"
        )
    if wanted.teams:
        variables.append("$teamIds: [ID!]!")
        fields.append(
            "  reviewers: requestReviews(input: {pullRequestId: $pullRequestId, teamIds: $teamIds, union: true}) {\n"
            "    clientMutationId\n"
            "  }"
        )
    if wanted.automerge:
        variables.append("$mergeMethod: PullRequestMergeMethod!")
        fields.append(
            "  automerge: enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: "
            "$mergeMethod}) {\n"
            "    pullRequest {\n"
            "      number\n"
            "      autoMergeRequest {\n"
            "        mergeMethod\n"
            "      }\n"
            "    }\n"
            "  }"
        )
    return f"mutation PullRequestFollowUp({', '.join(variables)}) {{\n" + "\n".join(fields) + "\n}\n"


def _aliases(wanted: FollowUp) -> list[str]:
    pairs = (("labels", wanted.labels), ("reviewers", wanted.teams), ("automerge", wanted.automerge))
    return [alias for alias, part in pairs if part]


def _failed_mutations(answer: dict[str, Json], aliases: list[str]) -> dict[str, str]:
    """The mutations of `aliases` that did not happen, with GitHub's messages. GitHub answers a document whose
    mutations partly failed with `data` (null for the failed ones) and `errors`, each naming its mutation in
    `path`; an error without a path (the document as a whole) fails every mutation."""
    by_alias: dict[str, list[str]] = {}
    for error in answer.get("errors") or []:
        path = error.get("path") if isinstance(error, dict) else None
        alias = str(path[0]) if isinstance(path, list) and path else ""
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        by_alias.setdefault(alias, []).append(message)
    general = "; ".join(by_alias.pop("", []))
    data = answer.get("data")
    failed = {}
    for alias in aliases:
        if alias in by_alias or not isinstance(data, dict) or data.get(alias) is None:
            failed[alias] = "; ".join(by_alias.get(alias, [])) or general or "GitHub gave no answer for it"
    return failed


def _patch_for(data: Json, draft: PullRequestDraft) -> dict[str, str]:
    """The REST fields of pull request `data` that differ from the draft's."""
    body = _fit_body(draft.body)
    patch: dict[str, str] = {}
    if data["title"] != draft.title:
        patch["title"] = draft.title
    if (data.get("body") or "") != body:
        patch["body"] = body
    if data["base"]["ref"] != draft.base:
        patch["base"] = draft.base
    return patch


def _to_issue(data: Json) -> Issue:
    return Issue(
        number=int(data["number"]),
        title=str(data["title"]),
        body=str(data.get("body") or ""),
        state="open" if data["state"] == "open" else "closed",
        url=str(data["html_url"]),
        labels=_label_names(data),
    )


def _to_pull(data: Json) -> PullRequest:
    merged = bool(data.get("merged_at"))
    return PullRequest(
        number=int(data["number"]),
        title=str(data["title"]),
        body=str(data.get("body") or ""),  # GitHub returns null for an empty body
        state="merged" if merged else ("open" if data["state"] == "open" else "closed"),
        branch=str(data["head"]["ref"]),
        base=str(data["base"]["ref"]),
        url=str(data["html_url"]),
        labels=_label_names(data),
        reviewers=_team_slugs(data),
        automerge=data.get("auto_merge") is not None,
        node_id=str(data.get("node_id") or ""),
    )


def _missing_labels(wanted: tuple[str, ...], present: tuple[str, ...]) -> tuple[str, ...]:
    """The labels of `wanted` a pull request lacks, once each. GitHub's label names are case-insensitive
    ("Rollout" is "rollout"): asking for one the pull request has in another case would be a write that does
    nothing."""
    seen = {name.casefold() for name in present}
    missing: list[str] = []
    for label in wanted:
        if label.casefold() not in seen:
            seen.add(label.casefold())
            missing.append(label)
    return tuple(missing)


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

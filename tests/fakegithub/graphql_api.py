"""The stand-in's GraphQL endpoint: every document is checked against GitHub's published GraphQL schema.

The schema is `schema.json` (an introspection result) of the npm package `@octokit/graphql-schema`, installed into
`tests/tools/node_modules/` by `tests/tools/install-actionlint.sh` as `tests/tools/package-lock.json` pins it.
`graphql-core` validates each request against it exactly as a GraphQL server does (unknown fields, wrong argument
types, enum values, missing variables), then executes it with resolvers for the mutations the stand-in implements.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import graphql

if TYPE_CHECKING:
    from .server import FakeGitHub

SCHEMA_JSON = (
    Path(__file__).resolve().parent.parent
    / "tools"
    / "node_modules"
    / "@octokit"
    / "graphql-schema"
    / "schema.json"
)

_SCHEMA: graphql.GraphQLSchema | None = None
_SCHEMA_LOCK = threading.Lock()


class GraphQLFailure(Exception):
    """An error GitHub reports for a valid document (a node that does not exist, a setting that forbids it)."""


@dataclass(frozen=True)
class Result:
    payload: dict[str, Any]  # the response body: `data` and/or `errors`
    violations: list[str]  # ways the document breaks the schema (a client bug)


def load_schema() -> graphql.GraphQLSchema:
    """GitHub's schema, built once per test session (~0.2 s)."""
    global _SCHEMA
    with _SCHEMA_LOCK:
        if _SCHEMA is None:
            if not SCHEMA_JSON.exists():
                raise RuntimeError(f"{SCHEMA_JSON} is missing: run `bash tests/tools/install-actionlint.sh`")
            schema = graphql.build_client_schema(json.loads(SCHEMA_JSON.read_text(encoding="utf-8")))
            # graphql-core 3.3 refuses GitHub's schema as a whole (some implementations deprecate a field their
            # interface does not); documents are still validated against every type. Mark the schema itself as
            # checked, as GitHub's own server evidently does.
            schema._validation_errors = []
            _install_resolvers(schema)
            _SCHEMA = schema
        return _SCHEMA


def execute(query: str, variables: dict[str, Any], fake: FakeGitHub) -> Result:
    """Validate `query` against the schema and run it; the answer GitHub would give."""
    schema = load_schema()
    try:
        document = graphql.parse(query)
    except graphql.GraphQLError as error:
        return Result({"errors": [{"message": error.message}]}, [f"GraphQL syntax: {error.message}"])
    problems = graphql.validate(schema, document)
    if problems:
        messages = [p.message for p in problems]
        return Result({"errors": [{"message": m} for m in messages]}, [f"GraphQL: {m}" for m in messages])
    result = graphql.execute_sync(schema, document, variable_values=variables, context_value=fake)
    payload: dict[str, Any] = {"data": result.data}
    violations = []
    if result.errors:
        # As GitHub does: each error names the (aliased) field that failed; that field's data is null, the others
        # stand (mutations run in order, and one failing does not undo or stop the rest).
        payload["errors"] = [_error_json(e) for e in result.errors]
        # Coercion failures (a variable of the wrong type) are the client's bug; resolver failures are not.
        violations = [
            f"GraphQL: {e.message}" for e in result.errors if not isinstance(e.original_error, GraphQLFailure)
        ]
    return Result(payload, violations)


def _error_json(error: graphql.GraphQLError) -> dict[str, Any]:
    failure = isinstance(error.original_error, GraphQLFailure)
    data: dict[str, Any] = {"type": "UNPROCESSABLE" if failure else "INVALID", "message": error.message}
    if error.path:
        data["path"] = list(error.path)
    if error.locations:
        data["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    return data


def _install_resolvers(schema: graphql.GraphQLSchema) -> None:
    mutation = schema.mutation_type
    assert mutation is not None

    def enable_auto_merge(
        root: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]
    ) -> dict[str, Any]:
        fake: FakeGitHub = info.context
        pull = fake.enable_automerge(input["pullRequestId"], input.get("mergeMethod") or "MERGE")
        assert pull.automerge is not None
        return {
            "clientMutationId": input.get("clientMutationId"),
            "pullRequest": {
                "id": pull.node_id,
                "number": pull.number,
                "title": pull.title,
                "state": "OPEN",
                "autoMergeRequest": {"mergeMethod": pull.automerge.upper()},
            },
        }

    mutation.fields["enablePullRequestAutoMerge"].resolve = enable_auto_merge

    def add_labels(root: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        fake: FakeGitHub = info.context
        issue = fake.add_labels(input["labelableId"], list(input["labelIds"]))
        typename = "PullRequest" if issue.is_pull else "Issue"
        return {
            "clientMutationId": input.get("clientMutationId"),
            "labelable": {"__typename": typename, "id": issue.node_id, "number": issue.number},
        }

    mutation.fields["addLabelsToLabelable"].resolve = add_labels

    def request_reviews(root: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        fake: FakeGitHub = info.context
        if input.get("userIds"):
            raise GraphQLFailure("this stand-in has no users: request reviews from teams")
        pull = fake.request_reviews(
            input["pullRequestId"], list(input.get("teamIds") or []), union=bool(input.get("union"))
        )
        return {
            "clientMutationId": input.get("clientMutationId"),
            "pullRequest": {"id": pull.node_id, "number": pull.number, "title": pull.title, "state": "OPEN"},
        }

    mutation.fields["requestReviews"].resolve = request_reviews

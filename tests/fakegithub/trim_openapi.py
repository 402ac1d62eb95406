"""Cut GitHub's published OpenAPI description down to the operations the GitHub forge uses.

The full description (``@octokit/openapi``, ``generated/api.github.com.json``) is 13 MB; the fake server needs a few
dozen kilobytes of it. This script keeps the listed operations, inlines their parameters and request bodies (so the
server can validate a request without chasing references), keeps the success responses' schemas as references into
``components/schemas``, and copies only the components those reach. Descriptions and examples inside schemas are
dropped to keep the checked-in copy small; operation summaries stay so a reader knows what each one is.

Refresh the copy (review the diff like code: a changed schema may mean the forge must change too)::

    cd /tmp && npm pack @octokit/openapi && tar xzf octokit-openapi-*.tgz
    python tests/fakegithub/trim_openapi.py /tmp/package/generated/api.github.com.json \\
        --package-version "$(node -p "require('/tmp/package/package.json').version")"

Add an operation here before the forge or the fake server starts using it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# (method, path template) of every operation the forge sends or the fake serves.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("put", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    # node ids for the GraphQL follow-up of a pull request (labels, team reviewers); a missing label is created
    ("get", "/repos/{owner}/{repo}/labels/{name}"),
    ("post", "/repos/{owner}/{repo}/labels"),
    ("get", "/orgs/{org}/teams/{team_slug}"),
    # the rollout dashboard issue
    ("get", "/repos/{owner}/{repo}/issues"),
    ("post", "/repos/{owner}/{repo}/issues"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("patch", "/repos/{owner}/{repo}/issues/{issue_number}"),
)

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "data" / "github-openapi-trimmed.json"

# Keys that only document; dropping them inside schemas shrinks the copy several times over.
_DOC_KEYS = frozenset({"description", "example", "examples", "externalDocs", "title"})


def trim_openapi(full: dict[str, Any], package_version: str) -> dict[str, Any]:
    """The trimmed description: `OPERATIONS` with inlined parameters and bodies, plus the schemas they reach."""
    paths: dict[str, dict[str, Any]] = {}
    for method, template in OPERATIONS:
        try:
            operation = full["paths"][template][method]
        except KeyError:
            raise SystemExit(f"{method.upper()} {template} is not in the source description") from None
        paths.setdefault(template, {})[method] = _trim_operation(full, operation)

    schemas: dict[str, Any] = {}
    pending = sorted(_schema_refs(paths))
    while pending:
        name = pending.pop()
        if name in schemas:
            continue
        schema = _strip_docs(full["components"]["schemas"][name])
        schemas[name] = schema
        pending.extend(sorted(_schema_refs(schema) - schemas.keys()))

    return {
        "openapi": full["openapi"],
        "info": {
            "title": full["info"]["title"],
            "version": full["info"]["version"],
            "x-source": f"@octokit/openapi {package_version}, generated/api.github.com.json",
            "x-trimmed-by": "tests/fakegithub/trim_openapi.py",
        },
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _trim_operation(full: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    trimmed: dict[str, Any] = {
        "operationId": operation["operationId"],
        "summary": operation.get("summary", ""),
    }
    parameters = []
    for parameter in operation.get("parameters", []):
        parameter = _resolve(full, parameter)
        parameters.append(
            {
                key: _strip_docs(value) if key == "schema" else value
                for key, value in parameter.items()
                if key in {"name", "in", "required", "schema"}
            }
        )
    trimmed["parameters"] = parameters
    if "requestBody" in operation:
        body = _resolve(full, operation["requestBody"])
        schema = body["content"]["application/json"]["schema"]
        trimmed["requestBody"] = {
            "required": body.get("required", False),
            "content": {"application/json": {"schema": _strip_docs(_inline(full, schema))}},
        }
    responses: dict[str, Any] = {}
    for status, response in operation["responses"].items():
        response = _resolve(full, response)
        kept: dict[str, Any] = {"description": response.get("description", "")}
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            kept["content"] = {"application/json": {"schema": _strip_docs(schema)}}
        responses[status] = kept
    trimmed["responses"] = responses
    return trimmed


def _resolve(full: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow one `$ref` (parameters, request bodies, responses live in components)."""
    while "$ref" in node:
        node = _lookup(full, node["$ref"])
    return node


def _inline(full: dict[str, Any], node: Any) -> Any:
    """Replace every `$ref` below `node` with its target; request bodies are small and not recursive."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(full, _lookup(full, node["$ref"]))
        return {key: _inline(full, value) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(full, item) for item in node]
    return node


def _lookup(full: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise SystemExit(f"external reference {ref!r} is not supported")
    node: Any = full
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    assert isinstance(node, dict)
    return node


def _strip_docs(node: Any, *, in_properties: bool = False) -> Any:
    """Drop documentation keys from a schema, but never a property that happens to be called `description`."""
    if isinstance(node, dict):
        return {
            key: _strip_docs(value, in_properties=key == "properties" and not in_properties)
            for key, value in node.items()
            if in_properties or (key not in _DOC_KEYS and not key.startswith("x-"))
        }
    if isinstance(node, list):
        return [_strip_docs(item) for item in node]
    return node


def _schema_refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.removeprefix("#/components/schemas/"))
        for value in node.values():
            found |= _schema_refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _schema_refs(item)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path, help="generated/api.github.com.json from @octokit/openapi")
    parser.add_argument(
        "--package-version", default="unknown", help="the @octokit/openapi version it came from"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    full = json.loads(args.source.read_text(encoding="utf-8"))
    trimmed = trim_openapi(full, args.package_version)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # Stable formatting so a refresh shows up as a readable diff.
    args.output.write_text(json.dumps(trimmed, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KiB, {len(OPERATIONS)} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

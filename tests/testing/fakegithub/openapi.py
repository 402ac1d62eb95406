"""Check requests (and the fake's own responses) against GitHub's published OpenAPI description.

The description is the trimmed copy in ``tests/data/github-openapi-trimmed.json`` (see ``trim_openapi.py``). OpenAPI
3.0 schemas are nearly JSON Schema draft 4; the one difference that matters here is ``nullable: true``, which this
module rewrites to ``type: [..., "null"]`` (or an ``anyOf`` with ``null`` where there is no ``type``).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

TRIMMED_SPEC = Path(__file__).resolve().parents[2] / "data" / "github-openapi-trimmed.json"
_BASE_URI = "urn:github-openapi"


@dataclass(frozen=True)
class Operation:
    """One operation of the description, ready to check requests against."""

    method: str  # upper case
    template: str  # "/repos/{owner}/{repo}/pulls"
    operation_id: str  # "pulls/create"
    pattern: re.Pattern[str]
    path_parameters: dict[str, dict[str, Any]]  # name -> schema
    query_parameters: dict[str, dict[str, Any]]  # name -> parameter (with "schema", "required")
    body_schema: dict[str, Any] | None
    body_required: bool
    response_schemas: dict[str, dict[str, Any]]  # status -> schema (nullable rewritten, `required` dropped)


@dataclass(frozen=True)
class Match:
    operation: Operation
    path_params: dict[str, Any]  # coerced to the schema's type


class OpenApiSpec:
    """The operations of the trimmed description and validators for their requests and responses."""

    def __init__(self, path: Path = TRIMMED_SPEC) -> None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = raw["info"].get("x-source", raw["info"]["version"])
        strict = _absolute_refs(_rewrite_nullable(raw))
        # Responses are checked for the *types* of what the fake sends, not for completeness: GitHub's schemas
        # require dozens of fields (whole repository objects) that no client here reads.
        relaxed = _drop_required(strict)
        self._strict = _registry(strict)
        self._relaxed = _registry(relaxed)
        self.operations: list[Operation] = []
        for template, methods in strict["paths"].items():
            for method, operation in methods.items():
                self.operations.append(
                    _operation(method, template, operation, relaxed["paths"][template][method])
                )

    def match(self, method: str, path: str) -> tuple[Match | None, list[str]]:
        """The operation for `method` and `path` with its coerced path parameters (None if there is none), and the
        ways the request breaks the description so far (no such operation, path parameters of the wrong type)."""
        same_path = []
        for operation in self.operations:
            found = operation.pattern.fullmatch(path)
            if found is None:
                continue
            same_path.append(operation)
            if operation.method != method:
                continue
            params: dict[str, Any] = {}
            problems = []
            for name, raw_value in found.groupdict().items():
                value, problem = _coerce(raw_value, operation.path_parameters[name])
                if problem:
                    problems.append(f"path parameter {name}={raw_value!r}: {problem}")
                params[name] = value
            return Match(operation, params), problems
        if same_path:
            allowed = ", ".join(sorted(op.method for op in same_path))
            return None, [f"{method} is not an operation on {same_path[0].template} (described: {allowed})"]
        return None, [f"no operation in the description matches {method} {path}"]

    def check_query(
        self, operation: Operation, query: dict[str, list[str]]
    ) -> tuple[dict[str, Any], list[str]]:
        """Query parameters coerced to their schema types, and every way they break the description."""
        values: dict[str, Any] = {}
        problems = []
        for name, raw_values in query.items():
            parameter = operation.query_parameters.get(name)
            if parameter is None:
                problems.append(
                    f"unknown query parameter {name!r} (described: {sorted(operation.query_parameters)})"
                )
                continue
            if len(raw_values) > 1 and parameter["schema"].get("type") != "array":
                problems.append(f"query parameter {name!r} given {len(raw_values)} times")
                continue
            value, problem = _coerce(raw_values[0], parameter["schema"])
            if problem:
                problems.append(f"query parameter {name}={raw_values[0]!r}: {problem}")
            values[name] = value
        for name, parameter in operation.query_parameters.items():
            if parameter.get("required") and name not in query:
                problems.append(f"missing required query parameter {name!r}")
        return values, problems

    def check_body(self, operation: Operation, body: Any, *, present: bool) -> list[str]:
        """How a request body (already parsed JSON, `present` False when there was none) breaks the description."""
        if operation.body_schema is None:
            return [f"{operation.operation_id} takes no request body"] if present else []
        if not present:
            return [f"{operation.operation_id} requires a JSON body"] if operation.body_required else []
        return _errors(operation.body_schema, body, self._strict, "body")

    def check_response(self, operation: Operation, status: int, body: Any) -> list[str]:
        """How the fake's own response body breaks the types the description gives for it (fake bugs)."""
        schema = operation.response_schemas.get(str(status))
        if schema is None:
            return []
        return _errors(schema, body, self._relaxed, f"{status} response")


def _operation(method: str, template: str, strict: dict[str, Any], relaxed: dict[str, Any]) -> Operation:
    path_parameters: dict[str, dict[str, Any]] = {}
    query_parameters: dict[str, dict[str, Any]] = {}
    for parameter in strict.get("parameters", []):
        if parameter["in"] == "path":
            path_parameters[parameter["name"]] = parameter["schema"]
        elif parameter["in"] == "query":
            query_parameters[parameter["name"]] = parameter
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    body = strict.get("requestBody")
    responses = {
        status: response["content"]["application/json"]["schema"]
        for status, response in relaxed.get("responses", {}).items()
        if "content" in response
    }
    return Operation(
        method=method.upper(),
        template=template,
        operation_id=strict["operationId"],
        pattern=re.compile(regex),
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        body_schema=body["content"]["application/json"]["schema"] if body else None,
        body_required=bool(body and body.get("required")),
        response_schemas=responses,
    )


def _coerce(raw: str, schema: dict[str, Any]) -> tuple[Any, str]:
    """A path or query string converted to the schema's type, and a problem ('' when it conforms)."""
    kind = schema.get("type")
    value: Any = raw
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", raw):
            return raw, "not an integer"
        value = int(raw)
    elif kind == "boolean":
        if raw not in {"true", "false"}:
            return raw, "not a boolean (true or false)"
        value = raw == "true"
    errors = _errors(schema, value, None, "value")
    return value, "; ".join(errors)


def _errors(
    schema: dict[str, Any], instance: Any, registry: referencing.Registry[Any] | None, where: str
) -> list[str]:
    validator = jsonschema.Draft4Validator(schema, registry=registry or referencing.Registry())
    return [
        f"{where}{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _registry(document: dict[str, Any]) -> referencing.Registry[Any]:
    resource = referencing.Resource.from_contents(
        document, default_specification=referencing.jsonschema.DRAFT4
    )
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(_BASE_URI, resource)
    return registry


def _rewrite_nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_rewrite_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _rewrite_nullable(value) for key, value in node.items()}
    # `nullable` as a property *name* maps to a schema (a dict), never to True, so this only sees the keyword.
    if converted.get("nullable") is True:
        del converted["nullable"]
        if isinstance(converted.get("type"), str) and "$ref" not in converted:
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    elif converted.get("nullable") is False:
        del converted["nullable"]
    return converted


def _absolute_refs(node: Any) -> Any:
    """Make `#/components/...` references absolute so a sub-schema can be validated on its own."""
    if isinstance(node, list):
        return [_absolute_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _absolute_refs(value) for key, value in node.items()}
    ref = result.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        result["$ref"] = _BASE_URI + ref
    return result


def _drop_required(node: Any) -> Any:
    node = copy.deepcopy(node)

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            # `required` the keyword is a list of names; a property called `required` maps to a schema (a dict).
            if isinstance(item.get("required"), list):
                del item["required"]
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(node)
    return node

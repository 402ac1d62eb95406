"""The JSON schemas shipped in the package, and validation of parsed documents against them.

Validation is on the critical path (every Score file, definition and environment of a repo), so it has two tiers:
jsonschema-rs answers "valid?" in microseconds, and only an invalid document pays for the pure-Python `jsonschema`
validator, whose error tree has what precise messages need (the failing keyword, its subschema, the value's path).

Every message reads `<dotted.path>: <what is wrong>; <what to do>`. "What to do" comes from the failing subschema's
`errorMessage` (a non-standard keyword that editors built on VS Code's JSON language service also show), else from
the property's `description`, else from the kind of mistake (a number where a string belongs: quote it).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jsonschema_rs

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

from gitops_engine.errors import Finding
from gitops_engine.yamlio import Document

SCHEMA_DIR: Final = Path(__file__).parent / "schemas"

_FILE_NAMES: Final = {
    "score": "score-v1b1.json",
    "platform": "platform.json",
    "environment": "environment.json",
    "definition": "definition.json",
}

KINDS: Final = tuple(_FILE_NAMES)

# Where a platform repo keeps copies of the schemas, for editors: the template's `# yaml-language-server: $schema=`
# lines point there by relative path (`gitops-engine init` writes them, `gitops-engine schemas --write` refreshes).
REPO_SCHEMA_DIR: Final = ".gitops-engine/schemas"


def repo_schema_files() -> dict[str, bytes]:
    """The schema files a platform repo keeps: path relative to the repo -> content, as shipped."""
    return {f"{REPO_SCHEMA_DIR}/{name}": (SCHEMA_DIR / name).read_bytes() for name in _FILE_NAMES.values()}


_TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}

_MAX_SHOWN = 60


def schema_path(kind: str) -> Path:
    """Where the JSON schema for `kind` ("score", "platform", "environment", "definition") is installed."""
    try:
        return SCHEMA_DIR / _FILE_NAMES[kind]
    except KeyError:
        raise ValueError(f"unknown schema kind {kind!r} (known: {', '.join(KINDS)})") from None


def load_schema(kind: str) -> dict[str, Any]:
    """The JSON schema for `kind`, freshly parsed (callers may modify it)."""
    loaded: dict[str, Any] = json.loads(schema_path(kind).read_text(encoding="utf-8"))
    return loaded


def validate_document(kind: str, document: Document, *, unit: str = "") -> list[Finding]:
    """Check a parsed document against the schema for `kind`: every problem, located, sorted, without duplicates."""
    fast = _fast_validator(kind)
    data = document.data
    if _is_valid(fast, data):
        return []
    precise = _precise_validator(kind)
    data = _with_string_keys(data)
    problems = _without_noise({problem for error in precise.iter_errors(data) for problem in _explain(error)})
    if not problems:
        # The two engines disagree only on exotic input (say, a regex corner case); never call invalid input valid.
        problems = set(_fast_problems(fast, data))
    findings = {document.finding(p.where, p.message, key=p.at_key, unit=unit) for p in problems}
    return sorted(findings)


# ---------------------------------------------------------------------------------------------------------------
# Validators, built once per kind


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """`pattern` with ECMA-262 semantics, as jsonschema-rs and editors apply it.

    Python's `$` also matches before a trailing newline and its `\\d` matches any Unicode digit; JSON Schema's
    regexes (ECMA-262) do neither, so "web\\n" must not pass as a DNS label here when it fails there.
    """
    from jsonschema.exceptions import ValidationError

    if isinstance(instance, str) and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append(r"\Z")
            continue
        out.append(char)
    return re.compile("".join(out), re.ASCII)


@functools.cache
def _fast_validator(kind: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator(load_schema(kind), offline=True)


@functools.cache
def _precise_validator(kind: str) -> Any:
    """Built on the first invalid document: importing `jsonschema` alone costs ~80 ms a run."""
    import jsonschema
    import jsonschema.validators

    precise = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})
    return precise(load_schema(kind))


def _is_valid(fast: jsonschema_rs.Validator, data: Any) -> bool:
    try:
        return fast.is_valid(data)
    except ValueError:
        # Not JSON-shaped: YAML allows keys like 80 or true (Score implementations read them as strings), and
        # explicit tags like !!binary. Retry with string keys; anything else is left to the precise validator.
        try:
            return fast.is_valid(_with_string_keys(data))
        except ValueError:
            return False


def _fast_problems(fast: jsonschema_rs.Validator, data: Any) -> Iterator[_Problem]:
    try:
        for error in fast.iter_errors(data):
            yield _Problem(tuple(error.instance_path), f"{_dotted(error.instance_path)}: {error.message}")
    except ValueError:
        return  # not JSON-shaped, and the precise validator found nothing wrong with it


def _with_string_keys(data: Any) -> Any:
    """The document with every mapping key a string, spelled as Go's YAML decoder spells it."""
    if isinstance(data, dict):
        return {_key_text(k): _with_string_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_with_string_keys(v) for v in data]
    return data


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


# ---------------------------------------------------------------------------------------------------------------
# Messages


@dataclass(frozen=True)
class _Problem:
    where: tuple[str | int, ...]
    message: str
    at_key: bool = False  # point at the key naming `where` rather than at its value
    keyword: str | None = None


def _without_noise(problems: set[_Problem]) -> set[_Problem]:
    """Drop a length complaint about a value whose format is wrong anyway ('x' as a DNS label: say it once)."""
    badly_formed = {(p.where, p.at_key) for p in problems if p.keyword == "pattern"}
    return {
        p for p in problems if not (p.keyword in _LENGTH_KEYWORDS and (p.where, p.at_key) in badly_formed)
    }


_LENGTH_KEYWORDS: Final = frozenset({"minLength", "maxLength"})


def _explain(error: ValidationError) -> Iterator[_Problem]:
    """One problem per thing the user must change (an error may hold several, like two missing keys)."""
    where: tuple[str | int, ...] = tuple(error.absolute_path)
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    hint: str | None = schema.get("errorMessage")
    keyword: str | None = error.validator
    instance: Any = error.instance
    schema_path = list(error.absolute_schema_path)

    if len(schema_path) >= 2 and schema_path[-2] == "propertyNames":
        name = str(instance)
        wrong = _what(keyword, error.validator_value, instance) or "is not allowed"
        message = f"{_dotted(where)}: name {_show(name)} {wrong}"
        yield _Problem((*where, name), _join(message, hint), at_key=True, keyword=keyword)
    elif keyword == "additionalProperties" and isinstance(instance, dict):
        properties: dict[str, Any] = schema.get("properties", {})
        known = set(properties)
        # A property declared only to be refused with an explanation ({"not": {}}) is not "allowed".
        allowed = sorted(k for k, v in properties.items() if not (isinstance(v, dict) and v.get("not") == {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        for key in instance:
            if key in known or any(p.search(key) for p in patterns):
                continue
            message = f"{_dotted(where)}: unknown key {_show(key)} (allowed: {', '.join(allowed) or 'none'})"
            yield _Problem((*where, key), _join(message, _did_you_mean(key, allowed)), at_key=True)
    elif keyword == "required" and isinstance(instance, dict):
        for key in error.validator_value:
            if key not in instance:
                message = f"{_dotted(where)}: missing required key {_show(key)}"
                yield _Problem(where, _join(message, hint or _add_hint(schema, key)), at_key=bool(where))
    elif keyword == "type":
        message = f"{_dotted(where)}: expected {_expected(error.validator_value)}, got {_show(instance)}"
        yield _Problem(where, _join(message, _type_hint(where, error.validator_value, instance) or hint))
    elif keyword == "const":
        message = f"{_dotted(where)}: expected {_show(error.validator_value)}, got {_show(instance)}"
        yield _Problem(where, _join(message, hint), at_key=isinstance(instance, (dict, list)))
    elif keyword in ("oneOf", "anyOf"):
        yield from _explain_choice(error, where, hint)
    elif keyword == "not" or keyword is None:  # `not`, or a `false` subschema
        yield _Problem(where, _join(f"{_dotted(where)}: not allowed here", hint), at_key=True)
    else:
        what = _what(keyword, error.validator_value, instance)
        subject = "" if isinstance(instance, (dict, list)) else f" {_show(instance)}"
        message = f"{_dotted(where)}:{subject} {what}" if what else f"{_dotted(where)}: {error.message}"
        yield _Problem(
            where, _join(message, hint), at_key=isinstance(instance, (dict, list)), keyword=keyword
        )


def _explain_choice(
    error: ValidationError, where: tuple[str | int, ...], hint: str | None
) -> Iterator[_Problem]:
    """oneOf/anyOf: name the choice when it is "exactly one of these keys", else explain the closest branch."""
    branches: Sequence[Any] = error.validator_value
    instance: Any = error.instance
    if all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
        if not isinstance(instance, dict):
            return  # `required` holds for any non-mapping, so every branch matched; the type error says it all
        keys = [key for branch in branches for key in branch["required"]]
        present = [key for key in keys if key in instance]
        if not present:
            message = f"{_dotted(where)}: missing {_one_of(keys)}; set exactly one"
        elif error.validator == "oneOf":
            both = "both" if len(present) == 2 else "all"
            message = f"{_dotted(where)}: {_all_of(present)} are {both} set; set only {_one_of(keys)}"
        else:
            message = f"{_dotted(where)}: {error.message}"
        yield _Problem(where, _join(message, hint), at_key=bool(where))
        return
    context = list(error.context or ())
    if not context:  # oneOf matched more than once
        yield _Problem(where, _join(f"{_dotted(where)}: {error.message}", hint), at_key=bool(where))
        return
    if all(e.validator == "type" and not e.path for e in context):
        expected: list[str] = []
        for e in context:
            values = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
            expected += [v for v in values if v not in expected]
        message = f"{_dotted(where)}: expected {_expected(expected)}, got {_show(instance)}"
        yield _Problem(where, _join(message, _type_hint(where, expected, instance) or hint))
        return
    # Like jsonschema.exceptions.best_match, trust the branch whose error goes deepest into the value and matches
    # its type -- but report every error of that branch, not just one.
    from jsonschema.exceptions import relevance

    best = min(context, key=relevance)
    branch = best.relative_schema_path[0]
    for sub in context:
        if sub.relative_schema_path[0] == branch:
            yield from _explain(sub)


def _what(keyword: str | None, limit: Any, instance: Any) -> str | None:
    """What is wrong with a value, for keywords that constrain a single value."""
    if keyword == "pattern":
        return "has an invalid format" if isinstance(instance, str) else None
    if keyword == "enum":
        return f"is not one of {', '.join(_show(v) for v in limit)}" + _enum_hint(instance, limit)
    if keyword == "minLength":
        return "must not be empty" if limit == 1 else f"is shorter than {limit} characters"
    if keyword == "maxLength":
        return f"is longer than {limit} characters"
    if keyword == "minimum":
        return f"is below the minimum {limit}"
    if keyword == "maximum":
        return f"is above the maximum {limit}"
    if keyword == "exclusiveMinimum":
        return f"must be greater than {limit}"
    if keyword == "exclusiveMaximum":
        return f"must be less than {limit}"
    if keyword in ("minProperties", "minItems"):
        return "must not be empty" if limit == 1 else f"needs at least {limit} entries"
    if keyword in ("maxProperties", "maxItems"):
        return f"has more than {limit} entries"
    if keyword == "uniqueItems":
        return "has duplicate entries"
    return None


def _enum_hint(instance: Any, allowed: Sequence[Any]) -> str:
    if isinstance(instance, str):
        for value in allowed:
            if isinstance(value, str) and value.casefold() == instance.casefold():
                return f" (did you mean {_show(value)}?)"
    return ""


def _type_hint(where: tuple[str | int, ...], expected: str | list[str], instance: Any) -> str | None:
    types = [expected] if isinstance(expected, str) else expected
    if instance is None:
        return "give it a value or remove the key" if where else "the file is empty"
    if "string" in types and isinstance(instance, (bool, int, float)):
        text = ("true" if instance else "false") if isinstance(instance, bool) else str(instance)
        return f'quote it: "{text}"'
    if ("integer" in types or "number" in types) and isinstance(instance, str) and _is_number(instance):
        return "remove the quotes"
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _add_hint(schema: dict[str, Any], key: str) -> str:
    described = schema.get("properties", {}).get(key, {})
    description = described.get("description") if isinstance(described, dict) else None
    if not description:
        return "add it"
    sentence = _SENTENCE_END.split(description, maxsplit=1)[0].rstrip(".")
    return f"add it: {sentence[0].lower()}{sentence[1:]}"


_SENTENCE_END: Final = re.compile(r"(?<!e\.g)(?<!i\.e)\.\s")


def _did_you_mean(key: str, allowed: list[str]) -> str | None:
    for candidate in allowed:
        if candidate.casefold() == key.casefold():
            return f"did you mean {_show(candidate)}?"
    import difflib  # lazy: only a mistake needs it

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
    if not close:
        # A longer spelling of an allowed key (environment -> env), but not another field (imagePullPolicy).
        close = [c for c in allowed if len(c) >= 3 and key.startswith(c) and key[len(c)].islower()][-1:]
    return f"did you mean {_show(close[0])}?" if close else None


def _join(message: str, hint: str | None) -> str:
    return f"{message}; {hint}" if hint else message


def _dotted(path: Sequence[str | int]) -> str:
    """containers.web.files[0].target, as score-k8s and score-compose name places."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def _expected(types: str | list[str]) -> str:
    names = [_TYPE_NAMES.get(t, t) for t in ([types] if isinstance(types, str) else types)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= _MAX_SHOWN else value[: _MAX_SHOWN - 3] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__}"


def _one_of(keys: list[str]) -> str:
    return (
        f"one of {', '.join(_show(k) for k in keys[:-1])} or {_show(keys[-1])}"
        if len(keys) > 1
        else _show(keys[0])
    )


def _all_of(keys: list[str]) -> str:
    return (
        f"{', '.join(_show(k) for k in keys[:-1])} and {_show(keys[-1])}" if len(keys) > 1 else _show(keys[0])
    )

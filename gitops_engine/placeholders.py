"""Score placeholders: `${metadata.name}`, `${resources.db.host}`, `$$` for a literal `$`.

A string is split into literal text and references; the caller decides what a reference means where it appears
(a variable turns a secret reference into `secretKeyRef`, file content refuses one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitops_engine.errors import did_you_mean
from gitops_engine.model import SecretRef


class PlaceholderError(Exception):
    """A placeholder that cannot be resolved; the message says which and why."""


@dataclass(frozen=True)
class Reference:
    path: tuple[str, ...]  # e.g. ("resources", "db", "host")
    text: str  # as written, for messages

    @property
    def resource(self) -> str | None:
        return self.path[1] if len(self.path) >= 2 and self.path[0] == "resources" else None


Token = str | Reference


# text -> its tokens: the same few texts (a variable's `${resources.db.host}`) come back for every unit.
_TOKENS: dict[str, tuple[Token, ...]] = {}


def tokenize(text: str) -> list[Token]:
    """Split `text` into literal strings and references. `$$` is a literal `$`; a lone `$` stays as it is."""
    known = _TOKENS.get(text)
    if known is None:
        known = tuple(_tokenize(text))
        if len(text) <= 256 and len(_TOKENS) < 20_000:
            _TOKENS[text] = known
    return list(known)


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    literal: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                literal.append("$")
                i += 2
                continue
            if nxt == "{":
                end = text.find("}", i + 2)
                if end < 0:
                    raise PlaceholderError(
                        f"unterminated placeholder in {text!r}: close it with '}}' or write $$ for a literal $"
                    )
                inner = text[i + 2 : end]
                if literal:
                    tokens.append("".join(literal))
                    literal = []
                tokens.append(Reference(_split_path(inner, text), "${" + inner + "}"))
                i = end + 1
                continue
        literal.append(c)
        i += 1
    if literal:
        tokens.append("".join(literal))
    return tokens


def _split_path(inner: str, text: str) -> tuple[str, ...]:
    if "\\" not in inner:  # no escaped dot: the parts between dots
        split = inner.split(".")
        if not inner or "" in split:
            raise PlaceholderError(f"malformed placeholder ${{{inner}}} in {text!r}")
        return tuple(split)
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and i + 1 < len(inner) and inner[i + 1] == ".":
            current.append(".")
            i += 2
            continue
        if c == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    if not inner or any(p == "" for p in parts):
        raise PlaceholderError(f"malformed placeholder ${{{inner}}} in {text!r}")
    return tuple(parts)


def references(value: Any) -> list[Reference]:
    """Every reference in a string or nested structure."""
    found: list[Reference] = []
    if isinstance(value, str):
        if "$" in value:
            found.extend(t for t in tokenize(value) if isinstance(t, Reference))
    elif isinstance(value, dict):
        for v in value.values():
            found.extend(references(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(references(v))
    return found


def as_text(value: Any) -> str:
    """How a resolved value is inserted into a string: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _inserted(ref: Reference, value: Any) -> str:
    # A secret output is a reference to a Secret's key, not a value: it can be passed on whole, never spliced into text.
    if isinstance(value, SecretRef):
        raise PlaceholderError(
            f"{ref.text} is a secret: it cannot be part of a longer text; pass it on as the whole value "
            f"(or as a container variable, which becomes a secretKeyRef)"
        )
    return as_text(value)


def substitute(value: Any, resolve: Callable[[Reference], Any], *, keep_native: bool = False) -> Any:
    """Replace references in strings (recursively in dicts and lists).

    With `keep_native`, a string that is exactly one reference becomes the referenced value itself (used for params,
    so a mapping output can be passed on); otherwise values are inserted as text.
    """
    if isinstance(value, str):
        if "$" not in value:
            return value
        tokens = tokenize(value)
        if keep_native and len(tokens) == 1 and isinstance(tokens[0], Reference):
            return resolve(tokens[0])
        return "".join(t if isinstance(t, str) else _inserted(t, resolve(t)) for t in tokens)
    if isinstance(value, dict):
        return {k: substitute(v, resolve, keep_native=keep_native) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, resolve, keep_native=keep_native) for v in value]
    return value


def lookup(data: Any, path: tuple[str, ...], what: str) -> Any:
    """Walk `path` through nested mappings; a PlaceholderError names the missing part and what exists."""
    current = data
    for depth, part in enumerate(path):
        if isinstance(current, dict) and part in current:
            current = current[part]
            continue
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
            continue
        walked = ".".join(path[:depth]) or what
        keys = sorted(map(str, current)) if isinstance(current, dict) else []
        raise PlaceholderError(
            f"{walked} has no {part!r}{did_you_mean(part, keys)} (known: {', '.join(keys) or 'none'})"
        )
    return current

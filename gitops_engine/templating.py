"""Definitions' templates: the one entry point to Jinja2 (its sandbox, with strict undefined values and a budget,
lives in sandbox.py).

Jinja2 is imported only for a template that needs it. Most templates are YAML text with a few `{{ name.name }}`
values (`{{ resource.uid }}`, `{{ workload.team }}`); those are checked and rendered here, without Jinja, to the
same bytes Jinja writes (tests/test_plain_templates.py compares the two), and anything else (filters, blocks,
comments, a missing or non-scalar value, a carriage return) goes to the sandbox. A single workload change whose
definitions need no more then starts ~60 ms sooner.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gitops_engine.errors import Finding
from gitops_engine.yamlio import Document, Path

if TYPE_CHECKING:
    import jinja2

DEFAULT_TEMPLATE_STEPS = 20_000
DEFAULT_TEMPLATE_SECONDS = 5.0
DEFAULT_TEMPLATE_OUTPUT_CHARS = 1_000_000
# Everything one evaluation builds, together, is bounded by this many times the output limit: that bounds its memory.
BUILT_PER_OUTPUT = 16
# Largest exponent, and largest integer (in bits) `*` and `**` may produce.
MAX_EXPONENT = 64
MAX_INT_BITS = 4096


class TemplateFailure(Exception):
    """A template failed; `line` is relative to the template text (1-based, 0 when unknown). `over_budget` when it
    went over one of its limits (the message then says which, and where to raise it)."""

    def __init__(self, message: str, line: int = 0, *, over_budget: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.over_budget = over_budget


@dataclass(frozen=True)
class TemplateLimits:
    """What one template evaluation may use (platform.yaml `limits:`)."""

    steps: int = DEFAULT_TEMPLATE_STEPS
    seconds: float = DEFAULT_TEMPLATE_SECONDS
    output_chars: int = DEFAULT_TEMPLATE_OUTPUT_CHARS

    @property
    def built_chars(self) -> int:
        return self.output_chars * BUILT_PER_OUTPUT


def template_line_offset(document: Document, where: Path) -> int:
    """Line of the template text's first line in its file, minus one (block scalars start a line later)."""
    line, column = document.locate(where)
    lines = document.text.splitlines()
    if 0 < line <= len(lines):
        rest = lines[line - 1][column - 1 :].lstrip()
        if rest[:1] in ("|", ">"):
            return line
    return line - 1


def template_indent(document: Document, where: Path) -> int:
    """Columns a block-scalar template is indented by in its file (0 for other scalars): the YAML a template
    renders is parsed without that indentation, so its columns need it added back."""
    first_line = template_line_offset(document, where)
    line, _ = document.locate(where)
    if first_line != line:  # not a block scalar
        return 0
    for text in document.text.splitlines()[first_line:]:
        if text.strip():
            return len(text) - len(text.lstrip(" "))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Plain templates: text and `{{ name.name }}` values, nothing else.

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VALUE = re.compile(rf"\{{\{{ *({_NAME}(?:\.{_NAME})*) *\}}\}}")
# First names Jinja reads as something else than a variable (constants, operators, its own objects and globals):
# left to Jinja.
_RESERVED = frozenset(
    {
        *("true", "false", "none", "True", "False", "None"),
        *("and", "or", "not", "in", "is", "if", "else", "elif", "endif", "for", "recursive"),
        *("self", "loop", "caller", "varargs", "kwargs", "super", "range", "dict", "lipsum", "cycler"),
        *("joiner", "namespace"),
    }
)
_SCALARS = (str, int, float)
PlainParts = tuple[tuple[str, tuple[str, ...] | None], ...]


@lru_cache(maxsize=4096)
def _plain_parts(text: str) -> PlainParts | None:
    """`text` as (literal text, dotted name or None) pairs when it is nothing but text and `{{ name.name }}`
    values; None when it needs Jinja: any other tag, comment or expression, a carriage return (Jinja rewrites
    line ends), a brace next to a value (`{{{ x }}`), a reserved name."""
    if "\r" in text:
        return None
    parts: list[tuple[str, tuple[str, ...] | None]] = []
    position = 0
    for match in _VALUE.finditer(text):
        literal = text[position : match.start()]
        if _has_markup(literal) or literal.endswith("{") or (parts and literal.startswith("}")):
            return None
        names = tuple(match.group(1).split("."))
        if names[0] in _RESERVED:  # after a dot, any name is an attribute's
            return None
        parts.append((literal, names))
        position = match.end()
    literal = text[position:]
    if _has_markup(literal) or (parts and literal.startswith("}")):
        return None
    parts.append((literal, None))
    return tuple(parts)


def _has_markup(literal: str) -> bool:
    return "{{" in literal or "{%" in literal or "{#" in literal


_MISSING = object()


def _render_plain(parts: PlainParts, namespace: Mapping[str, Any], limits: TemplateLimits) -> str | None:
    """What Jinja (through the sandbox) writes for a plain template, or None when any value is missing or is not
    a string or a number (then Jinja renders it, or says what is wrong, as it always did). The sandbox reads a
    mapping's item before its attributes, and str() writes a value out: the same here."""
    chunks: list[str] = []
    for literal, names in parts:
        chunks.append(literal)
        if names is None:
            continue
        value: Any = namespace.get(names[0], _MISSING)
        for name in names[1:]:
            if not isinstance(value, Mapping):
                return None
            try:
                value = value[name]
            except Exception:  # KeyError, or a mapping of its own kind: Jinja decides
                return None
        if type(value) is str:
            chunks.append(value)
        elif type(value) in _SCALARS or type(value) is bool:
            chunks.append(str(value))
        else:
            return None
    text = "".join(chunks)
    return text if len(text) <= limits.output_chars else None


# ---------------------------------------------------------------------------------------------------------------
# The entry points


def _compile(text: str) -> jinja2.Template:
    """The sandbox's compiled template (cached by text): for warming a cache ahead of forks."""
    from gitops_engine import sandbox

    return sandbox.compile_template(text)


def needs_jinja(text: str) -> bool:
    """Whether a template is more than text and `{{ name.name }}` values (then only Jinja can check or render it)."""
    return _plain_parts(text) is None


def check_template_syntax(text: str, document: Document, where: Path) -> list[Finding]:
    """Syntax errors found when loading a definition, located in its file (a plain template has none)."""
    if _plain_parts(text) is not None:
        return []
    from gitops_engine import sandbox

    return sandbox.check_syntax(text, document, where)


def render_template(
    text: str,
    context: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]],
    limits: TemplateLimits | None = None,
) -> str:
    """Render a template in the sandbox, within `limits`. Raises TemplateFailure with a line relative to the
    template."""
    limits = limits or TemplateLimits()
    parts = _plain_parts(text)
    if parts is not None:
        rendered = _render_plain(parts, {**context, **functions}, limits)
        if rendered is not None:
            return rendered
    from gitops_engine import sandbox

    return sandbox.render(text, context, functions, limits)

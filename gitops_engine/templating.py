"""The one home of Jinja2: definitions' templates run in a sandbox with strict undefined values.

The sandbox refuses attribute access to Python internals (`__class__`, `__globals__`, …), and we bound the
operations that could exhaust memory (`*` and `**` on big operands; `range` is bounded by Jinja itself).
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from gitops_engine.errors import Finding
from gitops_engine.yamlio import Document, Path, dump

MAX_RESULT_CHARS = 1_000_000


class TemplateFailure(Exception):
    """A template failed; `line` is relative to the template text (1-based, 0 when unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _stable_hash(value: Any, length: int = 8) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _to_yaml(value: Any) -> str:
    return dump(_plain(value)).rstrip("\n")


def _to_json(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot write a {type(value).__name__} as YAML or JSON: pass mappings, lists or scalars")


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Data before methods: `environment.values` is the environment's values, not dict.values (Jinja
        # looks up attributes first). Items are plain data, so this opens nothing the sandbox guards.
        if isinstance(obj, Mapping) and isinstance(attribute, str):
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, (int, float)) and abs(right) > 64:
                raise SecurityError("exponent too large in template")
            return operator.pow(left, right)
        if isinstance(left, (str, list)) and isinstance(right, int) and len(left) * right > MAX_RESULT_CHARS:
            raise SecurityError("repetition result too large in template")
        if isinstance(right, (str, list)) and isinstance(left, int) and len(right) * left > MAX_RESULT_CHARS:
            raise SecurityError("repetition result too large in template")
        return operator.mul(left, right)


@lru_cache(maxsize=1)
def _environment() -> _Sandbox:
    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["hash"] = _stable_hash
    env.filters["to_yaml"] = _to_yaml
    env.filters["to_json"] = _to_json
    return env


@lru_cache(maxsize=4096)
def _compile(text: str) -> jinja2.Template:
    return _environment().from_string(text)


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


def check_template_syntax(text: str, document: Document, where: Path) -> list[Finding]:
    """Syntax errors found when loading a definition, located in its file."""
    try:
        _compile(text)
    except jinja2.TemplateSyntaxError as exc:
        line = template_line_offset(document, where) + (exc.lineno or 1)
        return [
            Finding(
                document.path, line, 1, f"{'.'.join(map(str, where))}: template syntax error: {exc.message}"
            )
        ]
    return []


def render_template(
    text: str, context: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
) -> str:
    """Render a template in the sandbox. Raises TemplateFailure with a line relative to the template."""
    try:
        result = _compile(text).render({**context, **functions})
    except TemplateFailure as exc:  # raised by one of `functions`: where the template called it
        exc.line = exc.line or _error_line(exc)
        raise
    except SecurityError as exc:
        raise TemplateFailure(
            f"the template reaches outside the sandbox ({exc}): templates may only use the resource, workload and "
            "environment they are given",
            _error_line(exc),
        ) from None
    except jinja2.UndefinedError as exc:
        raise TemplateFailure(f"undefined value in template: {exc.message}", _error_line(exc)) from None
    except jinja2.TemplateError as exc:
        raise TemplateFailure(f"template error: {exc}", _error_line(exc)) from None
    except (TypeError, ValueError, KeyError, ArithmeticError, AttributeError) as exc:
        raise TemplateFailure(f"template error: {type(exc).__name__}: {exc}", _error_line(exc)) from None
    if len(result) > MAX_RESULT_CHARS:
        raise TemplateFailure(f"template output is over {MAX_RESULT_CHARS} characters")
    return result


def _error_line(exc: BaseException) -> int:
    """The template line an exception was raised from (Jinja maps frames of compiled templates to '<template>')."""
    tb = exc.__traceback__
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line

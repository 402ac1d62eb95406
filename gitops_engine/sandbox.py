"""Jinja2's side of templating.py, imported the first time a template needs Jinja (one that is more than text
with `{{ name.name }}` values, see templating._plain_parts): the sandbox, with strict undefined values and a budget.

The sandbox refuses attribute access to Python internals (`__class__`, `__globals__`, …). Each evaluation also has a
budget (platform.yaml `limits:`, see docs/security.md), enforced while the template runs, not after: steps (loop
iterations, calls, filters), the size of any value it builds and of its output, everything it builds together, and
a wall-clock backstop. `random` and `lipsum` are gone (output must be deterministic), and so is `urlize` (HTML).

Importing Jinja2 costs 50-100 ms, which a run that renders no such template should not pay: only templating.py
imports this module, inside its functions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import re
import string
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace

from gitops_engine.errors import Finding
from gitops_engine.templating import (
    BUILT_PER_OUTPUT,
    MAX_EXPONENT,
    MAX_INT_BITS,
    TemplateFailure,
    TemplateLimits,
    template_line_offset,
)
from gitops_engine.yamlio import Document, Path, dump


class BudgetExceeded(SecurityError):
    """A template went over one of its limits."""


# ---------------------------------------------------------------------------------------------------------------
# The budget. Steps are counted, so that limit is deterministic: the same template fails on every machine; the
# deadline is only a backstop for steps that are each expensive. Sizes are checked *before* an operation that can
# build a big value from small inputs (`center(2000000000)`, `'%2000000000d'`, `*`, `~`, `join`, `replace`, …):
# after would be too late, the memory would be gone. A structure that repeats one value (`[big, big, …]`, nested)
# weighs what writing it out would produce, checked before anything writes it out.


class _Budget:
    __slots__ = ("built", "chunks", "deadline", "limits", "output", "steps")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.built = 0
        self.output = 0
        self.chunks = 0
        self.deadline = time.monotonic() + limits.seconds

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            raise BudgetExceeded(
                f"the template took more than {self.limits.steps} steps (loop iterations, calls and filters): "
                "simplify it, or raise platform.yaml limits.templateSteps"
            )
        if not self.steps & 63:
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(
                f"the template ran for more than {self.limits.seconds:g} s: simplify it, or raise platform.yaml "
                "limits.templateSeconds"
            )

    def check_size(self, size: int, what: str) -> None:
        if size > self.limits.output_chars:
            raise BudgetExceeded(
                f"{what} would build a value of more than {self.limits.output_chars} characters (platform.yaml "
                "limits.templateOutputChars)"
            )

    def weigh(self, value: Any, what: str) -> int:
        size = _weight(value, self.limits.output_chars)
        self.check_size(size, what)
        return size

    def charge(self, size: int) -> None:
        self.built += size
        if self.built > self.limits.built_chars:
            raise BudgetExceeded(
                f"the template built more than {self.limits.built_chars} characters of values in all "
                f"({BUILT_PER_OUTPUT} x platform.yaml limits.templateOutputChars)"
            )

    def add_output(self, chunk: str) -> None:
        self.output += len(chunk)
        if self.output > self.limits.output_chars:
            raise BudgetExceeded(
                f"the template's output is over {self.limits.output_chars} characters (platform.yaml "
                "limits.templateOutputChars)"
            )
        self.chunks += 1
        if not self.chunks & 63:
            self.check_time()


_ACTIVE: ContextVar[_Budget | None] = ContextVar("gitops_engine_template_budget", default=None)


def _budget() -> _Budget:
    """The running evaluation's budget; outside one (Jinja folding constants while compiling), a fresh default."""
    return _ACTIVE.get() or _Budget(TemplateLimits())


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, dict)) else 1


_SCALARS = frozenset({int, float, bool, type(None), range})


def _weight(value: Any, limit: int) -> int:
    """About how many characters writing `value` out takes, counted up to just past `limit`. A value met again
    (`[big, big]`) counts again, as it would be written again, but is walked once; cycles count as over."""
    kind = type(value)
    if kind is str:
        return len(value)
    if kind in _SCALARS:
        return _scalar_weight(value)
    known: dict[int, int] = {}
    over = limit + 1

    def weigh(item: Any, depth: int) -> int:
        kind = type(item)
        if kind is str:
            return len(item)
        if kind in _SCALARS:
            return _scalar_weight(item)
        if isinstance(item, str):
            return len(item)
        if isinstance(item, Namespace):
            item = dict(item._Namespace__attrs)  # type: ignore[attr-defined]  # str(ns) writes them out
        elif kind not in (list, dict, tuple) and not isinstance(item, Collection):
            return 64
        cached = known.get(id(item))
        if cached is not None:
            return cached
        if depth > 200:
            return over
        known[id(item)] = over  # a cycle: met again while being weighed
        total = 2
        pairs: Iterable[Any] = item.items() if isinstance(item, Mapping) else ((None, v) for v in item)
        for key, child in pairs:
            total += weigh(key, depth + 1) + weigh(child, depth + 1) + 2
            if total > limit:
                total = over
                break
        known[id(item)] = total
        return total

    return weigh(value, 0)


def _scalar_weight(value: Any) -> int:
    if type(value) is int:
        return int(value.bit_length() * 0.302) + 2  # decimal digits
    return 24  # floats, booleans, None, a range (its text, not its items)


def _weigh_arguments(budget: _Budget, args: tuple[Any, ...], kwargs: Mapping[str, Any], what: str) -> None:
    total = 0
    for value in (*args, *kwargs.values()) if kwargs else args:
        total += len(value) if type(value) is str else _weight(value, budget.limits.output_chars)
    budget.check_size(total, what)


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _as_width(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    try:
        return max(int(value), 0)
    except (TypeError, ValueError, OverflowError):
        return 0


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _printf_size(budget: _Budget, text: str, values: Any) -> int:
    """An upper bound of `text % values`: star widths take the largest integer among the values."""
    size = len(text) + budget.weigh(values, "formatting")
    flat = (
        values if isinstance(values, tuple) else tuple(values.values()) if isinstance(values, Mapping) else ()
    )
    biggest = max((_as_width(v) for v in flat if isinstance(v, int)), default=0)
    for width, precision in _PRINTF_SPEC.findall(text):
        for number in (width, precision):
            size += biggest if number == "*" else int(number or 0)
    return size


def _braces_size(budget: _Budget, text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound of `text.format(...)`: nested widths (`{:{w}}`) take the largest integer argument."""
    size = len(text) + budget.weigh((args, kwargs), "formatting")
    biggest = max((_as_width(v) for v in (*args, *kwargs.values()) if isinstance(v, int)), default=0)
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return size  # format itself will refuse it
    for _, _, spec, _ in fields:
        if spec:
            size += biggest if "{" in spec else sum(int(n) for n in re.findall(r"\d+", spec))
    return size


def _replace_size(text: str, old: Any, new: Any, count: Any) -> int:
    old_text, new_text = str(old), str(new)
    times = len(text) + 1 if not old_text else len(text) // len(old_text)
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    return len(text) + times * len(new_text)


def _str_method_size(
    budget: _Budget, text: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> int:
    """An upper bound of what `text.<name>(...)` builds, for the methods that can build more than they get."""
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(len(text), _as_width(_argument(args, kwargs, 0, "width", 0)))
    if name == "expandtabs":
        return len(text) + text.count("\t") * _as_width(_argument(args, kwargs, 0, "tabsize", 8))
    if name == "replace":
        return _replace_size(
            text,
            _argument(args, kwargs, 0, "old", ""),
            _argument(args, kwargs, 1, "new", ""),
            _argument(args, kwargs, 2, "count", -1),
        )
    if name == "join":
        parts = args[0] if args else ()
        return budget.weigh(parts, "join") + len(text) * (len(parts) if isinstance(parts, Sized) else 0)
    if name in ("format", "format_map"):
        return _braces_size(budget, text, args, args[0] if name == "format_map" and args else kwargs)
    if name == "translate":
        table = args[0] if args else {}
        longest = (
            max((_weight(v, budget.limits.output_chars) for v in table.values()), default=1)
            if isinstance(table, Mapping)
            else 1
        )
        return len(text) * max(longest, 1)
    return len(text)


# Filters that can build more than they are given: an upper bound of the result, from (value, *args, **kwargs).
def _filter_center(b: _Budget, a: tuple[Any, ...], k: Mapping[str, Any]) -> int:
    return max(_weight(a[0], b.limits.output_chars), _as_width(_argument(a, k, 1, "width", 80)))


def _filter_indent(b: _Budget, a: tuple[Any, ...], k: Mapping[str, Any]) -> int:
    lines = str(a[0]).count("\n") + 1
    return len(str(a[0])) + lines * _as_width(_argument(a, k, 1, "width", 4))


def _filter_format(b: _Budget, a: tuple[Any, ...], k: Mapping[str, Any]) -> int:
    return _printf_size(b, str(a[0]), dict(k) if k else tuple(a[1:]))


def _filter_replace(b: _Budget, a: tuple[Any, ...], k: Mapping[str, Any]) -> int:
    return _replace_size(
        str(a[0]),
        _argument(a, k, 1, "old", ""),
        _argument(a, k, 2, "new", ""),
        _argument(a, k, 3, "count", None),
    )


def _filter_join(b: _Budget, a: tuple[Any, ...], k: Mapping[str, Any]) -> int:
    parts = a[0]
    separator = str(_argument(a, k, 1, "d", ""))
    return _weight(parts, b.limits.output_chars) + len(separator) * (
        len(parts) if isinstance(parts, Sized) else 0
    )


def _filter_wordwrap(b: _Budget, a: tuple[Any, ...], k: Mapping[str, Any]) -> int:
    text = str(a[0])
    width = max(_as_width(_argument(a, k, 1, "width", 79)), 1)
    wrap = _argument(a, k, 3, "wrapstring", None)
    return len(text) + (len(text) // width + 1) * len(str(wrap or "\n"))


def _filter_padding(index: int, name: str) -> Callable[[_Budget, tuple[Any, ...], Mapping[str, Any]], int]:
    """`batch` and `slice` pad with up to `linecount`/`slices` items; `tojson`'s indent repeats on every line."""

    def size(b: _Budget, a: tuple[Any, ...], k: Mapping[str, Any]) -> int:
        base = _weight(a[0], b.limits.output_chars)
        extra = _as_width(_argument(a, k, index, name, 0))
        return base * (1 + extra) if name == "indent" else base + extra

    return size


_FILTER_SIZES: dict[str, Callable[[_Budget, tuple[Any, ...], Mapping[str, Any]], int]] = {
    "center": _filter_center,
    "indent": _filter_indent,
    "format": _filter_format,
    "replace": _filter_replace,
    "join": _filter_join,
    "wordwrap": _filter_wordwrap,
    "batch": _filter_padding(1, "linecount"),
    "slice": _filter_padding(1, "slices"),
    "tojson": _filter_padding(1, "indent"),
}
# Filters whose input may be a one-shot iterator they consume whole: materialised first, so it can be weighed.
_MATERIALISED = frozenset({"join", "sum", "list", "unique", "sort", "batch", "slice"})


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    passes_state = getattr(func, "jinja_pass_arg", None) is not None
    estimate = _FILTER_SIZES.get(name)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        state, values = (args[:1], args[1:]) if passes_state else ((), args)
        if values and name in _MATERIALISED and isinstance(values[0], Iterator):
            values = (list(values[0]), *values[1:])
            budget.charge(len(values[0]))
        what = f"the {name} filter"
        _weigh_arguments(budget, values, kwargs, what)
        if estimate is not None and values:
            budget.check_size(estimate(budget, values, kwargs), what)
        result = func(*state, *values, **kwargs)
        budget.charge(_size(result))
        return result

    return guarded


class _CodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """`a ~ b` joins through environment.concat, which weighs the parts first (Jinja's own str_join does not)."""
        self.write("environment.concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CodeGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        for name in ("random", "urlize"):
            self.filters.pop(name, None)
        self.globals.pop("lipsum", None)
        self.filters = {name: _guard_filter(name, func) for name, func in self.filters.items()}

    def add_filter(self, name: str, func: Callable[..., Any]) -> None:
        self.filters[name] = _guard_filter(name, func)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Data before methods: `environment.values` is the environment's values, not dict.values (Jinja
        # looks up attributes first). Items are plain data, so this opens nothing the sandbox guards.
        if isinstance(obj, Mapping) and isinstance(attribute, str):
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        _weigh_arguments(budget, args, kwargs, "this call")
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            budget.check_size(
                _str_method_size(budget, owner, getattr(target, "__name__", ""), args, kwargs),
                f"str.{getattr(target, '__name__', '')}",
            )
        elif isinstance(owner, (list, dict, set)):  # mutators keep what they are given
            budget.charge(sum(_size(a) for a in (*args, *kwargs.values())) + 1)
        result = super().call(__context, __obj, *args, **kwargs)
        budget.charge(_size(result))
        return result

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.step()
        if operator_name == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise BudgetExceeded(f"exponent {right} is over {MAX_EXPONENT}")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_INT_BITS:
                raise BudgetExceeded(f"the power would be an integer of more than {MAX_INT_BITS} bits")
            return operator.pow(left, right)
        if operator_name == "%":
            if isinstance(left, str):
                budget.check_size(_printf_size(budget, left, right), "% formatting")
            return operator.mod(left, right)
        if operator_name == "*":
            size = _repeat_size(budget, left, right) or _repeat_size(budget, right, left)
            if size:
                budget.check_size(size, "repetition with *")
            elif (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > (MAX_INT_BITS)
            ):
                raise BudgetExceeded(f"the product would be an integer of more than {MAX_INT_BITS} bits")
            result = operator.mul(left, right)
        else:
            if isinstance(left, (str, list, tuple)):
                budget.check_size(budget.weigh(left, "+") + budget.weigh(right, "+"), "+")
            result = operator.add(left, right)
        budget.charge(_size(result))
        return result

    def concat(self, parts: Iterable[Any]) -> str:  # type: ignore[override]
        """`~`, macro bodies and `{% set %}` blocks join their parts here (Jinja's code calls environment.concat)."""
        budget = _budget()
        items = list(parts)
        budget.check_size(sum(budget.weigh(item, "~") for item in items), "joining text")
        text = "".join(item if isinstance(item, str) else str(item) for item in items)
        budget.charge(len(text))
        return text

    def count_loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Every `for` loop iterates through this (see _parse): one step per item."""
        budget = _budget()
        for item in iterable:
            budget.step()
            yield item

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            counted = nodes.Call(nodes.EnvironmentAttribute("count_loop"), [loop.iter], [], None, None)
            loop.iter = counted.set_lineno(loop.lineno)
        return tree

    def _finalize(self, value: Any) -> Any:
        """Every `{{ … }}` is weighed before it is written out (a string is already bounded where it was built,
        and is counted as output)."""
        if type(value) is not str:
            _budget().weigh(value, "writing out this value")
        return value


def _repeat_size(budget: _Budget, sequence: Any, times: Any) -> int:
    if isinstance(times, bool) or not isinstance(times, int):
        return 0
    if isinstance(sequence, str):
        return len(sequence) * max(times, 0)
    if isinstance(sequence, (list, tuple)):  # each item is written out again, however small
        return (budget.weigh(sequence, "repetition with *") + 1) * max(times, 0)
    return 0


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


@lru_cache(maxsize=1)
def _environment() -> _Sandbox:
    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.add_filter("hash", _stable_hash)
    env.add_filter("to_yaml", _to_yaml)
    env.add_filter("to_json", _to_json)
    return env


@lru_cache(maxsize=4096)
def compile_template(text: str) -> jinja2.Template:
    return _environment().from_string(text)


def check_syntax(text: str, document: Document, where: Path) -> list[Finding]:
    """Syntax errors found when loading a definition, located in its file."""
    try:
        compile_template(text)
    except RecursionError:
        line, column = document.locate(where)
        return [
            Finding(
                document.path,
                line,
                column,
                f"{'.'.join(map(str, where))}: template nested too deeply to compile (brackets, parentheses or "
                "blocks inside one another): flatten it",
            )
        ]
    except jinja2.TemplateSyntaxError as exc:
        line = template_line_offset(document, where) + (exc.lineno or 1)
        return [
            Finding(
                document.path, line, 1, f"{'.'.join(map(str, where))}: template syntax error: {exc.message}"
            )
        ]
    return []


def render(
    text: str,
    context: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]],
    limits: TemplateLimits | None = None,
) -> str:
    """Render a template in the sandbox, within `limits`. Raises TemplateFailure with a line relative to the
    template."""
    budget = _Budget(limits or TemplateLimits())
    token = _ACTIVE.set(budget)
    try:
        chunks: list[str] = []
        for chunk in compile_template(text).generate({**context, **functions}):
            budget.add_output(chunk)
            chunks.append(chunk)
        return "".join(chunks)
    except TemplateFailure as exc:  # raised by one of `functions`: where the template called it
        exc.line = exc.line or _error_line(exc)
        raise
    except BudgetExceeded as exc:
        raise TemplateFailure(f"over its budget: {exc}", _error_line(exc), over_budget=True) from None
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
    except RecursionError as exc:
        raise TemplateFailure(
            "over its budget: recursion too deep (a macro or recursive loop that never ends?)",
            _error_line(exc),
            over_budget=True,
        ) from None
    except (
        MemoryError
    ) as exc:  # a backstop: the size checks above should stop every big value before it is built
        raise TemplateFailure("over its budget: out of memory", _error_line(exc), over_budget=True) from None
    except (TypeError, ValueError, KeyError, ArithmeticError, AttributeError) as exc:
        raise TemplateFailure(f"template error: {type(exc).__name__}: {exc}", _error_line(exc)) from None
    finally:
        _ACTIVE.reset(token)


def _error_line(exc: BaseException) -> int:
    """The template line an exception was raised from (Jinja maps frames of compiled templates to '<template>')."""
    tb = exc.__traceback__
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line

"""The one home of the YAML libraries.

Parsing uses libyaml (PyYAML's C loader) because it is 5-8x faster than pure Python, with a resolver that follows
YAML 1.2's core schema as Go's yaml.v3 does (so Score files written for score-k8s/score-compose mean the same thing
here): no timestamps, and only true/false are booleans. Positions are needed only to report errors, so they are
computed lazily by composing the node tree again.

Dumping is deterministic and never emits anchors or aliases.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import yaml

from gitops_engine.errors import Finding
from gitops_engine.simpleyaml import NotSimple, SimpleReader

try:
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _BaseLoader

    HAVE_LIBYAML = True
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

    HAVE_LIBYAML = False

# An expanded document larger than this many nodes is an alias bomb, not a workload.
MAX_EXPANDED_NODES = 100_000
# Collections nested deeper than this are refused where they are read (every YAML input, and what templates render):
# code that walks the data recursively (placeholders, merges, schemas) then never runs out of stack.
MAX_DEPTH = 64

_ALIAS_HINT = re.compile(r"(?:^|[\s\[\{,:-])[&*][^\s\]\},]")

Path = tuple[str | int, ...]


def warn_if_slow() -> None:
    """Say once, clearly, that parsing will be slow without libyaml."""
    if not HAVE_LIBYAML:
        warnings.warn(
            "PyYAML was built without libyaml: parsing is 5-8x slower. "
            "Install libyaml (apt-get install libyaml-dev) and reinstall PyYAML to fix it.",
            RuntimeWarning,
            stacklevel=2,
        )


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_NULL_TAG = "tag:yaml.org,2002:null"


# plain scalar text -> its tag under the core schema (see _Loader.resolve)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader with YAML 1.2 core-schema scalars and duplicate-key detection."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012 - PyYAML API

    def construct_document(self, node: yaml.Node) -> Any:
        # Fast path for plain documents (string keys, str/int/float/bool/null scalars, no aliases): the same data
        # as the general constructor, ~2x faster. Anything else, errors included, takes the general path.
        try:
            data = _plain_data(self, node, set(), 1)
        except TooDeep:
            raise
        except Exception:
            data = _NOT_PLAIN
        if data is not _NOT_PLAIN:
            return data
        _check_depth(node)  # the fast path may have stopped (at an alias, say) before the deep part
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Fast path: every key a plain string scalar (nearly always) and all distinct. The key is then exactly the
        # node's text, so no key needs constructing twice; otherwise the full check below finds the duplicate.
        texts = [k.value for k, _ in node.value if k.tag == _STR_TAG and type(k) is yaml.ScalarNode]
        if len(texts) == len(node.value) and len(set(texts)) == len(texts):
            return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                duplicate = False
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r}: a key may appear once in a mapping",
                    key_node.start_mark,
                )
            with contextlib.suppress(TypeError):  # unhashable keys cannot repeat in a way we can see
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _memoise_resolve(cls: Any) -> dict[str, str]:
    """Memoise `cls.resolve` for scalars: the C parser asks once per scalar and the C emitter twice, and the answer
    is a pure function of the text while no path resolvers are registered (a quoted scalar is always a string).
    Loader and dumper resolve differently (YAML 1.2 core vs 1.1), so each class keeps its own cache."""
    original = cls.resolve
    cache: dict[str, str] = {}

    def resolve(self: Any, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and not self.yaml_path_resolvers:
            if not implicit[0]:
                return self.DEFAULT_SCALAR_TAG
            tag = cache.get(value)
            if tag is None:
                tag = original(self, kind, value, implicit)
                if len(value) <= 128 and len(cache) < 200_000:
                    cache[value] = tag
            return tag
        return original(self, kind, value, implicit)

    cls.resolve = resolve
    return cache


def _implicit_tag(cls: Any, text: str) -> str:
    """The tag `cls`'s resolver gives the plain scalar `text` (resolvers are class data: no instance is needed)."""
    tag: str = cls.resolve(cls, yaml.ScalarNode, text, (True, False))
    return tag


# The core schema's implicit scalars (YAML 1.2, as Kubernetes' YAML reader also takes `1e3` and `0o7`), as
# (tag, pattern, first characters).
_CORE_SCHEMA: list[tuple[str, str, Any]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
]


def _install_core_schema_resolvers() -> None:
    for tag, regexp, first in _CORE_SCHEMA:
        _Loader.add_implicit_resolver(tag, re.compile(regexp), list(first))


_install_core_schema_resolvers()
_LOADER_TAGS = _memoise_resolve(_Loader)  # plain scalar text -> tag


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    return _int_of(str(loader.construct_scalar(node)))


def _int_of(text: str) -> int:
    text = text.replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)

_NOT_PLAIN = object()
_CORE_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_FLOAT_TAG = "tag:yaml.org,2002:float"
_FLOATS = yaml.constructor.SafeConstructor()


def _typed_scalar(text: str) -> Any:
    """A plain scalar's value as _Loader reads it (`text` itself when it is a string), for simpleyaml. Raises
    NotSimple for anything but a string, integer, float, boolean or null."""
    if text[0] not in _IMPLICIT_FIRSTS and None not in _IMPLICIT_FIRSTS:
        return text  # no implicit resolver for its first character: a string
    tag = _LOADER_TAGS.get(text) or _implicit_tag(_Loader, text)
    if tag == _STR_TAG:
        return text
    if tag == _INT_TAG:
        return _int_of(text)
    if tag == _NULL_TAG:
        return None
    if tag == _BOOL_TAG:
        value = _CORE_BOOLS.get(text)
        if value is not None:
            return value
    elif tag == _FLOAT_TAG:
        return _FLOATS.construct_yaml_float(yaml.ScalarNode(tag, text))
    raise NotSimple


# The first characters _Loader's implicit resolvers look at: a text starting otherwise resolves to a string (unless
# a resolver for any first character, under None, were registered: then this tells nothing).
_IMPLICIT_FIRSTS: frozenset[str | None] = frozenset(_Loader.yaml_implicit_resolvers)
_SIMPLE = SimpleReader(_typed_scalar, MAX_DEPTH)


class TooDeep(yaml.constructor.ConstructorError):
    """Collections nested more than MAX_DEPTH deep."""

    def __init__(self, node: yaml.Node) -> None:
        super().__init__(
            None,
            None,
            f"nested more than {MAX_DEPTH} levels deep: flatten the data (the engine reads at most {MAX_DEPTH} "
            "levels of nested mappings and lists)",
            node.start_mark,
        )


def _check_depth(root: yaml.Node) -> None:
    """Raise TooDeep at the first collection nested deeper than MAX_DEPTH, following aliases."""
    deepest: dict[int, int] = {}  # node id -> the greatest depth it was walked at
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, yaml.ScalarNode) or deepest.get(id(node), 0) >= depth:
            continue
        if depth > MAX_DEPTH:
            raise TooDeep(node)
        deepest[id(node)] = depth
        if isinstance(node, yaml.MappingNode):
            stack.extend((child, depth + 1) for pair in node.value for child in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)


def _plain_data(loader: _Loader, node: yaml.Node, seen: set[int], depth: int) -> Any:
    """What the general constructor builds for a plain node tree, or _NOT_PLAIN (merge keys, non-string or
    duplicate keys, explicit tags, aliases: `seen` holds the collections met so far). Raises TooDeep for a
    collection nested deeper than MAX_DEPTH (`depth` is `node`'s)."""
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        if tag == _STR_TAG:
            return node.value
        if tag == _INT_TAG:
            return _construct_int(loader, node)
        if tag == _NULL_TAG:
            return None
        if tag == _BOOL_TAG:
            if node.value in ("true", "True", "TRUE"):
                return True
            if node.value in ("false", "False", "FALSE"):
                return False
        elif tag == _FLOAT_TAG:
            return loader.construct_yaml_float(node)
        return _NOT_PLAIN
    if id(node) in seen:
        return _NOT_PLAIN
    if depth > MAX_DEPTH:
        raise TooDeep(node)
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode) and tag == _MAP_TAG:
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode or key_node.tag != _STR_TAG or key_node.value in mapping:
                return _NOT_PLAIN
            value = _plain_data(loader, value_node, seen, depth + 1)
            if value is _NOT_PLAIN:
                return _NOT_PLAIN
            mapping[key_node.value] = value
        return mapping
    if isinstance(node, yaml.SequenceNode) and tag == _SEQ_TAG:
        items: list[Any] = []
        for item_node in node.value:
            item = _plain_data(loader, item_node, seen, depth + 1)
            if item is _NOT_PLAIN:
                return _NOT_PLAIN
            items.append(item)
        return items
    return _NOT_PLAIN


class YamlSyntaxError(Exception):
    """Raised by load functions; carries a ready Finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(str(finding))
        self.finding = finding


@dataclass
class Document:
    """Parsed YAML plus the means to locate any value in the source text (computed on demand)."""

    path: str
    text: str
    data: Any
    _positions: dict[Path, tuple[int, int]] | None = field(default=None, repr=False)

    def locate(self, where: Path) -> tuple[int, int]:
        """1-based (line, column) of the value at `where`, or of its nearest existing ancestor."""
        if self._positions is None:
            self._positions = _positions_of(self.text)
        for cut in range(len(where), -1, -1):
            found = self._positions.get(tuple(where[:cut]))
            if found:
                return found
        return (1, 1)

    def locate_key(self, where: Path) -> tuple[int, int]:
        """Position of the key naming `where` (falls back to the value)."""
        if self._positions is None:
            self._positions = _positions_of(self.text)
        key = self._positions.get(("__key__", *where))
        return key or self.locate(where)

    def finding(self, where: Path, message: str, *, key: bool = False, unit: str = "") -> Finding:
        line, column = self.locate_key(where) if key else self.locate(where)
        return Finding(self.path, line, column, message, unit=unit)


def _positions_of(text: str) -> dict[Path, tuple[int, int]]:
    positions: dict[Path, tuple[int, int]] = {}
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return positions
    if node is None:
        return positions
    budget = [MAX_EXPANDED_NODES]

    def walk(n: yaml.Node, where: Path) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            return
        positions.setdefault(where, (n.start_mark.line + 1, n.start_mark.column + 1))
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.start_mark)
                positions.setdefault(
                    ("__key__", *where, key), (k.start_mark.line + 1, k.start_mark.column + 1)
                )
                walk(v, (*where, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*where, i))

    walk(node, ())
    return positions


def _check_expansion(text: str, path: str) -> None:
    """Reject documents whose aliases expand beyond MAX_EXPANDED_NODES (billion laughs)."""
    _check_node_expansion(yaml.compose(text, Loader=_Loader), path)


def _check_node_expansion(node: yaml.Node | None, path: str) -> None:
    if node is None:
        return
    _check_depth(node)  # first: `size` below recurses
    sizes: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        known = sizes.get(id(n))
        if known is not None:
            return known
        sizes[id(n)] = 1  # cycles count once; recursive aliases are refused by the parser anyway
        if isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in n.value)
        else:
            total = 1
        sizes[id(n)] = total
        return total

    if size(node) > MAX_EXPANDED_NODES:
        raise YamlSyntaxError(
            Finding(
                path,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                f"YAML aliases expand to more than {MAX_EXPANDED_NODES} values (an alias bomb?): "
                "write the values out instead of repeating anchors",
            )
        )


def load_document(text: str | bytes, path: str) -> Document:
    """Parse one YAML document. Raises YamlSyntaxError with file, line and column on bad input."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlSyntaxError(
                Finding(path, 1, 1, f"not UTF-8 text ({exc.reason}): save the file as UTF-8")
            ) from None
    simple = _SIMPLE.read(text)  # most files the engine reads; None: anything else
    if simple is not None:
        return Document(path=path, text=text, data=simple[0])
    try:
        if _ALIAS_HINT.search(text):
            _check_expansion(text, path)
        data = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError) as exc:
        raise _syntax_error(exc, path) from None
    return Document(path=path, text=text, data=data)


def load_all(text: str, path: str) -> list[Any]:
    """Parse a multi-document YAML stream (used for template-produced manifests)."""
    simple = _SIMPLE.read(text)  # most of what templates render; None: anything else
    if simple is not None:
        return simple
    return load_all_pyyaml(text, path)


def load_all_pyyaml(text: str, path: str) -> list[Any]:
    """load_all through PyYAML alone (what simpleyaml stands in for, and is tested against)."""
    try:
        if _ALIAS_HINT.search(text):
            for node in yaml.compose_all(text, Loader=_Loader):
                _check_node_expansion(node, path)
        return [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except (yaml.YAMLError, RecursionError) as exc:
        raise _syntax_error(exc, path) from None


def _syntax_error(exc: yaml.YAMLError | RecursionError, path: str) -> YamlSyntaxError:
    """What PyYAML raised while parsing `path` (or nesting too deep to parse), at the line and column it names.
    (Called from a plain try/except at each parse rather than a context manager, which costs a generator for
    every document parsed.)"""
    if isinstance(exc, RecursionError):
        return YamlSyntaxError(Finding(path, 1, 1, f"invalid YAML: nested more than {MAX_DEPTH} levels deep"))
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return YamlSyntaxError(Finding(path, line, column, f"invalid YAML: {problem}"))
    return YamlSyntaxError(Finding(path, 1, 1, f"invalid YAML: {exc}"))


# ---------------------------------------------------------------------------------------------------------------
# Dumping


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_data(self, data: Any) -> yaml.Node:
        """The nodes SafeRepresenter builds for plain data (manifests), without its per-node dispatch: ~2x faster.
        Anything else (floats, tuples, sorted keys, flow style left to PyYAML) takes the general path."""
        kind = type(data)
        if kind is str:
            return yaml.ScalarNode(_STR_TAG, data, style="|" if "\n" in data else self.default_style)
        flow_style = self.default_flow_style
        if flow_style is not None:
            if kind is dict and not self.sort_keys:
                rep = self.represent_data
                pairs = [(rep(k), rep(v)) for k, v in data.items()]
                return yaml.MappingNode(_MAP_TAG, pairs, flow_style=flow_style)
            if kind is list:
                rep = self.represent_data
                return yaml.SequenceNode(_SEQ_TAG, [rep(item) for item in data], flow_style=flow_style)
        if kind is bool:
            return yaml.ScalarNode(_BOOL_TAG, "true" if data else "false", style=self.default_style)
        if kind is int:
            return yaml.ScalarNode(_INT_TAG, str(data), style=self.default_style)
        if data is None:
            return yaml.ScalarNode(_NULL_TAG, "null", style=self.default_style)
        return super().represent_data(data)  # type: ignore[no-any-return]


# A string that either schema reads as something else must be quoted: PyYAML's dumper knows YAML 1.1's scalars
# only, so without these `1e3` and `0o7` would be written plain and read back (by us and by Kubernetes) as numbers.
for _tag, _regexp, _first in _CORE_SCHEMA:
    _Dumper.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))
_memoise_resolve(_Dumper)  # its tags: _value_form asks the class


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def dump(data: Any) -> str:
    """Deterministic YAML: insertion-ordered keys, block style, no aliases, no line folding."""
    if type(data) is dict and data:
        try:
            return _fast_dump(data)
        except _NotFast:
            pass
    return _pyyaml_dump(data)


# How PyYAML lays out what the engine writes: keys in the order given, block style, UTF-8 as is, no line wrapping.
_LAYOUT: dict[str, Any] = {
    "Dumper": _Dumper,
    "sort_keys": False,
    "default_flow_style": False,
    "allow_unicode": True,
    "width": 1_000_000,
}


def _pyyaml_dump(data: Any) -> str:
    return yaml.dump(data, indent=2, **_LAYOUT)  # type: ignore[no-any-return]


# A fast path for `dump` (~8x faster on manifests): block mappings and sequences are laid out here exactly as
# PyYAML lays them out (indent 2, sequences in mappings not indented, empty collections as {} and []); each string
# is written in the form PyYAML itself gives it, computed once per distinct string by dumping it alone and cached.
# Anything this does not cover (floats, non-string keys, odd line breaks, long keys, `|+` blocks, huge strings)
# raises _NotFast and the whole document goes through PyYAML. Checked byte for byte against PyYAML on every
# rendered manifest of the benchmark repos and ~400,000 random documents.


class _NotFast(Exception):
    pass


_ODD_BREAKS = ("\r", "\x85", "\u2028", "\u2029")
# string -> its one-line form, or (block header, lines), or None (not covered); "" is never a form: "not yet known"
_VALUE_FORMS: dict[str, str | tuple[str, list[str]] | None] = {}
_KEY_FORMS: dict[str, str | None] = {}


# A string of these characters (starting with a letter, a digit, `_` or `/`; a colon or a space only before
# another character, and never `: `) is one that libyaml's emitter writes as it is, in block context, when it would
# read back as a string, and single-quoted when it would not (`true`, `1e3`, `1:20`, `2001-12-14`, `16.6`: the
# dumper's resolver says). Such a string's form is known without asking PyYAML to dump it (names, images,
# quantities, versions, descriptions: most of the distinct strings a definition change writes).
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_/](?:[A-Za-z0-9_./-]|:(?=[A-Za-z0-9_./-])| (?=[A-Za-z0-9_./-]))*")


# Lines of printable ASCII: a multi-line string of them that starts with neither a space nor a line break, has no
# space at the end of a line and ends with at most one line break is written as a literal block (`|`, or `|-`
# without a final break), its lines as they are (a config file in a Score file, a script).
_LITERAL_TEXT = re.compile(r"[!-~][ -~\n]*")


def _value_form(text: str) -> str | tuple[str, list[str]] | None:
    if len(text) <= 1000 and _PLAIN_VALUE.fullmatch(text):
        return text if _implicit_tag(_Dumper, text) == _STR_TAG else f"'{text}'"
    if (
        "\n" in text
        and len(text) <= 100_000
        and _LITERAL_TEXT.fullmatch(text)
        and " \n" not in text
        and not text.endswith((" ", "\n\n"))
    ):
        lines = text.split("\n")
        return ("|", lines[:-1]) if text.endswith("\n") else ("|-", lines)
    return _dumped_value_form(text)


def _dumped_value_form(text: str) -> str | tuple[str, list[str]] | None:
    """_value_form of any string, as PyYAML dumps it alone."""
    if len(text) > 100_000 or any(b in text for b in _ODD_BREAKS):
        return None
    out = _pyyaml_dump([text])
    if not out.startswith("- ") or not out.endswith("\n"):
        return None
    first, _, rest = out[2:].partition("\n")
    if not rest:
        return first if first[:1] not in ("|", ">") else None
    if not first.startswith("|") or first.endswith("+") or not rest.endswith("\n"):
        return None  # only literal blocks; `|+` may make PyYAML end the document with `...`
    lines = rest[:-1].split("\n")
    if any(line and not line.startswith("  ") for line in lines):
        return None
    return (first, [line[2:] for line in lines])


def _key_form(text: str) -> str | None:
    if len(text) > 1000 or any(b in text for b in _ODD_BREAKS):
        return None
    out = _pyyaml_dump({text: None})
    if not out.endswith(": null\n"):
        return None
    key = out[: -len(": null\n")]
    return None if "\n" in key or key.startswith("? ") else key


def _fast_scalar(value: Any, out: list[str], prefix: str, indent: str) -> None:
    kind = type(value)
    if kind is str:
        form = _VALUE_FORMS.get(value, "")
        if form == "":
            form = _value_form(value)
            if len(value) <= 1024 and len(_VALUE_FORMS) < 100_000:
                _VALUE_FORMS[value] = form
        if form is None:
            raise _NotFast
        if isinstance(form, str):
            out.append(prefix + form + "\n")
        else:
            header, lines = form
            out.append(prefix + header + "\n")
            child = indent + "  "
            out.extend((child + line + "\n") if line else "\n" for line in lines)
    elif kind is bool:
        out.append(prefix + ("true\n" if value else "false\n"))
    elif kind is int:
        out.append(prefix + str(value) + "\n")
    elif value is None:
        out.append(prefix + "null\n")
    else:
        raise _NotFast


def _fast_mapping(data: dict[Any, Any], out: list[str], indent: str, prefix: str) -> None:
    for key, value in data.items():
        if type(key) is not str:
            raise _NotFast
        form = _KEY_FORMS.get(key, "")
        if form == "":
            form = _key_form(key)
            if len(_KEY_FORMS) < 100_000:
                _KEY_FORMS[key] = form
        if form is None:
            raise _NotFast
        kind = type(value)
        if kind is str:
            known = _VALUE_FORMS.get(value)  # a one-line form already known: most values
            if type(known) is str:
                out.append(f"{prefix}{form}: {known}\n")
            else:
                _fast_scalar(value, out, prefix + form + ": ", indent)
        elif kind is dict and value:
            out.append(prefix + form + ":\n")
            _fast_mapping(value, out, indent + "  ", indent + "  ")
        elif kind is list and value:
            out.append(prefix + form + ":\n")
            _fast_sequence(value, out, indent, indent)
        elif kind is dict:
            out.append(prefix + form + ": {}\n")
        elif kind is list:
            out.append(prefix + form + ": []\n")
        else:
            _fast_scalar(value, out, prefix + form + ": ", indent)
        prefix = indent


def _fast_sequence(data: list[Any], out: list[str], indent: str, prefix: str) -> None:
    for value in data:
        kind = type(value)
        if kind is str:
            known = _VALUE_FORMS.get(value)
            if type(known) is str:
                out.append(f"{prefix}- {known}\n")
            else:
                _fast_scalar(value, out, prefix + "- ", indent)
        elif kind is dict and value:
            _fast_mapping(value, out, indent + "  ", prefix + "- ")
        elif kind is list and value:
            _fast_sequence(value, out, indent + "  ", prefix + "- ")
        elif kind is dict:
            out.append(prefix + "- {}\n")
        elif kind is list:
            out.append(prefix + "- []\n")
        else:
            _fast_scalar(value, out, prefix + "- ", indent)
        prefix = indent


def _fast_dump(data: dict[Any, Any]) -> str:
    out: list[str] = []
    _fast_mapping(data, out, "", "")
    return "".join(out)


def dump_all(documents: list[Any]) -> str:
    return yaml.dump_all(documents, explicit_start=True, **_LAYOUT)  # type: ignore[no-any-return]

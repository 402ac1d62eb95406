"""The one home of the YAML libraries.

Parsing uses libyaml (PyYAML's C loader) because it is 5-8x faster than pure Python, with a resolver that follows
YAML 1.2's core schema as Go's yaml.v3 does (so Score files written for score-k8s/score-compose mean the same thing
here): no timestamps, and only true/false are booleans. Positions are needed only to report errors, so they are
computed lazily by composing the node tree again. ruamel.yaml is used for round-trip edits that keep comments.

Dumping is deterministic and never emits anchors or aliases.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from gitops_engine.errors import Finding

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


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader with YAML 1.2 core-schema scalars and duplicate-key detection."""

    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}

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


def _install_core_schema_resolvers() -> None:
    for tag, regexp, first in [
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
    ]:
        _Loader.add_implicit_resolver(tag, re.compile(regexp), list(first))


_install_core_schema_resolvers()


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


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
    node = yaml.compose(text, Loader=_Loader)
    if node is None:
        return
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
    try:
        if _ALIAS_HINT.search(text):
            _check_expansion(text, path)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(Finding(path, line, column, f"invalid YAML: {problem}")) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Finding(path, 1, 1, f"invalid YAML: {exc}")) from None
    except RecursionError:
        raise YamlSyntaxError(Finding(path, 1, 1, "YAML nested too deeply")) from None
    return Document(path=path, text=text, data=data)


def load_all(text: str, path: str) -> list[Any]:
    """Parse a multi-document YAML stream (used for template-produced manifests)."""
    try:
        if _ALIAS_HINT.search(text):
            for part in yaml.compose_all(text, Loader=_Loader):
                del part
        return [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlSyntaxError(
            Finding(path, line, column, f"invalid YAML: {exc.problem or exc.context}")
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Finding(path, 1, 1, f"invalid YAML: {exc}")) from None


# ---------------------------------------------------------------------------------------------------------------
# Dumping


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def dump(data: Any) -> str:
    """Deterministic YAML: insertion-ordered keys, block style, no aliases, no line folding."""
    return yaml.dump(  # type: ignore[no-any-return]
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
        indent=2,
    )


def dump_all(documents: list[Any]) -> str:
    return yaml.dump_all(  # type: ignore[no-any-return]
        documents,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
        explicit_start=True,
    )


# ---------------------------------------------------------------------------------------------------------------
# Round-trip edits (comments kept)


def edit_yaml_text(text: str, edits: dict[Path, Any]) -> str:
    """Set values at paths in a YAML text, keeping comments and layout (ruamel.yaml round trip)."""
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    data = rt.load(text)
    for where, value in edits.items():
        target = data
        for part in where[:-1]:
            target = target[part]
        target[where[-1]] = value
    out = io.StringIO()
    rt.dump(data, out)
    return out.getvalue()


def iter_paths(data: Any, where: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, scalar) in a nested structure, in document order."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from iter_paths(v, (*where, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from iter_paths(v, (*where, i))
    else:
        yield where, data

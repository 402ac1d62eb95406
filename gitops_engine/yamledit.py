"""The one home of ruamel.yaml: editing YAML files people wrote, keeping everything they wrote.

`yamlio` parses for the engine (fast, libyaml) and writes generated files; this module changes a value inside a
hand-written file. ruamel.yaml's round-trip mode gives each value with its position, quoting style and anchor.
Even its round-trip dumper re-indents and re-wraps some files, so a value that exists is changed in place: only
the characters of that scalar are replaced (in its own quoting style, anchor and comment kept), and the result is
parsed again and compared with what was meant. Where keys must be added, the round-trip dumper writes the file,
and the edit is accepted only if every line the file had is still there, in order.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from gitops_engine.errors import Finding, InputError
from gitops_engine.yamlio import YamlSyntaxError, load_document

Where = Sequence[str]

# An anchor and/or a tag before a scalar: `&name`, `!tag` (ruamel's node span starts at them).
_PROPERTIES = re.compile(r"(?:[&!][^\s]*\s+)*")


@dataclass(frozen=True)
class Located:
    """A scalar of a mapping path: its value, 1-based position, and how it is written."""

    value: str
    line: int
    column: int
    style: str | None  # None (plain), "'" or '"'; block scalars are refused by `find_scalar`


def _round_trip() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1_000_000  # never fold a long line
    return yaml


def _compose(text: str, path: str) -> Node | None:
    try:
        return _round_trip().compose(text)  # type: ignore[no-any-return]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(Finding(path, line, column, f"invalid YAML: {problem}")) from None
    except YAMLError as exc:
        raise YamlSyntaxError(Finding(path, 1, 1, f"invalid YAML: {exc}")) from None


def _child(node: Node, key: str) -> tuple[ScalarNode, Node] | None:
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _walk(root: Node | None, where: Where) -> tuple[ScalarNode | None, Node | None, int]:
    """(key node, value node, how many keys of `where` exist) following `where` from the root."""
    node = root
    key_node: ScalarNode | None = None
    for depth, key in enumerate(where):
        found = _child(node, key) if node is not None else None
        if found is None:
            return key_node, node if depth else root, depth
        key_node, node = found
    return key_node, node, len(where)


def _position(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def find_scalar(text: str, path: str, where: Where) -> Located | None:
    """The string scalar at `where` (a path of mapping keys), or None when some key is missing.

    Raises YamlSyntaxError for text that does not parse, and InputError when the value is there but cannot be
    edited as one scalar: a mapping or list, a block scalar, or an alias of a value defined elsewhere."""
    root = _compose(text, path)
    key_node, node, depth = _walk(root, where)
    if depth < len(where) or node is None or key_node is None:
        return None
    dotted = ".".join(where)
    line, column = _position(key_node)
    if node.start_mark.index < key_node.end_mark.index:
        anchor_line, _ = _position(node)
        raise InputError(
            [
                Finding(
                    path,
                    line,
                    column,
                    f"{dotted} is an alias of the value anchored on line {anchor_line}: changing it would change "
                    "every use of that anchor; edit that line, or write this value out",
                )
            ]
        )
    if not isinstance(node, ScalarNode):
        raise InputError([Finding(path, line, column, f"{dotted} is not a single value")])
    if node.style not in (None, "'", '"'):
        raise InputError(
            [Finding(path, line, column, f"{dotted} is a block scalar: write it on one line to edit it")]
        )
    value_line, value_column = _position(node)
    return Located(str(node.value), value_line, value_column, node.style)


def mapping_keys(text: str, path: str, where: Where) -> dict[str, tuple[int, int]]:
    """The keys of the mapping at `where` with their 1-based positions ({} when missing or not a mapping)."""
    _, node, depth = _walk(_compose(text, path), where)
    if depth < len(where) or not isinstance(node, MappingNode):
        return {}
    return {str(key.value): _position(key) for key, _ in node.value if isinstance(key, ScalarNode)}


def _scalar_text(value: str, style: str | None) -> str:
    """`value` written in `style`, or quoted when plain would not read back as this very string."""
    if style == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    try:
        plain = load_document(f"k: {value}\n", "<value>").data
    except YamlSyntaxError:
        plain = None
    if plain == {"k": value} and "#" not in value:
        return value
    return "'" + value.replace("'", "''") + "'"


def replace_scalar(text: str, path: str, where: Where, value: str) -> str:
    """`text` with the scalar at `where` set to `value`; every other byte is kept (comments, quoting, anchors,
    blank lines, line endings). Raises InputError when `where` is missing or not one editable scalar."""
    root = _compose(text, path)
    key_node, node, depth = _walk(root, where)
    if depth < len(where) or node is None or key_node is None:
        raise InputError([Finding(path, 1, 1, f"{'.'.join(where)} is not set in this file")])
    find_scalar(text, path, where)  # the same checks, with their messages
    assert isinstance(node, ScalarNode)
    start, end = node.start_mark.index, node.end_mark.index
    properties = _PROPERTIES.match(text, start)
    if properties is not None:
        start = properties.end()
    edited = text[:start] + _scalar_text(value, node.style) + text[end:]
    # An anchored value changes its aliases too (that is what sharing it means): only `where` is then checked.
    _check_only_changed(text, edited, path, where, value, strict=node.anchor is None)
    return edited


def set_value(text: str, path: str, where: Where, value: str) -> str:
    """`text` with `where` set to `value`: the scalar replaced in place when it exists (see replace_scalar),
    otherwise the missing keys added by ruamel's round-trip dumper, accepted only if no line of `text` changes."""
    root = _compose(text, path)
    _, node, depth = _walk(root, where)
    if depth == len(where):
        return replace_scalar(text, path, where, value)
    if node is not None and depth and not isinstance(node, MappingNode):
        raise InputError([Finding(path, *_position(node), f"{'.'.join(where[:depth])} is not a mapping")])
    yaml = _round_trip()
    data: Any = yaml.load(text) if text.strip() else None
    if data is None:
        data = yaml.load("{}\n")
        data.fa.set_block_style()
    target = data
    for key in where[:-1]:
        if key not in target:
            target[key] = yaml.load("{}\n")
            target[key].fa.set_block_style()
        target = target[key]
    target[where[-1]] = value
    out = io.StringIO()
    yaml.indent(**_indentation(text))
    yaml.dump(data, out)
    edited = out.getvalue()
    before, after = text.splitlines(keepends=True), edited.splitlines(keepends=True)
    changed = [
        op
        for op in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    if any(op[0] != "insert" for op in changed):
        raise InputError(
            [
                Finding(
                    path,
                    1,
                    1,
                    f"adding {'.'.join(where)} would re-format other lines of this file: add `{where[-1]}: {value}` "
                    "by hand",
                )
            ]
        )
    _check_only_changed(text, edited, path, where, value)
    return edited


def _indentation(text: str) -> dict[str, int]:
    """The mapping indent the file uses (2 when it shows none), for the dumper."""
    indents = [
        len(line) - len(line.lstrip(" ")) for line in text.splitlines() if line.strip() and line[0] == " "
    ]
    step = min([i for i in indents if i > 0], default=2)
    return {"mapping": step, "sequence": step + 2, "offset": step}


def _check_only_changed(
    before: str, after: str, path: str, where: Where, value: str, *, strict: bool = True
) -> None:
    """The edited text must mean the old one with exactly `where` set to `value` (`strict`), or at least have
    `value` at `where`."""
    old = load_document(before, path).data if before.strip() else {}
    new = load_document(after, path).data
    expected = _with(old, where, value) if strict else _with(new, where, value)
    if new != expected:  # pragma: no cover - a bug in this module, never the user's input
        raise AssertionError(f"{path}: editing {'.'.join(where)} changed more than that value")


def _with(data: Any, where: Where, value: str) -> Any:
    if not where:
        return value
    base = dict(data) if isinstance(data, dict) else {}
    base[where[0]] = _with(base.get(where[0]), where[1:], value)
    return base

"""A fast reader for the simple YAML the engine reads most: exact, or silent.

Templates render block mappings and sequences of one-line scalars, with a few one-line flow collections
(`{name: x, key: password}`, `[ReadWriteOnce]`); Score files add comments and literal blocks (a file's content).
libyaml parses that quickly, but PyYAML then builds a node object (and two position marks) for every scalar before
the data is built from the nodes: most of the time a definition change spent reading. `SimpleReader.read` builds
the data straight from the lines, 2-3x faster.

It reads a strict subset and gives up (returns None) on anything else: comments after a value, anchors, aliases,
tags, quoted keys, folded blocks or literal blocks with an indicator, multi-line plain or quoted scalars or flow
collections, escapes, document markers, tabs, non-ASCII or control characters, trailing spaces, a key twice, a key
that is not a string, unusual spacing, nesting near the loader's limit. The caller then parses the text with PyYAML
(yamlio), which gives the data, or the error with its line and column, as always. Plain scalars are typed by the
loader's own resolver (YAML 1.2 core schema), so what this returns is what PyYAML returns: tests/test_simpleyaml.py
compares the two on hand-picked hostile texts and on generated ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# A line that is only a comment: YAML ignores it wherever it is, but inside a block scalar or a multi-line scalar
# (which this reader leaves to PyYAML).
_COMMENT_LINES = re.compile(r"^ *#.*$", re.MULTILINE)
# Anything outside printable ASCII (tabs and carriage returns included), a comment or an indicator that only
# appears in YAML this reader leaves to PyYAML (anchors, aliases, tags, folded or literal blocks, escapes). (`@`, `%`
# and a backquote only mean something at the start of a scalar or a line, which the patterns below refuse.) One
# character class: searched for at every character, an alternation cost more than reading the text.
_ALLOWED = "\n" + "".join(chr(code) for code in range(ord(" "), ord("~") + 1) if chr(code) not in "#&*!|>\\")
_REFUSED = re.compile(f"[^{re.escape(_ALLOWED)}]")
_KEY = r"[A-Za-z0-9_/][A-Za-z0-9_./-]{0,127}"  # libyaml takes simple keys of up to 1,024 characters
# A plain scalar in block context: it cannot start with an indicator (`-` only when a character follows, as in
# `-1` or `--flag`), holds no `: ` (a mapping) and does not end with `:` or a space.
_BLOCK_PLAIN = r"(?:[A-Za-z0-9_/.$(]|-(?=[^ ]))(?:[^:]|:(?=[^ ]))*"
# One-line quoted scalars without escapes or quotes inside: their text is what they hold.
_DOUBLE = r'"[^"]*"'
_SINGLE = r"'[^']*'"
# A plain scalar inside a flow collection: no spaces, commas, brackets, braces or colons.
_FLOW_PLAIN = r"(?:[A-Za-z0-9_/.$(]|-(?=[^ ,\]}]))[^ ,:\[\]{}]*"
_FLOW_ITEM = rf"(?:{_DOUBLE}|{_SINGLE}|{_FLOW_PLAIN})"
_FLOW_SEQUENCE = re.compile(rf"\[(?:{_FLOW_ITEM}(?:, {_FLOW_ITEM})*)?\]")
_FLOW_MAPPING = re.compile(rf"\{{(?:{_KEY}: {_FLOW_ITEM}(?:, {_KEY}: {_FLOW_ITEM})*)?\}}")
_FLOW_ITEMS = re.compile(rf"({_DOUBLE}|{_SINGLE}|{_FLOW_PLAIN})")
_FLOW_PAIRS = re.compile(rf"({_KEY}): ({_FLOW_ITEM})")
# A line: its indentation, then a sequence entry (`-`, or `- ` and the rest) or a key (`key:`, or `key: ` and its
# value).
_LINE = re.compile(rf"( *)(?:(-)(?: (.*))?|({_KEY}):(?: (.*))?)")
# Every line of a text, the same way, with two more alternatives: a blank line (every group but the first empty),
# and any other line (the last group).
_LINES = re.compile(rf"^( *)(?:(-)(?: (.*))?|({_KEY}):(?: (.*))?| *|(.+))$", re.MULTILINE)
_SCALAR = re.compile(rf"{_DOUBLE}|{_SINGLE}|{_BLOCK_PLAIN}")
# A literal block scalar's header, as the whole value of a line: `|` keeps one final line break, `|-` none.
_BLOCK_HEADER = re.compile(rf"((?:- )*)(?:({_KEY}): )?(\|-?)")
_PRINTABLE = re.compile(r"[ -~]*")

# (column, key or None for a sequence entry, what follows on the line or None)
_Token = tuple[int, str | None, str | None]


class NotSimple(Exception):
    """The text is not in the subset: PyYAML reads it. (`typed` raises it for a scalar it leaves to PyYAML.)"""


class SimpleReader:
    """Reads simple YAML (see the module's docstring) with the scalar typing of the loader it stands in for:
    `typed` gives a plain scalar's value (the very string when it is one) or raises NotSimple; `max_depth` is the
    nesting the loader allows (deeper: left to it, and it says so)."""

    def __init__(self, typed: Callable[[str], Any], max_depth: int) -> None:
        self.typed = typed
        self.max_depth = max_depth
        self.strings: set[str] = set()  # plain scalars known to be strings

    def read(self, text: str) -> list[Any] | None:
        """The documents of `text` (one) when it is simple YAML, else None."""
        if " \n" in text or text.endswith(" "):
            return None  # trailing spaces (blank lines of spaces too): left to PyYAML
        blocks: dict[int, tuple[int, str]] = {}
        if "|" in text:
            found = _tokens_with_blocks(text, blocks)
            if found is None:
                return None
            tokens = found
        else:
            if "#" in text:
                text = _COMMENT_LINES.sub("", text)  # whole-line comments; any other `#` is refused below
            if _REFUSED.search(text):
                return None
            lines = _LINES.findall(text)
            if any(line[5] for line in lines):
                return None  # a line that is neither blank, an entry nor a key
            tokens = [
                (len(indent), None, entry or None) if dash else (len(indent), key, value or None)
                for indent, dash, entry, key, value, _ in lines
                if dash or key
            ]
        if not tokens:
            return None  # no document at all: PyYAML says what that gives
        try:
            data, index = _Walk(self, tokens, blocks).node(0, 1)
        except NotSimple:
            return None
        return [data] if index == len(tokens) else None

    def scalar(self, text: str) -> Any:
        """A scalar or one-line flow collection after `key: ` or `- `."""
        if text in self.strings:
            return text
        first = text[0]
        if first == "[":
            if not _FLOW_SEQUENCE.fullmatch(text):
                raise NotSimple
            return [self.flow_scalar(item) for item in _FLOW_ITEMS.findall(text[1:-1])]
        if first == "{":
            if not _FLOW_MAPPING.fullmatch(text):
                raise NotSimple
            mapping: dict[str, Any] = {}
            for key, item in _FLOW_PAIRS.findall(text[1:-1]):
                if key in mapping or not self.is_string(key):
                    raise NotSimple
                mapping[key] = self.flow_scalar(item)
            return mapping
        if not _SCALAR.fullmatch(text):
            raise NotSimple
        return self.flow_scalar(text)

    def flow_scalar(self, text: str) -> Any:
        first = text[0]
        if first == '"' or first == "'":
            return text[1:-1]
        if text.startswith(("---", "...")):
            raise NotSimple  # a document marker at the start of a line: left to PyYAML wherever it is
        value = self.typed(text)
        if value is text and len(text) <= 128 and len(self.strings) < 20_000:
            self.strings.add(text)
        return value

    def is_string(self, key: str) -> bool:
        return key in self.strings or self.flow_scalar(key) is key


def _tokens_with_blocks(text: str, blocks: dict[int, tuple[int, str]]) -> list[_Token] | None:
    """The tokens of a text with literal block scalars (`key: |` then indented lines, as Score files give a file's
    content): each block's lines are taken out, and `blocks` maps the index of its header's token to (the column
    of the collection holding it, the scalar's text). Line by line, as `read` does otherwise, with comments and
    refused characters looked for outside the blocks only."""
    lines = text.split("\n")
    tokens: list[_Token] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        content = line.lstrip(" ")
        if not content or content[0] == "#":
            continue  # a blank line or a whole-line comment
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        indent, dash, entry, key, value = match.groups()
        header = _BLOCK_HEADER.fullmatch(content) if "|" in content else None
        if _REFUSED.search(line[: -len(header.group(3))] if header else line):
            return None
        if header:
            if not header.group(1) and not header.group(2):
                return None  # `|` as a document of its own
            # The collection holding the scalar: the last `- ` on the line, or the key after it.
            dashes = len(header.group(1)) // 2
            owner = len(indent) + 2 * dashes - (0 if header.group(2) else 2)
            block = _block(lines, index, owner, keep_break=header.group(3) == "|")
            if block is None:
                return None
            index, blocks[len(tokens)] = block[0], (owner, block[1])
        tokens.append((len(indent), None, entry or None) if dash else (len(indent), key, value or None))
    return tokens


def _block(lines: list[str], start: int, owner: int, *, keep_break: bool) -> tuple[int, str] | None:
    """The literal block scalar whose lines start at lines[start], inside a collection at column `owner`: the
    index of the line after it, and its text. None when it is empty or holds anything but printable ASCII."""
    first = start
    while first < len(lines) and not lines[first]:
        first += 1
    if first == len(lines):
        return None
    column = len(lines[first]) - len(lines[first].lstrip(" "))
    if column <= owner:
        return None  # an empty block
    end, indentation = first, " " * column
    while end < len(lines) and (not lines[end] or lines[end].startswith(indentation)):
        end += 1
    last = end
    while not lines[last - 1]:
        last -= 1  # trailing blank lines: chomped
    if not _PRINTABLE.fullmatch("".join(lines[start:last])):
        return None
    text = "\n".join(line[column:] for line in lines[start:last])
    # `|` keeps the last line's break, if it has one: a text may end without.
    return end, text + "\n" if keep_break and last < len(lines) else text


class _Walk:
    """One text's tokens, read into data."""

    def __init__(
        self, reader: SimpleReader, tokens: list[_Token], blocks: dict[int, tuple[int, str]]
    ) -> None:
        self.reader = reader
        self.tokens = tokens
        self.blocks = blocks

    def block(self, index: int, column: int) -> str:
        """The literal block scalar of tokens[index], held by the collection at `column`."""
        found = self.blocks.get(index)
        if found is None or found[0] != column:
            raise NotSimple
        return found[1]

    def node(self, index: int, depth: int) -> tuple[Any, int]:
        """The block node whose first line is tokens[index]; and the index of the token after it. (`depth` is
        the node's; its flow collections, one deeper, must be within the limit too.)"""
        if depth >= self.reader.max_depth:
            raise NotSimple
        if self.tokens[index][1] is None:
            return self.sequence(index, depth)
        return self.mapping(index, depth)

    def sequence(self, index: int, depth: int) -> tuple[list[Any], int]:
        tokens, reader = self.tokens, self.reader
        strings, count = reader.strings, len(tokens)
        column = tokens[index][0]
        items: list[Any] = []
        while index < count:
            at, key, rest = tokens[index]
            if at != column or key is not None:
                break
            if rest is None:
                item, index = self.nested(index + 1, column, depth, in_sequence=True)
            elif rest in strings:  # a plain string met before: most items
                item = rest
                index = self.after_scalar(index + 1, column)
            elif rest[0] == " ":
                raise NotSimple
            elif rest[0] == "|":
                item = self.block(index, column)
                index = self.after_scalar(index + 1, column)
            else:
                match = _LINE.fullmatch(rest)
                if match is None:
                    item = reader.scalar(rest)
                    index = self.after_scalar(index + 1, column)
                else:  # a compact nested node, two columns in
                    _, dash, entry, inner_key, value = match.groups()
                    tokens[index] = (column + 2, None, entry) if dash else (column + 2, inner_key, value)
                    item, index = self.node(index, depth + 1)
            items.append(item)
        return items, index

    def mapping(self, index: int, depth: int) -> tuple[dict[str, Any], int]:
        tokens, reader = self.tokens, self.reader
        strings, count = reader.strings, len(tokens)
        column = tokens[index][0]
        mapping: dict[str, Any] = {}
        while index < count:
            at, key, rest = tokens[index]
            if at != column or key is None:
                break
            if key in mapping or (key not in strings and not reader.is_string(key)):
                raise NotSimple  # a duplicate (an error, or a merge) or a key that is not a string
            if rest is None:
                mapping[key], index = self.nested(index + 1, column, depth, in_sequence=False)
                continue
            if rest in strings:  # a plain string met before: most values
                mapping[key] = rest
            elif rest[0] == " ":
                raise NotSimple
            elif rest[0] == "|":
                mapping[key] = self.block(index, column)
            else:
                mapping[key] = reader.scalar(rest)
            index += 1
            if index < count and tokens[index][0] > column:
                raise NotSimple  # a multi-line scalar
        return mapping, index

    def nested(self, index: int, column: int, depth: int, *, in_sequence: bool) -> tuple[Any, int]:
        """The value of `key:` or `-` with nothing after it: a block node below it, or null. A mapping's value may
        be a sequence at the key's own column."""
        tokens = self.tokens
        if index < len(tokens):
            below, key, _ = tokens[index]
            if below > column or (below == column and key is None and not in_sequence):
                return self.node(index, depth + 1)
        return None, index

    def after_scalar(self, index: int, column: int) -> int:
        """A one-line scalar must not go on over the next lines (a multi-line scalar)."""
        if index < len(self.tokens) and self.tokens[index][0] > column:
            raise NotSimple
        return index

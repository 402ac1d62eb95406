"""gitops_engine.yamlio, the one home of PyYAML: YAML 1.2 core-schema loading with libyaml, duplicate keys and
syntax errors as findings at file:line:column, positions of values for later findings, and a deterministic dump whose
fast path writes the same bytes as PyYAML."""

from __future__ import annotations

import random
from typing import Any

import pytest

from gitops_engine import yamlio
from gitops_engine.yamlio import MAX_DEPTH, YamlSyntaxError, dump, dump_all, load_all, load_document


def finding_of(text: str | bytes, path: str = "x.yaml") -> str:
    with pytest.raises(YamlSyntaxError) as failure:
        load_document(text, path)
    return str(failure.value.finding)


# ---------------------------------------------------------------------------------------------------------------
# Loading


def test_yaml_follows_the_core_schema_as_score_implementations_do() -> None:
    document = yamlio.load_document(
        "a: yes\nb: no\nc: on\nd: 2024-01-01\ne: 0o17\nf: 012\ng: true\nh: ~\ni: 1_000\n", "x.yaml"
    )
    assert document.data == {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": "2024-01-01",
        "e": 15,
        "f": 12,
        "g": True,
        "h": None,
        "i": "1_000",
    }


def test_libyaml_is_used() -> None:
    assert yamlio.HAVE_LIBYAML is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", "x.yaml:2:1: invalid YAML: duplicate key 'a': a key may appear once in a mapping"),
        (
            "a: 1\nb:\n  c: 2\n  c: 3\n",
            "x.yaml:4:3: invalid YAML: duplicate key 'c': a key may appear once in a mapping",
        ),
        ("{1: a, 1: b}\n", "x.yaml:1:8: invalid YAML: duplicate key 1: a key may appear once in a mapping"),
    ],
)
def test_a_duplicate_key_is_named_at_its_second_occurrence(text: str, expected: str) -> None:
    assert finding_of(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1, 2\n", "x.yaml:2:1: invalid YAML: did not find expected ',' or ']'"),
        ("a: 1\n\tb: 2\n", "x.yaml:2:1: invalid YAML: found a tab character that violates indentation"),
        (b"a: \xff\n", "x.yaml:1:1: not UTF-8 text (invalid start byte): save the file as UTF-8"),
    ],
)
def test_bad_yaml_is_a_finding_at_file_line_column(text: str | bytes, expected: str) -> None:
    assert finding_of(text) == expected


def test_comments_are_not_data_and_positions_count_them() -> None:
    text = "# comment\na: 1 # trailing\nb: '#not a comment'\nc:\n  - x\n  # in between\n  - y\n"
    document = load_document(text, "c.yaml")
    assert document.data == {"a": 1, "b": "#not a comment", "c": ["x", "y"]}
    assert document.locate(("c", 1)) == (7, 5)
    assert document.locate_key(("b",)) == (3, 1)
    assert document.locate(("c", 9, "deeper")) == (5, 3)  # the nearest value that exists: c's list
    assert str(document.finding(("c", 1), "bad item")) == "c.yaml:7:5: bad item"
    assert str(document.finding(("b",), "bad key", key=True)) == "c.yaml:3:1: bad key"


def test_load_all_skips_empty_documents() -> None:
    assert load_all("a: 1\n---\n---\nb: 2\n", "m.yaml") == [{"a": 1}, {"b": 2}]


def test_load_all_reports_the_line_in_the_stream() -> None:
    with pytest.raises(YamlSyntaxError) as failure:
        load_all("a: 1\n---\nb: 1\nb: 2\n", "m.yaml")
    assert str(failure.value.finding) == (
        "m.yaml:4:1: invalid YAML: duplicate key 'b': a key may appear once in a mapping"
    )


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_depth_limit_is_exact() -> None:
    assert load_document(f"x: {_nested(MAX_DEPTH - 1)}\n", "ok.yaml").data["x"]["a"]["a"] is not None
    with pytest.raises(YamlSyntaxError) as failure:
        load_document(f"x: {_nested(MAX_DEPTH)}\n", "deep.yaml")
    # The document is depth 1: the 64th `{` is the 65th collection; it opens at column 4 + 6 * 63 = 382.
    assert str(failure.value.finding) == (
        "deep.yaml:1:382: invalid YAML: nested more than 64 levels deep: flatten the data (the engine reads at "
        "most 64 levels of nested mappings and lists)"
    )


def test_depth_limit_follows_aliases() -> None:
    text = "base: &b " + _nested(40) + "\nuse: " + '{"a": ' * 30 + "*b" + "}" * 30 + "\n"
    assert load_document(
        "base: &b " + _nested(40) + "\nuse: " + '{"a": ' * 20 + "*b" + "}" * 20 + "\n", "ok.yaml"
    )
    with pytest.raises(YamlSyntaxError, match="nested more than 64 levels deep"):
        load_document(text, "aliased.yaml")


# ---------------------------------------------------------------------------------------------------------------
# Dumping


def test_dump_never_writes_anchors_for_a_reused_dict() -> None:
    shared = {"app": "web"}
    text = yamlio.dump({"labels": shared, "selector": {"matchLabels": shared}, "list": [shared, shared]})
    assert text == (
        "labels:\n  app: web\nselector:\n  matchLabels:\n    app: web\nlist:\n- app: web\n- app: web\n"
    )


def test_dump_writes_block_style_in_insertion_order_and_quotes_what_would_read_back_differently() -> None:
    data = {
        "z": "line1\nline2\n",
        "b": "yes",
        "c": "",
        "d": None,
        "e": [],
        "f": {},
        "g": [{"x": 1, "y": [1, 2]}, []],
        "h": "ünïcode",
        "i": "a: b",
        "j": "1",
        "k": True,
        "l": " lead",
        "m": "#x",
    }
    text = dump(data)
    assert text == (
        "z: |\n  line1\n  line2\nb: 'yes'\nc: ''\nd: null\ne: []\nf: {}\ng:\n- x: 1\n  y:\n  - 1\n  - 2\n- []\n"
        "h: ünïcode\ni: 'a: b'\nj: '1'\nk: true\nl: ' lead'\nm: '#x'\n"
    )
    assert load_document(text, "back.yaml").data == data


def test_dump_all_starts_every_document() -> None:
    assert dump_all([{"a": 1}, {"b": [1]}]) == "---\na: 1\n---\nb:\n- 1\n"


# Strings whose YAML form depends on their content: quoting, block scalars, keep/strip chomping, odd breaks.
TRICKY = [
    "",
    "plain",
    "yes",
    "null",
    "~",
    "1",
    "0x1F",
    "-",
    "- a",
    "a: b",
    "a #b",
    "#c",
    "'",
    '"',
    "@at",
    "`tick",
    "%pct",
    " lead",
    "trail ",
    "tab\there",
    "two\nlines",
    "ends\n",
    "ends twice\n\n",
    "\nstarts",
    "  indented\nblock\n",
    "crlf\r\nline",
    "nel\x85line",
    "ünï",
    "emoji 🚀",
    "{x}",
    "[y]",
    "*alias",
    "&anchor",
    "!tag",
    "key:",
    "?q",
    "x" * 200,
    # numbers only under YAML 1.2's core schema (which the engine and Kubernetes read), not under PyYAML's 1.1
    "1e3",
    "1E3",
    "+1e3",
    "-1e-3",
    "1.0e3",
    "0o7",
]


def _random_value(rng: random.Random, depth: int) -> Any:
    pick = rng.random()
    if depth > 3 or pick < 0.5:
        return rng.choice([*TRICKY, 0, -7, 12345678901234567890, True, False, None, 1.5])
    if pick < 0.75:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(TRICKY[1:]) + str(i): _random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}


@pytest.mark.parametrize("seed", range(40))
def test_the_fast_dump_writes_what_pyyaml_writes_byte_for_byte(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        document = {f"k{i}": _random_value(rng, 1) for i in range(rng.randint(1, 5))}
        assert dump(document) == yamlio._pyyaml_dump(document), document


@pytest.mark.parametrize("text", TRICKY)
def test_every_tricky_string_reads_back_as_itself(text: str) -> None:
    document = {text or "empty": text, "list": [text]}
    assert load_document(dump(document), "back.yaml").data == document


def test_strings_that_yaml_1_2_reads_as_numbers_are_quoted() -> None:
    # Kubernetes reads `1e3` and `0o7` as numbers: a Score variable "1e3" must stay a string in the manifest.
    assert dump({"v": "1e3", "w": ["0o7"], "x": "+1E-3"}) == "v: '1e3'\nw:\n- '0o7'\nx: '+1E-3'\n"
    assert dump({"v": 1000.0, "w": 7}) == "v: 1000.0\nw: 7\n"

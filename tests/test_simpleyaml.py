"""gitops_engine.simpleyaml, the fast reader of what templates render: on every text it either gives exactly what
PyYAML's loader gives (the same values and types, key order included) or leaves the text to PyYAML (returns
None), which then gives the data or the error with its line and column as before. Checked on hand-picked texts
(hostile YAML among them) and on generated ones: documents written in the styles templates use, and the same
documents with random edits."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_engine.yamlio import _SIMPLE, YamlSyntaxError, load_all, load_all_pyyaml


def pyyaml(text: str) -> tuple[str, Any]:
    """("data", documents) or ("error", message) as PyYAML's path reads `text`."""
    try:
        return ("data", load_all_pyyaml(text, "d.yaml"))
    except YamlSyntaxError as exc:
        return ("error", str(exc.finding))


def same_as_pyyaml(text: str) -> bool:
    """simpleyaml left `text` to PyYAML, or read exactly what PyYAML reads (repr: types, key order, NaN)."""
    simple = _SIMPLE.read(text)
    if simple is None:
        return True
    outcome, value = pyyaml(text)
    return outcome == "data" and repr(simple) == repr(value)


# ---------------------------------------------------------------------------------------------------------------
# What it reads


TEMPLATE_OUTPUT = """\

- apiVersion: external-secrets.io/v1beta1
  kind: ExternalSecret
  metadata:
    name: shop-db
  spec:
    refreshInterval: "0"
    target:
      template:
        data:
          password: "{{ .password }}"
    dataFrom:
      - sourceRef:
          generatorRef:
            kind: Password
- apiVersion: apps/v1
  kind: StatefulSet
  spec:
    replicas: 1
    template:
      spec:
        containers:
          - name: postgres
            image: docker.io/library/postgres:16.6
            env:
              - name: POSTGRES_PASSWORD
                valueFrom:
                  secretKeyRef: {name: shop-db, key: password}
            readinessProbe:
              exec:
                command: ["pg_isready", "--host=127.0.0.1"]
            resources:
              requests: {cpu: 100m, memory: 256Mi}
        volumeClaimTemplates:
          - metadata:
              name: data
            spec:
              accessModes: [ReadWriteOnce]
"""


def test_what_a_template_renders_is_read_without_pyyaml_and_alike() -> None:
    simple = _SIMPLE.read(TEMPLATE_OUTPUT)
    assert simple is not None
    assert repr(simple) == repr(load_all_pyyaml(TEMPLATE_OUTPUT, "d.yaml"))
    container = simple[0][1]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["exec"]["command"] == ["pg_isready", "--host=127.0.0.1"]
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}
    assert simple[0][0]["spec"]["refreshInterval"] == "0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # YAML 1.2 core schema, as the loader reads it: only true/false are booleans, no timestamps, 0o octal.
        (
            "a: yes\nb: on\nc: 2024-01-01\nd: 0o17\ne: 012\nf: True\ng: null\nh: 1_000\ni: 1e3\nj: .inf\nk: -7\n",
            {
                "a": "yes",
                "b": "on",
                "c": "2024-01-01",
                "d": 15,
                "e": 12,
                "f": True,
                "g": None,
                "h": "1_000",
                "i": 1000.0,
                "j": float("inf"),
                "k": -7,
            },
        ),
        ("a: 123456789012345678901234567890\n", {"a": 123456789012345678901234567890}),
        ("a:\n- 1\n- x\nb:\n", {"a": [1, "x"], "b": None}),
        (
            "- - a\n  - b\n-\n- c: d\n  e: [f, 'g', \"h\"]\n",
            [["a", "b"], None, {"c": "d", "e": ["f", "g", "h"]}],
        ),
        ("a: {}\nb: []\nc: a:b\nd: x, y [z]\n", {"a": {}, "b": [], "c": "a:b", "d": "x, y [z]"}),
        ("  a: 1\n  b:\n    c: 2\n", {"a": 1, "b": {"c": 2}}),
    ],
)
def test_scalars_are_typed_as_the_loader_types_them(text: str, expected: Any) -> None:
    simple = _SIMPLE.read(text)
    assert simple == [expected]
    assert repr(simple) == repr(load_all_pyyaml(text, "d.yaml"))


@pytest.mark.parametrize(
    "text",
    [
        "",  # no document
        "\n\n",
        "just a scalar\n",
        "a: 1\na: 2\n",  # duplicate key: PyYAML's error
        "a: 1\nb:\n  c: 1\n  c: 2\n",
        "<<: {a: 1}\n",  # merge key
        "1: a\n",  # keys that are not strings
        "true: a\n",
        "null: a\n",
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # tags
        "a: !custom x\n",
        "a: >\n  text\n",  # folded block scalars, literal ones with an indicator or an empty one
        "a: |+\n  text\n",
        "a: |2\n   text\n",
        "a: | # c\n  text\n",
        "a: |\nb: 1\n",
        "a: |\n",
        "|\n  x\n",
        "a: |\n  x\n y\n",
        "a:\n  b: |\n      deep\n    less\n",
        "a: |\n  \tx\n",
        "k:\n  - |\n    x\n \t   x\n",  # a tab in a block's indentation
        "a: |\n  é\n",
        "a: 1 # comment\n",
        "a: b\n  c\n",  # a multi-line plain scalar
        "- a\n  b\n",
        'a: "x\n  y"\n',
        "a: 'it''s'\n",  # escapes
        'a: "\\u0041"\n',
        "a:  b\n",  # unusual spacing
        "a : b\n",
        "-  a\n",
        "a: b \n",  # trailing space
        "a:\tb\n",  # tab
        "a: b\r\n",
        "a: é\n",  # non-ASCII
        "---\na: 1\n",  # documents
        "a: 1\n---\nb: 2\n",
        "a: 1\n...\n",
        "a: ---\n",
        "- ...\n",
        "a: [b, [c]]\n",  # nested or multi-line flow collections
        "a: [b,\n  c]\n",
        "a: {b: c,d: e}\n",
        "a: [b, c,]\n",
        "a: {b: c, b: d}\n",
        "a: {1: c}\n",
        "a: - b\n",  # errors of every kind
        "a: b: c\n",
        "a: b:\n",
        "a: 1\n- b\n",
        "- a\nb: 1\n",
        "a:\n  b: 1\n c: 2\n",
        "a: 1\n  b: 2\n",
        "a: [b\n",
        "a: ]\n",
        "a: ,b\n",
        "a: ?b\n",
        "a: :b\n",
        "a: @b\n",
        "a: `b\n",
        "%YAML 1.2\n---\na: 1\n",
        "? a\n: b\n",
        "k" * 1100 + ": v\n",  # a key longer than libyaml's simple keys
        "a: \x00\n",
        "a: \x7f\n",
    ],
)
def test_anything_else_is_left_to_pyyaml(text: str) -> None:
    assert _SIMPLE.read(text) is None
    assert same_as_pyyaml(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# a comment\na: 1\n  # another, indented\nb: 2\n", {"a": 1, "b": 2}),
        (
            "a: |\n  x # not a comment\n    & more\n\n  y\n\n\nb: 1\n",
            {"a": "x # not a comment\n  & more\n\ny\n", "b": 1},
        ),
        ("a: |-\n  x\n\n", {"a": "x"}),
        ("a: |\n\n  x\n", {"a": "\nx\n"}),
        ("- |\n  x\n- k: |\n    y\n  j: 2\n", ["x\n", {"k": "y\n", "j": 2}]),
        (
            "files:\n  /etc/app.yaml:\n    content: |\n      port: 8080\n      # kept\n",
            {"files": {"/etc/app.yaml": {"content": "port: 8080\n# kept\n"}}},
        ),
        ("a: 50%\nb: x@y\nc: a`b\n", {"a": "50%", "b": "x@y", "c": "a`b"}),
    ],
)
def test_comments_and_literal_blocks_are_read_as_pyyaml_reads_them(text: str, expected: Any) -> None:
    simple = _SIMPLE.read(text)
    assert simple == [expected]
    assert repr(simple) == repr(load_all_pyyaml(text, "d.yaml"))


def test_nesting_near_the_limit_is_left_to_pyyaml_which_refuses_it() -> None:
    deep = "".join(f"{'  ' * level}k{level}:\n" for level in range(70)) + f"{'  ' * 70}x: 1\n"
    assert _SIMPLE.read(deep) is None
    with pytest.raises(YamlSyntaxError) as failure:
        load_all(deep, "d.yaml")
    assert "nested more than 64 levels deep" in str(failure.value.finding)
    shallow = "".join(f"{'  ' * level}k{level}:\n" for level in range(30)) + f"{'  ' * 30}x: [1]\n"
    assert _SIMPLE.read(shallow) == load_all_pyyaml(shallow, "d.yaml")


def test_errors_in_template_output_keep_their_line_and_column() -> None:
    with pytest.raises(YamlSyntaxError) as failure:
        load_all("a: 1\nb:\n  c: 2\n  c: 3\n", "d.yaml")
    assert str(failure.value.finding) == (
        "d.yaml:4:3: invalid YAML: duplicate key 'c': a key may appear once in a mapping"
    )
    with pytest.raises(YamlSyntaxError) as failure:
        load_all("a: b: c\n", "d.yaml")
    assert (
        str(failure.value.finding)
        == "d.yaml:1:5: invalid YAML: mapping values are not allowed in this context"
    )


# ---------------------------------------------------------------------------------------------------------------
# Generated texts: simpleyaml never disagrees with PyYAML

# Scalars the reader takes (typed every way YAML 1.1 or 1.2 could type them), and ones it leaves to PyYAML.
SUBSET_SCALARS = [
    *(
        "a",
        "shop-db",
        "docker.io/library/postgres:16.6",
        "100m",
        "256Mi",
        "--host=127.0.0.1",
        "app.kubernetes.io/name",
    ),
    *("true", "True", "TRUE", "false", "yes", "no", "on", "off", "y", "n", "null", "Null", "NULL"),
    *(
        "0",
        "-1",
        "+1",
        "012",
        "0o17",
        "0o8",
        "0x1F",
        "0xG",
        "1_000",
        "1:20",
        "1:20.5",
        "2001-12-14",
        "12:30:45",
    ),
    *(
        "1e3",
        "1E3",
        "1.5",
        ".5",
        "5.",
        "-.inf",
        ".inf",
        ".NaN",
        ".nan",
        "1.2.3",
        "0b101",
        "123456789012345678901",
    ),
    *(
        "a b",
        "a  b",
        "a:b",
        "-a",
        "--",
        "a,b",
        "[a]",
        "[a, b]",
        "{a: b, c: d}",
        "[]",
        "{}",
        "[-1, -a]",
        "[1, true]",
    ),
    *(
        '"q"',
        '"q: r"',
        '"a, b"',
        "'s'",
        '"x\'y"',
        "'x\"y'",
        '""',
        "''",
        'a"b',
        "a'b",
        "$x",
        "(a)",
        "a)",
        "a]",
    ),
    *("a}", "a{b", "{a: 'b, c', d: \"e: f\"}", "[\"a, b\", 'c']", "a?", "a=b", "a/b", "_", "a.b", "/x"),
]
OTHER_SCALARS = [
    *("~", "", "a: b", "a:", ":a", "- a", "-", "?a", "? a", ",a", "[a,b]", "{a: b,c: d}", "[ ]", "{ }"),
    *(
        "[a, [b]]",
        "[a:b]",
        "'it''s'",
        '"\\t"',
        "&a x",
        "*a",
        "!x y",
        "!!str 1",
        "|",
        ">",
        "a #b",
        "a#b",
        "#a",
    ),
    *("%a", "@a", "`a", "...", "---", "<<", "=", "x\ty", "é", "a\\b", "{a: b, a: c}", "{1: a}", "[a, b,]"),
]
SUBSET_KEYS = ["a", "b", "name", "app.kubernetes.io/name", "x-y", "_k", "a.b", "0x", "k" * 120]
OTHER_KEYS = ["1", "true", "null", "<<", "a b", "a:b", "k" * 1100, '"a"', "~"]


def _scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.05:  # a literal block scalar: (header, lines)
        lines = [
            rng.choice(BLOCK_LINES[:7] if rng.random() < 0.8 else BLOCK_LINES)
            for _ in range(rng.randint(1, 4))
        ]
        return (rng.choice(["|", "|", "|-", "|+", "|2", "| #c"]), lines)
    return rng.choice(SUBSET_SCALARS) if roll < 0.93 else rng.choice(OTHER_SCALARS) if roll < 0.98 else None


def _key(rng: random.Random) -> str:
    return rng.choice(SUBSET_KEYS) if rng.random() < 0.97 else rng.choice(OTHER_KEYS)


def _render(value: Any, indent: int, rng: random.Random, out: list[str], prefix: str) -> None:
    """`value` in block style, written the ways templates write it: `prefix` is what precedes it on its first
    line (`key:` or `- `)."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        first = True
        for key, item in value.items():
            lead = prefix if first and prefix.endswith("- ") else pad
            if first and not prefix.endswith("- "):
                out.append(prefix.rstrip() + "\n" if prefix else "")
            first = False
            line = f"{lead}{key}:"
            if isinstance(item, (dict, list)) and item:
                out.append(line + "\n")
                child = indent + 2 if isinstance(item, dict) or rng.random() < 0.5 else indent
                _render(item, child, rng, out, "")
            elif isinstance(item, tuple):
                _block(item, line, len(lead), rng, out)
            else:
                out.append(f"{line} {item}\n" if item is not None else line + "\n")
    elif isinstance(value, list) and value:
        for item in value:
            lead = f"{pad}- "
            if isinstance(item, dict) and item:
                _render(item, indent + 2, rng, out, lead)
            elif isinstance(item, list) and item:
                out.append(lead.rstrip() + "\n")
                _render(item, indent + 2, rng, out, "")
            elif isinstance(item, tuple):
                _block(item, lead.rstrip(), indent, rng, out)
            else:
                out.append(f"{lead}{item}\n" if item is not None else lead.rstrip() + "\n")
    else:
        out.append(f"{pad}{value}\n")


BLOCK_LINES = ["x", "  y", "", "# not a comment", "a: b", "- z", "&x *y !t | >", "k: |", "\tt", "é", "x "]


def _block(block: tuple[str, list[str]], line: str, column: int, rng: random.Random, out: list[str]) -> None:
    """A literal block scalar after `line` (`key:` or `-`), its lines indented past `column` (mostly)."""
    header, lines = block
    out.append(f"{line} {header}\n")
    pad = " " * (column + rng.choice([2, 2, 2, 1, 4, 0]))
    out.extend(f"{pad}{text}\n" if text else "\n" for text in lines)


def _with_comments(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(0, 3)):
        lines.insert(
            rng.randrange(len(lines) + 1), " " * rng.randint(0, 6) + rng.choice(["# c", "#", "# a: b"])
        )
    return "\n".join(lines)


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return _scalar(rng)
    if roll < 0.75:
        return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randint(1, 4))}
    return [_value(rng, depth + 1) for _ in range(rng.randint(1, 4))]


def generated_text(seed: int) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    top = {_key(rng): _value(rng, 1) for _ in range(rng.randint(1, 5))}
    _render(top if rng.random() < 0.6 else [top, _value(rng, 1)], 0, rng, out, "")
    text = "".join(out)
    return _with_comments(text, rng) if rng.random() < 0.3 else text


EDITS = [
    " ",
    "  ",
    "\n",
    "- ",
    ": ",
    ":",
    "#",
    "&",
    "*",
    "'",
    '"',
    "[",
    "]",
    "{",
    "}",
    ",",
    "\t",
    "---\n",
    "x",
    "1",
    "|\n",
    " |-",
    "  # c\n",
]


def edited(text: str, seed: int) -> str:
    """`text` with a few random insertions and deletions of YAML's meaningful characters."""
    rng = random.Random(seed)
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(chars) + 1)
        if chars and rng.random() < 0.4:
            del chars[min(at, len(chars) - 1)]
        else:
            chars.insert(at, rng.choice(EDITS))
    return "".join(chars)


def test_generated_documents_read_as_pyyaml_reads_them() -> None:
    read = 0
    for seed in range(5000):
        text = generated_text(seed)
        assert same_as_pyyaml(text), text
        read += _SIMPLE.read(text) is not None
    assert read > 1500  # the generator writes plenty of texts in the subset, not only ones left to PyYAML


def test_edited_documents_read_as_pyyaml_reads_them() -> None:
    read = 0
    for seed in range(5000):
        text = edited(generated_text(seed), seed)
        assert same_as_pyyaml(text), text
        read += _SIMPLE.read(text) is not None
    assert read > 400


SETTINGS = settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
LINE_PIECES = st.sampled_from(
    [
        *SUBSET_SCALARS,
        *OTHER_SCALARS,
        *(f"{k}:" for k in [*SUBSET_KEYS, *OTHER_KEYS]),
        *(f"{k}: " for k in [*SUBSET_KEYS, *OTHER_KEYS]),
        *("- ", "-", "  ", " ", "\n", "\n  ", "\n- "),
    ]
)


@SETTINGS
@given(st.lists(LINE_PIECES, min_size=1, max_size=30))
def test_any_text_of_yaml_pieces_reads_as_pyyaml_reads_it(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert same_as_pyyaml(text), text

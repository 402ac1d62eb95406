"""yamlio's dump writes a plain-looking string without asking PyYAML (`_value_form`): the form it gives is the
one PyYAML gives, for strings of every character that could change it and every text YAML 1.1 or 1.2 reads as
something else than a string (which must stay quoted)."""

from __future__ import annotations

import random

import pytest

from gitops_engine import yamlio

TRICKY = [
    *(
        "true",
        "yes",
        "on",
        "off",
        "no",
        "y",
        "n",
        "null",
        "Null",
        "~",
        "1e3",
        "0o7",
        "0x1F",
        "1:20",
        "1:20.5",
    ),
    *(
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        ".inf",
        "1_000",
        "+1",
        "-1",
        "0b101",
        "=",
        "<<",
        "a:",
        "a:b",
    ),
    *(
        "a::",
        "/x",
        "_",
        "0",
        "00",
        "1.",
        "1.5e+3",
        "NaN",
        ".nan",
        "Yes",
        "ON",
        "1_2:3",
        "12:60",
        "190:20:30",
        "_1",
    ),
    *(
        "x-",
        "a/b:c",
        "a--",
        "NULL",
        "nulls",
        "e3",
        "1e",
        "1E3",
        "010",
        "0e0",
        "1.2.3",
        "...x",
        "---x",
        "-x",
        ".x",
    ),
    *("docker.io/library/postgres:16.6", "app.kubernetes.io/name", "100m", "256Mi", "shop-db", "x" * 1000),
    "x" * 1001,
    *(
        "16.6",
        "a b",
        "a  b",
        "1 2",
        "true x",
        "x: y",
        "a :b",
        "a b:",
        "a b ",
        " a",
        "a: b c",
        "PostgreSQL 16.4 in dev",
    ),
]


@pytest.mark.parametrize("text", TRICKY)
def test_the_form_of_a_tricky_string_is_pyyamls(text: str) -> None:
    assert yamlio._value_form(text) == yamlio._dumped_value_form(text)
    assert yamlio.dump({"k": text, "l": [text]}) == yamlio._pyyaml_dump({"k": text, "l": [text]})


def test_the_form_of_random_strings_is_pyyamls() -> None:
    rng = random.Random(7)
    alphabet = "abcdefgyYnN01234567890:._/-eExXoO+ #'\"[]{},&*!|>%@`~=<"
    plain = 0
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        form = yamlio._value_form(text)
        assert form == yamlio._dumped_value_form(text), text
        plain += form == text
    assert plain > 2_000  # the fast path was taken often


@pytest.mark.parametrize(
    "text",
    [
        "server:\n  port: 8080\n  name: web\n",
        "a\n",
        "a",
        "a\nb",
        "a\n\nb\n",
        "a\n\n",
        "\na\n",
        " a\nb\n",
        "a \nb\n",
        "a\n b\n",
        "a\tb\nc\n",
        "é\n",
        "#!/bin/sh\necho $HOME # here\n- x: y\n--- \n",
        "a\r\nb\n",
        "a\n" * 600,
    ],
)
def test_the_literal_block_of_a_multi_line_string_is_pyyamls(text: str) -> None:
    assert yamlio._value_form(text) == yamlio._dumped_value_form(text)
    assert yamlio.dump({"k": text, "l": [text]}) == yamlio._pyyaml_dump({"k": text, "l": [text]})


def test_the_form_of_random_multi_line_strings_is_pyyamls() -> None:
    rng = random.Random(5)
    pieces = [
        "a",
        "b:",
        " ",
        "  ",
        "\n",
        "\n\n",
        "#",
        "- ",
        "---",
        "'",
        '"',
        "|",
        "\t",
        "x y",
        "1",
        "é",
        "{",
        "\\",
    ]
    blocks = 0
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        form = yamlio._value_form(text)
        assert form == yamlio._dumped_value_form(text), repr(text)
        blocks += isinstance(form, tuple)
    assert blocks > 2_000

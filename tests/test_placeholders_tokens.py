"""placeholders.tokenize remembers each text's tokens: a later call gives equal tokens in a list of its own, and a
malformed placeholder fails every time with the same message."""

from __future__ import annotations

import pytest

from gitops_engine.placeholders import PlaceholderError, Reference, tokenize


def test_tokens_are_the_same_each_time_and_a_list_of_their_own() -> None:
    text = "postgres://${resources.db.host}:${resources.db.port}/$${x}\\.y"
    first = tokenize(text)
    assert first == [
        "postgres://",
        Reference(("resources", "db", "host"), "${resources.db.host}"),
        ":",
        Reference(("resources", "db", "port"), "${resources.db.port}"),
        "/${x}\\.y",
    ]
    first.append("changed by a caller")
    assert tokenize(text) == first[:-1]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("${a\\.b.c}", ("a.b", "c")),
        ("${a\\b.c}", ("a\\b", "c")),
        ("${a.b}", ("a", "b")),
    ],
)
def test_escaped_dots_join_a_part(text: str, path: tuple[str, ...]) -> None:
    assert tokenize(text) == [Reference(path, text)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${}", "malformed placeholder ${} in '${}'"),
        ("${a..b}", "malformed placeholder ${a..b} in '${a..b}'"),
        ("${a.}", "malformed placeholder ${a.} in '${a.}'"),
        ("${a\\..}", "malformed placeholder ${a\\..} in '${a\\\\..}'"),
        ("x ${a", "unterminated placeholder in 'x ${a': close it with '}' or write $$ for a literal $"),
    ],
)
def test_malformed_placeholders_fail_every_time(text: str, message: str) -> None:
    for _ in range(2):
        with pytest.raises(PlaceholderError) as failure:
            tokenize(text)
        assert str(failure.value) == message

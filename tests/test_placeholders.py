"""gitops_engine.placeholders: Score's `${...}` references split out of text, substituted as text or as the value
itself, and the errors for placeholders that are malformed, unknown, or secrets spliced into text. (How the
renderer reports these at file:line:column is in test_bad_inputs.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from gitops_engine.model import SecretRef
from gitops_engine.placeholders import (
    PlaceholderError,
    Reference,
    lookup,
    references,
    substitute,
    tokenize,
)

OUTPUTS: dict[str, Any] = {
    "metadata": {"name": "api"},
    "resources": {"db": {"host": "db.svc", "port": 5432, "password": None, "tags": ["x", "y"]}},
}


def resolve(ref: Reference) -> Any:
    return lookup(OUTPUTS, ref.path, "placeholders")


def error_of(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(PlaceholderError) as failure:
        call(*args, **kwargs)
    return str(failure.value)


def test_tokenize_splits_literal_text_and_references() -> None:
    assert tokenize("a ${metadata.name} $$ b $ c ${resources.db.host}x") == [
        "a ",
        Reference(("metadata", "name"), "${metadata.name}"),
        " $ b $ c ",  # `$$` is a literal `$`; a lone `$` stays as it is
        Reference(("resources", "db", "host"), "${resources.db.host}"),
        "x",
    ]


def test_an_escaped_dot_is_part_of_a_key() -> None:
    assert tokenize(r"${resources.db.a\.b}") == [
        Reference(("resources", "db", "a.b"), r"${resources.db.a\.b}")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${a", "unterminated placeholder in '${a': close it with '}' or write $$ for a literal $"),
        ("x ${}", "malformed placeholder ${} in 'x ${}'"),
        ("${a..b}", "malformed placeholder ${a..b} in '${a..b}'"),
        ("${.a}", "malformed placeholder ${.a} in '${.a}'"),
    ],
)
def test_malformed_placeholders_are_refused(text: str, message: str) -> None:
    assert error_of(tokenize, text) == message


def test_references_are_found_in_nested_values_in_order() -> None:
    value = {"a": ["x ${a.b} ${c}"], "b": {"c": "$$ {d}", "e": 5}}
    assert references(value) == [Reference(("a", "b"), "${a.b}"), Reference(("c",), "${c}")]


def test_a_reference_knows_its_resource() -> None:
    assert Reference(("resources", "db", "host"), "").resource == "db"
    assert Reference(("resources",), "").resource is None
    assert Reference(("metadata", "name"), "").resource is None


def test_substitute_inserts_text_and_writes_other_values_as_compact_json() -> None:
    value = {"a": "${resources.db.host}:${resources.db.port}", "b": ["${resources.db}"], "c": 3}
    assert substitute(value, resolve) == {
        "a": "db.svc:5432",
        "b": ['{"host":"db.svc","password":null,"port":5432,"tags":["x","y"]}'],
        "c": 3,
    }


def test_keep_native_passes_a_whole_reference_on_as_its_value() -> None:
    value = {"port": "${resources.db.port}", "db": "${resources.db}", "url": "pg://${resources.db.host}"}
    assert substitute(value, resolve, keep_native=True) == {
        "port": 5432,
        "db": OUTPUTS["resources"]["db"],
        "url": "pg://db.svc",
    }


def test_text_without_a_placeholder_is_left_as_it_is() -> None:
    assert substitute({"a": "{x}", "b": ["100% $", "$ 5"]}, resolve) == {"a": "{x}", "b": ["100% $", "$ 5"]}
    assert substitute(7, resolve) == 7


def test_a_list_index_reaches_an_item() -> None:
    assert substitute("${resources.db.tags.1}", resolve) == "y"
    assert (
        error_of(substitute, "${resources.db.tags.2}", resolve)
        == "resources.db.tags has no '2' (known: none)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "${resources.db.hots}",
            "resources.db has no 'hots' (did you mean 'host'?) (known: host, password, port, tags)",
        ),
        ("${resources.cache.host}", "resources has no 'cache' (known: db)"),
        ("${nope}", "placeholders has no 'nope' (known: metadata, resources)"),
        ("${metadata.name.first}", "metadata.name has no 'first' (known: none)"),
    ],
)
def test_an_unknown_placeholder_names_the_missing_part_and_what_exists(text: str, message: str) -> None:
    assert error_of(substitute, text, resolve) == message


def test_a_secret_is_passed_on_whole_but_never_spliced_into_text() -> None:
    secret = SecretRef(name="pg", key="password")
    assert substitute("${resources.db.password}", lambda ref: secret, keep_native=True) == secret
    assert error_of(substitute, "pw=${resources.db.password}", lambda ref: secret) == (
        "${resources.db.password} is a secret: it cannot be part of a longer text; pass it on as the whole value "
        "(or as a container variable, which becomes a secretKeyRef)"
    )

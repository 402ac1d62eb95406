"""gitops_engine.templating, the Jinja2 sandbox definitions' templates run in: what a template may reach, the budget
(steps counted, sizes checked before a value is built) and its messages, the helpers (`to_json`, `to_yaml`, `hash`),
and where syntax errors are reported in the definition's file."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_engine.templating import (
    TemplateFailure,
    TemplateLimits,
    check_template_syntax,
    render_template,
    template_indent,
    template_line_offset,
)
from gitops_engine.yamlio import load_document

OUTPUT_LIMIT = "(platform.yaml limits.templateOutputChars)"
STEPS = (
    "over its budget: the template took more than 20000 steps (loop iterations, calls and filters): simplify it, "
    "or raise platform.yaml limits.templateSteps"
)
OUTSIDE = "): templates may only use the resource, workload and environment they are given"


def failure_of(
    text: str, context: dict[str, Any] | None = None, limits: TemplateLimits | None = None
) -> tuple[int, bool, str]:
    """(line, over_budget, message) of a template that fails."""
    with pytest.raises(TemplateFailure) as failure:
        render_template(text, context or {}, {}, limits)
    return failure.value.line, failure.value.over_budget, failure.value.message


def test_template_mapping_items_win_over_dict_methods() -> None:
    # `environment.values` is the environment's values, not dict.values.
    context = {"environment": {"values": {"domain": "example.com"}, "items": [1, 2]}}
    assert render_template("{{ environment.values.domain }}", context, {}) == "example.com"
    assert render_template("{{ environment['values'].domain }}", context, {}) == "example.com"
    assert render_template("{{ environment.items | length }}", context, {}) == "2"
    assert render_template("{{ {'a': 1}.get('a') }}", {}, {}) == "1"


# ---------------------------------------------------------------------------------------------------------------
# The budget and what it says


def test_budget_counts_steps_deterministically() -> None:
    loop = "{% for i in range(n) %}{{ i }}{% endfor %}"
    limits = TemplateLimits(steps=102)
    # range() is a call, entering the loop another, and each iteration one more: 100 iterations fit in 102 steps.
    assert render_template(loop, {"n": 100}, {}, limits) == "".join(map(str, range(100)))
    with pytest.raises(TemplateFailure) as failure:
        render_template(loop, {"n": 101}, {}, limits)
    assert failure.value.over_budget
    assert failure.value.line == 1
    assert failure.value.message == STEPS.replace("20000", "102")


def test_budget_names_the_line_of_the_template_that_went_over() -> None:
    text = "a: 1\nb: 2\nc: {{ 'x' | center(5000) }}\n"
    with pytest.raises(TemplateFailure) as failure:
        render_template(text, {}, {}, TemplateLimits(output_chars=4000))
    assert (failure.value.line, failure.value.over_budget) == (3, True)
    assert failure.value.message == (
        "over its budget: the center filter would build a value of more than 4000 characters " + OUTPUT_LIMIT
    )


def test_budget_leaves_ordinary_templates_alone() -> None:
    text = (
        "{% set names = resource.params.names %}"
        "{% for n in names | sort %}- {{ '%-6s' | format(n) }}|{{ n | center(8) }}|{{ (n ~ '-' ~ loop.index) "
        "| upper }}|{{ ', '.join([n, n]) }}|{{ '{:>4}'.format(loop.index) }}\n{% endfor %}"
    )
    context = {"resource": {"params": {"names": ["web", "db"]}}}
    assert render_template(text, context, {}) == (
        "- db    |   db   |DB-1|db, db|   1\n- web   |  web   |WEB-2|web, web|   2\n"
    )


def test_nondeterministic_and_html_helpers_are_gone() -> None:
    for text, name in (("{{ [1, 2] | random }}", "random"), ("{{ 'x' | urlize }}", "urlize")):
        with pytest.raises(Exception, match=f"No filter named '{name}'"):
            render_template(text, {}, {})
    with pytest.raises(TemplateFailure, match="'lipsum' is undefined"):
        render_template("{{ lipsum(2000000000) }}", {}, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ 2 ** 65 }}", (1, True, "over its budget: exponent 65 is over 64")),
        (
            "x\n{{ 'a' * 2000000 }}",
            (
                2,
                True,
                f"over its budget: repetition with * would build a value of more than 1000000 characters {OUTPUT_LIMIT}",
            ),
        ),
        (
            "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
            (1, True, "over its budget: recursion too deep (a macro or recursive loop that never ends?)"),
        ),
    ],
)
def test_the_budget_names_what_went_over(text: str, expected: tuple[int, bool, str]) -> None:
    assert failure_of(text) == expected


def test_an_exponent_at_the_limit_is_fine() -> None:
    assert render_template("{{ 2 ** 64 }}", {}, {}) == str(2**64)


# ---------------------------------------------------------------------------------------------------------------
# The sandbox and template errors


@pytest.mark.parametrize(
    ("text", "kind"),
    [("{{ ''.__class__ }}", "str"), ("{{ (1).__class__.__mro__ }}", "int")],
)
def test_the_sandbox_refuses_python_internals(text: str, kind: str) -> None:
    assert failure_of(text) == (
        1,
        False,
        f"the template reaches outside the sandbox (access to attribute '__class__' of '{kind}' object is unsafe."
        + OUTSIDE,
    )


def test_an_undefined_value_is_named_with_its_line() -> None:
    assert failure_of("a: 1\nb: {{ workload.nope }}\n", {"workload": {}}) == (
        2,
        False,
        "undefined value in template: 'dict object' has no attribute 'nope'",
    )


def test_a_python_error_is_a_template_error() -> None:
    assert failure_of("{{ 1 / 0 }}") == (1, False, "template error: ZeroDivisionError: division by zero")


def test_a_function_failure_keeps_its_message_and_gets_the_calling_line() -> None:
    def lookup(name: str) -> str:
        raise TemplateFailure(f"no workload named {name}")

    with pytest.raises(TemplateFailure) as failure:
        render_template("a\nb\n{{ lookup_workload('ghost') }}", {}, {"lookup_workload": lookup})
    assert (failure.value.line, failure.value.message) == (3, "no workload named ghost")


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def test_to_json_sorts_keys_and_to_yaml_keeps_their_order() -> None:
    context = {"x": {"b": 1, "a": [1, 2], "c": {3: (None, True)}}}
    assert (
        render_template("{{ x | to_json }}", context, {}) == '{"a": [1, 2], "b": 1, "c": {"3": [null, true]}}'
    )
    assert (
        render_template("{{ x | to_yaml }}", context, {})
        == "b: 1\na:\n- 1\n- 2\nc:\n  '3':\n  - null\n  - true"
    )


def test_to_json_refuses_what_is_not_data() -> None:
    assert failure_of("{{ x | to_json }}", {"x": {"a": object()}}) == (
        1,
        False,
        "template error: TypeError: cannot write a object as YAML or JSON: pass mappings, lists or scalars",
    )


def test_hash_is_a_stable_sha256_prefix() -> None:
    # sha256("x") starts 2d711642; a mapping is hashed as its sorted JSON.
    assert render_template("{{ 'x' | hash }} {{ {'a': 1} | hash(4) }}", {}, {}) == "2d711642 f9d8"


# ---------------------------------------------------------------------------------------------------------------
# Syntax errors in a definition's file


def test_a_syntax_error_in_a_block_template_is_reported_at_its_line_in_the_file() -> None:
    document = load_document("id: x\ntemplate:\n  outputs: |\n    a: 1\n    b: {{ x }\n", "d.yaml")
    where = ("template", "outputs")
    assert (template_line_offset(document, where), template_indent(document, where)) == (3, 4)
    findings = check_template_syntax(document.data["template"]["outputs"], document, where)
    assert [str(f) for f in findings] == [
        "d.yaml:5:1: template.outputs: template syntax error: unexpected '}'"
    ]


def test_a_syntax_error_in_a_one_line_template_is_reported_at_its_line() -> None:
    document = load_document("id: x\nt: '{{ x }'\n", "e.yaml")
    assert (template_line_offset(document, ("t",)), template_indent(document, ("t",))) == (1, 0)
    findings = check_template_syntax(document.data["t"], document, ("t",))
    assert [str(f) for f in findings] == ["e.yaml:2:1: t: template syntax error: unexpected '}'"]

"""Plain templates (text and `{{ name.name }}` values) are rendered without Jinja: to the same bytes, or the same
failure, as the sandbox gives them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_engine import sandbox
from gitops_engine.templating import TemplateFailure, TemplateLimits, _plain_parts, render_template

ROOT = Path(__file__).resolve().parent.parent
CONTEXT: dict[str, Any] = {
    "resource": {"uid": "db-7f3a", "id": "db", "params": {"size": "1Gi", "port": 5432, "ha": True}},
    "workload": {"name": "api", "team": "payments", "labels": {}},
    "environment": {
        "id": "development",
        "namespace": "payments-development",
        "values": {"storageClass": "standard", "ratio": 0.5, "nothing": None, "list": [1, 2]},
    },
    "target": {"host": "web.payments.svc", "ports": {"http": {"port": 8080}}},
}


def _outcome(render: Any, text: str, limits: TemplateLimits) -> tuple[Any, ...]:
    try:
        return ("ok", render(text, CONTEXT, {}, limits))
    except TemplateFailure as exc:
        return ("failed", exc.message, exc.line, exc.over_budget)


def _template_texts() -> list[str]:
    texts = []
    for folder in ("platform-repo-template/definitions", "tests/data/platforms/focused/definitions"):
        for path in sorted((ROOT / folder).glob("*/*.yaml")):
            template = (yaml.safe_load(path.read_text()) or {}).get("template") or {}
            texts.extend(text for text in template.values() if isinstance(text, str))
    return texts


EDGES = [
    "host: {{ resource.uid }}.{{ environment.namespace }}.svc\n",
    "{{resource.uid}}",
    "a: {{   workload.team   }}\n\n",
    "port: {{ resource.params.port }} ha: {{ resource.params.ha }} r: {{ environment.values.ratio }}",
    "none: {{ environment.values.nothing }}",
    "list: {{ environment.values.list }}",
    "mapping: {{ workload.labels }}",
    "missing: {{ resource.params.missing }}",
    "unknown: {{ nobody }}",
    "deep: {{ resource.uid.deeper }}",
    "port: {{ target.ports.http.port }}",
    "{{{ resource.uid }}",
    "{{ resource.uid }}}",
    "{ {{ resource.uid }} }",
    "{{ true }} {{ none }} {{ range }}",
    "{{ resource.if }}",
    "a\r\nb: {{ resource.uid }}",
    "{# note #}{{ resource.uid }}",
    "{{- resource.uid }}",
    "{{ resource.uid -}}\n",
    "{{ resource.uid | upper }}",
    "{% if true %}x{% endif %}",
    "}} {{ resource.uid }} {%",
    "text only: } { }} %} #}\n",
    "",
]


@pytest.mark.parametrize("text", [*_template_texts(), *EDGES])
def test_a_template_renders_as_the_sandbox_renders_it(text: str) -> None:
    limits = TemplateLimits()
    assert _outcome(render_template, text, limits) == _outcome(sandbox.render, text, limits)


def test_plain_templates_are_recognised_and_the_rest_is_left_to_jinja() -> None:
    plain = [text for text in EDGES if _plain_parts(text) is not None]
    assert plain == [
        "host: {{ resource.uid }}.{{ environment.namespace }}.svc\n",
        "{{resource.uid}}",
        "a: {{   workload.team   }}\n\n",
        "port: {{ resource.params.port }} ha: {{ resource.params.ha }} r: {{ environment.values.ratio }}",
        "none: {{ environment.values.nothing }}",
        "list: {{ environment.values.list }}",
        "mapping: {{ workload.labels }}",
        "missing: {{ resource.params.missing }}",
        "unknown: {{ nobody }}",
        "deep: {{ resource.uid.deeper }}",
        "port: {{ target.ports.http.port }}",
        "{ {{ resource.uid }} }",
        "{{ resource.if }}",
        "text only: } { }} %} #}\n",
        "",
    ]
    workload = ROOT / "platform-repo-template/definitions/workload/workload-default.yaml"
    assert _plain_parts(yaml.safe_load(workload.read_text())["template"]["outputs"]) is not None


def test_the_output_limit_holds_without_jinja_too() -> None:
    limits = TemplateLimits(output_chars=20)
    text = "host: {{ resource.uid }}.{{ environment.namespace }}.svc\n"
    assert _outcome(render_template, text, limits) == (
        "failed",
        "over its budget: the template's output is over 20 characters (platform.yaml limits.templateOutputChars)",
        0,
        True,
    )
    assert _outcome(sandbox.render, text, limits) == _outcome(render_template, text, limits)

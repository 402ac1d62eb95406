"""Findings as SARIF 2.1.0, the format GitHub code scanning (and other tools) read: one result per finding.

Rule ids group findings by what they are about, so code scanning can list, filter and dismiss them by kind:
the file kind for content problems, and separate ids for unparsable files and code ownership.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gitops_engine import __version__
from gitops_engine.errors import Finding
from gitops_engine.source import CODEOWNERS_FILES, PLATFORM_FILE

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/gitops-engine/gitops-engine"

# id -> (name, what findings of the rule are about)
RULES: dict[str, tuple[str, str]] = {
    "GE001": ("invalid-yaml", "A file is not valid YAML or not UTF-8 text."),
    "GE100": ("platform", "platform.yaml, the engine's settings, has a problem."),
    "GE200": ("environment", "An environment (environments/<env>.yaml) has a problem."),
    "GE300": (
        "definition",
        "A resource definition (definitions/<type>/<id>.yaml) or what it renders has a problem.",
    ),
    "GE400": ("workload", "A workload (its Score file, overrides or referenced files) does not render."),
    "GE500": ("code-owner", "A team folder has no CODEOWNERS owner of its own."),
    "GE900": ("other", "Any other problem with the platform repo."),
}
_SYNTAX_PREFIXES = ("invalid YAML", "not UTF-8 text", "YAML aliases expand", "YAML nested too deeply")


def rule_of(finding: Finding) -> str:
    """The rule id a finding is reported under."""
    if finding.message.startswith(_SYNTAX_PREFIXES):
        return "GE001"
    path = finding.path
    if path in CODEOWNERS_FILES:
        return "GE500"
    if path == PLATFORM_FILE:
        return "GE100"
    if path.startswith("environments/"):
        return "GE200"
    if path.startswith("definitions/"):
        return "GE300"
    if path.startswith("workloads/"):
        return "GE400"
    return "GE900"


def sarif_log(findings: Iterable[Finding]) -> dict[str, Any]:
    """A SARIF log with one run of gitops-engine: every rule, and one result per finding (paths relative to the
    platform repo root, which code scanning resolves against the checkout: `%SRCROOT%`)."""
    ids = list(RULES)
    results = []
    for finding in findings:
        rule = rule_of(finding)
        region: dict[str, int] = {"startLine": max(finding.line, 1)}
        if finding.line > 0 and finding.column > 0:
            region["startColumn"] = finding.column
        result: dict[str, Any] = {
            "ruleId": rule,
            "ruleIndex": ids.index(rule),
            "level": "warning" if finding.severity == "warning" else "error",
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": finding.path, "uriBaseId": "%SRCROOT%"},
                        "region": region,
                    }
                }
            ],
        }
        if finding.unit:
            result["properties"] = {"unit": finding.unit}
        results.append(result)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gitops-engine",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [
                            {
                                "id": rule_id,
                                "name": name,
                                "shortDescription": {"text": text},
                                "defaultConfiguration": {
                                    "level": "warning" if rule_id == "GE500" else "error"
                                },
                            }
                            for rule_id, (name, text) in RULES.items()
                        ],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The platform repo's root."}}},
                "results": results,
            }
        ],
    }

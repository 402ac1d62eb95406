"""`gitops-engine preview`: the pull-request comment — rendered diff per environment and what merging will do."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TextIO

from gitops_engine import ghactions
from gitops_engine.errors import UsageError
from gitops_engine.forge import open_forge
from gitops_engine.git import Git
from gitops_engine.plan import range_effect
from gitops_engine.publishing.describe import PREVIEW_MARKER, preview_markdown


def preview(
    repo: Path,
    base: str,
    head: str,
    *,
    comment: bool = False,
    pull_number: int | None = None,
    forge_name: str | None = None,
    out: TextIO | None = None,
) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    with Git(repo) as git:
        effect = range_effect(git, base, head)
        body = preview_markdown(git, effect)
    out.write(body)
    if ghactions.in_github_actions():
        ghactions.emit_annotations(effect.findings, out)
        ghactions.write_summary(body)
    if comment:
        number = pull_number or _pull_number_from_event()
        if number is None:
            raise UsageError("--comment needs the pull request: pass --pull-request N")
        forge = open_forge(forge_name or "github", repo)
        forge.upsert_comment(number, PREVIEW_MARKER, body)
    return 1 if effect.findings else 0


def _pull_number_from_event() -> int | None:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or not os.path.exists(path):
        return None
    with open(path) as handle:
        event = json.load(handle)
    number = (event.get("pull_request") or {}).get("number")
    return int(number) if number else None

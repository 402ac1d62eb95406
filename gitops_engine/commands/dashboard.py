"""`gitops-engine dashboard`: the rollout dashboard issue, as the last run left it, from any clone."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from gitops_engine import dashboard as board
from gitops_engine.errors import UsageError
from gitops_engine.forge import open_forge
from gitops_engine.loading import load_settings


def dashboard(repo: Path, forge_name: str | None, output_format: str, out: TextIO | None = None) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    forge = open_forge(forge_name or load_settings(repo).forge, repo)
    issue = forge.find_issue(board.MARKER)
    if issue is None:
        raise UsageError(
            f"no issue titled {board.TITLE!r} yet: `gitops-engine process` creates it after its first run that "
            "changes anything (unless platform.yaml sets pullRequests.dashboard: false)"
        )
    if output_format == "json":
        data = board.read(issue) or {"changes": [], "failed": []}
        json.dump({"number": issue.number, "url": issue.url, **data}, out, indent=2, sort_keys=True)
        out.write("\n")
        return 0
    start = issue.body.find(board.DATA_START)
    text = issue.body[:start] if start >= 0 else issue.body
    out.write(f"#{issue.number} {issue.url}\n" + text.replace(board.MARKER + "\n", "", 1).rstrip("\n") + "\n")
    return 0

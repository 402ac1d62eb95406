"""`gitops-engine pulls`: the engine's pull requests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal, TextIO, cast

from gitops_engine.forge import open_forge
from gitops_engine.loading import load_settings
from gitops_engine.rollout import read_marker, unit_of_branch


def pulls(
    repo: Path, forge_name: str | None, state: str, output_format: str, out: TextIO | None = None
) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    name = forge_name or load_settings(repo).forge
    forge = open_forge(name, repo)
    found = [
        (p, marker)
        for p in forge.list_pull_requests(cast(Literal["open", "closed", "all"], state))
        if (marker := read_marker(p.body, p.branch)) is not None
    ]
    if output_format == "json":
        # The rollout fields come from the hidden marker in each body (see gitops_engine.rollout).
        json.dump(
            [
                {
                    "number": p.number,
                    "title": p.title,
                    "state": p.state,
                    "branch": p.branch,
                    "workload": unit_of_branch(p.branch),
                    "units": list(marker.units),
                    "environments": list(marker.environments),
                    "wave": marker.wave,
                    "automerge": marker.automerge or p.automerge,
                    "group": marker.group,
                    "url": p.url,
                    "labels": list(p.labels),
                    "reviewers": list(p.reviewers),
                }
                for p, marker in found
            ],
            out,
            indent=2,
        )
        out.write("\n")
        return 0
    if not found:
        out.write(f"no {state if state != 'all' else ''} pull requests by gitops-engine\n".replace("  ", " "))
    for p, marker in found:
        out.write(
            f"#{p.number}\t{p.state}\t{unit_of_branch(p.branch) or ','.join(marker.units)}\t{p.title}\n"
        )
    return 0

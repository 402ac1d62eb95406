"""`gitops-engine affected --base REV [--head REV]`: which workloads and environments a commit range changes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from gitops_engine.git import Git
from gitops_engine.plan import range_effect


def affected(repo: Path, base: str, head: str, output_format: str, out: TextIO | None = None) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    with Git(repo) as git:
        effect = range_effect(git, base, head)
    if output_format == "json":
        json.dump(
            {
                "base": effect.base,
                "head": effect.head,
                "workloads": [
                    {
                        "workload": u.unit,
                        "environments": u.environments,
                        "reasons": u.reasons,
                        "merge": u.merge,
                    }
                    for u in effect.units
                ],
                "provenance_only": effect.provenance_only,
                "failed": effect.failed,
                "findings": [str(f) for f in effect.findings],
            },
            out,
            indent=2,
        )
        out.write("\n")
    elif output_format == "markdown":
        from gitops_engine.publishing.describe import preview_markdown

        with Git(repo) as git:
            out.write(preview_markdown(git, effect))
    else:
        for finding in effect.findings:
            out.write(f"error: {finding}\n")
        if not effect.units:
            out.write(f"no rendered output changes between {effect.base[:12]} and {effect.head[:12]}\n")
        for unit in effect.units:
            after = "committed to main" if unit.merge == "commit" else "pull request"
            out.write(f"{unit.unit}: {', '.join(unit.environments)} ({after})\n")
            for reason in unit.reasons:
                out.write(f"  - {reason}\n")
        if effect.provenance_only:
            out.write(f"provenance only (committed to main): {', '.join(effect.provenance_only)}\n")
        if effect.failed:
            out.write(f"failing, left as rendered: {', '.join(effect.failed)}\n")
    return 1 if effect.findings else 0

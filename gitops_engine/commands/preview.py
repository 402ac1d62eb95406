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
from gitops_engine.plan import RangeEffect, range_effect

MARKER = "<!-- gitops-engine:preview -->"
COLLAPSE_LINES = 30
BODY_LIMIT = 60_000


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
        forge.upsert_comment(number, MARKER, body)
    return 1 if effect.findings else 0


def _pull_number_from_event() -> int | None:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or not os.path.exists(path):
        return None
    with open(path) as handle:
        event = json.load(handle)
    number = (event.get("pull_request") or {}).get("number")
    return int(number) if number else None


def preview_markdown(git: Git, effect: RangeEffect) -> str:
    """The comment: problems, what the merge commits to main and which pull requests it opens, and the diffs."""
    lines = [MARKER, "## gitops-engine preview", ""]
    if effect.findings:
        lines += [f"**{len(effect.findings)} problem(s)** — the check fails until they are fixed:", ""]
        lines += [f"- `{f.location()}`: {f.text}" for f in effect.findings]
        lines.append("")
    if effect.failed:
        lines += [
            f"Failing to render, so left as they are after merge: {', '.join(f'`{u}`' for u in effect.failed)}.",
            "",
        ]
    if effect.provenance_only:
        lines += [
            f"Provenance only (committed to main, nothing deploys): "
            f"{', '.join(f'`{u}`' for u in effect.provenance_only)}.",
            "",
        ]
    if not effect.units:
        lines.append("No rendered manifests change.")
        return "\n".join(lines) + "\n"
    commits = [u for u in effect.units if u.merge == "commit"]
    pulls = [u for u in effect.units if u.merge != "commit"]
    lines.append(
        f"{len(effect.units)} unit(s) change. After merge, the engine commits {len(commits)} to main and opens "
        f"{len(pulls)} pull request(s), one per workload, for their owners to review."
    )
    lines += ["", "| unit | environments | after merge |", "|---|---|---|"]
    for unit in effect.units:
        after = "committed to main" if unit.merge == "commit" else f"pull request `gitops-engine/{unit.unit}`"
        lines.append(f"| `{unit.unit}` | {', '.join(unit.environments)} | {after} |")
    body = "\n".join(lines) + "\n"
    for unit in effect.units:
        section = [f"\n### `{unit.unit}`", ""]
        section += [f"- {r}" for r in unit.reasons]
        section.append("")
        for env in unit.environments:
            diff = unit.plan.diff(git, env)
            count = diff.count("\n")
            block = f"```diff\n{diff}```"
            if count > COLLAPSE_LINES:
                section.append(f"<details><summary>{env}: {count} lines</summary>\n\n{block}\n\n</details>\n")
            else:
                section.append(f"**{env}**\n\n{block}\n")
        text = "\n".join(section) + "\n"
        if len(body) + len(text) > BODY_LIMIT:
            body += "\n_Further diffs are too long for one comment: run `gitops-engine preview` locally._\n"
            break
        body += text
    return body

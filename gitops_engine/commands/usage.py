"""`gitops-engine usage [DEFINITION_ID]`: which units run which version of each definition, and who is behind.

Read from the provenance locks committed on HEAD, so it answers "which teams still run Postgres 15?" without
rendering anything.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gitops_engine.errors import ForgeError, UsageError, did_you_mean
from gitops_engine.forge import open_forge
from gitops_engine.git import Git
from gitops_engine.loading import load_snapshot
from gitops_engine.provenance import RenderedState
from gitops_engine.rollout import unit_of_branch
from gitops_engine.source import GitSource
from gitops_engine.versions import VersionNames


@dataclass
class DefinitionUsage:
    id: str
    type: str
    path: str
    version: str | None  # None: the definition no longer exists
    human_version: str | None  # see gitops_engine.versions
    uses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def behind(self) -> list[dict[str, Any]]:
        return [u for u in self.uses if not u["current"]]


def collect_usage(git: Git, commit: str) -> dict[str, DefinitionUsage]:
    snapshot = load_snapshot(GitSource(git, commit))
    state = RenderedState(git, snapshot.source.commit if isinstance(snapshot.source, GitSource) else commit)
    names = VersionNames(git, commit)
    by_id: dict[str, DefinitionUsage] = {
        d.id: DefinitionUsage(d.id, d.type, d.path, d.version, names.of_definition(d))
        for d in snapshot.definitions.values()
    }
    rank = {env: index for index, env in enumerate(snapshot.environment_order)}
    # platform.yaml's order of environments (an environment no longer listed last), then units by name
    for (env, unit), lock in sorted(
        state.all_locks().items(), key=lambda item: (rank.get(item[0][0], len(rank)), item[0])
    ):
        for resource in lock.get("resources", []):
            definition_id = resource["definition"]
            entry = by_id.setdefault(
                definition_id,
                DefinitionUsage(
                    definition_id, resource["type"], resource.get("definition_path", ""), None, None
                ),
            )
            current = resource["version"] == entry.version
            entry.uses.append(
                {
                    "workload": unit,
                    "environment": env,
                    "resource": resource["name"],
                    "version": resource["version"],
                    "human_version": entry.human_version
                    if current
                    else names.of_definition_version(
                        resource.get("definition_path", entry.path), resource["version"]
                    ),
                    "current": current,
                    "pull_request": None,
                }
            )
    return by_id


def usage(
    repo: Path,
    definition_id: str | None,
    output_format: str,
    forge_name: str | None,
    out: TextIO | None = None,
) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    with Git(repo) as git:
        head = git.rev_parse("HEAD")
        by_id = collect_usage(git, head)
        if definition_id is not None and definition_id not in by_id:
            raise UsageError(
                f"no definition {definition_id!r}{did_you_mean(definition_id, by_id)}: known are "
                f"{', '.join(sorted(by_id)) or 'none'}"
            )
        selected = [by_id[definition_id]] if definition_id else [by_id[k] for k in sorted(by_id)]
        if any(entry.behind for entry in selected):
            _attach_pulls(repo, git, forge_name, selected)
    if output_format == "json":
        json.dump(
            {
                "commit": head,
                "definitions": [
                    {
                        "id": e.id,
                        "type": e.type,
                        "path": e.path,
                        "version": e.version,
                        "human_version": e.human_version,
                        "uses": e.uses,
                        "behind": len(e.behind),
                    }
                    for e in selected
                ],
            },
            out,
            indent=2,
        )
        out.write("\n")
        return 0
    for entry in selected:
        state = f"version {entry.human_version}" if entry.version else "deleted"
        out.write(
            f"{entry.id} ({entry.type}, {state}): used by {len(entry.uses)}, behind {len(entry.behind)}\n"
        )
        for use in entry.uses:
            mark = "current" if use["current"] else f"behind ({use['human_version']})"
            pull = f", pull request #{use['pull_request']}" if use["pull_request"] else ""
            out.write(f"  {use['workload']} [{use['environment']}] {use['resource']}: {mark}{pull}\n")
    return 0


def _attach_pulls(repo: Path, git: Git, forge_name: str | None, selected: list[DefinitionUsage]) -> None:
    """Name the open pull request that brings each lagging unit up to date, when the forge can be reached."""
    name = forge_name or load_snapshot(GitSource(git, "HEAD")).settings.forge
    try:
        forge = open_forge(name, repo)
        pulls = {unit_of_branch(p.branch): p.number for p in forge.list_pull_requests("open")}
    except (UsageError, ForgeError):
        return
    for entry in selected:
        for use in entry.behind:
            use["pull_request"] = pulls.get(use["workload"])

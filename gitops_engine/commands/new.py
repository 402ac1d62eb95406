"""`gitops-engine new workload TEAM/NAME` and `gitops-engine new team TEAM --owner @org/team`: scaffolding.

A new workload is a commented Score file that validates as written (it is rendered before this returns; if it
does not render, nothing is left behind). A new team is its CODEOWNERS line, so the pull requests for its
workloads go to it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gitops_engine.codeowners import DEFAULT_FILE, OWNER, add_team_owner
from gitops_engine.errors import Finding, InputError, UsageError
from gitops_engine.loading import SCORE_FILE, load_snapshot
from gitops_engine.model import WORKLOAD_TYPE, is_dns_label, split_workload_key
from gitops_engine.schema import REPO_SCHEMA_DIR
from gitops_engine.source import CODEOWNERS_FILES, WorkTreeSource
from gitops_engine.tree import TreeChanges, build_tree, write_tree

_SCORE = """\
# yaml-language-server: $schema=../../../{schemas}/score-v1b1.json
# {team}/{name}: a workload, described in Score (https://docs.score.dev/docs/score-specification/).
# gitops-engine renders it for every environment into rendered/<env>/{team}/{name}/. Put what differs per
# environment in overrides.<env>.yaml beside this file; check your changes with `gitops-engine validate`.
apiVersion: score.dev/v1b1
metadata:
  name: {name}   # the folder's name

containers:
  main:
    # Your CI bumps this line: gitops-engine set-image {team}/{name} IMAGE
    image: registry.example.com/{team}/{name}:0.1.0
    # variables:
    #   LOG_LEVEL: info{variable_hint}
    resources:
      requests:
        cpu: 100m
        memory: 128Mi
      limits:
        memory: 256Mi

# Ports other workloads and routes reach it on:
# service:
#   ports:
#     http:
#       port: 80
#       targetPort: 8080
{resources}"""


def new_workload(repo: Path, workload: str, resources: Sequence[str] = (), out: TextIO | None = None) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    team, name = split_workload_key(workload)
    wanted = _parse_resources(resources)
    folder = repo / "workloads" / team / name
    path = f"workloads/{team}/{name}/{SCORE_FILE}"
    if folder.exists():
        raise InputError([Finding(path, 0, 0, f"workloads/{team}/{name}/ exists already: pick another name")])
    snapshot = load_snapshot(WorkTreeSource(repo))
    known = {d.type for d in snapshot.definitions.values()} - {WORKLOAD_TYPE}
    unknown = sorted({type_ for type_ in wanted.values() if type_ not in known})
    if unknown:
        raise UsageError(
            f"no definitions for resource type(s) {', '.join(unknown)}: the types this platform provides are "
            f"{', '.join(sorted(known)) or 'none'} (definitions/<type>/)"
        )
    text = _score_text(team, name, wanted)
    write_tree(repo, TreeChanges(writes={path: text.encode("utf-8")}, deletes=[]))
    # Validates as written, or leaves nothing behind: rendered in every environment like `validate` renders it.
    build = build_tree(load_snapshot(WorkTreeSource(repo)), workloads=[workload])
    problems = [f for f in build.findings if f.severity == "error" and (f.unit == workload or f.path == path)]
    if problems:
        shutil.rmtree(folder)
        if not any((repo / "workloads" / team).iterdir()):
            (repo / "workloads" / team).rmdir()
        out.write(
            f"nothing was written: workloads/{team}/{name} would not validate as generated (a resource type may need "
            "params: write the Score file by hand)\n"
        )
        raise InputError(problems)
    out.write(
        f"created {path}\n"
        f"next: set its image (gitops-engine set-image {workload} IMAGE), then gitops-engine render\n"
    )
    return 0


def _parse_resources(resources: Sequence[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in resources:
        name, equals, type_ = item.partition("=")
        if not equals or not (len(name) >= 2 and is_dns_label(name)) or not is_dns_label(type_):
            raise UsageError(
                f"--resource {item!r}: write NAME=TYPE, the name 2 to 63 lower-case letters, digits and '-' "
                "(for example db=postgres)"
            )
        if name in parsed:
            raise UsageError(f"--resource {name} is given twice")
        parsed[name] = type_
    return parsed


def _score_text(team: str, name: str, resources: dict[str, str]) -> str:
    if resources:
        block = [
            "",
            "# What it needs; each type's definitions (definitions/<type>/) say how every environment provides it.",
            "resources:",
        ]
        for resource, type_ in resources.items():
            block += [f"  {resource}:", f"    type: {type_}"]
        hint = f"\n    #   EXAMPLE: ${{resources.{next(iter(resources))}.host}}   (a resource's outputs, by name)"
    else:
        block = [
            "",
            "# What it needs, by name; each type's definitions (definitions/<type>/) say how it is provided:",
            "# resources:",
            "#   db:",
            "#     type: postgres",
        ]
        hint = ""
    return _SCORE.format(
        team=team, name=name, schemas=REPO_SCHEMA_DIR, variable_hint=hint, resources="\n".join(block) + "\n"
    )


def new_team(repo: Path, team: str, owner: str, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if not is_dns_label(team):
        raise UsageError(f"{team!r} is not a team name: use lower-case letters, digits and '-' (a DNS label)")
    if not OWNER.match(owner):
        raise UsageError(f"--owner {owner!r}: give a GitHub team as @org/team (or a user as @login)")
    path = next((p for p in CODEOWNERS_FILES if (repo / p).is_file()), DEFAULT_FILE)
    text = (repo / path).read_text(encoding="utf-8") if (repo / path).is_file() else None
    added = add_team_owner(path, text, team, owner)
    if added.text is None:
        out.write(f"{path}:{added.line}: workloads/{team}/ is owned by {owner} already: nothing to change\n")
        return 0
    write_tree(repo, TreeChanges(writes={path: added.text.encode("utf-8")}, deletes=[]))
    out.write(f"{path}:{added.line}: workloads/{team}/ is owned by {owner}\n")
    if added.rendered_line:
        out.write(f"{path}:{added.rendered_line}: rendered/*/{team}/ is owned by {owner}\n")
    out.write(f"next: gitops-engine new workload {team}/NAME\n")
    return 0

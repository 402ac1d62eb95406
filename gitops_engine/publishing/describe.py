"""Every text the engine writes for people: commit messages, pull-request titles and bodies, the rollout marker,
the preview comment, rendered diffs and the Mermaid (and DOT) graph of a unit's resources.

Pull-request bodies and preview comments share one size limit (`BODY_LIMIT`) and one way to fence a block of
code (`fenced`), so a diff that holds a code fence of its own never ends the block early.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gitops_engine.errors import Finding
from gitops_engine.manifest import ObjectChange
from gitops_engine.model import SHARED_FOLDER
from gitops_engine.plan import object_diff
from gitops_engine.rollout import ROLLOUT_MARKER, PullGroup
from gitops_engine.source import environment_of
from gitops_engine.workers import Spread, plan_workers, slices_of

if TYPE_CHECKING:
    from gitops_engine.git import Git
    from gitops_engine.plan import BlobReader, UnitPlan
    from gitops_engine.render import RenderedUnit
    from gitops_engine.versions import VersionNames

BODY_LIMIT = 60_000  # GitHub refuses bodies (and comments) over 65,536 characters
MARKER = "<!-- gitops-engine:unit={unit} -->"
HUMAN_MARKER = "<!-- gitops-engine:human-commits -->"
PREVIEW_MARKER = "<!-- gitops-engine:preview -->"
DIFF_COLLAPSE_LINES = 40  # pull-request bodies fold longer diffs
PREVIEW_COLLAPSE_LINES = 30  # preview comments fold longer diffs
READ_AHEAD = 256  # pull-request bodies whose old blobs are read at once (a few MiB)
BODIES_NICENESS = 10  # the bodies' workers yield the cores to the branches' writing and push (workers.Spread)
_FENCE = "```"
_BROKEN_FENCE = "`\u200b``"


def fenced(lang: str, text: str) -> str:
    """`text` (ending with a newline) as a fenced code block; a fence inside it is broken with a zero-width space,
    so it cannot close the block."""
    return f"{_FENCE}{lang}\n{text.replace(_FENCE, _BROKEN_FENCE)}{_FENCE}"


# -------------------------------------------------------------------------------------------------------------
# Commit messages


def main_commit_message(units: Sequence[UnitPlan], trailers: Sequence[str]) -> str:
    """The engine's commit to main: which units, why, and (for a complete run) the trailers."""
    unit_names = [u.unit for u in units]
    title = f"Render {unit_names[0]}" if len(unit_names) == 1 else f"Render {len(unit_names)} units"
    lines = [title, ""]
    for unit in units:
        why = {"workload": "workload changed", "definitions": "provenance only", "removed": "removed"}[
            unit.cause
        ]
        lines.append(f"- {unit.unit} ({why}; {', '.join(unit.environments)})")
    lines.append("")
    lines += trailers
    return "\n".join(lines) + "\n"


def branch_message(unit: UnitPlan) -> str:
    return f"{pull_title(unit)}\n\n" + "\n".join(f"- {r}" for r in unit.reasons[:50]) + "\n"


def group_message(group: PullGroup) -> str:
    """The commit message of a pull request's branch."""
    if group.group == "workload":
        return branch_message(group.units[0])
    return f"{group_title(group, active=True)}\n\n" + "\n".join(f"- {u}" for u in group.names[:200]) + "\n"


# -------------------------------------------------------------------------------------------------------------
# Titles


def group_title(group: PullGroup, *, active: bool, versions: VersionNames | None = None) -> str:
    """A unit's pull-request title (pull_title); a team's group says how many workloads it holds. With rollout
    settings, the environments it carries follow, so two parts of one unit are told apart."""
    where = f" [{', '.join(group.environments)}]" if active else ""
    if group.group == "workload":
        return pull_title(group.units[0], versions) + where
    who = "shared resources" if group.team == SHARED_FOLDER else group.team
    count = f"{len(group.units)} {'resource' if group.team == SHARED_FOLDER else 'workload'}"
    count += "s" if len(group.units) != 1 else ""
    changes = sorted(
        {c for u in group.units for c in named_changes(u, versions)},
        key=lambda c: (c[0], c[1] or "", c[2] or ""),
    )
    ids = sorted({c[0] for c in changes})
    if len(changes) == 1:
        definition_id, old, new = changes[0]
        what = f"{definition_id} {old or 'new'} → {new or 'removed'}"
    elif ids:
        what = f"{len(ids)} definition{'s' if len(ids) != 1 else ''} changed"
    else:
        what = _other_change(group.units)
    return f"Update {who} ({count}): {what}{where}"


def pull_title(unit: UnitPlan, versions: VersionNames | None = None) -> str:
    changes = named_changes(unit, versions)
    if unit.cause == "removed":
        return f"Remove rendered manifests of {unit.unit}"
    if len(changes) == 1:
        definition_id, old, new = changes[0]
        return f"Update {unit.unit}: {definition_id} {old or 'new'} → {new or 'removed'}"
    if changes:
        return f"Update {unit.unit}: {len(changes)} definitions changed"
    return f"Update {unit.unit}: {_other_change([unit])}"


def _other_change(units: Sequence[UnitPlan]) -> str:
    """What a title says of units that no definition change reaches: the environments whose file changed what
    rendering reads of them (the units' reasons name the files), in platform.yaml's order."""
    changed = {
        env_id
        for unit in units
        for reason in unit.reasons
        if reason.endswith(" changed") and (env_id := environment_of(reason.removesuffix(" changed")))
    }
    if not changed:
        return "rendered manifests change"
    order = {env: index for index, env in enumerate(units[0].order)}
    names = sorted(changed, key=lambda env: (order.get(env, len(order)), env))
    return f"environment{'s' if len(names) != 1 else ''} {', '.join(names)} changed"


def named_changes(unit: UnitPlan, versions: VersionNames | None) -> list[tuple[str, str | None, str | None]]:
    """unit.definition_changes() with each version by its human-readable name (gitops_engine.versions), when
    `versions` is given: the definition's `version:` field or the commit that made it, as people call it."""
    facts = _facts(unit)
    changes = list(facts.changes)
    if versions is None:
        return changes
    paths = facts.paths

    def named(definition_id: str, version: str | None) -> str | None:
        path = paths.get(definition_id)
        return versions.of_definition_version(path, version) if path and version else version

    return [(d, named(d, old), named(d, new)) for d, old, new in changes]


@dataclass(frozen=True)
class _UnitFacts:
    """What titles, bodies, markers and commit messages read of a unit's definitions (its locks parsed once)."""

    changes: tuple[tuple[str, str | None, str | None], ...]  # UnitPlan.definition_changes()
    paths: dict[str, str]  # definition id -> its file, from the old locks, then the renderings
    old_versions: set[tuple[str, str]]  # (definition file, version) the old locks record
    new_versions: list[tuple[Any, Any]]  # (definition file, version) of each rendered resource, in order


_FACTS: dict[int, tuple[UnitPlan, _UnitFacts]] | None = None  # by id(unit), while `describing`


@contextlib.contextmanager
def describing() -> Iterator[None]:
    """Within, each unit's definition facts are read once, however many texts about it are written (a unit's locks
    are otherwise parsed again for each: they are kept packed). The units must not change meanwhile."""
    global _FACTS
    outer = _FACTS
    _FACTS = {} if outer is None else outer
    try:
        yield
    finally:
        _FACTS = outer


def _facts(unit: UnitPlan) -> _UnitFacts:
    known = _FACTS.get(id(unit)) if _FACTS is not None else None
    if known is not None and known[0] is unit:
        return known[1]
    old = [r for lock in unit.old_locks.values() for r in lock.get("resources", [])]
    new = [r for rendered in unit.rendered.values() for r in rendered.provenance.get("resources", [])]
    paths: dict[str, str] = {}
    for resource in [*old, *new]:
        if resource.get("definition_path"):
            paths.setdefault(str(resource["definition"]), str(resource["definition_path"]))
    facts = _UnitFacts(
        changes=tuple(unit.definition_changes()),
        paths=paths,
        old_versions={(str(r.get("definition_path")), str(r.get("version"))) for r in old},
        new_versions=[(r.get("definition_path"), r.get("version")) for r in new],
    )
    if _FACTS is not None:
        _FACTS[id(unit)] = (unit, facts)
    return facts


# -------------------------------------------------------------------------------------------------------------
# Pull-request bodies


def rollout_marker(group: PullGroup, versions: Mapping[str, str]) -> str:
    """The machine-readable head of a pull request's body (gitops_engine.rollout.read_marker reads it back)."""
    payload = {
        "automerge": group.automerge,
        "environments": group.environments,
        "group": group.group,
        "units": group.names,
        "versions": dict(sorted(versions.items())),
        "wave": group.wave,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return ROLLOUT_MARKER.format(payload=text.replace("--", "-\\u002d"))


def group_body(git: Git, group: PullGroup, versions: VersionNames, unit_body: str | None = None) -> str:
    """The pull request's body: the rollout marker (what other tools read), then a unit's body (pull_body, or
    `unit_body` when it was written already), or for a team's group one section per unit (without diffs when they
    would not all fit)."""
    marker = rollout_marker(group, definition_versions(group, versions))
    if group.group == "workload":
        body = unit_body if unit_body is not None else pull_body(git, group.units[0], versions=versions)
        first, _, rest = body.partition("\n")
        return f"{first}\n{marker}\n{rest}"
    who = "shared resources" if group.team == SHARED_FOLDER else f"team `{group.team}`"
    head = [
        marker,
        *(MARKER.format(unit=u) for u in group.names),
        f"# {len(group.units)} unit(s) of {who}: rendered manifests change",
        "",
        "Resource definitions or environments changed on `main`. This pull request holds every affected "
        f"unit of {who} for {', '.join(group.environments)} (wave {group.wave}). Merging deploys the change to all "
        "of them; a workload you change meanwhile leaves this pull request, which the engine then updates.",
        "",
    ]
    return _group_sections(git, group, versions, "\n".join(head) + "\n")


def _group_sections(git: Git, group: PullGroup, versions: VersionNames, body: str) -> str:
    for diffs in (True, False):
        sections = [pull_body(git, u, diffs=diffs, versions=versions).partition("\n")[2] for u in group.units]
        if diffs and len(body) + sum(len(s) for s in sections) > BODY_LIMIT:
            continue
        for index, section in enumerate(sections):
            if len(body) + len(section) > BODY_LIMIT:
                left = group.names[index:]
                body += f"\n_{len(left)} more unit(s), shown on the branch: {', '.join(left)}._\n"[
                    : BODY_LIMIT // 4
                ]
                break
            body += section + "\n"
        break
    return body


def definition_versions(group: PullGroup, versions: VersionNames) -> dict[str, str]:
    """The definition files the pull request's units move to, by human-readable version (gitops_engine.versions):
    those whose version differs from what main's locks record."""
    old: set[tuple[str, str]] = set()
    for unit in group.units:
        old |= _facts(unit).old_versions
    found: dict[str, str] = {}
    for unit in group.units:
        for path, version in _facts(unit).new_versions:
            if path and version and (str(path), str(version)) not in old and path not in found:
                found[str(path)] = versions.of_definition_version(str(path), str(version))
    return found


def pull_body(
    git: BlobReader, unit: UnitPlan, *, diffs: bool = True, versions: VersionNames | None = None
) -> str:
    """A unit's pull-request body: why, the definitions and environments that change, its resources' graph and
    (when `diffs`) the rendered diff per environment, cut at BODY_LIMIT."""
    lines = [MARKER.format(unit=unit.unit), f"## {unit.unit}: rendered manifests change", ""]
    if unit.cause == "removed":
        lines.append(
            "The source of these manifests is gone. Removing them deletes objects that may hold data, so the engine "
            "asks for a review instead of committing. Merge to remove them."
        )
    else:
        lines.append(
            "Resource definitions or environments changed on `main`, and this workload's rendered "
            "manifests change with them. Merging deploys the change; nothing else in your workload changes."
        )
    lines.append("")
    lines += _definitions_table(unit, versions)
    # Each environment's objects read and compared once, for the table and the diff (each reads the blobs).
    changes = {env: unit.object_changes(git, env) for env in unit.environments}
    lines += _environments_table(unit, changes)
    lines += ["", "### Why", ""]
    lines += [f"- {reason}" for reason in unit.reasons[:30]]
    if len(unit.reasons) > 30:
        lines.append(f"- … and {len(unit.reasons) - 30} more")
    diagram = _unit_mermaid(unit)
    if diagram:
        lines += ["", "### Resources", "", fenced("mermaid", diagram + "\n")]
    if not diffs:
        return "\n".join([*lines, "", "_The rendered diff is on the branch._", ""])
    lines += ["", "### Rendered diff", ""]
    return _pull_diffs(unit, changes, "\n".join(lines) + "\n")


def _definitions_table(unit: UnitPlan, versions: VersionNames | None) -> list[str]:
    hashes = list(_facts(unit).changes)
    if not hashes:
        return []
    lines = ["### Definitions", "", "| definition | before | after |", "|---|---|---|"]
    for (definition_id, old, new), (_, old_name, new_name) in zip(
        hashes, named_changes(unit, versions), strict=True
    ):
        lines.append(
            f"| `{definition_id}` | {_version_cell(old, old_name)} | {_version_cell(new, new_name)} |"
        )
    lines.append("")
    return lines


def _environments_table(unit: UnitPlan, changes: Mapping[str, list[ObjectChange]]) -> list[str]:
    lines = ["### Environments", "", "| environment | changed | added | removed |", "|---|---|---|---|"]
    for env in unit.environments:
        objects = changes[env]
        added = sum(1 for change in objects if change.old is None)
        removed = sum(1 for change in objects if change.new is None)
        lines.append(f"| {env} | {len(objects) - added - removed} | {added} | {removed} |")
    return lines


def _pull_diffs(unit: UnitPlan, changes: Mapping[str, list[ObjectChange]], body: str) -> str:
    for env in unit.environments:
        diff = object_diff(f"rendered/{env}/{unit.unit}", changes[env])
        count = diff.count("\n")
        block = fenced("diff", diff) + "\n"
        if count > DIFF_COLLAPSE_LINES:
            block = f"<details><summary>{env}: {count} lines</summary>\n\n{block}\n</details>\n"
        else:
            block = f"**{env}**\n\n{block}"
        if len(body) + len(block) > BODY_LIMIT:
            body += (
                f"\n_The diff for {env} and later environments is too long to show here: see the branch._\n"
            )
            break
        body += block + "\n"
    return body


def _version_cell(version: str | None, name: str | None) -> str:
    """A definitions-table cell: the human-readable version, then the hash the locks record."""
    if not version:
        return "—"
    if not name or name == version:
        return f"`{version}`"
    return f"{_escape_cell(name)} `{version}`"


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def pull_bodies(git: Git, units: Sequence[UnitPlan], versions: VersionNames) -> list[str]:
    """pull_body of each unit, in order (see Bodies)."""
    return Bodies(git, units, versions).read()


class Bodies:
    """pull_body of each unit, in order. With many units they are written from now on in forked worker processes
    (each reads the diffs' blobs itself), as planning does (gitops_engine.workers), while the caller goes on; with
    few, in this process when read."""

    def __init__(self, git: Git, units: Sequence[UnitPlan], versions: VersionNames) -> None:
        self._git, self._units, self._versions = git, units, versions
        self._spread: Spread[list[str]] | None = None
        workers = plan_workers(len(units))
        if workers > 1:

            def describe(part: list[int]) -> list[str]:
                return _read_ahead_bodies(git, [units[index] for index in part], versions)

            slices = slices_of(list(range(len(units))), workers)
            self._spread = Spread(describe, slices, workers, "describing", nice=BODIES_NICENESS)

    def read(self) -> list[str]:
        """The bodies (waiting for the workers still writing them)."""
        if self._spread is None:
            return _read_ahead_bodies(self._git, self._units, self._versions)
        return [body for part in self._spread.results() for body in part]

    def close(self) -> None:
        """End the workers, if the bodies were not read."""
        if self._spread is not None:
            self._spread.close()


def _read_ahead_bodies(git: Git, units: Sequence[UnitPlan], versions: VersionNames) -> list[str]:
    """pull_body of each unit, the blobs their diffs start from read READ_AHEAD units at a time with one
    `cat-file`: one round trip per unit and environment through the long-lived pipe cost more than the diff."""
    bodies: list[str] = []
    for start in range(0, len(units), READ_AHEAD):
        part = units[start : start + READ_AHEAD]
        wanted = sorted({blob for unit in part for blob in _diffed_blobs(unit)})
        reader = _ReadAhead(git, dict(zip(wanted, git.read_many(wanted), strict=True)))
        bodies += [pull_body(reader, unit, versions=versions) for unit in part]
    return bodies


class _ReadAhead:
    """`git`'s objects, with these blobs read already (any other is read through `git`)."""

    def __init__(self, git: Git, blobs: dict[str, bytes | None]) -> None:
        self.git = git
        self.blobs = blobs

    def read_many(self, specs: Sequence[str]) -> list[bytes | None]:
        missing = [spec for spec in specs if spec not in self.blobs]
        self.blobs.update(zip(missing, self.git.read_many(missing), strict=True))
        return [self.blobs[spec] for spec in specs]

    def read_blob(self, sha: str) -> bytes:
        data = self.blobs.get(sha)
        return data if data is not None else self.git.read_blob(sha)


def _diffed_blobs(unit: UnitPlan) -> list[str]:
    """The blobs UnitPlan.object_changes reads for the unit's diffs: its old files in the environments where
    objects change."""
    prefixes = tuple(f"rendered/{env}/{unit.unit}/" for env in unit.environments if env in unit.object_envs)
    return [blob for path, blob in unit.old_files.items() if path.startswith(prefixes)] if prefixes else []


def human_commits_comment(branch: str) -> str:
    """The comment on a pull request whose branch has someone else's commits (the engine leaves it alone)."""
    return (
        f"{HUMAN_MARKER}\ngitops-engine has a newer rendering for this workload but did not update `{branch}`: "
        "it has commits by someone else, and the engine never force-pushes over them. Merge or close this pull "
        "request, or delete the branch, and the next run will open a fresh one."
    )


def closing_reason(units: Sequence[str], superseded_by: str | None) -> str:
    """Why an obsolete pull request is closed: superseded by a commit that re-rendered its one unit on main, or
    main already holds what it proposed."""
    if len(units) != 1:
        return (
            f"`main` already contains these changes for {len(units)} units, or they moved to another pull "
            "request: nothing left to merge here."
        )
    if superseded_by:
        return f"Superseded: `{units[0]}` was re-rendered on main by {superseded_by}."
    return f"`main` already contains this change for `{units[0]}`: nothing left to merge."


def close_comment(reason: str) -> str:
    return reason + " Closed by gitops-engine."


# -------------------------------------------------------------------------------------------------------------
# Graphs


def _unit_mermaid(unit: UnitPlan) -> str:
    rendered = next((unit.rendered[e] for e in unit.environments if e in unit.rendered), None)
    if rendered is None:
        return ""
    return to_mermaid(rendered).rstrip("\n")


def graph_nodes(unit: RenderedUnit) -> tuple[str, list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(workload label, [(node id, label, definition)], [(from, to)])."""
    workload_label = f"{unit.unit} ({unit.env})"
    nodes: list[tuple[str, str, str]] = []
    edges: list[tuple[str, str]] = []
    for index, resource in enumerate(r for r in unit.provenance["resources"] if r["type"] != "workload"):
        node = f"r{index}"
        shared = " shared" if resource["shared"] else ""
        nodes.append(
            (
                node,
                f"{resource['name']}: {resource['type']}{shared}",
                f"{resource['definition']}@{resource['version']}",
            )
        )
    ids = {
        r["name"]: f"r{i}"
        for i, r in enumerate(r for r in unit.provenance["resources"] if r["type"] != "workload")
    }
    for resource in unit.provenance["resources"]:
        if resource["type"] == "workload":
            continue
        edges.append(("w", ids[resource["name"]]))
        for dep in resource["depends_on"]:
            edges.append((ids[resource["name"]], ids[dep]))
    return workload_label, nodes, edges


def to_mermaid(unit: RenderedUnit) -> str:
    label, nodes, edges = graph_nodes(unit)
    lines = ["graph LR", f'  w["{label}"]']
    for node, text, definition in nodes:
        lines.append(f'  {node}["{text}<br/><small>{definition}</small>"]')
    for a, b in edges:
        lines.append(f"  {a} --> {b}")
    return "\n".join(lines) + "\n"


def to_dot(unit: RenderedUnit) -> str:
    label, nodes, edges = graph_nodes(unit)
    lines = ["digraph workload {", "  rankdir=LR;", f'  w [label="{label}", shape=box];']
    for node, text, definition in nodes:
        lines.append(f'  {node} [label="{text}\\n{definition}"];')
    for a, b in edges:
        lines.append(f"  {a} -> {b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------------------------
# The preview comment (`gitops-engine preview`)


class PreviewUnit(Protocol):
    @property
    def unit(self) -> str: ...
    @property
    def environments(self) -> list[str]: ...
    @property
    def reasons(self) -> list[str]: ...
    @property
    def merge(self) -> str: ...
    @property
    def plan(self) -> UnitPlan: ...


class PreviewEffect(Protocol):
    """What merging a change makes the processor do (commands.affected.RangeEffect)."""

    @property
    def units(self) -> Sequence[PreviewUnit]: ...
    @property
    def provenance_only(self) -> list[str]: ...
    @property
    def findings(self) -> list[Finding]: ...
    @property
    def failed(self) -> list[str]: ...


def preview_markdown(git: Git, effect: PreviewEffect) -> str:
    """The comment: problems, what the merge commits to main and which pull requests it opens, and the diffs."""
    lines = [PREVIEW_MARKER, "## gitops-engine preview", ""]
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
    return _preview_diffs(git, effect.units, "\n".join(lines) + "\n")


def _preview_diffs(git: Git, units: Sequence[PreviewUnit], body: str) -> str:
    for unit in units:
        section = [f"\n### `{unit.unit}`", ""]
        section += [f"- {r}" for r in unit.reasons]
        section.append("")
        for env in unit.environments:
            diff = unit.plan.diff(git, env)
            count = diff.count("\n")
            block = fenced("diff", diff)
            if count > PREVIEW_COLLAPSE_LINES:
                section.append(f"<details><summary>{env}: {count} lines</summary>\n\n{block}\n\n</details>\n")
            else:
                section.append(f"**{env}**\n\n{block}\n")
        text = "\n".join(section) + "\n"
        if len(body) + len(text) > BODY_LIMIT:
            body += "\n_Further diffs are too long for one comment: run `gitops-engine preview` locally._\n"
            break
        body += text
    return body

"""`gitops-engine demo [DIR]`: the whole flow on the bundled template, on this machine, in under a minute.

A bare repository plays the hosted remote and the local forge keeps pull requests beside it. The demo plays the
three roles in turn — a developer, the infra team, a team reviewing its pull request — and runs the processor after
each push, as CI would.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gitops_engine.commands.init import create_platform_repo
from gitops_engine.errors import UsageError
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import Git, Identity, clone_repository, default_identity
from gitops_engine.publishing.report import RunReport
from gitops_engine.reconcile import process as process_repo

DEVELOPER = Identity("Dana Developer", "dana@example.com")
INFRA = Identity("Ian Infra", "ian@example.com")
REVIEWER = Identity("Rita Reviewer", "rita@example.com")


class _Story:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.step = 0
        self.started = time.monotonic()

    def heading(self, text: str) -> None:
        self.step += 1
        self.out.write(f"\n{self.step}. {text}\n")
        self.out.flush()

    def say(self, text: str) -> None:
        self.out.write(f"   {text}\n")
        self.out.flush()


@dataclass
class _Stage:
    """What every act of the demo plays on: the platform repo's clone, its bare remote and the local forge."""

    story: _Story
    root: Path
    work: Path
    remote: Path
    git: Git
    forge: LocalForge
    workloads: list[str]

    def process(self) -> RunReport:
        """One processor run, as CI runs it after a push; then the clone pulls what it committed."""
        report = process_repo(self.work, self.forge, default_identity())
        self.git.pull_fast_forward("origin", "main")
        return report

    def push_commit(self, who: Identity, message: str, paths: list[str]) -> None:
        """Commit these work-tree paths as `who` and push them to main."""
        self.git.commit_paths(paths, message, who)
        _push_main(self.git)


def demo(directory: Path | None, out: TextIO | None = None) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    root = (directory or Path(tempfile.mkdtemp(prefix="gitops-engine-demo-"))).absolute()
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root} is not empty: give a new or empty directory")
    root.mkdir(parents=True, exist_ok=True)
    story = _Story(out)
    out.write(f"gitops-engine demo in {root}\n")
    stage = _create_platform(story, root)
    _developer_releases(stage)
    _infra_switches_on_waves(stage)
    definition = _infra_upgrades_postgres(stage)
    _next_run_merges(stage)
    _second_run_changes_nothing(stage)
    _team_merges_its_pull_request(stage)
    _where_to_look(stage, definition)
    out.write(f"\ndone in {time.monotonic() - story.started:.1f} s\n")
    return 0


def _create_platform(story: _Story, root: Path) -> _Stage:
    story.heading("Create the platform repo from the bundled template, with a bare repository as its remote")
    work = root / "platform"
    remote = root / "remote.git"
    create_platform_repo(work)
    clone_repository(work, remote, bare=True)
    git = Git(work)
    git.add_remote("origin", str(remote))
    git.fetch("origin", [])
    git.set_upstream("main", "origin/main")
    units = len(git.ls_tree("HEAD", ["rendered/"]))
    workloads = sorted({"/".join(p.split("/")[1:3]) for p in git.ls_tree("HEAD", ["workloads/"])})
    story.say(f"{len(workloads)} workloads, {units} rendered files committed on main in the first commit")
    story.say(f"work tree: {work}")
    stage = _Stage(story, root, work, remote, git, LocalForge.for_checkout(work), workloads)
    report = stage.process()
    story.say(f"processor on main: {_summary(report)}")
    return stage


def _developer_releases(stage: _Stage) -> None:
    story, work = stage.story, stage.work
    story.heading("A developer changes a workload and merges it")
    target = _pick_workload(work, stage.workloads)
    score = work / "workloads" / target / "score.yaml"
    text = score.read_text()
    new_text, count = re.subn(
        r"(image: [^\s:]+:)([\w.-]+)", lambda m: m.group(1) + _bump(m.group(2)), text, count=1
    )
    if not count:
        raise UsageError(f"the demo expected an image tag in {score}")
    score.write_text(new_text)
    stage.push_commit(DEVELOPER, f"{target}: new release", [str(score.relative_to(work))])
    report = stage.process()
    story.say(f"edited {score.relative_to(work)} (image tag), pushed to main")
    story.say(f"processor: {_summary(report)}")
    if report.committed:
        changed = [path for _, path in stage.git.diff_names(f"{report.committed}^", report.committed)]
        story.say(
            f"commit {report.committed[:12]} touches only {target}'s rendered files: {len(changed)} file(s)"
        )
        for path in changed[:6]:
            story.say(f"  {path}")


def _infra_switches_on_waves(stage: _Stage) -> None:
    stage.story.heading("The infra team switches on three waves and one pull request per team")
    changed = _switch_on_waves(stage.work)
    stage.push_commit(INFRA, "Roll out in three waves, one pull request per team", changed)
    report = stage.process()
    stage.story.say(
        "development: direct; staging: automerge; production: pull-request after staging; groupBy: team"
    )
    stage.story.say(f"processor: {_summary(report)}")


def _infra_upgrades_postgres(stage: _Stage) -> Path:
    """The definition change that reaches every environment; returns the definition edited first."""
    story, work = stage.story, stage.work
    story.heading(
        "The infra team upgrades PostgreSQL everywhere: the in-cluster image and the managed cluster"
    )
    edited, old, new = _upgrade_postgres(work)
    stage.push_commit(INFRA, f"Upgrade PostgreSQL {old} -> {new}", [str(p.relative_to(work)) for p in edited])
    report = stage.process()
    story.say(
        f"edited {', '.join(str(p.relative_to(work)) for p in edited)}: PostgreSQL {old} -> {new}, pushed to main"
    )
    story.say(f"processor: {_summary(report)}")
    _say_opened(story, report)
    story.say(
        "wave 1: development was committed to main at once (direct); staging waits in auto-merge pull requests, "
        "one per team"
    )
    if report.opened:
        first = min(report.opened, key=lambda p: p.number)
        story.say(f"pull request #{first.number} as its team sees it (an excerpt of its body):")
        for line in pull_excerpt(first.body):
            story.say(f"  | {line}".rstrip())
    if report.waiting:
        story.say(f"wave 2: {len(report.waiting)} production part(s) wait until staging is live")
    _show_dashboard(story, stage.forge)
    return edited[0]


def _next_run_merges(stage: _Stage) -> None:
    stage.story.heading(
        "The next run merges the auto-merge pull requests: staging is live, production's wave opens"
    )
    report = stage.process()
    stage.story.say(f"processor: {_summary(report)}")
    for pull in report.merged:
        stage.story.say(f"  merged #{pull.number} ({pull.branch})")
    _say_opened(stage.story, report)
    _show_dashboard(stage.story, stage.forge)


def _second_run_changes_nothing(stage: _Stage) -> None:
    stage.story.heading("Running the processor again changes nothing")
    writes_before = stage.forge.stats.writes
    refs_before = stage.git.remote_refs(str(stage.remote), [])
    report = stage.process()
    unchanged = (
        stage.git.remote_refs(str(stage.remote), []) == refs_before
        and stage.forge.stats.writes == writes_before
    )
    stage.story.say(
        f"processor: {_summary(report)} ({'no commit, no push, no pull-request write' if unchanged else 'CHANGED'})"
    )


def _team_merges_its_pull_request(stage: _Stage) -> None:
    """A team member merges the first open pull request in a clone of their own, as a review on the forge would."""
    waiting = [p for p in stage.forge.list_pull_requests("open") if p.branch.startswith("gitops-engine/")]
    if not waiting:
        return
    pull = min(waiting, key=lambda p: p.number)
    stage.story.heading(f"A team merges its pull request #{pull.number}")
    reviewer = clone_repository(stage.remote, stage.root / "team-clone")
    reviewer.fetch("origin", [pull.branch])
    reviewer.merge_into_head("FETCH_HEAD", f"Merge pull request #{pull.number} from {pull.branch}", REVIEWER)
    _push_main(reviewer)
    report = stage.process()
    stage.story.say(f"processor: {_summary(report)}")
    states = {p.number: p.state for p in stage.forge.list_pull_requests("all")}
    stage.story.say(
        f"#{pull.number} is now {states.get(pull.number)}; the other pull requests stay open for their teams"
    )
    _show_dashboard(stage.story, stage.forge)


def _where_to_look(stage: _Stage, definition: Path) -> None:
    story, root, work = stage.story, stage.root, stage.work
    story.heading("Where to look")
    story.say(f"the demo's folder:    {root} (remove it with: rm -rf {shlex.quote(str(root))})")
    story.say(f"rendered manifests:   {work / 'rendered'}")
    story.say(f"pull requests (JSON): {stage.remote / 'gitops-engine' / 'pulls'}")
    engine = engine_command()
    story.say(
        f"try: cd {shlex.quote(str(work))} && {engine} pulls --state all && {engine} usage {definition.stem}"
    )


def _switch_on_waves(work: Path) -> list[str]:
    """Uncomment the three-wave example the template's environment files carry, and group pull requests by team."""
    changed = []
    for path in sorted((work / "environments").glob("*.yaml")):
        text = path.read_text()
        switched = re.sub(
            r"^# (rollout:\n)((?:#   .*\n)+)",
            lambda m: m[1] + re.sub(r"^# ", "", m[2], flags=re.M),
            text,
            flags=re.M,
        )
        if switched != text:
            path.write_text(switched)
            changed.append(str(path.relative_to(work)))
    platform = work / "platform.yaml"
    platform.write_text(
        platform.read_text().replace("pullRequests:\n", "pullRequests:\n  groupBy: team\n", 1)
    )
    return [*changed, "platform.yaml"]


def _say_opened(story: _Story, report: RunReport) -> None:
    for pull in report.opened:
        story.say(f"  #{pull.number} {pull.title}")
        story.say(f"      branch {pull.branch}, reviewers {', '.join(pull.reviewers) or '-'}")


def _show_dashboard(story: _Story, forge: LocalForge) -> None:
    from gitops_engine.dashboard import DATA_START, MARKER

    issue = forge.find_issue(MARKER)
    if issue is None:
        return
    story.say(f"the rollout dashboard, issue #{issue.number}:")
    text = issue.body[: issue.body.find(DATA_START)] if DATA_START in issue.body else issue.body
    for line in text.replace(MARKER + "\n", "", 1).strip("\n").splitlines():
        story.say(f"  | {line}".rstrip())


def engine_command() -> str:
    """How to run this very gitops-engine from any folder: its name when PATH finds this script, the script's
    path when it is not on PATH (a virtual environment not activated), else `python -m gitops_engine`."""
    script = Path(sys.argv[0])
    if script.name == "gitops-engine" and script.is_file():
        found = shutil.which("gitops-engine")
        if found is not None and Path(found).resolve() == script.resolve():
            return "gitops-engine"
        return shlex.quote(str(script.resolve()))
    return f"{shlex.quote(sys.executable)} -m gitops_engine"


def pull_excerpt(body: str, diff_lines: int = 8) -> list[str]:
    """The heading, the definitions table and the start of the first diff of a pull request's body."""
    # Hidden markers (the unit and the rollout marker) are for tools, not for people.
    lines = [line for line in body.splitlines() if not line.startswith("<!-- gitops-engine:")]
    excerpt = [line for line in lines[:1]]  # the heading
    if "### Definitions" in lines:
        start = lines.index("### Definitions")
        end = lines.index("", start + 2) if "" in lines[start + 2 :] else len(lines)
        excerpt += ["", *lines[start:end]]
    if "```diff" in lines:
        start = lines.index("```diff") + 1
        block = lines[start : lines.index("```", start)] if "```" in lines[start:] else lines[start:]
        shown = [line for line in block if line.startswith(("---", "+++", "+", "-"))][:diff_lines]
        excerpt += ["", "```diff", *shown]
        if len(block) > len(shown):
            excerpt.append("… (the whole diff is in the pull request)")
    return excerpt


def _summary(report: RunReport) -> str:
    parts = []
    if report.committed:
        parts.append(f"committed {report.committed[:12]} ({', '.join(report.committed_units)})")
    if report.opened:
        parts.append(f"opened {len(report.opened)} pull request(s)")
    if report.updated:
        parts.append(f"updated {len(report.updated)}")
    if report.closed:
        parts.append(f"closed {len(report.closed)}")
    if report.deleted_branches:
        parts.append(f"deleted branch(es) {', '.join(report.deleted_branches)}")
    if (report.unchanged or report.pending) and not parts:
        parts.append(f"{len(report.unchanged) + len(report.pending)} open pull request(s) already up to date")
    if report.findings:
        parts.append(f"{len(report.findings)} problem(s)")
    return "; ".join(parts) or "nothing to do"


def _push_main(git: Git) -> None:
    ok, output = git.push("origin", ["main"], atomic=False)
    if not ok:
        raise UsageError(f"demo: git push failed: {output.strip()}")


def _pick_workload(work: Path, workloads: list[str]) -> str:
    for key in workloads:
        if re.search(r"image: [^\s:]+:[\w.-]+", (work / "workloads" / key / "score.yaml").read_text()):
            return key
    raise UsageError("the demo needs a workload with a tagged image in the template")


def _bump(tag: str) -> str:
    match = re.search(r"(\d+)(?!.*\d)", tag)
    if not match:
        return tag + "-1"
    return tag[: match.start()] + str(int(match.group(1)) + 1) + tag[match.end() :]


def _upgrade_postgres(work: Path) -> tuple[list[Path], str, str]:
    """Bump the in-cluster image (development, staging) and move production to the managed cluster of the new
    major version: one change that reaches every environment, so the waves show."""
    for path in sorted((work / "definitions" / "postgres").glob("*.yaml")):
        text = path.read_text()
        match = re.search(r"postgres:(\d+)(\.\d+)?", text)
        if match:
            old = match.group(0).split(":", 1)[1]
            major = int(match.group(1)) + 1
            new = f"{major}{'.0' if match.group(2) else ''}"
            path.write_text(
                text.replace(f"postgres:{old}", f"postgres:{new}").replace(
                    f"PostgreSQL {old}", f"PostgreSQL {new}"
                )
            )
            edited = [path]
            managed = work / "definitions" / "postgres" / "postgres-managed.yaml"
            if managed.is_file() and "host: platform-postgres.cluster" in managed.read_text():
                managed.write_text(
                    managed.read_text()
                    .replace("host: platform-postgres.cluster", f"host: platform-postgres-{major}.cluster")
                    .replace(f"PostgreSQL {old}", f"PostgreSQL {new}")
                )
                edited.append(managed)
            return edited, old, new
    raise UsageError(
        "the demo expected a definition with a postgres:<version> image under definitions/postgres/"
    )

"""`gitops-engine demo [DIR]`: the whole flow on the bundled template, on this machine, in under a minute.

A bare repository plays the hosted remote and the local forge keeps pull requests beside it. The demo plays the
three roles in turn — a developer, the infra team, a team reviewing its pull request — and runs the processor after
each push, as CI would.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from gitops_engine.commands.init import create_platform_repo
from gitops_engine.errors import UsageError
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import Git, default_identity
from gitops_engine.publishing.report import RunReport
from gitops_engine.reconcile import process as process_repo

DEVELOPER = ("Dana Developer", "dana@example.com")
INFRA = ("Ian Infra", "ian@example.com")
REVIEWER = ("Rita Reviewer", "rita@example.com")


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


def demo(directory: Path | None, out: TextIO | None = None) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    root = (directory or Path(tempfile.mkdtemp(prefix="gitops-engine-demo-"))).absolute()
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root} is not empty: give a new or empty directory")
    root.mkdir(parents=True, exist_ok=True)
    story = _Story(out)
    out.write(f"gitops-engine demo in {root}\n")

    story.heading("Create the platform repo from the bundled template, with a bare repository as its remote")
    work = root / "platform"
    remote = root / "remote.git"
    create_platform_repo(work)
    _git(root, "clone", "--quiet", "--bare", str(work), str(remote))
    _git(work, "remote", "add", "origin", str(remote))
    _git(work, "fetch", "--quiet", "origin")
    _git(work, "branch", "--quiet", "--set-upstream-to=origin/main", "main")
    git = Git(work)
    units = len(git.ls_tree("HEAD", ["rendered/"]))
    workloads = sorted({"/".join(p.split("/")[1:3]) for p in git.ls_tree("HEAD", ["workloads/"])})
    story.say(f"{len(workloads)} workloads, {units} rendered files committed on main in the first commit")
    story.say(f"work tree: {work}")
    forge = LocalForge.for_checkout(work)
    report = _process(work, forge)
    story.say(f"processor on main: {_summary(report)}")

    story.heading("A developer changes a workload and merges it")
    target = _pick_workload(work, workloads)
    score = work / "workloads" / target / "score.yaml"
    text = score.read_text()
    new_text, count = re.subn(
        r"(image: [^\s:]+:)([\w.-]+)", lambda m: m.group(1) + _bump(m.group(2)), text, count=1
    )
    if not count:
        raise UsageError(f"the demo expected an image tag in {score}")
    score.write_text(new_text)
    _commit(work, DEVELOPER, f"{target}: new release", [str(score.relative_to(work))])
    report = _process(work, forge)
    story.say(f"edited {score.relative_to(work)} (image tag), pushed to main")
    story.say(f"processor: {_summary(report)}")
    if report.committed:
        changed = git.run("diff", "--name-only", f"{report.committed}^", report.committed).split()
        story.say(
            f"commit {report.committed[:12]} touches only {target}'s rendered files: {len(changed)} file(s)"
        )
        for path in changed[:6]:
            story.say(f"  {path}")

    story.heading("The infra team switches on three waves and one pull request per team")
    changed = _switch_on_waves(work)
    _commit(work, INFRA, "Roll out in three waves, one pull request per team", changed)
    report = _process(work, forge)
    story.say(
        "development: direct; staging: automerge; production: pull-request after staging; groupBy: team"
    )
    story.say(f"processor: {_summary(report)}")

    story.heading(
        "The infra team upgrades PostgreSQL everywhere: the in-cluster image and the managed cluster"
    )
    edited, old, new = _upgrade_postgres(work)
    definition = edited[0]
    _commit(work, INFRA, f"Upgrade PostgreSQL {old} -> {new}", [str(p.relative_to(work)) for p in edited])
    report = _process(work, forge)
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
    _show_dashboard(story, forge)

    story.heading(
        "The next run merges the auto-merge pull requests: staging is live, production's wave opens"
    )
    report = _process(work, forge)
    story.say(f"processor: {_summary(report)}")
    for pull in report.merged:
        story.say(f"  merged #{pull.number} ({pull.branch})")
    _say_opened(story, report)
    _show_dashboard(story, forge)

    story.heading("Running the processor again changes nothing")
    writes_before = forge.stats.writes
    head_before = _git(work, "ls-remote", str(remote)).strip()
    report = _process(work, forge)
    unchanged = (
        _git(work, "ls-remote", str(remote)).strip() == head_before and forge.stats.writes == writes_before
    )
    story.say(
        f"processor: {_summary(report)} ({'no commit, no push, no pull-request write' if unchanged else 'CHANGED'})"
    )

    waiting = [p for p in forge.list_pull_requests("open") if p.branch.startswith("gitops-engine/")]
    if waiting:
        pull = min(waiting, key=lambda p: p.number)
        story.heading(f"A team merges its pull request #{pull.number}")
        reviewer = root / "team-clone"
        _git(root, "clone", "--quiet", str(remote), str(reviewer))
        _git(reviewer, "fetch", "--quiet", "origin", pull.branch)
        _git(
            reviewer,
            "-c",
            f"user.name={REVIEWER[0]}",
            "-c",
            f"user.email={REVIEWER[1]}",
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            f"Merge pull request #{pull.number} from {pull.branch}",
            "FETCH_HEAD",
        )
        _git(reviewer, "push", "--quiet", "origin", "main")
        report = _process(work, forge)
        story.say(f"processor: {_summary(report)}")
        states = {p.number: p.state for p in forge.list_pull_requests("all")}
        story.say(
            f"#{pull.number} is now {states.get(pull.number)}; the other pull requests stay open for their teams"
        )
        _show_dashboard(story, forge)

    story.heading("Where to look")
    story.say(f"the demo's folder:    {root} (remove it with: rm -rf {shlex.quote(str(root))})")
    story.say(f"rendered manifests:   {work / 'rendered'}")
    story.say(f"pull requests (JSON): {remote / 'gitops-engine' / 'pulls'}")
    engine = engine_command()
    story.say(
        f"try: cd {shlex.quote(str(work))} && {engine} pulls --state all && {engine} usage {definition.stem}"
    )
    out.write(f"\ndone in {time.monotonic() - story.started:.1f} s\n")
    return 0


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


def _process(work: Path, forge: LocalForge) -> RunReport:
    report = process_repo(work, forge, default_identity())
    _git(work, "pull", "--quiet", "--ff-only", "origin", "main")
    return report


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


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"demo: git {' '.join(args[:2])} failed: {proc.stderr.strip()}")
    return proc.stdout


def _commit(work: Path, who: tuple[str, str], message: str, paths: list[str]) -> None:
    _git(work, "add", "--", *paths)
    _git(work, "-c", f"user.name={who[0]}", "-c", f"user.email={who[1]}", "commit", "--quiet", "-m", message)
    _git(work, "push", "--quiet", "origin", "main")


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

"""The command line: options in, one call, an exit code out. Errors become `Error: …` here and only here."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from gitops_engine import __version__
from gitops_engine.errors import GitopsError, InputError

F = TypeVar("F", bound=Callable[..., Any])


def _repo_option(func: F) -> F:
    return click.option(
        "--repo",
        "repo",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default="the current directory",
        help="The platform repo (a git work tree).",
    )(func)


def _forge_option(func: F) -> F:
    return click.option(
        "--forge",
        type=click.Choice(["local", "github"]),
        default=None,
        help="Overrides the forge named in platform.yaml.",
    )(func)


def _format_option(default: str, **values: str) -> Callable[[F], F]:
    """`--format`, each value described in --help."""
    described = "; ".join(f"{name}: {what}" for name, what in values.items())
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(values)),
        default=default,
        show_default=True,
        help=f"Output format. {described}.",
    )


def _handled(func: Callable[..., int]) -> Callable[..., None]:
    """Run a command; map engine errors to messages and exit codes (0 ok, 1 findings, 2 usage/environment)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = func(*args, **kwargs)
        except GitopsError as exc:
            code = report_error(exc)
        sys.exit(code)

    return wrapper


def report_error(error: GitopsError) -> int:
    """Print an engine error as `Error: …` lines (one per finding of an InputError); its exit code."""
    if isinstance(error, InputError):
        for finding in error.findings:
            click.echo(f"Error: {finding}", err=True)
    else:
        click.echo(f"Error: {error}", err=True)
    return error.exit_code


def exit_as_click_would(error: BaseException) -> NoReturn:
    """End a run of the fast path (gitops_engine.entry) whose command raised `error` (an interrupt, end of input,
    an OSError) as click's standalone mode ends a command that raises it: `Aborted!` and exit 1 for an interrupt,
    exit 1 for a closed pipe, the traceback for anything else. It is raised from inside a click command."""

    @click.command()
    def raising() -> None:
        raise error

    raising.main(args=[], prog_name="gitops-engine")
    raise AssertionError("click's main always exits")  # pragma: no cover


def _toplevel(repo: Path) -> Path:
    from gitops_engine.git import find_toplevel

    return find_toplevel(repo)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="gitops-engine")
def main() -> None:
    """A platform orchestrator that lives in git.

    Turns Score workloads and resource definitions into rendered Kubernetes manifests per environment, commits
    them, and opens one pull request per workload affected by a definition change.

    \b
    Start here:
      gitops-engine demo                      the whole flow on this machine, in a temporary folder
      gitops-engine init my-platform          a platform repo of your own
      cd my-platform && gitops-engine validate

    Exit codes: 0 success, 1 findings (invalid input, stale `render --check`, a unit that failed), 2 usage or
    environment errors. `gitops-engine COMMAND --help` shows each command's options and examples.
    """
    from gitops_engine.yamlio import warn_if_slow

    warn_if_slow()


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--bare", is_flag=True, help="Environments and definitions only, without the sample workloads.")
@_handled
def init(directory: Path, bare: bool) -> int:
    """Create a platform repo in DIRECTORY from the bundled template (git init, first commit on main).

    \b
    Examples:
      gitops-engine init my-platform && cd my-platform && gitops-engine validate
      gitops-engine init --bare my-platform
    """
    from gitops_engine.commands.init import init as run

    return run(directory, bare=bare)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@_handled
def demo(directory: Path | None) -> int:
    """Run the whole flow on the bundled template with a local bare remote and the local forge.

    DIRECTORY (new or empty) holds the demo; without it, a temporary folder is used. Nothing else is touched.

    \b
    Examples:
      gitops-engine demo
      gitops-engine demo /tmp/gitops-demo
    """
    from gitops_engine.commands.demo import demo as run

    return run(directory)


@main.command()
@_repo_option
@_format_option(
    "text",
    text="one line per problem, file:line:column first",
    json="one JSON document with every finding (for tools)",
    github="text plus GitHub Actions annotations and a job summary",
    sarif="SARIF 2.1.0, one result per finding (for GitHub code scanning)",
)
@click.option(
    "--base",
    default=None,
    help="Check only what the commits since BASE change (a pull request's check); default: everything.",
)
@click.option("--head", default="HEAD", show_default=True, help="With --base: the commit after the change.")
@_handled
def validate(repo: Path, output_format: str, base: str | None, head: str) -> int:
    """Check every workload, definition and environment; report all problems with file:line:column.

    With --base, only the workloads the commit range reaches are rendered (as `affected` finds them), against
    the rendered/ of BASE; the files it changes and the CODEOWNERS lines of the teams it touches are checked.

    \b
    Examples:
      gitops-engine validate
      gitops-engine validate --format json | jq '.findings[].message'
      gitops-engine validate --base origin/main
    """
    from gitops_engine.commands.validate import validate as run

    return run(_toplevel(repo), output_format, base=base, head=head)


@main.command()
@_repo_option
@click.option(
    "--env", "environments", multiple=True, metavar="ENV", help="Only this environment (repeatable)."
)
@click.option(
    "--workload", "workloads", multiple=True, metavar="TEAM/NAME", help="Only this workload (repeatable)."
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing stale, missing or extra files.")
@click.option(
    "--keep-going",
    is_flag=True,
    help="Render the valid units even when others fail (they are left as they are).",
)
@_forge_option
@_handled
def render(
    repo: Path,
    environments: tuple[str, ...],
    workloads: tuple[str, ...],
    check: bool,
    keep_going: bool,
    forge: str | None,
) -> int:
    """Render rendered/<env>/<team>/<workload>/ from the work tree.

    With --check, write nothing: list stale, missing and extra files and exit 1 if any; differences waiting in
    an open engine pull request are reported as pending and do not fail the check.

    \b
    Examples:
      gitops-engine render
      gitops-engine render --env staging --workload payments/checkout-api
      gitops-engine render --check
    """
    from gitops_engine.commands.render import render as run

    return run(_toplevel(repo), environments, workloads, check=check, keep_going=keep_going, forge_name=forge)


@main.command()
@_repo_option
@click.argument("workload", metavar="TEAM/NAME")
@click.option("--env", "env", required=True, help="The environment (one of platform.yaml's environments).")
@_format_option(
    "mermaid",
    mermaid="a Mermaid flowchart (GitHub renders it in Markdown)",
    dot="Graphviz DOT (`dot -Tsvg`)",
)
@_handled
def graph(repo: Path, workload: str, env: str, output_format: str) -> int:
    """Print a workload's resources, their definitions and dependencies.

    \b
    Example:
      gitops-engine graph payments/checkout-api --env production --format dot | dot -Tsvg > checkout.svg
    """
    from gitops_engine.commands.graph import graph as run

    return run(_toplevel(repo), workload, env, output_format)


@main.command()
@_repo_option
@click.option("--base", required=True, help="The commit before the change.")
@click.option("--head", default="HEAD", show_default=True, help="The commit after the change.")
@_format_option(
    "text",
    text="one line per unit with its environments, then why",
    json="one JSON document (units, where each goes after merge, failures)",
    markdown="the preview comment",
)
@_handled
def affected(repo: Path, base: str, head: str, output_format: str) -> int:
    """List the workloads and environments whose rendered output merging a commit range changes, and why.

    It says what the processor will do after the merge: commit to main, or open a pull request.

    \b
    Examples:
      gitops-engine affected --base main
      gitops-engine affected --base origin/main --head my-branch --format json
    """
    from gitops_engine.commands.affected import affected as run

    return run(_toplevel(repo), base, head, output_format)


@main.command()
@_repo_option
@click.option("--base", required=True, help="The pull request's base commit.")
@click.option("--head", default="HEAD", show_default=True, help="The pull request's head commit.")
@click.option(
    "--comment", is_flag=True, help="Upsert the preview as a comment on the pull request (needs --forge)."
)
@click.option(
    "--pull-request",
    "pull_number",
    type=int,
    default=None,
    help="Pull request number (default: from the GitHub event).",
)
@_forge_option
@_handled
def preview(
    repo: Path, base: str, head: str, comment: bool, pull_number: int | None, forge: str | None
) -> int:
    """The pull-request comment: rendered diff per environment and the pull requests a merge will open.

    \b
    Examples:
      gitops-engine preview --base main
      gitops-engine preview --base "$BASE_SHA" --comment --pull-request 42 --forge github
    """
    from gitops_engine.commands.preview import preview as run

    return run(_toplevel(repo), base, head, comment=comment, pull_number=pull_number, forge_name=forge)


@main.command()
@_repo_option
@click.option(
    "--base",
    default=None,
    help="Narrow reasons to changes since this commit (the work is still decided from the repo).",
)
@click.option("--head", default=None, help="The commit to process (default: the remote's main).")
@click.option(
    "--full",
    is_flag=True,
    help="Check every unit, not only what changed since the engine's last complete run (after hand edits of "
    "rendered/ history, say).",
)
@_forge_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Say what would be committed and which pull requests opened; change nothing.",
)
@_handled
def process(
    repo: Path, base: str | None, head: str | None, full: bool, forge: str | None, dry_run: bool
) -> int:
    """Reconcile rendered/ on main: commit workload changes, open pull requests for definition changes.

    \b
    Examples:
      gitops-engine process --dry-run
      gitops-engine process --base "$BEFORE_SHA" --forge github
    """
    from gitops_engine.commands.process import process as run

    return run(_toplevel(repo), base=base, head=head, full=full, forge_name=forge, dry_run=dry_run)


@main.command()
@_repo_option
@_forge_option
@_format_option("text", text="the dashboard issue as people read it", json="its counts as one JSON object")
@_handled
def dashboard(repo: Path, forge: str | None, output_format: str) -> int:
    """Show the rollout dashboard: how far each definition change has rolled out, per environment.

    \b
    Example:
      gitops-engine dashboard --format json
    """
    from gitops_engine.commands.dashboard import dashboard as run

    return run(_toplevel(repo), forge, output_format)


@main.command()
@_repo_option
@_forge_option
@click.option(
    "--state",
    type=click.Choice(["open", "closed", "all"]),
    default="open",
    show_default=True,
    help="Which pull requests (closed includes merged ones).",
)
@_format_option(
    "text", text="one line per pull request: number, state, unit, title", json="one JSON list (for tools)"
)
@_handled
def pulls(repo: Path, forge: str | None, state: str, output_format: str) -> int:
    """List the engine's pull requests.

    \b
    Example:
      gitops-engine pulls --state all
    """
    from gitops_engine.commands.pulls import pulls as run

    return run(_toplevel(repo), forge, state, output_format)


@main.command()
@_repo_option
@click.argument("definition_id", required=False)
@_format_option(
    "text",
    text="per definition, its uses and who is behind",
    json="one JSON document (for tools)",
)
@_forge_option
@_handled
def usage(repo: Path, definition_id: str | None, output_format: str, forge: str | None) -> int:
    """Which workloads in which environments run which version of each definition, and which are behind.

    \b
    Examples:
      gitops-engine usage
      gitops-engine usage postgres-incluster --format json
    """
    from gitops_engine.commands.usage import usage as run

    return run(_toplevel(repo), definition_id, output_format, forge)


@main.command("set-image")
@_repo_option
@click.argument("workload", metavar="TEAM/NAME")
@click.argument("image")
@click.option("--container", default=None, help="The container (needed when the workload has several).")
@click.option("--env", "env", default=None, help="Pin it in overrides.<ENV>.yaml instead of score.yaml.")
@click.option(
    "--commit", is_flag=True, help="Commit the change (only that file) with a conventional message."
)
@_handled
def set_image(
    repo: Path, workload: str, image: str, container: str | None, env: str | None, commit: bool
) -> int:
    """Set a container's image in a workload's Score file, changing only that line (comments, quoting kept).

    \b
    Examples:
      gitops-engine set-image payments/checkout-api ghcr.io/example-org/checkout-api:1.4.2 --commit
      gitops-engine set-image catalog/product-api ghcr.io/example-org/product-api:2.3.7 --env production
    """
    from gitops_engine.commands.set_image import set_image as run

    return run(_toplevel(repo), workload, image, container=container, env=env, commit=commit)


@main.group()
def new() -> None:
    """Scaffolding: a new workload (a Score file that validates as written) or a new team (its CODEOWNERS line).

    \b
    Examples:
      gitops-engine new team sales --owner @example-org/sales
      gitops-engine new workload sales/crm --resource db=postgres
    """


@new.command("workload")
@_repo_option
@click.argument("workload", metavar="TEAM/NAME")
@click.option(
    "--resource",
    "resources",
    multiple=True,
    metavar="NAME=TYPE",
    help="A resource it needs, e.g. db=postgres (repeatable; TYPE must have definitions).",
)
@_handled
def new_workload(repo: Path, workload: str, resources: tuple[str, ...]) -> int:
    """Write workloads/TEAM/NAME/score.yaml: a commented Score file with the schema line.

    \b
    Example:
      gitops-engine new workload sales/crm --resource db=postgres --resource cache=redis
    """
    from gitops_engine.commands.new import new_workload as run

    return run(_toplevel(repo), workload, resources)


@new.command("team")
@_repo_option
@click.argument("team")
@click.option("--owner", required=True, metavar="@ORG/TEAM", help="Who reviews the team's workloads.")
@_handled
def new_team(repo: Path, team: str, owner: str) -> int:
    """Add `/workloads/TEAM/ OWNER` to CODEOWNERS (once: running it again changes nothing).

    \b
    Example:
      gitops-engine new team sales --owner @example-org/sales
    """
    from gitops_engine.commands.new import new_team as run

    return run(_toplevel(repo), team, owner)


@main.command()
@_repo_option
@click.option("--write", is_flag=True, help="Write or refresh them (default: only check).")
@_handled
def schemas(repo: Path, write: bool) -> int:
    """The JSON schemas editors read, in .gitops-engine/schemas/ (the template's $schema lines point there).

    \b
    Examples:
      gitops-engine schemas            exit 1 when a copy is missing or out of date
      gitops-engine schemas --write    after upgrading gitops-engine
    """
    from gitops_engine.commands.schemas import schemas as run

    return run(_toplevel(repo), write=write)

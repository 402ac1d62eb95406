"""gitops_engine.publishing.describe: the exact texts people read (pull requests, the preview comment, commit
messages), the one body limit and the one way to fence code they share."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_engine.errors import Finding
from gitops_engine.git import Git
from gitops_engine.plan import UnitPlan
from gitops_engine.publishing import describe
from gitops_engine.publishing.describe import BODY_LIMIT
from gitops_engine.render import RenderedUnit
from gitops_engine.rollout import PullGroup, read_marker

ZWSP = "\u200b"
FENCED = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cart\ndata:\n  note: |\n    ```\n    fenced\n    ```\n"
FENCED_DIFF = (
    "```diff\n"
    "--- /dev/null\n"
    "+++ b/rendered/development/shop/cart/manifest.yaml: ConfigMap cart\n"
    "@@ -0,0 +1,9 @@\n"
    "+apiVersion: v1\n"
    "+kind: ConfigMap\n"
    "+metadata:\n"
    "+  name: cart\n"
    "+data:\n"
    "+  note: |\n"
    f"+    `{ZWSP}``\n"
    "+    fenced\n"
    f"+    `{ZWSP}``\n"
    "```"
)


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    subprocess.run(["git", "init", "--quiet", str(tmp_path / "repo")], check=True)
    return Git(tmp_path / "repo")


def cart(
    manifest: bytes = FENCED, *, cause: str = "definitions", envs: tuple[str, ...] = ("development",)
) -> UnitPlan:
    return UnitPlan(
        unit="shop/cart",
        cause=cause,  # type: ignore[arg-type]
        reasons=["definitions/postgres/postgres-incluster.yaml changed"],
        writes={f"rendered/{env}/shop/cart/manifest.yaml": manifest for env in envs},
        object_envs=set(envs),
        order=envs,
    )


def test_fenced_breaks_every_fence_inside_so_the_block_ends_where_it_should() -> None:
    assert describe.fenced("diff", "+a\n+```\n") == f"```diff\n+a\n+`{ZWSP}``\n```"
    assert describe.fenced("mermaid", "graph LR\n") == "```mermaid\ngraph LR\n```"


def test_a_units_pull_request_body_word_for_word(repo: Git) -> None:
    assert describe.pull_body(repo, cart()) == (
        "<!-- gitops-engine:unit=shop/cart -->\n"
        "## shop/cart: rendered manifests change\n"
        "\n"
        "Resource definitions or environments changed on `main`, and this workload's rendered manifests "
        "change with them. Merging deploys the change; nothing else in your workload changes.\n"
        "\n"
        "### Environments\n"
        "\n"
        "| environment | changed | added | removed |\n"
        "|---|---|---|---|\n"
        "| development | 0 | 1 | 0 |\n"
        "\n"
        "### Why\n"
        "\n"
        "- definitions/postgres/postgres-incluster.yaml changed\n"
        "\n"
        "### Rendered diff\n"
        "\n"
        "**development**\n"
        "\n"
        f"{FENCED_DIFF}\n"
        "\n"
    )
    assert describe.pull_title(cart()) == "Update shop/cart: rendered manifests change"
    assert describe.pull_title(cart(cause="removed")) == "Remove rendered manifests of shop/cart"


def test_a_title_names_the_environments_whose_change_reaches_the_units() -> None:
    """No definition change: the environments whose file changed what rendering reads, in platform.yaml's order."""
    envs = ("development", "staging", "production")
    unit = cart(envs=envs)
    unit.reasons = ["environments/production.yaml changed", "environments/development.yaml changed"]
    assert describe.pull_title(unit) == "Update shop/cart: environments development, production changed"
    other = cart(envs=envs)
    other.reasons = ["environments/staging.yaml changed"]
    assert describe.pull_title(other) == "Update shop/cart: environment staging changed"
    team = PullGroup("gitops-engine/shop/_team", [unit, other], 1, True, "team", "shop")
    assert describe.group_title(team, active=True) == (
        "Update shop (2 workloads): environments development, staging, production changed [development, staging, "
        "production]"
    )


def test_a_body_without_diffs_points_at_the_branch(repo: Git) -> None:
    body = describe.pull_body(repo, cart(), diffs=False)
    assert body.endswith(
        "- definitions/postgres/postgres-incluster.yaml changed\n\n_The rendered diff is on the branch._\n"
    )
    assert "```" not in body


@dataclass
class Affected:
    unit: str
    environments: list[str]
    reasons: list[str]
    merge: str
    plan: UnitPlan


@dataclass
class Effect:
    units: list[Affected]
    provenance_only: list[str]
    findings: list[Finding]
    failed: list[str]


def test_the_preview_comment_word_for_word(repo: Git) -> None:
    effect = Effect(
        [Affected("shop/cart", ["development"], ["postgres changed"], "pull-request", cart())],
        provenance_only=["shop/orders"],
        findings=[],
        failed=["shop/broken"],
    )
    assert describe.preview_markdown(repo, effect) == (
        "<!-- gitops-engine:preview -->\n"
        "## gitops-engine preview\n"
        "\n"
        "Failing to render, so left as they are after merge: `shop/broken`.\n"
        "\n"
        "Provenance only (committed to main, nothing deploys): `shop/orders`.\n"
        "\n"
        "1 unit(s) change. After merge, the engine commits 0 to main and opens 1 pull request(s), one per "
        "workload, for their owners to review.\n"
        "\n"
        "| unit | environments | after merge |\n"
        "|---|---|---|\n"
        "| `shop/cart` | development | pull request `gitops-engine/shop/cart` |\n"
        "\n"
        "### `shop/cart`\n"
        "\n"
        "- postgres changed\n"
        "\n"
        "**development**\n"
        "\n"
        f"{FENCED_DIFF}\n"
        "\n"
    )
    nothing = describe.preview_markdown(repo, Effect([], [], [], []))
    assert (
        nothing
        == "<!-- gitops-engine:preview -->\n## gitops-engine preview\n\nNo rendered manifests change.\n"
    )


def huge(lines: int) -> bytes:
    data = "".join(f"  key{i}: value-{i}\n" for i in range(lines))
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cart\ndata:\n{data}".encode()


def test_bodies_and_preview_comments_stop_at_the_same_limit(repo: Git) -> None:
    unit = cart(huge(4_000), envs=("development", "staging"))
    body = describe.pull_body(repo, unit)
    assert len(body) <= BODY_LIMIT
    assert body.endswith(
        "\n_The diff for development and later environments is too long to show here: see the branch._\n"
    )
    effect = Effect([Affected("shop/cart", ["development", "staging"], [], "pull-request", unit)], [], [], [])
    comment = describe.preview_markdown(repo, effect)
    assert len(comment) <= BODY_LIMIT
    assert comment.endswith(
        "\n_Further diffs are too long for one comment: run `gitops-engine preview` locally._\n"
    )
    # Under the limit, long diffs fold: over 40 lines in a pull request, over 30 in a preview comment.
    folded = cart(huge(30))
    assert "<details><summary>development: 38 lines</summary>" not in describe.pull_body(repo, folded)
    short = Effect([Affected("shop/cart", ["development"], [], "pull-request", folded)], [], [], [])
    assert "<details><summary>development: 38 lines</summary>\n\n```diff\n" in describe.preview_markdown(
        repo, short
    )


def test_commit_messages_and_a_teams_group(repo: Git) -> None:
    unit = cart()
    assert describe.main_commit_message([unit], ["Gitops-Engine-Source: abc", "Gitops-Engine-Render: 9"]) == (
        "Render shop/cart\n\n- shop/cart (provenance only; development)\n\nGitops-Engine-Source: abc\n"
        "Gitops-Engine-Render: 9\n"
    )
    two = [
        unit,
        UnitPlan(
            "shop/orders", "workload", ["score changed"], writes={"rendered/staging/shop/orders/x": b""}
        ),
    ]
    assert describe.main_commit_message(two, []) == (
        "Render 2 units\n\n- shop/cart (provenance only; development)\n- shop/orders (workload changed; staging)\n\n"
    )
    single = PullGroup("gitops-engine/shop/cart", [unit], 1, False, "workload", "shop")
    assert describe.group_message(single) == (
        "Update shop/cart: rendered manifests change\n\n- definitions/postgres/postgres-incluster.yaml changed\n"
    )
    team = PullGroup("gitops-engine/shop/_team", [unit, unit], 2, True, "team", "shop")
    assert describe.group_title(team, active=True) == (
        "Update shop (2 workloads): rendered manifests change [development]"
    )
    assert describe.group_message(team) == (
        "Update shop (2 workloads): rendered manifests change [development]\n\n- shop/cart\n- shop/cart\n"
    )
    marker = describe.rollout_marker(team, {"definitions/postgres/a.yaml": "v--2"})
    assert marker == (
        '<!-- gitops-engine:rollout {"automerge":true,"environments":["development"],"group":"team",'
        '"units":["shop/cart","shop/cart"],"versions":{"definitions/postgres/a.yaml":"v-\\u002d2"},"wave":2} -->'
    )
    read = read_marker(f"head\n{marker}\n", team.branch)
    assert read is not None and read.units == ("shop/cart", "shop/cart") and read.wave == 2
    assert read.versions == {"definitions/postgres/a.yaml": "v--2"}


def test_the_human_commits_comment_and_the_close_comment() -> None:
    assert describe.human_commits_comment("gitops-engine/shop/cart") == (
        "<!-- gitops-engine:human-commits -->\ngitops-engine has a newer rendering for this workload but did not "
        "update `gitops-engine/shop/cart`: it has commits by someone else, and the engine never force-pushes over "
        "them. Merge or close this pull request, or delete the branch, and the next run will open a fresh one."
    )
    assert describe.close_comment("Superseded.") == "Superseded. Closed by gitops-engine."
    assert describe.closing_reason(["shop/cart"], "abc123") == (
        "Superseded: `shop/cart` was re-rendered on main by abc123."
    )
    assert describe.closing_reason(["shop/cart"], None) == (
        "`main` already contains this change for `shop/cart`: nothing left to merge."
    )
    assert describe.closing_reason(["shop/cart", "shop/orders"], None) == (
        "`main` already contains these changes for 2 units, or they moved to another pull request: nothing left "
        "to merge here."
    )


def test_a_units_resources_as_mermaid_in_its_body(repo: Git) -> None:
    rendered = RenderedUnit(
        "shop/cart",
        "development",
        {},
        {
            "resources": [
                {
                    "name": "cart",
                    "type": "workload",
                    "shared": False,
                    "definition": "w",
                    "version": "1",
                    "depends_on": [],
                },
                {
                    "name": "db",
                    "type": "postgres",
                    "shared": False,
                    "definition": "pg",
                    "version": "2",
                    "depends_on": [],
                },
                {
                    "name": "dns",
                    "type": "dns",
                    "shared": True,
                    "definition": "d",
                    "version": "3",
                    "depends_on": ["db"],
                },
            ]
        },
    )
    unit = cart()
    unit.rendered = {"development": rendered}
    graph = (
        "graph LR\n"
        '  w["shop/cart (development)"]\n'
        '  r0["db: postgres<br/><small>pg@2</small>"]\n'
        '  r1["dns: dns shared<br/><small>d@3</small>"]\n'
        "  w --> r0\n"
        "  w --> r1\n"
        "  r1 --> r0\n"
    )
    assert describe.to_mermaid(rendered) == graph
    assert f"\n### Resources\n\n```mermaid\n{graph}```\n\n### Rendered diff\n" in describe.pull_body(
        repo, unit
    )

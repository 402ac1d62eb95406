"""gitops_engine.forge.local, the forge beside a local bare remote: pull requests as JSON records that follow their
branches the way GitHub follows pushes (open, merged once the head is in the base, closed when the branch is
deleted unmerged), idempotent writes, comments, auto-merge when the next run calls `merge_ready`, labels,
reviewers, and the dashboard issue. (The forge contract both forges share is in test_forge_rollout.py.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from testing.fakegithub import commit_files, make_bare_repo, merge_into
from testing.repos import git

from gitops_engine.errors import ForgeError, UsageError
from gitops_engine.forge import PullRequestDraft
from gitops_engine.forge.local import MERGER, LocalForge

BRANCH = "gitops-engine/shop/orders"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_bare_repo(tmp_path / "remote.git", files={"rendered/a.yaml": "a: 1\n"})


def push(remote: Path, branch: str = BRANCH, content: str = "a: 2\n", parent: str = "main") -> str:
    return commit_files(
        remote, branch, {"rendered/a.yaml": content}, message=f"Render {branch}", parent=parent
    )


def draft(**fields: Any) -> PullRequestDraft:
    values: dict[str, Any] = {"branch": BRANCH, "base": "main", "title": "Render shop/orders", "body": "body"}
    return PullRequestDraft(**{**values, **fields})


def record(remote: Path, number: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((remote / "gitops-engine" / "pulls" / f"{number}.json").read_text())
    return data


def rev(remote: Path, name: str) -> str:
    return git(remote, "rev-parse", name).strip()


def states(forge: LocalForge) -> list[tuple[int, str]]:
    return [(p.number, p.state) for p in forge.list_pull_requests("all")]


# ---------------------------------------------------------------------------------------------------------------
# Opening, and opening again


def test_a_pull_request_is_one_json_record_beside_the_remote(remote: Path) -> None:
    head = push(remote)
    forge = LocalForge(remote)
    pull = forge.create_pull_request(draft(labels=("rendered", "gitops-engine"), reviewers=("shop-team",)))

    assert (pull.number, pull.state, pull.branch, pull.base) == (1, "open", BRANCH, "main")
    assert (pull.labels, pull.reviewers, pull.automerge) == (
        ("gitops-engine", "rendered"),
        ("shop-team",),
        False,
    )
    assert pull.url == f"file://{remote / 'gitops-engine' / 'pulls' / '1.json'}"
    assert record(remote, 1) == {
        "number": 1,
        "branch": BRANCH,
        "base": "main",
        "state": "open",
        "title": "Render shop/orders",
        "body": "body",
        "labels": ["gitops-engine", "rendered"],
        "reviewers": ["shop-team"],
        "comments": [],
        "head_sha": head,
    }
    assert (remote / "gitops-engine" / "branches.log").read_text() == "1 gitops-engine/shop/orders\n"
    assert forge.stats.writes == 1
    assert forge.find_pull_requests(BRANCH) == [pull]
    assert forge.find_pull_requests("gitops-engine/shop/cart") == []


def test_opening_again_updates_the_open_one_and_adds_labels_and_reviewers(remote: Path) -> None:
    push(remote)
    forge = LocalForge(remote)
    forge.create_pull_request(draft(labels=("a",), reviewers=("x",)))
    again = forge.create_pull_request(draft(title="New title", labels=("b",), reviewers=("y",)))

    assert (again.number, again.title, again.labels, again.reviewers) == (
        1,
        "New title",
        ("a", "b"),
        ("x", "y"),
    )
    assert states(forge) == [(1, "open")]
    assert forge.stats.writes == 2


def test_the_same_draft_again_writes_nothing(remote: Path) -> None:
    push(remote)
    LocalForge(remote).create_pull_request(draft(labels=("a",)))
    before = (remote / "gitops-engine" / "pulls" / "1.json").read_bytes()

    forge = LocalForge(remote)
    forge.create_pull_request(draft(labels=("a",)))
    forge.update_pull_request(1, draft())  # labels are only ever added

    assert forge.stats.writes == 0
    assert (remote / "gitops-engine" / "pulls" / "1.json").read_bytes() == before


def test_numbers_count_up_across_clients(remote: Path) -> None:
    for team in ("a", "b", "c"):
        push(remote, f"gitops-engine/{team}/w")
        LocalForge(remote).create_pull_request(draft(branch=f"gitops-engine/{team}/w"))
    assert states(LocalForge(remote)) == [(1, "open"), (2, "open"), (3, "open")]


def test_an_unknown_number_is_an_error(remote: Path) -> None:
    with pytest.raises(ForgeError) as failure:
        LocalForge(remote).update_pull_request(7, draft())
    assert str(failure.value) == f"local pull request #7 does not exist in {remote / 'gitops-engine'}"


# ---------------------------------------------------------------------------------------------------------------
# State follows the branch


def test_the_head_follows_pushes_to_the_branch(remote: Path) -> None:
    push(remote)
    forge = LocalForge(remote)
    forge.create_pull_request(draft())
    newer = push(remote, content="a: 3\n", parent=BRANCH)

    assert states(forge) == [(1, "open")]
    assert record(remote, 1)["head_sha"] == newer


def test_merged_with_git_is_merged_and_reading_again_writes_nothing(remote: Path) -> None:
    push(remote)
    LocalForge(remote).create_pull_request(draft())
    merge_into(remote, BRANCH)

    assert states(LocalForge(remote)) == [(1, "merged")]
    before = (remote / "gitops-engine" / "pulls" / "1.json").read_bytes()
    forge = LocalForge(remote)
    assert [p.state for p in forge.find_pull_requests(BRANCH)] == ["merged"]
    assert (remote / "gitops-engine" / "pulls" / "1.json").read_bytes() == before


def test_a_branch_deleted_unmerged_closes_its_pull_request_and_a_new_one_gets_a_new_number(
    remote: Path,
) -> None:
    push(remote)
    forge = LocalForge(remote)
    forge.create_pull_request(draft())
    git(remote, "update-ref", "-d", f"refs/heads/{BRANCH}")

    assert states(forge) == [(1, "closed")]
    assert forge.list_pull_requests("open") == []
    assert [p.number for p in forge.list_pull_requests("closed")] == [1]

    push(remote)
    assert forge.create_pull_request(draft()).number == 2
    assert [(p.number, p.state) for p in forge.find_pull_requests(BRANCH)] == [(2, "open"), (1, "closed")]


def test_closing_comments_once_and_closing_again_does_nothing(remote: Path) -> None:
    push(remote)
    forge = LocalForge(remote)
    forge.create_pull_request(draft())
    forge.close_pull_request(1, "Superseded by main.")
    forge.close_pull_request(1, "Superseded by main.")

    assert states(forge) == [(1, "closed")]
    assert forge.comments(1) == ["Superseded by main."]
    assert forge.stats.writes == 1 + 2  # opened; closed with a comment (two requests on GitHub)


def test_a_comment_with_a_marker_is_edited_in_place(remote: Path) -> None:
    push(remote)
    forge = LocalForge(remote)
    forge.create_pull_request(draft())
    forge.upsert_comment(1, "<!-- m -->", "<!-- m --> first")
    forge.upsert_comment(1, "<!-- other -->", "<!-- other --> x")
    forge.upsert_comment(1, "<!-- m -->", "<!-- m --> second")
    forge.upsert_comment(1, "<!-- m -->", "<!-- m --> second")

    assert forge.comments(1) == ["<!-- m --> second", "<!-- other --> x"]
    assert forge.stats.writes == 1 + 3


# ---------------------------------------------------------------------------------------------------------------
# Auto-merge: merged when the next run calls merge_ready


def test_an_automerge_pull_request_is_squashed_into_main_by_the_next_run(remote: Path) -> None:
    head = push(remote)
    push(remote, "gitops-engine/shop/cart")
    LocalForge(remote).create_pull_request(draft(automerge="squash"))
    LocalForge(remote).create_pull_request(draft(branch="gitops-engine/shop/cart"))
    main_before = rev(remote, "main")

    forge = LocalForge(remote)  # the next run
    merged = forge.merge_ready()

    assert [(p.number, p.state) for p in merged] == [(1, "merged")]
    assert states(forge) == [(1, "merged"), (2, "open")]
    main = rev(remote, "main")
    assert git(remote, "log", "-1", "--format=%P%n%an <%ae>%n%B", "main") == (
        f"{main_before}\n{MERGER.name} <{MERGER.email}>\nRender shop/orders (#1)\n\n"
    )
    assert rev(remote, "main^{tree}") == rev(remote, f"{head}^{{tree}}")
    assert record(remote, 1)["merge_commit"] == main
    assert LocalForge(remote).merge_ready() == []
    assert rev(remote, "main") == main


def test_automerge_can_be_enabled_later_and_only_once(remote: Path) -> None:
    push(remote)
    forge = LocalForge(remote)
    forge.create_pull_request(draft())
    assert forge.enable_automerge(1, "merge").automerge is True
    forge.enable_automerge(1, "merge")

    assert forge.stats.writes == 2
    assert (remote / "gitops-engine" / "automerge").read_text() == "1\n"
    forge.merge_ready()
    assert git(remote, "log", "-1", "--format=%s%n%b", "main") == (
        f"Merge pull request #1 from {BRANCH}\nRender shop/orders\n\n"
    )
    assert git(remote, "rev-list", "--parents", "-1", "main").count(" ") == 2  # a merge commit
    assert (remote / "gitops-engine" / "automerge").read_text() == ""


# ---------------------------------------------------------------------------------------------------------------
# Issues (the rollout dashboard)


def test_an_issue_is_found_by_its_marker_and_edited_in_place(remote: Path) -> None:
    forge = LocalForge(remote)
    assert forge.find_issue("<!-- dash -->") is None
    first = forge.upsert_issue("<!-- dash -->", "Rollouts", "<!-- dash --> 1", labels=("gitops-engine",))
    same = forge.upsert_issue("<!-- dash -->", "Rollouts", "<!-- dash --> 1", labels=("gitops-engine",))
    edited = forge.upsert_issue("<!-- dash -->", "Rollouts", "<!-- dash --> 2", labels=("gitops-engine",))

    assert (first.number, first.state, first.labels) == (1, "open", ("gitops-engine",))
    assert same == first
    assert (edited.number, edited.body) == (1, "<!-- dash --> 2")
    assert forge.stats.writes == 2
    assert forge.find_issue("<!-- dash -->", label="gitops-engine") == edited
    assert forge.find_issue("<!-- dash -->", label="other") is None


def test_an_issue_body_without_its_marker_is_refused(remote: Path) -> None:
    with pytest.raises(ForgeError) as failure:
        LocalForge(remote).upsert_issue("<!-- dash -->", "Rollouts", "no marker")
    assert str(failure.value) == "the body of issue 'Rollouts' must contain its marker '<!-- dash -->'"


# ---------------------------------------------------------------------------------------------------------------
# Which remote


def test_for_checkout_finds_the_bare_remote_behind_origin(remote: Path, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "--quiet", str(remote), str(checkout))
    assert LocalForge.for_checkout(checkout).remote == remote


def test_for_checkout_without_origin_or_with_a_hosted_origin_says_what_to_do(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    subprocess.run(["git", "init", "--quiet", str(checkout)], check=True)
    with pytest.raises(UsageError) as failure:
        LocalForge.for_checkout(checkout)
    assert (
        str(failure.value)
        == f"{checkout} has no 'origin' remote: the local forge keeps pull requests beside it"
    )

    git(checkout, "remote", "add", "origin", "https://github.com/o/r.git")
    with pytest.raises(UsageError) as failure:
        LocalForge.for_checkout(checkout)
    assert str(failure.value) == (
        "origin (https://github.com/o/r.git) is not a local bare repository: use --forge github for a hosted "
        "remote, or point origin at a bare repository on this machine"
    )

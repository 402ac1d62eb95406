"""gitops_engine.forge.localstore, the index by branch: one line appended to `branches.log` per pull request opened
(before its record is written), read incrementally by each client; index files of earlier versions still read."""

from __future__ import annotations

import os
from pathlib import Path

from testing.fakegithub import make_bare_repo

from gitops_engine.forge import PullRequestDraft
from gitops_engine.forge.local import LocalForge


def draft(branch: str) -> PullRequestDraft:
    return PullRequestDraft(branch=branch, base="main", title=f"Render {branch}", body="body")


def numbers(forge: LocalForge, branch: str) -> list[int]:
    return [p.number for p in forge.find_pull_requests(branch)]


def created_files(remote: Path) -> list[str]:
    store = remote / "gitops-engine"
    return sorted(str(Path(d, n).relative_to(store)) for d, _, names in os.walk(store) for n in names)


def test_opening_a_pull_request_creates_its_record_and_appends_one_line(tmp_path: Path) -> None:
    remote = make_bare_repo(tmp_path / "remote.git")
    forge = LocalForge(remote)
    for branch in ("gitops-engine/shop/orders", "gitops-engine/shop/cart", "gitops-engine/shop/orders"):
        forge.create_pull_request(
            draft(branch)
        )  # the second time: the open one is updated, nothing announced

    assert (remote / "gitops-engine" / "branches.log").read_text() == (
        "1 gitops-engine/shop/orders\n2 gitops-engine/shop/cart\n"
    )
    assert created_files(remote) == [".lock", "branches.log", "pulls/1.json", "pulls/2.json"]
    assert numbers(forge, "gitops-engine/shop/orders") == [1]
    assert numbers(LocalForge(remote), "gitops-engine/shop/cart") == [2]  # a new client reads the whole log


def test_a_client_sees_what_another_appended_since_it_last_read(tmp_path: Path) -> None:
    remote = make_bare_repo(tmp_path / "remote.git")
    first, second = LocalForge(remote), LocalForge(remote)
    first.create_pull_request(draft("gitops-engine/a/one"))
    assert numbers(second, "gitops-engine/a/one") == [1]

    second.create_pull_request(draft("gitops-engine/a/two"))
    first.create_pull_request(draft("gitops-engine/a/two"))  # finds #2: updates it rather than opening #3

    assert numbers(first, "gitops-engine/a/two") == [2]
    assert [(p.number, p.state) for p in first.list_pull_requests("all")] == [(1, "open"), (2, "open")]
    # The log replaced by a shorter one (a restored backup): read again whole, not from where it was.
    (remote / "gitops-engine" / "branches.log").write_text("2 gitops-engine/a/two\n")
    assert numbers(first, "gitops-engine/a/one") == []
    assert numbers(first, "gitops-engine/a/two") == [2]


def test_a_line_cut_short_by_a_killed_writer_is_skipped_and_the_next_starts_a_line_of_its_own(
    tmp_path: Path,
) -> None:
    """A writer killed in its append leaves part of a line and no record (the record is written after the line):
    the part names no pull request, and the next number is announced on a line of its own."""
    remote = make_bare_repo(tmp_path / "remote.git")
    forge = LocalForge(remote)
    forge.create_pull_request(draft("gitops-engine/shop/orders"))
    with open(remote / "gitops-engine" / "branches.log", "a") as log:
        log.write("2 gitops-engine/sh")  # cut short: #2's record was never written

    assert numbers(forge, "gitops-engine/sh") == []
    cart = forge.create_pull_request(draft("gitops-engine/shop/cart"))

    assert cart.number == 2
    assert (remote / "gitops-engine" / "branches.log").read_text() == (
        "1 gitops-engine/shop/orders\n2 gitops-engine/sh\n2 gitops-engine/shop/cart\n"
    )
    # The completed fragment names a branch whose record is another's: not claimed.
    again = LocalForge(remote)
    assert numbers(again, "gitops-engine/sh") == []
    assert numbers(again, "gitops-engine/shop/cart") == [2]
    assert numbers(again, "gitops-engine/shop/orders") == [1]


def test_a_temporary_name_taken_already_is_passed_over(tmp_path: Path) -> None:
    """Records are written to `.tmp-<process>-<count>` then renamed: a name a killed process of the same id left
    (after this client swept the store) is skipped, not overwritten."""
    remote = make_bare_repo(tmp_path / "remote.git")
    forge = LocalForge(remote)
    forge.create_pull_request(draft("gitops-engine/shop/orders"))  # the store swept; .tmp-<pid>-1 used
    left = remote / "gitops-engine" / "pulls" / f".tmp-{os.getpid()}-2"
    left.write_text("left by a killed writer\n")

    cart = forge.create_pull_request(draft("gitops-engine/shop/cart"))

    assert cart.number == 2 and numbers(forge, "gitops-engine/shop/cart") == [2]
    assert left.read_text() == "left by a killed writer\n"
    assert created_files(remote) == [
        ".lock",
        "branches.log",
        f"pulls/.tmp-{os.getpid()}-2",
        "pulls/1.json",
        "pulls/2.json",
    ]
    LocalForge(remote).list_pull_requests("all")  # a new client sweeps it
    assert not left.exists()

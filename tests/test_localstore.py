"""gitops_engine.forge.localstore: the local forge's records. A client opens the store's lock file once and keeps
it; when the store is removed under it, the next call locks the new store's file, never a deleted one that
another client could not see."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from testing.fakegithub import commit_files, make_bare_repo

from gitops_engine.forge import PullRequestDraft
from gitops_engine.forge.local import LocalForge
from gitops_engine.forge.localstore import LocalStore


def draft(branch: str) -> PullRequestDraft:
    return PullRequestDraft(branch=branch, base="main", title=f"Render {branch}", body="body")


def open_lock_files(store: Path) -> list[str]:
    """What this process's open descriptors on the store's lock file point to (a deleted file says so)."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the listing's own descriptor is gone by now
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
    return sorted(t for t in targets if t.startswith(str(store / ".lock")))


def test_a_client_locks_the_store_it_finds_even_after_the_store_was_removed(tmp_path: Path) -> None:
    remote = make_bare_repo(tmp_path / "remote.git", files={"rendered/a.yaml": "a: 1\n"})
    for branch in ("gitops-engine/a", "gitops-engine/b"):
        commit_files(remote, branch, {"rendered/a.yaml": f"{branch}\n"}, message=branch, parent="main")
    forge = LocalForge(remote)
    assert forge.create_pull_request(draft("gitops-engine/a")).number == 1
    assert open_lock_files(forge.store) == [str(forge.store / ".lock")]

    shutil.rmtree(forge.store)  # someone starts the local forge over
    assert forge.create_pull_request(draft("gitops-engine/b")).number == 1
    assert sorted(p.name for p in (forge.store / "pulls").iterdir()) == ["1.json"]
    assert (forge.store / ".lock").exists()
    assert [p.branch for p in LocalForge(remote).list_pull_requests("open")] == ["gitops-engine/b"]
    assert open_lock_files(forge.store) == [str(forge.store / ".lock")]  # the new one; the deleted one closed


def test_a_client_keeps_one_lock_file_open_and_closes_it_when_it_goes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = LocalStore(root)
    for _ in range(3):
        with store.locked():
            assert open_lock_files(root) == [str(root / ".lock")]  # one descriptor for every call
    assert open_lock_files(root) == [str(root / ".lock")]
    del store
    assert open_lock_files(root) == []

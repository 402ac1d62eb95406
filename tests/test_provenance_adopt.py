"""RenderedState.adopt_lock: a lock a worker process parsed from a folder's lock file becomes the state's (it is
not parsed again), the state's own is kept when it has one, and a lock made up where there is no lock file
changes nothing."""

from __future__ import annotations

import pickle
from pathlib import Path

from testing.repos import commit_all, git

from gitops_engine.git import Git
from gitops_engine.lock import Lock
from gitops_engine.provenance import RenderedState

API_LOCK = "rendered/development/team-a/api/gitops-engine.lock"


def worker_copy(lock: Lock) -> Lock:
    """What a worker process sends back: the lock pickled (packed) and unpickled."""
    copy = pickle.loads(pickle.dumps(lock))
    assert isinstance(copy, Lock)
    return copy


def test_a_workers_lock_becomes_the_states(platform_repo: Path) -> None:
    head = git(platform_repo, "rev-parse", "HEAD").strip()
    state = RenderedState(Git(platform_repo), head)
    parsed = Lock.parse((platform_repo / API_LOCK).read_bytes())
    assert parsed is not None and parsed.from_file
    copy = worker_copy(parsed)
    assert copy.from_file
    assert state.adopt_lock("development", "team-a/api", copy) is copy
    assert state.lock("development", "team-a/api") is copy
    assert dict(copy) == dict(parsed)
    other = worker_copy(parsed)
    assert state.adopt_lock("development", "team-a/api", other) is copy  # one copy is kept


def test_the_states_own_lock_is_kept(platform_repo: Path) -> None:
    head = git(platform_repo, "rev-parse", "HEAD").strip()
    state = RenderedState(Git(platform_repo), head)
    held = state.lock("development", "team-a/api")
    assert held is not None
    assert state.adopt_lock("development", "team-a/api", worker_copy(held)) is held


def test_a_made_up_lock_changes_nothing(platform_repo: Path) -> None:
    (platform_repo / API_LOCK).write_text("[1, 2]\n")  # a lock file that is not a lock
    head = commit_all(platform_repo, "break the lock")
    state = RenderedState(Git(platform_repo), head)
    made_up = Lock({})
    assert not made_up.from_file
    assert state.adopt_lock("development", "team-a/api", made_up) is made_up
    assert state.lock("development", "team-a/api") is None
    assert state.adopt_lock("development", "team-a/nothing-here", made_up) is made_up
    assert state.lock("development", "team-a/nothing-here") is None

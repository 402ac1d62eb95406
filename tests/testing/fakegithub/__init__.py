"""A stand-in GitHub REST API for the tests: `FakeGitHub` plus real bare git repositories to back it.

See `server.py` for the behaviour and the fault-injection methods, `openapi.py` for how requests are checked against
GitHub's published description, and `trim_openapi.py` for how the checked-in copy of that description is made.
"""

from __future__ import annotations

from .client import FakeClock, make_forge
from .gitrepo import commit_files, git, make_bare_repo, merge_into, point_branches
from .server import (
    PRIMARY_LIMIT_MESSAGE,
    SECONDARY_LIMIT_MESSAGE,
    Comment,
    FakeGitHub,
    Fault,
    Issue,
    RecordedRequest,
)

__all__ = [
    "PRIMARY_LIMIT_MESSAGE",
    "SECONDARY_LIMIT_MESSAGE",
    "Comment",
    "FakeClock",
    "FakeGitHub",
    "Fault",
    "Issue",
    "RecordedRequest",
    "commit_files",
    "git",
    "make_bare_repo",
    "make_forge",
    "merge_into",
    "point_branches",
]

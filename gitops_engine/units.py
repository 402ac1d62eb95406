"""A unit's identity: a workload (`team/workload`) or a shared resource (`_shared/<id>`).

A unit is what the engine renders into one folder per environment (`rendered/<env>/<unit>/`) and reviews in one
pull request (`gitops-engine/<unit>`). Its text form is the key everything else uses (folder names, branch names,
locks, reports), and units order exactly as their text does, so outputs sorted by unit stay as they were.

Checking names that become a path or a branch stays in `names` (the one place); `Unit.parse`, `folder` and
`branch` call it. `Unit(key)` itself does not check: units read back from a listing of rendered/ or a lock are
taken as they are found.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops_engine import names
from gitops_engine.names import SHARED_FOLDER

SHARED_PREFIX = SHARED_FOLDER + "/"

__all__ = ["SHARED_FOLDER", "SHARED_PREFIX", "Unit", "is_shared"]


@dataclass(frozen=True, order=True)
class Unit:
    """`key` is `team/workload` or `_shared/<id>`; units compare and sort as their keys do."""

    key: str

    @classmethod
    def parse(cls, text: str) -> Unit:
        """A unit from its text form, checked (names.InvalidName when it is not one)."""
        problem = names.unit_problem(text)
        if problem:
            raise names.InvalidName(problem)
        return cls(text)

    @classmethod
    def workload(cls, team: str, name: str) -> Unit:
        return cls(f"{team}/{name}")

    @classmethod
    def shared(cls, res_id: str) -> Unit:
        return cls(SHARED_PREFIX + res_id)

    @classmethod
    def of_path(cls, path: str) -> Unit | None:
        """The unit whose folder holds `path` (`rendered/<env>/<a>/<b>/...` or `workloads/<team>/<name>/...`)."""
        parts = path.split("/")
        if parts[0] == "rendered" and len(parts) >= 5:
            return cls(f"{parts[2]}/{parts[3]}")
        if parts[0] == "workloads" and len(parts) >= 4:
            return cls(f"{parts[1]}/{parts[2]}")
        return None

    def __str__(self) -> str:
        return self.key

    @property
    def is_shared(self) -> bool:
        return self.key.startswith(SHARED_PREFIX)

    @property
    def first(self) -> str:
        """The team, or `_shared` for a shared resource: the folder under rendered/<env>/."""
        return self.key.partition("/")[0]

    @property
    def name(self) -> str:
        """The workload's name, or the shared resource's id."""
        return self.key.partition("/")[2]

    @property
    def team(self) -> str | None:
        """The owning team of a workload; None for a shared resource."""
        return None if self.is_shared else self.first

    @property
    def source_folder(self) -> str | None:
        """`workloads/<team>/<name>/` of a workload; None for a shared resource."""
        return None if self.is_shared else f"workloads/{self.key}/"

    def folder(self, env: str) -> str:
        """`rendered/<env>/<unit>`, after checking both (names.InvalidName otherwise)."""
        return names.unit_folder(env, self.key)

    @property
    def branch(self) -> str:
        """The pull-request branch `gitops-engine/<unit>`, checked as git checks a ref (names.InvalidName)."""
        return names.branch_for(self.key)


def is_shared(unit: str) -> bool:
    """Whether a unit's text form names a shared resource (for code that holds units as text)."""
    return unit.startswith(SHARED_PREFIX)

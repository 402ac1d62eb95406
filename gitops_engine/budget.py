"""The forge's write budget across runs: `pullRequests.maxPerHour` content-creating requests in any 60 minutes.

GitHub allows about 500 content-creating requests an hour, whatever the number of runs that make them. Each run
therefore works out what the engine wrote in the last 60 minutes from a ledger that survives between runs: the ref
`refs/gitops-engine/budget` on origin, a commit whose tree holds one file, `ledger`, with a line
`<unix seconds> <writes>` per reservation (lines older than an hour are dropped when it is rewritten).

A run reserves before it spends: before a forge write, the writes it may need must be reserved in the ledger,
pushed with a lease (another run that reserved meanwhile makes the push fail: the ledger is read again and the
reservation retried). A run that ends settles its reservations into one line holding what it really wrote, so
unspent reservations go back to the budget. A run killed after reserving keeps its reservation: budget wasted
for an hour, never exceeded. The clock is injected, so tests go through hours in a blink.

A run that knows what it will write reserves it all at once, in the same atomic push as its branches
(`BudgetedForge.propose_ahead`, then `accept`): with thousands of branches on the remote, every push costs a
walk over them, so the ledger rides along instead of taking pushes of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from gitops_engine.errors import GitopsError, RateLimited
from gitops_engine.forge import Forge, ForgeStats, Issue, MergeMethod, PullRequest, PullRequestDraft
from gitops_engine.git import Git, Identity

BUDGET_REF = "refs/gitops-engine/budget"
LEDGER_FILE = "ledger"
WINDOW = 3600  # seconds: GitHub's budget is hourly
CHUNK = 50  # writes reserved at least at a time: one ledger push covers this many writes
# ... and at least three times what the run reserved so far: a run opening 1,200 pull requests pushes the ledger 4
# times, not 24 (each push costs 0.1-0.5 s against a remote with that many branches). What a run reserves and does
# not write goes back when it settles; a run killed meanwhile holds at most ~4x what it wrote, for an hour.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Entry:
    """One line of the ledger: `writes` reserved (or written) at `at` (unix seconds)."""

    at: int
    writes: int


@dataclass(frozen=True)
class Proposal:
    """A reservation written as a ledger commit but not pushed yet: pushed with a lease from `head` to `commit`
    (alone or with other refs), then `WriteBudget.accept`ed."""

    head: str | None  # origin's ledger the reservation starts from
    commit: str  # the ledger holding it
    entry: Entry  # the reservation's line
    before: list[Entry]  # the ledger at `head`
    entries: list[Entry]  # the ledger at `commit`

    @property
    def lease(self) -> tuple[str | None, str]:
        return (self.head, self.commit)


def parse_ledger(text: str) -> list[Entry]:
    """The ledger's lines; a line that is not two integers is skipped (a hand edit never blocks the engine)."""
    entries: list[Entry] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            entries.append(Entry(int(parts[0]), int(parts[1])))
    return entries


def format_ledger(entries: list[Entry]) -> str:
    return "".join(f"{e.at} {e.writes}\n" for e in sorted(entries, key=lambda e: (e.at, e.writes)))


def spent_within(entries: list[Entry], now: float) -> int:
    """Writes the ledger holds for the 60 minutes before `now`."""
    return sum(e.writes for e in entries if e.at > now - WINDOW)


class WriteBudget:
    """This run's share of `limit` writes an hour, reserved in origin's ledger as the run needs it."""

    def __init__(
        self,
        git: Git,
        limit: int,
        identity: Identity,
        *,
        clock: Callable[[], float] = time.time,
        remote: str = "origin",
    ) -> None:
        self.git = git
        self.limit = limit
        self.identity = identity
        self.clock = clock
        self.remote = remote
        self.reserved = 0  # reserved by this run in the ledger
        self._mine: list[Entry] = []  # the ledger lines this run wrote
        self._before: tuple[str | None, list[Entry]] | None = None  # the ledger before this run's first line
        self._known: tuple[str | None, list[Entry]] | None = None  # origin's ledger as this run last wrote it

    def available(self) -> int:
        """Writes the budget still allows now (what other runs and this one reserved is taken)."""
        _, entries = self._read()
        return max(0, self.limit - spent_within(entries, self.clock()))

    def propose(self, writes: int, *, fresh: bool = False) -> Proposal | None:
        """A reservation of up to `writes` (at least one) as a ledger commit for the caller to push with a lease;
        None when the hour's budget is spent. Starts from the ledger as this run last wrote it, or (`fresh`, or
        before its first write) origin's."""
        head, entries = self._read() if fresh or self._known is None else self._known
        now = int(self.clock())
        granted = min(writes, self.limit - spent_within(entries, now))
        if granted <= 0:
            return None
        entry = Entry(now, granted)
        kept = [*_recent(entries, now), entry]
        return Proposal(head, self._commit(kept), entry, entries, kept)

    def accept(self, proposal: Proposal) -> None:
        """The proposal's push went through: it is this run's reservation."""
        if self._before is None:
            self._before = (proposal.head, proposal.before)
        self._mine.append(proposal.entry)
        self.reserved += proposal.entry.writes
        self._known = (proposal.commit, proposal.entries)

    def reserve(self, writes: int) -> int:
        """Reserve up to `writes` (at least one) in the ledger; returns how many were granted (0: the hour's budget
        is spent). Retried on a lease failure (another run reserved meanwhile). After its first write, a run tries
        the ledger as it last wrote it (the lease says whether that is still so) before reading origin's again:
        each read costs a round trip to the remote."""
        fresh = self._known is None
        for _ in range(MAX_ATTEMPTS + 1):
            proposal = self.propose(writes, fresh=fresh)
            if proposal is None:
                if fresh:
                    return 0
                fresh = True  # another run may have given writes back since: look before saying no
                continue
            ok, _ = self.git.push_with_leases(self.remote, {BUDGET_REF: proposal.lease})
            if ok:
                self.accept(proposal)
                return proposal.entry.writes
            self._known = None
            fresh = True
        raise GitopsError(f"{BUDGET_REF} kept moving during {MAX_ATTEMPTS} attempts to reserve forge writes")

    def settle(self, spent: int) -> None:
        """Replace this run's reservations by one line for the `spent` writes it made, stamped now (no earlier
        than any of them), so what it reserved and did not spend goes back to the budget."""
        if not self._mine or spent >= self.reserved:
            return
        fresh = self._known is None
        for _ in range(MAX_ATTEMPTS):
            head, entries = self._read() if fresh or self._known is None else self._known
            fresh = True
            now = int(self.clock())
            kept = list(entries)
            for entry in self._mine:
                if entry in kept:
                    kept.remove(entry)
            settled = [Entry(now, spent)] if spent else []
            if (
                not spent
                and self._before is not None
                and sorted(kept, key=_key) == sorted(self._before[1], key=_key)
            ):
                # Nothing written and nobody else reserved: the ledger goes back to the very commit it was (a run
                # with nothing to write leaves every ref as it found it).
                ok, _ = self.git.push_with_leases(self.remote, {BUDGET_REF: (head, self._before[0])})
                if ok:
                    self._mine, self.reserved = [], 0
                    self._known = self._before
                    return
                continue
            if self._write(head, [*_recent(kept, now), *settled]):
                self._mine = settled
                self.reserved = spent
                return
        # Left as reserved: the budget is under-used for an hour, never exceeded.

    def _read(self) -> tuple[str | None, list[Entry]]:
        listed = self.git.remote_refs(self.remote, [BUDGET_REF])
        head = listed.get(BUDGET_REF)
        if head is None:
            return None, []
        if not self.git.ok("cat-file", "-e", f"{head}^{{commit}}"):
            self.git.fetch(self.remote, [f"+{BUDGET_REF}:{BUDGET_REF}"])
        data = self.git.try_read(f"{head}:{LEDGER_FILE}")
        return head, parse_ledger((data or b"").decode("utf-8", "replace"))

    def _write(self, head: str | None, entries: list[Entry]) -> bool:
        """Point origin's ledger at a commit holding `entries`, if it is still at `head`."""
        commit = self._commit(entries)
        ok, _ = self.git.push_with_leases(self.remote, {BUDGET_REF: (head, commit)})
        self._known = (commit, entries) if ok else None
        return ok

    def _commit(self, entries: list[Entry]) -> str:
        """A ledger commit holding `entries`: parentless each time, so the ref never grows a history."""
        blob = self.git.run("hash-object", "-w", "--stdin", input=format_ledger(entries).encode()).strip()
        tree = self.git.run("mktree", input=f"100644 blob {blob}\t{LEDGER_FILE}\n".encode()).strip()
        env = {
            "GIT_AUTHOR_NAME": self.identity.name,
            "GIT_AUTHOR_EMAIL": self.identity.email,
            "GIT_COMMITTER_NAME": self.identity.name,
            "GIT_COMMITTER_EMAIL": self.identity.email,
        }
        return self.git.run("commit-tree", tree, "-m", "gitops-engine write budget", env=env).strip()


def _key(entry: Entry) -> tuple[int, int]:
    return (entry.at, entry.writes)


def _recent(entries: list[Entry], now: float) -> list[Entry]:
    return [e for e in entries if e.at > now - WINDOW]


# -------------------------------------------------------------------------------------------------------------
# A forge that spends from the budget


class BudgetedForge:
    """`forge`, with every write covered by a reservation in the budget first: a write the budget cannot cover
    raises `RateLimited` before any request is made, and the publisher leaves the rest for a later run. Reads pass.
    What the run really wrote is measured by the forge's own count (`stats.writes`)."""

    def __init__(self, forge: Forge, budget: WriteBudget) -> None:
        self._forge = forge
        self.name = forge.name
        self.stats: ForgeStats = forge.stats  # the same record: the forge counts its own requests
        self.budget = budget
        self._start = forge.stats.writes

    def __getattr__(self, name: str) -> Any:  # anything a specific forge offers beyond the protocol
        return getattr(self._forge, name)

    @property
    def spent(self) -> int:
        return self._forge.stats.writes - self._start

    def propose_ahead(self, writes: int) -> Proposal | None:
        """A reservation of the `writes` the run expects to make beyond what it holds, for the caller to push
        with its own refs (then `accept` it); None when it holds enough or the budget is spent (each write then
        reserves as usual, and is refused when nothing is left)."""
        wanted = writes - (self.budget.reserved - self.spent)
        return self.budget.propose(wanted) if wanted > 0 else None

    def accept(self, proposal: Proposal) -> None:
        self.budget.accept(proposal)

    def _cover(self, writes: int) -> None:
        while self.budget.reserved - self.spent < writes:
            wanted = max(writes - (self.budget.reserved - self.spent), CHUNK, 3 * self.budget.reserved)
            if self.budget.reserve(wanted) == 0:
                raise RateLimited(
                    f"the forge write budget (pullRequests.maxPerHour: {self.budget.limit} an hour) is spent; "
                    "the rest is left for a later run"
                )

    # Reads pass through.
    def find_pull_requests(self, branch: str) -> list[PullRequest]:
        return self._forge.find_pull_requests(branch)

    def list_pull_requests(self, state: Literal["open", "closed", "all"]) -> list[PullRequest]:
        return self._forge.list_pull_requests(state)

    def find_issue(self, marker: str, *, label: str | None = None) -> Issue | None:
        return self._forge.find_issue(marker, label=label)

    def draft_writes(self, draft: PullRequestDraft) -> int:
        return self._forge.draft_writes(draft)

    def merge_ready(self) -> list[PullRequest]:
        """Only the local forge merges here (GitHub merges by itself): not a request against GitHub's budget."""
        return self._forge.merge_ready()

    def create_pull_request(self, draft: PullRequestDraft) -> PullRequest:
        self._cover(self._forge.draft_writes(draft))
        return self._forge.create_pull_request(draft)

    def update_pull_request(self, number: int, draft: PullRequestDraft) -> PullRequest:
        self._cover(self._forge.draft_writes(draft))
        return self._forge.update_pull_request(number, draft)

    def enable_automerge(self, number: int, method: MergeMethod) -> PullRequest:
        self._cover(1)
        return self._forge.enable_automerge(number, method)

    def close_pull_request(self, number: int, comment: str) -> None:
        self._cover(2)
        self._forge.close_pull_request(number, comment)

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        self._cover(1)
        self._forge.upsert_comment(number, marker, body)

    def upsert_issue(self, marker: str, title: str, body: str, *, labels: tuple[str, ...] = ()) -> Issue:
        self._cover(1)
        return self._forge.upsert_issue(marker, title, body, labels=labels)

    def settle(self) -> None:
        self.budget.settle(self.spent)

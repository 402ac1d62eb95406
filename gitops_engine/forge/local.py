"""The `local` forge: pull requests kept beside a local bare remote, so every clone sees the same ones.

Each pull request is one JSON file, `<bare repo>/gitops-engine/pulls/<number>.json`, written atomically under a
file lock, with an index by branch (one line appended per pull request) so that finding or opening one costs the
same with 10 or 10,000 of them.
Every write is one file written then renamed into place (or a line appended), so a process killed at any moment
leaves each file whole.

States follow GitHub, which watches every push: an open pull request's head follows its branch; it is `merged` once
that head is contained in the base branch (someone merged it with git), and `closed` when its branch is deleted
unmerged. The local forge sees pushes only when pull requests are read or updated, and records what it sees then.
The files themselves are `LocalStore`'s (forge/localstore.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Literal

from gitops_engine.errors import ForgeError, UsageError
from gitops_engine.forge import ForgeStats, Issue, MergeMethod, PullRequest, PullRequestDraft
from gitops_engine.forge.localstore import LocalStore
from gitops_engine.git import Git, Identity

# Who merges auto-merge pull requests on the local forge (GitHub's merges are committed by "GitHub").
MERGER = Identity("gitops-engine local forge", "local-forge@gitops-engine.invalid")


class LocalForge:
    name = "local"

    def __init__(self, remote: Path) -> None:
        self.remote = remote
        self.store = remote / "gitops-engine"
        self.stats = ForgeStats()
        self.records = LocalStore(self.store)

    @classmethod
    def for_checkout(cls, checkout: Path) -> LocalForge:
        proc = subprocess.run(
            ["git", "remote", "get-url", "origin"], cwd=checkout, capture_output=True, text=True
        )
        url = proc.stdout.strip()
        if proc.returncode != 0 or not url:
            raise UsageError(
                f"{checkout} has no 'origin' remote: the local forge keeps pull requests beside it"
            )
        if url.startswith("file://"):
            url = url[len("file://") :]
        path = (checkout / url).resolve() if not os.path.isabs(url) else Path(url)
        if not (path / "HEAD").exists() or not (path / "objects").is_dir():
            raise UsageError(
                f"origin ({url}) is not a local bare repository: use --forge github for a hosted remote, or point "
                "origin at a bare repository on this machine"
            )
        return cls(path)

    # -- following the remote's branches, as GitHub does on every push ------------------------------------------

    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=self.remote, capture_output=True, text=True)

    def _heads(self) -> dict[str, str]:
        """Every branch of the remote -> its head (one for-each-ref)."""
        out = self._git("for-each-ref", "--format=%(refname:lstrip=2) %(objectname)", "refs/heads/").stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    def _refresh_all(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Detect merges for many pull requests with a few git calls (not two per pull request)."""
        open_records = [r for r in records if r["state"] == "open"]
        if not open_records:
            return records
        heads = self._heads()
        merged_into: dict[str, set[str]] = {}
        for base in sorted({r["base"] for r in open_records}):
            out = self._git(
                "for-each-ref", f"--merged=refs/heads/{base}", "--format=%(objectname)", "refs/heads/"
            )
            merged_into[base] = set(out.stdout.split())
        for record in open_records:
            head = heads.get(record["branch"])
            if head is not None:
                merged = head in merged_into.get(record["base"], set())
            else:  # the branch is gone: fall back to the head we saw last
                merged = self._contained(record)
            self._follow(record, head, merged)
        return records

    def _follow(self, record: dict[str, Any], head: str | None, merged: bool) -> None:
        """Keep an open pull request's state the way GitHub does on every push: its head follows the branch; it is
        merged once that head is in the base branch; it is closed when its branch is deleted unmerged. Saved only
        when something changed, so reading twice writes nothing."""
        before = (record.get("head_sha"), record["state"])
        if head:
            record["head_sha"] = head
        if merged:
            record["state"] = "merged"
        elif not head and record.get("head_sha"):
            record["state"] = "closed"
        if (record.get("head_sha"), record["state"]) != before:
            self.records.save(record)

    def _contained(self, record: dict[str, Any]) -> bool:
        sha = record.get("head_sha")
        if not sha:
            return False
        return (
            self._git("merge-base", "--is-ancestor", str(sha), f"refs/heads/{record['base']}").returncode == 0
        )

    def _head(self, branch: str) -> str:
        """A branch's head ('' when there is none). A freshly pushed branch is a loose ref file: read it (~20 us)
        rather than start `git rev-parse` (~1 ms); packed or other ref storage falls back to git."""
        text = ""
        if ".." not in branch and not branch.startswith("/"):  # git refuses such names; so does this read
            path = f"{self.remote}/refs/heads/{branch}"
            with (
                contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError),
                open(path, encoding="utf-8", errors="replace") as ref,
            ):
                text = ref.read().strip()
        if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text):
            return text
        return self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").stdout.strip()

    def _refresh(self, record: dict[str, Any]) -> dict[str, Any]:
        """Detect a merge: the branch head (or the last head we saw) is contained in the base branch."""
        if record["state"] != "open":  # like GitHub, only an open pull request becomes merged
            return record
        head = self._head(record["branch"])
        self._follow(record, head, self._contained({**record, "head_sha": head or record.get("head_sha")}))
        return record

    def _to_pull(self, record: dict[str, Any]) -> PullRequest:
        return PullRequest(
            number=int(record["number"]),
            title=record["title"],
            body=record["body"],
            state=record["state"],
            branch=record["branch"],
            base=record["base"],
            url=f"file://{self.store / 'pulls' / (str(record['number']) + '.json')}",
            labels=tuple(record.get("labels", ())),
            reviewers=tuple(record.get("reviewers", ())),
            automerge=bool(record.get("automerge")),
        )

    def comments(self, number: int) -> list[str]:
        """Comment bodies on a pull request (for reports and tests)."""
        with self.records.locked():
            return [c["body"] for c in self.records.load(number).get("comments", [])]

    # -- the Forge interface ---------------------------------------------------------------------------------
    def find_pull_requests(self, branch: str) -> list[PullRequest]:
        self.stats.reads += 1
        with self.records.locked():
            found = [self._refresh(r) for r in self.records.for_branch(branch)]
        return [self._to_pull(r) for r in sorted(found, key=lambda r: -int(r["number"]))]

    def list_pull_requests(self, state: Literal["open", "closed", "all"]) -> list[PullRequest]:
        self.stats.reads += 1
        with self.records.locked():
            records = self._refresh_all(self.records.load_all())
        pulls = [self._to_pull(r) for r in records]
        if state == "open":
            return [p for p in pulls if p.state == "open"]
        if state == "closed":
            return [p for p in pulls if p.state != "open"]
        return pulls

    def create_pull_request(self, draft: PullRequestDraft) -> PullRequest:
        with self.records.locked():
            indexed = self.records.indexed(draft.branch)
            existing = [self._refresh(r) for r in self.records.for_branch(draft.branch, indexed)]
            already = next((r for r in existing if r["state"] == "open"), None)
            if already is None:
                self.stats.writes += 1
                number = self.records.next_number()
                record: dict[str, Any] = {
                    "number": number,
                    "branch": draft.branch,
                    "base": draft.base,
                    "state": "open",
                    "title": draft.title,
                    "body": draft.body,
                    "labels": sorted(draft.labels),
                    "reviewers": sorted(draft.reviewers),
                    "comments": [],
                }
                if draft.automerge:
                    record["automerge"] = draft.automerge
                    self.stats.writes += 1  # a request of its own on GitHub
                    self.records.announce_automerge(number)
                head = self._head(draft.branch)
                if head:
                    record["head_sha"] = head
                # The index first, then the record: a kill between the two leaves a number announced without a
                # record (skipped by _for_branch, and taken again by the next pull request), never a record that a
                # lookup by branch cannot find (which made the next run open a second pull request).
                if number not in indexed:
                    self.records.announce(number, draft.branch)
                self.records.save(record)
                return self._to_pull(record)
        return self.update_pull_request(int(already["number"]), draft)

    def update_pull_request(self, number: int, draft: PullRequestDraft) -> PullRequest:
        with self.records.locked():
            record = self._refresh(self._record(number))  # the branch was just pushed: its new head
            wanted = {
                "title": draft.title,
                "body": draft.body,
                "labels": sorted(set(record.get("labels", [])) | set(draft.labels)),
                "reviewers": sorted(set(record.get("reviewers", [])) | set(draft.reviewers)),
            }
            if draft.automerge and not record.get("automerge"):
                wanted["automerge"] = draft.automerge
                self.records.announce_automerge(number)
            if any(record.get(k) != v for k, v in wanted.items()):
                self.stats.writes += 1
                record.update(wanted)
                self.records.save(record)
            return self._to_pull(record)

    def enable_automerge(self, number: int, method: MergeMethod) -> PullRequest:
        with self.records.locked():
            record = self._refresh(self._record(number))
            if record["state"] == "open" and record.get("automerge") != method:
                self.stats.writes += 1
                self.records.announce_automerge(number)
                record["automerge"] = method
                self.records.save(record)
            return self._to_pull(record)

    def draft_writes(self, draft: PullRequestDraft) -> int:
        """One write for the pull request (labels and reviewers are part of it here), one for auto-merge."""
        return 1 + bool(draft.automerge)

    def merge_ready(self) -> list[PullRequest]:
        """Merge every open auto-merge pull request, as if its checks had passed (see Forge.merge_ready)."""
        merged: list[PullRequest] = []
        with self.records.locked():
            numbers = self.records.automerge_numbers()
            if not numbers:
                return []
            remote = Git(self.remote)
            try:
                for number in numbers:
                    record = self._refresh(self.records.load(number))
                    if record["state"] == "open" and record.get("automerge") and self._land(remote, record):
                        merged.append(self._to_pull(record))
                # Numbers of pull requests no longer open leave the list (it stays as long as the open ones).
                still = [n for n in numbers if self.records.load(n)["state"] == "open"]
                if still != numbers:
                    self.records.write_atomically(
                        self.records.automerge_index(), "".join(f"{n}\n" for n in still)
                    )
            finally:
                remote.close()
        return merged

    def _land(self, remote: Git, record: dict[str, Any]) -> bool:
        """Merge a pull request's branch into its base on the bare remote; False when it conflicts (left open).

        The base moves by compare-and-swap: a commit pushed meanwhile is merged with, never overwritten. Killed
        after the base moved but before the record was saved, the next call finds nothing left to land (the
        change is on the base already: see Git.merge_commit) and only records the merge."""
        head = self._head(record["branch"])
        if not head:
            return False
        number = int(record["number"])
        method: MergeMethod = record["automerge"]
        if method == "merge":
            message = f"Merge pull request #{number} from {record['branch']}\n\n{record['title']}\n"
        else:
            message = f"{record['title']} (#{number})\n"
        for _ in range(5):
            base = self._head(record["base"])
            landed = remote.merge_commit(base, head, method, message, MERGER)
            if landed is None:
                return False
            if landed == base or remote.update_ref(f"refs/heads/{record['base']}", landed, base):
                self.stats.writes += 1
                record.update(state="merged", head_sha=head, merge_commit=landed)
                self.records.save(record)
                return True
        raise ForgeError(f"{record['base']} kept moving while merging #{number}: run again")

    # -- issues (the rollout dashboard): issues/<number>.json, numbered apart from pull requests ----------------

    def _to_issue(self, record: dict[str, Any]) -> Issue:
        return Issue(
            number=int(record["number"]),
            title=record["title"],
            body=record["body"],
            state=record["state"],
            url=f"file://{self.store / 'issues' / (str(record['number']) + '.json')}",
            labels=tuple(record.get("labels", ())),
        )

    def _find_issue(self, marker: str, label: str | None) -> dict[str, Any] | None:
        found = [
            r
            for r in self.records.issue_records()
            if marker in r["body"] and (label is None or label in r.get("labels", ()))
        ]
        found.sort(key=lambda r: (r["state"] != "open", int(r["number"])))
        return found[0] if found else None

    def find_issue(self, marker: str, *, label: str | None = None) -> Issue | None:
        self.stats.reads += 1
        with self.records.locked():
            record = self._find_issue(marker, label)
        return None if record is None else self._to_issue(record)

    def upsert_issue(self, marker: str, title: str, body: str, *, labels: tuple[str, ...] = ()) -> Issue:
        if marker not in body:
            raise ForgeError(f"the body of issue {title!r} must contain its marker {marker!r}")
        self.stats.reads += 1
        with self.records.locked():
            record = self._find_issue(marker, labels[0] if labels else None)
            if record is None:
                numbers = [int(r["number"]) for r in self.records.issue_records()]
                record = {"number": max(numbers, default=0) + 1, "labels": sorted(labels), "state": "open"}
            elif (record["title"], record["body"], record["state"]) == (title, body, "open"):
                return self._to_issue(record)
            self.stats.writes += 1
            record.update(title=title, body=body, state="open")
            self.records.write_atomically(
                self.store / "issues" / f"{record['number']}.json",
                json.dumps(record, indent=2, sort_keys=True) + "\n",
            )
            return self._to_issue(record)

    def close_pull_request(self, number: int, comment: str) -> None:
        with self.records.locked():
            record = self._refresh(self._record(number))
            if record["state"] != "open":
                return
            self.stats.writes += 2
            record.setdefault("comments", []).append(
                {"id": len(record.get("comments", [])) + 1, "body": comment}
            )
            record["state"] = "closed"
            self.records.save(record)

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        with self.records.locked():
            record = self._record(number)
            comments = record.setdefault("comments", [])
            for existing in comments:
                if marker in existing["body"]:
                    if existing["body"] != body:
                        self.stats.writes += 1
                        existing["body"] = body
                        self.records.save(record)
                    return
            self.stats.writes += 1
            comments.append({"id": len(comments) + 1, "body": body})
            self.records.save(record)

    def _record(self, number: int) -> dict[str, Any]:
        return self.records.load(number)

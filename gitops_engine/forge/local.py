"""The `local` forge: pull requests kept beside a local bare remote, so every clone sees the same ones.

Each pull request is one JSON file, `<bare repo>/gitops-engine/pulls/<number>.json`, written atomically under a
file lock. States follow GitHub: `open`, `closed`, and `merged` — a pull request is merged once its branch's head is
contained in the base branch (someone merged it with git), which is detected when pull requests are read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from gitops_engine.errors import ForgeError, UsageError
from gitops_engine.forge import ForgeStats, PullRequest, PullRequestDraft


class LocalForge:
    name = "local"

    def __init__(self, remote: Path) -> None:
        self.remote = remote
        self.store = remote / "gitops-engine"
        self.stats = ForgeStats()

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

    # -- storage ---------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        (self.store / "pulls").mkdir(parents=True, exist_ok=True)
        with open(self.store / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load_all(self) -> list[dict[str, Any]]:
        folder = self.store / "pulls"
        if not folder.is_dir():
            return []
        records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
        return sorted(records, key=lambda r: int(r["number"]))

    def _save(self, record: dict[str, Any]) -> None:
        folder = self.store / "pulls"
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, folder / f"{record['number']}.json")

    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=self.remote, capture_output=True, text=True)

    def _refresh(self, record: dict[str, Any]) -> dict[str, Any]:
        """Detect a merge: the branch head (or the last head we saw) is contained in the base branch."""
        if record["state"] == "merged":
            return record
        head = self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{record['branch']}").stdout.strip()
        if head:
            record["head_sha"] = head
        sha = record.get("head_sha")
        # Like GitHub, only an open pull request becomes merged; a closed one stays closed.
        base_ref = f"refs/heads/{record['base']}"
        merged = bool(sha) and self._git("merge-base", "--is-ancestor", str(sha), base_ref).returncode == 0
        if merged and record["state"] == "open":
            record["state"] = "merged"
            self._save(record)
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
        )

    def comments(self, number: int) -> list[str]:
        """Comment bodies on a pull request (for reports and tests)."""
        with self._locked():
            for record in self._load_all():
                if record["number"] == number:
                    return [c["body"] for c in record.get("comments", [])]
        raise ForgeError(f"local pull request #{number} does not exist")

    # -- the Forge interface ---------------------------------------------------------------------------------
    def find_pull_requests(self, branch: str) -> list[PullRequest]:
        self.stats.reads += 1
        with self._locked():
            found = [self._refresh(r) for r in self._load_all() if r["branch"] == branch]
        return [self._to_pull(r) for r in sorted(found, key=lambda r: -int(r["number"]))]

    def list_pull_requests(self, state: Literal["open", "closed", "all"]) -> list[PullRequest]:
        self.stats.reads += 1
        with self._locked():
            records = [self._refresh(r) for r in self._load_all()]
        pulls = [self._to_pull(r) for r in records]
        if state == "open":
            return [p for p in pulls if p.state == "open"]
        if state == "closed":
            return [p for p in pulls if p.state != "open"]
        return pulls

    def create_pull_request(self, draft: PullRequestDraft) -> PullRequest:
        with self._locked():
            records = [self._refresh(r) for r in self._load_all()]
            for record in records:
                if record["branch"] == draft.branch and record["state"] == "open":
                    break
            else:
                self.stats.writes += 1
                number = max((int(r["number"]) for r in records), default=0) + 1
                record = {
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
                head = self._git(
                    "rev-parse", "--verify", "--quiet", f"refs/heads/{draft.branch}"
                ).stdout.strip()
                if head:
                    record["head_sha"] = head
                self._save(record)
                return self._to_pull(record)
        return self.update_pull_request(int(record["number"]), draft)

    def update_pull_request(self, number: int, draft: PullRequestDraft) -> PullRequest:
        with self._locked():
            record = self._record(number)
            wanted = {
                "title": draft.title,
                "body": draft.body,
                "labels": sorted(set(record.get("labels", [])) | set(draft.labels)),
                "reviewers": sorted(set(record.get("reviewers", [])) | set(draft.reviewers)),
            }
            if any(record.get(k) != v for k, v in wanted.items()):
                self.stats.writes += 1
                record.update(wanted)
                self._save(record)
            return self._to_pull(record)

    def close_pull_request(self, number: int, comment: str) -> None:
        with self._locked():
            record = self._refresh(self._record(number))
            if record["state"] != "open":
                return
            self.stats.writes += 2
            record.setdefault("comments", []).append(
                {"id": len(record.get("comments", [])) + 1, "body": comment}
            )
            record["state"] = "closed"
            self._save(record)

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        with self._locked():
            record = self._record(number)
            comments = record.setdefault("comments", [])
            for existing in comments:
                if marker in existing["body"]:
                    if existing["body"] != body:
                        self.stats.writes += 1
                        existing["body"] = body
                        self._save(record)
                    return
            self.stats.writes += 1
            comments.append({"id": len(comments) + 1, "body": body})
            self._save(record)

    def _record(self, number: int) -> dict[str, Any]:
        for record in self._load_all():
            if int(record["number"]) == number:
                return record
        raise ForgeError(f"local pull request #{number} does not exist in {self.store}")

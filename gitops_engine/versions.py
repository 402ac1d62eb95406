"""Human-readable versions: what people call a version of a definition, an environment or the settings.

Locks and pull requests identify a definition's version by a hash of its file (`Definition.version`), which nobody
can read ("20fbda1258d5 → 71bdaeef50ca"). People call a version by what changed it: the definition file's optional
`version:` field when it is set ("Postgres 17"), otherwise the subject and short id of the last commit that changed
the file ("Upgrade postgres to 17 (1a2b3c4)"). Environment files have no `version:` field: their version is named
by the commit that made what rendering reads of the file what it is (an edit of its rollout settings since does
not count).

Everything is read from git history, so every clone names a version the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops_engine.git import Git
from gitops_engine.loading import environment_at
from gitops_engine.model import Definition
from gitops_engine.yamlio import YamlSyntaxError, load_document

SHORT_ID = 7  # a fixed length: git's own abbreviation grows with the repository and differs between clones
SUBJECT_MAX = 72


@dataclass(frozen=True)
class FileChange:
    """One commit that changed a file: the commit, its subject and the file's blob after it (None: deleted)."""

    commit: str
    subject: str
    blob: str | None

    @property
    def name(self) -> str:
        subject = self.subject if len(self.subject) <= SUBJECT_MAX else self.subject[: SUBJECT_MAX - 1] + "…"
        return f"{subject} ({self.commit[:SHORT_ID]})"


class VersionNames:
    """Names versions of files as of `commit` (a commit of the platform repo), one `git log` per file asked about."""

    def __init__(self, git: Git, commit: str) -> None:
        self._git = git
        self._commit = commit
        self._history: dict[str, list[FileChange]] = {}
        self._declared: dict[str, str | None] = {}
        self._fingerprints: dict[str, str | None] = {}  # environment file blob -> Environment.fingerprint

    def history(self, path: str) -> list[FileChange]:
        """The commits reachable from `commit` that changed `path`, newest first."""
        if path not in self._history:
            self._history[path] = self._read_history(path)
        return self._history[path]

    def of_file(self, path: str) -> str:
        """The version of `path` at `commit`: the last commit that changed it ("" when none did)."""
        changes = self.history(path)
        return changes[0].name if changes else ""

    def of_definition(self, definition: Definition) -> str:
        """The current version of a loaded definition: its `version:` field, else the last commit changing it."""
        if definition.declared_version:
            return definition.declared_version
        return self.of_file(definition.path) or definition.version

    def of_definition_version(self, path: str, version: str) -> str:
        """The version of the definition file `path` whose content hash starts with `version` (what locks record):
        its `version:` field then, else the newest commit that gave the file that content; the hash itself when
        no commit did (a file renamed since, or a history cut short by a shallow clone)."""
        if not version:
            return version
        for change in self.history(path):
            if change.blob is not None and change.blob.startswith(version):
                return self._declared_version(change.blob) or change.name
        return version

    def of_environment(self, path: str, fingerprint: str) -> str:
        """The version of the environment file `path` whose Environment.fingerprint is `fingerprint`: the oldest
        commit of the newest run of commits whose file has that fingerprint, so an edit of rollout settings or
        comments after it keeps the name. The last commit that changed the file when none has it ("" when none
        did)."""
        changes = self.history(path)
        found = ""
        for change in changes:
            if change.blob is None or self._environment_fingerprint(change.blob, path) != fingerprint:
                break
            found = change.name
        return found or (changes[0].name if changes else "")

    def _environment_fingerprint(self, blob: str, path: str) -> str | None:
        if blob not in self._fingerprints:
            env = environment_at(self._git.read_blob(blob), path, blob)
            self._fingerprints[blob] = None if env is None else env.fingerprint
        return self._fingerprints[blob]

    def _declared_version(self, blob: str) -> str | None:
        if blob not in self._declared:
            self._declared[blob] = _declared_version_of(self._git.read_blob(blob), blob)
        return self._declared[blob]

    def _read_history(self, path: str) -> list[FileChange]:
        out = self._git.run(
            "log",
            "--format=%x01%H%x00%s",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            self._commit,
            "--",
            path,
            check=False,
        )
        changes: list[FileChange] = []
        for record in out.split("\x01")[1:]:
            header, _, raw = record.partition("\n")
            sha, _, subject = header.partition("\0")
            blob: str | None = None
            for line in raw.splitlines():
                # `:100644 100644 <old> <new> M\t<path>`: the file's blob after this commit (zeros: deleted)
                if line.startswith(":") and line.endswith("\t" + path):
                    new = line.split()[3]
                    blob = None if set(new) == {"0"} else new
            changes.append(FileChange(sha, subject.strip(), blob))
        return changes


def _declared_version_of(data: bytes, blob: str) -> str | None:
    """The `version:` of a definition file's content, if it is a one-line text; None for anything else."""
    try:
        document = load_document(data, f"blob {blob[:12]}")
    except YamlSyntaxError:
        return None
    value = document.data.get("version") if isinstance(document.data, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() and "\n" not in value else None

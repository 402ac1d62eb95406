"""Stage 1: a platform repo at one point in time (a commit or the work tree; source.py reads its files) as typed,
validated records: the Snapshot.

Settings, environments and definitions are small and always loaded. Workloads are discovered from the file list
and parsed only when asked for, so work grows with what a run touches rather than with the repo.
"""

from __future__ import annotations

import bisect
import os
import posixpath
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_engine import codeowners
from gitops_engine.errors import Finding, InputError, close_names, did_you_mean, suggestion
from gitops_engine.model import (
    SHARED_FOLDER,
    Criterion,
    Definition,
    Environment,
    Settings,
    Workload,
    is_dns_label,
)
from gitops_engine.names import WORKLOAD_KEY
from gitops_engine.rollout import rollout_problems
from gitops_engine.schema import validate_document
from gitops_engine.source import (
    CODEOWNERS_FILES,
    PLATFORM_FILE,
    GitSource,
    LazyFiles,
    Source,
    WorkTreeSource,
    environment_of,
    folder_of,
    outside_workloads,
    symlink_finding,
)
from gitops_engine.templating import (
    DEFAULT_TEMPLATE_OUTPUT_CHARS,
    DEFAULT_TEMPLATE_SECONDS,
    DEFAULT_TEMPLATE_STEPS,
)
from gitops_engine.yamlio import Document, YamlSyntaxError, load_document

SCORE_FILE = "score.yaml"
OVERRIDE_PREFIX = "overrides."
DEFAULT_MAX_FILE_BYTES = 262_144
_VALID_KEY = WORKLOAD_KEY  # both names DNS labels (names.py)


class LazyWorkloads(Mapping[str, str]):
    """Workload keys -> Score file paths over LazyFiles: a key is checked when asked for; iterating discovers
    every workload (and reports what discovery finds wrong, as a full load does)."""

    def __init__(
        self, files: LazyFiles, findings: list[Finding], deferred: DeferredTemplates | None = None
    ) -> None:
        self.files = files
        self._findings = findings  # the snapshot's local findings: discovery adds to them
        self._deferred = deferred  # a run over every workload needs every template: checked with the listing
        self._all: dict[str, str] | None = None
        self._by_name: dict[str, list[str]] = {}  # probed names, while not everything is listed
        self._name_index: dict[str, list[str]] | None = None  # every name, once everything is listed

    def everything(self) -> dict[str, str]:
        if self._all is None:
            if self._deferred is not None:
                self._deferred.check_type(None)
            self.files.everything()
            found: list[Finding] = []
            self._all = _discover_workloads(
                self.files.folder_listing(), self.files, found, self.files.source.symlinks
            )
            _add_new(self._findings, found)
        return self._all

    def check(self, paths: Iterable[str]) -> None:
        """Report what discovery finds wrong about these paths (changed ones): misplaced files, folders with a
        bad name or without score.yaml."""
        folders: set[str] = set()
        listing: set[str] = set()
        for path in paths:
            parts = path.split("/")
            if parts[0] != "workloads":
                continue
            if len(parts) >= 4:
                folders.add(f"{parts[1]}/{parts[2]}")
            elif path in self.files:
                listing.add(path)
        for key in folders:
            listing.update(self.files.folder(key))
        found: list[Finding] = []
        _discover_workloads(sorted(listing), self.files, found, self.files.source.symlinks)
        _add_new(self._findings, found)

    def by_name(self, name: str) -> list[str]:
        """Keys of the workloads named `name` in any team: a probe per team folder, not a listing of workloads."""
        if self._all is not None and self._name_index is None:
            self._name_index = _name_index(self._all)
        if self._name_index is not None:
            return list(self._name_index.get(name, ()))
        if name not in self._by_name:
            found = self.files.source.folders_named(name)
            self._by_name[name] = sorted(k for k in found if k in self)  # with a score.yaml and a valid name
        return list(self._by_name[name])

    def __getitem__(self, key: str) -> str:
        if self._all is not None:
            return self._all[key]
        path = f"workloads/{key}/{SCORE_FILE}"
        if _VALID_KEY.match(key) and path in self.files:
            return path
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.everything())

    def __len__(self) -> int:
        return len(self.everything())


def _name_index(keys: Iterable[str]) -> dict[str, list[str]]:
    """Workload name -> keys (team/name) of that name, in the keys' order."""
    index: dict[str, list[str]] = {}
    for key in keys:
        index.setdefault(key.split("/", 1)[1], []).append(key)
    return index


def _add_new(findings: list[Finding], found: Iterable[Finding]) -> None:
    for finding in found:
        if finding not in findings:
            findings.append(finding)


@dataclass
class Snapshot:
    """A platform repo at one point in time."""

    source: Source
    files: Mapping[str, str]  # path -> blob id (LazyFiles for a lazy GitSource)
    settings: Settings
    environments: dict[str, Environment]
    _definitions: dict[str, Definition]  # by path (see definitions)
    workload_paths: Mapping[str, str]  # "team/name" -> Score file path (LazyWorkloads over LazyFiles)
    codeowners: dict[str, tuple[str, ...]]  # path pattern -> owners, in file order
    findings: list[Finding] = field(
        default_factory=list
    )  # problems that block everything (settings, environments)
    # Problems confined to one file (a definition, a misplaced file): reported, but the rest is still processed;
    # resources of a type whose definition failed to load fail (see broken_definition_types).
    local_findings: list[Finding] = field(default_factory=list)
    _broken: dict[str, list[str]] = field(default_factory=dict)  # type -> paths that failed to load
    _deferred: DeferredTemplates | None = None  # a lazy snapshot's templates not checked yet
    # Values later stages derive from this snapshot alone, cached under a name of their own (never mutated inputs).
    memo: dict[str, dict[Any, Any]] = field(default_factory=dict)
    _workloads: dict[str, Workload] = field(default_factory=dict)
    _workload_errors: dict[str, list[Finding]] = field(default_factory=dict)
    _by_type: dict[str, list[Definition]] | None = None
    _workload_listing: list[str] = field(default_factory=list)  # every path under workloads/, sorted
    _by_name: dict[str, list[str]] | None = None  # workload name -> keys (lazy)
    _owner_pattern: Callable[[str], str | None] | None = None  # codeowners.last_match of `codeowners` (lazy)

    # -- definitions -------------------------------------------------------------------------------------------
    @property
    def definitions(self) -> dict[str, Definition]:
        """Every definition that loaded, by path (in a lazy snapshot, every template is checked first)."""
        self._check_templates(None)
        return self._definitions

    @property
    def broken_definition_types(self) -> Mapping[str, list[str]]:
        """Type -> paths of its definitions that failed to load (a lazy snapshot checks a type's templates when
        the type is looked up)."""
        return _BrokenTypes(self)

    def _check_templates(self, type_: str | None) -> None:
        """Check the deferred templates of `type_` (None: of every type) before its definitions are used."""
        if self._deferred is not None and self._deferred.pending:
            self._deferred.check_type(type_)

    def definitions_of(self, type_: str) -> list[Definition]:
        self._check_templates(type_)
        if self._by_type is None:
            by_type: dict[str, list[Definition]] = {}
            for definition in sorted(self._definitions.values(), key=lambda d: d.path):
                by_type.setdefault(definition.type, []).append(definition)
            self._by_type = by_type
        found = self._by_type.get(type_, [])
        if self._deferred is not None and self._deferred.failed:  # a checked template took one out
            found = [d for d in found if d.path in self._definitions]
        return found

    @property
    def environment_order(self) -> list[str]:
        return [e for e in self.settings.environments if e in self.environments]

    def input_version(self, path: str) -> str | None:
        """What a lock written now would record for the input `path` (None: no such file): its blob id, or for an
        environment file that loaded, the fingerprint of what rendering reads of it."""
        env = self.environments.get(environment_of(path) or "")
        return env.fingerprint if env is not None else self.files.get(path)

    # -- workloads ---------------------------------------------------------------------------------------------
    def workload(self, key: str) -> Workload:
        """Parse one workload on first use. Raises InputError naming the file, line and column."""
        if key in self._workloads:
            return self._workloads[key]
        if key in self._workload_errors:
            raise InputError(self._workload_errors[key])
        try:
            workload = _load_workload(self, key)
        except InputError as exc:
            self._workload_errors[key] = list(exc.findings)
            raise
        self._workloads[key] = workload
        return workload

    def try_workload(self, key: str) -> Workload | None:
        try:
            return self.workload(key)
        except InputError:
            return None

    def workload_by_name(self, name: str) -> list[str]:
        """Keys of workloads named `name` (metadata.name equals the folder name), in any team."""
        if isinstance(self.workload_paths, LazyWorkloads):
            return self.workload_paths.by_name(name)
        if self._by_name is None:
            self._by_name = _name_index(self.workload_paths)
        return list(self._by_name.get(name, ()))

    def unknown_workload(self, key: str) -> str:
        """What to tell someone who named a workload that does not exist: the form, close names, what exists."""
        keys = sorted(self.workload_paths)
        parts = key.split("/")
        teams = sorted({k.split("/", 1)[0] for k in keys})
        if len(parts) != 2 or not all(parts):
            bare = [k for k in keys if k.split("/", 1)[1] == key]
            mine = [k for k in keys if k.startswith(f"{key}/")]
            if bare:
                hint = suggestion(bare)
            elif mine:
                hint = f" but a team (its workloads: {', '.join(k.split('/', 1)[1] for k in mine)})"
            else:
                hint = did_you_mean(key, keys)
            example = f", such as {(mine or keys)[0]!r}" if keys else ""
            return f"{key!r} is not a workload{hint}: give it as TEAM/NAME{example}"
        team, name = parts
        if team not in teams:
            same_name = suggestion([k for k in keys if k.split("/", 1)[1] == name])
            return (
                f"no workload {key!r}{same_name}: there is no team {team!r}{did_you_mean(team, teams)}; teams "
                f"are {', '.join(teams) or 'none'}"
            )
        mine = [k.split("/", 1)[1] for k in keys if k.startswith(f"{team}/")]
        close = suggestion([f"{team}/{n}" for n in close_names(name, mine)])
        return f"no workload {key!r}{close}: the workloads of team {team} are {', '.join(mine)}"

    def unknown_environment(self, env: str) -> str:
        """What to tell someone who named an environment that does not exist."""
        order = self.environment_order
        return f"unknown environment {env!r}{did_you_mean(env, order)}: environments are {', '.join(order) or 'none'}"

    def workload_files(self, key: str) -> dict[str, str]:
        """Every file under workloads/<key>/ (path -> blob id), in path order."""
        if isinstance(self.files, LazyFiles):
            return self.files.folder(key)
        return folder_of(self._workload_listing, self.files, key)

    def check_paths(self, paths: Iterable[str]) -> None:
        """Add to `local_findings` what discovery finds wrong about these (changed) paths, and what is wrong with
        the templates of changed definitions. A lazy snapshot only discovers and checks what it is asked about; a
        full one has checked every path already."""
        paths = list(paths)
        if self._deferred is not None:
            self._deferred.check_paths(paths)
        if isinstance(self.workload_paths, LazyWorkloads):
            self.workload_paths.check(paths)

    def owners_of(self, path: str) -> tuple[str, ...]:
        """CODEOWNERS owners of a path: the last matching pattern wins, as on GitHub."""
        pattern = self.owner_pattern(path)
        return self.codeowners[pattern] if pattern is not None else ()

    def owner_pattern(self, path: str) -> str | None:
        """The CODEOWNERS pattern that decides a path's owners (the last one matching it), if any."""
        if self._owner_pattern is None:
            self._owner_pattern = codeowners.last_match(list(self.codeowners))
        return self._owner_pattern(path)


def load_settings(root: Path) -> Settings:
    """platform.yaml of a work tree on its own: what a command needs before it loads a snapshot from git (reading
    every source file of a 10,000-workload work tree costs ~0.4 s). Problems are reported by the snapshot."""
    source = WorkTreeSource(root, only=(PLATFORM_FILE,))
    return _load_settings(source, source.files(), [])


def load_snapshot(source: Source) -> Snapshot:
    """Load settings, environments and definitions; discover workloads. Never raises for content problems:
    they are collected in `findings` (blocking), `local_findings` (one file) or raised per workload by
    `Snapshot.workload`."""
    files = source.files()
    if isinstance(source, GitSource):
        source.prefetch(
            p for p in outside_workloads(files) if p.endswith((".yaml", ".yml")) or p in CODEOWNERS_FILES
        )
    findings: list[Finding] = []
    local: list[Finding] = []
    settings = _load_settings(source, files, findings)
    environments = _load_environments(source, files, settings, findings)
    # A broken definition or misplaced file concerns the units that would use it, not the whole repo. A lazy
    # snapshot (a range's) checks Jinja templates as they are used: Jinja and its compiler cost ~30-60 ms.
    definitions: dict[str, Definition] = {}
    broken: dict[str, list[str]] = {}
    deferred = DeferredTemplates(local, definitions, broken) if isinstance(files, LazyFiles) else None
    _load_definitions(source, files, settings, deferred or _Checked(local, definitions, broken))
    workload_paths: Mapping[str, str]
    if isinstance(files, LazyFiles):
        workload_paths, workload_listing = LazyWorkloads(files, local, deferred), []
    else:
        workload_listing = sorted(p for p in files if p.startswith("workloads/"))
        workload_paths = _discover_workloads(workload_listing, files, local, source.symlinks)
    # Links outside workloads/ (a workload's own fail it, when it is loaded); those read are reported again.
    local.extend(symlink_finding(p) for p in sorted(source.symlinks) if not p.startswith("workloads"))
    codeowners = _load_codeowners(source, files, local)
    return Snapshot(
        source=source,
        files=files,
        settings=settings,
        environments=environments,
        _definitions=definitions,
        workload_paths=workload_paths,
        codeowners=codeowners,
        findings=findings,
        local_findings=local,
        _broken=broken,
        _deferred=deferred,
        _workload_listing=workload_listing,
    )


# -------------------------------------------------------------------------------------------------------------
# Helpers


def _read_document(source: Source, path: str, max_bytes: int) -> Document:
    """A YAML file of the source, parsed; an InputError when it is over `max_bytes`, not UTF-8 or not YAML."""
    data = source.read(path)
    if len(data) > max_bytes:
        raise InputError(
            [
                Finding(
                    path,
                    1,
                    1,
                    f"file is {len(data)} bytes, over the limit of {max_bytes} (platform.yaml limits.maxFileBytes): "
                    "split it up or raise the limit",
                )
            ]
        )
    try:
        return load_document(data, path)
    except YamlSyntaxError as exc:
        raise InputError([exc.finding]) from None


def _try_read_document(source: Source, path: str, max_bytes: int, findings: list[Finding]) -> Document | None:
    """_read_document, with what stops it going to `findings` (and None in place of the document)."""
    try:
        return _read_document(source, path, max_bytes)
    except InputError as exc:
        findings.extend(exc.findings)
        return None


def _load_settings(source: Source, files: Mapping[str, str], findings: list[Finding]) -> Settings:
    fallback = Settings(path=PLATFORM_FILE, blob="", environments=())
    if PLATFORM_FILE not in files:
        findings.append(
            Finding(
                PLATFORM_FILE,
                0,
                0,
                "missing: a platform repo needs platform.yaml at its root (see `gitops-engine init`)",
            )
        )
        return fallback
    document = _try_read_document(source, PLATFORM_FILE, DEFAULT_MAX_FILE_BYTES, findings)
    if document is None:
        return fallback
    return _settings(document, files[PLATFORM_FILE], findings) or fallback


def settings_at(data: bytes, blob: str) -> Settings | None:
    """The Settings that the content `data` (blob id `blob`) of platform.yaml loads as: an older version of it,
    from git history. None when it is not valid."""
    try:
        document = load_document(data, PLATFORM_FILE)
    except YamlSyntaxError:
        return None
    findings: list[Finding] = []
    settings = _settings(document, blob, findings)
    return None if findings else settings


def _settings(document: Document, blob: str, findings: list[Finding]) -> Settings | None:
    """platform.yaml's Settings; None when its schema is broken (its problems go to `findings`)."""
    problems = validate_document("platform", document)
    if problems:
        findings.extend(problems)
        return None
    data: dict[str, Any] = document.data
    pulls = data.get("pullRequests", {})
    limits = data.get("limits", {})
    environments = tuple(data["environments"])
    seen: set[str] = set()
    for index, env in enumerate(environments):
        if env in seen:
            findings.append(document.finding(("environments", index), f"environment {env!r} is listed twice"))
        seen.add(env)
    return Settings(
        path=PLATFORM_FILE,
        blob=blob,
        environments=environments,
        forge=data.get("forge", "local"),
        labels=tuple(pulls.get("labels", ("gitops-engine",))),
        max_per_run=int(pulls.get("maxPerRun", 50)),
        max_per_hour=int(pulls.get("maxPerHour", 400)),
        max_file_bytes=int(limits.get("maxFileBytes", DEFAULT_MAX_FILE_BYTES)),
        template_steps=int(limits.get("templateSteps", DEFAULT_TEMPLATE_STEPS)),
        template_seconds=float(limits.get("templateSeconds", DEFAULT_TEMPLATE_SECONDS)),
        template_output_chars=int(limits.get("templateOutputChars", DEFAULT_TEMPLATE_OUTPUT_CHARS)),
        merge_method=pulls.get("mergeMethod", "squash"),
        group_by=pulls.get("groupBy", "workload"),
        dashboard=bool(pulls.get("dashboard", True)),
    )


def _load_environments(
    source: Source, files: Mapping[str, str], settings: Settings, findings: list[Finding]
) -> dict[str, Environment]:
    environments: dict[str, Environment] = {}
    documents: dict[str, Document] = {}
    on_disk = {
        env_id: path for path in outside_workloads(files) if (env_id := environment_of(path)) is not None
    }
    for env_id in settings.environments:
        if env_id not in on_disk:
            findings.append(
                Finding(
                    PLATFORM_FILE,
                    0,
                    0,
                    f"environment {env_id!r} is listed but environments/{env_id}.yaml does not exist: add the file "
                    "or remove the entry",
                )
            )
    for env_id, path in sorted(on_disk.items()):
        if settings.environments and env_id not in settings.environments:
            findings.append(
                Finding(
                    path,
                    1,
                    1,
                    f"environment {env_id!r} is not listed in platform.yaml `environments`: add it there",
                )
            )
            continue
        document = _try_read_document(source, path, settings.max_file_bytes, findings)
        if document is None:
            continue
        problems = _environment_problems(document, env_id)
        if problems:
            findings.extend(problems)
            continue
        environments[env_id] = _environment(document, env_id, files[path])
        documents[env_id] = document
    findings.extend(rollout_problems(environments, documents, settings.environments))
    return environments


def _environment_problems(document: Document, env_id: str) -> list[Finding]:
    """What is wrong with an environment's document: its schema, then an id other than its file name's, then a
    namespace rule that cannot make a DNS label. The first step that fails says all."""
    problems = validate_document("environment", document)
    if problems:
        return problems
    data: dict[str, Any] = document.data
    if data["id"] != env_id:
        return [
            document.finding(
                ("id",),
                f"id {data['id']!r} differs from the file name: rename one so both are {env_id!r}",
            )
        ]
    rule = data.get("namespace", "{team}")
    stripped = rule.replace("{env}", "a").replace("{team}", "a").replace("{workload}", "a")
    if "{" in stripped or "}" in stripped or not is_dns_label(stripped):
        return [
            document.finding(
                ("namespace",),
                f"namespace rule {rule!r} must be a DNS label using only {{env}}, {{team}} and {{workload}}",
            )
        ]
    return []


def _environment(document: Document, env_id: str, blob: str) -> Environment:
    """The record of an environment whose document passed every check."""
    data: dict[str, Any] = document.data
    rollout = data.get("rollout") or {}
    return Environment(
        id=env_id,
        **_rendered_environment(data),
        path=document.path,
        blob=blob,
        rollout_mode=rollout.get("mode", "pull-request"),
        after=tuple(rollout.get("after") or ()),
    )


def _rendered_environment(data: dict[str, Any]) -> dict[str, Any]:
    """The fields of an Environment that rendering reads, from its valid document (see Environment.fingerprint)."""
    return {
        "type": data["type"],
        "namespace_rule": data.get("namespace", "{team}"),
        "labels": dict(data.get("labels") or {}),
        "values": dict(data.get("values") or {}),
    }


def environment_at(data: bytes, path: str, blob: str) -> Environment | None:
    """The Environment that the content `data` (blob id `blob`) of the environment file `path` loads as: an older
    version of it, from git history. None when it is not a valid environment document."""
    env_id = environment_of(path)
    if env_id is None:
        return None
    try:
        document = load_document(data, path)
    except YamlSyntaxError:
        return None
    if not isinstance(document.data, dict) or _environment_problems(document, env_id):
        return None
    return _environment(document, env_id, blob)


def _load_definitions(source: Source, files: Mapping[str, str], settings: Settings, sink: _Checked) -> None:
    """Every definition of definitions/<type>/<id>.yaml into `sink`: by path, and the paths that failed to load by
    type (what they find wrong goes to its findings)."""
    ids: dict[str, str] = {}  # id -> the path of the definition that has it
    for path in sorted(outside_workloads(files)):
        if not path.startswith("definitions/"):
            continue
        folder_type = path.split("/")[1]
        if path in source.symlinks:
            # Reported by load_snapshot; resources of its type must not fall back to another definition.
            sink.broken.setdefault(folder_type, []).append(path)
            continue
        if not _is_definition_path(path, sink.findings):
            continue
        document = _try_read_document(source, path, settings.max_file_bytes, sink.findings)
        problems = _definition_problems(document, path, ids, sink) if document is not None else []
        if document is None or problems:
            sink.findings.extend(problems)
            sink.broken.setdefault(folder_type, []).append(path)
            continue
        ids[document.data["id"]] = path
        sink.definitions[path] = _definition(document, path, files[path])


@dataclass(eq=False)  # one per snapshot, known by identity (DeferredTemplates are kept in a WeakSet)
class _Checked:
    """Where definitions load to when each one's templates are checked as it loads (a full snapshot)."""

    findings: list[Finding]
    definitions: dict[str, Definition]  # by path
    broken: dict[str, list[str]]  # type -> paths that failed to load

    def defer(self, path: str, document: Document) -> bool:
        """Whether the templates of this definition (fine otherwise) are checked later rather than now."""
        return False

    def settle(self, path: str) -> bool:
        """Whether the definition at `path` (loaded already) is fine, its templates checked now if they were
        not yet."""
        return True


class DeferredTemplates(_Checked):
    """A lazy snapshot's definitions whose templates need Jinja: loaded as if their templates were fine, and
    checked when a lookup of their type or a change of their file (Snapshot.check_paths) first needs them. A
    failure then is what loading would have found: the definition leaves `definitions`, its path joins the broken
    ones of its type, and its findings take the place a full load gives them among the snapshot's findings. A
    template nothing uses is never checked: a full `validate` reports it (README, pull-request checks)."""

    def __init__(
        self, findings: list[Finding], definitions: dict[str, Definition], broken: dict[str, list[str]]
    ):
        super().__init__(findings, definitions, broken)
        _DEFERRED.add(self)
        self.pending: dict[str, tuple[Document, str, int]] = {}  # path -> (document, type, place in findings)
        self.failed = False  # whether a checked template took a definition out
        self._placed: list[tuple[int, str, int]] = []  # (place, path, number) of the findings put in so far

    def defer(self, path: str, document: Document) -> bool:
        from gitops_engine.templating import needs_jinja

        template = document.data.get("template") or {}
        texts = [template.get(key) for key in ("outputs", "manifests")]
        if not any(text is not None and needs_jinja(text) for text in texts):
            return False  # plain templates cost nothing to check
        self.pending[path] = (document, document.data["type"], len(self.findings))
        return True

    def settle(self, path: str) -> bool:
        return path not in self.pending or self._check(path)

    def check_type(self, type_: str | None) -> None:
        """Check the deferred templates of the definitions of `type_` (None: of all)."""
        for path in [path for path, (_, of, _) in self.pending.items() if type_ is None or of == type_]:
            self._check(path)

    def check_paths(self, paths: Iterable[str]) -> None:
        """Check the deferred templates of the definitions at `paths`."""
        for path in paths:
            if path in self.pending:
                self._check(path)

    def _check(self, path: str) -> bool:
        document, type_, place = self.pending.pop(path)
        problems = _template_problems(document)
        if not problems:
            return True
        at = place + sum(n for p, other, n in self._placed if (p, other) < (place, path))
        self.findings[at:at] = problems
        self._placed.append((place, path, len(problems)))
        bisect.insort(self.broken.setdefault(type_, []), path)
        del self.definitions[path]
        self.failed = True
        return False


_DEFERRED: weakref.WeakSet[DeferredTemplates] = weakref.WeakSet()


def _check_before_fork() -> None:
    """Forked workers plan with a copy of the snapshot, and what they check would stay theirs: every deferred
    template is checked before a fork instead, so the parent's findings hold what any worker could find (those of
    a full load, as before templates were deferred)."""
    for deferred in list(_DEFERRED):
        deferred.check_type(None)


os.register_at_fork(before=_check_before_fork)


class _BrokenTypes(Mapping[str, list[str]]):
    """Snapshot.broken_definition_types: looking a type up checks its deferred templates first."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def __getitem__(self, type_: str) -> list[str]:
        self._snapshot._check_templates(type_)
        return self._snapshot._broken[type_]

    def __iter__(self) -> Iterator[str]:
        self._snapshot._check_templates(None)
        return iter(self._snapshot._broken)

    def __len__(self) -> int:
        self._snapshot._check_templates(None)
        return len(self._snapshot._broken)


def _is_definition_path(path: str, findings: list[Finding]) -> bool:
    """Whether a file under definitions/ is placed as a definition is; a misplaced one is reported, unless it is
    documentation (.md, .txt)."""
    if path.count("/") == 2 and path.endswith((".yaml", ".yml")):
        return True
    if not path.endswith((".md", ".txt")):
        findings.append(
            Finding(
                path,
                0,
                0,
                "not a resource definition: definitions live at definitions/<type>/<id>.yaml",
            )
        )
    return False


def _definition_problems(document: Document, path: str, ids: dict[str, str], sink: _Checked) -> list[Finding]:
    """What is wrong with a definition's document, in order: its schema, then where it stands (id, type, an id
    already taken), then its content (template syntax, secrets). Each step runs only when the one before passed.
    `sink` may defer the template check of a definition that is otherwise fine (see DeferredTemplates)."""
    problems = validate_document("definition", document)
    if not problems:
        taken = ids.get(document.data["id"])
        if taken is not None and not sink.settle(taken):
            del ids[document.data["id"]]  # its template failed: the id was never taken, as a full load finds
        problems = _definition_place_problems(document, path, ids)
    # A definition with a secret problem is broken whatever its templates hold: they are checked now.
    if not problems and (_secret_problems(document) or not sink.defer(path, document)):
        problems = _definition_content_problems(document)
    return problems


def _definition_place_problems(document: Document, path: str, ids: Mapping[str, str]) -> list[Finding]:
    """A definition's id is its file name and unique; its type is its folder's name."""
    data: dict[str, Any] = document.data
    _, folder_type, file_name = path.split("/")
    stem = posixpath.splitext(file_name)[0]
    problems: list[Finding] = []
    if data["id"] != stem:
        problems.append(
            document.finding(
                ("id",),
                f"id {data['id']!r} differs from the file name: rename one so both are {stem!r}",
            )
        )
    if data["type"] != folder_type:
        problems.append(
            document.finding(
                ("type",),
                f"type {data['type']!r} differs from its folder definitions/{folder_type}/: move the file or fix the type",
            )
        )
    if data["id"] in ids:
        problems.append(
            document.finding(
                ("id",),
                f"definition id {data['id']!r} is also used by {ids[data['id']]}: ids must be unique",
            )
        )
    return problems


def _definition_content_problems(document: Document) -> list[Finding]:
    """Templates that do not parse, and secret values a definition would write to git."""
    return [*_template_problems(document), *_secret_problems(document)]


def _template_problems(document: Document) -> list[Finding]:
    """Syntax errors of a definition's templates, located in its file."""
    from gitops_engine.templating import check_template_syntax  # lazy: Jinja2 costs ~30 ms to import

    data: dict[str, Any] = document.data
    problems: list[Finding] = []
    for key in ("outputs", "manifests"):
        text = (data.get("template") or {}).get(key)
        if text is not None:
            problems.extend(check_template_syntax(text, document, ("template", key)))
    return problems


def _secret_problems(document: Document) -> list[Finding]:
    """Secret values a definition would write to git."""
    data: dict[str, Any] = document.data
    problems: list[Finding] = []
    for index, manifest in enumerate(data.get("manifests") or []):
        problem = secret_literal_problem(manifest)
        if problem:
            problems.append(document.finding(("manifests", index), problem))
    if data["driver"] == "static":
        secret = tuple(data.get("secretOutputs") or ())
        for name, problem in secret_output_problems(data.get("outputs") or {}, secret):
            problems.append(document.finding(("outputs", name), problem))
    return problems


def _definition(document: Document, path: str, blob: str) -> Definition:
    """The record of a definition whose document passed every check."""
    data: dict[str, Any] = document.data
    template = data.get("template") or {}
    return Definition(
        id=data["id"],
        type=data["type"],
        description=data.get("description", ""),
        criteria=tuple(_criterion(c) for c in data.get("criteria") or ()),
        driver=data["driver"],
        path=path,
        blob=blob,
        document=document,
        template_outputs=template.get("outputs"),
        template_manifests=template.get("manifests"),
        static_outputs=data.get("outputs") if data["driver"] == "static" else None,
        static_manifests=tuple(data.get("manifests") or ()),
        secret_outputs=tuple(data.get("secretOutputs") or ()),
        declared_version=data.get("version"),
    )


def secret_literal_problem(manifest: Any) -> str | None:
    """Rendered output never holds secret values: a Secret with data or stringData is refused, wherever it is
    (a manifest, or an object nested in one: a List's items, a Template's objects, any field)."""
    stack = [manifest]
    while stack:  # a loop, not recursion: nesting depth is the input's choice
        value = stack.pop()
        if isinstance(value, dict):
            if value.get("kind") == "Secret" and (value.get("data") or value.get("stringData")):
                nested = "" if value is manifest else " (nested inside this manifest)"
                return (
                    f"a Secret with literal data or stringData{nested} would put secret values in git: use an "
                    "ExternalSecret (or similar) and expose the key as a secretKeyRef output"
                )
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


SECRET_OUTPUTS = ("password",)  # secret whatever the definition says; `secretOutputs` adds to them


def secret_output_problems(outputs: Mapping[str, Any], declared: Iterable[str]) -> list[tuple[str, str]]:
    """(output name, problem) for each secret output (password, and those the definition declares in
    `secretOutputs`) that is not a secretKeyRef. The message never shows the value."""
    problems: list[tuple[str, str]] = []
    for name in sorted({*SECRET_OUTPUTS, *declared}):
        if name in outputs and not is_secret_ref(outputs[name]):
            why = "always a secret" if name in SECRET_OUTPUTS else "declared in secretOutputs"
            problems.append(
                (
                    name,
                    f"output {name!r} is a secret ({why}) but holds a literal value, which would be written to git: "
                    f"make it {{secretKeyRef: {{name: <Secret name>, key: <key>}}}}, a Secret that External Secrets "
                    "(or similar) fills",
                )
            )
    return problems


def is_secret_ref(value: Any) -> bool:
    """Whether an output value is exactly {secretKeyRef: {name, key}} (both strings)."""
    if not isinstance(value, dict) or set(value) != {"secretKeyRef"}:
        return False
    ref = value["secretKeyRef"]
    return (
        isinstance(ref, dict)
        and set(ref) == {"name", "key"}
        and all(isinstance(ref[k], str) and ref[k] for k in ("name", "key"))
    )


def _criterion(raw: Mapping[str, Any]) -> Criterion:
    return Criterion(
        class_=raw.get("class"),
        env_type=raw.get("env_type"),
        env=raw.get("env"),
        team=raw.get("team"),
        workload=raw.get("workload"),
        res_id=raw.get("res_id"),
    )


def _discover_workloads(
    paths: list[str], files: Mapping[str, str], findings: list[Finding], symlinks: Collection[str] = ()
) -> dict[str, str]:
    """Workload keys -> Score file paths (in path order) among `paths` (sorted, under workloads/); what is wrong
    with them goes to `findings`. Kept to C-level string calls: it runs over every workload file. A symbolic link
    inside a workload folder fails that workload (see _load_workload); one above it is reported here."""
    found: dict[str, str] = {}
    folders: set[str] = set()  # folders holding other files than score.yaml
    for path in paths:
        depth = path.count("/")
        if depth < 3 and path in symlinks:
            findings.append(symlink_finding(path))
            continue
        if depth == 3 and path.endswith(f"/{SCORE_FILE}"):
            key = path[len("workloads/") : -len(SCORE_FILE) - 1]
            if _VALID_KEY.match(key):  # both names DNS labels (and so never _shared)
                found[key] = path
                continue
            findings.extend(
                Finding(
                    path,
                    1,
                    1,
                    f"{what} folder name {value!r} is not a valid name: use lower-case letters, digits and '-' "
                    "(a DNS label, at most 63 characters), since it becomes a namespace, path and branch name",
                )
                for what, value in zip(("team", "workload"), key.split("/"), strict=True)
                if not is_dns_label(value) or value == SHARED_FOLDER
            )
        elif depth >= 3:
            folders.add("/".join(path.split("/", 3)[:3]))
        elif not path.endswith((".md", ".txt", "/.gitkeep")):
            findings.append(
                Finding(
                    path,
                    0,
                    0,
                    "Score files live at workloads/<team>/<workload>/score.yaml: move this file there",
                )
            )
    for folder in sorted(folders):
        if f"{folder}/{SCORE_FILE}" not in files and f"{folder}/score.yml" in files:
            findings.append(
                Finding(
                    f"{folder}/score.yml",
                    0,
                    0,
                    f"the Score file must be named {SCORE_FILE}: rename it (git mv {folder}/score.yml "
                    f"{folder}/{SCORE_FILE})",
                )
            )
        elif f"{folder}/{SCORE_FILE}" not in files:
            findings.append(
                Finding(
                    f"{folder}/{SCORE_FILE}",
                    0,
                    0,
                    f"{folder}/ has files but no score.yaml: add one or remove the folder",
                )
            )
    return found


def _load_workload(snapshot: Snapshot, key: str) -> Workload:
    """A workload's Score file, its overrides and its other files, checked: every problem found, with the unit,
    in one InputError."""
    path = snapshot.workload_paths.get(key)
    if path is None:
        raise InputError(
            [
                Finding(
                    f"workloads/{key}/{SCORE_FILE}", 0, 0, f"no workload {key!r} in {snapshot.source.label}"
                )
            ]
        )
    team, name = key.split("/", 1)
    folder_files = snapshot.workload_files(key)
    linked = [symlink_finding(p) for p in folder_files if p in snapshot.source.symlinks]
    if linked:  # a link anywhere in the folder: its Score file, an override, a referenced file or folder
        raise InputError([_with_unit(f, key) for f in linked])
    try:
        document = _read_document(snapshot.source, path, snapshot.settings.max_file_bytes)
    except InputError as exc:
        raise InputError([_with_unit(f, key) for f in exc.findings]) from None
    findings = _score_problems(document, key)
    overrides = _load_overrides(snapshot, key, document, folder_files, findings)
    parsed = {path, *(override.path for override in overrides.values())}
    findings.extend(_size_problems(snapshot, key, [p for p in folder_files if p not in parsed]))
    if findings:
        raise InputError([_with_unit(f, key) for f in findings])
    return Workload(
        team=team,
        name=name,
        path=path,
        folder=f"workloads/{key}",
        document=document,
        files=folder_files,
        overrides=overrides,
    )


def _score_problems(document: Document, key: str) -> list[Finding]:
    """What is wrong with a Score file: its schema, then a metadata.name other than its folder's."""
    findings = validate_document("score", document, unit=key)
    if not findings:
        declared, name = document.data["metadata"]["name"], key.split("/", 1)[1]
        if declared != name:
            findings.append(
                document.finding(
                    ("metadata", "name"),
                    f"metadata.name {declared!r} differs from the folder name {name!r}: the folder is named after the "
                    "workload, rename one of them",
                    unit=key,
                )
            )
    return findings


def _load_overrides(
    snapshot: Snapshot, key: str, score: Document, folder_files: Iterable[str], findings: list[Finding]
) -> dict[str, Document]:
    """The workload's overrides.<env>.yaml files, by environment, in path order; what is wrong with them goes to
    `findings` (an override that cannot be used is left out)."""
    folder = f"workloads/{key}/"
    overrides: dict[str, Document] = {}
    for file_path in sorted(folder_files):
        base = file_path[len(folder) :]
        if base.startswith(OVERRIDE_PREFIX) and base.endswith(".yaml") and "/" not in base:
            env_id = base[len(OVERRIDE_PREFIX) : -len(".yaml")]
            override = _load_override(snapshot, key, score, file_path, env_id, findings)
            if override is not None:
                overrides[env_id] = override
    return overrides


def _load_override(
    snapshot: Snapshot, key: str, score: Document, path: str, env_id: str, findings: list[Finding]
) -> Document | None:
    """One override file: for a listed environment, a mapping that refines only what the Score file declares."""
    environments = snapshot.settings.environments
    if env_id not in environments:
        findings.append(
            Finding(
                path,
                1,
                1,
                f"override for unknown environment {env_id!r}{did_you_mean(env_id, environments)}: environments "
                f"are {', '.join(environments)}",
                unit=key,
            )
        )
        return None
    override = _try_read_document(snapshot.source, path, snapshot.settings.max_file_bytes, findings)
    if override is None:
        return None
    if override.data is not None and not isinstance(override.data, dict):
        findings.append(
            override.finding((), "an override file holds a mapping merged onto score.yaml", unit=key)
        )
        return None
    if isinstance(score.data, dict) and isinstance(override.data, dict):
        findings.extend(_override_problems(score.data, override, key))
    return override


def _size_problems(snapshot: Snapshot, key: str, paths: Iterable[str]) -> list[Finding]:
    """Files over the size limit among a workload's other files: they are read when rendering, and checked now so
    that nothing is half-rendered."""
    max_bytes = snapshot.settings.max_file_bytes
    problems: list[Finding] = []
    for path in paths:
        size = len(snapshot.source.read(path))
        if size > max_bytes:
            problems.append(
                Finding(
                    path,
                    1,
                    1,
                    f"file is {size} bytes, over the limit of {max_bytes} (platform.yaml limits.maxFileBytes)",
                    unit=key,
                )
            )
    return problems


def _override_problems(score: Mapping[str, Any], override: Document, unit: str) -> list[Finding]:
    """An override refines what score.yaml declares (its containers, their volumes, resources and service ports):
    a name score.yaml does not have is a typo or an addition in one environment, and both are refused."""
    problems: list[Finding] = []

    def check(where: tuple[str, ...], declared: Any, given: Any, what: str) -> None:
        if not isinstance(given, dict):
            return
        names = _declared_names(declared)
        for name in given:
            if name not in names:
                problems.append(
                    override.finding(
                        (*where, name),
                        f"{what} {name!r} is not declared in score.yaml{did_you_mean(str(name), names)}: an "
                        f"override only refines the {what}s score.yaml declares ({', '.join(sorted(names)) or 'none'}); "
                        f"to add one, declare it in score.yaml for every environment",
                        key=True,
                        unit=unit,
                    )
                )

    patch: Mapping[str, Any] = override.data
    containers, container_patches = score.get("containers"), patch.get("containers")
    check(("containers",), containers, container_patches, "container")
    if isinstance(containers, dict) and isinstance(container_patches, dict):
        for cname, cpatch in container_patches.items():
            container = containers.get(cname)
            if isinstance(container, dict) and isinstance(cpatch, dict):
                volumes = ("containers", cname, "volumes")
                check(volumes, container.get("volumes"), cpatch.get("volumes"), "volume")
    check(("resources",), score.get("resources"), patch.get("resources"), "resource")
    service, service_patch = score.get("service"), patch.get("service")
    if isinstance(service_patch, dict):
        check(
            ("service", "ports"),
            service.get("ports") if isinstance(service, dict) else None,
            service_patch.get("ports"),
            "service port",
        )
    return problems


def _declared_names(declared: Any) -> list[str]:
    """Names of a Score mapping, or targets of the deprecated list form (volumes, files)."""
    if isinstance(declared, dict):
        return [str(name) for name in declared]
    if isinstance(declared, list):
        return [str(item["target"]) for item in declared if isinstance(item, dict) and "target" in item]
    return []


def _with_unit(finding: Finding, unit: str) -> Finding:
    if finding.unit:
        return finding
    return Finding(finding.path, finding.line, finding.column, finding.message, finding.severity, unit)


def _load_codeowners(
    source: Source, files: Mapping[str, str], findings: list[Finding]
) -> dict[str, tuple[str, ...]]:
    """The first CODEOWNERS file GitHub would read, as pattern -> owners (see codeowners.parse)."""
    for path in CODEOWNERS_FILES:
        if path in files:
            try:
                text = source.read(path)
            except InputError as exc:
                _add_new(findings, exc.findings)
                return {}
            return codeowners.parse(text.decode("utf-8", "replace"))
    return {}

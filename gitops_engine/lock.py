"""The provenance lock of a rendered unit folder, `gitops-engine.lock`: its parsing and its writing.

A lock is JSON, written with one-space indents and sorted keys, ending in a newline:

- `engine`: the render version that wrote it;
- `unit`, `environment`, `namespace`;
- `inputs`: every file the render read (path -> blob id; an environment file -> the fingerprint of what rendering
  reads of it, `sha256:…`, see model.environment_fingerprint); `lookups`: what the workloads it looked up offered it
  (name as the template asked -> fingerprint);
- `resources`: each resource with the definition it matched (`definition`, `definition_path`, `version`),
  its `type`, `class`, `res_id`, whether it is `shared`, and what it `depends_on`;
- `manifests`: object key -> sha256 of its document; `request` (shared resources): a fingerprint of the request.

`Lock` reads as the mapping it was parsed from (locks written by older engines keep whatever they hold, and
`Lock.to_bytes` gives back the file byte for byte) and offers typed views of the fields the engine decides on.
"""

from __future__ import annotations

import json
import json.encoder
import zlib
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LockedResource:
    """One resource a lock records: what it was and the definition it was rendered with."""

    name: str
    type: str
    class_: str
    res_id: str | None
    shared: bool
    definition: str
    definition_path: str | None
    version: str

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> LockedResource:
        return cls(
            name=str(raw.get("name", "")),
            type=str(raw.get("type", "")),
            class_=str(raw.get("class", "")),
            res_id=None if raw.get("res_id") is None else str(raw["res_id"]),
            shared=bool(raw.get("shared")),
            definition=str(raw.get("definition", "")),
            definition_path=None if raw.get("definition_path") is None else str(raw["definition_path"]),
            version=str(raw.get("version", "")),
        )


class Lock(Mapping[str, Any]):
    """A parsed lock: the mapping as written, with typed views. Immutable (it is never edited, only rewritten).

    A lock parsed from its file keeps the file zlib-packed and its parsed form only while it is among the
    `RECENTLY_PARSED` locks last read: a definition change holds tens of thousands of locks, and parsed they were
    most of its memory. Reading one that was let go parses it again."""

    __slots__ = ("_packed", "_parsed")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._packed: bytes | None = None
        self._parsed: dict[str, Any] | None = dict(data)

    @classmethod
    def parse(cls, data: bytes) -> Lock | None:
        """The lock a file holds; None when it is not a JSON object (hand-edited, truncated)."""
        value = lock_object(data)
        if value is None:
            return None
        lock = cls.__new__(cls)
        lock._packed = zlib.compress(data, 1)
        lock._parsed = value
        _keep_parsed(lock)
        return lock

    @property
    def _data(self) -> dict[str, Any]:
        parsed = self._parsed
        if parsed is None:
            assert self._packed is not None
            parsed = self._parsed = json.loads(zlib.decompress(self._packed))
            _keep_parsed(self)
        return parsed

    def __reduce__(self) -> tuple[Any, ...]:
        if self._packed is None:
            return (Lock, (self._data,))
        return (_unpack, (self._packed,))

    @property
    def from_file(self) -> bool:
        """Whether it was parsed from a lock file (not made from a mapping)."""
        return self._packed is not None

    def to_bytes(self) -> bytes:
        """The file: exactly what the renderer writes for these fields."""
        return lock_bytes(self._data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Lock({self._data!r})"

    @property
    def engine(self) -> object:
        """The render version that wrote it (as written: older or hand-edited locks may hold anything)."""
        return self._data.get("engine")

    @property
    def namespace(self) -> str:
        return str(self._data.get("namespace", ""))

    @property
    def inputs(self) -> Mapping[str, str]:
        """Path -> blob id of every file the render read (an environment file: its fingerprint)."""
        value = self._data.get("inputs", {})
        return value if isinstance(value, dict) else {}

    @property
    def lookups(self) -> Mapping[str, str]:
        value = self._data.get("lookups", {})
        return value if isinstance(value, dict) else {}

    @property
    def resources(self) -> tuple[LockedResource, ...]:
        value = self._data.get("resources", [])
        return (
            tuple(LockedResource.of(r) for r in value if isinstance(r, dict))
            if isinstance(value, list)
            else ()
        )

    @property
    def manifests(self) -> Mapping[str, str] | None:
        """Object key -> digest; None when the lock does not list its objects (the folder's files then tell)."""
        value = self._data.get("manifests")
        return value if isinstance(value, dict) else None

    def shared_ids(self) -> list[str]:
        """The ids of the shared resources it uses, in the lock's order."""
        return [str(r["res_id"]) for r in self._data.get("resources", []) if r.get("shared")]


# Locks kept parsed (~6 KB each): the few a unit's planning reads again and again, and the old locks of the units
# of a run of a few hundred pull requests, whose titles, messages and bodies read them again after planning (111
# pull requests with 64: each read parsed again, ~15 ms of the run).
RECENTLY_PARSED = 1024
_PARSED: deque[Lock] = deque()


def _keep_parsed(lock: Lock) -> None:
    """`lock` was just parsed: it stays parsed until RECENTLY_PARSED locks were parsed after it."""
    _PARSED.append(lock)
    if len(_PARSED) > RECENTLY_PARSED:
        _PARSED.popleft()._parsed = None


def _unpack(packed: bytes) -> Lock:
    lock = Lock.__new__(Lock)
    lock._packed = packed
    lock._parsed = None
    return lock


def lock_bytes(provenance: Mapping[str, Any]) -> bytes:
    """The lock file for a unit's provenance: JSON with one-space indents and sorted keys, ending in a newline."""
    if type(provenance) is dict:
        out: list[str] = []
        try:
            _json_into(provenance, out, "\n")
        except _NotPlain:
            pass
        else:
            out.append("\n")
            return "".join(out).encode()
    return (json.dumps(provenance, indent=1, sort_keys=True) + "\n").encode()


# What `json.dumps(value, indent=1, sort_keys=True)` writes, written here: with an indent, the json module encodes
# in Python, through generators, and that was a fifth of packaging a unit. Strings are encoded by the json module's
# own C function. Anything but dicts with string keys, lists, tuples, strings, integers, booleans and None (floats,
# subclasses) raises _NotPlain, and json.dumps writes the whole lock.
_encode_string = json.encoder.encode_basestring_ascii


class _NotPlain(Exception):
    pass


def _json_into(value: Any, out: list[str], newline: str) -> None:
    kind = type(value)
    if kind is str:
        out.append(_encode_string(value))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        for key in value:
            if type(key) is not str:
                raise _NotPlain
        inner, opening = newline + " ", "{"
        for key in sorted(value):
            out.append(f"{opening}{inner}{_encode_string(key)}: ")
            opening = ","
            _json_into(value[key], out, inner)
        out.append(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner, opening = newline + " ", "["
        for item in value:
            out.append(opening + inner)
            opening = ","
            _json_into(item, out, inner)
        out.append(newline + "]")
    elif kind is int:
        out.append(int.__repr__(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    else:
        raise _NotPlain


def lock_object(data: bytes) -> dict[str, Any] | None:
    """The JSON object a lock file holds, plainly parsed (no `Lock` kept for later); None when it is not one."""
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_lock(data: bytes) -> Lock | None:
    """`Lock.parse`, for callers holding the bytes of a lock that may not be one."""
    return Lock.parse(data)

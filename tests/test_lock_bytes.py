"""lock.lock_bytes writes exactly what `json.dumps(provenance, indent=1, sort_keys=True)` and a newline write,
whatever the provenance holds: its own writer for plain data, json.dumps for anything else."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from gitops_engine.lock import lock_bytes


def written(write: Any, value: Any) -> bytes | str:
    """What `write` gives for `value`, or the error it raises."""
    try:
        return bytes(write(value))
    except (TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def expected(value: Any) -> bytes | str:
    return written(lambda v: (json.dumps(v, indent=1, sort_keys=True) + "\n").encode(), value)


@pytest.mark.parametrize(
    "provenance",
    [
        {},
        {"a": {}, "b": [], "c": [{}], "d": [[]], "e": ()},
        {"engine": 7, "unit": "shop/web", "manifests": {"Service/web": "ab12"}, "shared": False, "x": None},
        {"z": 1, "a": 2, "M": 3, "_": 4, "é": "ü", "\u2028": '\x00\x1f"\\/'},
        {"big": 2**70, "neg": -1, "bool": True, "list": [1, "two", None, False, [3, {"k": "v"}]]},
        {"tuple": (1, (2, 3))},
        {"float": 1.5, "inf": float("inf")},  # json.dumps writes these
        {"nested": {1: "int key", "b": 2}},  # keys json.dumps cannot sort: the same error
        {"nested": {1: "int key", 2: 2}},  # keys json.dumps converts
        {"t": (1, 2), "emoji": "\U0001f600"},
    ],
)
def test_the_lock_is_what_json_dumps_writes(provenance: dict[str, Any]) -> None:
    assert written(lock_bytes, provenance) == expected(provenance)


def test_random_provenance_is_written_as_json_dumps_writes_it() -> None:
    rng = random.Random(11)
    texts = ["", "a", "shop/web", "Service/web-1", "é", "\n\t", '"', "\\", "\x7f", "\U0001f600", "a b"]

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.5:
            return rng.choice([*texts, 0, -5, 2**64, True, False, None])
        if roll < 0.8:
            return {rng.choice(texts): value(depth + 1) for _ in range(rng.randint(0, 4))}
        return [value(depth + 1) for _ in range(rng.randint(0, 4))]

    for _ in range(2000):
        provenance = {rng.choice(texts): value(1) for _ in range(rng.randint(0, 6))}
        assert written(lock_bytes, provenance) == expected(provenance)

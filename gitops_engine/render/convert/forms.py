"""Score's two forms of `files` and `volumes`: a mapping of target to spec, or the deprecated list of specs with a
`target` each."""

from __future__ import annotations

from typing import Any


def by_target(entries: Any) -> list[tuple[str, dict[str, Any]]]:
    """(target, spec without target) of each entry, sorted by target."""
    if not entries:
        return []
    if isinstance(entries, list):  # deprecated list form
        return sorted(
            ((e["target"], {k: v for k, v in e.items() if k != "target"}) for e in entries),
            key=lambda x: x[0],
        )
    return sorted(((target, dict(spec or {})) for target, spec in entries.items()), key=lambda x: x[0])

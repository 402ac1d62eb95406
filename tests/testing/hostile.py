"""Hostile inputs the tests feed the engine."""

from __future__ import annotations


def alias_bomb(indent: int) -> str:
    """Eight mapping lines (`a:` to `h:`), each a list of nine aliases of the one before: 9**8 (43 million) values
    once expanded, from 600 bytes. Indented by `indent` spaces; no newline after the last line."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(" " * indent + line for line in lines)

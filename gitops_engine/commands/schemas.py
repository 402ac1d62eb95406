"""`gitops-engine schemas [--write]`: the editor schemas in `.gitops-engine/schemas/` of a platform repo.

The template's `# yaml-language-server: $schema=` lines point there by relative path, so editors validate and
complete every file offline. After an upgrade of the engine, `--write` brings the copies up to date; without it
the command only checks them (exit 1 when one is missing or differs, like `render --check`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from gitops_engine.schema import repo_schema_files
from gitops_engine.tree import TreeChanges, write_tree


def schemas(repo: Path, *, write: bool = False, out: TextIO | None = None) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    wanted = repo_schema_files()
    stale = {
        path: content
        for path, content in wanted.items()
        if not (repo / path).is_file() or (repo / path).read_bytes() != content
    }
    if write:
        write_tree(repo, TreeChanges(writes=stale, deletes=[]))
        for path in sorted(stale):
            out.write(f"wrote {path}\n")
        out.write(f"{len(wanted)} schema(s) up to date in {Path(next(iter(wanted))).parent}/\n")
        return 0
    for path in sorted(stale):
        out.write(f"{'stale' if (repo / path).is_file() else 'missing'}: {path}\n")
    if stale:
        out.write(f"{len(stale)} schema(s) out of date: run `gitops-engine schemas --write`\n")
        return 1
    out.write(f"{len(wanted)} schema(s) up to date in {Path(next(iter(wanted))).parent}/\n")
    return 0

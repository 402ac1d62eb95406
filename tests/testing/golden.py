"""Golden files (`tests/golden/`) and rendered trees read back as files or as objects.

`GOLDEN_UPDATE=1` rewrites golden files instead of comparing (see the package's docstring).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
GOLDEN_UPDATE = os.environ.get("GOLDEN_UPDATE") == "1"


def snapshot_tree(root: Path, under: str = "rendered") -> dict[str, bytes]:
    """Every file below `root/under`, path relative to `root` -> bytes."""
    found: dict[str, bytes] = {}
    base = root / under
    if not base.exists():
        return found
    for path in sorted(base.rglob("*")):
        if path.is_file():
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def changed_paths(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> list[str]:
    """Paths of `after` (a snapshot_tree) that are new or differ from `before`, sorted."""
    return sorted(path for path in after if after[path] != before.get(path))


def tree_text(files: Mapping[str, bytes]) -> str:
    """A tree as one text (for golden files): each file under a `# path` header."""
    parts = []
    for path, content in sorted(files.items()):
        parts.append(f"# {path}\n{content.decode('utf-8')}")
    return "".join(f"{p}\n" if not p.endswith("\n") else p for p in parts)


def assert_golden(name: str, text: str) -> None:
    """Compare `text` with tests/golden/NAME; with GOLDEN_UPDATE=1 write it instead."""
    path = GOLDEN_DIR / name
    if GOLDEN_UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return
    if not path.exists():
        raise AssertionError(
            f"golden file {path} is missing: run with GOLDEN_UPDATE=1 to create it, then review it"
        )
    expected = path.read_bytes().decode("utf-8")  # bytes: no newline translation
    if expected != text:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"golden/{name}",
                tofile="actual",
            )
        )
        raise AssertionError(f"output differs from golden/{name} (GOLDEN_UPDATE=1 refreshes it):\n{diff}")


def assert_golden_tree(name: str, files: Mapping[str, bytes]) -> None:
    """Compare a whole tree (path -> bytes) with the files under tests/golden/NAME/; GOLDEN_UPDATE=1 rewrites it
    (files no longer produced are removed)."""
    root = GOLDEN_DIR / name
    if GOLDEN_UPDATE:
        _rewrite_tree(root, files)
        return
    expected = {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
    if not expected:
        raise AssertionError(
            f"golden tree {root} is missing: run with GOLDEN_UPDATE=1 to create it, then review it"
        )
    missing = sorted(set(expected) - set(files))
    extra = sorted(set(files) - set(expected))
    assert not missing and not extra, (
        f"golden/{name}: missing {missing}, unexpected {extra} (GOLDEN_UPDATE=1 refreshes)"
    )
    for path in sorted(files):
        assert_golden(f"{name}/{path}", files[path].decode("utf-8"))


def _rewrite_tree(root: Path, files: Mapping[str, bytes]) -> None:
    if root.exists():
        for old in sorted(root.rglob("*"), reverse=True):
            if old.is_file():
                old.unlink()
            elif old.is_dir() and not any(old.iterdir()):
                old.rmdir()
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def rendered_objects(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Every object of a rendered tree (path -> content, as snapshot_tree gives it) by the path an engine before
    render version 3 wrote it to, `rendered/<env>/<unit>/<kind>-<name>.yaml`, as `manifest.yaml` holds it; the
    locks as they are. What tests that name objects by path read."""
    from gitops_engine.manifest import MANIFEST_FILE, document_key, legacy_file_name, split_manifest

    out: dict[str, bytes] = {}
    for path, content in files.items():
        folder, _, name = path.rpartition("/")
        if name != MANIFEST_FILE:
            out[path] = content
            continue
        for document in split_manifest(content):
            key = document_key(document)
            assert key is not None, f"{path}: a document without kind or name"
            out[f"{folder}/{legacy_file_name(key)}"] = document
    return dict(sorted(out.items()))


def read_object(repo: Path, path: str) -> str:
    """One rendered object, named as `rendered/<env>/<unit>/<kind>-<name>.yaml` (see rendered_objects)."""
    folder = path.rpartition("/")[0]
    objects = rendered_objects(snapshot_tree(repo, folder))
    if path not in objects:
        raise FileNotFoundError(f"{path}: no such object in {folder}/manifest.yaml")
    return objects[path].decode("utf-8")

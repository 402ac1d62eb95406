"""docs/architecture.md names modules, classes and functions: each dotted name it writes in backticks
(`module.name`, `package.module.name`, `Class.method`) must still exist, so the page cannot drift from the code
unnoticed."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gitops_engine"
# Dotted names the page takes from elsewhere: the standard library, and keys of platform.yaml and environments.
NOT_CODE = frozenset(
    {"graphlib.TopologicalSorter", "pullRequests.maxPerHour", "rollout.mode", "rollout.after"}
)
DOTTED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")


@cache
def _names(path: Path) -> frozenset[str]:
    """Top-level names a module defines, and `Class.member` for the members of its classes."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.add(f"{node.name}.{member.name}")
                elif isinstance(member, ast.AnnAssign) and isinstance(member.target, ast.Name):
                    found.add(f"{node.name}.{member.target.id}")
        elif isinstance(node, ast.Assign):
            found.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return frozenset(found)


def _module(parts: list[str]) -> Path | None:
    path = (ROOT / "tests" if parts[0] == "testing" else PACKAGE).joinpath(*parts)
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _exists(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[-1] in {"py", "md", "yaml", "yml", "json", "lock"} or dotted in NOT_CODE:  # not a Python name
        return True
    for split in range(len(parts), 0, -1):
        module = _module(parts[:split])
        if module is not None:
            rest = ".".join(parts[split:])
            return not rest or rest in _names(module) or any(rest in _names(m) for m in _submodules(module))
    # `Class.method` without its module: look in every module
    return any(dotted in _names(path) for path in PACKAGE.rglob("*.py"))


def _submodules(module: Path) -> list[Path]:
    return sorted(module.parent.glob("*.py")) if module.name == "__init__.py" else []


def test_every_dotted_name_in_the_architecture_page_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    names = sorted(set(DOTTED.findall(text)))
    assert len(names) > 30  # the page does name the code
    missing = [name for name in names if not _exists(name)]
    assert missing == []


def test_a_name_that_is_not_in_the_code_is_reported() -> None:
    assert _exists("reconcile.reconcile_once")
    assert _exists("publishing.describe.preview_markdown")
    assert not _exists("reconcile.no_such_stage")
    assert not _exists("publishing.describe.no_such_text")

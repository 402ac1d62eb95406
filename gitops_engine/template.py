"""Where the bundled platform repo template lives: inside the wheel, or beside the package in a source checkout."""

from __future__ import annotations

from pathlib import Path

from gitops_engine.errors import UsageError


def template_dir() -> Path:
    packaged = Path(__file__).parent / "_template"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).parent.parent / "platform-repo-template"
    if checkout.is_dir():
        return checkout
    raise UsageError(
        "the bundled platform-repo-template is missing from this installation: reinstall gitops-engine"
    )

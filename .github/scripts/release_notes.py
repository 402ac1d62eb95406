"""Print the CHANGELOG.md section of one version (the release notes): `python release_notes.py 1.2.3`.

Exits 1 when the version has no `## [X.Y.Z] - YYYY-MM-DD` section or the section is empty, so a tag whose
changelog was forgotten fails before anything is published.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CHANGELOG = Path(__file__).resolve().parent.parent.parent / "CHANGELOG.md"


def section(text: str, version: str) -> str | None:
    """The body of `## [version] - date`, up to the next `## ` heading or link definitions; None if absent."""
    heading = re.compile(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}\s*$", re.M)
    found = heading.search(text)
    if found is None:
        return None
    rest = text[found.end() :]
    end = re.search(r"^(## |\[[^\]]+\]: )", rest, re.M)
    body = (rest[: end.start()] if end else rest).strip("\n")
    return body + "\n" if body.strip() else None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: release_notes.py VERSION", file=sys.stderr)
        return 2
    version = argv[1].removeprefix("v")
    body = section(CHANGELOG.read_text(encoding="utf-8"), version)
    if body is None:
        print(f"CHANGELOG.md has no section '## [{version}] - YYYY-MM-DD' with entries", file=sys.stderr)
        return 1
    sys.stdout.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

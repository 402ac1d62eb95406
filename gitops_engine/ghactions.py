"""GitHub Actions conventions: annotations, the job summary, step outputs and log masking.

Everything here follows GitHub's "workflow commands" documentation and the escaping of the official toolkit
(`@actions/core`), so messages with `%`, newlines, `:` or `,` arrive intact. Functions that write files do nothing
when the runner did not name the file (outside GitHub Actions, or an older runner), so callers need no checks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

from gitops_engine.errors import Finding

# GitHub refuses a step summary larger than this (and then shows none of it), so we cut ours short instead.
SUMMARY_LIMIT_BYTES = 1024 * 1024
_TRUNCATED_NOTE = "\n\n_(summary truncated: GitHub shows at most 1 MiB per step)_\n"

_COMMANDS = {"error": "error", "warning": "warning", "notice": "notice"}


def in_github_actions() -> bool:
    """True when running as a GitHub Actions step (the runner sets GITHUB_ACTIONS=true)."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(value: str) -> str:
    """Escape the message part of a workflow command (after `::`)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a property value of a workflow command (`file=…,line=…`), where `:` and `,` are separators."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding, *, path_prefix: str = "") -> str:
    """The workflow command that shows `finding` as an annotation on its file and line.

    `path_prefix` is prepended to the finding's path when the platform repo is a sub-directory of the checkout
    (annotations are matched against paths relative to the repository root).
    """
    command = _COMMANDS.get(finding.severity, "error")
    properties: list[tuple[str, str]] = []
    if finding.path:
        path = f"{path_prefix.rstrip('/')}/{finding.path}" if path_prefix else finding.path
        properties.append(("file", path))
        if finding.line > 0:
            properties.append(("line", str(finding.line)))
            if finding.column > 0:
                properties.append(("col", str(finding.column)))
    title = f"gitops-engine: {finding.unit}" if finding.unit else "gitops-engine"
    properties.append(("title", title))
    rendered = ",".join(f"{name}={escape_property(value)}" for name, value in properties)
    return f"::{command} {rendered}::{escape_data(finding.text)}"


def emit_annotations(
    findings: Iterable[Finding], stream: TextIO | None = None, *, path_prefix: str = ""
) -> int:
    """Print one annotation per finding (to stdout unless `stream` is given); returns how many were printed.

    GitHub displays at most 10 errors and 10 warnings per step; the rest still appear in the log.
    """
    out = stream if stream is not None else sys.stdout
    count = 0
    for finding in findings:
        out.write(annotation(finding, path_prefix=path_prefix) + "\n")
        count += 1
    out.flush()
    return count


def write_summary(markdown: str) -> bool:
    """Append `markdown` to the job summary (the file named by GITHUB_STEP_SUMMARY); False when there is none.

    The runner gives each step its own file and shows all of it after the step, so several calls add up: we
    append, end with a newline, and cut the text short rather than exceed GitHub's 1 MiB per-step limit.
    """
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    data = markdown.encode("utf-8")
    if not data.endswith(b"\n"):
        data += b"\n"
    try:
        used = os.path.getsize(target)
    except OSError:
        used = 0
    room = SUMMARY_LIMIT_BYTES - used
    if len(data) > room:
        note = _TRUNCATED_NOTE.encode("utf-8")
        keep = max(room - len(note), 0)
        # Cut on a character boundary: drop a partial UTF-8 sequence instead of writing invalid text.
        data = (data[:keep].decode("utf-8", errors="ignore").encode("utf-8") + note) if keep else b""
    if data:
        with open(target, "ab") as handle:
            handle.write(data)
    return True


def set_outputs(outputs: Mapping[str, str | int | bool]) -> bool:
    """Set step outputs by appending to the file named by GITHUB_OUTPUT; False when there is none.

    Single-line values are written as `name=value`; values with a line break use GitHub's heredoc form with a
    delimiter derived from the value (deterministic) and checked not to occur in it (collision-safe).
    Booleans become `true`/`false`, as workflow expressions compare them.
    """
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return False
    lines: list[str] = []
    for name, raw in outputs.items():
        _check_output_name(name)
        value = _output_value(raw)
        if "\n" in value or "\r" in value:
            delimiter = _delimiter_for(name, value)
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            lines.append(f"{name}={value}\n")
    with open(target, "a", encoding="utf-8", newline="") as handle:
        handle.write("".join(lines))
    return True


def mask(value: str, stream: TextIO | None = None) -> None:
    """Ask the runner to hide `value` in the log from now on.

    The runner masks log lines one at a time, so a multi-line value is registered line by line (as GitHub
    advises for private keys); registering it whole would hide nothing once it is printed over several lines.
    """
    out = stream if stream is not None else sys.stdout
    parts = value.splitlines() if ("\n" in value or "\r" in value) else [value]
    for part in parts:
        if part.strip():
            out.write(f"::add-mask::{escape_data(part)}\n")
    out.flush()


def _output_value(raw: str | int | bool) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _check_output_name(name: str) -> None:
    # GitHub accepts letters, digits, '-' and '_' (starting with a letter or '_'); anything else could break
    # the file format (a '=' or newline in a name would let a value forge other outputs).
    if not name or not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")):
        raise ValueError(f"invalid step output name {name!r}: start with a letter or '_'")
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in name):
        raise ValueError(f"invalid step output name {name!r}: use only letters, digits, '-' and '_'")


def _delimiter_for(name: str, value: str) -> str:
    # Derived from the content, so the same outputs always produce the same file; a value cannot contain the
    # hash of itself in practice, but we check and re-derive anyway rather than trust that.
    seed = f"{name}\0{value}"
    import hashlib  # lazy: ~2 ms of start-up, for step outputs only

    for attempt in range(1000):
        digest = hashlib.sha256(f"{attempt}\0{seed}".encode()).hexdigest()[:20]
        delimiter = f"ghadelim_{digest}"
        if delimiter not in value:
            return delimiter
    raise ValueError(f"could not find a heredoc delimiter for step output {name!r}")  # pragma: no cover

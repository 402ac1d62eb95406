"""GitHub Actions conventions: exact workflow-command text and the exact bytes written to the runner's files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from gitops_engine import ghactions
from gitops_engine.errors import Finding


@pytest.fixture(autouse=True)
def _outside_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite itself may run in GitHub Actions: start every test from a clean slate.
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ("1", False), ("", False)])
def test_in_github_actions(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", value)
    assert ghactions.in_github_actions() is expected


def test_not_in_github_actions_when_unset() -> None:
    assert ghactions.in_github_actions() is False


def test_escaping_follows_the_actions_toolkit() -> None:
    assert ghactions.escape_data("50% a:b, c\r\nd") == "50%25 a:b, c%0D%0Ad"
    assert ghactions.escape_property("50% a:b, c\r\nd") == "50%25 a%3Ab%2C c%0D%0Ad"
    # '%' first, so an escape sequence already in the text survives the round trip.
    assert ghactions.escape_data("%0A") == "%250A"


def test_error_annotation() -> None:
    finding = Finding("workloads/team-a/api/score.yaml", 12, 5, "unknown resource type 'postgress'")
    assert ghactions.annotation(finding) == (
        "::error file=workloads/team-a/api/score.yaml,line=12,col=5,title=gitops-engine"
        "::unknown resource type 'postgress'"
    )


def test_warning_annotation_names_the_unit() -> None:
    finding = Finding(
        "definitions/postgres/default.yaml", 3, 0, "deprecated", severity="warning", unit="team-a/api"
    )
    assert ghactions.annotation(finding) == (
        "::warning file=definitions/postgres/default.yaml,line=3,title=gitops-engine%3A team-a/api::deprecated"
    )


def test_annotation_escapes_data_and_properties() -> None:
    finding = Finding("workloads/a,b/c:d/score.yaml", 1, 2, "100% wrong:\nline two, really\r")
    assert ghactions.annotation(finding) == (
        "::error file=workloads/a%2Cb/c%3Ad/score.yaml,line=1,col=2,title=gitops-engine"
        "::100%25 wrong:%0Aline two, really%0D"
    )


def test_annotation_without_position() -> None:
    assert ghactions.annotation(Finding("platform.yaml", 0, 0, "missing")) == (
        "::error file=platform.yaml,title=gitops-engine::missing"
    )
    assert (
        ghactions.annotation(Finding("", 0, 0, "no platform.yaml"))
        == "::error title=gitops-engine::no platform.yaml"
    )


def test_annotation_path_prefix_for_a_platform_repo_in_a_subdirectory() -> None:
    finding = Finding("platform.yaml", 2, 1, "bad")
    assert ghactions.annotation(finding, path_prefix="platform/") == (
        "::error file=platform/platform.yaml,line=2,col=1,title=gitops-engine::bad"
    )


def test_unknown_severity_is_an_error_and_notice_is_kept() -> None:
    assert ghactions.annotation(Finding("a", 1, 1, "m", severity="fatal")).startswith("::error ")
    assert ghactions.annotation(Finding("a", 1, 1, "m", severity="notice")).startswith("::notice ")


def test_emit_annotations() -> None:
    stream = io.StringIO()
    count = ghactions.emit_annotations(
        [Finding("a.yaml", 1, 2, "first"), Finding("b.yaml", 3, 4, "second", severity="warning")], stream
    )
    assert count == 2
    assert stream.getvalue() == (
        "::error file=a.yaml,line=1,col=2,title=gitops-engine::first\n"
        "::warning file=b.yaml,line=3,col=4,title=gitops-engine::second\n"
    )


def test_emit_annotations_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    ghactions.emit_annotations([Finding("a.yaml", 1, 1, "x")])
    assert capsys.readouterr().out == "::error file=a.yaml,line=1,col=1,title=gitops-engine::x\n"


def test_write_summary_appends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert ghactions.write_summary("## gitops-engine\n\n| env | units |\n| --- | --- |\n| prod | 3 |") is True
    assert ghactions.write_summary("done ✓\n") is True
    assert summary.read_bytes() == (
        b"# earlier step\n## gitops-engine\n\n| env | units |\n| --- | --- |\n| prod | 3 |\ndone \xe2\x9c\x93\n"
    )


def test_write_summary_without_a_summary_file(tmp_path: Path) -> None:
    assert ghactions.write_summary("ignored") is False
    assert list(tmp_path.iterdir()) == []


def test_write_summary_stays_under_githubs_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setattr(ghactions, "SUMMARY_LIMIT_BYTES", 100)
    assert ghactions.write_summary("é" * 200) is True
    data = summary.read_bytes()
    assert len(data) <= 100
    text = data.decode("utf-8")  # never cut inside a character
    assert text.endswith("_(summary truncated: GitHub shows at most 1 MiB per step)_\n")
    assert text.startswith("éé")
    # Full: nothing more is written, and the file stays valid.
    assert ghactions.write_summary("more") is True
    assert summary.read_bytes() == data


def test_set_outputs_single_and_multi_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "output"
    output.write_text("earlier=1\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    body = "## Preview\n\n- team-a/api\n"
    assert ghactions.set_outputs(
        {"affected": 2, "changed": True, "skipped": False, "units": "a b", "body": body}
    )
    text = output.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[:5] == ["earlier=1", "affected=2", "changed=true", "skipped=false", "units=a b"]
    delimiter = lines[5].removeprefix("body<<")
    assert lines[5].startswith("body<<ghadelim_") and len(delimiter) == len("ghadelim_") + 20
    assert lines[6:] == ["## Preview", "", "- team-a/api", "", delimiter, ""]
    assert (
        text
        == f"earlier=1\naffected=2\nchanged=true\nskipped=false\nunits=a b\nbody<<{delimiter}\n{body}\n{delimiter}\n"
    )


def test_set_outputs_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "1", tmp_path / "2"
    for target in (first, second):
        monkeypatch.setenv("GITHUB_OUTPUT", str(target))
        ghactions.set_outputs({"body": "a\nb"})
    assert first.read_bytes() == second.read_bytes()


def test_set_outputs_delimiter_never_occurs_in_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))

    class _Digest:
        """Stands in for sha256: attempt 0 derives zeros, later attempts ones."""

        def __init__(self, data: bytes) -> None:
            self.first = data.startswith(b"0\0")

        def hexdigest(self) -> str:
            return ("0" if self.first else "1") * 64

    monkeypatch.setattr(hashlib, "sha256", _Digest)
    taken = "ghadelim_" + "0" * 20
    ghactions.set_outputs({"body": f"x\n{taken}\ny"})
    assert (
        output.read_text(encoding="utf-8")
        == f"body<<ghadelim_{'1' * 20}\nx\n{taken}\ny\nghadelim_{'1' * 20}\n"
    )


def test_set_outputs_carriage_return_uses_the_heredoc_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    ghactions.set_outputs({"v": "a\rb", "empty": ""})
    text = output.read_text(encoding="utf-8")
    assert text.startswith("v<<ghadelim_")
    assert text.endswith("\nempty=\n")


@pytest.mark.parametrize("name", ["", "1abc", "a=b", "a\nb", "a b", "na\u00efve", "a<<EOF"])
def test_set_outputs_rejects_names_that_break_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    with pytest.raises(ValueError, match="invalid step output name"):
        ghactions.set_outputs({name: "x"})
    assert not output.exists()


def test_set_outputs_without_an_output_file() -> None:
    assert ghactions.set_outputs({"a": "b"}) is False


def test_mask() -> None:
    stream = io.StringIO()
    ghactions.mask("s3cr%t", stream)
    assert stream.getvalue() == "::add-mask::s3cr%25t\n"


def test_mask_registers_each_line_of_a_multi_line_value() -> None:
    stream = io.StringIO()
    ghactions.mask("-----BEGIN KEY-----\r\nabc\n\n-----END KEY-----\n", stream)
    assert (
        stream.getvalue()
        == "::add-mask::-----BEGIN KEY-----\n::add-mask::abc\n::add-mask::-----END KEY-----\n"
    )


def test_mask_ignores_blank_values() -> None:
    stream = io.StringIO()
    ghactions.mask("", stream)
    ghactions.mask("   ", stream)
    assert stream.getvalue() == ""

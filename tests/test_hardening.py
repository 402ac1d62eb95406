"""Hostile or careless input never escapes, leaks or half-writes (issue 9, items 1, 2, 3, 6, 8 and 9).

Each test starts from the repro of the issue on the real template (`gitops-engine init`), runs the real CLI or the
processor against a real bare remote, and asserts the exact error, the exit code and that nothing was written.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.golden import snapshot_tree
from testing.repos import git
from testing.world import World

from gitops_engine import names
from gitops_engine.forge.local import LocalForge
from gitops_engine.git import default_identity
from gitops_engine.reconcile import process as process_repo

PG = "definitions/postgres/postgres-incluster.yaml"
ES_MANAGED = "definitions/elasticsearch/elasticsearch-managed.yaml"  # the template's static definition
WORKLOAD_PROD = "definitions/workload/workload-production.yaml"
AUDIT = "workloads/identity/audit-log"
SECRET_WORDS = "LiteralPasswordOutput31"


def append_manifest(repo: Path, path: str, manifest: str) -> None:
    """Add a manifest at the end of a template definition's manifests (indented as its template is)."""
    with (repo / path).open("a") as handle:
        handle.write("".join(f"    {line}\n" for line in manifest.strip("\n").splitlines()))


def edit(repo: Path, path: str, old: str, new: str) -> None:
    text = (repo / path).read_text()
    assert old in text, f"{old!r} not in {path}"
    (repo / path).write_text(text.replace(old, new, 1))


def refused(repo: Path) -> str:
    """`validate` and `render` both exit 1 and nothing under the repo's folder changes; returns validate's output."""
    before = snapshot_tree(repo, ".")
    code, output = run_cli(["validate"], repo)
    assert code == 1, output
    code, rendered = run_cli(["render"], repo)
    assert code == 1, rendered
    assert "nothing written" in rendered
    assert snapshot_tree(repo, ".") == before
    return output


def errors(output: str) -> list[str]:
    """The distinct error lines of a validate output."""
    return sorted(
        {line for line in output.splitlines() if ": " in line and line.split(":")[0].endswith(".yaml")}
    )


# -------------------------------------------------------------------------------------------------------------
# 1. A manifest's kind never becomes a path


@pytest.mark.parametrize("kind", ["../../../../../escaped", "Config/Map"])
def test_a_kind_that_is_not_a_kubernetes_kind_is_refused_at_the_definition(
    template_repo: Path, kind: str
) -> None:
    append_manifest(template_repo, PG, f"- apiVersion: v1\n  kind: {kind}\n  metadata:\n    name: pwn\n")
    output = refused(template_repo)
    assert errors(output) == [
        f"{PG}:25:14: manifest 4: kind {kind!r} is not a Kubernetes kind: use letters and digits only, starting "
        "with a letter (such as ConfigMap)"
    ]
    assert not (template_repo.parent / "escaped-pwn.yaml").exists()


def test_names_says_what_git_and_file_systems_refuse() -> None:
    assert names.branch_for("payments/checkout-api") == "gitops-engine/payments/checkout-api"
    assert names.branch_for("_shared/order-events") == "gitops-engine/_shared/order-events"
    for bad in ("a/..", "../x", "a/b.lock", "a/.b", "A/b", "a/b c", "a", "a/" + "b" * 64):
        with pytest.raises(names.InvalidName):
            names.branch_for(bad)
    assert names.branch_problem("gitops-engine/a..b") is not None
    assert names.branch_problem("gitops-engine/a@{1}") is not None
    assert names.branch_problem("gitops-engine/x.lock/y") is not None
    assert names.branch_problem("gitops-engine/team/name") is None
    assert names.file_name_problem("x" * 255) is None
    assert names.file_name_problem("é" * 128) == (
        f"the file name {'é' * 40}... is 256 bytes long, over the 255 bytes a file system allows: shorten the kind "
        "or metadata.name"
    )
    with pytest.raises(names.InvalidName):
        names.unit_folder("development", "team/../x")


# -------------------------------------------------------------------------------------------------------------
# 6. Long names: validated, and render writes all or nothing


def test_a_254_character_metadata_name_is_refused_before_anything_is_written(template_repo: Path) -> None:
    name = "a" * 254
    append_manifest(
        template_repo, PG, f"- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: {name}\n"
    )
    assert errors(refused(template_repo)) == [
        f"{PG}:25:14: manifest 4: ConfigMap metadata.name is 254 characters long: Kubernetes allows at most 253; "
        "shorten it"
    ]


def test_a_300_character_kind_is_refused(template_repo: Path) -> None:
    append_manifest(template_repo, PG, f"- apiVersion: v1\n  kind: {'K' * 300}\n  metadata:\n    name: x\n")
    assert errors(refused(template_repo)) == [
        f"{PG}:25:14: manifest 4: kind is 300 characters long: a Kubernetes kind has at most 63"
    ]


def test_render_writes_nothing_when_one_file_cannot_be_written(template_repo: Path) -> None:
    repo = template_repo
    edit(repo, PG, "port: 5432\n", "port: 5433\n")  # every environment's postgres users change
    (repo / "rendered/staging").rename(repo / "staging-moved")
    (repo / "rendered/staging").write_text("a file where a folder should be\n")
    before = snapshot_tree(repo, ".")
    code, output = run_cli(["render"], repo)
    assert code == 2, output
    assert output.splitlines()[-1].startswith(f"Error: cannot write {repo}/rendered/staging")
    assert output.splitlines()[-1].endswith(
        "; nothing was written. Fix the file system (a file where a folder should be, permissions, space) and run "
        "again"
    )
    assert snapshot_tree(repo, ".") == before  # development's files were not written either
    assert not [p for p in repo.rglob(".tmp-*")]


# -------------------------------------------------------------------------------------------------------------
# 2. No literal Secret reaches the output, however wrapped


@pytest.mark.parametrize("kind", ["List", "SecretList"])
def test_a_list_wrapping_a_secret_is_refused(template_repo: Path, kind: str) -> None:
    append_manifest(
        template_repo,
        PG,
        f"- apiVersion: v1\n  kind: {kind}\n  metadata:\n    name: wrapped\n  items:\n"
        f"    - apiVersion: v1\n      kind: Secret\n      metadata:\n        name: s\n"
        f"      stringData:\n        password: {SECRET_WORDS}\n",
    )
    output = refused(template_repo)
    assert errors(output) == [
        f"{PG}:25:14: manifest 4: kind {kind!r} wraps a list of objects: write each object as a manifest of its "
        "own (lists are not rendered, so that every object is checked)"
    ]
    assert SECRET_WORDS not in output


def test_a_secret_nested_in_a_static_manifest_is_refused_at_load(template_repo: Path) -> None:
    with (template_repo / ES_MANAGED).open("a") as handle:
        handle.write(
            "manifests:\n  - apiVersion: template.openshift.io/v1\n    kind: Template\n    metadata: {name: t}\n"
            f"    objects:\n      - {{apiVersion: v1, kind: Secret, metadata: {{name: s}}, data: {{p: {SECRET_WORDS}}}}}\n"
        )
    output = refused(template_repo)
    assert (
        f"{ES_MANAGED}:22:5: a Secret with literal data or stringData (nested inside this manifest) would put "
        in output
    )
    assert SECRET_WORDS not in output


# -------------------------------------------------------------------------------------------------------------
# 3. Secret outputs are secretKeyRefs, never literals


def test_a_literal_password_output_is_refused_and_never_printed(template_repo: Path) -> None:
    edit(
        template_repo,
        PG,
        "    password:\n      secretKeyRef: {name: {{ resource.uid }}, key: password}\n",
        f"    password: {SECRET_WORDS}\n",
    )
    output = refused(template_repo)
    assert errors(output) == [
        f"{PG}:15:12: template.outputs: output 'password' is a secret (always a secret) but holds a literal value, "
        "which would be written to git: make it {secretKeyRef: {name: <Secret name>, key: <key>}}, a Secret that "
        "External Secrets (or similar) fills"
    ]
    assert SECRET_WORDS not in output
    git(template_repo, "commit", "--quiet", "-am", "literal password")
    code, preview = run_cli(["preview", "--base", "HEAD~1"], template_repo)
    assert code == 1, preview
    assert SECRET_WORDS not in preview


def test_an_output_declared_secret_must_be_a_secret_key_ref(template_repo: Path) -> None:
    edit(template_repo, ES_MANAGED, "\ndriver: static\n", "\nsecretOutputs: [host]\ndriver: static\n")
    output = refused(template_repo)
    (line,) = [x for x in errors(output) if x.startswith(ES_MANAGED)]
    assert line == f"{ES_MANAGED}:16:9: " + (
        "output 'host' is a secret (declared in secretOutputs) but holds a literal value, which would be written "
        "to git: make it {secretKeyRef: {name: <Secret name>, key: <key>}}, a Secret that External Secrets (or "
        "similar) fills"
    )


# -------------------------------------------------------------------------------------------------------------
# 9. Bounds


def test_replicas_beyond_int32_are_refused(template_repo: Path) -> None:
    edit(template_repo, WORKLOAD_PROD, "    replicas: 3\n", "    replicas: 99999999999999999999999\n")
    output = refused(template_repo)
    assert (
        f"{WORKLOAD_PROD}:14:12: workload output replicas is '99999999999999999999999': give a whole number from "
        "0 to 2147483647 (Kubernetes' int32)"
    ) in output


def test_an_int32_field_of_a_manifest_out_of_range_is_refused(template_repo: Path) -> None:
    edit(template_repo, PG, "            port: 5432\n", "            port: 4294967296\n")
    assert errors(refused(template_repo)) == [
        f"{PG}:25:14: manifest 2: Service spec.ports[0].port is 4294967296, outside the int32 range Kubernetes "
        "allows (-2147483648 to 2147483647)"
    ]


def test_binary_content_must_be_base64(template_repo: Path) -> None:
    score = f"{AUDIT}/score.yaml"
    edit(template_repo, score, "        source: retention.yaml\n", "        binaryContent: 'not base64!'\n")
    output = refused(template_repo)
    assert f"{score}:22:" in output
    assert "binaryContent is not valid base64: encode the file with `base64 -w0 FILE`" in output


# -------------------------------------------------------------------------------------------------------------
# 8. Symbolic links are errors, in the work tree and in commits


LINK_MESSAGE = (
    "is a symbolic link: the engine reads only regular files and folders, so that no input can point outside the "
    "repo or differ between checkouts; replace the link with the file or folder itself"
)


@pytest.mark.parametrize(
    "link",
    [
        f"{AUDIT}/score.yaml",
        f"{AUDIT}/retention.yaml",
        "workloads/identity/linked",
        "definitions/postgres/x.yaml",
    ],
)
def test_a_symbolic_link_in_the_work_tree_is_an_error(template_repo: Path, tmp_path: Path, link: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yaml").write_text("secret: /etc/passwd\n")
    target = template_repo / link
    if target.exists():
        target.unlink()
    os.symlink(outside / "x.yaml" if link.endswith(".yaml") else outside, target)
    output = refused(template_repo)
    assert f"{link}: {LINK_MESSAGE}" in output


@pytest.fixture
def site(template_world: World) -> World:
    return template_world


def test_a_committed_symbolic_link_fails_its_workload_in_process(site: World) -> None:
    retention = site.dev / AUDIT / "retention.yaml"
    git(site.dev, "pull", "--quiet", "--ff-only", "origin", "main")
    retention.unlink()
    os.symlink("/etc/passwd", retention)
    git(site.dev, "add", "--all")
    git(site.dev, "commit", "--quiet", "-m", "link")
    git(site.dev, "push", "--quiet", "origin", "main")
    assert site.rgit("ls-tree", "main", f"{AUDIT}/retention.yaml").startswith("120000 ")
    before = site.show("main:rendered/development/identity/audit-log/gitops-engine.lock")

    report = process_repo(site.engine, LocalForge(site.remote), default_identity())

    # The workload fails (and so does a lookup of it by another workload); its rendered files stay as they were.
    assert f"{AUDIT}/retention.yaml: {LINK_MESSAGE}" in [str(f) for f in report.findings]
    assert site.show("main:rendered/development/identity/audit-log/gitops-engine.lock") == before
    tree = site.rgit("ls-tree", "-r", "main", "rendered/")
    assert "/etc/passwd" not in "".join(
        site.show(f"main:{line.split(chr(9))[1]}") for line in tree.splitlines() if "audit-log" in line
    )


# -------------------------------------------------------------------------------------------------------------
# 1 and 6 through process: no branch or tree gets '..' or an over-long name


def test_process_puts_no_bad_name_in_any_tree_or_branch(site: World) -> None:
    bad = "".join(
        f"    {line}\n"
        for line in (
            "- apiVersion: v1\n  kind: ../../../../../escaped\n  metadata:\n    name: pwn\n"
            f"- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: {'b' * 250}\n"
        ).splitlines()
    )
    text = site.show(f"main:{PG}")
    site.push_change({PG: text + bad}, "hostile manifests")

    report = process_repo(site.engine, LocalForge(site.remote), default_identity())

    assert report.findings
    assert report.opened == [] and report.updated == []
    assert all(".." not in b and len(b) < 200 for b in site.branches())
    fsck = subprocess.run(
        ["git", "fsck", "--strict"], cwd=site.remote, capture_output=True, text=True, check=False
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    listing = site.rgit("ls-tree", "-r", "--name-only", "--all" if False else "main")
    assert all(
        len(part.encode()) <= 255 and part != ".." for p in listing.splitlines() for part in p.split("/")
    )

"""Test helpers: real platform repos in temporary directories, the real CLI, golden files.

Golden files live under `tests/golden/`. To refresh them after an intended change in output, run

    GOLDEN_UPDATE=1 /work/venv/bin/python -m pytest tests/test_rendering.py

and review the result as a diff (`git diff tests/golden`) before committing it. Without the switch a golden
mismatch fails the test with a unified diff; a missing golden file fails too (it is never created silently).
"""

from __future__ import annotations

import difflib
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from gitops_engine.cli import main

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN_UPDATE = os.environ.get("GOLDEN_UPDATE") == "1"

# A fixed identity and clock, so every test repo's commits are reproducible.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

FileSpec = str | bytes | Mapping[str, Any] | list[Any] | None


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with the fixed test identity; returns stdout, raises on failure."""
    proc = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def write_files(root: Path, files: Mapping[str, FileSpec]) -> None:
    """Write files under `root`: text as is, bytes as is, dicts/lists dumped as YAML, None deletes."""
    for rel, spec in files.items():
        target = root / rel
        if spec is None:
            if target.exists():
                target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, bytes):
            target.write_bytes(spec)
        elif isinstance(spec, str):
            target.write_text(spec, encoding="utf-8")
        else:
            target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def commit_all(repo: Path, message: str = "change") -> str:
    """Stage everything and commit it; returns the commit id."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(path: Path, files: Mapping[str, FileSpec], *, message: str = "initial") -> Path:
    """A git repository at `path` holding `files`, committed on main."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    write_files(path, files)
    commit_all(path, message)
    return path


def clone(source: Path, target: Path) -> Path:
    git(source.parent, "clone", "--quiet", str(source), str(target))
    return target


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_cli(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run `gitops-engine ARGS` in `cwd` through click's CliRunner: (exit code, stdout and stderr)."""
    runner = CliRunner()
    env = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": "", "GITHUB_OUTPUT": ""}
    with _cwd(cwd):
        result = runner.invoke(main, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


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


# ---------------------------------------------------------------------------------------------------------------
# A small platform: two environments, postgres (template in development, static in production), two teams.

PLATFORM_YAML = """\
apiVersion: gitops-engine.dev/v1
kind: Platform
environments: [development, production]
"""

DEVELOPMENT_YAML = """\
apiVersion: gitops-engine.dev/v1
kind: Environment
id: development
type: development
namespace: "{team}-{env}"
"""

PRODUCTION_YAML = """\
apiVersion: gitops-engine.dev/v1
kind: Environment
id: production
type: production
namespace: "{team}-{env}"
labels:
  example.com/tier: prod
"""

PG_DEV_YAML = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: pg-dev
type: postgres
criteria:
  - env_type: development
driver: template
template:
  outputs: |
    host: {{ resource.uid }}.{{ environment.namespace }}.svc
    port: 5432
    password:
      secretKeyRef: {name: {{ resource.uid }}, key: password}
  manifests: |
    - apiVersion: v1
      kind: Service
      metadata:
        name: {{ resource.uid }}
      spec:
        ports:
          - port: 5432
"""

PG_PROD_YAML = """\
apiVersion: gitops-engine.dev/v1
kind: ResourceDefinition
id: pg-prod
type: postgres
criteria:
  - env_type: production
driver: static
outputs:
  host: db.prod.example.com
  port: 5432
  password:
    secretKeyRef: {name: pg-prod, key: password}
"""

API_SCORE = """\
apiVersion: score.dev/v1b1
metadata:
  name: api
containers:
  main:
    image: registry.example.com/api:1.0
    variables:
      DB_HOST: ${resources.db.host}
service:
  ports:
    http:
      port: 8080
resources:
  db:
    type: postgres
"""

WEB_SCORE = """\
apiVersion: score.dev/v1b1
metadata:
  name: web
containers:
  main:
    image: registry.example.com/web:2.0
"""

BASE_PLATFORM: dict[str, FileSpec] = {
    "platform.yaml": PLATFORM_YAML,
    "environments/development.yaml": DEVELOPMENT_YAML,
    "environments/production.yaml": PRODUCTION_YAML,
    "definitions/postgres/pg-dev.yaml": PG_DEV_YAML,
    "definitions/postgres/pg-prod.yaml": PG_PROD_YAML,
    "workloads/team-a/api/score.yaml": API_SCORE,
    "workloads/team-b/web/score.yaml": WEB_SCORE,
}


def assert_golden_tree(name: str, files: Mapping[str, bytes]) -> None:
    """Compare a whole tree (path -> bytes) with the files under tests/golden/NAME/; GOLDEN_UPDATE=1 rewrites it
    (files no longer produced are removed)."""
    root = GOLDEN_DIR / name
    if GOLDEN_UPDATE:
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

"""Shared fixtures: small real platform repos (real files, `git init`, real commits) in temporary directories.

Golden files are refreshed with `GOLDEN_UPDATE=1` (see tests/testing/__init__.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.repos import FileSpec, commit_all, make_repo
from testing.small_platform import BASE_PLATFORM
from testing.world import World, prepare_world, world_from

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite may itself run in GitHub Actions: commands must not switch to annotations and job summaries; and
    # the engine's commits carry its own identity unless a test sets one.
    for name in (
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        "GITOPS_ENGINE_AUTHOR_NAME",
        "GITOPS_ENGINE_AUTHOR_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def _rendered_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("base") / "platform", BASE_PLATFORM)
    code, output = run_cli(["render"], repo)
    assert code == 0, output
    commit_all(repo, "render")
    return repo


@pytest.fixture
def platform_repo(_rendered_base: Path, tmp_path: Path) -> Path:
    """testing.small_platform.BASE_PLATFORM, rendered once and committed (a fresh copy per test)."""
    return _fresh_copy(_rendered_base, tmp_path / "platform")


@pytest.fixture
def template_repo(_template_base: Path, tmp_path: Path) -> Path:
    """`gitops-engine init`'s platform repo, made once (rendered, committed on main; a fresh copy per test)."""
    return _fresh_copy(_template_base, tmp_path / "platform")


def _fresh_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


@pytest.fixture(scope="session")
def _template_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gitops_engine.commands.init import create_platform_repo

    repo = tmp_path_factory.mktemp("template") / "platform"
    create_platform_repo(repo)
    return repo


@pytest.fixture
def make_platform(tmp_path: Path) -> Callable[..., Path]:
    """Build a platform repo from a spec: `make_platform({path: text | bytes | dict | None}, base=BASE_PLATFORM)`."""
    counter = iter(range(1_000))

    def build(files: dict[str, FileSpec] | None = None, *, base: dict[str, FileSpec] | None = None) -> Path:
        spec = dict(BASE_PLATFORM if base is None else base)
        spec.update(files or {})
        return make_repo(tmp_path / f"repo-{next(counter)}", {k: v for k, v in spec.items() if v is not None})

    return build


@pytest.fixture
def focused_repo(tmp_path: Path) -> Path:
    """tests/data/platforms/focused as a fresh git repo (not rendered yet)."""
    target = tmp_path / "focused"
    shutil.copytree(DATA / "platforms" / "focused", target)
    return make_repo(target, {})


@pytest.fixture(scope="session")
def prepared_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """testing.scenario's platform on a bare remote, rendered by the processor itself (testing.world.prepare_world),
    made once per session. Never change it: take `world` (a copy)."""
    return prepare_world(tmp_path_factory.mktemp("prepared"))


@pytest.fixture
def world(prepared_world: World, tmp_path: Path) -> World:
    """A private copy of `prepared_world`."""
    return prepared_world.copy_to(tmp_path / "world")


@pytest.fixture
def template_world(_template_base: Path, tmp_path: Path) -> World:
    """The template on a bare remote, with the engine's clone and a developer's clone (the local forge)."""
    return world_from(tmp_path / "site", _template_base)

"""A world: a bare remote (`remote.git`, the hosted repository), the engine's clone (`engine`, CI's checkout, where
`process` runs) and a developer's clone (`dev`, where people push from), all real repositories in one folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from gitops_engine.forge.local import LocalForge
from gitops_engine.git import default_identity
from gitops_engine.reconcile import process as process_repo

from .golden import rendered_objects
from .repos import FileSpec, clone, git, make_repo, write_files
from .scenario import PLATFORM


class World:
    """`root/remote.git` (the hosted remote), `root/engine` (CI's checkout), `root/dev` (people push from here).

    `mode` is how the processor is run after a push: `full` (no --base, as the scheduled reconcile) or `range`
    (`--base` = main before the push, as CI's push workflow does).
    """

    def __init__(self, root: Path, mode: str = "full") -> None:
        self.root = root
        self.remote = root / "remote.git"
        self.engine = root / "engine"
        self.dev = root / "dev"
        self.mode = mode
        self.before: str | None = None  # main before the latest push_change (the push event's `before`)

    def copy_to(self, target: Path, mode: str = "full") -> World:
        """A private copy (clones re-pointed at the copied remote)."""
        shutil.copytree(self.root, target, symlinks=True)
        world = World(target, mode)
        for checkout in (world.engine, world.dev):
            git(checkout, "remote", "set-url", "origin", str(world.remote))
        return world

    # -- people ----------------------------------------------------------------------------------------------
    def push_change(
        self, files: dict[str, FileSpec], message: str = "change", *, clone: Path | None = None
    ) -> str:
        """Pull main, write `files` (None deletes), commit as the test author and push; returns the commit."""
        where = clone or self.dev
        self.before = self.main()
        git(where, "pull", "--quiet", "--ff-only", "origin", "main")
        write_files(where, files)
        git(where, "add", "--all")
        git(where, "commit", "--quiet", "-m", message)
        git(where, "push", "--quiet", "origin", "HEAD:main")
        return git(where, "rev-parse", "HEAD").strip()

    def edit(self, path: str, old: str, new: str) -> dict[str, FileSpec]:
        """`{path: text}` with `old` replaced by `new` in the file as main holds it (fails if `old` is absent)."""
        text = self.show(f"main:{path}")
        assert old in text, f"{old!r} not in {path}"
        return {path: text.replace(old, new)}

    # -- reading the remote ----------------------------------------------------------------------------------
    def rgit(self, *args: str) -> str:
        return git(self.remote, *args)

    def main(self) -> str:
        return self.rgit("rev-parse", "refs/heads/main").strip()

    def show(self, spec: str) -> str:
        """`git show REV:PATH`; an object named `rendered/<env>/<unit>/<kind>-<name>.yaml` is read out of the
        folder's manifest.yaml (see testing.golden.rendered_objects)."""
        rev, _, path = spec.partition(":")
        folder, _, name = path.rpartition("/")
        if path.startswith("rendered/") and name not in ("manifest.yaml", "gitops-engine.lock"):
            manifest = self.rgit("show", f"{rev}:{folder}/manifest.yaml").encode()
            objects = rendered_objects({f"{folder}/manifest.yaml": manifest})
            if path not in objects:
                raise AssertionError(f"{spec}: no such object in {folder}/manifest.yaml")
            return objects[path].decode()
        return self.rgit("show", spec)

    def objects(self, rev: str, under: str = "rendered/") -> dict[str, str]:
        """Every rendered object at `rev` on the remote by its `<kind>-<name>.yaml` path (rendered_objects)."""
        manifests = {
            p: self.rgit("show", f"{rev}:{p}").encode() for p in self.files(rev, under) if p.endswith(".yaml")
        }
        return {p: c.decode() for p, c in rendered_objects(manifests).items()}

    def refs(self) -> dict[str, str]:
        """Every ref on the remote: `git ls-remote`, ref -> sha."""
        out = git(self.root, "ls-remote", str(self.remote))
        return {ref: sha for sha, _, ref in (line.partition("\t") for line in out.splitlines())}

    def branches(self) -> dict[str, str]:
        """Engine branches on the remote: `team/name` (unit) -> head sha."""
        prefix = "refs/heads/gitops-engine/"
        return {ref[len(prefix) :]: sha for ref, sha in self.refs().items() if ref.startswith(prefix)}

    def files(self, rev: str, under: str = "rendered/") -> dict[str, str]:
        """path -> blob id of every file under `under` at `rev` on the remote."""
        out = self.rgit("ls-tree", "-r", "--full-tree", rev, "--", under)
        found: dict[str, str] = {}
        for line in out.splitlines():
            meta, _, path = line.partition("\t")
            found[path] = meta.split()[2]
        return found

    def changed(self, a: str, b: str) -> list[str]:
        return sorted(self.rgit("diff", "--name-only", "--no-renames", a, b).split())

    def changed_objects(self, a: str, b: str) -> list[str]:
        """Objects (by their `<kind>-<name>.yaml` path) and locks that differ between two revisions."""
        folders = sorted(
            {p.rpartition("/")[0] + "/" for p in self.changed(a, b) if p.startswith("rendered/")}
        )
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        for folder in folders:
            before.update(self.objects(a, folder))
            after.update(self.objects(b, folder))
        locks = [p for p in self.changed(a, b) if p.endswith("/gitops-engine.lock")]
        return sorted([*(p for p in {*before, *after} if before.get(p) != after.get(p)), *locks])

    def log(self, rev_range: str) -> list[str]:
        return self.rgit("log", "--format=%H", rev_range).split()


def world_from(root: Path, seed: Path, *, dev: bool = True, keep_seed: bool = True) -> World:
    """A world in `root` whose remote is a bare clone of the repository `seed`, with the engine's clone and (unless
    `dev` is false: call `clone_dev` later) the developer's; `keep_seed=False` removes the seed."""
    world = World(root)
    root.mkdir(parents=True, exist_ok=True)
    clone(seed, world.remote, bare=True)
    if not keep_seed:
        shutil.rmtree(seed)
    clone(world.remote, world.engine)
    if dev:
        clone_dev(world)
    return world


def clone_dev(world: World) -> None:
    """The developer's clone of the remote as it is now."""
    clone(world.remote, world.dev)


def prepare_world(root: Path, files: dict[str, FileSpec] | None = None) -> World:
    """A platform's sources (the scenario PLATFORM unless `files` says otherwise) pushed to a bare remote and
    rendered by the processor itself (a new repo's first push, committed to main), with the engine's clone and a
    developer's clone."""
    seed = make_repo(root / "seed", PLATFORM if files is None else files, message="Platform sources")
    world = world_from(root, seed, dev=False, keep_seed=False)
    report = process_repo(world.engine, LocalForge(world.remote), default_identity())
    assert report.committed and not report.findings and report.opened == [], report
    clone_dev(world)
    return world

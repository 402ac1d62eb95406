"""Commits on one parent go through a chain of tree commits (gitops_engine.git._ImportStream): each commit must be
exactly what fast-import writes for it alone (same tree, parent, message and authors), whatever the requests add,
change or delete, and the trees the branches share must be stored as deltas. On real repositories."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from testing.repos import git

from gitops_engine.git import CommitRequest, Git, Identity, _FolderTrees

WHO = Identity("gitops-engine", "gitops-engine@users.noreply.github.com")
ENVS = ("development", "staging", "production")
TEAMS = ("billing", "shop", "ops")


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    """A repository whose main holds rendered units in three environments, a file with an odd name, an executable
    and a symbolic link."""
    root = tmp_path / "repo"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(root))
    for env in ENVS:
        for team in TEAMS:
            for n in range(4):
                unit = root / "rendered" / env / team / f"w{n}"
                unit.mkdir(parents=True)
                (unit / "manifest.yaml").write_text(f"kind: Deployment\nname: w{n}\nenv: {env}\n")
                (unit / "gitops-engine.lock").write_text(f'{{"unit": "{team}/w{n}"}}\n')
    (root / "rendered" / "development" / 'odd "name"').write_text("odd\n")
    (root / "tool.sh").write_text("#!/bin/sh\n")
    (root / "tool.sh").chmod(0o755)
    (root / "link").symlink_to("tool.sh")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "first")
    return Git(root)


def random_requests(repo: Git, parent: str, seed: int, count: int) -> list[CommitRequest]:
    """Requests on `parent` that change, add (in new folders too) and delete files, one folder empty included."""
    rng = random.Random(seed)
    files = repo.run("ls-tree", "-r", "--name-only", parent).split("\n")
    files = [f for f in files if f]
    requests = []
    for i in range(count):
        changes: dict[str, bytes | None] = {}
        for _ in range(rng.randint(0, 4)):
            kind = rng.random()
            if kind < 0.5:
                changes[rng.choice(files)] = f"changed {i} {rng.random()}\n".encode()
            elif kind < 0.75:
                env, team = rng.choice(ENVS), rng.choice((*TEAMS, "newteam"))
                changes[f"rendered/{env}/{team}/new{rng.randint(0, 3)}/manifest.yaml"] = f"new {i}\n".encode()
            elif kind < 0.9:
                changes[rng.choice(files)] = None
            else:  # a whole unit folder: its parent folder may end up empty
                env, team, n = rng.choice(ENVS), rng.choice(TEAMS), rng.randint(0, 3)
                changes[f"rendered/{env}/{team}/w{n}/manifest.yaml"] = None
                changes[f"rendered/{env}/{team}/w{n}/gitops-engine.lock"] = None
        requests.append(CommitRequest(parent=parent, changes=changes, message=f"commit {i}\n", identity=WHO))
    return requests


def described(repo: Git, commit: str) -> tuple[str, str, str]:
    """(tree, parents, authors and message) of a commit."""
    return (
        repo.run("rev-parse", f"{commit}^{{tree}}").strip(),
        repo.run("log", "-1", "--format=%P", commit).strip(),
        repo.run("log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", commit),
    )


@pytest.mark.parametrize("listed", [False, True], ids=["asked", "listed"])
@pytest.mark.parametrize("seed", range(6))
def test_each_chained_commit_is_the_commit_fast_import_writes_for_it_alone(
    repo: Git, seed: int, listed: bool
) -> None:
    """Folders are set back as fast-import's `ls` finds them, or from the parent's listed folder trees."""
    main = repo.rev_parse("HEAD")
    requests = random_requests(repo, main, seed, 12)

    together = repo.write_commits_streamed(iter(requests), folders_of=(main, "rendered/") if listed else None)

    alone = [repo.write_commits([request])[0] for request in requests]
    assert [described(repo, c) for c in together] == [described(repo, c) for c in alone]
    assert repo.run("for-each-ref", "--format=%(refname)") == "refs/heads/main\n"  # no scratch branch left


def test_requests_on_other_parents_or_clearing_folders_break_the_chain_and_stay_exact(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    other = repo.write_commits(
        [CommitRequest(parent=main, changes={"rendered/other.txt": b"o\n"}, message="other\n", identity=WHO)]
    )[0]
    on_main = random_requests(repo, main, 7, 6)
    on_other = random_requests(repo, other, 8, 3)
    clearing = CommitRequest(
        parent=main,
        changes={"rendered/staging/shop/w1/manifest.yaml": b"regenerated\n"},
        message="regenerate\n",
        identity=WHO,
        delete_prefixes=("rendered/staging/",),
    )
    # A file becoming a folder and back: the listing has no tree there, fast-import is asked.
    odd = 'rendered/development/odd "name"'
    reshaped = [
        CommitRequest(parent=main, changes={f"{odd}/inside": b"i\n"}, message="in\n", identity=WHO),
        CommitRequest(parent=main, changes={odd: b"file again\n"}, message="file\n", identity=WHO),
    ]
    requests = [*on_main[:3], *on_other, on_main[3], *reshaped, clearing, *on_main[4:]]

    together = repo.write_commits_streamed(requests, folders_of=(main, "rendered/"))

    alone = [repo.write_commits([request])[0] for request in requests]
    assert [described(repo, c) for c in together] == [described(repo, c) for c in alone]


def test_the_listed_folder_trees_are_the_commits_own(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    listed = _FolderTrees(repo, main, "rendered")
    try:
        for folder in ("rendered", "rendered/staging", "rendered/staging/shop", "rendered/staging/shop/w2"):
            assert listed.tree(main, folder) == repo.run("rev-parse", f"{main}:{folder}").strip().encode()
        assert listed.tree(main, "rendered/staging/shop/w9") is None  # nothing there
        assert listed.tree(main, 'rendered/development/odd "name"') is None  # a file
        assert listed.tree(main, "rendered/staging/shop/w2/manifest.yaml") is None
        assert listed.tree(main, "workloads") is None  # outside what was listed
        assert listed.tree("0" * 40, "rendered/staging") is None  # another commit
    finally:
        listed.close()
    _FolderTrees(repo, main, "rendered").close()  # never read: stopped


def test_the_environment_trees_of_many_branches_are_stored_as_deltas(repo: Git) -> None:
    """What the chain is for: without it, every branch's environment and team trees are whole objects."""
    main = repo.rev_parse("HEAD")
    requests = [
        CommitRequest(
            parent=main,
            changes={
                f"rendered/{env}/shop/w{n % 4}/manifest.yaml": f"version {n}\n".encode() for env in ENVS
            },
            message=f"branch {n}\n",
            identity=WHO,
        )
        for n in range(8)
    ]
    packs = set((repo.root / ".git" / "objects" / "pack").glob("*.idx"))

    commits = repo.write_commits(requests)

    (new_pack,) = set((repo.root / ".git" / "objects" / "pack").glob("*.idx")) - packs
    listing = repo.run("verify-pack", "-v", str(new_pack)).splitlines()
    env_trees = {repo.run("rev-parse", f"{c}:rendered/{env}").strip() for c in commits for env in ENVS}
    deltas = {line.split()[0] for line in listing if len(line.split()) >= 7 and line.split()[1] == "tree"}
    # Each of the second branch's environment trees is a delta of the first's, and so on; fast-import's --depth=1
    # never bases a delta on a delta, so every second branch's are. Without the chain, none is.
    assert len(env_trees) == len(requests) * len(ENVS)
    assert len(env_trees & deltas) == len(requests) // 2 * len(ENVS)


def test_requests_that_fail_half_way_leave_no_fast_import_and_no_ref(repo: Git) -> None:
    main = repo.rev_parse("HEAD")
    requests = random_requests(repo, main, 3, 4)

    def failing() -> Iterator[CommitRequest]:
        yield from requests
        raise RuntimeError("rendering failed")

    with pytest.raises(RuntimeError, match="rendering failed"):
        repo.write_commits_streamed(failing())

    assert repo.run("for-each-ref", "--format=%(refname)") == "refs/heads/main\n"
    assert children_running("fast-import") == []


def children_running(word: str) -> list[str]:
    """Command lines of this process's children that name `word` (tests run in parallel: only our own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        if parent == os.getpid() and word in command:
            found.append(command)
    return found


def test_commits_of_thousands_of_files_each_do_not_wait_on_a_full_pipe(repo: Git, tmp_path: Path) -> None:
    """What fast-import says of a big commit's paths outgrows a pipe long before it is read: a thread takes it
    off as it comes. Run apart, so that a wait that never ends fails the test instead of hanging it."""
    script = tmp_path / "big.py"
    script.write_text(
        "import sys\n"
        "from gitops_engine.git import CommitRequest, Git, Identity, _FolderTrees\n"
        "repo = Git(sys.argv[1])\n"
        "main = repo.rev_parse('HEAD')\n"
        "folder = 'rendered/staging/' + 'a-long-folder-name-' * 5\n"
        "requests = [CommitRequest(parent=main, identity=Identity('t', 't@t'), message=f'{n}\\n',\n"
        "    changes={f'{folder}/{i:05}-{n}-' + 'x' * 60 + '.yaml': f'{n}\\n'.encode() for i in range(1500)})\n"
        "    for n in range(3)]\n"
        "print(len(set(repo.write_commits_streamed(requests))))\n"
    )

    proc = subprocess.run(
        [sys.executable, str(script), str(repo.root)], capture_output=True, text=True, timeout=120
    )

    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "3\n", "")

"""`gitops-engine set-image TEAM/NAME IMAGE`: bump a container's image from an app's CI, changing only that line.

The Score file (or `overrides.<env>.yaml` with `--env`) is edited in place by `yamledit`: comments, key order,
quoting, anchors and blank lines stay as they were. Every check runs before anything is written, so a refused
edit leaves the work tree untouched.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from gitops_engine.errors import Finding, InputError, did_you_mean
from gitops_engine.git import Git
from gitops_engine.loading import OVERRIDE_PREFIX, SCORE_FILE, load_settings
from gitops_engine.model import is_image_reference, split_workload_key
from gitops_engine.tree import TreeChanges, write_tree
from gitops_engine.yamledit import find_scalar, mapping_keys, set_value
from gitops_engine.yamlio import YamlSyntaxError

_OVERRIDE_HEADER = (
    "# Deep-merged onto score.yaml in the {env} environment (mappings merge, `null` deletes a key, anything else\n"
    "# replaces; see docs/formats.md).\n"
)


def set_image(
    repo: Path,
    workload: str,
    image: str,
    *,
    container: str | None = None,
    env: str | None = None,
    commit: bool = False,
    out: TextIO | None = None,
) -> int:
    # Resolved at call time: a default bound at import would keep the first caller's stream (CliRunner, tests).
    out = out or sys.stdout
    try:
        return _set_image(repo, workload, image, container=container, env=env, commit=commit, out=out)
    except YamlSyntaxError as exc:
        raise InputError([exc.finding]) from None


def _set_image(
    repo: Path,
    workload: str,
    image: str,
    *,
    container: str | None,
    env: str | None,
    commit: bool,
    out: TextIO,
) -> int:
    team, name = split_workload_key(workload)
    folder = f"workloads/{team}/{name}"
    score_path = f"{folder}/{SCORE_FILE}"
    if not (repo / score_path).is_file():
        raise InputError([Finding(score_path, 0, 0, f"no workload {workload}: there is no {score_path}")])
    score_text = _read(repo, score_path)
    chosen = _container(score_text, score_path, container)
    current = find_scalar(score_text, score_path, ("containers", chosen, "image"))
    if not is_image_reference(image):
        line, column = (current.line, current.column) if current else (1, 1)
        raise InputError(
            [
                Finding(
                    score_path,
                    line,
                    column,
                    f"{image!r} is not a valid image reference: write [registry[:port]/]repository[:tag][@digest], "
                    "repository in lower case (for example registry.example.com/team/app:1.4.2)",
                )
            ]
        )
    target = score_path
    if env is not None:
        environments = load_settings(repo).environments
        if env not in environments:
            raise InputError(
                [
                    Finding(
                        "platform.yaml",
                        0,
                        0,
                        f"unknown environment {env!r}{did_you_mean(env, environments)}: the environments are "
                        f"{', '.join(environments) or 'none'}",
                    )
                ]
            )
        target = f"{folder}/{OVERRIDE_PREFIX}{env}.yaml"
    exists = (repo / target).is_file()
    text = _read(repo, target) if exists else ""
    where = ("containers", chosen, "image")
    before = find_scalar(text, target, where) if exists else None
    if before is not None and before.value == image:
        out.write(f"{target}:{before.line}: container {chosen} already runs {image}: nothing to change\n")
        return 0
    edited = set_value(text, target, where, image)
    if not exists:
        edited = _OVERRIDE_HEADER.format(env=env) + edited
    write_tree(repo, TreeChanges(writes={target: edited.encode("utf-8")}, deletes=[]))
    after = find_scalar(edited, target, where)
    assert after is not None
    old = before.value if before is not None else (current.value if current else "nothing")
    out.write(f"{target}:{after.line}: container {chosen}: {old} -> {image}\n")
    if commit:
        sha = _commit(repo, target, workload, chosen, image, env)
        out.write(f"committed {sha[:12]}\n")
    return 0


def _read(repo: Path, path: str) -> str:
    data = (repo / path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            [Finding(path, 1, 1, f"not UTF-8 text ({exc.reason}): save the file as UTF-8")]
        ) from None


def _container(text: str, path: str, wanted: str | None) -> str:
    names = mapping_keys(text, path, ("containers",))
    if not names:
        raise InputError([Finding(path, 1, 1, "the Score file has no containers")])
    if wanted in names or (wanted is None and len(names) == 1):
        return wanted or next(iter(names))
    listed = ", ".join(names)
    line, column = next(iter(names.values()))
    problem = (
        f"the workload has {len(names)} containers ({listed}): name one with --container"
        if wanted is None
        else f"no container {wanted!r} in this Score file{did_you_mean(wanted, names)}: its containers are {listed}"
    )
    raise InputError([Finding(path, line, column, problem)])


def _commit(repo: Path, path: str, workload: str, container: str, image: str, env: str | None) -> str:
    where = f" in {env}" if env else ""
    message = f"chore({workload}): set image of container {container} to {image}{where}\n"
    with Git(repo) as git:
        # Only this file, whatever else is staged: the commit says what it does.
        return git.commit_paths([path], message)

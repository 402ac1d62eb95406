"""Score `files`: each file becomes a key of the workload's one ConfigMap, mounted at its target with subPath."""

from __future__ import annotations

import base64
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gitops_engine.render.context import Where, WorkloadContext
from gitops_engine.render.convert.forms import by_target
from gitops_engine.render.records import ResolvedResource, UnitFailure, sha256_hex, stable_name


@dataclass
class ConfigFiles:
    """The files of every container of a workload, gathered into one ConfigMap."""

    data: dict[str, str] = field(default_factory=dict)
    binary: dict[str, str] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)

    def configmap(
        self, workload: str, namespace: str, labels: Mapping[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The ConfigMap and the pod volume `files` that mounts it, or None when there are no files. The name holds
        a digest of the content, so a changed file rolls the pods."""
        if not self.items:
            return None
        body = {"data": dict(sorted(self.data.items())), "binaryData": dict(sorted(self.binary.items()))}
        digest = sha256_hex(json.dumps(body, sort_keys=True).encode(), 10)
        name = stable_name(workload, "files", digest)
        configmap: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        }
        if self.data:
            configmap["data"] = body["data"]
        if self.binary:
            configmap["binaryData"] = body["binaryData"]
        items = sorted(self.items, key=lambda i: i["key"])
        return configmap, {"name": "files", "configMap": {"name": name, "items": items}}


def file_mounts(
    ctx: WorkloadContext,
    cname: str,
    container: Mapping[str, Any],
    by_name: Mapping[str, ResolvedResource],
    files: ConfigFiles,
) -> list[dict[str, Any]]:
    """Add the container's files to `files`; their mounts."""
    mounts: list[dict[str, Any]] = []
    for target, file_spec in by_target(container.get("files")):
        where = ("containers", cname, "files", target)
        key_name, content, binary = _file_content(ctx, cname, target, file_spec, by_name, where)
        if binary:
            files.binary[key_name] = content
        else:
            files.data[key_name] = content
        item: dict[str, Any] = {"key": key_name, "path": key_name}
        if file_spec.get("mode"):
            item["mode"] = _file_mode(file_spec["mode"], partial(ctx.fail, where))
        files.items.append(item)
        mounts.append({"name": "files", "mountPath": target, "subPath": key_name, "readOnly": True})
    return mounts


def _file_mode(mode: Any, fail: Callable[[str], UnitFailure]) -> int:
    text = str(mode)
    try:
        value = int(text, 8)
    except ValueError:
        raise fail(f"file mode {text!r} is not an octal number like '0644'") from None
    if not 0 <= value <= 0o777:
        raise fail(f"file mode {text!r} is outside 0000-0777")
    return value


def _file_content(
    ctx: WorkloadContext,
    cname: str,
    target: str,
    spec: Mapping[str, Any],
    by_name: Mapping[str, ResolvedResource],
    where: Where,
) -> tuple[str, str, bool]:
    """The file's ConfigMap key, its content, and whether that is base64 (binaryData)."""
    # ConfigMap keys allow [-._a-zA-Z0-9]; the hash keeps two files with one base name apart.
    base = re.sub(r"[^-._a-zA-Z0-9]+", "-", posixpath.basename(target)).strip("-.") or "file"
    key_name = f"{base[:200]}-{sha256_hex(f'{cname}:{target}'.encode(), 8)}"
    if "binaryContent" in spec:
        return key_name, _binary_content(ctx, spec, where), True
    if "content" in spec:
        content = spec["content"]
        if isinstance(content, list):  # early Score drafts allowed a list of lines
            content = "\n".join(map(str, content))
        text = str(content)
    elif "source" in spec:
        data = _source(ctx, spec["source"], by_name, where)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return key_name, base64.b64encode(data).decode(), True
    else:
        raise ctx.fail(where, "a file needs content, source or binaryContent")
    if not spec.get("noExpand"):
        text = ctx.text(text, (*where, "content" if "content" in spec else "source"), by_name)
    return key_name, text, False


def _binary_content(ctx: WorkloadContext, spec: Mapping[str, Any], where: Where) -> str:
    content = str(spec["binaryContent"])
    try:  # line breaks are allowed, as Kubernetes (Go's base64) ignores them
        base64.b64decode(re.sub(r"[\r\n]", "", content), validate=True)
    except ValueError:
        raise ctx.fail(
            (*where, "binaryContent"),
            "binaryContent is not valid base64: encode the file with `base64 -w0 FILE` (standard "
            "alphabet, '=' padding), or use content or source",
        ) from None
    return content


def _source(ctx: WorkloadContext, raw: Any, by_name: Mapping[str, ResolvedResource], where: Where) -> bytes:
    """The bytes of a file `source`, which must be beside score.yaml (recorded among the unit's inputs)."""
    workload = ctx.workload
    source = ctx.text(raw, (*where, "source"), by_name)
    path = posixpath.normpath(posixpath.join(posixpath.dirname(workload.path), source))
    if not path.startswith(workload.folder + "/"):
        raise ctx.fail(
            (*where, "source"),
            f"file source {source!r} points outside the workload folder {workload.folder}/: keep referenced "
            "files beside score.yaml",
        )
    blob = ctx.snapshot.files.get(path)
    if blob is None:
        raise ctx.fail((*where, "source"), f"file source {source!r} does not exist ({path})")
    ctx.inputs.add(path, blob)
    return ctx.snapshot.source.read(path)

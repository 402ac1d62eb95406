"""Score `containers`: image, command and args, variables (secrets through `valueFrom`), resources, probes,
files and volumes, and `before` (init containers and native sidecars)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_engine.errors import Finding, did_you_mean
from gitops_engine.model import SecretRef
from gitops_engine.placeholders import PlaceholderError, Reference, tokenize
from gitops_engine.render.context import WorkloadContext
from gitops_engine.render.convert.files import ConfigFiles, file_mounts
from gitops_engine.render.convert.volumes import volume_mounts
from gitops_engine.render.records import ResolvedResource, UnitFailure

_ENV_NAME_UNSAFE = re.compile(r"[^A-Z0-9_]")


@dataclass
class Pod:
    """What the containers give the pod: its containers, init containers, volumes and files."""

    containers: list[dict[str, Any]] = field(default_factory=list)
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    files: ConfigFiles = field(default_factory=ConfigFiles)


def convert_containers(
    ctx: WorkloadContext, by_name: Mapping[str, ResolvedResource], policy: Mapping[str, Any]
) -> Pod:
    """The pod's containers. Every container's variables are checked, so all misspelt outputs are reported at
    once; after the first problem nothing else is converted, as nothing of the unit is written."""
    pod = Pod()
    problems: list[Finding] = []
    for cname, container in sorted(ctx.spec["containers"].items()):
        try:
            env_vars = _variables(ctx, cname, container.get("variables") or {}, by_name)
        except UnitFailure as exc:
            problems.extend(exc.findings)
        if problems:
            continue
        out = _container(ctx, cname, container, env_vars, by_name, policy, pod)
        before = container.get("before") or {}
        _check_before(ctx, cname, before)
        if before:
            # Ordered start: 'complete' is an init container; 'started'/'healthy' a native sidecar that keeps running.
            if any(v.get("ready") != "complete" for v in before.values()):
                out["restartPolicy"] = "Always"
            pod.init_containers.append(out)
        else:
            pod.containers.append(out)
    if problems:
        raise UnitFailure(ctx.unit, problems)
    return pod


def _container(
    ctx: WorkloadContext,
    cname: str,
    container: Mapping[str, Any],
    env_vars: list[dict[str, Any]],
    by_name: Mapping[str, ResolvedResource],
    policy: Mapping[str, Any],
    pod: Pod,
) -> dict[str, Any]:
    base = ("containers", cname)
    out: dict[str, Any] = {"name": cname, "image": _image(ctx, cname, container)}
    for part in ("command", "args"):
        if container.get(part):
            out[part] = [ctx.text(v, (*base, part, i), by_name) for i, v in enumerate(container[part])]
    if env_vars:
        out["env"] = env_vars
    if container.get("resources"):
        out["resources"] = copy.deepcopy(container["resources"])
    for probe in ("livenessProbe", "readinessProbe"):
        if container.get(probe):
            out[probe] = _probe(container[probe])
    mounts = file_mounts(ctx, cname, container, by_name, pod.files)
    mounts += volume_mounts(ctx, cname, container, by_name, pod.volumes)
    if mounts:
        out["volumeMounts"] = sorted(mounts, key=lambda m: (m["mountPath"], m["name"]))
    if policy.get("containerSecurityContext"):
        out["securityContext"] = copy.deepcopy(policy["containerSecurityContext"])
    return out


def _check_before(ctx: WorkloadContext, cname: str, before: Mapping[str, Any]) -> None:
    containers = ctx.spec["containers"]
    for other in sorted(before):
        if other not in containers or other == cname:
            others = [c for c in containers if c != cname]
            raise ctx.fail(
                ("containers", cname, "before", other),
                f"containers.{cname}.before names {other!r}{did_you_mean(other, others)}, which is not "
                "another container of this workload",
            )


def _image(ctx: WorkloadContext, cname: str, container: Mapping[str, Any]) -> str:
    image = container["image"]
    if image == ".":
        raise ctx.fail(
            ("containers", cname, "image"),
            "image '.' means 'build me' in score-compose; a platform repo deploys built images: set an image "
            "reference (for example in overrides.<env>.yaml) such as registry.example.com/app:1.2.3",
        )
    return ctx.text(image, ("containers", cname, "image"), {})


def _probe(probe: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "httpGet" in probe:
        http = dict(probe["httpGet"])
        get: dict[str, Any] = {}
        for key in ("host", "scheme", "path", "port"):
            if key in http:
                get[key] = http[key]
        if http.get("httpHeaders"):
            get["httpHeaders"] = [{"name": h["name"], "value": h["value"]} for h in http["httpHeaders"]]
        out["httpGet"] = get
    if "exec" in probe:
        out["exec"] = {"command": list(probe["exec"]["command"])}
    return out


def _variables(
    ctx: WorkloadContext, cname: str, variables: Mapping[str, Any], by_name: Mapping[str, ResolvedResource]
) -> list[dict[str, Any]]:
    """The container's `env`: secret parts through helper variables (`valueFrom`), sorted before the others."""
    helpers: dict[str, dict[str, Any]] = {}
    plain: list[dict[str, Any]] = []
    problems: list[Finding] = []  # every variable is checked, so all misspelt outputs are reported at once
    for var, raw in sorted(variables.items()):
        where = ("containers", cname, "variables", var)
        text = raw if isinstance(raw, str) else json.dumps(raw)
        try:
            tokens = tokenize(text)
            values = [t if isinstance(t, str) else ctx.resolve(t, by_name, secrets_ok=True) for t in tokens]
        except PlaceholderError as exc:
            problems.extend(ctx.fail(where, f"containers.{cname}.variables.{var}: {exc}").findings)
            continue
        if len(values) == 1 and isinstance(values[0], SecretRef):
            plain.append({"name": var, "valueFrom": values[0].as_manifest()})
            continue
        plain.append({"name": var, "value": _value(tokens, values, helpers)})
    if problems:
        raise UnitFailure(ctx.unit, problems)
    return [helpers[k] for k in sorted(helpers)] + plain


def _value(tokens: list[Any], values: list[Any], helpers: dict[str, dict[str, Any]]) -> str:
    parts: list[str] = []
    for token, value in zip(tokens, values, strict=True):
        if isinstance(value, SecretRef):
            assert isinstance(token, Reference)
            helper = _secret_env_name(token)
            helpers[helper] = {"name": helper, "valueFrom": value.as_manifest()}
            parts.append(f"$({helper})")
        elif isinstance(token, str):
            # Kubernetes expands $(VAR) and reduces $$ to $ in values; keep the user's literal text literal.
            parts.append(_k8s_literal(token))
        else:
            parts.append(
                _k8s_literal(
                    value
                    if isinstance(value, str)
                    else json.dumps(value, sort_keys=True, separators=(",", ":"))
                )
            )
    return "".join(parts)


def _k8s_literal(text: str) -> str:
    """Text that Kubernetes' $(VAR) expansion leaves as it is: a `$` before `$`, `(` or the end (a helper's
    `$(...)` may follow) is doubled."""
    return re.sub(r"\$(?=[$(]|\Z)", "$$", text)


def _secret_env_name(ref: Reference) -> str:
    raw = "_".join(ref.path[1:]).upper()
    return "GE_SECRET_" + _ENV_NAME_UNSAFE.sub("_", raw)

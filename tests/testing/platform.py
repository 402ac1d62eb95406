"""The platform builder: platform.yaml, environments, resource definitions, Score files and CODEOWNERS, each a
`File` (its path in the repository and its text); `files(...)` makes the `{path: text}` that `make_repo` and
`write_files` take. The tests' fixture platforms and `benchmarks/generate.py` are written with it, so the shape of
each kind of file is spelled out once.

Every function returns the exact text (no YAML dumper in between): what a test or a benchmark commits is what a
person would write, comments included, and the same arguments always give the same bytes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .repos import FileSpec, write_files

API_VERSION = "apiVersion: gitops-engine.dev/v1\n"
SCHEMA_URL = "https://gitops-engine.dev/schemas"

Criterion = Mapping[str, str]  # one entry of `criteria:` ({} matches everything)


@dataclass(frozen=True)
class File:
    """One file of a platform repository."""

    path: str
    text: str


def files(*items: File) -> dict[str, FileSpec]:
    """`{path: text}` in the order given (a later file of the same path wins)."""
    return {item.path: item.text for item in items}


def write(root: Path, *items: File) -> None:
    write_files(root, files(*items))


def _schema_comment(schema: str | None) -> str:
    return f"# yaml-language-server: $schema={SCHEMA_URL}/{schema}.json\n" if schema else ""


def _mapping(key: str, values: Mapping[str, str] | None) -> str:
    if not values:
        return ""
    return f"{key}:\n" + "".join(f"  {k}: {v}\n" for k, v in values.items())


def platform(
    environments: Sequence[str],
    *,
    forge: str | None = None,
    extra: str = "",
    comment: str = "",
    schema: bool = False,
) -> File:
    """platform.yaml: the environments in order, the forge, then `extra` (YAML text: pullRequests, limits, ...)."""
    text = _schema_comment("platform" if schema else None) + comment
    text += f"{API_VERSION}kind: Platform\nenvironments: [{', '.join(environments)}]\n"
    if forge is not None:
        text += f"forge: {forge}\n"
    return File("platform.yaml", text + extra)


def environment(
    env_id: str,
    env_type: str,
    *,
    namespace: str = "{team}-{env}",
    labels: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    schema: bool = False,
) -> File:
    """environments/<id>.yaml; label and value texts are written as they are (quote them yourself if needed)."""
    text = _schema_comment("environment" if schema else None)
    text += f'{API_VERSION}kind: Environment\nid: {env_id}\ntype: {env_type}\nnamespace: "{namespace}"\n'
    return File(f"environments/{env_id}.yaml", text + _mapping("labels", labels) + _mapping("values", values))


def _criteria(criteria: Sequence[Criterion]) -> str:
    lines = ["criteria:\n"]
    for criterion in criteria:
        if not criterion:
            lines.append("  - {}\n")
            continue
        pairs = [f"{k}: {v}" for k, v in criterion.items()]
        lines.append("  - " + "\n    ".join(pairs) + "\n")
    return "".join(lines)


def _block(text: str, spaces: int) -> str:
    return textwrap.indent(text, " " * spaces)


def definition(
    def_id: str,
    def_type: str,
    *,
    criteria: Sequence[Criterion],
    description: str | None = None,
    outputs: str | None = None,
    template_outputs: str | None = None,
    manifests: str | None = None,
    schema: bool = False,
) -> File:
    """definitions/<type>/<id>.yaml. `outputs` (YAML text) makes a static definition; `template_outputs` and/or
    `manifests` (Jinja text, unindented) a template one."""
    template = template_outputs is not None or manifests is not None
    assert template != (outputs is not None), f"{def_id}: either static outputs or a template"
    text = _schema_comment("definition" if schema else None)
    text += f"{API_VERSION}kind: ResourceDefinition\nid: {def_id}\ntype: {def_type}\n"
    if description is not None:
        text += f"description: {description}\n"
    text += _criteria(criteria)
    if outputs is not None:
        text += "driver: static\noutputs:\n" + _block(outputs, 2)
    else:
        text += "driver: template\ntemplate:\n"
    if template_outputs is not None:
        text += "  outputs: |\n" + _block(template_outputs, 4)
    if manifests is not None:
        text += "  manifests: |\n" + _block(manifests, 4)
    return File(f"definitions/{def_type}/{def_id}.yaml", text)


def database_outputs(host: str, secret: str, port: int = 5432) -> str:
    """What a database definition outputs: host, port, and the password as a key of a Secret."""
    return f"host: {host}\nport: {port}\npassword:\n  secretKeyRef: {{name: {secret}, key: password}}\n"


def service_manifest(port_name: str, port: int) -> str:
    """A manifests entry: the Service of an in-cluster resource, named and selected by the resource's uid."""
    return (
        "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: {{ resource.uid }}\n  spec:\n"
        "    selector: {app.kubernetes.io/instance: {{ resource.uid }}}\n    ports:\n"
        f"      - {{name: {port_name}, port: {port}}}\n"
    )


@dataclass(frozen=True)
class Resource:
    """One entry of a Score file's `resources:`; `params` are written in flow style, their texts as they are."""

    type: str
    id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str:
        out = f"  {name}:\n    type: {self.type}\n"
        if self.id is not None:
            out += f"    id: {self.id}\n"
        if self.params:
            out += "    params: {" + ", ".join(f"{k}: {v}" for k, v in self.params.items()) + "}\n"
        return out


def score(
    name: str,
    image: str,
    *,
    variables: Mapping[str, str] | None = None,
    volume: str = "",
    port: int | None = None,
    resources: Mapping[str, Resource] | None = None,
) -> str:
    """A Score file with one container `main`; `volume` mounts the resource of that name at /var/<volume>."""
    text = (
        f"apiVersion: score.dev/v1b1\nmetadata:\n  name: {name}\ncontainers:\n  main:\n    image: {image}\n"
    )
    if variables:
        text += "    variables:\n" + "".join(f"      {k}: {v}\n" for k, v in variables.items())
    if volume:
        text += f"    volumes:\n      /var/{volume}:\n        source: ${{resources.{volume}}}\n"
    if port is not None:
        text += f"service:\n  ports:\n    http:\n      port: {port}\n"
    if resources:
        text += "resources:\n" + "".join(r.text(n) for n, r in resources.items())
    return text


def codeowners(rules: Sequence[tuple[str, str]], *, comment: str | None = None, pad: int = 0) -> File:
    """.github/CODEOWNERS: one `path owner` line a rule, paths padded to `pad` columns."""
    lines = [f"# {comment}"] if comment else []
    lines += [f"{path:<{pad}} {owner}" for path, owner in rules]
    return File(".github/CODEOWNERS", "\n".join(lines) + "\n")


def workload(team: str, name: str, score_text: str, file_name: str = "score.yaml") -> File:
    """A file of workloads/<team>/<name>/ (its Score file unless `file_name` says otherwise)."""
    return File(f"workloads/{team}/{name}/{file_name}", score_text)

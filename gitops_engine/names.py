"""Names that become paths, refs and branches: the one place that says which ones are allowed.

Every string from a Score file, a definition or an environment that ends up in a file name, a folder, a git ref or a
branch passes through here: team and workload folder names, environment ids, shared resource ids (DNS labels, as
Kubernetes namespaces and object names need), `metadata.name` of rendered objects (DNS subdomains), `kind` (a
Kubernetes kind identifier), the file names derived from them (at most 255 bytes, what file systems and git
checkouts allow) and branch names (git's check-ref-format rules). Each check returns what is wrong, in words that
say what to do, or None; callers add the file, line and column.
"""

from __future__ import annotations

import re

from gitops_engine.errors import GitopsError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"  # DNS_LABEL with its 63-character limit
WORKLOAD_KEY = re.compile(rf"{_LABEL}/{_LABEL}\Z")  # team/name, as folders under workloads/ give it

MAX_LABEL = 63  # a DNS label (RFC 1123), Kubernetes namespaces and most names
MAX_SUBDOMAIN = 253  # a DNS subdomain, Kubernetes metadata.name
MAX_KIND = 63  # kinds are Go type names; every Kubernetes and CRD kind is far shorter
MAX_FILE_NAME_BYTES = 255  # NAME_MAX of Linux and macOS file systems; longer names cannot be checked out
SHARED_FOLDER = "_shared"
BRANCH_PREFIX = "gitops-engine/"

# What git check-ref-format refuses inside a ref (besides control characters): see git-check-ref-format(1).
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


class InvalidName(GitopsError):
    """A derived name the checks refuse (sources are checked when loaded, so this guards what slips past)."""


def is_dns_label(name: str) -> bool:
    return len(name) <= MAX_LABEL and bool(DNS_LABEL.match(name))


def label_problem(value: object, what: str) -> str | None:
    """Why `value` is not a DNS label (lower-case letters, digits and '-', at most 63 characters), or None."""
    if isinstance(value, str) and is_dns_label(value):
        return None
    shown = _shown(value)
    if isinstance(value, str) and len(value) > MAX_LABEL and DNS_LABEL.match(value):
        return f"{what} {shown} is {len(value)} characters long: shorten it to at most {MAX_LABEL}"
    return (
        f"{what} {shown} is not a valid name: use lower-case letters, digits and '-', starting and ending with a "
        f"letter or digit (a DNS label, at most {MAX_LABEL} characters)"
    )


def object_name_problem(kind: str, name: object) -> str | None:
    """Why `name` is not a valid metadata.name (a DNS subdomain of at most 253 characters), or None."""
    if isinstance(name, str) and len(name) <= MAX_SUBDOMAIN and DNS_SUBDOMAIN.match(name):
        return None
    if isinstance(name, str) and DNS_SUBDOMAIN.match(name):
        return (
            f"{kind} metadata.name is {len(name)} characters long: Kubernetes allows at most {MAX_SUBDOMAIN}; "
            "shorten it"
        )
    return (
        f"{kind} needs metadata.name that is a valid Kubernetes name (got {_shown(name)}): use lower-case letters, "
        "digits, '-' and '.' (a DNS subdomain)"
    )


def kind_problem(kind: object) -> str | None:
    """Why `kind` is not the kind of one Kubernetes object, or None. List kinds (`List`, `SecretList`, ...) are
    refused: they wrap other objects, and every object must be a manifest of its own so that every rule (secrets,
    names, namespaces) sees it."""
    if not isinstance(kind, str) or not kind:
        return "needs kind"
    if len(kind) > MAX_KIND:
        return f"kind is {len(kind)} characters long: a Kubernetes kind has at most {MAX_KIND}"
    if not KIND.match(kind):
        return (
            f"kind {_shown(kind)} is not a Kubernetes kind: use letters and digits only, starting with a letter "
            "(such as ConfigMap)"
        )
    if kind.endswith("List"):
        return (
            f"kind {kind!r} wraps a list of objects: write each object as a manifest of its own (lists are not "
            "rendered, so that every object is checked)"
        )
    return None


def file_name_problem(file_name: str) -> str | None:
    """Why `file_name` cannot be one entry of a folder in a checkout, or None."""
    if not file_name or file_name in (".", "..") or "/" in file_name or "\0" in file_name:
        return f"{_shown(file_name)} is not a file name"
    size = len(file_name.encode("utf-8", "surrogateescape"))
    if size > MAX_FILE_NAME_BYTES:
        return (
            f"the file name {file_name[:40]}... is {size} bytes long, over the {MAX_FILE_NAME_BYTES} bytes a file "
            "system allows: shorten the kind or metadata.name"
        )
    return None


def object_problem(kind: str, name: str) -> str | None:
    """Why an object of this kind and name cannot be rendered (a document of its unit's manifest.yaml), or None."""
    return kind_problem(kind) or object_name_problem(kind, name)


def unit_folder(env: str, unit: str) -> str:
    """`rendered/<env>/<unit>`, after checking both (InvalidName otherwise)."""
    problem = label_problem(env, "environment") or unit_problem(unit)
    if problem:
        raise InvalidName(problem)
    return f"rendered/{env}/{unit}"


def unit_problem(unit: str) -> str | None:
    """Why `unit` is not `team/workload` or `_shared/<id>` (each a DNS label), or None."""
    first, slash, second = unit.partition("/")
    if not slash:
        return f"unit {_shown(unit)} is not team/workload or {SHARED_FOLDER}/<id>"
    if first != SHARED_FOLDER:
        return label_problem(first, "team") or label_problem(second, "workload")
    return label_problem(second, "shared resource id")


def branch_for(unit: str) -> str:
    """The pull-request branch of a unit, `gitops-engine/<unit>`, checked as git checks a ref."""
    problem = unit_problem(unit)
    branch = BRANCH_PREFIX + unit
    problem = problem or branch_problem(branch)
    if problem:
        raise InvalidName(problem)
    return branch


def branch_problem(branch: str) -> str | None:
    """Why `refs/heads/<branch>` is not a valid ref (the rules of git check-ref-format --branch), or None."""
    what = f"branch {_shown(branch)}"
    if not branch or branch == "@" or branch.startswith(("-", "/")) or branch.endswith(("/", ".")):
        return f"{what} is not a valid git branch name"
    if ".." in branch or "@{" in branch or "//" in branch or _REF_FORBIDDEN.search(branch):
        return f"{what} holds '..', '@{{', '//', a space, a control character or one of ~^:?*[\\"
    for component in branch.split("/"):
        if component.startswith(".") or component.endswith(".lock"):
            return f"{what} has a part that starts with '.' or ends with '.lock'"
        if len(component.encode("utf-8", "surrogateescape")) > MAX_FILE_NAME_BYTES:
            return f"{what} has a part over {MAX_FILE_NAME_BYTES} bytes"
    return None


def _shown(value: object) -> str:
    """A value for a message: quoted, and cut short when long."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...' ({len(str(value))} characters)"

"""What the render test modules (test_rendering, test_render_*) share: the focused platform rendered, and reading
its objects back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from helpers import read_object, run_cli


def render_focused(repo: Path) -> Path:
    """`render` the focused platform (tests/data/platforms/focused/) in `repo`; it must succeed."""
    code, output = run_cli(["render"], repo)
    assert code == 0, output
    return repo


def load_object(repo: Path, path: str) -> Any:
    """A lock, or one object named `rendered/<env>/<unit>/<kind>-<name>.yaml` (read from the unit's manifest.yaml)."""
    if path.endswith(".lock"):
        return yaml.safe_load((repo / path).read_text(encoding="utf-8"))
    return yaml.safe_load(read_object(repo, path))


def container_of(repo: Path, env: str, unit: str, kind: str, name: str) -> dict[str, Any]:
    """The one container of a workload's Deployment or StatefulSet."""
    obj = load_object(repo, f"rendered/{env}/{unit}/{kind}-{name}.yaml")
    [container] = obj["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def env_vars(container: dict[str, Any]) -> dict[str, Any]:
    """A container's variables: name -> value, or its valueFrom."""
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]}

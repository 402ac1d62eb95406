"""Score `service.ports`: the workload's Service."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gitops_engine.render.context import WorkloadContext

_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def service_object(
    ctx: WorkloadContext, selector: Mapping[str, str], labels: Mapping[str, str], namespace: str
) -> dict[str, Any] | None:
    """The Service for the workload's ports, or None when it has none."""
    ports = (ctx.spec.get("service") or {}).get("ports") or {}
    if not ports:
        return None
    service_ports = []
    for port_name, port in sorted(ports.items()):
        if not (len(port_name) <= 15 and _PORT_NAME.match(port_name) and re.search("[a-z]", port_name)):
            raise ctx.fail(
                ("service", "ports", port_name),
                f"port name {port_name!r} is not valid in Kubernetes: at most 15 lower-case letters, digits "
                "and '-', with at least one letter",
            )
        service_ports.append(
            {
                "name": port_name,
                "port": port["port"],
                "targetPort": port.get("targetPort", port["port"]),
                "protocol": port.get("protocol", "TCP"),
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": ctx.workload.name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"selector": dict(selector), "ports": service_ports},
    }

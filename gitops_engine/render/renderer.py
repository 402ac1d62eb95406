"""The renderer's entry points: one workload (or, through it, its shared resources) in one environment.

For a workload: apply its environment override (overrides.py), resolve every resource to its definition in
dependency order (resources.py, ordering.py, drivers.py), and convert the workload into Kubernetes objects
(convert/). Every input read is recorded in the unit's provenance (package.py).
"""

from __future__ import annotations

from typing import Any

from gitops_engine.errors import Finding, InputError
from gitops_engine.loading import Snapshot
from gitops_engine.model import Environment, Workload, is_dns_label
from gitops_engine.render.context import WorkloadContext
from gitops_engine.render.convert import convert
from gitops_engine.render.drivers import Drivers
from gitops_engine.render.overrides import EffectiveSpecs
from gitops_engine.render.package import package
from gitops_engine.render.records import Inputs, RenderedUnit, UnitFailure, with_unit
from gitops_engine.render.resources import Provisioner, resolve_resources


class Renderer:
    """Renders units of one snapshot; shared resources are rendered once per environment and reused."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._specs = EffectiveSpecs()
        self.provisioner = Provisioner(snapshot, Drivers(snapshot, self._specs))

    def render_workload(self, key: str, env_id: str) -> tuple[RenderedUnit, list[RenderedUnit]]:
        """Render workload `key` in `env_id`: its unit, and the shared units it uses. Raises UnitFailure."""
        snapshot = self.snapshot
        try:
            workload = snapshot.workload(key)
        except InputError as exc:
            raise UnitFailure(key, list(exc.findings)) from None
        env = self._environment(env_id, key)
        inputs = Inputs()
        for path, blob in workload.files.items():
            inputs.add(path, blob)
        inputs.add(env.path, env.fingerprint)
        ctx = WorkloadContext(snapshot, workload, env, self.effective_spec(workload, env_id), inputs)
        namespace = env.namespace_for(workload.team, workload.name)
        if not is_dns_label(namespace):
            message = f"namespace {namespace!r} for {key} is not a valid DNS label: change the namespace rule"
            raise UnitFailure(key, [Finding(env.path, 0, 0, message, unit=key)])
        try:
            resolved, shared_units = resolve_resources(ctx, self.provisioner)
            objects = convert(ctx, self.provisioner, resolved, namespace)
        except UnitFailure:
            raise
        except InputError as exc:
            raise UnitFailure(key, [with_unit(f, key) for f in exc.findings]) from None
        unit = package(key, env, objects, inputs, resolved, namespace, workload_document=workload.document)
        return unit, shared_units

    def effective_spec(self, workload: Workload, env_id: str) -> dict[str, Any]:
        """The Score spec with the environment's override deep-merged onto it (validated again if changed)."""
        return self._specs.get(workload, env_id)

    def _environment(self, env_id: str, unit: str) -> Environment:
        env = self.snapshot.environments.get(env_id)
        if env is None:
            raise UnitFailure(
                unit,
                [Finding(f"environments/{env_id}.yaml", 0, 0, f"unknown environment {env_id!r}", unit=unit)],
            )
        return env

"""One workload in one environment while it renders: its effective spec, the inputs read, its failures, and the
meaning of its Score placeholders (`${metadata.…}`, `${resources.<name>.<output>}`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.errors import did_you_mean
from gitops_engine.loading import Snapshot
from gitops_engine.model import Environment, SecretRef, Workload
from gitops_engine.placeholders import PlaceholderError, Reference, lookup, substitute
from gitops_engine.render.overrides import workload_finding
from gitops_engine.render.records import Inputs, ResolvedResource, UnitFailure

Where = tuple[str | int, ...]


@dataclass
class WorkloadContext:
    snapshot: Snapshot
    workload: Workload
    env: Environment
    spec: dict[str, Any]
    inputs: Inputs

    @property
    def unit(self) -> str:
        return self.workload.key

    def fail(self, where: Where, message: str) -> UnitFailure:
        """The workload's failure at `where` in its Score file (or its override, when that sets it)."""
        finding = workload_finding(self.workload, self.env.id, where, message, self.unit)
        return UnitFailure(self.unit, [finding])

    def text(self, value: Any, where: Where, by_name: Mapping[str, ResolvedResource]) -> str:
        """`value` as text with its placeholders substituted (no secrets: text is written into objects)."""
        try:
            result = substitute(str(value), lambda ref: self.resolve(ref, by_name, secrets_ok=False))
        except PlaceholderError as exc:
            raise self.fail(where, f"{'.'.join(map(str, where))}: {exc}") from None
        return str(result)

    def resolve(self, ref: Reference, resolved: Mapping[str, ResolvedResource], *, secrets_ok: bool) -> Any:
        """What a placeholder stands for, given the resources resolved so far."""
        head = ref.path[0]
        if head == "metadata":
            return lookup(self.spec.get("metadata", {}), ref.path[1:], "metadata")
        if head == "resources":
            return self._resource_output(ref, resolved, secrets_ok=secrets_ok)
        raise PlaceholderError(f"{ref.text}: placeholders start with metadata. or resources.")

    def _resource_output(
        self, ref: Reference, resolved: Mapping[str, ResolvedResource], *, secrets_ok: bool
    ) -> Any:
        if len(ref.path) < 2:
            raise PlaceholderError(f"{ref.text}: name a resource, like ${{resources.db.host}}")
        name = ref.path[1]
        if name not in resolved:
            names = sorted(self.spec.get("resources") or {})
            if name in names:  # declared, but this field is read before resources are (an image, say)
                raise PlaceholderError(
                    f"{ref.text}: resource outputs cannot be used here; only ${{metadata.…}} placeholders can"
                )
            raise PlaceholderError(
                f"{ref.text}: unknown resource {name!r}{did_you_mean(name, names)} (declared: "
                f"{', '.join(names) or 'none'})"
            )
        outputs = resolved[name].outputs
        if len(ref.path) == 2:
            if "source" in outputs:  # `${resources.data}` names a volume
                return outputs["source"]
            raise PlaceholderError(
                f"{ref.text}: name an output ({', '.join(sorted(outputs)) or 'it has none'})"
            )
        try:
            value = lookup(outputs, ref.path[2:], f"resources.{name}")
        except PlaceholderError as exc:
            raise PlaceholderError(f"{ref.text}: {exc}") from None
        if isinstance(value, SecretRef) and not secrets_ok:
            raise PlaceholderError(
                f"{ref.text} is a secret: it cannot be written into a file; pass it as a variable instead"
            )
        return value

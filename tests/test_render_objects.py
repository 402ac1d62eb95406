"""render/objects.manifest_problem on integers: an int32 field outside the int32 range, or any integer outside
int64, is named with its field path; everything Kubernetes can hold passes (checked first without spelling out
field paths, which must not change which problem is named)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from gitops_engine.render.objects import INT32, INT32_FIELDS, INT64, manifest_problem


def service(port: Any, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": port}], **extra},
    }


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (service(2**31 - 1), None),
        (service(-(2**31)), None),
        (
            service(2**31),
            "Service spec.ports[0].port is 2147483648, outside the int32 range Kubernetes allows "
            "(-2147483648 to 2147483647)",
        ),
        (
            service(-(2**31) - 1),
            "Service spec.ports[0].port is -2147483649, outside the int32 range Kubernetes allows "
            "(-2147483648 to 2147483647)",
        ),
        (service(80, sessionAffinityTimeout=2**40), None),  # not an int32 field: int64 holds it
        (
            service(80, extra={"deep": [{"x": 2**63}]}),
            "Service spec.extra.deep[0].x is 9223372036854775808, outside the int64 range Kubernetes allows "
            "(-9223372036854775808 to 9223372036854775807)",
        ),
        (service(True, flag=False), None),  # booleans are not integers here
        (service(80.5), None),
    ],
)
def test_integers_kubernetes_cannot_hold_are_named(manifest: dict[str, Any], expected: str | None) -> None:
    assert manifest_problem(manifest) == expected


def reference_problem(manifest: dict[str, Any]) -> str | None:
    """The check as it was written first: every value walked with its path."""
    stack: list[tuple[str, Any]] = [("", manifest)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            field_name = where.rsplit(".", 1)[-1]
            low, high = INT32 if field_name in INT32_FIELDS else INT64
            if not low <= value <= high:
                size = "int32" if field_name in INT32_FIELDS else "int64"
                return (
                    f"{manifest['kind']} {where} is {value}, outside the {size} range Kubernetes allows "
                    f"({low} to {high})"
                )
    return None


def test_the_first_problem_named_is_the_one_the_full_walk_names() -> None:
    rng = random.Random(3)
    ints = [0, 1, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, True]
    fields = ["port", "replicas", "x", "size", "targetPort", "items"]

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.5:
            return rng.choice([*ints, "s", None, 1.5])
        if roll < 0.75:
            return {rng.choice(fields): value(depth + 1) for _ in range(rng.randint(1, 3))}
        return [value(depth + 1) for _ in range(rng.randint(1, 3))]

    named = 0
    for _ in range(3000):
        manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "spec": value(1)}
        expected = reference_problem(manifest)
        assert manifest_problem(manifest) == expected
        named += expected is not None
    assert named > 300

"""Where `affected` used to keep staleness, candidates and planning; now each has its own module.

- `provenance`: what rendered/ holds at a commit (`RenderedState`), the locks' index, `stale_reasons`;
- `candidates`: a commit range -> the units it can affect (`candidates_from_range`);
- `plan`: which candidates are stale and what each becomes (`plan_changes`, `Plan`, `UnitPlan`, `range_effect`).

These names are re-exported for the callers not moved yet (publishing, rollout, dashboard, usage); import them
from their modules, and delete this file once nothing imports it.
"""

from __future__ import annotations

from gitops_engine.candidates import candidates_from_range
from gitops_engine.lock import parse_lock
from gitops_engine.plan import DATA_KINDS, Cause, Plan, UnitPlan, plan_changes
from gitops_engine.provenance import ENSURE_MAX_UNITS, RenderedState, stale_reasons, workload_inputs_changed

__all__ = [
    "DATA_KINDS",
    "ENSURE_MAX_UNITS",
    "Cause",
    "Plan",
    "RenderedState",
    "UnitPlan",
    "candidates_from_range",
    "parse_lock",
    "plan_changes",
    "stale_reasons",
    "workload_inputs_changed",
]

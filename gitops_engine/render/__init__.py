"""Stage 3: render one workload (or one shared resource) in one environment into Kubernetes objects.

renderer.py is the entry point; overrides.py gives a workload's spec in an environment; resources.py resolves its
resources (matching definitions, running them through drivers.py, in the order of ordering.py, with shared
resources rendered once); convert/ builds its objects; package.py writes the unit's files and lock.
"""

from gitops_engine.render.lookups import describe_workload, lookup_fingerprint, resolve_workload_name
from gitops_engine.render.objects import (
    is_cluster_scoped,
    is_cluster_scoped_id,
    namespace_clash,
    object_clash,
)
from gitops_engine.render.overrides import deep_merge
from gitops_engine.render.records import (
    RenderedUnit,
    ResolvedResource,
    UnitFailure,
    shared_namespace,
    shared_unit,
    unit_folder,
)
from gitops_engine.render.renderer import Renderer

__all__ = [
    "RenderedUnit",
    "Renderer",
    "ResolvedResource",
    "UnitFailure",
    "deep_merge",
    "describe_workload",
    "is_cluster_scoped",
    "is_cluster_scoped_id",
    "lookup_fingerprint",
    "namespace_clash",
    "object_clash",
    "resolve_workload_name",
    "shared_namespace",
    "shared_unit",
    "unit_folder",
]

"""gitops-engine: a platform orchestrator that lives in git."""

from __future__ import annotations

__version__ = "0.1.0"

# Bumped whenever the same inputs would render different bytes. It is recorded in every unit's
# provenance, so a new engine version re-renders everything through the normal pull-request flow.
# 2: locks record `lookup_workload` calls under the name asked (a bare name resolves to the caller's team first).
# 3: one manifest.yaml a unit. 4: locks no longer name platform.yaml, which changes no rendered byte (an edit of it
# rewrote every lock of the repository). 5: locks record an environment file by the fingerprint of what rendering
# reads of it (model.environment_fingerprint), not its blob: an edit of its rollout settings or comments rewrote
# every lock of the environment.
RENDER_VERSION = "5"

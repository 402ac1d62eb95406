"""Publishing a plan: the main commit (`main`), the pull requests (`pulls`, in four phases: `decide`, `push`,
`write`, `close`), the texts people read (`describe`), and which renderings wait in open pull requests
(`pending`, for `render --check`).

Git work (commits, branches, pushes) happens through `gitops_engine.git`; pull requests through the `Forge`
interface only. Every step is idempotent, so a run killed anywhere is completed by the next one: branches are
pushed only when their content differs, pull requests are found through the forge before one is opened, and main
is pushed with a lease (when main moved, the whole run starts again on the new main). The order of the stages is
`gitops_engine.reconcile`'s.
"""

from __future__ import annotations

from gitops_engine import names

BRANCH_PREFIX = names.BRANCH_PREFIX
MAIN = "main"

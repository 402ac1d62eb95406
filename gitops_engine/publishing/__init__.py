"""Publishing a plan, the back half of gitops_engine.reconcile:

- `main`: the main commit (developer changes, provenance-only ones) and its push with a lease;
- `pulls`: the pull requests in four phases, each a module: `decide` (which to push, which to write, what is
  left alone), `push` (one fast-import, one atomic push), `write` (open or update on the forge), `close` (close
  the obsolete ones, delete merged and leftover branches); `branches` names and reads the engine's branches;
- `describe`: every text people read (titles, bodies, comments, commit messages, the preview comment, graphs);
- `report`: the RunReport every stage adds to; `status`: the rollout dashboard after a run;
- `pending`: which renderings wait in open pull requests (`render --check`).

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

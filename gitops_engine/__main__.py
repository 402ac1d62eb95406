from __future__ import annotations

from gitops_engine.cli import main

raise SystemExit(main())

from __future__ import annotations

from gitops_engine.entry import main

main()

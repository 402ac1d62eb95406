"""What the tests are made of, one room each (import from the module, not from this package):

- `repos`: real git repositories in temporary folders (`git`, `make_repo`, `write_files`, `commit_all`, `clone`).
- `cli`: the real command line through click's runner (`run_cli`).
- `golden`: golden files and rendered trees (`assert_golden`, `snapshot_tree`, `changed_paths`, `rendered_objects`).
- `platform`: the platform builder (platform.yaml, environments, definitions, Score files, CODEOWNERS), used by
  the fixture platforms below and by `benchmarks/generate.py`.
- `small_platform`: two environments, postgres, two teams (the CLI tests' platform).
- `scenario`: three environments, five workloads, two teams (the processor's scenario platform).
- `world`: a bare remote with the engine's and a developer's clones (`World`, `world_from`, `prepare_world`;
  conftest's `prepared_world` and `world` fixtures).
- `clock`: `FakeClock`, time that moves only when a test (or a sleep) moves it.
- `hostile`: hostile inputs (an alias bomb).
- `faults`: fault injection into a real `gitops-engine` subprocess (kill at the Nth write step).
- `fakegithub`: the stand-in GitHub (REST checked against the OpenAPI description, GraphQL against the schema).

Golden files live under `tests/golden/`. To refresh them after an intended change in output, run

    GOLDEN_UPDATE=1 .venv/bin/python -m pytest tests/test_rendering.py

and review the result as a diff (`git diff tests/golden`) before committing it. Without the switch a golden
mismatch fails the test with a unified diff; a missing golden file fails too (it is never created silently).
"""

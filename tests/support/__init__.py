"""Helpers shared by the tests: waiting with deadlines, the local cluster, spec builders,
the simulated cluster for plan(), chart rendering and the operator harness. Importable as
`support.*` (pyproject puts tests/ on the path)."""

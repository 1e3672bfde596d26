"""kubetune operator: the TuningJob API (`api`), the pure controller (`controller`), the
Kubernetes adapter (`kube`) and the operator process (`runtime`); see docs/architecture.md.
"""

"""kubetune operator: the TuningJob resource, the tuning engine and its Kubernetes adapter."""

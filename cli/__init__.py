"""kubetune.cli: the `kubetune` command (also `kubectl tune`, as the `kubectl-tune` plugin)
to list, describe, watch, analyse, plot and stop TuningJobs."""

#!/usr/bin/env bash
# Run a command against the local cluster: start it (or reuse a running one), run the
# command, then stop the cluster if this script started it, unless KEEP_CLUSTER is set.
# A cluster that was already running (`make cluster-up`, a `KEEP_CLUSTER=1 make demo`)
# stays up: stopping it would end the user's own operator and jobs. The command sees
# KUBETUNE_CLUSTER_STOPS=1 when the cluster stops after it (hack/demo.py says what to run
# to look further). Exits with the command's status.
# A script rather than a Makefile recipe, so that `make -n demo` prints this line and runs
# nothing (make executes every recipe line that mentions $(MAKE), even under -n).
set -u
export PYTHONSAFEPATH=1
PY=.venv/bin/python
cluster() { PYTHONPATH=hack "$PY" -m cluster "$@"; }
started=1
if cluster status >/dev/null; then
    started=0
fi
cluster up || exit $?
stops=0
if [ "$started" = 1 ] && [ -z "${KEEP_CLUSTER:-}" ]; then
    stops=1
fi
KUBETUNE_CLUSTER_STOPS=$stops "$@"
rc=$?
if [ "$stops" = 1 ]; then
    cluster down
elif [ "$started" = 0 ]; then
    echo "the cluster was running before: left running (make cluster-down stops it)"
else
    echo "KEEP_CLUSTER is set: the cluster is left running (make cluster-down stops it)"
fi
exit "$rc"

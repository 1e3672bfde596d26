#!/usr/bin/env bash
# Run a command against the local cluster: start it (or reuse a running one), run the
# command, then stop the cluster unless KEEP_CLUSTER is set. Exits with the command's status.
# A script rather than a Makefile recipe, so that `make -n demo` prints this line and runs
# nothing (make executes every recipe line that mentions $(MAKE), even under -n).
set -u
export PYTHONSAFEPATH=1
PY=.venv/bin/python
PYTHONPATH=hack "$PY" -m cluster up || exit $?
"$@"
rc=$?
if [ -z "${KEEP_CLUSTER:-}" ]; then
    PYTHONPATH=hack "$PY" -m cluster down
fi
exit "$rc"

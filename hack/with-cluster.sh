#!/usr/bin/env bash
# Run a command against the local cluster: start it (or reuse a running one), run the
# command, then stop the cluster if it was started for such a command and no other one
# uses it any more, unless KEEP_CLUSTER is set. A cluster that was already running
# (`make cluster-up`, a `KEEP_CLUSTER=1 make demo`) stays up: stopping it would end the
# user's own operator and jobs. `cluster up --session` decides whether it starts one and
# records the command under the cluster's lock, in one step: two of these at once (two
# `make demo`s, a `make reproduce`) cannot both take the cluster for theirs, and the first
# to end does not stop it under the other (`cluster release`; hack/cluster/sessions.py).
# The command sees KUBETUNE_CLUSTER_STOPS=1 when the cluster stops after it (hack/demo.py
# says what to run to look further). Exits with the command's status (130 after Ctrl-C,
# once the cluster is released).
# A script rather than a Makefile recipe, so that `make -n demo` prints this line and runs
# nothing (make executes every recipe line that mentions $(MAKE), even under -n).
set -u
export PYTHONSAFEPATH=1
PY=.venv/bin/python
cluster() { PYTHONPATH=hack "$PY" -m cluster "$@"; }
if [ -n "${KEEP_CLUSTER:-}" ]; then
    cluster up || exit $?  # a plain `up` keeps the cluster, even one started for a command
    KUBETUNE_CLUSTER_STOPS=0 "$@"
    rc=$?
    echo "KEEP_CLUSTER is set: the cluster is left running (make cluster-down stops it)"
    exit "$rc"
fi
out=$(cluster up --session "$$")
rc=$?
[ -z "$out" ] || printf '%s\n' "$out"
[ "$rc" = 0 ] || exit "$rc"
stops=0
case "$out" in
    *"cluster stops when the last command using it ends"*) stops=1 ;;
esac
# Ctrl-C ends the command; this shell goes on to release the cluster (a trap that runs a
# command is not inherited: the command gets SIGINT as before).
trap ':' INT
KUBETUNE_CLUSTER_STOPS=$stops "$@"
rc=$?
cluster release --session "$$"
exit "$rc"

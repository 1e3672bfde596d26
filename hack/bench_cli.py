"""`make bench-cli`: how long `kubetune trials` takes to print a 1000-trial TuningJob's
table, as a user runs it (the console script: interpreter start, imports, the GET, parsing,
formatting), on the local cluster. Target: under 2 s.

Creates the TuningJob in its own namespace and writes a made-up status of 1000 trials
(hack/synthetic_tuning_job.py) through the status subresource; no operator runs.

    .venv/bin/python hack/bench_cli.py [--kubeconfig .cluster/kubeconfig] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.rest import ApiException

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack"))  # `cluster`, which PYTHONSAFEPATH=1 keeps off the path
from cluster.cluster import state_dir  # noqa: E402
from cluster.operator_process import apply_crds  # noqa: E402
from synthetic_tuning_job import synthetic_tuning_job  # noqa: E402

KUBETUNE = ROOT / ".venv" / "bin" / "kubetune"
NAMESPACE = "kubetune-bench-cli"
TRIALS = 1000
TARGET_S = 2.0
GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuningjobs"


def create_job(api: client.CustomObjectsApi, name: str) -> None:
    """The TuningJob `name` with 1000 recorded trials (replacing one left by a last run)."""
    body = synthetic_tuning_job(name, TRIALS)
    status = body.pop("status")
    body["metadata"] = {"name": name}
    try:
        api.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
    except ApiException as error:
        if error.status != 404:
            raise
    deadline = time.monotonic() + 60
    while True:  # wait for the deletion with a deadline
        try:
            api.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
            break
        except ApiException as error:
            if error.status != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    # Ignore: a CRD without status.trials[].metrics prunes them, and its warning per
    # pruned field (1000 of them) is more headers than Python's HTTP client accepts.
    api.patch_namespaced_custom_object_status(
        GROUP, VERSION, NAMESPACE, PLURAL, name, {"status": status}, field_validation="Ignore"
    )


def time_command(kubeconfig: Path, args: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each of `runs` runs of `kubetune ARGS`
    (output checked, then discarded). CPU time says what the command costs when the
    machine is busy with other work and wall time is mostly waiting for a core."""
    seconds, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [str(KUBETUNE), "--kubeconfig", str(kubeconfig), "-n", NAMESPACE, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"kubetune {' '.join(args)} failed: {done.stderr}")
        lines = len(done.stdout.splitlines())
        if args[0] == "trials" and lines < TRIALS:
            raise SystemExit(f"kubetune {' '.join(args)} printed {lines} lines, not {TRIALS}+")
    return seconds, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, default=state_dir() / "kubeconfig")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    apply_crds(args.kubeconfig)
    config.load_kube_config(str(args.kubeconfig))
    try:
        client.CoreV1Api().create_namespace({"metadata": {"name": NAMESPACE}})
    except ApiException as error:
        if error.status != 409:
            raise
    create_job(client.CustomObjectsApi(), "bench-1000")
    print(f"{TRIALS} trials, {args.runs} runs each, wall and CPU time of the console script")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    print(f"{'command':<44} {'wall':>8} {'max':>8} {'CPU':>8}   target (wall, median)")
    for command in (
        ["trials", "bench-1000"],
        ["trials", "bench-1000", "--sort", "objective"],
        ["trials", "bench-1000", "-o", "csv"],
        ["best", "bench-1000"],
        ["list"],
    ):
        seconds, cpu = time_command(args.kubeconfig, command, args.runs)
        median = statistics.median(seconds)
        target = ""
        if command[0] == "trials" and len(command) == 2:
            target = f"< {TARGET_S:g} s  {'OK' if median < TARGET_S else 'MISSED'}"
        print(
            f"kubetune {' '.join(command):<35} {median:7.2f}s {max(seconds):7.2f}s"
            f" {statistics.median(cpu):7.2f}s   {target}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

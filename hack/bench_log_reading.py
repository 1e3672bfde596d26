"""`make bench-log-reading`: what judging running trials costs the operator and the API
server, with their logs followed as streams (the operator's way) and read again every
2.5 s (its fallback beyond 256 followed logs, and its only way before followers).

Runs J TuningJobs × P trials (`earlyStopping: Auto`, nobody judged: no trial succeeds
within the run) whose trainer prints `--line-bytes` of progress and a loss every 0.5 s,
with the real operator as a child process, once per way of reading. Once every trial
runs (and 10 s more), it samples for `--window` seconds: the operator's resident memory,
threads and CPU, the API server's CPU, the operator's log reads (kubetune_api_request_
duration_seconds{call="read_curve"}) and reconciles.

    .venv/bin/python hack/bench_log_reading.py --jobs 25 --parallel 4
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hack"))  # `cluster`, which PYTHONSAFEPATH=1 keeps off the path
from cluster import manifests  # noqa: E402
from cluster.cluster import free_port, state_dir  # noqa: E402
from cluster.manifests import tuning_job_spec  # noqa: E402
from cluster.operator_process import apply_crds  # noqa: E402

# The operator, in "read" mode with no log to be followed: each running log is then read
# again from its start every 2.5 s (the code path beyond MAX_FOLLOWED_LOGS).
LAUNCH = """
import sys
if sys.argv.pop(1) == "read":
    from kubetune.operator.kube import log_follower
    log_follower.MAX_FOLLOWED_LOGS = 0
from kubetune.operator.runtime.main import main
main(sys.argv[1:])
"""
TRAINER = """
import sys, time
x, noise = float(sys.argv[-1].split("=", 1)[1]), "." * int(sys.argv[1])
for i in range(1, 2000):
    time.sleep(0.5)
    print(f"step {i} {noise}", flush=True)
    print(f"epoch {i} loss={x + 1 / i}", flush=True)
"""
MODES = ("follow", "read")


def metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    read = re.search(
        r'kubetune_api_request_duration_seconds_count\{call="read_curve"\} (\S+)', text
    )
    reconciles = re.search(r"kubetune_reconcile_duration_seconds_count (\S+)", text)
    return {
        "reads": float(read.group(1)) if read else 0.0,
        "reconciles": float(reconciles.group(1)) if reconciles else 0.0,
    }


def process(pid: int) -> tuple[int, int, float]:
    """Resident MiB, threads, CPU seconds."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) // 1024  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss, threads, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(mode: str, args: argparse.Namespace, kubeconfig: Path) -> dict[str, Any]:
    core, custom = client.CoreV1Api(), client.CustomObjectsApi()
    namespace = f"bench-logs-{mode}-{int(time.time())}"
    core.create_namespace({"metadata": {"name": namespace}})
    metrics_port = free_port()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONSAFEPATH": "1"}
    log_path = state_dir() / f"bench-log-reading-{mode}.log"
    with log_path.open("w") as log:
        operator = subprocess.Popen(
            [
                *(str(ROOT / ".venv" / "bin" / "python"), "-c", LAUNCH, mode, "--standalone"),
                *("--namespace", namespace, "--metrics-port", str(metrics_port)),
                *("--health-port", str(free_port())),
            ],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        command = ["python3", "-c", TRAINER, str(args.line_bytes)]
        for j in range(args.jobs):
            spec = tuning_job_spec(
                command,
                max_trials=args.parallel,
                parallel=args.parallel,
                regex=r"loss=(\S+)",
                earlyStopping="Auto",
            )
            custom.create_namespaced_custom_object(
                "kubetune.io",
                "v1alpha1",
                namespace,
                "tuningjobs",
                manifests.tuning_job(f"tj{j}", spec),
            )
        trials = args.jobs * args.parallel
        deadline = time.monotonic() + 300
        while (
            sum(p.status.phase == "Running" for p in core.list_namespaced_pod(namespace).items)
            < trials
        ):
            if time.monotonic() > deadline or operator.poll() is not None:
                raise SystemExit(f"{mode}: the trials did not all start; see {log_path}")
            time.sleep(1)
        time.sleep(10)  # every running log read or followed at least once
        api_server = next(
            p["pid"]
            for p in json.loads((state_dir() / "pids.json").read_text())
            if p["name"] == "kube-apiserver"
        )
        before = metrics(metrics_port), process(operator.pid), process(api_server)
        time.sleep(args.window)
        after = metrics(metrics_port), process(operator.pid), process(api_server)
        return {
            "mode": mode,
            "rss": after[1][0],
            "threads": after[1][1],
            "operator_cpu": 100 * (after[1][2] - before[1][2]) / args.window,
            "api_cpu": 100 * (after[2][2] - before[2][2]) / args.window,
            "reads": (after[0]["reads"] - before[0]["reads"]) / args.window,
            "reconciles": (after[0]["reconciles"] - before[0]["reconciles"]) / args.window,
        }
    finally:
        operator.terminate()
        operator.wait(30)
        core.delete_namespace(namespace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=25, help="TuningJobs")
    parser.add_argument("--parallel", type=int, default=4, help="running trials of each")
    parser.add_argument("--line-bytes", type=int, default=1000, help="progress printed per step")
    parser.add_argument("--window", type=float, default=30.0, help="seconds sampled")
    parser.add_argument("--kubeconfig", type=Path, default=state_dir() / "kubeconfig")
    args = parser.parse_args()
    config.load_kube_config(str(args.kubeconfig))
    apply_crds(args.kubeconfig)
    print(
        f"{args.jobs} TuningJobs x {args.parallel} running trials, each printing "
        f"{args.line_bytes} B and a loss every 0.5 s; sampled over {args.window:.0f} s"
    )
    header = ("logs", "RSS MiB", "threads", "CPU %", "API CPU %", "reads/s", "reconciles/s")
    print("{:8} {:>8} {:>8} {:>6} {:>10} {:>8} {:>13}".format(*header))
    for mode in MODES:
        r = run(mode, args, args.kubeconfig)
        label = "followed" if mode == "follow" else "re-read"
        print(
            f"{label:8} {r['rss']:8d} {r['threads']:8d} {r['operator_cpu']:6.1f} "
            f"{r['api_cpu']:10.1f} {r['reads']:8.2f} {r['reconciles']:13.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

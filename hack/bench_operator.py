"""`make bench-operator`: how fast the operator replaces a finished trial, on the local cluster.

Runs K TuningJobs × P parallel trials (M trials each) whose trainer is instant
(`python3 -c`), with the real operator as a child process, and prints per run:

- the median and p99 delay from a trial pod's completion to the creation of the next
  trial's Job of the same TuningJob;
- trials per minute (all TuningJobs together);
- the operator's peak resident memory (VmHWM).

How the delay is measured: Kubernetes timestamps have one-second granularity, too coarse
for a sub-second target. The benchmark instead watches pods and Jobs itself and stamps
each event with its own monotonic clock when it arrives: a pod's first event with phase
Succeeded/Failed is its completion, a Job's ADDED event its creation. Both pass through
the same API server and watch path, so their latencies cancel out. For each TuningJob,
the n-th Job created after the first P is paired with the n-th completion (in time), the
completion that freed its slot.

    PYTHONPATH=hack .venv/bin/python hack/bench_operator.py --k 1 20 --parallel 2 --trials 10
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, utils, watch

ROOT = Path(__file__).resolve().parents[1]
LABEL = "kubetune.io/tuning-job"
TRAINER = "import sys; print('loss=' + sys.argv[-1].split('=', 1)[1])"


@dataclass
class Clock:
    """Arrival times (monotonic seconds) of what the watches saw, per TuningJob."""

    completions: dict[str, dict[str, float]] = field(default_factory=dict)
    creations: dict[str, dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, table: dict[str, dict[str, float]], tj: str, obj: str, when: float) -> None:
        with self.lock:
            table.setdefault(tj, {}).setdefault(obj, when)


def watch_objects(
    kind: str, api: client.ApiClient, ns: str, clock: Clock, stop: threading.Event
) -> None:
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    lister = core.list_namespaced_pod if kind == "pods" else batch.list_namespaced_job
    while not stop.is_set():
        w = watch.Watch()
        try:
            for event in w.stream(lister, ns, label_selector=LABEL, timeout_seconds=5):
                _stamp(kind, event, clock)
                if stop.is_set():
                    w.stop()
                    break
        except client.ApiException as error:
            # 504 "Too large resource version": the API server's watch cache lags behind;
            # watch again from now (objects seen before keep their first time).
            if error.status not in (410, 504):
                raise


def _stamp(kind: str, event: dict[str, Any], clock: Clock) -> None:
    """Record the arrival time of a Job's creation or a pod's completion."""
    now = time.monotonic()
    obj = event["object"]
    tj = obj.metadata.labels[LABEL]
    if kind == "jobs" and event["type"] == "ADDED":
        clock.saw(clock.creations, tj, obj.metadata.name, now)
    if kind == "pods" and obj.status.phase in ("Succeeded", "Failed"):
        clock.saw(clock.completions, tj, obj.metadata.name, now)


def tuning_job(name: str, parallel: int, trials: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "TuningJob",
        "metadata": {"name": name},
        "spec": {
            "strategy": "Random",
            "objective": {"metric": "loss", "type": "Minimize"},
            "metrics": [{"name": "loss", "regex": r"loss=(\S+)"}],
            "parameters": [{"name": "x", "type": "Continuous", "min": 0.0, "max": 1.0}],
            "limits": {"maxTrials": trials, "maxParallelTrials": parallel},
            "trialTemplate": {
                "job": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "trainer",
                                    "image": "python:3.11-slim",
                                    "command": ["python3", "-c", TRAINER],
                                    "resources": {"requests": {"cpu": "10m"}},
                                }
                            ]
                        }
                    }
                }
            },
        },
    }


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """Reconcile count and mean duration, suggestion mean, from the operator's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    values: dict[str, float] = {}
    calls: dict[str, list[float]] = {}
    for line in text.decode().splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        name = key.split("{", 1)[0]
        values[name] = values.get(name, 0.0) + float(value)
        if name.startswith("kubetune_api_request_duration_seconds_"):
            call = key.split('call="', 1)[1].split('"', 1)[0]
            if name.endswith(("_sum", "_count")):
                calls.setdefault(call, []).append(float(value))
    api_means = {
        f"api_{c}_mean_ms": round(v[0] / max(v[1], 1) * 1000, 1)
        for c, v in calls.items()
        if len(v) == 2
    }
    count = values.get("kubetune_reconcile_duration_seconds_count", 0.0)
    suggestions = values.get("kubetune_suggestion_duration_seconds_count", 0.0)
    return {
        "reconciles": count,
        "reconcile_mean_s": values.get("kubetune_reconcile_duration_seconds_sum", 0.0)
        / max(count, 1.0),
        "suggestion_mean_s": values.get("kubetune_suggestion_duration_seconds_sum", 0.0)
        / max(suggestions, 1.0),
        "status_conflicts": values.get("kubetune_status_conflicts_total", 0.0),
        **api_means,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def delays(clock: Clock, parallel: int) -> list[float]:
    out = []
    for tj, created in clock.creations.items():
        later_jobs = sorted(created.values())[parallel:]
        completions = sorted(clock.completions.get(tj, {}).values())
        for job_time, done in zip(later_jobs, completions, strict=False):
            out.append(job_time - done)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(
    api: client.ApiClient, kubeconfig: str, *, k: int, parallel: int, trials: int, timeout: float
) -> dict[str, Any]:
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    log = (Path(kubeconfig).parent / f"bench-operator-{ns}.log").open("wb")
    env = {**os.environ, "KUBECONFIG": kubeconfig, "PYTHONSAFEPATH": "1"}
    metrics_port = free_port()
    operator = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/kubetune-operator"),
            "--standalone",
            "--namespace",
            ns,
            "--metrics-port",
            str(metrics_port),
            "--health-port",
            "0",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    clock, stop = Clock(), threading.Event()
    watchers = [
        threading.Thread(target=watch_objects, args=(kind, api, ns, clock, stop), daemon=True)
        for kind in ("pods", "jobs")
    ]
    try:
        for w in watchers:
            w.start()
        started = time.monotonic()
        for i in range(k):
            custom.create_namespaced_custom_object(
                "kubetune.io",
                "v1alpha1",
                ns,
                "tuningjobs",
                tuning_job(f"tj-{i:02d}", parallel, trials),
            )
        deadline = started + timeout
        while True:  # the benchmark's own progress check: poll with a deadline
            items = custom.list_namespaced_custom_object(
                "kubetune.io", "v1alpha1", ns, "tuningjobs"
            )["items"]
            done = [i for i in items if (i.get("status") or {}).get("phase") == "Completed"]
            if len(done) == k:
                break
            if time.monotonic() > deadline or operator.poll() is not None:
                raise SystemExit(
                    f"K={k}: {len(done)}/{k} TuningJobs completed in time; see {log.name}"
                )
            time.sleep(0.5)
        finished = time.monotonic()
        peak = peak_rss_mib(operator.pid)
        scraped = scrape(metrics_port)
        cpu = cpu_seconds(operator.pid)
    finally:
        stop.set()
        operator.send_signal(signal.SIGTERM)
        try:
            operator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            operator.kill()
            operator.wait()
        log.close()
        for w in watchers:
            w.join(timeout=10)
        core.delete_namespace(ns)
    values = delays(clock, parallel)
    all_completions = [t for d in clock.completions.values() for t in d.values()]
    duration = max(all_completions) - started
    return {
        "k": k,
        "parallel": parallel,
        "trials_per_job": trials,
        "delay_median_s": statistics.median(values),
        "delay_p99_s": percentile(values, 0.99),
        "delay_max_s": max(values),
        "samples": len(values),
        "trials_per_minute": len(all_completions) / duration * 60,
        "operator_peak_rss_mib": peak,
        **scraped,
        "operator_cpu_s": cpu,
        "wall_s": finished - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--k",
        type=int,
        nargs="+",
        default=[1, 20],
        help="numbers of concurrent TuningJobs, one run each",
    )
    parser.add_argument("--parallel", type=int, default=2, help="maxParallelTrials of each")
    parser.add_argument("--trials", type=int, default=10, help="maxTrials of each")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--kubeconfig", default=str(ROOT / ".cluster" / "kubeconfig"))
    args = parser.parse_args(argv)
    api = config.new_client_from_config(config_file=args.kubeconfig)
    for crd in sorted((ROOT / "crds").glob("*.yaml")):
        try:
            utils.create_from_yaml(api, str(crd))
        except utils.FailToCreateError as error:
            if not all(e.status == 409 for e in error.api_exceptions):
                raise
    results = []
    for k in args.k:
        result = run(
            api,
            args.kubeconfig,
            k=k,
            parallel=args.parallel,
            trials=args.trials,
            timeout=args.timeout,
        )
        results.append(result)
        print(
            f"K={k:>3} × P={args.parallel} × {args.trials} trials: "
            f"completion→next Job median {result['delay_median_s'] * 1000:.0f} ms, "
            f"p99 {result['delay_p99_s'] * 1000:.0f} ms (n={result['samples']}); "
            f"{result['trials_per_minute']:.0f} trials/min; "
            f"operator peak RSS {result['operator_peak_rss_mib']:.0f} MiB, "
            f"CPU {result['operator_cpu_s']:.0f} s in {result['wall_s']:.0f} s; "
            f"{result['reconciles']:.0f} reconciles of {result['reconcile_mean_s'] * 1000:.0f} ms "
            f"mean, suggest {result['suggestion_mean_s'] * 1000:.0f} ms mean",
            flush=True,
        )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

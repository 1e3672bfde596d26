"""`make bench-operator`: how fast the operator replaces a finished trial, on the local cluster.

Runs K TuningJobs × P parallel trials (M trials each) whose trainer is instant (or sleeps
0.5-1.5 × --trial-seconds, which costs no CPU), with the real operator as a child process,
and prints per K, next to the targets of DESIGN.md ("Performance targets"):

- the median and p99 delay from a trial pod's completion to the creation of the next
  trial's Job of the same TuningJob (target: median ≤ 1 s), and the median of the first
  and of the second half of the run (a second half much slower means falling behind);
- trials per minute (all TuningJobs together);
- the operator's peak resident memory, its resident memory at the end of each round
  (--rounds R runs the K TuningJobs R times, deleting them in between: memory should
  stay flat), its CPU time, reconciles and API requests per trial;
- the load average and the API server's own round trip (a GET every second from the
  benchmark) during the run: on a shared 2-core machine the cluster, the trials and
  other work compete for the CPU, and every operator step waits on the API server.

How the delay is measured: Kubernetes timestamps have one-second granularity, too coarse
for a sub-second target. The benchmark instead watches pods and Jobs itself and stamps
each event with its own monotonic clock when it arrives: a pod's first event with phase
Succeeded/Failed is its completion, a Job's ADDED event its creation. Both pass through
the same API server and watch path, so their latencies cancel out. For each TuningJob,
the n-th Job created after the first P is paired with the n-th completion (in time), the
completion that freed its slot.

    .venv/bin/python hack/bench_operator.py --k 1 20 50 --parallel 2 --trials 10
    .venv/bin/python hack/bench_operator.py --k 20 --rounds 5   # memory over time

With `--history N`, each TuningJob starts from a status of N ended trials
(hack/synthetic_tuning_job.py: five parameters, a Bayesian search) and runs --trials
more: the optimizer then fits a GP on N and more observations for every batch, the
operator's heaviest memory use (`--history 950 --trials 50 --parallel 16`: the largest
statuses, 1000 trials).

With `--probe N`, the benchmark also measures how soon a new small TuningJob (Bayesian,
2 parallel instant trials) gets its first status and its first trial Job: N of them one
after the other with the operator idle, before the round, then N more while the round's
TuningJobs run, each --probe-gap seconds after the previous one (the first that long
after the round's TuningJobs were created). Each is timed from its creation request to
the operator's first status write (`observedGeneration` set: until then the API server
shows the CRD's default, phase Pending) and to its first trial Job, polled as a user
would. A user who applies a TuningJob and sees no status for a minute thinks the operator
broken.

    .venv/bin/python hack/bench_operator.py --k 6 --parallel 16 --history 950 --trials 50 --probe 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.watch.watch import iter_resp_lines

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hack"))  # `cluster`, which PYTHONSAFEPATH=1 keeps off the path
from cluster import manifests  # noqa: E402
from cluster.cluster import state_dir  # noqa: E402
from cluster.manifests import tuning_job_spec  # noqa: E402
from cluster.operator_process import OperatorProcess, apply_crds  # noqa: E402
from synthetic_tuning_job import synthetic_tuning_job  # noqa: E402

LABEL = "kubetune.io/tuning-job"
GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuningjobs"
# Prints its hyperparameter x as the loss, after sleeping (0.5 + x) × --trial-seconds: a
# spread of durations, as real trials have (identical ones would all end at once).
TRAINER = (
    "import sys, time; x = sys.argv[-1].split('=', 1)[1]; "
    "time.sleep(float(sys.argv[1]) * (0.5 + float(x))); print('loss=' + x)"
)
# With --history: the synthetic job's objective and second metric from its learning_rate.
HISTORY_TRAINER = (
    "import math, sys; a = dict(s[2:].split('=', 1) for s in sys.argv[1:] if '=' in s); "
    "v = 0.95 - 0.05 * abs(math.log10(float(a['learning_rate'])) + 2); "
    "print('validation: accuracy=%f' % v); print('train: loss=%f' % (1.01 - v))"
)
TARGET_MEDIAN_S = 1.0
PROBE_POLL_S = 0.2
TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass
class Watched:
    """What the benchmark's watches saw: arrival times (monotonic seconds) of trial
    completions and Job creations per TuningJob, and each TuningJob's phase."""

    completions: dict[str, dict[str, float]] = field(default_factory=dict)
    creations: dict[str, dict[str, float]] = field(default_factory=dict)
    phases: dict[str, str] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def stamp(self, kind: str, obj: dict[str, Any], event_type: str) -> None:
        now = time.monotonic()
        meta = obj["metadata"]
        with self.changed:
            if kind == "tuningjobs":
                self.phases[meta["name"]] = (obj.get("status") or {}).get("phase", "")
                self.changed.notify_all()
                return
            tj = meta["labels"][LABEL]
            if kind == "jobs" and event_type == "ADDED":
                self.creations.setdefault(tj, {}).setdefault(meta["name"], now)
            phase = (obj.get("status") or {}).get("phase")
            if kind == "pods" and phase in ("Succeeded", "Failed"):
                self.completions.setdefault(tj, {}).setdefault(meta["name"], now)


def watch(kind: str, api: client.ApiClient, ns: str, seen: Watched, stop: threading.Event) -> None:
    """Stamp every event of `kind` in `ns` (raw JSON: the client's models cost CPU that
    the cluster under test needs) until `stop`."""
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    custom = client.CustomObjectsApi(api)
    while not stop.is_set():
        if kind == "pods":
            response = core.list_namespaced_pod(
                ns, label_selector=LABEL, watch=True, timeout_seconds=60, _preload_content=False
            )
        elif kind == "jobs":
            response = batch.list_namespaced_job(
                ns, label_selector=LABEL, watch=True, timeout_seconds=60, _preload_content=False
            )
        else:
            response = custom.list_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, watch=True, timeout_seconds=60, _preload_content=False
            )
        try:
            for line in iter_resp_lines(response):
                event = json.loads(line)
                if event["type"] in ("ADDED", "MODIFIED"):
                    seen.stamp(kind, event["object"], event["type"])
                if stop.is_set():
                    break
        finally:
            response.release_conn()


def probe(api: client.ApiClient, ns: str, rtts: list[float], stop: threading.Event) -> None:
    """The API server's round trip under the run's load: a GET of the namespace a second."""
    core = client.CoreV1Api(api)
    while not stop.wait(1.0):
        started = time.perf_counter()
        core.read_namespace(ns, _preload_content=False).release_conn()
        rtts.append(time.perf_counter() - started)


def tuning_job(name: str, parallel: int, trials: int, trial_seconds: float) -> dict[str, Any]:
    command = ["python3", "-c", TRAINER, str(trial_seconds)]
    spec = tuning_job_spec(command, max_trials=trials, parallel=parallel, regex=r"loss=(\S+)")
    return manifests.tuning_job(name, spec)


def with_history(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """A suspended TuningJob (`--history`) and the status of its ended trials, which the
    benchmark writes before it resumes the job."""
    made = synthetic_tuning_job(name, args.history)
    status = {k: v for k, v in made["status"].items() if k not in ("reason", "completionTime")}
    container = {
        "name": "trainer",
        "image": "python:3.11-slim",
        "command": ["python3", "-c", HISTORY_TRAINER],
        "resources": {"requests": {"cpu": "10m"}},
    }
    spec = {
        **made["spec"],
        "suspend": True,
        "staticHyperparameters": None,
        "limits": {"maxTrials": args.history + args.trials, "maxParallelTrials": args.parallel},
        "trialTemplate": {"job": {"template": {"spec": {"containers": [container]}}}},
    }
    spec = {k: v for k, v in spec.items() if v is not None}
    return manifests.tuning_job(name, spec), {**status, "phase": "InProgress"}


def create(
    custom: client.CustomObjectsApi, ns: str, names: list[str], args: argparse.Namespace
) -> None:
    """Create the TuningJobs `names`; with `--history`, suspended, then with their ended
    trials written, then all resumed (the operator never plans from an empty status, and
    the K jobs start at once: writing a status of 1,000 trials takes seconds)."""
    if not args.history:
        for name in names:
            body = tuning_job(name, args.parallel, args.trials, args.trial_seconds)
            custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
        return
    for name in names:
        body, status = with_history(name, args)
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
        # Ignore: field validation would warn of every trial's metrics the CRD may prune.
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, PLURAL, name, {"status": status}, field_validation="Ignore"
        )
    for name in names:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, name, {"spec": {"suspend": False}}
        )


def probe_new_job(api: client.ApiClient, ns: str, name: str, timeout: float) -> tuple[float, float]:
    """Create a small TuningJob; seconds from the creation request to the operator's first
    status (`observedGeneration` set: until then the API server shows the CRD's default,
    phase Pending) and to its first trial Job, as a user polling with kubectl sees them:
    a GET and a LIST every `PROBE_POLL_S` (the watches of the run's TuningJobs, a MB per
    event at 1,000 trials, fall seconds behind and would time the benchmark's own lag)."""
    custom, batch = client.CustomObjectsApi(api), client.BatchV1Api(api)
    spec = tuning_job_spec(
        ["python3", "-c", TRAINER, "0"],
        strategy="Bayesian",
        max_trials=2,
        parallel=2,
        regex=r"loss=(\S+)",
    )
    started = time.monotonic()
    custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, manifests.tuning_job(name, spec)
    )
    status_s = job_s = None
    while status_s is None or job_s is None:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"probe {name}: no status or no trial Job in {timeout:.0f} s")
        time.sleep(PROBE_POLL_S)  # polling as a user would, with a deadline
        if status_s is None:
            body = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
            if (body.get("status") or {}).get("observedGeneration"):
                status_s = time.monotonic() - started
        if job_s is None:
            jobs = batch.list_namespaced_job(ns, label_selector=f"{LABEL}={name}", limit=1)
            if jobs.items:
                job_s = time.monotonic() - started
    return status_s, job_s


def probe_new_jobs(
    api: client.ApiClient,
    ns: str,
    prefix: str,
    gaps: list[float],
    until: threading.Event,
    out: list[tuple[float, float]],
) -> None:
    """Probes (`probe_new_job`) one after the other, the i-th `gaps[i]` seconds after the
    previous one (the first after the call), until `until` is set."""
    for i, gap in enumerate(gaps):
        if until.wait(gap):  # pacing, not synchronisation: probes spread over the run
            return
        out.append(probe_new_job(api, ns, f"{prefix}-{i}", 300.0))


def unfinalize(custom: client.CustomObjectsApi, ns: str) -> None:
    """Remove the finalizers of the TuningJobs left in `ns`."""
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)
    for item in listed["items"]:
        if item["metadata"].get("finalizers"):
            custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                PLURAL,
                item["metadata"]["name"],
                {"metadata": {"finalizers": None}},
            )


def delays(seen: Watched, names: list[str], parallel: int) -> list[tuple[float, float]]:
    """(completion time, delay) for each Job that replaced a finished trial."""
    out = []
    for tj in names:
        later_jobs = sorted(seen.creations.get(tj, {}).values())[parallel:]
        completions = sorted(seen.completions.get(tj, {}).values())
        for job_time, done in zip(later_jobs, completions, strict=False):
            out.append((done, job_time - done))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def api_mean_ms(metrics: dict[str, float]) -> dict[str, float]:
    """Mean duration of the operator's timed calls (for get and the lists, cache hits
    included), by call."""
    sums: dict[str, list[float]] = {}
    for key, value in metrics.items():
        for i, suffix in enumerate(("_sum{", "_count{")):
            if key.startswith("kubetune_api_request_duration_seconds" + suffix):
                call = key.split('call="', 1)[1].split('"', 1)[0]
                sums.setdefault(call, [0.0, 0.0])[i] += value
    return {c: round(s / n * 1000, 1) for c, (s, n) in sorted(sums.items()) if n}


def api_calls(metrics: dict[str, float]) -> dict[str, float]:
    """The operator's API requests by call: timed calls minus cache hits."""
    calls: dict[str, float] = {}
    for key, value in metrics.items():
        if key.startswith("kubetune_api_request_duration_seconds_count{"):
            call = key.split('call="', 1)[1].split('"', 1)[0]
            calls[call] = calls.get(call, 0.0) + value
    for key, value in metrics.items():
        if key.startswith("kubetune_cache_hits_total{"):
            call = key.split('call="', 1)[1].split('"', 1)[0]
            calls[call] = calls.get(call, 0.0) - value
    return {call: n for call, n in calls.items() if n}


def run_round(
    custom: client.CustomObjectsApi,
    ns: str,
    seen: Watched,
    operator: OperatorProcess,
    *,
    names: list[str],
    args: argparse.Namespace,
    probes: list[tuple[float, float]],
) -> None:
    """Create the TuningJobs `names` and wait until all are terminal; with `--probe`,
    probe new small TuningJobs meanwhile (into `probes`)."""
    create(custom, ns, names, args)
    done = threading.Event()
    prober = threading.Thread(
        target=probe_new_jobs,
        args=(
            custom.api_client,
            ns,
            f"{names[0]}-probe",
            [args.probe_gap] * args.probe,
            done,
            probes,
        ),
        daemon=True,
    )
    prober.start()
    try:
        _wait_terminal(seen, operator, names, args)
    finally:
        done.set()
    prober.join(timeout=args.timeout)


def _wait_terminal(
    seen: Watched, operator: OperatorProcess, names: list[str], args: argparse.Namespace
) -> None:
    deadline = time.monotonic() + args.timeout
    with seen.changed:
        while not all(seen.phases.get(n) in TERMINAL for n in names):
            if time.monotonic() > deadline or not operator.alive():
                done = sum(seen.phases.get(n) in TERMINAL for n in names)
                raise SystemExit(f"{done}/{len(names)} TuningJobs finished in time; see the log")
            seen.changed.wait(timeout=1.0)
    failed = [n for n in names if seen.phases[n] != "Completed"]
    if failed:
        raise SystemExit(f"TuningJobs not Completed: {failed}; see {operator.log_path}")


def delete_round(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, ns: str, names: list[str]
) -> None:
    """Delete the TuningJobs (their Jobs and pods go by garbage collection) and wait until
    the trial pods are gone, so that the next round starts from a clean namespace."""
    for name in names:
        custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    deadline = time.monotonic() + 300
    while core.list_namespaced_pod(ns, label_selector=LABEL, limit=1).items:
        if time.monotonic() > deadline:
            raise SystemExit("trial pods of deleted TuningJobs still there after 300 s")
        time.sleep(1)  # polling garbage collection with a deadline, between rounds only


def run(
    api: client.ApiClient, kubeconfig: Path, k: int, args: argparse.Namespace
) -> dict[str, Any]:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    seen, stop, rtts = Watched(), threading.Event(), []
    threads = [
        threading.Thread(target=watch, args=(kind, api, ns, seen, stop), daemon=True)
        for kind in ("pods", "jobs", "tuningjobs")
    ]
    threads.append(threading.Thread(target=probe, args=(api, ns, rtts, stop), daemon=True))
    log_path = kubeconfig.parent / f"bench-operator-{ns}.log"
    operator = OperatorProcess(args.operator_kubeconfig or kubeconfig, [ns], log_path)
    load_before = os.getloadavg()[0]
    round_rss_mib, all_delays, names_all = [], [], []
    idle_probes: list[tuple[float, float]] = []
    loaded_probes: list[tuple[float, float]] = []
    try:
        operator.start()
        for thread in threads:
            thread.start()
        probe_new_jobs(api, ns, "idle-probe", [0.0] * args.probe, stop, idle_probes)
        started = time.monotonic()
        for r in range(args.rounds):
            names = [f"r{r}-tj-{i:02d}" for i in range(k)]
            names_all += names
            run_round(custom, ns, seen, operator, names=names, args=args, probes=loaded_probes)
            all_delays += delays(seen, names, args.parallel)
            if args.rounds > 1:
                delete_round(custom, core, ns, names)
            round_rss_mib.append(operator.rss_kib("VmRSS") / 1024)
        wall = time.monotonic() - started
        metrics = operator.metrics()
        cpu = operator.cpu_seconds()
        peak_mib = operator.rss_kib("VmHWM") / 1024
    finally:
        stop.set()
        operator.stop()
        for thread in threads:
            thread.join(timeout=5)
        # The operator's finalizer, which it is no longer there to remove, would keep
        # the namespace Terminating with every TuningJob's status in etcd.
        unfinalize(custom, ns)
        core.delete_namespace(ns)
    # No Job replaced a finished trial where each job ran one batch (--trials ≤ --parallel).
    values = [d for _, d in sorted(all_delays)] or [float("nan")]
    half = len(values) // 2
    completions = [t for tj in names_all for t in seen.completions.get(tj, {}).values()]
    trials = len(completions)
    reconciles = metrics.get("kubetune_reconcile_duration_seconds_count", 0.0)
    return {
        "k": k,
        "parallel": args.parallel,
        "trials_per_job": args.trials,
        "history": args.history,
        "trial_seconds": args.trial_seconds,
        "rounds": args.rounds,
        "delay_median_s": statistics.median(values),
        "delay_p99_s": percentile(values, 0.99),
        "delay_max_s": max(values),
        "delay_median_first_half_s": statistics.median(values[:half] or values),
        "delay_median_second_half_s": statistics.median(values[half:]),
        "samples": len(all_delays),
        "trials_per_minute": trials / (max(completions) - started) * 60,
        "operator_peak_rss_mib": peak_mib,
        "operator_rss_after_each_round_mib": [round(m, 1) for m in round_rss_mib],
        "operator_cpu_s": cpu,
        "operator_cpu_ms_per_trial": cpu / trials * 1000,
        "reconciles_per_trial": reconciles / trials,
        "reconcile_mean_s": metrics.get("kubetune_reconcile_duration_seconds_sum", 0.0)
        / max(reconciles, 1.0),
        "status_conflicts": metrics.get("kubetune_status_conflicts_total", 0.0),
        "api_requests_per_trial": {
            call: round(n / trials, 2) for call, n in sorted(api_calls(metrics).items())
        },
        "api_mean_ms": api_mean_ms(metrics),
        "api_server_rtt_median_ms": statistics.median(rtts) * 1000 if rtts else None,
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "wall_s": wall,
        "probes_idle_s": [[round(p, 2), round(j, 2)] for p, j in idle_probes],
        "probes_loaded_s": [[round(p, 2), round(j, 2)] for p, j in loaded_probes],
    }


def probe_summary(probes: list[list[float]]) -> str:
    if not probes:
        return "none"
    phase, job = [p for p, _ in probes], [j for _, j in probes]
    return (
        f"first status median {statistics.median(phase):.2f} s, max {max(phase):.2f} s;"
        f" first Job median {statistics.median(job):.2f} s, max {max(job):.2f} s (n={len(probes)})"
    )


def summary(result: dict[str, Any]) -> str:
    verdict = "meets" if result["delay_median_s"] <= TARGET_MEDIAN_S else "misses"
    rss = result["operator_rss_after_each_round_mib"]
    rtt = result["api_server_rtt_median_ms"]
    history = f" after {result['history']} ended" if result["history"] else ""
    return (
        f"K={result['k']:>3} × P={result['parallel']} × {result['trials_per_job']} trials{history}"
        f" ({result['trial_seconds']:g} s each, {result['rounds']} round(s)):\n"
        f"  completion→next Job median {result['delay_median_s'] * 1000:.0f} ms"
        f" (target ≤ {TARGET_MEDIAN_S * 1000:.0f} ms: {verdict}),"
        f" p99 {result['delay_p99_s'] * 1000:.0f} ms, n={result['samples']};"
        f" median 1st/2nd half {result['delay_median_first_half_s'] * 1000:.0f}"
        f"/{result['delay_median_second_half_s'] * 1000:.0f} ms\n"
        f"  {result['trials_per_minute']:.0f} trials/min;"
        f" operator peak RSS {result['operator_peak_rss_mib']:.0f} MiB,"
        f" RSS after each round {rss} MiB (target: flat);"
        f" CPU {result['operator_cpu_ms_per_trial']:.0f} ms/trial,"
        f" {result['reconciles_per_trial']:.1f} reconciles/trial of"
        f" {result['reconcile_mean_s'] * 1000:.0f} ms mean\n"
        f"  API requests/trial {result['api_requests_per_trial']};"
        f" API server round trip {rtt if rtt is None else f'{rtt:.0f} ms'} median;"
        f" load average {result['load_average_1m'][0]} → {result['load_average_1m'][1]}"
    ) + (
        f"\n  new small TuningJob, operator idle: {probe_summary(result['probes_idle_s'])}"
        f"\n  new small TuningJob, during the run: {probe_summary(result['probes_loaded_s'])}"
        if result["probes_idle_s"] or result["probes_loaded_s"]
        else ""
    )


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
    parser.add_argument(
        "--trial-seconds", type=float, default=0.0, help="mean seconds each trial sleeps"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="run the K TuningJobs this many times (memory)"
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="each TuningJob starts with this many ended trials in its status (Bayesian, "
        "five parameters; then --trials more, instant: no --trial-seconds): the optimizer's "
        "memory",
    )
    parser.add_argument(
        "--probe",
        type=int,
        default=0,
        help="create this many small TuningJobs one after the other with the operator idle, "
        "then as many during each round: seconds to their first status and first trial Job",
    )
    parser.add_argument(
        "--probe-gap",
        type=float,
        default=5.0,
        help="seconds between two --probe TuningJobs during a round",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per round")
    parser.add_argument("--kubeconfig", type=Path, default=state_dir() / "kubeconfig")
    parser.add_argument(
        "--operator-kubeconfig",
        type=Path,
        help="the identity the operator runs as (default: --kubeconfig's admin, which the "
        "API server exempts from priority and fairness); e.g. a token of the chart's "
        "ServiceAccount, as in a real install",
    )
    args = parser.parse_args(argv)
    apply_crds(args.kubeconfig)
    api = config.new_client_from_config(config_file=str(args.kubeconfig))
    results = []
    for k in args.k:
        result = run(api, args.kubeconfig, k, args)
        results.append(result)
        print(summary(result), flush=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

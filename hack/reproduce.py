"""`make reproduce`: the seed's headline experiment at CPU scale, through the operator.

The seed notebook tuned SGD for a ResNet-34 on CIFAR-10: random search needed 120 training
jobs to reach 73.7 % validation accuracy, SageMaker AMT's Bayesian search 74.0 % in 30.
This script runs the same comparison with the real MXNet trainer on the CPU
(hack/reproduce/bayesian.yaml says which task and why): for each seed, a Bayesian
TuningJob (30 trials, 2 at a time, scaling Auto) and its Random twin (120 trials, 8 at a
time, uniform on each range), both at once, then the next seed. It prints progress while
it runs, then the seed's comparison table (best validation accuracy, mean ± sd over the
seeds; the trainers' CPU-seconds, which each trial prints and the TuningJob records as the
metric `cpu:seconds`), the spread of the uniform random configurations' accuracies (how
much the hyperparameters matter), and each search's best configurations trained again
with other trainer seeds (how much of a best is the luck of one training run); it writes
out/reproduce/{best-so-far.png,results.json} (and, from the cluster, tuningjobs.json, which
--from-json reads back).

On the local cluster (started by hack/with-cluster.sh) with the operator as a local
process, or with --local through `kubetune run --local` (no cluster):

    .venv/bin/python hack/reproduce.py [--kubeconfig .cluster/kubeconfig] [--seeds 1 2 3]
    .venv/bin/python hack/reproduce.py --local
    .venv/bin/python hack/reproduce.py --from-json tj.json   # `kubectl get tj -o json`
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubetune.analytics.plots import best_so_far, comparison_figure
from kubetune.analytics.resource import TuningJobView, parse_tuning_job
from kubetune.operator.kube.local import MANIFEST, read_run

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "hack"))  # `cluster`, `demo`: PYTHONSAFEPATH=1 keeps them off
from cluster.cluster import state_dir  # noqa: E402
from cluster.operator_process import OperatorProcess, apply_crds  # noqa: E402
from demo import GROUP, PLURAL, VERSION, recreate  # noqa: E402

BAYESIAN = REPO / "hack" / "reproduce" / "bayesian.yaml"
OUT = REPO / "out" / "reproduce"
KUBETUNE = REPO / ".venv" / "bin" / "kubetune"
TRAINER_IMAGE = "kubetune/mxnet-trainer:0.1.0"
TRAINER_COMMAND = f"{REPO / '.venv-trainer/bin/python'} {REPO / 'trainer-image/train.py'}"
OBJECTIVE, CPU_METRIC = "validation:accuracy", "cpu:seconds"
PROGRESS_SECONDS = 15.0
ZOOM_FROM = 5
"""The plot's accuracy axis starts at the lowest mean best-so-far from this trial on."""
# The seed notebook's result (CIFAR-10, ResNet-34, 50 epochs on a GPU per trial).
SEED_TABLE = (
    ("Random (seed)", "120", "73.7 %"),
    ("Bayesian, AMT (seed)", "30", "74.0 %"),
    ("untuned baseline (seed)", "1", "53 %"),
)


def manifests(seed: int, trials: tuple[int, int]) -> list[dict[str, Any]]:
    """The Bayesian TuningJob of hack/reproduce/bayesian.yaml and its Random twin."""
    bayesian = yaml.safe_load(BAYESIAN.read_text())
    bayesian["spec"]["randomSeed"] = seed
    limits = bayesian["spec"]["limits"]
    limits.update(maxTrials=trials[0], maxParallelTrials=min(2, trials[0]))
    bayesian["metadata"]["name"] = f"seed-bayesian-{seed}"
    random = copy.deepcopy(bayesian)
    random["metadata"]["name"] = f"seed-random-{seed}"
    random["spec"]["strategy"] = "Random"
    random["spec"]["limits"].update(maxTrials=trials[1], maxParallelTrials=min(8, trials[1]))
    for parameter in random["spec"]["parameters"]:
        # Auto would sample learning_rate (0.001-0.5, over two decades) log-uniformly; the
        # seed's random-search helper drew every hyperparameter uniformly.
        parameter["scaling"] = "Linear"
    return [bayesian, random]


class Runner(Protocol):
    def start(self, manifest: dict[str, Any]) -> None: ...
    def view(self, name: str) -> TuningJobView | None: ...
    def check(self) -> None: ...


class ClusterRunner:
    """TuningJobs applied to the local cluster; the operator runs as a local process."""

    def __init__(self, api: client.CustomObjectsApi, namespace: str, operator: OperatorProcess):
        self.api, self.namespace, self.operator = api, namespace, operator

    def start(self, manifest: dict[str, Any]) -> None:
        recreate(self.api, self.namespace, manifest)

    def view(self, name: str) -> TuningJobView | None:
        try:
            body = self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return parse_tuning_job(body)

    def save(self, path: Path) -> None:
        """The TuningJobs, as `kubectl get tj -o json` lists them (for --from-json)."""
        listed = self.api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        path.write_text(json.dumps(listed))

    def check(self) -> None:
        if not self.operator.alive():
            raise SystemExit(f"the operator exited; see its log {self.operator.log_path}")


class SavedRunner:
    """TuningJobs saved earlier (`kubectl get tj -o json`): a report without a run."""

    def __init__(self, path: Path) -> None:
        items = json.loads(path.read_text())["items"]
        self.bodies = {item["metadata"]["name"]: item for item in items}

    def start(self, manifest: dict[str, Any]) -> None:
        raise NotImplementedError("a saved experiment is only read")

    def view(self, name: str) -> TuningJobView | None:
        body = self.bodies.get(name)
        return None if body is None else parse_tuning_job(body)

    def check(self) -> None:
        pass


class LocalRunner:
    """Each TuningJob through `kubetune run --local` into out/reproduce/local/NAME."""

    def __init__(self) -> None:
        self.root = OUT / "local"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, manifest: dict[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        directory = self.root / name
        shutil.rmtree(directory, ignore_errors=True)  # a fresh experiment, not a resume
        directory.mkdir(parents=True)
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        argv = [str(KUBETUNE), "run", "--local", str(path), "--out", str(directory)]
        argv += ["--image", f"{TRAINER_IMAGE}={TRAINER_COMMAND}"]
        with (self.root / f"{name}.out").open("wb") as log:
            self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def view(self, name: str) -> TuningJobView | None:
        directory = self.root / name
        if not (directory / MANIFEST).is_file():
            return None
        return parse_tuning_job(read_run(directory))

    def check(self) -> None:
        for name, process in self.processes.items():
            code = process.poll()
            if code not in (None, 0):
                raise SystemExit(f"kubetune run --local {name} exited {code}: see {name}.out")


def _done(view: TuningJobView | None) -> str:
    if view is None:
        return "waiting"
    best = view.best_trial()
    shown = "-" if best is None or best.objective is None else f"{best.objective:.4f}"
    return f"{view.trials_done()}/{view.max_trials} trials, best {shown}"


def run_repetition(runner: Runner, seed: int, args: argparse.Namespace, started: float) -> None:
    """Runs one seed's two TuningJobs at once until both end."""
    names = []
    for manifest in manifests(seed, args.trials):
        runner.start(manifest)
        names.append(manifest["metadata"]["name"])
    last_line = 0.0
    while True:
        runner.check()
        views = {name: runner.view(name) for name in names}
        ended = all(v is not None and v.terminal for v in views.values())
        now = time.monotonic()
        if ended or now - last_line >= PROGRESS_SECONDS:
            parts = " | ".join(f"{name}: {_done(view)}" for name, view in views.items())
            load = os.getloadavg()[0]
            print(f"[{_clock(now - started)}] {parts} | load {load:.1f}", flush=True)
            last_line = now
        if ended:
            return
        if now - started > args.timeout:
            raise SystemExit(f"gave up after {args.timeout:.0f} s (--timeout)")
        time.sleep(1.0)  # polling the status; the progress line is the point, not latency


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def summarize(runner: Runner, names: dict[str, list[str]]) -> dict[str, Any]:
    """Per strategy: each seed's best, best-so-far curve and trainer CPU-seconds."""
    results: dict[str, Any] = {}
    for strategy, jobs in names.items():
        views = [runner.view(name) for name in jobs]
        runs = []
        for name, view in zip(jobs, views, strict=True):
            assert view is not None, name
            scored = [t for t in view.trials if t.objective is not None]
            best = max(scored, key=lambda t: t.objective or 0.0, default=None)
            runs.append(
                {
                    "name": name,
                    "phase": view.phase,
                    "trials": len(view.trials),
                    "failed": sum(1 for t in view.trials if t.phase == "Failed"),
                    "best": math.nan if best is None else best.objective,
                    "bestHyperparameters": {} if best is None else best.hyperparameters,
                    "curve": best_so_far(view),
                    "objectives": [t.objective for t in scored],
                    "cpuSeconds": sum(t.metrics.get(CPU_METRIC, 0.0) for t in view.trials),
                }
            )
        results[strategy] = runs
    return results


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f} %"


def table(results: dict[str, Any]) -> list[str]:
    """The seed's comparison table, with its own numbers beneath ours."""
    rows = [("strategy", "trials", "best validation accuracy", "trainer CPU-s")]
    for strategy, runs in results.items():
        trials = f"{runs[0]['trials']} × {len(runs)} seeds"
        cpu = f"{statistics.mean(r['cpuSeconds'] for r in runs):.0f} per seed"
        rows.append((strategy, trials, _mean_sd([r["best"] for r in runs]), cpu))
    # Random's best after its first 30 trials: the equal-budget comparison.
    budget = results["Bayesian"][0]["trials"]
    at_budget = [r["curve"][budget - 1] for r in results["Random"] if len(r["curve"]) >= budget]
    if at_budget:
        rows.append(
            (
                f"Random, first {budget}",
                f"{budget} × {len(at_budget)} seeds",
                _mean_sd(at_budget),
                "-",
            )
        )
    rows += [(*row, "GPU") for row in SEED_TABLE]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]


def spread(results: dict[str, Any]) -> str:
    """How much the hyperparameters matter: quantiles over all uniform random configs."""
    values = sorted(v for run in results["Random"] for v in run["objectives"])
    if not values:
        return "no Random trial has an objective"
    quantile = {q: values[min(len(values) - 1, int(q * len(values)))] for q in (0.1, 0.5, 0.9)}
    return (
        f"validation accuracy of the {len(values)} uniform random configurations: "
        f"min {values[0]:.3f}, 10 % {quantile[0.1]:.3f}, median {quantile[0.5]:.3f}, "
        f"90 % {quantile[0.9]:.3f}, max {values[-1]:.3f}"
    )


@contextmanager
def cluster_runner(kubeconfig: Path, namespace: str) -> Iterator[Runner]:
    apply_crds(kubeconfig)
    config.load_kube_config(str(kubeconfig))
    try:
        client.CoreV1Api().create_namespace({"metadata": {"name": namespace}})
    except ApiException as error:
        if error.status != 409:
            raise
    log_path = OUT / "operator.log"
    with OperatorProcess(kubeconfig, [namespace], log_path) as operator:
        print(f"operator started (pid {operator.pid}), log: {log_path}", flush=True)
        yield ClusterRunner(client.CustomObjectsApi(), namespace, operator)


def retrain(hyperparameters: dict[str, str], seed: int) -> float:
    """The validation accuracy of one trainer run, as a trial would run it, with another
    trainer seed (weight initialisation and shuffling)."""
    static = yaml.safe_load(BAYESIAN.read_text())["spec"]["staticHyperparameters"]
    values = {**static, **hyperparameters, "seed": str(seed)}
    argv = [*TRAINER_COMMAND.split(), *(f"--{k}={v}" for k, v in values.items())]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MXNET_CPU_WORKER_NTHREADS": "1"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.rsplit("validation: accuracy=", 1)[1].split()[0])


def retrain_best(results: dict[str, Any], seeds: int) -> list[str]:
    """Each search's best configuration trained again with trainer seeds 1..`seeds`: is
    the winner's margin more than the noise of the training run itself?"""
    lines = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for strategy, runs in results.items():
            jobs = [
                pool.submit(retrain, run["bestHyperparameters"], seed)
                for run in runs
                for seed in range(1, seeds + 1)
            ]
            accuracies = [job.result() for job in jobs]
            for run, start in zip(runs, range(0, len(accuracies), seeds), strict=True):
                run["retrained"] = accuracies[start : start + seeds]
            lines.append(
                f"{strategy}: the {len(runs)} best configurations, each trained again with "
                f"trainer seeds 1-{seeds}: {_mean_sd(accuracies)} (found: "
                f"{_mean_sd([r['best'] for r in runs])})"
            )
    return lines


def report(
    runner: Runner, names: dict[str, list[str]], wall: float, load: float, seeds: int
) -> None:
    results = summarize(runner, names)
    print("\n" + "\n".join(table(results)))
    print(spread(results))
    bayes = statistics.mean(r["best"] for r in results["Bayesian"])
    random = statistics.mean(r["best"] for r in results["Random"])
    verdict = "met" if bayes >= random else "NOT met"
    print(f"target (Bayesian@30 mean >= Random@120 mean): {verdict}")
    if seeds:
        print("\n".join(retrain_best(results, seeds)))
    cpu = sum(r["cpuSeconds"] for runs in results.values() for r in runs)
    if not math.isnan(wall):
        print(
            f"wall {_clock(wall)} (mm:ss); trainer CPU {cpu:.0f} s in all; "
            f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
            f"on {os.cpu_count()} cores"
        )
    curves = {s: [r["curve"] for r in runs] for s, runs in results.items()}
    png = OUT / "best-so-far.png"
    comparison_figure(curves, OBJECTIVE, zoom_from=ZOOM_FROM).savefig(png, dpi=100)
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {png} and {OUT / 'results.json'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, default=state_dir() / "kubeconfig")
    parser.add_argument("--namespace", default="kubetune-reproduce")
    parser.add_argument("--local", action="store_true", help="kubetune run --local, no cluster")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--trials",
        type=int,
        nargs=2,
        default=(30, 120),
        metavar=("BAYESIAN", "RANDOM"),
        help="trials of each TuningJob (a smaller pair for a quick look)",
    )
    parser.add_argument(
        "--retrain",
        type=int,
        default=3,
        metavar="N",
        help="train each best configuration again with N trainer seeds (0: skip)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="report on TuningJobs saved with `kubectl get tj -o json`; run nothing",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before giving up")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    load, started = os.getloadavg()[0], time.monotonic()
    names: dict[str, list[str]] = {
        "Bayesian": [f"seed-bayesian-{seed}" for seed in args.seeds],
        "Random": [f"seed-random-{seed}" for seed in args.seeds],
    }
    if args.from_json:
        report(SavedRunner(args.from_json), names, math.nan, load, args.retrain)
        return 0
    print(
        f"{len(args.seeds)} seeds × (Bayesian {args.trials[0]} trials × 2 parallel, "
        f"Random {args.trials[1]} × 8), "
        f"{'local processes' if args.local else 'on the local cluster'}; load {load:.1f}",
        flush=True,
    )
    local = nullcontext(LocalRunner()) if args.local else None
    with local or cluster_runner(args.kubeconfig, args.namespace) as runner:
        for seed in args.seeds:
            run_repetition(runner, seed, args, started)
        if isinstance(runner, ClusterRunner):
            runner.save(OUT / "tuningjobs.json")
        report(runner, names, time.monotonic() - started, load, args.retrain)
    return 0


if __name__ == "__main__":
    sys.exit(main())

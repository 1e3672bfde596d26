"""`make demo`: one real tuning job, end to end, on the local cluster.

Applies the CRDs, starts the operator as a local process, applies a TuningJob manifest
(by default examples/digits-cpu.yaml: the MXNet trainer on scikit-learn's digits), prints
a line per finished trial while it runs, and ends with the trials sorted by objective,
the best hyperparameters and a plot written to out/. The cluster itself is started and
stopped by the Makefile (`make cluster-up` / `make cluster-down`).

    .venv/bin/python hack/demo.py --kubeconfig .cluster/kubeconfig [--manifest FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "hack"))  # `cluster`, which PYTHONSAFEPATH=1 keeps off the path
from cluster.cluster import state_dir  # noqa: E402
from cluster.operator_process import OperatorProcess, apply_crds  # noqa: E402

GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuningjobs"
TERMINAL_PHASES = {"Completed", "Failed", "Stopped"}


def recreate(api: client.CustomObjectsApi, namespace: str, manifest: dict[str, Any]) -> str:
    """Deletes a TuningJob of the same name left by an earlier demo, then creates it anew."""
    name: str = manifest["metadata"]["name"]
    try:
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as error:
        if error.status != 404:
            raise
    deadline = time.monotonic() + 120
    while True:
        try:
            api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as error:
            if error.status == 404:
                break
            raise
        if time.monotonic() > deadline:
            raise SystemExit(f"TuningJob {namespace}/{name} from an earlier run is not going away")
        time.sleep(0.5)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)
    return name


def describe(params: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(params.items()))


def follow(
    api: client.CustomObjectsApi,
    namespace: str,
    name: str,
    operator: OperatorProcess,
    timeout_seconds: float,
) -> dict[str, Any]:
    """Prints a line for every trial that ends, until the TuningJob reaches a terminal phase.

    Returns the final TuningJob object. Raises SystemExit if the operator dies or the
    deadline passes, so the demo never hangs.
    """
    started = time.monotonic()
    reported: set[str] = set()
    metric = None
    while True:
        job = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        metric = metric or job["spec"]["objective"]["metric"]
        status = job.get("status") or {}
        for trial in status.get("trials", []):
            if trial["name"] in reported or trial.get("phase") in (None, "Pending", "Running"):
                continue
            reported.add(trial["name"])
            outcome = (
                f"{metric}={trial['objective']:.4f}"
                if trial.get("objective") is not None
                else f"{trial.get('reason', '')} {trial.get('message', '')}".strip()
            )
            best = status.get("bestObjective")
            print(
                f"[{time.monotonic() - started:5.0f}s] {trial['name']:<18} {trial['phase']:<10}"
                f" {outcome:<30} best={best if best is None else f'{best:.4f}'}"
                f"  trials {status.get('trialsDone', '?')}, running"
                f" {status.get('counters', {}).get('running', 0)}"
                f"  ({describe(trial.get('hyperparameters', {}))})",
                flush=True,
            )
        if status.get("phase") in TERMINAL_PHASES:
            return job
        if not operator.alive():
            raise SystemExit(f"the operator exited; see its log {operator.log_path}")
        if time.monotonic() - started > timeout_seconds:
            raise SystemExit(f"the tuning job did not finish within {timeout_seconds:.0f} s")
        time.sleep(1)


def print_results(job: dict[str, Any]) -> None:
    """Prints the trials sorted by objective (best first) and the best hyperparameters."""
    spec, status = job["spec"], job["status"]
    maximize = spec["objective"]["type"] == "Maximize"
    names = [p["name"] for p in spec["parameters"]]
    scored = [t for t in status.get("trials", []) if t.get("objective") is not None]
    scored.sort(key=lambda t: t["objective"], reverse=maximize)
    unscored = [t for t in status.get("trials", []) if t.get("objective") is None]
    print(f"\nTuningJob {job['metadata']['name']}: {status['phase']} — {status.get('message', '')}")
    header = f"{'trial':<18} {'objective':>10}  " + "  ".join(f"{n:>14}" for n in names)
    print(header)
    print("-" * len(header))
    for trial in scored + unscored:
        objective = "-" if trial.get("objective") is None else f"{trial['objective']:.4f}"
        values = "  ".join(f"{trial['hyperparameters'].get(n, ''):>14.14}" for n in names)
        print(f"{trial['name']:<18} {objective:>10}  {values}  {trial.get('reason') or ''}")
    best = status.get("bestTrial")
    if best:
        print(f"\nbest trial {best['name']}: {spec['objective']['metric']} = {best['objective']}")
        for key, value in sorted(best["hyperparameters"].items()):
            print(f"  {key} = {value}")


def plot(job: dict[str, Any], path: Path) -> None:
    """Objective per trial in order of completion with the best so far, and objective
    against each hyperparameter (a log axis for logarithmic ones)."""
    plt.switch_backend("Agg")  # files only, whether or not a display exists
    spec, status = job["spec"], job["status"]
    maximize = spec["objective"]["type"] == "Maximize"
    metric = spec["objective"]["metric"]
    trials = [t for t in status.get("trials", []) if t.get("objective") is not None]
    trials.sort(key=lambda t: t.get("endTime") or "")
    parameters = spec["parameters"]
    columns = 1 + len(parameters)
    figure, axes = plt.subplots(1, columns, figsize=(4.2 * columns, 3.8), squeeze=False)
    objectives = [t["objective"] for t in trials]
    best_so_far = [(max if maximize else min)(objectives[: i + 1]) for i in range(len(objectives))]
    ax = axes[0][0]
    ax.plot(range(1, len(objectives) + 1), objectives, "o", label="trial")
    ax.plot(range(1, len(objectives) + 1), best_so_far, "-", label="best so far")
    ax.set_xlabel("trial (in order of completion)")
    ax.set_ylabel(metric)
    ax.legend()
    for ax, parameter in zip(axes[0][1:], parameters, strict=True):
        name = parameter["name"]
        if parameter["type"] == "Categorical":
            labels = [t["hyperparameters"][name] for t in trials]
            categories = sorted(set(labels))
            xs = [categories.index(label) for label in labels]
            ax.set_xticks(range(len(categories)), categories)
        else:
            xs = [float(t["hyperparameters"][name]) for t in trials]
            if parameter.get("scaling") == "Logarithmic":
                ax.set_xscale("log")
        points = ax.scatter(xs, objectives, c=range(1, len(xs) + 1), cmap="viridis")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
    if parameters:
        figure.colorbar(points, ax=axes[0][-1], label="trial (order of completion)")
    figure.suptitle(f"TuningJob {job['metadata']['name']} ({spec.get('strategy', 'Bayesian')})")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, default=state_dir() / "kubeconfig")
    parser.add_argument("--manifest", type=Path, default=REPO / "examples/digits-cpu.yaml")
    parser.add_argument("--namespace", default="kubetune-demo")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before giving up")
    args = parser.parse_args()

    apply_crds(args.kubeconfig)
    config.load_kube_config(str(args.kubeconfig))
    core, api = client.CoreV1Api(), client.CustomObjectsApi()
    try:
        core.create_namespace({"metadata": {"name": args.namespace}})
    except ApiException as error:
        if error.status != 409:
            raise

    log_path = args.kubeconfig.parent / "demo-operator.log"
    with OperatorProcess(args.kubeconfig, [args.namespace], log_path) as operator:
        print(f"operator started (pid {operator.pid}), log: {log_path}", flush=True)
        manifest = yaml.safe_load(args.manifest.read_text())
        name = recreate(api, args.namespace, manifest)
        trials = manifest["spec"].get("limits", {}).get("maxTrials", "?")
        print(
            f"applied {args.manifest.relative_to(REPO)}:"
            f" TuningJob {args.namespace}/{name}, {trials} trials",
            flush=True,
        )
        job = follow(api, args.namespace, name, operator, args.timeout)
    print_results(job)
    png = REPO / "out" / f"demo-{name}.png"
    plot(job, png)
    print(f"\nplot: {png}")
    return 0 if job["status"]["phase"] == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())

"""Which CPU task should `make reproduce` tune? Run with the trainer's venv:

    nice -n 15 .venv-trainer/bin/python hack/reproduce/choose_task.py [--over-budget] [NAME ...]

The seed's task (ResNet-34 on CIFAR-10: baseline 53 %, best 74 %) has a wide spread and a
real optimum. A CPU stand-in must have the same property measured, not assumed, so this
script measures each candidate (trainer options only) with the real trainer, before any
search, and applies a criterion fixed in advance:

    the cheapest candidate whose top-decile spread (90th to 99th percentile of the
    accuracies of uniformly drawn configurations) is at least 3x the noise (sd of a good
    configuration across trainer seeds), within the time budget (a trial, MXNet's
    start-up included, at most ~4.5 CPU-s: 3 seeds x 150 trials in 30 min on 2 cores).

Per candidate, cheapest first: (c) the CPU-seconds of one trial as a process (the
trainer's own `cpu_seconds` line); a candidate over budget is not measured further;
(b) the landscape: 120 configurations drawn uniformly on the seed's ranges, their
accuracies, percentiles, and by bootstrap the expected best of Random@30 and Random@120;
(a) the noise: the sd across 6 trainer seeds of each of the landscape's 3 best
configurations, averaged. The landscape and the noise run in this one process (MXNet's
start-up is paid once, not per configuration).
"""

from __future__ import annotations

import contextlib
import io
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TRAINER = Path(__file__).resolve().parents[2] / "trainer-image"
sys.path.insert(0, str(TRAINER))
import train  # noqa: E402 (found through the sys.path entry above)

# Fixed before any measurement; cheapest expected first. All: digits, 5-fold CV.
CANDIDATES: dict[str, dict[str, str]] = {
    "mlp-2ep-b128": {"model": "mlp", "epochs": "2", "batch_size": "128"},  # the current task
    "mlp-6ep-b128": {"model": "mlp", "epochs": "6", "batch_size": "128"},
    "mlp-4ep-b32": {"model": "mlp", "epochs": "4", "batch_size": "32"},
    "cnn-2ep-b128": {"model": "small-cnn", "epochs": "2", "batch_size": "128"},
    # Added after the four above all failed (more training widened the plateau): less
    # training, within the budget. Same criterion.
    "mlp-1ep-b128": {"model": "mlp", "epochs": "1", "batch_size": "128"},
    "mlp-2ep-b64": {"model": "mlp", "epochs": "2", "batch_size": "64"},
    # Added after those six failed: the noise they measure is mostly the order of the
    # mini-batches. Gradient descent on the whole training fold (batch 2048 >= its 1,438
    # images: one batch an epoch, no shuffling) for 20 epochs makes about as many
    # updates as 2 epochs at batch 128 (2 x 11 full batches). Same criterion.
    "mlp-20ep-full": {"model": "mlp", "epochs": "20", "batch_size": "2048"},
}
STATIC = {"dataset": "digits", "num_gpus": "0", "cv_folds": "5"}
RANGES = {"learning_rate": (0.001, 0.5), "momentum": (0.0, 0.99), "wd": (0.0, 0.001)}
CONFIGS, LANDSCAPE_SEED, NOISE_SEEDS, NOISE_CONFIGS = 120, 42, range(1, 7), 3
BUDGET_CPU_S, SPREAD_OVER_NOISE = 4.5, 3.0
GOOD_CONFIG = {"learning_rate": "0.4", "momentum": "0.7", "wd": "0.0001"}  # for the cost
ACCURACY = re.compile(r"validation: accuracy=([0-9.]+)")
CPU = re.compile(r"trainer: cpu_seconds=([0-9.]+)")


def argv(options: dict[str, str]) -> list[str]:
    return [f"--{name}={value}" for name, value in options.items()]


def trial_cpu_seconds(task: dict[str, str]) -> float:
    """One trial as `make reproduce` runs it: a fresh trainer process, one thread."""
    env = {"OMP_NUM_THREADS": "1", "MXNET_CPU_WORKER_NTHREADS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, str(TRAINER / "train.py"), *argv({**STATIC, **task, **GOOD_CONFIG})],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return float(CPU.findall(out)[-1])


def score(task: dict[str, str], config: dict[str, float], seed: int) -> tuple[float, float]:
    """(accuracy after the last epoch, CPU-seconds of training) in this process."""
    options = {**STATIC, **task, **{k: repr(v) for k, v in config.items()}, "seed": str(seed)}
    hp, sources = train.resolve_hyperparameters(argv(options), {})
    out, started = io.StringIO(), time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        train.train(hp, sources)
    return float(ACCURACY.findall(out.getvalue())[-1]), time.process_time() - started


def expected_best(
    accuracies: np.ndarray, trials: int, rng: np.random.RandomState
) -> tuple[float, float]:
    """Mean and sd of the best of `trials` uniform draws, by bootstrap from the landscape."""
    best = rng.choice(accuracies, size=(2000, trials)).max(axis=1)
    return float(best.mean()), float(best.std())


def criterion(accuracies: np.ndarray, noise_sd: float) -> tuple[float, bool]:
    """(top-decile spread, whether it is at least SPREAD_OVER_NOISE x the noise)."""
    spread = float(np.percentile(accuracies, 99) - np.percentile(accuracies, 90))
    return spread, spread >= SPREAD_OVER_NOISE * noise_sd


def _percent(mean_sd: tuple[float, float]) -> str:
    return f"{100 * mean_sd[0]:.1f} ± {100 * mean_sd[1]:.1f}"


def measure(name: str, task: dict[str, str], over_budget: bool) -> None:
    cost = trial_cpu_seconds(task)
    print(f"{name}: one trial as a process {cost:.2f} CPU-s", flush=True)
    if cost > BUDGET_CPU_S:
        print(f"{name}: FAILS the budget ({cost:.2f} > {BUDGET_CPU_S} CPU-s)\n", flush=True)
        if not over_budget:
            return
        print(f"{name}: its landscape all the same (--over-budget: information only)")
    rng = np.random.RandomState(0)
    configs = [
        {hp: rng.uniform(low, high) for hp, (low, high) in RANGES.items()} for _ in range(CONFIGS)
    ]
    scored = [score(task, config, LANDSCAPE_SEED) for config in configs]
    accuracies = np.array([accuracy for accuracy, _ in scored])
    p = {q: np.percentile(accuracies, q) for q in (10, 50, 90, 99)}
    top = np.argsort(accuracies)[::-1][:NOISE_CONFIGS]
    noise = []
    for index in top:
        repeats = [score(task, configs[index], seed)[0] for seed in NOISE_SEEDS]
        noise.append(statistics.stdev(repeats))
        shown = ", ".join(f"{k}={v:.4g}" for k, v in configs[index].items())
        print(
            f"  good config {shown}: {100 * accuracies[index]:.1f} at seed {LANDSCAPE_SEED};"
            f" seeds {list(NOISE_SEEDS)}: mean {100 * statistics.mean(repeats):.1f}"
            f" sd {100 * noise[-1]:.2f}",
            flush=True,
        )
    sd = statistics.mean(noise)
    boot = np.random.RandomState(1)
    spread, passes = criterion(accuracies, sd)
    verdict = "PASSES" if passes else "FAILS"
    print(
        f"{name}: training {statistics.mean(s for _, s in scored):.2f} CPU-s a config in-process;"
        f" {CONFIGS} uniform configs: min {100 * accuracies.min():.1f}, p10 {100 * p[10]:.1f},"
        f" median {100 * p[50]:.1f}, p90 {100 * p[90]:.1f}, p99 {100 * p[99]:.1f},"
        f" max {100 * accuracies.max():.1f}; expected best (bootstrap): Random@30"
        f" {_percent(expected_best(accuracies, 30, boot))},"
        f" Random@120 {_percent(expected_best(accuracies, 120, boot))}"
        f"\n{name}: top-decile spread p99-p90 {100 * spread:.2f} points, noise sd"
        f" {100 * sd:.2f}: ratio {spread / sd:.1f} -> {verdict} the criterion (>= "
        f"{SPREAD_OVER_NOISE:g}x)\n",
        flush=True,
    )


def main() -> None:
    over_budget = "--over-budget" in sys.argv  # measure a too-costly task's landscape anyway
    for name in [a for a in sys.argv[1:] if a != "--over-budget"] or CANDIDATES:
        measure(name, CANDIDATES[name], over_budget)


if __name__ == "__main__":
    main()

"""The diagnosis `simulate.py report` prints: where the searches' trials go and why.

Reads the searches simulate.py wrote (out/reproduce/simulate/NAME.json); with --train,
trains (through simulate.py's cached trainer) each of the best configurations' ±1 %
neighbours, to measure how rough the seed-42 objective is where the good configurations
are, and each search's best again with other trainer seeds, to measure how much of a best
is the luck of seed 42.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np
from simulate import Trainer, load_spec

LR_EDGES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
LOW_LR = 0.02  # below it the task learns little (median accuracy 25 % or less)
CHECKPOINTS = (5, 10, 15, 20, 25, 30)
TOP = 10
RETRAIN_SEEDS = (1, 2, 3)
RIDGE, RIDGE_LR = (1.4, 2.6), (0.1, 0.2, 0.3, 0.4, 0.5001)
# The tuned parameters' ranges, as the manifest declares them.
RANGES = {p["name"]: (p["min"], p["max"]) for p in load_spec()["parameters"]}


def _pm(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{scale * statistics.mean(values):.{digits}f} ± {scale * sd:.{digits}f}"


def learning_rates(runs: dict[str, Any], budget: int) -> list[list[float]]:
    return [[float(t["hp"]["learning_rate"]) for t in r["trials"][:budget]] for r in runs.values()]


def where_trials_go(name: str, runs: dict[str, Any], budget: int) -> None:
    rates = learning_rates(runs, budget)
    counts = np.array([np.histogram(r, bins=LR_EDGES)[0] for r in rates]).mean(axis=0)
    bins = " ".join(f"{c:4.1f}" for c in counts)
    low = [sum(lr < LOW_LR for lr in r) for r in rates]
    accuracies = [[t["accuracy"] for t in r["trials"][:budget]] for r in runs.values()]
    below_80 = [sum(a < 0.8 for a in run_) for run_ in accuracies]
    bounds = " ".join(
        f"{parameter} {_pm([_at_bound(r, budget, parameter) for r in runs.values()])}"
        for parameter in RANGES
    )
    print(
        f"  {name + '@' + str(budget):14s} {bins} | lr<{LOW_LR}: {_pm(low)} | acc<80 %: "
        f"{_pm(below_80)} | at a bound: {bounds}"
    )


def _at_bound(search: dict[str, Any], budget: int, parameter: str) -> int:
    return sum(float(t["hp"][parameter]) in RANGES[parameter] for t in search["trials"][:budget])


def growth(name: str, runs: dict[str, Any]) -> None:
    cells = []
    for k in CHECKPOINTS:
        bests = [max(t["accuracy"] for t in r["trials"][:k]) for r in runs.values()]
        cells.append(f"{k}: {_pm(bests, 100)}")
    print(f"  {name:10s} " + " | ".join(cells))


def fits(name: str, runs: dict[str, Any]) -> None:
    switches, linear_share, ratios, noisy = [], [], [], []
    for r in runs.values():
        warps = [(f["observations"], f["warps"][0]) for f in r["fits"]]
        first = next((n for n, w in warps if w == "Linear"), None)
        switches.append("-" if first is None else str(first))
        linear_share.append(sum(w == "Linear" for _, w in warps) / max(1, len(warps)))
        ratios += [f["noise_over_signal"] for f in r["fits"]]
        noisy.append(sum(f["noise_over_signal"] > 0.3 for f in r["fits"]) / max(1, len(warps)))
    if not ratios:
        return
    quartiles = np.percentile(ratios, [25, 50, 75])
    print(
        f"  {name:10s} lr warp first Linear at n = {', '.join(switches)} (per seed); "
        f"fits with lr Linear {100 * statistics.mean(linear_share):.0f} %; noise std / signal "
        f"std quartiles {quartiles[0]:.2f} / {quartiles[1]:.2f} / {quartiles[2]:.2f}; "
        f"fits 'noisy' (> 0.3) {100 * statistics.mean(noisy):.0f} %"
    )


def ridge(name: str, runs: dict[str, Any]) -> None:
    """Where a search's 5 best trials lie: learning rate, momentum, and the SGD step size
    lr / (1 - momentum) that the two trade off along."""
    best = []
    for r in runs.values():
        best += sorted(r["trials"], key=lambda t: -t["accuracy"])[:5]
    lr = [float(t["hp"]["learning_rate"]) for t in best]
    momentum = [float(t["hp"]["momentum"]) for t in best]
    step = [a / (1 - m) for a, m in zip(lr, momentum, strict=True)]
    accuracy = [t["accuracy"] for t in best]
    print(
        f"  {name:10s} lr {_pm(lr, digits=2)}, momentum {_pm(momentum, digits=2)}, "
        f"lr/(1-momentum) {_pm(step, digits=2)}, accuracy {_pm(accuracy, 100, 2)}"
    )


def along_the_ridge(runs: dict[str, Any]) -> None:
    """Uniform configurations whose step lr / (1 - momentum) is within RIDGE, by lr."""
    trials = [t for r in runs.values() for t in r["trials"]]
    on = [t for t in trials if RIDGE[0] <= _step(t["hp"]) <= RIDGE[1]]
    cells = []
    for low, high in itertools.pairwise(RIDGE_LR):
        inside = [t["accuracy"] for t in on if low <= float(t["hp"]["learning_rate"]) < high]
        if len(inside) > 1:
            cells.append(f"lr {low}-{high}: {_pm(inside, 100, 2)} (n={len(inside)})")
    print(f"  {len(on)} of {len(trials)} with step in {RIDGE}: " + " | ".join(cells))


def _step(hyperparameters: dict[str, str]) -> float:
    return float(hyperparameters["learning_rate"]) / (1 - float(hyperparameters["momentum"]))


def neighbours(config: dict[str, str]) -> list[dict[str, str]]:
    """±1 % of each parameter's range as the optimizer sees it (learning_rate: of log range)."""
    out = []
    for name, (low, high) in RANGES.items():
        value = float(config[name])
        for sign in (-1, 1):
            if name == "learning_rate":
                moved = math.exp(math.log(value) + sign * 0.01 * math.log(high / low))
            else:
                moved = value + sign * 0.01 * (high - low)
            if low <= moved <= high:
                out.append({**config, name: f"{moved:.10g}"})
    return out


def roughness(trainer: Trainer, searches: dict[str, dict[str, Any]]) -> None:
    """The best configurations seen in any search against their ±1 % neighbours."""
    pool: dict[str, tuple[dict[str, str], float]] = {}
    for runs in searches.values():
        for r in runs.values():
            for t in r["trials"]:
                pool[json.dumps(t["hp"], sort_keys=True)] = (t["hp"], t["accuracy"])
    top = sorted(pool.values(), key=lambda item: -item[1])[:TOP]
    gaps, spreads = [], []
    for config, accuracy in top:
        around = [trainer.accuracy(n) for n in neighbours(config)]
        gaps.append(accuracy - statistics.mean(around))
        spreads.append(statistics.stdev(around))
        shown = ", ".join(f"{k}={float(v):.4g}" for k, v in config.items())
        print(
            f"  {shown}: {100 * accuracy:.2f}; its {len(around)} neighbours "
            f"{100 * statistics.mean(around):.2f} (min {100 * min(around):.2f}, "
            f"max {100 * max(around):.2f})"
        )
    print(
        f"  the {TOP} best lose {_pm(gaps, 100, 2)} points a step of 1 % away; "
        f"neighbours' sd {_pm(spreads, 100, 2)} points"
    )


def diagnose(searches: dict[str, dict[str, Any]], *, train: bool) -> None:
    """Prints the diagnosis of `searches` (NAME -> seed -> search, as simulate.py saves)."""
    runs = searches
    print("\nlearning rates of the trials (mean count per seed) in bins " + str(LR_EDGES))
    for name, r in runs.items():
        where_trials_go(name, r, 30)
        trials = max(len(search["trials"]) for search in r.values())
        if trials > 30:
            longest = {k: search for k, search in r.items() if len(search["trials"]) == trials}
            where_trials_go(name, longest, trials)
    print("\nbest so far (%) after k trials, mean ± sd over seeds")
    for name, r in runs.items():
        growth(name, r)
    print("\nwhere each search's 5 best trials lie (mean ± sd over its seeds' best 5)")
    for name, r in runs.items():
        ridge(name, r)
    if "random" in runs:
        print("\nthe ridge, in the Random trials (uniform): accuracy by learning rate")
        along_the_ridge(runs["random"])
    print("\nGP fits")
    for name, r in runs.items():
        fits(name, r)
    if train:
        trainer = Trainer.for_manifest()
        try:
            print("\nroughness: the best configurations of all searches and their ±1 % neighbours")
            roughness(trainer, searches)
            print(f"\neach seed's best configuration trained again, trainer seeds {RETRAIN_SEEDS}")
            again = {name: retrained(name, runs, 30, trainer) for name, runs in searches.items()}
            if "random" in searches:
                reference = retrained("random", searches["random"], 120, trainer)
                paired_again(again, reference)
        finally:
            trainer.close()


def retrained(name: str, runs: dict[str, Any], budget: int, trainer: Trainer) -> dict[str, float]:
    """A best's accuracy at seed 42 against its accuracy with other trainer seeds: how
    much of the best is the luck of seed 42 (the winner's curse of a rough objective).
    Returns each search's best trained again (mean of the seeds), by the search's seed."""
    found, again = [], {}
    for seed, r in runs.items():
        if len(r["trials"]) < budget:
            continue
        best = max(r["trials"][:budget], key=lambda t: t["accuracy"])
        found.append(best["accuracy"])
        again[seed] = statistics.mean(
            trainer.accuracy({**best["hp"], "seed": str(s)}) for s in RETRAIN_SEEDS
        )
    if found:
        print(
            f"  {name}@{budget}: found {_pm(found, 100, 2)}, trained again "
            f"{_pm(list(again.values()), 100, 2)} (mean of {len(RETRAIN_SEEDS)} seeds; ± over "
            f"{len(found)} searches)"
        )
    return again


def paired_again(again: dict[str, dict[str, float]], reference: dict[str, float]) -> None:
    """Each search's retrained best@30 minus Random@120's on the same seed."""
    print("  paired per seed, trained again, minus random@120's (mean ± s.e.):")
    cells = []
    for name, bests in again.items():
        differences = [bests[seed] - reference[seed] for seed in bests.keys() & reference.keys()]
        if len(differences) > 1:
            error = statistics.stdev(differences) / math.sqrt(len(differences))
            cells.append(
                f"{name}@30 {100 * statistics.mean(differences):+.2f} ± {100 * error:.2f} "
                f"({len(differences)})"
            )
    print("    " + "; ".join(cells))

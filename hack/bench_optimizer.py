"""Benchmark kubetune's optimizer against Optuna (TPE, GP) and scikit-optimize.

Usage (from the repository root; ``make bench-optimizer`` does this)::

    PYTHONSAFEPATH=1 .venv/bin/python hack/bench_optimizer.py [--seeds N] [--quick]

Prints, per problem and overall, the mean normalised score at half and full budget
(30 and 60 evaluations by default):

    score = 100 × (1 − (best − optimum) / (random-search median − optimum))

where ``best`` is the true value of the point with the best observed value so far (the
trial a user would pick), ``optimum`` the known minimum (synthetic problems) or the best
value any run found (scikit-learn problems), and the random-search median is the median
over seeds of kubetune Random's ``best`` at the same budget. 100 = optimum found, 0 = as
good as a typical random search, negative = worse. Then the score of our Bayesian strategy
with 4 asynchronous workers (``pending``) against sequential, and the median time of one
``suggest`` call at 50, 100 and 500 observations of 10 parameters. Results also go to
``out/bench-optimizer.json`` and, with matplotlib, ``out/bench-optimizer.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import math
import os
import sys
import time
from pathlib import Path

# Safe-path mode keeps hack/ off sys.path; the sibling package hack/bench is ours.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench.optimizers import Runner, Trace, available_optimizers, kubetune_parallel
from bench.problems import Problem, real_problems, synthetic_problems
from kubetune.optimizer import (
    Categorical,
    Continuous,
    Integer,
    Observation,
    SearchSpace,
    suggest,
)

OURS, RANDOM, PARALLEL = "kubetune-Bayesian", "kubetune-Random", "kubetune-Bayesian×4"


def best_so_far(trace: Trace) -> np.ndarray:
    """(observed, true) per evaluation -> true value of the best observed point so far (t,)."""
    out, best_observed, best_true = [], math.inf, math.inf
    for observed, true in trace:
        if observed < best_observed:
            best_observed, best_true = observed, true
        out.append(best_true)
    return np.array(out)


# Values closer than this (relative) are equal: cross-validated errors of different models
# can differ in their last bits, and a gap of 1e-9 would blow the score up.
_SAME_VALUE = 1e-7


def normalised_score(best: float, optimum: float, random_median: float) -> float:
    gap = random_median - optimum
    tolerance = _SAME_VALUE * max(1.0, abs(optimum))
    if gap <= tolerance:  # random search already optimal: only the optimum scores 100
        return 100.0 if best <= optimum + tolerance else 0.0
    return 100.0 * (1.0 - (best - optimum) / gap)


def baseline_cache_key(problem: Problem, optimizer: str, seed: int, budget: int) -> str:
    """A file name that changes whenever a cached baseline trace could: the problem code,
    the seed, the budget and the versions of the libraries involved."""
    problems_code = (Path(__file__).parent / "bench" / "problems.py").read_bytes()
    versions = []
    for package in ("optuna", "scikit-optimize", "scikit-learn", "numpy", "scipy", "torch"):
        try:
            versions.append(importlib.metadata.version(package))
        except importlib.metadata.PackageNotFoundError:
            versions.append("-")
    digest = hashlib.sha256(problems_code + repr(versions).encode()).hexdigest()[:16]
    return f"{problem.name}-{optimizer}-s{seed}-b{budget}-{digest}.json"


def run_all(
    problems: list[Problem],
    runners: dict[str, Runner],
    seeds: int,
    budget: int,
    cache: Path | None = None,
) -> dict[str, dict[str, list[list[float]]]]:
    """curves[problem][optimizer] = one best-so-far curve (budget,) per seed.

    With ``cache``, the traces of the third-party baselines (seeded, so a rerun gives the
    same trace) are stored there and reused: Optuna's GP and scikit-optimize take most of a
    run's time, and they do not change when our code does. Ours always run.
    """
    curves: dict[str, dict[str, list[list[float]]]] = {}
    total, done = len(problems) * len(runners) * seeds, 0
    for problem in problems:
        curves[problem.name] = {}
        for name, runner in runners.items():
            curves[problem.name][name] = []
            for seed in range(seeds):
                start = time.perf_counter()
                cached = (
                    cache / baseline_cache_key(problem, name, seed, budget)
                    if cache is not None and not name.startswith("kubetune")
                    else None
                )
                reused = cached is not None and cached.exists()
                if cached is not None and reused:
                    trace = [tuple(pair) for pair in json.loads(cached.read_text())]
                else:
                    trace = runner(problem, seed, budget)
                    if cached is not None:
                        cached.parent.mkdir(parents=True, exist_ok=True)
                        cached.write_text(json.dumps(trace))
                curve = best_so_far(trace)  # type: ignore[arg-type]
                curves[problem.name][name].append(curve.tolist())
                done += 1
                took = "cached" if reused else f"{time.perf_counter() - start:.1f} s"
                print(
                    f"[{done:4d}/{total}] {problem.name:16s} {name:20s} seed={seed} "
                    f"best@{budget // 2}={curve[budget // 2 - 1]:.5g} best@{budget}="
                    f"{curve[-1]:.5g} ({took})",
                    flush=True,
                )
    return curves


def score_table(
    problems: list[Problem], curves: dict[str, dict[str, list[list[float]]]], budgets: list[int]
) -> dict[str, dict[str, list[float]]]:
    """scores[problem][optimizer] = mean score at each budget."""
    scores: dict[str, dict[str, list[float]]] = {}
    for problem in problems:
        by_optimizer = curves[problem.name]
        optimum = problem.optimum
        if optimum is None:
            optimum = min(min(c) for runs in by_optimizer.values() for c in runs)
        scores[problem.name] = {}
        for name, runs in by_optimizer.items():
            row = []
            for b in budgets:
                random_median = float(np.median([c[b - 1] for c in by_optimizer[RANDOM]]))
                row.append(
                    float(
                        np.mean([normalised_score(c[b - 1], optimum, random_median) for c in runs])
                    )
                )
            scores[problem.name][name] = row
    return scores


def print_scores(
    scores: dict[str, dict[str, list[float]]], optimizers: list[str], budgets: list[int]
) -> dict[str, list[float]]:
    header = f"{'problem':17s}" + "".join(f"{n:>22s}" for n in optimizers)
    sub = f"{'':17s}" + "".join(f"{'@' + '/@'.join(map(str, budgets)):>22s}" for _ in optimizers)
    print(
        "\nMean normalised score (100 = optimum, 0 = random-search median)\n" + header + "\n" + sub
    )
    for problem, row in scores.items():
        cells = "".join(
            f"{' / '.join(f'{s:6.1f}' for s in row[n]):>22s}" if n in row else f"{'-':>22s}"
            for n in optimizers
        )
        print(f"{problem:17s}{cells}")
    overall = {
        n: [float(np.mean([scores[p][n][i] for p in scores])) for i in range(len(budgets))]
        for n in optimizers
    }
    print(
        f"{'OVERALL':17s}"
        + "".join(f"{' / '.join(f'{s:6.1f}' for s in overall[n]):>22s}" for n in optimizers)
    )
    return overall


def latency_space() -> SearchSpace:
    return SearchSpace(
        [Continuous(f"x{i}", 0.0, 1.0) for i in range(7)]
        + [
            Continuous("lr", 1e-5, 1e-1),
            Integer("units", 8, 512),
            Categorical("act", ["a", "b", "c"]),
        ]
    )


def measure_latency(sizes: list[int], repeats: int) -> dict[int, float]:
    """Median seconds of one Bayesian suggest at each number of observations (10 params)."""
    space = latency_space()
    medians: dict[int, float] = {}
    for n_obs in sizes:
        times = []
        for rep in range(repeats):
            points = suggest(space, [], strategy="Random", n=n_obs, seed=1000 + rep)
            rng = np.random.default_rng(rep)
            observations = [
                Observation(
                    p,
                    float(
                        sum((float(p[f"x{i}"]) - 0.3) ** 2 for i in range(7))
                        + math.log10(float(p["lr"])) ** 2 / 10
                        + 0.01 * rng.standard_normal()
                    ),
                )
                for p in points
            ]
            start = time.perf_counter()
            suggest(space, observations, seed=rep)
            times.append(time.perf_counter() - start)
        medians[n_obs] = float(np.median(times))
        print(
            f"latency: {n_obs:4d} observations × 10 params: median {medians[n_obs]:.3f} s "
            f"over {repeats} calls",
            flush=True,
        )
    return medians


def plot(curves: dict[str, dict[str, list[list[float]]]], path: Path) -> bool:
    try:
        import matplotlib  # noqa: PLC0415 (optional: the plot is skipped without it)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return False
    n = len(curves)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, (problem, by_optimizer) in zip(axes.flat, curves.items(), strict=False):
        for name, runs in by_optimizer.items():
            ax.plot(np.arange(1, len(runs[0]) + 1), np.median(np.array(runs), axis=0), label=name)
        ax.set_title(problem)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("best so far (median)")
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds", type=int, default=1, help="runs per optimizer and problem (1: about 15 min)"
    )
    parser.add_argument("--budget", type=int, default=60, help="evaluations per run")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke mode: 2 synthetic problems, 1 seed, 20 evaluations",
    )
    parser.add_argument("--problems", default="", help="comma-separated names to keep")
    parser.add_argument("--optimizers", default="", help="comma-separated names to keep")
    parser.add_argument("--no-real", action="store_true", help="skip the scikit-learn problems")
    parser.add_argument("--no-parallel", action="store_true", help="skip the 4-worker runs")
    parser.add_argument("--no-latency", action="store_true", help="skip suggest timings")
    parser.add_argument("--out", default="out", help="folder for the JSON and the PNG")
    parser.add_argument(
        "--cache",
        default=str(Path.home() / ".cache" / "kubetune" / "bench-optimizer"),
        help="folder of cached baseline traces (Optuna, scikit-optimize); '' to rerun them",
    )
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.budget, args.no_real = 1, 20, True
    budgets = [args.budget // 2, args.budget]

    problems = synthetic_problems()
    if args.quick:
        problems = [p for p in problems if p.name in ("branin", "mixed-int-cat")]
    if not args.no_real:
        try:
            problems += real_problems()
        except ImportError:
            print("scikit-learn not installed: real problems skipped (pip install '.[bench]')")
    if args.problems:
        problems = [p for p in problems if p.name in args.problems.split(",")]
    runners, missing = available_optimizers()
    if args.optimizers:
        keep = {OURS, RANDOM, *args.optimizers.split(",")}
        runners = {n: r for n, r in runners.items() if n in keep}
    for note in missing:
        print(f"not compared: {note}")
    if not args.no_parallel:
        runners[PARALLEL] = kubetune_parallel(4)

    print(
        f"{len(problems)} problems × {len(runners)} optimizers × {args.seeds} seeds, "
        f"{args.budget} evaluations each; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )
    curves = run_all(
        problems, runners, args.seeds, args.budget, Path(args.cache) if args.cache else None
    )
    scores = score_table(problems, curves, budgets)
    names = [n for n in runners if n != PARALLEL]
    overall = print_scores(scores, names, budgets)
    if not args.no_parallel:
        print(f"\nParallel (4 asynchronous workers via pending) vs sequential, {OURS}")
        print_scores(scores, [OURS, PARALLEL], budgets)
    latency = (
        {}
        if args.no_latency
        else measure_latency([50, 100] if args.quick else [50, 100, 500], 3 if args.quick else 5)
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-optimizer.json").write_text(
        json.dumps(
            {
                "budgets": budgets,
                "seeds": args.seeds,
                "scores": scores,
                "overall": overall,
                "latency_seconds": latency,
                "curves": curves,
            },
            indent=1,
        )
    )
    print(f"\nresults: {out / 'bench-optimizer.json'}")
    if plot(curves, out / "bench-optimizer.png"):
        print(f"plot: {out / 'bench-optimizer.png'}")


if __name__ == "__main__":
    main()

"""Benchmark kubetune's optimizer against Optuna (TPE, GP), scikit-optimize and BoTorch.

Usage (from the repository root; ``make bench-optimizer`` does this)::

    PYTHONSAFEPATH=1 .venv/bin/python hack/bench_optimizer.py [--seeds N] [--quick]
        [--half dev|held-out|all] [--baselines-only]

The problems are split once, at random with a fixed seed (``SPLIT_SEED``), into a
*development* half, on which design changes are chosen, and a *held-out* half, which only
reports. Prints, per problem, then per half and in total (mean ± standard error over
seeds), the mean normalised score at half and full budget (30 and 60 evaluations by
default):

    score = 100 × (1 − (best − optimum) / (random-search median − optimum))

where ``best`` is the true value of the point with the best observed value so far (the
trial a user would pick), ``optimum`` the known minimum (synthetic problems) or the best
value any run found (scikit-learn problems), and the random-search median is the median
over seeds of kubetune Random's ``best`` at the same budget. 100 = optimum found, 0 = as
good as a typical random search, negative = worse. Then the score of our Bayesian strategy
with 4 asynchronous workers (``pending``) against sequential, and the median time of one
``suggest`` call at 50, 100 and 500 observations of 10 parameters, beside Optuna
GPSampler's ``ask`` on the same history. Results also go to
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
from bench.problems import DIVERGING, Problem, diverging, real_problems, synthetic_problems
from kubetune.optimizer import (
    Categorical,
    Continuous,
    Integer,
    Observation,
    SearchSpace,
    suggest,
)

OURS, RANDOM, PARALLEL = "kubetune-Bayesian", "kubetune-Random", "kubetune-Bayesian×4"
HALVES = ("dev", "held-out")
# Fixed once (issue 12): which problems design changes may be tuned on.
SPLIT_SEED = 12
OPTIMIZER_SOURCES = Path(__file__).resolve().parents[1] / "optimizer"


def split_problems(names: list[str], seed: int = SPLIT_SEED) -> dict[str, str]:
    """name -> "dev" (development) or "held-out": a seeded permutation of the sorted names, the
    first half (rounded down) for development."""
    ordered = sorted(names)
    permutation = np.random.default_rng(seed).permutation(len(ordered))
    development = {ordered[i] for i in permutation[: len(ordered) // 2]}
    return {n: HALVES[0] if n in development else HALVES[1] for n in names}


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


# Read once at start: a run keeps using the code it imported even if the files change.
_PROBLEMS_CODE = (Path(__file__).parent / "bench" / "problems.py").read_bytes()
_OPTIMIZER_DIGEST = hashlib.sha256(
    b"".join(f.read_bytes() for f in sorted(OPTIMIZER_SOURCES.glob("*.py")))
).digest()
# Random search reads only these: its traces survive changes to the Bayesian strategy.
_RANDOM_DIGEST = hashlib.sha256(
    b"".join(
        (OPTIMIZER_SOURCES / f).read_bytes()
        for f in ("encoding.py", "observations.py", "space.py", "suggest.py")
    )
).digest()


def cache_key(problem: Problem, optimizer: str, seed: int, budget: int) -> str:
    """A file name that changes whenever a cached trace could: the problem code, the seed,
    the budget, the versions of the libraries involved, and for kubetune's own runs the
    optimizer's source."""
    code = _PROBLEMS_CODE
    if optimizer == RANDOM:
        code += _RANDOM_DIGEST
    elif optimizer.startswith("kubetune"):
        code += _OPTIMIZER_DIGEST
    elif optimizer.startswith("botorch"):
        # Added after the list below had keyed every cached trace: only its own runs change.
        code += importlib.metadata.version("botorch").encode()
    versions = []
    for package in ("optuna", "scikit-optimize", "scikit-learn", "numpy", "scipy", "torch"):
        try:
            versions.append(importlib.metadata.version(package))
        except importlib.metadata.PackageNotFoundError:
            versions.append("-")
    digest = hashlib.sha256(code + repr(versions).encode()).hexdigest()[:16]
    return f"{problem.name}-{optimizer}-s{seed}-b{budget}-{digest}.json"


def _trace(
    problem: Problem, name: str, runner: Runner, seed: int, *, budget: int, cache: Path | None
) -> tuple[Trace, bool]:
    """One run's trace, from the cache when there (and stored there when not)."""
    cached = cache / cache_key(problem, name, seed, budget) if cache is not None else None
    if cached is not None and cached.exists():
        return [(float(a), float(b)) for a, b in json.loads(cached.read_text())], True
    trace = runner(problem, seed, budget)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(trace))
    return trace, False


def run_all(
    problems: list[Problem],
    runners: dict[str, Runner],
    seeds: int,
    budget: int,
    cache: Path | None = None,
    first_seed: int = 0,
) -> dict[str, dict[str, list[list[float]]]]:
    """curves[problem][optimizer] = one best-so-far curve (budget,) per seed, for seeds
    ``first_seed`` .. ``first_seed + seeds - 1``.

    Seed by seed over all problems, so that an interrupted run leaves whole seeds in the
    cache. With ``cache``, every trace (seeded, so a rerun gives the same one) is stored
    there and reused: the baselines' keys change with the problem code and library
    versions, ours also with the optimizer's source.
    """
    curves: dict[str, dict[str, list[list[float]]]] = {
        p.name: {name: [] for name in runners} for p in problems
    }
    total, done = len(problems) * len(runners) * seeds, 0
    for seed in range(first_seed, first_seed + seeds):
        for problem in problems:
            for name, runner in runners.items():
                start = time.perf_counter()
                trace, reused = _trace(problem, name, runner, seed, budget=budget, cache=cache)
                curve = best_so_far(trace)
                curves[problem.name][name].append(curve.tolist())
                done += 1
                took = "cached" if reused else f"{time.perf_counter() - start:.1f} s"
                print(
                    f"[{done:4d}/{total}] {problem.name:19s} {name:20s} seed={seed} "
                    f"best@{budget // 2}={curve[budget // 2 - 1]:.5g} best@{budget}="
                    f"{curve[-1]:.5g} ({took})",
                    flush=True,
                )
    return curves


def seed_scores(
    problems: list[Problem], curves: dict[str, dict[str, list[list[float]]]], budgets: list[int]
) -> dict[str, dict[str, list[list[float]]]]:
    """scores[problem][optimizer][seed] = the score at each budget."""
    scores: dict[str, dict[str, list[list[float]]]] = {}
    for problem in problems:
        by_optimizer = curves[problem.name]
        optimum = problem.optimum
        if optimum is None:
            optimum = min(min(c) for runs in by_optimizer.values() for c in runs)
        random_medians = [
            float(np.median([c[b - 1] for c in by_optimizer[RANDOM]])) for b in budgets
        ]
        scores[problem.name] = {
            name: [
                [
                    normalised_score(c[b - 1], optimum, m)
                    for b, m in zip(budgets, random_medians, strict=True)
                ]
                for c in runs
            ]
            for name, runs in by_optimizer.items()
        }
    return scores


def score_table(
    problems: list[Problem], curves: dict[str, dict[str, list[list[float]]]], budgets: list[int]
) -> dict[str, dict[str, list[float]]]:
    """scores[problem][optimizer] = mean score over seeds at each budget."""
    return {
        problem: {name: np.mean(runs, axis=0).tolist() for name, runs in by_optimizer.items()}
        for problem, by_optimizer in seed_scores(problems, curves, budgets).items()
    }


def print_scores(
    scores: dict[str, dict[str, list[float]]],
    optimizers: list[str],
    budgets: list[int],
    halves: dict[str, str],
) -> None:
    """The per-problem table: mean score over seeds at each budget, losses included."""
    width = max(22, 7 * len(budgets) + 1)
    header = f"{'problem':20s}{'half':>10s}" + "".join(f"{n:>{width}s}" for n in optimizers)
    sub = f"{'':30s}" + "".join(
        f"{'@' + '/@'.join(map(str, budgets)):>{width}s}" for _ in optimizers
    )
    print(
        "\nMean normalised score (100 = optimum, 0 = random-search median)\n" + header + "\n" + sub
    )
    for problem in sorted(scores, key=lambda p: (halves[p], p)):
        row = scores[problem]
        cells = "".join(
            f"{' / '.join(f'{s:6.1f}' for s in row[n]):>{width}s}"
            if n in row
            else f"{'-':>{width}s}"
            for n in optimizers
        )
        print(f"{problem:20s}{halves[problem]:>10s}{cells}")


def summarise(
    per_seed: dict[str, dict[str, list[list[float]]]],
    optimizers: list[str],
    halves: dict[str, str],
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """summary[group][optimizer] = (mean, standard error) at each budget, for each half and
    "total": the mean over the group's problems, per seed, then its mean and standard error
    over seeds (nan with one seed)."""
    groups = {h: [p for p in per_seed if halves[p] == h] for h in HALVES}
    groups["total"] = list(per_seed)
    summary: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for group, members in groups.items():
        summary[group] = {}
        for name in optimizers:
            if not members or any(name not in per_seed[p] for p in members):
                continue
            by_seed = np.mean([per_seed[p][name] for p in members], axis=0)  # (seeds, budgets)
            se = (
                np.std(by_seed, axis=0, ddof=1) / math.sqrt(len(by_seed))
                if len(by_seed) > 1
                else np.full(by_seed.shape[1], math.nan)
            )
            summary[group][name] = list(
                zip(by_seed.mean(axis=0).tolist(), se.tolist(), strict=True)
            )
    return summary


def print_summary(
    summary: dict[str, dict[str, list[tuple[float, float]]]], budgets: list[int], title: str
) -> None:
    groups = [g for g in summary if summary[g]]
    print(f"\n{title}")
    print(f"{'optimizer':22s}" + "".join(f"{f'{g} @{b}':>20s}" for g in groups for b in budgets))
    names = list(dict.fromkeys(n for g in groups for n in summary[g]))
    for name in names:
        cells = "".join(
            f"{f'{m:.1f} ± {se:.1f}':>20s}" if name in summary[g] else f"{'-':>20s}"
            for g in groups
            for m, se in (summary[g].get(name) or [(math.nan, math.nan)] * len(budgets))
        )
        print(f"{name:22s}{cells}")


def markdown(
    scores: dict[str, dict[str, list[float]]],
    summary: dict[str, dict[str, list[tuple[float, float]]]],
    budgets: list[int],
    halves: dict[str, str],
) -> str:
    """The summary and the per-problem table as Markdown, for docs/benchmarks.md."""
    names = list(dict.fromkeys(n for group in summary.values() for n in group))
    groups = [g for g in summary if summary[g]]
    lines = [
        "| optimizer | " + " | ".join(f"{g} @{b}" for g in groups for b in budgets) + " |",
        "|---" * (1 + len(groups) * len(budgets)) + "|",
    ]
    for name in names:
        cells = [
            f"{m:.1f} ± {se:.1f}" if not math.isnan(se) else f"{m:.1f}"
            for g in groups
            for m, se in summary[g].get(name, [(math.nan, math.nan)] * len(budgets))
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| problem | half | " + " | ".join(names) + " |",
        "|---" * (2 + len(names)) + "|",
    ]
    for problem in sorted(scores, key=lambda p: (halves[p], p)):
        cells = [
            " / ".join(f"{s:.0f}" for s in scores[problem][n]) if n in scores[problem] else "-"
            for n in names
        ]
        lines.append(f"| {problem} | {halves[problem]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latency_space() -> SearchSpace:
    return SearchSpace(
        [Continuous(f"x{i}", 0.0, 1.0) for i in range(7)]
        + [
            Continuous("lr", 1e-5, 1e-1),
            Integer("units", 8, 512),
            Categorical("act", ["a", "b", "c"]),
        ]
    )


def _latency_history(n_obs: int, rep: int) -> list[Observation]:
    space = latency_space()
    points = suggest(space, [], strategy="Random", n=n_obs, seed=1000 + rep)
    rng = np.random.default_rng(rep)
    return [
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


def _optuna_ask_seconds(history: list[Observation], seed: int) -> float:
    """Seconds of one Optuna GPSampler ``ask`` after ``history`` was told to it."""
    import warnings  # noqa: PLC0415

    import optuna  # noqa: PLC0415
    from bench.optimizers import optuna_distributions  # noqa: PLC0415
    from bench.problems import Problem  # noqa: PLC0415

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = Problem("latency", latency_space(), lambda p, r: (0.0, 0.0), None)
    distributions = optuna_distributions(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
        study.add_trials(
            [
                optuna.trial.create_trial(
                    params=dict(o.params), distributions=distributions, value=o.value
                )
                for o in history
            ]
        )
        start = time.process_time()
        study.ask(distributions)  # type: ignore[arg-type]
        return time.process_time() - start


def measure_latency(
    sizes: list[int], repeats: int, with_optuna: bool
) -> dict[str, dict[int, float]]:
    """Median seconds of one Bayesian suggest at each number of observations (10 params),
    and of Optuna GPSampler's ask on the same histories (fewer repeats: it is slower).

    CPU seconds of this process (one thread with OMP_NUM_THREADS=1), not wall time: on a
    shared machine the wall clock measures the neighbours too.
    """
    space = latency_space()
    medians: dict[str, dict[int, float]] = {"kubetune": {}, "optuna-GP": {}}
    for n_obs in sizes:
        times, optuna_times = [], []
        for rep in range(repeats):
            history = _latency_history(n_obs, rep)
            start = time.process_time()
            suggest(space, history, seed=rep)
            times.append(time.process_time() - start)
            if with_optuna and rep < max(1, repeats // 2):
                optuna_times.append(_optuna_ask_seconds(history, rep))
        medians["kubetune"][n_obs] = float(np.median(times))
        line = (
            f"latency (CPU): {n_obs:4d} observations × 10 params: kubetune median "
            f"{medians['kubetune'][n_obs]:.3f} s over {repeats} calls"
        )
        if optuna_times:
            medians["optuna-GP"][n_obs] = float(np.median(optuna_times))
            line += (
                f"; Optuna GPSampler median {medians['optuna-GP'][n_obs]:.3f} s over "
                f"{len(optuna_times)} calls"
            )
        print(line, flush=True)
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


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="runs per optimizer and problem")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds run are first-seed .. first-seed + seeds - 1 (fill the cache in parts)",
    )
    parser.add_argument("--budget", type=int, default=60, help="evaluations per run")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke mode: 2 synthetic problems, 1 seed, 20 evaluations",
    )
    parser.add_argument("--problems", default="", help="comma-separated names to keep")
    parser.add_argument(
        "--half", choices=[*HALVES, "all"], default="all", help="problems to run (dev: development)"
    )
    parser.add_argument("--optimizers", default="", help="comma-separated names to keep")
    parser.add_argument(
        "--baselines-only", action="store_true", help="fill the cache: skip kubetune-Bayesian"
    )
    parser.add_argument("--no-real", action="store_true", help="skip the scikit-learn problems")
    parser.add_argument(
        "--diverging",
        action="store_true",
        help="each problem with a quarter of its space where training diverges (huge losses)",
    )
    parser.add_argument("--no-parallel", action="store_true", help="skip the 4-worker runs")
    parser.add_argument("--no-latency", action="store_true", help="skip suggest timings")
    parser.add_argument("--latency-only", action="store_true", help="only the suggest timings")
    parser.add_argument("--out", default="out", help="folder for the JSON and the PNG")
    parser.add_argument(
        "--cache",
        default=str(Path.home() / ".cache" / "kubetune" / "bench-optimizer"),
        help="folder of cached traces (keyed by code and versions); '' to rerun them",
    )
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.budget, args.no_real = 1, 20, True
    return args


def _problems(args: argparse.Namespace) -> tuple[list[Problem], dict[str, str]]:
    problems = synthetic_problems()
    try:
        problems += real_problems()
    except ImportError as error:
        # Even with --no-real: the split is over every problem, and without the scikit-learn
        # names it would silently put other problems in each half.
        sys.exit(
            f"bench-optimizer: the scikit-learn problems need {error.name}, also with --no-real"
            " (the development/held-out split is over all problems); run"
            " `pip install -e '.[bench]'` (make bench-optimizer does)."
        )
    # The split is over every problem, whatever this run keeps.
    halves = split_problems([p.name for p in problems])
    if args.no_real:
        problems = [p for p in problems if not p.real]
    if args.quick:
        problems = [p for p in problems if p.name in ("branin", "mixed-int-cat")]
    if args.problems:
        problems = [p for p in problems if p.name in args.problems.split(",")]
    if args.half != "all":
        problems = [p for p in problems if halves[p.name] == args.half]
    if args.diverging:
        problems = [diverging(p) for p in problems]
        halves = {name + DIVERGING: half for name, half in halves.items()}
    return problems, halves


def _runners(args: argparse.Namespace) -> dict[str, Runner]:
    runners, missing = available_optimizers()
    if args.optimizers:
        keep = {OURS, RANDOM, *args.optimizers.split(",")}
        runners = {n: r for n, r in runners.items() if n in keep}
    for note in missing:
        print(f"not compared: {note}")
    if args.baselines_only:
        runners.pop(OURS)
    elif not args.no_parallel:
        runners[PARALLEL] = kubetune_parallel(4)
    return runners


def main() -> None:
    args = _arguments()
    if args.latency_only:
        with_optuna = "optuna-GP" in available_optimizers()[0]
        measure_latency([50, 100, 500], 3 if args.quick else 5, with_optuna=with_optuna)
        return
    budgets = [args.budget // 2, args.budget]
    problems, halves = _problems(args)
    runners = _runners(args)
    print(
        f"{len(problems)} problems × {len(runners)} optimizers × {args.seeds} seeds, "
        f"{args.budget} evaluations each; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )
    for half in HALVES:
        print(f"{half}: {', '.join(sorted(n for n, h in halves.items() if h == half))}")
    curves = run_all(
        problems,
        runners,
        args.seeds,
        args.budget,
        Path(args.cache) if args.cache else None,
        first_seed=args.first_seed,
    )
    per_seed = seed_scores(problems, curves, budgets)
    scores = score_table(problems, curves, budgets)
    names = [n for n in runners if n != PARALLEL]
    print_scores(scores, names, budgets, halves)
    summary = summarise(per_seed, names, halves)
    print_summary(summary, budgets, f"Mean score ± standard error over {args.seeds} seeds")
    if PARALLEL in runners:
        print_scores(scores, [OURS, PARALLEL], budgets, halves)
        print_summary(
            summarise(per_seed, [OURS, PARALLEL], halves),
            budgets,
            f"Parallel (4 asynchronous workers via pending) vs sequential, {OURS}",
        )
    latency = (
        {}
        if args.no_latency
        else measure_latency(
            [50, 100] if args.quick else [50, 100, 500],
            3 if args.quick else 5,
            with_optuna="optuna-GP" in runners,
        )
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-optimizer.json").write_text(
        json.dumps(
            {
                "budgets": budgets,
                "seeds": args.seeds,
                "halves": halves,
                "scores": scores,
                "summary": summary,
                "seed_scores": per_seed,
                "latency_seconds": latency,
                "curves": curves,
            },
            indent=1,
        )
    )
    if PARALLEL in runners:
        summary = {g: {**summary[g], **summarise(per_seed, [PARALLEL], halves)[g]} for g in summary}
    (out / "bench-optimizer.md").write_text(markdown(scores, summary, budgets, halves) + "\n")
    print(f"\nresults: {out / 'bench-optimizer.json'}, {out / 'bench-optimizer.md'}")
    if plot(curves, out / "bench-optimizer.png"):
        print(f"plot: {out / 'bench-optimizer.png'}")


if __name__ == "__main__":
    main()

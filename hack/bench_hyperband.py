"""Benchmark kubetune's Hyperband against full-budget search, the median rule and Optuna.

Usage (from the repository root; ``make bench-hyperband`` does this)::

    PYTHONSAFEPATH=1 .venv/bin/python hack/bench_hyperband.py [--seeds 20] [--first-seed 0] [--dev]

On each learning-curve problem (``hack/bench/curves.py``: a table recorded once from the
real MXNet trainer on digits, and two synthetic families with known optima), with 4
asynchronous workers on a simulated clock (``hack/bench/multifidelity.py``), and for each
seed:

1. Random search runs 120 full-budget trials; its final best (the true final loss of the
   trial with the best observed final loss) is the level to reach.
2. Every method runs until it has reached that level with a trial that ran to the end
   and has spent at least a sixth of Random's epochs (for the quality column), or until
   it has spent a third of Random's epochs (then it counts as not reached).

Printed per problem and method: the epochs (summed over all trials) and the simulated
minutes needed to reach the level (median and mean over seeds; a seed that never reached it
counts with the epochs spent, marked ">"), how many seeds reached it, and the mean regret
(true final loss − optimum, in loss units ×100) at a sixth of Random's epochs. Random's
own row gives the epochs it needed to first reach its own final best. The rows
Hyperband-perfect-rungs and Hyperband-Sobol-perfect-rungs are references, not tuners:
uniform draws or the Sobol sequence with rungs that judge by the true final loss; where
one misses a target, only a better sampler can meet it; where it meets one that the real
rungs miss, the early epochs' ranking is what stands in the way.

``--diagnose`` prints only how well each rung's values rank the configurations by their
final loss (Spearman, over 600 random configurations; among all, the best third and the
best tenth). On the digits table the early epochs rank the good configurations no better
than chance (best tenth: -0.50, -0.19, -0.04 at epochs 1, 3, 9; the synthetic families
+0.25 to +0.98), so there Hyperband's rungs can only discard the bad configurations.

``--dev`` runs the development seeds (1000, 1001, ...) and the design variants (more
brackets, BOHB's level fit and random share, a MOBSTER-style sampler, the oracle-choice
references, a first rung chosen from the job's own probes): the design was chosen there;
the default seeds (0, 1, ...) are the held-out report. A variant named in ``--methods``
runs on any seeds (its check on the held-out ones). ``--first-seed`` runs a later part of
the seeds (e.g. one slow method on more seeds).
``--heldout-problems`` runs three other families instead (``heldout_problems`` in
``hack/bench/curves.py``: Hartmann-6 over 81 epochs, Levy-3, Ackley-2 with a slow best
model), added after the samplers were designed, to check that a choice made on the three
above holds elsewhere.
``--more-digits`` runs only the digits table, with the 1,683 configurations recorded
after its 317 the same way (``hack/bench/data/digits-curves-more.jsonl.gz``, 2,000 in
all): the same trainer's task sampled six times as densely, added after the samplers were
designed.
``--digits200`` runs only a second task recorded from the trainer after the samplers were
designed (``DIGITS_200`` in ``hack/bench/tables.py``: 200 training images, wider ranges,
1,000 configurations; ``hack/bench/data/digits200-curves.jsonl.gz``).
``--digits1000`` runs only a third such task, recorded after SobolBayesian became the
default (``DIGITS_1000``: 1,000 training images, 600 configurations;
``hack/bench/data/digits1000-curves.jsonl.gz``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

# Safe-path mode keeps hack/ off sys.path; the sibling package hack/bench is ours.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import scipy.stats
from bench.curves import (
    DIGITS_TABLE,
    DIGITS_TABLE_MORE,
    CurveProblem,
    crossing_problem,
    digits_problem,
    heldout_problems,
    load_table,
    powerlaw_problem,
)
from bench.multifidelity import (
    METHODS,
    REDUCTION_FACTOR,
    VARIANTS,
    Run,
    TunerFactory,
    simulate,
)
from bench.tables import DIGITS_200, DIGITS_1000, TableTask
from kubetune.optimizer import rung_levels, suggest

RANDOM_TRIALS = 120
# The other methods run until they reached Random's level and spent 1/6 of Random's epochs
# (the quality column), or until they spent a third of them (the target; a two-core
# machine cannot afford more).
QUALITY_SHARE, CAP_SHARE = 6, 3
DEV_SEED_BASE = 1000
OUT = Path("out") / "bench-hyperband.json"


def problems(
    heldout: bool = False, more_digits: bool = False, table: TableTask | None = None
) -> list[CurveProblem]:
    if heldout:
        return heldout_problems()
    if table:
        return [digits_problem(load_table(table.path), table)]
    if more_digits:
        records = load_table() + load_table(DIGITS_TABLE_MORE)
        return [digits_problem(records, name="digits-mxnet-2000")]
    found = [powerlaw_problem(), crossing_problem()]
    if DIGITS_TABLE.exists():
        found.insert(0, digits_problem(load_table()))
    return found


def first_reach(run: Run, level: float) -> tuple[int, float] | None:
    for progress in run.progress:
        if progress.best_true <= level + 1e-12:
            return progress.resource, progress.seconds
    return None


def best_at(run: Run, resource: int) -> float:
    best = math.inf
    for progress in run.progress:
        if progress.resource > resource:
            break
        best = progress.best_true
    return best


def random_search(problem: CurveProblem, seed: int) -> Run:
    """Random search with RANDOM_TRIALS full trials: its final best is the level."""
    return simulate(
        problem,
        METHODS["Random"](problem, seed),
        seed,
        stop=lambda run: len(run.progress) >= RANDOM_TRIALS,
    )


def run_seed(
    problem: CurveProblem, seed: int, methods: dict[str, TunerFactory]
) -> dict[str, dict[str, float | bool]]:
    budget = RANDOM_TRIALS * problem.max_resource
    quality_at, cap = budget // QUALITY_SHARE, budget // CAP_SHARE
    random_run = random_search(problem, seed)
    level = random_run.progress[-1].best_true
    out: dict[str, dict[str, float | bool]] = {}
    for name, factory in methods.items():
        started = time.process_time()
        if name == "Random":
            run = random_run
        else:

            def stop(run: Run) -> bool:
                reached = bool(run.progress) and run.progress[-1].best_true <= level + 1e-12
                return run.resource >= cap or (reached and run.resource >= quality_at)

            run = simulate(problem, factory(problem, seed), seed, stop=stop)
        reach = first_reach(run, level)
        out[name] = {
            "reached": reach is not None,
            "resource": reach[0] if reach else run.resource,
            "minutes": (reach[1] if reach else run.seconds) / 60,
            "regret": 100 * (best_at(run, quality_at) - problem.optimum),
            "cpu_seconds": time.process_time() - started,
        }
    return out


def summarise(problem: CurveProblem, results: list[dict[str, dict[str, float | bool]]]) -> None:
    budget = RANDOM_TRIALS * problem.max_resource
    print(
        f"\n{problem.name}: max_resource {problem.max_resource} epochs, {len(results)} seeds; "
        f"level = Random's best after {RANDOM_TRIALS} full trials ({budget} epochs)"
    )
    print(
        f"{'method':28s} {'epochs med':>10s} {'mean':>8s} {'min. med':>9s} {'mean':>7s} "
        f"{'reached':>7s} {'regret@1/6':>10s} {'cpu s':>6s}"
    )
    for name in results[0]:
        rows = [r[name] for r in results]
        resource = [float(r["resource"]) for r in rows]
        minutes = [float(r["minutes"]) for r in rows]
        reached = sum(bool(r["reached"]) for r in rows)
        censored = ">" if reached < len(rows) else " "
        print(
            f"{name:28s} {censored}{statistics.median(resource):9.0f} {np.mean(resource):8.0f} "
            f"{statistics.median(minutes):9.2f} {np.mean(minutes):7.2f} "
            f"{reached:4d}/{len(rows):<2d} {np.mean([r['regret'] for r in rows]):10.3f} "
            f"{np.mean([r['cpu_seconds'] for r in rows]):6.1f}"
        )


def rung_rank_correlations(
    problem: CurveProblem, n: int = 600, seed: int = 3
) -> dict[int, tuple[float, float, float]]:
    """{rung: Spearman's rank correlation of the observed value at that rung with the true
    final loss}, over ``n`` random configurations: among all of them, and among the best
    third and the best tenth by final loss (late in a run a rung's job is to tell good
    configurations apart, so the last two say how much Hyperband can gain)."""
    params = suggest(problem.space, [], strategy="Random", n=n, seed=seed)
    curves = [problem.curve(p, np.random.default_rng([seed, i, 7])) for i, p in enumerate(params)]
    final = np.array([c.true[problem.max_resource - 1] for c in curves])
    masks = [final <= np.quantile(final, q) for q in (1.0, 1 / 3, 1 / 10)]
    out = {}
    for rung in rung_levels(1, problem.max_resource, REDUCTION_FACTOR):
        at_rung = np.array([c.observed[rung - 1] for c in curves])
        rho = [float(scipy.stats.spearmanr(at_rung[m], final[m]).statistic) for m in masks]
        out[rung] = (rho[0], rho[1], rho[2])
    return out


def diagnose(problem: CurveProblem) -> None:
    cells = [
        f"epoch {rung}: {a:+.2f} {b:+.2f} {c:+.2f}"
        for rung, (a, b, c) in rung_rank_correlations(problem).items()
    ]
    print(f"{problem.name:20s} rank corr. with final (all, top 1/3, top 1/10): " + "; ".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="run seeds first..first+seeds-1 (in parts)"
    )
    parser.add_argument("--dev", action="store_true", help="development seeds and variants")
    parser.add_argument("--problems", nargs="*", help="names (default: all)")
    # Each replaces the default problems: one or the other.
    other_problems = parser.add_mutually_exclusive_group()
    other_problems.add_argument(
        "--heldout-problems",
        action="store_true",
        help="three other families instead, never used to design the samplers",
    )
    other_problems.add_argument(
        "--more-digits",
        action="store_true",
        help="only the digits table, with the 1,683 configurations recorded after its 317",
    )
    other_problems.add_argument(
        "--digits200",
        action="store_const",
        dest="table",
        const=DIGITS_200,
        help="only the second task recorded from the trainer (200 training images)",
    )
    other_problems.add_argument(
        "--digits1000",
        action="store_const",
        dest="table",
        const=DIGITS_1000,
        help="only the third task recorded from the trainer (1,000 training images)",
    )
    parser.add_argument("--methods", nargs="*", help="names (default: all)")
    parser.add_argument(
        "--diagnose", action="store_true", help="only the rank correlations by rung"
    )
    args = parser.parse_args()
    if args.diagnose:
        for problem in problems(args.heldout_problems, args.more_digits, args.table):
            diagnose(problem)
        return 0

    methods = dict(METHODS) | (dict(VARIANTS) if args.dev else {})
    if args.methods:
        # Named, a design variant runs on any seeds too (its check on the held-out ones).
        known = dict(METHODS) | dict(VARIANTS)
        unknown = sorted(set(args.methods) - set(known))
        if unknown:
            parser.error(f"--methods {' '.join(unknown)}: unknown; choose from {', '.join(known)}")
        methods = {n: f for n, f in known.items() if n in args.methods or n == "Random"}
    seeds = [DEV_SEED_BASE * args.dev + args.first_seed + s for s in range(args.seeds)]
    report: dict[str, list[dict[str, dict[str, float | bool]]]] = {}
    for problem in problems(args.heldout_problems, args.more_digits, args.table):
        if args.problems and problem.name not in args.problems:
            continue
        report[problem.name] = [run_seed(problem, seed, methods) for seed in seeds]
        summarise(problem, report[problem.name])
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"seeds": seeds, "results": report}, indent=1))
    print(f"\nper-seed results: {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

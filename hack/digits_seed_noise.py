"""How much of the digits learning-curve table's accuracy is the trainer seed's draw?

The table (``hack/bench/data/digits-curves.jsonl.gz``) holds one run per configuration, at
the trainer's default seed 42. ``select`` writes the indices to re-record: the 30 best by
final (last-epoch) accuracy and 30 drawn at random (fixed seed) from the rest; the real
trainer then runs them at seeds 1, 2, 3 (``hack/record_learning_curves.py --indices
... --trainer-seeds 1 2 3``). ``report`` compares the seeds.

Usage (from the repository root)::

    PYTHONSAFEPATH=1 .venv/bin/python hack/digits_seed_noise.py select
    OMP_NUM_THREADS=1 MXNET_CPU_WORKER_NTHREADS=1 PYTHONSAFEPATH=1 nice -n 15 \\
        .venv-trainer/bin/python hack/record_learning_curves.py \\
        --indices hack/bench/data/digits-seed-indices.txt --trainer-seeds 1 2 3 \\
        --out hack/bench/data/digits-seed-curves.jsonl.gz
    PYTHONSAFEPATH=1 OMP_NUM_THREADS=1 .venv/bin/python hack/digits_seed_noise.py report
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import statistics
import sys
from pathlib import Path

# Safe-path mode keeps hack/ off sys.path; the sibling package hack/bench is ours.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import scipy.stats
from bench.curves import DATA, Curve, Params, digits_problem, load_table

INDICES = DATA / "digits-seed-indices.txt"
RERUNS = DATA / "digits-seed-curves.jsonl.gz"
TOP, RANDOM, SELECTION_SEED = 30, 30, 0
EARLY_EPOCHS = (1, 3, 9)
SEEDS = (1, 2, 3)  # the trainer seeds of the re-recording (the table's is 42)
COLLAPSED = 0.5  # final accuracy of a run that diverged or nearly so
BENCH_SEEDS = 20  # hack/bench_hyperband.py's held-out seeds 0-19


def select(records: list[dict[str, object]]) -> tuple[list[int], list[int]]:
    """The TOP best by final accuracy (ties by index) and RANDOM others at random."""
    ranked = sorted(records, key=lambda r: (-float(r["accuracy"][-1]), int(r["index"])))  # type: ignore[index, call-overload]
    top = [int(r["index"]) for r in ranked[:TOP]]  # type: ignore[call-overload]
    rest = sorted(int(r["index"]) for r in ranked[TOP:])  # type: ignore[call-overload]
    drawn = np.random.default_rng(SELECTION_SEED).choice(rest, size=RANDOM, replace=False)
    return top, sorted(int(i) for i in drawn)


def load_reruns(path: Path = RERUNS) -> dict[int, dict[int, list[float]]]:
    """{table index: {trainer seed: accuracy per epoch}}."""
    out: dict[int, dict[int, list[float]]] = {}
    with gzip.open(path, "rt") as file:
        for line in file:
            if line.strip():
                record = json.loads(line)
                out.setdefault(record["index"], {})[record["trainer_seed"]] = record["accuracy"]
    return out


def spearman(a: list[float], b: list[float]) -> float:
    return float(scipy.stats.spearmanr(a, b).statistic)


def table_cells(records: list[dict[str, object]]) -> dict[tuple[float, ...], list[int]]:
    """{a recorded curve (losses): the table indices with that curve}."""
    cells: dict[tuple[float, ...], list[int]] = {}
    for r in records:
        loss = tuple(1.0 - np.array(r["accuracy"], dtype=float))
        cells.setdefault(loss, []).append(int(r["index"]))  # type: ignore[call-overload]
    return cells


def random_search_bests(records: list[dict[str, object]], seeds: range) -> list[list[int]]:
    """Per seed, the table indices of the configurations whose final accuracy is Random
    search's level (its best after 120 full trials, as ``hack/bench_hyperband.py``
    computes it): several where trials of different configurations tie at the level."""
    from bench_hyperband import random_search  # noqa: PLC0415 (imports the optimizer)

    problem, cells = digits_problem(records), table_cells(records)
    bests = []
    for seed in seeds:
        started: list[tuple[float, ...]] = []  # the curve of every trial started

        def curve(params: Params, rng: np.random.Generator) -> Curve:
            found = problem.curve(params, rng)
            started.append(tuple(found.true))  # noqa: B023 (used before the next seed)
            return found

        run = random_search(dataclasses.replace(problem, curve=curve), seed)
        level = run.progress[-1].best_true
        bests.append(sorted({i for c in started if abs(c[-1] - level) < 1e-12 for i in cells[c]}))
    return bests


def cell_shares(records: list[dict[str, object]], n: int = 20000) -> dict[int, float]:
    """{table index: the share of the search space (as Random search samples it) that the
    benchmark maps to that configuration's curve (its nearest recorded neighbour)}."""
    from kubetune.optimizer import suggest  # noqa: PLC0415

    problem, cells = digits_problem(records), table_cells(records)
    counts: dict[int, int] = {}
    rng = np.random.default_rng(0)  # unused: a table curve has no noise
    for params in suggest(problem.space, [], strategy="Random", n=n, seed=SELECTION_SEED):
        index = cells[tuple(problem.curve(params, rng).true)][0]
        counts[index] = counts.get(index, 0) + 1
    return {index: count / n for index, count in counts.items()}


def points(values: list[float]) -> str:
    """Accuracies as percentage points: mean ± sd over the list."""
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def report_noise(
    table: dict[int, list[float]], finals: dict[int, list[float]], groups: dict[str, list[int]]
) -> None:
    print("final accuracy (%, epoch 27) by trainer seed; sd across seeds per configuration:")
    for name, indices in groups.items():
        sd13 = [statistics.stdev(finals[i]) for i in indices]
        sd4 = [statistics.stdev([table[i][-1], *finals[i]]) for i in indices]
        at42 = [table[i][-1] for i in indices]
        mean13 = [statistics.mean(finals[i]) for i in indices]
        per_seed = ", ".join(
            f"seed {s}: {100 * statistics.mean(finals[i][k] for i in indices):.2f}"
            for k, s in enumerate(SEEDS)
        )
        print(
            f"  {name:9s} sd over seeds 1-3: mean {100 * statistics.mean(sd13):.2f}, median "
            f"{100 * statistics.median(sd13):.2f}, pooled "
            f"{100 * float(np.sqrt(np.mean(np.square(sd13)))):.2f}; over 42 and 1-3: mean "
            f"{100 * statistics.mean(sd4):.2f}"
        )
        print(
            f"  {name:9s} mean over configurations: seed 42 (the table) {points(at42)}; "
            f"seeds 1-3 averaged {points(mean13)} ({per_seed}); difference "
            f"{100 * (statistics.mean(at42) - statistics.mean(mean13)):+.2f}"
        )
        pairs = [(0, 1), (0, 2), (1, 2)]
        between = [
            spearman([finals[i][a] for i in indices], [finals[i][b] for i in indices])
            for a, b in pairs
        ]
        print(
            f"  {name:9s} Spearman: seed 42 vs mean of 1-3 {spearman(at42, mean13):+.2f}; "
            f"one seed vs another among 1-3 {statistics.mean(between):+.2f} "
            f"({', '.join(f'{r:+.2f}' for r in between)})"
        )


def report_early(
    table: dict[int, list[float]], finals: dict[int, list[float]], groups: dict[str, list[int]]
) -> None:
    print("Spearman of the table's accuracy at an early epoch (seed 42) with the final accuracy")
    print("at seed 42 (same run) / averaged over seeds 1-3 (other runs):")
    for name, indices in groups.items():
        cells = []
        for epoch in EARLY_EPOCHS:
            early = [table[i][epoch - 1] for i in indices]
            same = spearman(early, [table[i][-1] for i in indices])
            other = spearman(early, [statistics.mean(finals[i]) for i in indices])
            cells.append(f"epoch {epoch}: {same:+.2f} / {other:+.2f}")
        print(f"  {name:9s} " + "; ".join(cells))


def report_level(
    records: list[dict[str, object]],
    table: dict[int, list[float]],
    finals: dict[int, list[float]],
    top: list[int],
) -> None:
    bests, shares = random_search_bests(records, range(BENCH_SEEDS)), cell_shares(records)
    print(f"Random@120's level (bench seeds 0-{BENCH_SEEDS - 1}) and its configuration, retrained:")
    levels, retrained, reach, shares_reaching = [], [], [], []
    for seed, indices in enumerate(bests):
        level = table[indices[0]][-1]
        levels.append(level)
        # the share of the top 30's runs at seeds 1-3 as good as the level
        runs = [a for i in top for a in finals[i]]
        reach.append(sum(a >= level - 1e-9 for a in runs) / len(runs))
        cells = "; ".join(
            f"configuration {i} ({100 * shares.get(i, 0.0):.2f} %) at seeds 1-3 "
            + (", ".join(f"{100 * a:.2f}" for a in finals[i]) if i in finals else "not re-recorded")
            for i in indices
        )
        # what reaches the level in the benchmark: any configuration at least that good at
        # seed 42; how much of the space that is, and how good it is at seeds 1-3
        region = [i for i in table if table[i][-1] >= level - 1e-9]
        share = sum(shares.get(i, 0.0) for i in region)
        again = [statistics.mean(finals[i]) for i in region if i in finals]
        print(
            f"  seed {seed:2d}: level {100 * level:.2f} (seed 42), reached by {len(region)} "
            f"configurations, {100 * share:.2f} % of the space, at seeds 1-3 "
            f"{100 * statistics.mean(again):.2f} on average; {cells}"
        )
        shares_reaching.append(share)
        known = [statistics.mean(finals[i]) for i in indices if i in finals]
        if known:
            retrained.append(statistics.mean(known))
    print(
        f"  level at seed 42 {points(levels)}; its configurations at seeds 1-3 (mean of the "
        f"three, of the tied ones) {points(retrained)} over {len(retrained)} seeds; distinct "
        f"configurations: {len({i for indices in bests for i in indices})}"
    )
    below = [k for k, level in enumerate(levels) if level < max(t[-1] for t in table.values())]
    print(
        f"  the {len(below)} seeds whose level is below the table's best: level "
        f"{points([levels[k] for k in below])}, retrained {points([retrained[k] for k in below])}"
    )
    print(
        f"  share of the space at or above the level (seed 42): median "
        f"{100 * statistics.median(shares_reaching):.2f} %, mean "
        f"{100 * statistics.mean(shares_reaching):.2f} %"
    )
    print(
        f"  share of the top 30's runs at seeds 1-3 that reach the level: mean "
        f"{100 * statistics.mean(reach):.1f} % (per bench seed {100 * min(reach):.1f}-"
        f"{100 * max(reach):.1f} %)"
    )
    ranked = sorted(top, key=lambda i: -statistics.mean(finals[i]))
    print("  the 5 best top-30 configurations by seeds 1-3, and the share of the space better")
    print("  than each at the early epochs (seed 42; a rung keeps the top third):")
    for i in ranked[:5]:
        better = [
            sum(shares.get(j, 0.0) for j in table if table[j][epoch - 1] > table[i][epoch - 1])
            for epoch in EARLY_EPOCHS
        ]
        print(
            f"    {i:3d}: {100 * statistics.mean(finals[i]):.2f} (seed 42 "
            f"{100 * table[i][-1]:.2f}), {100 * shares.get(i, 0.0):.2f} % of the space; better "
            f"at epochs {'/'.join(map(str, EARLY_EPOCHS))}: "
            + " / ".join(f"{100 * b:.0f} %" for b in better)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["select", "report"])
    args = parser.parse_args()
    records = load_table()
    top, others = select(records)
    if args.command == "select":
        INDICES.write_text("".join(f"{i}\n" for i in top + others))
        print(f"wrote {len(top)} + {len(others)} indices to {INDICES}")
        return 0
    table = {int(r["index"]): list(r["accuracy"]) for r in records}  # type: ignore[call-overload]
    reruns = load_reruns()
    finals = {
        i: [reruns[i][s][-1] for s in SEEDS]
        for i in top + others
        if set(SEEDS) <= set(reruns.get(i, {}))
    }
    short = sum(len(reruns[i][s]) < len(table[i]) for i in finals for s in SEEDS)
    print(
        f"{len(finals)} of {len(top) + len(others)} configurations re-recorded at seeds "
        f"{SEEDS}; {short} runs diverged"
    )
    groups = {
        "top 30": [i for i in top if i in finals],
        "random 30": [i for i in others if i in finals],
        "all 60": [i for i in top + others if i in finals],
    }
    # a configuration near the edge of stability can diverge at another seed (accuracy near
    # chance): a different failure from noise, so the top 30 are also shown without them
    collapsed = [i for i in groups["top 30"] if min(finals[i]) < COLLAPSED]
    groups["top stable"] = [i for i in groups["top 30"] if i not in collapsed]
    print(f"top 30 below {100 * COLLAPSED:.0f} % at some seed 1-3: {collapsed}")
    groups = {name: indices for name, indices in groups.items() if len(indices) >= 3}
    report_noise(table, finals, groups)
    report_early(table, finals, groups)
    report_level(records, table, finals, groups["top 30"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

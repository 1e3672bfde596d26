"""Record the learning-curve table that ``make bench-hyperband`` replays.

Runs the real MXNet trainer (``trainer-image/train.py``, its ``digits`` CPU task) for
random configurations of its hyperparameters, each for the full number of epochs, and
reads the per-epoch line it prints (``epoch N train: loss=L validation: accuracy=A ...``).
One process imports MXNet once and calls the trainer's ``main`` per configuration (the
same code path as ``python3 train.py --name=value ...``), which saves the seconds of MXNet
start-up per run. Each finished configuration is appended at once, as one gzip member
holding one JSON line, so an interrupted recording leaves a usable partial table and a
rerun continues where it stopped.

Usage (the trainer's virtual environment, MXNet + numpy<1.24)::

    nice -n 15 .venv-trainer/bin/python hack/record_learning_curves.py \
        [--task digits-mxnet] [--configs 317] [--epochs 27] [--out FILE]
        [--indices FILE --trainer-seeds 1 2 3] [--first-index 317]

A task (``hack/bench/tables.py``: ``digits-mxnet``, the default, ``digits200-mxnet`` or
``digits1000-mxnet``)
fixes the training images, the search space and the sequence's seed; ``--out`` defaults
to its table.

Each record: ``{"index", "params", "accuracy": [per epoch], "loss": [per epoch],
"seconds": [CPU seconds per epoch]}``. A diverged run stops early (the trainer ends after
the epoch whose loss is not finite), so its lists are shorter than ``epochs``.

The configurations are drawn in one sequence from a fixed seed, so ``--configs 2000
--first-index 317 --out hack/bench/data/digits-curves-more.jsonl.gz`` recorded the
configurations that follow the table's 317 (``bench_hyperband.py --more-digits`` replays
the 2,000 together).

The table was recorded at the trainer's default seed (42). To measure how much of a
configuration's accuracy is that seed's draw, ``--indices FILE`` (table indices, one per
line) re-records only those configurations and ``--trainer-seeds`` at other trainer seeds
(weight initialisation and shuffling; the validation split never changes); such records
carry ``"trainer_seed"``. ``hack/digits_seed_noise.py`` chooses the indices and reports.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib.util
import io
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# Safe-path mode keeps hack/ off sys.path; the sibling package hack/bench is ours.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.tables import DIGITS, TASKS, TableTask

ROOT = Path(__file__).resolve().parent.parent
TRAINER = ROOT / "trainer-image" / "train.py"
EPOCH_LINE = re.compile(r"^epoch (\d+) train: loss=(\S+) validation: accuracy=([0-9.]+)")


def sample_configs(n: int, task: TableTask = DIGITS) -> list[dict[str, Any]]:
    rng = np.random.default_rng(task.seed)

    def log_uniform(low: float, high: float) -> float:
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))

    low_batch, high_batch = task.batch_size
    configs = []
    for _ in range(n):
        configs.append(
            {
                "learning_rate": log_uniform(*task.learning_rate),
                "momentum": float(rng.uniform(*task.momentum)),
                "wd": log_uniform(*task.wd),
                "batch_size": round(log_uniform(low_batch - 0.5, high_batch + 0.5)),
                "model": task.models[int(rng.integers(len(task.models)))],
            }
        )
    return configs


class _TimedLines(io.TextIOBase):
    """A stdout that keeps each complete line with the process CPU time it was printed at
    (CPU time, not wall time: the machine is shared, wall time depends on the neighbours)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        now = time.process_time()
        self.lines.extend((now, line) for line in complete)
        return len(text)


def run_trainer(
    trainer: Any,
    params: dict[str, Any],
    epochs: int,
    train_samples: int,
    seed: int | None = None,
) -> dict[str, list[float]]:
    argv = [f"--{name}={value}" for name, value in params.items()]
    if seed is not None:  # else the trainer's default, as the table was recorded
        argv.append(f"--seed={seed}")
    argv += [
        "--dataset=digits",
        f"--epochs={epochs}",
        "--num_gpus=0",
        f"--max_train_samples={train_samples}",
    ]
    out = _TimedLines()
    started = time.process_time()
    with contextlib.redirect_stdout(out):
        status = trainer.main(argv, environ={})
    if status != 0:
        raise RuntimeError(f"trainer exited {status} for {argv}")
    curve: dict[str, list[float]] = {"accuracy": [], "loss": [], "seconds": []}
    previous = None
    for at, line in out.lines:
        match = EPOCH_LINE.match(line)
        if match is None:
            if line.startswith("data: "):
                previous = at  # epoch 1 starts after the data is loaded
            continue
        curve["accuracy"].append(float(match.group(3)))
        curve["loss"].append(float(match.group(2)))
        curve["seconds"].append(round(at - (previous if previous is not None else started), 4))
        previous = at
    return curve


def recorded_runs(path: Path) -> set[tuple[int, int | None]]:
    """(index, trainer seed or None for the default) of every complete record."""
    if not path.exists():
        return set()
    done = set()
    try:
        with gzip.open(path, "rt") as file:
            for line in file:
                if line.strip():
                    record = json.loads(line)
                    done.add((record["index"], record.get("trainer_seed")))
    except (EOFError, OSError):  # a member cut short by a kill: keep what read
        pass
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=TASKS, default=DIGITS.name)
    parser.add_argument("--configs", type=int, default=317)
    parser.add_argument("--epochs", type=int, default=27)
    parser.add_argument("--out", type=Path, help="default: the task's table")
    parser.add_argument(
        "--indices", type=Path, help="record only these table indices (a file, one a line)"
    )
    parser.add_argument(
        "--trainer-seeds", type=int, nargs="+", help="trainer seeds (default: its own, 42)"
    )
    parser.add_argument(
        "--first-index", type=int, default=0, help="skip the configurations before this one"
    )
    args = parser.parse_args()
    task = TASKS[args.task]
    out: Path = args.out or task.path
    configs = sample_configs(args.configs, task)
    wanted = list(range(args.first_index, len(configs)))
    if args.indices is not None:
        wanted = [int(word) for word in args.indices.read_text().split()]
    seeds: list[int | None] = list(args.trainer_seeds or [None])

    spec = importlib.util.spec_from_file_location("kubetune_trainer", TRAINER)
    assert spec is not None and spec.loader is not None
    trainer = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = trainer  # its dataclasses look their module up there
    spec.loader.exec_module(trainer)

    out.parent.mkdir(parents=True, exist_ok=True)
    done = recorded_runs(out)
    for index, seed in ((i, s) for i in wanted for s in seeds):
        if (index, seed) in done:
            continue
        params = configs[index]
        started = time.monotonic()
        curve = run_trainer(trainer, params, args.epochs, task.train_samples, seed)
        record = {"index": index, "params": params, **curve}
        if seed is not None:
            record["trainer_seed"] = seed
        with gzip.open(out, "at") as file:  # one gzip member per record
            file.write(json.dumps(record) + "\n")
        print(
            f"{index} (seed {'default' if seed is None else seed}): {params} -> final accuracy "
            f"{curve['accuracy'][-1]:.4f} after "
            f"{len(curve['accuracy'])} epochs, {sum(curve['seconds']):.1f} s CPU "
            f"({time.monotonic() - started:.1f} s wall)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

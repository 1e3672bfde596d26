"""The learning-curve tables recorded from the real MXNet trainer: what each task trains
and the search space its configurations were drawn from. One declaration for the recorder
(``hack/record_learning_curves.py``, run by the trainer's virtual environment, so nothing
here imports kubetune) and for the problems that replay the tables
(``hack/bench/curves.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class TableTask:
    name: str  # the problem's name in bench-hyperband
    file: str  # the table, under DATA
    # The trainer trains on the first train_samples digits images and validates on the
    # fixed 359: a CPU-sized task where the hyperparameters and the epochs matter.
    train_samples: int
    seed: int  # of the configuration sequence
    learning_rate: tuple[float, float]  # log-uniform
    momentum: tuple[float, float]  # uniform
    wd: tuple[float, float]  # log-uniform
    batch_size: tuple[int, int]  # log-uniform integers
    models: tuple[str, ...] = ("small-cnn", "mlp")

    @property
    def path(self) -> Path:
        return DATA / self.file


# Fewer training images than digits has (on all 1438 nearly every configuration ends
# above 97 %).
DIGITS = TableTask(
    name="digits-mxnet",
    file="digits-curves.jsonl.gz",
    train_samples=500,
    seed=2026,
    learning_rate=(1e-3, 1.0),
    momentum=(0.0, 0.99),
    wd=(1e-6, 1e-2),
    batch_size=(16, 256),
)
# The configurations that follow the table's 317 in the same sequence (2,000 in all).
DIGITS_MORE_FILE = "digits-curves-more.jsonl.gz"

# A second task, declared before any tuner ran on it: 200 training images instead of 500,
# wider ranges for the learning rate (down to 1e-4, too small to learn much in 27 epochs)
# and the weight decay (up to 0.1), smaller batches (a batch of 256 would be more than the
# training set), and another sequence.
DIGITS_200 = TableTask(
    name="digits200-mxnet",
    file="digits200-curves.jsonl.gz",
    train_samples=200,
    seed=2027,
    learning_rate=(1e-4, 1.0),
    momentum=(0.0, 0.99),
    wd=(1e-6, 1e-1),
    batch_size=(8, 128),
)

# A third task, declared before any tuner ran on it, to check on a larger training set
# what the first two decided: 1,000 training images, the learning rate down to 1e-4, the
# first task's other ranges, and another sequence.
DIGITS_1000 = TableTask(
    name="digits1000-mxnet",
    file="digits1000-curves.jsonl.gz",
    train_samples=1000,
    seed=2028,
    learning_rate=(1e-4, 1.0),
    momentum=(0.0, 0.99),
    wd=(1e-6, 1e-2),
    batch_size=(16, 256),
)

TASKS = {task.name: task for task in (DIGITS, DIGITS_200, DIGITS_1000)}

"""Learning-curve problems for ``hack/bench_hyperband.py``: a table recorded from the real
MXNet trainer, and synthetic families with known optima.

A problem maps a configuration to its learning curve: the loss (lower is better) after
each epoch 1..max_resource, and the seconds each epoch takes (the simulated clock). A
curve may be shorter than max_resource: the trainer stops a diverged run early. Synthetic
curves carry observation noise, drawn per trial from the simulation's seed; their ``true``
curve is the noiseless one, by which results are scored.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bench.problems import hartmann6, levy
from bench.tables import DATA, DIGITS, DIGITS_MORE_FILE, TableTask
from kubetune.optimizer import Categorical, Continuous, Integer, ParamValue, SearchSpace

Params = dict[str, ParamValue]
DIGITS_TABLE = DIGITS.path
# The 1,683 configurations recorded after the table's 317, the same way (2,000 in all).
DIGITS_TABLE_MORE = DATA / DIGITS_MORE_FILE
# The synthetic families' observation noise (standard deviation of the loss per epoch).
NOISE = 0.02


@dataclass(frozen=True)
class Curve:
    """observed and true: losses after each epoch (t,); seconds: duration of each (t,)."""

    observed: np.ndarray
    true: np.ndarray
    seconds: np.ndarray


@dataclass(frozen=True)
class CurveProblem:
    name: str
    space: SearchSpace
    max_resource: int
    # (params, noise generator of this trial) -> its curve
    curve: Callable[[Params, np.random.Generator], Curve]
    optimum: float  # the lowest true final loss (synthetic: exact; table: best recorded)


# --------------------------------------------------------------------------- the table


def load_table(path: Path = DIGITS_TABLE) -> list[dict[str, object]]:
    """The recorded runs (see hack/record_learning_curves.py), in recording order."""
    with gzip.open(path, "rt") as file:
        records = [json.loads(line) for line in file if line.strip()]
    return sorted(records, key=lambda r: int(r["index"]))


def table_space(task: TableTask) -> SearchSpace:
    """The space the task's configurations were drawn from, declared to the tuners."""
    return SearchSpace(
        [
            Continuous("learning_rate", *task.learning_rate, "Logarithmic"),
            Continuous("momentum", *task.momentum, "Linear"),
            Continuous("wd", *task.wd, "Logarithmic"),
            Integer("batch_size", *task.batch_size, "Logarithmic"),
            Categorical("model", list(task.models)),
        ]
    )


def _unit(params: Params, task: TableTask) -> np.ndarray:
    """The numeric parameters in [0, 1]^4, log-scaled where the table was sampled so."""

    def log_unit(value: object, low: float, high: float) -> float:
        return (math.log(float(value)) - math.log(low)) / (math.log(high) - math.log(low))  # type: ignore[arg-type]

    low_momentum, high_momentum = task.momentum
    return np.array(
        [
            log_unit(params["learning_rate"], *task.learning_rate),
            (float(params["momentum"]) - low_momentum) / (high_momentum - low_momentum),  # type: ignore[arg-type]
            log_unit(params["wd"], *task.wd),
            log_unit(params["batch_size"], *task.batch_size),
        ]
    )


def digits_problem(
    records: list[dict[str, object]], task: TableTask = DIGITS, name: str | None = None
) -> CurveProblem:
    """A recorded table as a problem: a configuration gets the curve of the nearest
    recorded one with the same model (Syne Tune's nearest-neighbour surrogate on a
    tabulated benchmark), so every tuner can search the continuous space."""
    by_model: dict[str, tuple[np.ndarray, list[Curve]]] = {}
    for model in task.models:
        rows = [r for r in records if r["params"]["model"] == model]  # type: ignore[index]
        points = np.array([_unit(r["params"], task) for r in rows]).reshape(-1, 4)  # type: ignore[arg-type]
        curves = []
        for r in rows:
            loss = 1.0 - np.array(r["accuracy"], dtype=float)  # error rate
            curves.append(Curve(loss, loss, np.array(r["seconds"], dtype=float)))
        by_model[model] = (points, curves)

    def curve(params: Params, rng: np.random.Generator) -> Curve:
        points, curves = by_model[str(params["model"])]
        nearest = int(np.argmin(((points - _unit(params, task)) ** 2).sum(axis=1)))
        return curves[nearest]

    max_resource = max(len(r["accuracy"]) for r in records)  # type: ignore[arg-type]
    finals = [
        1.0 - float(r["accuracy"][-1])  # type: ignore[index]
        for r in records
        if len(r["accuracy"]) == max_resource  # type: ignore[arg-type]
    ]
    return CurveProblem(name or task.name, table_space(task), max_resource, curve, min(finals))


# --------------------------------------------------------------------------- synthetic


def _hartmann3(x: np.ndarray) -> float:
    A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
    P = 1e-4 * np.array(
        [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
    )
    alpha = np.array([1.0, 1.2, 3.0, 3.2])
    return float(-np.sum(alpha * np.exp(-np.sum(A * (x - P) ** 2, axis=1))))


HARTMANN3_MIN = -3.86278


def _noisy(true: np.ndarray, seconds: np.ndarray, rng: np.random.Generator) -> Curve:
    return Curve(true + rng.normal(0.0, NOISE, size=len(true)), true, seconds)


def powerlaw_problem(max_resource: int = 27) -> CurveProblem:
    """Hartmann-3 (plus a cost parameter) reached along a power law: the loss after r
    epochs is f(x) + c(x)·((R/r)^β(x) − 1)/(R^β(x) − 1), which falls from f(x) + c(x) at
    r = 1 to exactly f(x) at r = R. The speed β and the head start c vary with x, so early
    ranks are informative but imperfect. ``width`` makes epochs slower and adds nothing."""
    space = SearchSpace(
        [
            Continuous("x1", 0.0, 1.0),
            Continuous("x2", 0.0, 1.0),
            Continuous("x3", 0.0, 1.0),
            Integer("width", 1, 8),
        ]
    )
    epochs = np.arange(1, max_resource + 1, dtype=float)

    def curve(params: Params, rng: np.random.Generator) -> Curve:
        x = np.array([float(params["x1"]), float(params["x2"]), float(params["x3"])])
        final = _hartmann3(x)
        beta = 0.3 + 1.5 * x[1]
        head = 1.0 + 2.0 * (1.0 - x[0]) ** 2
        excess = head * ((max_resource / epochs) ** beta - 1.0) / (max_resource**beta - 1.0)
        seconds = np.full(max_resource, 0.5 + 0.25 * int(params["width"]))
        return _noisy(final + excess, seconds, rng)

    return CurveProblem("powerlaw-hartmann3", space, max_resource, curve, HARTMANN3_MIN)


BRANIN_MIN = 0.397887


def _branin_unit(u: float, v: float) -> float:
    x, y = 15.0 * u - 5.0, 15.0 * v
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def crossing_problem(max_resource: int = 27) -> CurveProblem:
    """Curves that cross, as learning rates make them: the final loss is Branin/10 plus
    a penalty (log10 lr + 2)²/4 away from lr = 0.01 and a small one for large batches, but
    a large learning rate learns fastest (time constant R·10^(−(log10 lr + 4)/4)), so a
    configuration that looks best after one epoch is often not the best after R. Small
    batches make epochs slower."""
    space = SearchSpace(
        [
            Continuous("u", 0.0, 1.0),
            Continuous("v", 0.0, 1.0),
            Continuous("learning_rate", 1e-4, 1.0, "Logarithmic"),
            Integer("batch_size", 16, 256, "Logarithmic"),
        ]
    )
    epochs = np.arange(1, max_resource + 1, dtype=float)

    def curve(params: Params, rng: np.random.Generator) -> Curve:
        decade = math.log10(float(params["learning_rate"]))
        batch = int(params["batch_size"])
        final = (
            _branin_unit(float(params["u"]), float(params["v"])) / 10.0
            + (decade + 2.0) ** 2 / 4.0
            + 0.05 * math.log2(batch / 16)
        )
        tau = max_resource * 10.0 ** (-(decade + 4.0) / 4.0)
        true = final + 3.0 * (np.exp(-epochs / tau) - math.exp(-max_resource / tau))
        seconds = np.full(max_resource, 0.3 + 16.0 / batch)
        return _noisy(true, seconds, rng)

    return CurveProblem("crossing-branin", space, max_resource, curve, BRANIN_MIN / 10.0)


# --------------------------------------------------------------------------- held out
# Three more families, added after the samplers were designed and never used to tune
# them (`bench_hyperband.py --heldout-problems`): other test functions, more dimensions,
# categorical parameters and a longer budget than the families above.

_OPTIMIZER_PENALTY = {"sgd": 0.0, "adam": 0.15, "rmsprop": 0.4}


def powerlaw6_problem(max_resource: int = 81) -> CurveProblem:
    """Hartmann-6 plus a categorical optimizer's penalty, reached along a power law as in
    :func:`powerlaw_problem` (adam learns faster), over 81 epochs (rungs 1, 3, 9, 27)."""
    space = SearchSpace(
        [
            *(Continuous(f"x{i}", 0.0, 1.0) for i in range(6)),
            Categorical("optimizer", list(_OPTIMIZER_PENALTY)),
        ]
    )
    epochs = np.arange(1, max_resource + 1, dtype=float)

    def curve(params: Params, rng: np.random.Generator) -> Curve:
        optimizer = str(params["optimizer"])
        final = hartmann6(params) + _OPTIMIZER_PENALTY[optimizer]
        beta = 0.3 + 1.2 * float(params["x3"]) + (0.5 if optimizer == "adam" else 0.0)
        head = 1.0 + 2.0 * (1.0 - float(params["x5"])) ** 2
        excess = head * ((max_resource / epochs) ** beta - 1.0) / (max_resource**beta - 1.0)
        return _noisy(final + excess, np.ones(max_resource), rng)

    return CurveProblem("heldout-powerlaw-hartmann6", space, max_resource, curve, -3.32237)


def crossing_levy_problem(max_resource: int = 27) -> CurveProblem:
    """Levy-3 on [-10, 10]³ (many local minima) with crossing curves as in
    :func:`crossing_problem`, a wider learning-rate range and another best rate (10^-2.5)."""
    space = SearchSpace(
        [
            *(Continuous(f"x{i}", -10.0, 10.0) for i in range(3)),
            Continuous("learning_rate", 1e-5, 1.0, "Logarithmic"),
            Integer("batch_size", 8, 512, "Logarithmic"),
        ]
    )
    epochs = np.arange(1, max_resource + 1, dtype=float)

    def curve(params: Params, rng: np.random.Generator) -> Curve:
        decade = math.log10(float(params["learning_rate"]))
        batch = int(params["batch_size"])
        x = np.array([float(params[f"x{i}"]) for i in range(3)])
        final = levy(x) / 10 + (decade + 2.5) ** 2 / 6 + 0.03 * math.log2(batch / 8)
        tau = max_resource * 10.0 ** (-(decade + 5.0) / 5.0)
        true = final + 3.0 * (np.exp(-epochs / tau) - math.exp(-max_resource / tau))
        return _noisy(true, np.full(max_resource, 0.3 + 16.0 / batch), rng)

    return CurveProblem("heldout-crossing-levy3", space, max_resource, curve, 0.0)


# model -> (final-loss penalty, slowness): the best model learns slowest.
_MODELS = {"resnet": (0.0, 2.0), "cnn": (0.25, 1.0), "mlp": (0.6, 0.4)}


def slowstart_ackley_problem(max_resource: int = 27) -> CurveProblem:
    """Ackley-2 on [-5, 5]² (a narrow basin among bumps) plus a categorical model and a
    dropout rate; the best model and high dropout learn slowest."""
    space = SearchSpace(
        [
            Continuous("a", -5.0, 5.0),
            Continuous("b", -5.0, 5.0),
            Continuous("dropout", 0.0, 0.9),
            Categorical("model", list(_MODELS)),
        ]
    )
    epochs = np.arange(1, max_resource + 1, dtype=float)

    def curve(params: Params, rng: np.random.Generator) -> Curve:
        a, b = float(params["a"]), float(params["b"])
        ackley = (
            -20 * math.exp(-0.2 * math.sqrt(0.5 * (a * a + b * b)))
            - math.exp(0.5 * (math.cos(2 * math.pi * a) + math.cos(2 * math.pi * b)))
            + math.e
            + 20
        )
        penalty, slowness = _MODELS[str(params["model"])]
        dropout = float(params["dropout"])
        final = ackley / 5 + penalty + 2 * (dropout - 0.3) ** 2
        tau = 2 + max_resource * slowness * (0.3 + dropout) / 1.2
        true = final + 2.5 * (np.exp(-epochs / tau) - math.exp(-max_resource / tau))
        return _noisy(true, np.full(max_resource, 0.5 + slowness), rng)

    return CurveProblem("heldout-slowstart-ackley2", space, max_resource, curve, 0.0)


def heldout_problems() -> list[CurveProblem]:
    return [slowstart_ackley_problem(), powerlaw6_problem(), crossing_levy_problem()]

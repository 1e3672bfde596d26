"""Benchmark problems for ``hack/bench_optimizer.py``: synthetic functions with known optima
and cheap scikit-learn tuning tasks on datasets shipped inside scikit-learn.

Every problem maps a parameter dict to (observed value, true value); they differ only for
the noisy problem, which is scored by the true value of the point a user would pick (the
one with the best observed value).
"""

# Optional baselines and scikit-learn are imported where used: the harness runs without them.
# ruff: noqa: PLC0415

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from kubetune.optimizer import Categorical, Continuous, Integer, ParamValue, SearchSpace

Params = dict[str, ParamValue]


@dataclass(frozen=True)
class Problem:
    """A minimisation problem. ``optimum`` is None when unknown (then: best seen by any run)."""

    name: str
    space: SearchSpace
    evaluate: Callable[[Params, np.random.Generator], tuple[float, float]]
    optimum: float | None
    real: bool = False


def _deterministic(
    f: Callable[[Params], float],
) -> Callable[[Params, np.random.Generator], tuple[float, float]]:
    def evaluate(params: Params, rng: np.random.Generator) -> tuple[float, float]:
        value = f(params)
        return value, value

    return evaluate


def _vector(params: Params, names: list[str]) -> np.ndarray:
    return np.array([float(params[n]) for n in names])


def branin(p: Params) -> float:
    x, y = float(p["x"]), float(p["y"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann(x: np.ndarray, A: np.ndarray, P: np.ndarray) -> float:
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(A * (x - P) ** 2, axis=1))))


H6_NAMES = [f"x{i}" for i in range(6)]
H3_NAMES = [f"x{i}" for i in range(3)]


def hartmann6(p: Params) -> float:
    return _hartmann(_vector(p, H6_NAMES), _H6_A, _H6_P)


ROSEN_NAMES = [f"p{i}" for i in range(4)]


def log_rosenbrock(p: Params) -> float:
    """log(1 + Rosenbrock(log10 p)): parameters spread over four decades, minimum at p = 10."""
    x = np.log10(_vector(p, ROSEN_NAMES))
    return math.log1p(float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)))


ACKLEY_NAMES = [f"x{i}" for i in range(5)]


def ackley(p: Params) -> float:
    x = _vector(p, ACKLEY_NAMES)
    d = len(x)
    return float(
        -20 * math.exp(-0.2 * math.sqrt(np.sum(x * x) / d))
        - math.exp(np.sum(np.cos(2 * math.pi * x)) / d)
        + 20
        + math.e
    )


_MIXED_OFFSETS = {"a": 0.6, "b": 0.0, "c": 0.3, "d": 1.0}


def mixed(p: Params) -> float:
    """Integer, log-integer, categorical and continuous, with an interaction; minimum 0."""
    layers, units, act, drop = int(p["layers"]), int(p["units"]), str(p["act"]), float(p["drop"])
    return (
        (layers - 4) ** 2 / 9
        + math.log2(units / 64) ** 2 / 4
        + _MIXED_OFFSETS[act]
        + (drop - (0.2 if act == "b" else 0.6)) ** 2 * 4
    )


def _noisy_hartmann3(p: Params, rng: np.random.Generator) -> tuple[float, float]:
    true = _hartmann(_vector(p, H3_NAMES), _H3_A, _H3_P)
    return true + 0.1 * float(rng.standard_normal()), true


def synthetic_problems() -> list[Problem]:
    unit6 = [Continuous(n, 0.0, 1.0) for n in H6_NAMES]
    return [
        Problem(
            "branin",
            SearchSpace([Continuous("x", -5.0, 10.0), Continuous("y", 0.0, 15.0)]),
            _deterministic(branin),
            0.397887,
        ),
        Problem("hartmann6", SearchSpace(unit6), _deterministic(hartmann6), -3.32237),
        Problem(
            "log-rosenbrock4",
            SearchSpace([Continuous(n, 1e-2, 1e2) for n in ROSEN_NAMES]),
            _deterministic(log_rosenbrock),
            0.0,
        ),
        Problem(
            "ackley5",
            SearchSpace([Continuous(n, -32.768, 32.768) for n in ACKLEY_NAMES]),
            _deterministic(ackley),
            0.0,
        ),
        Problem(
            "mixed-int-cat",
            SearchSpace(
                [
                    Integer("layers", 1, 12),
                    Integer("units", 4, 1024),
                    Categorical("act", list("abcd")),
                    Continuous("drop", 0.0, 1.0),
                ]
            ),
            _deterministic(mixed),
            0.0,
        ),
        Problem(
            "noisy-hartmann3",
            SearchSpace([Continuous(n, 0.0, 1.0) for n in H3_NAMES]),
            _noisy_hartmann3,
            -3.86278,
        ),
    ]


# --- scikit-learn tasks: 3-fold cross-validated error on small bundled datasets -------------


def _cv_error(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings are part of the landscape
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
        return 1.0 - float(np.mean(cross_val_score(model, X, y, cv=folds)))


def real_problems() -> list[Problem]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    digits_X, digits_y = load_digits(return_X_y=True)
    digits_X, digits_y = digits_X[:400] / 16.0, digits_y[:400]
    cancer_X, cancer_y = load_breast_cancer(return_X_y=True)
    wine_X, wine_y = load_wine(return_X_y=True)

    def svm(p: Params) -> float:
        model = SVC(C=float(p["C"]), gamma=float(p["gamma"]), kernel=str(p["kernel"]))
        return _cv_error(model, digits_X, digits_y)

    def forest(p: Params) -> float:
        model = RandomForestClassifier(
            n_estimators=int(p["n_estimators"]),
            max_depth=int(p["max_depth"]),
            min_samples_leaf=int(p["min_samples_leaf"]),
            max_features=float(p["max_features"]),
            criterion=str(p["criterion"]),
            random_state=0,
            n_jobs=1,
        )
        return _cv_error(model, cancer_X, cancer_y)

    def mlp(p: Params) -> float:
        model = make_pipeline(
            StandardScaler(),
            MLPClassifier(
                hidden_layer_sizes=(int(p["units"]),),
                alpha=float(p["alpha"]),
                learning_rate_init=float(p["lr"]),
                activation=str(p["activation"]),
                max_iter=30,
                random_state=0,
            ),
        )
        return _cv_error(model, wine_X, wine_y)

    def boosting(p: Params) -> float:
        model = GradientBoostingClassifier(
            n_estimators=int(p["n_estimators"]),
            learning_rate=float(p["learning_rate"]),
            max_depth=int(p["max_depth"]),
            subsample=float(p["subsample"]),
            random_state=0,
        )
        return _cv_error(model, cancer_X[:, :10], cancer_y)

    return [
        Problem(
            "svm-digits",
            SearchSpace(
                [
                    Continuous("C", 1e-3, 1e3),
                    Continuous("gamma", 1e-5, 1e0),
                    Categorical("kernel", ["rbf", "sigmoid"]),
                ]
            ),
            _deterministic(svm),
            None,
            real=True,
        ),
        Problem(
            "forest-cancer",
            SearchSpace(
                [
                    Integer("n_estimators", 2, 20),
                    Integer("max_depth", 1, 12),
                    Integer("min_samples_leaf", 1, 30),
                    Continuous("max_features", 0.05, 1.0),
                    Categorical("criterion", ["gini", "entropy"]),
                ]
            ),
            _deterministic(forest),
            None,
            real=True,
        ),
        Problem(
            "mlp-wine",
            SearchSpace(
                [
                    Integer("units", 2, 128),
                    Continuous("alpha", 1e-6, 1e1),
                    Continuous("lr", 1e-4, 1e0),
                    Categorical("activation", ["relu", "tanh", "logistic"]),
                ]
            ),
            _deterministic(mlp),
            None,
            real=True,
        ),
        Problem(
            "boosting-cancer",
            SearchSpace(
                [
                    Integer("n_estimators", 5, 30),
                    Continuous("learning_rate", 1e-3, 1e0),
                    Integer("max_depth", 1, 6),
                    Continuous("subsample", 0.3, 1.0),
                ]
            ),
            _deterministic(boosting),
            None,
            real=True,
        ),
    ]

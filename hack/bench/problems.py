"""Benchmark problems for ``hack/bench_optimizer.py``: synthetic functions with known optima
(2 to 20 dimensions, some with Gaussian observation noise of a stated standard deviation,
some mixing integers and categoricals) and cheap scikit-learn tuning tasks on data sets
shipped inside scikit-learn (no download at run time).

Every problem maps a parameter dict to (observed value, true value); they differ only for
the noisy problems, which are scored by the true value of the point a user would pick (the
one with the best observed value).

Baseline traces are cached under a key that hashes this file: changing any problem here
recomputes every baseline (hours of CPU). Add problems in new code rather than editing
existing ones.
"""

# Optional baselines and scikit-learn are imported where used: the harness runs without them.
# ruff: noqa: PLC0415

from __future__ import annotations

import hashlib
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


DIVERGING = "-diverging"


def diverging(problem: Problem) -> Problem:
    """``problem`` where training diverges: in the upper half of the ranges of both its
    first two parameters (a quarter of the space, as a learning rate and a momentum both
    too high; a Categorical's later values), the loss printed is huge but finite,
    (|f| + 1) x 10^(6..9), a deterministic draw per point (a trainer whose loss blew up)."""
    first, second = problem.space.parameters[:2]

    def high(p: Categorical | Continuous | Integer, value: ParamValue) -> bool:
        if isinstance(p, Categorical):
            return p.values.index(str(value)) >= len(p.values) / 2
        return float(value) > (p.min + p.max) / 2

    def evaluate(params: Params, rng: np.random.Generator) -> tuple[float, float]:
        observed, true = problem.evaluate(params, rng)
        if not (high(first, params[first.name]) and high(second, params[second.name])):
            return observed, true
        digest = hashlib.sha256(repr(sorted(params.items())).encode()).digest()
        blown = (abs(true) + 1.0) * 10 ** (6.0 + 3.0 * digest[0] / 255)
        return blown, blown

    return Problem(problem.name + DIVERGING, problem.space, evaluate, problem.optimum, problem.real)


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


def _noisy(
    f: Callable[[Params], float], sigma: float
) -> Callable[[Params, np.random.Generator], tuple[float, float]]:
    """Observed = true + N(0, sigma²): a trial's metric scatters, its true quality does not."""

    def evaluate(params: Params, rng: np.random.Generator) -> tuple[float, float]:
        true = f(params)
        return true + sigma * float(rng.standard_normal()), true

    return evaluate


def _names(n: int) -> list[str]:
    return [f"x{i}" for i in range(n)]


def levy(x: np.ndarray) -> float:
    """Levy function on [-10, 10]^d; minimum 0 at x = 1."""
    w = 1 + (x - 1) / 4
    middle = (w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2)
    return float(
        math.sin(math.pi * w[0]) ** 2
        + np.sum(middle)
        + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    )


def rosenbrock(x: np.ndarray) -> float:
    """Rosenbrock on a linear scale, [-5, 10]^d; minimum 0 at x = 1."""
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def styblinski_tang(x: np.ndarray) -> float:
    """Styblinski-Tang on [-5, 5]^d; minimum -39.166165703771 d at x = -2.903534."""
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def michalewicz(x: np.ndarray) -> float:
    """Michalewicz (m = 10) on [0, π]^d; minimum -4.687658 for d = 5."""
    i = np.arange(1, len(x) + 1)
    return float(-np.sum(np.sin(x) * np.sin(i * x * x / math.pi) ** 20))


def _on_vector(g: Callable[[np.ndarray], float], names: list[str]) -> Callable[[Params], float]:
    return lambda p: g(_vector(p, names))


# Hartmann-6 hidden in 20 dimensions: 14 of them do nothing (the high-dimensional case).
H6_IN_20_ACTIVE = [2, 5, 8, 11, 14, 17]


def hartmann6_in_20(p: Params) -> float:
    return _hartmann(_vector(p, _names(20))[H6_IN_20_ACTIVE], _H6_A, _H6_P)


# Mixed Levy: the categorical adds an offset and moves the optimum of a continuous input.
_LEVY_CAT_OFFSET = {"a": 0.4, "b": 0.0, "c": 0.8}
_LEVY_CAT_SHIFT = {"a": 0.0, "b": 3.0, "c": -4.0}


def mixed_levy(p: Params) -> float:
    """Two integers and two continuous inputs of Levy-4, plus a categorical; minimum 0 at
    i0 = i1 = 1, cat = b, c0 = -2, c1 = 1."""
    cat = str(p["cat"])
    x = np.array(
        [float(p["i0"]), float(p["i1"]), float(p["c0"]) + _LEVY_CAT_SHIFT[cat], float(p["c1"])]
    )
    return levy(x) + _LEVY_CAT_OFFSET[cat]


def _box(n: int, lo: float, hi: float) -> SearchSpace:
    return SearchSpace([Continuous(name, lo, hi) for name in _names(n)])


def synthetic_problems() -> list[Problem]:
    unit6 = [Continuous(n, 0.0, 1.0) for n in H6_NAMES]
    branin_space = SearchSpace([Continuous("x", -5.0, 10.0), Continuous("y", 0.0, 15.0)])
    return [
        Problem("branin", branin_space, _deterministic(branin), 0.397887),
        Problem(
            "hartmann3",
            _box(3, 0.0, 1.0),
            _deterministic(_on_vector(lambda x: _hartmann(x, _H3_A, _H3_P), H3_NAMES)),
            -3.86278,
        ),
        Problem("hartmann6", SearchSpace(unit6), _deterministic(hartmann6), -3.32237),
        Problem("levy4", _box(4, -10.0, 10.0), _deterministic(_on_vector(levy, _names(4))), 0.0),
        Problem("levy10", _box(10, -10.0, 10.0), _deterministic(_on_vector(levy, _names(10))), 0.0),
        Problem(
            "rosenbrock4",
            _box(4, -5.0, 10.0),
            _deterministic(_on_vector(rosenbrock, _names(4))),
            0.0,
        ),
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
            "styblinski-tang8",
            _box(8, -5.0, 5.0),
            _deterministic(_on_vector(styblinski_tang, _names(8))),
            -39.166165703771 * 8,
        ),
        Problem(
            "michalewicz5",
            _box(5, 0.0, math.pi),
            _deterministic(_on_vector(michalewicz, _names(5))),
            -4.687658,
        ),
        Problem("hartmann6-in-20", _box(20, 0.0, 1.0), _deterministic(hartmann6_in_20), -3.32237),
        # Noisy variants: the standard deviation of the observation noise is in the name.
        Problem("noisy0.5-branin", branin_space, _noisy(branin, 0.5), 0.397887),
        Problem(
            "noisy0.1-hartmann3",
            SearchSpace([Continuous(n, 0.0, 1.0) for n in H3_NAMES]),
            _noisy_hartmann3,
            -3.86278,
        ),
        Problem("noisy0.1-hartmann6", SearchSpace(unit6), _noisy(hartmann6, 0.1), -3.32237),
        Problem(
            "noisy2-styblinski4",
            _box(4, -5.0, 5.0),
            _noisy(_on_vector(styblinski_tang, _names(4)), 2.0),
            -39.166165703771 * 4,
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
            "mixed-levy-cat",
            SearchSpace(
                [
                    Integer("i0", -10, 10),
                    Integer("i1", -10, 10),
                    Continuous("c0", -10.0, 10.0),
                    Continuous("c1", -10.0, 10.0),
                    Categorical("cat", list("abc")),
                ]
            ),
            _deterministic(mixed_levy),
            0.0,
        ),
    ]


# --- scikit-learn tasks: 3-fold cross-validated error on small bundled datasets -------------


def _cv_error(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings are part of the landscape
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
        return 1.0 - float(np.mean(cross_val_score(model, X, y, cv=folds)))


def _cv_regression_error(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    """1 - R², 3-fold cross-validated."""
    from sklearn.model_selection import KFold, cross_val_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folds = KFold(n_splits=3, shuffle=True, random_state=0)
        return 1.0 - float(np.mean(cross_val_score(model, X, y, cv=folds)))


def real_problems() -> list[Problem]:
    return _first_real_problems() + _more_real_problems()


def _more_real_problems() -> list[Problem]:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    cancer_X, cancer_y = load_breast_cancer(return_X_y=True)
    wine_X, wine_y = load_wine(return_X_y=True)
    diabetes_X, diabetes_y = load_diabetes(return_X_y=True)
    digits_X, digits_y = load_digits(return_X_y=True)

    def svm(p: Params) -> float:
        weight = None if p["class_weight"] == "none" else "balanced"
        model = make_pipeline(
            StandardScaler(),
            SVC(C=float(p["C"]), gamma=float(p["gamma"]), class_weight=weight),
        )
        return _cv_error(model, cancer_X, cancer_y)

    def knn(p: Params) -> float:
        model = make_pipeline(
            StandardScaler(),
            KNeighborsClassifier(
                n_neighbors=int(p["n_neighbors"]), weights=str(p["weights"]), p=float(p["p"])
            ),
        )
        return _cv_error(model, wine_X, wine_y)

    def kernel_ridge(p: Params) -> float:
        model = KernelRidge(
            alpha=float(p["alpha"]), gamma=float(p["gamma"]), kernel=str(p["kernel"])
        )
        return _cv_regression_error(model, diabetes_X, diabetes_y)

    def tree(p: Params) -> float:
        model = DecisionTreeClassifier(
            max_depth=int(p["max_depth"]),
            min_samples_split=int(p["min_samples_split"]),
            min_samples_leaf=int(p["min_samples_leaf"]),
            max_features=float(p["max_features"]),
            criterion=str(p["criterion"]),
            random_state=0,
        )
        return _cv_error(model, digits_X, digits_y)

    return [
        Problem(
            "svm-cancer",
            SearchSpace(
                [
                    Continuous("C", 1e-3, 1e3),
                    Continuous("gamma", 1e-5, 1e1),
                    Categorical("class_weight", ["none", "balanced"]),
                ]
            ),
            _deterministic(svm),
            None,
            real=True,
        ),
        Problem(
            "knn-wine",
            SearchSpace(
                [
                    Integer("n_neighbors", 1, 60),
                    Categorical("weights", ["uniform", "distance"]),
                    Continuous("p", 1.0, 4.0),
                ]
            ),
            _deterministic(knn),
            None,
            real=True,
        ),
        Problem(
            "kridge-diabetes",
            SearchSpace(
                [
                    Continuous("alpha", 1e-4, 1e2),
                    Continuous("gamma", 1e-3, 1e2),
                    Categorical("kernel", ["rbf", "laplacian"]),
                ]
            ),
            _deterministic(kernel_ridge),
            None,
            real=True,
        ),
        Problem(
            "tree-digits",
            SearchSpace(
                [
                    Integer("max_depth", 1, 30),
                    Integer("min_samples_split", 2, 60),
                    Integer("min_samples_leaf", 1, 30),
                    Continuous("max_features", 0.05, 1.0),
                    Categorical("criterion", ["gini", "entropy"]),
                ]
            ),
            _deterministic(tree),
            None,
            real=True,
        ),
    ]


def _first_real_problems() -> list[Problem]:
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

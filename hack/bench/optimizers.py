"""The optimizers compared by ``hack/bench_optimizer.py``, behind one signature:
``run(problem, seed, budget) -> [(observed, true), ...]`` in evaluation order.

Baselines get the same scaling information as kubetune: a parameter kubetune log-scales by
default is declared log-scaled to them too (ReverseLogarithmic has no equivalent: linear).
"""

# Optional baselines and scikit-learn are imported where used: the harness runs without them.
# ruff: noqa: PLC0415

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable

import numpy as np
from bench.problems import Params, Problem
from kubetune.optimizer import Categorical, Continuous, Integer, Observation, suggest
from kubetune.optimizer.encoding import default_warp

Trace = list[tuple[float, float]]
Runner = Callable[[Problem, int, int], Trace]


def _evaluator(problem: Problem, seed: int) -> Callable[[Params], tuple[float, float]]:
    rng = np.random.default_rng([seed, 12345])  # the noise draw, shared by all optimizers
    return lambda params: problem.evaluate(params, rng)


def kubetune_runner(strategy: str) -> Runner:
    def run(problem: Problem, seed: int, budget: int) -> Trace:
        evaluate, observations, trace = _evaluator(problem, seed), [], []
        while len(trace) < budget:
            (params,) = suggest(problem.space, observations, strategy=strategy, seed=seed)  # type: ignore[arg-type]
            observed, true = evaluate(params)
            observations.append(Observation(params, observed))
            trace.append((observed, true))
        return trace

    return run


def kubetune_parallel(workers: int = 4) -> Runner:
    """Asynchronous workers as the operator runs them: when the oldest running trial
    finishes, one new point is suggested with the other ``workers - 1`` still pending."""

    def run(problem: Problem, seed: int, budget: int) -> Trace:
        evaluate, observations, trace = _evaluator(problem, seed), [], []
        running = suggest(problem.space, [], n=workers, seed=seed)
        while len(trace) < budget:
            params = running.pop(0)
            observed, true = evaluate(params)
            observations.append(Observation(params, observed))
            trace.append((observed, true))
            running += suggest(problem.space, observations, pending=running, seed=seed)
        return trace

    return run


def optuna_distributions(problem: Problem) -> dict[str, object]:
    import optuna

    distributions: dict[str, object] = {}
    for p in problem.space.parameters:
        if isinstance(p, Categorical):
            distributions[p.name] = optuna.distributions.CategoricalDistribution(p.values)
        else:
            log = default_warp(p) == "Logarithmic"
            cls = (
                optuna.distributions.FloatDistribution
                if isinstance(p, Continuous)
                else (optuna.distributions.IntDistribution)
            )
            distributions[p.name] = cls(p.min, p.max, log=log)
    return distributions


def optuna_runner(sampler_name: str) -> Runner:
    def run(problem: Problem, seed: int, budget: int) -> Trace:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature warnings
            sampler = (
                optuna.samplers.TPESampler(seed=seed)
                if sampler_name == "TPE"
                else optuna.samplers.GPSampler(seed=seed)
            )
            study = optuna.create_study(sampler=sampler)
            evaluate, trace = _evaluator(problem, seed), []
            distributions = optuna_distributions(problem)
            while len(trace) < budget:
                trial = study.ask(distributions)  # type: ignore[arg-type]
                observed, true = evaluate(dict(trial.params))
                study.tell(trial, observed)
                trace.append((observed, true))
        return trace

    return run


def skopt_runner(problem: Problem, seed: int, budget: int) -> Trace:
    import skopt
    from skopt.space import Categorical as SkCategorical
    from skopt.space import Integer as SkInteger
    from skopt.space import Real

    dimensions = []
    for p in problem.space.parameters:
        if isinstance(p, Categorical):
            dimensions.append(SkCategorical(list(p.values), name=p.name))
        else:
            prior = "log-uniform" if default_warp(p) == "Logarithmic" else "uniform"
            cls = Real if isinstance(p, Continuous) else SkInteger
            dimensions.append(cls(p.min, p.max, prior=prior, name=p.name))
    evaluate, trace = _evaluator(problem, seed), []
    names = [p.name for p in problem.space.parameters]

    def objective(x: list[object]) -> float:
        params = {
            n: (
                float(v)
                if isinstance(v, np.floating)
                else int(v)
                if isinstance(v, np.integer)
                else v
            )
            for n, v in zip(names, x, strict=True)
        }
        observed, true = evaluate(params)  # type: ignore[arg-type]
        trace.append((observed, true))
        return observed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "point already evaluated" on discrete spaces
        skopt.gp_minimize(objective, dimensions, n_calls=budget, random_state=seed)
    return trace


class _UnitCube:
    """A search space as the unit cube, for BoTorch: one column per numeric parameter
    (kubetune's default warp), one-hot columns per categorical; decoding rounds integers
    and takes a categorical's argmax (the simple mixed handling)."""

    def __init__(self, problem: Problem) -> None:
        self.parameters = problem.space.parameters
        widths = [len(p.values) if isinstance(p, Categorical) else 1 for p in self.parameters]
        self.starts = np.cumsum([0, *widths])[:-1]
        self.widths, self.dim = widths, sum(widths)

    @staticmethod
    def _range(p: Continuous | Integer) -> tuple[float, float, bool]:
        lo, hi = float(p.min), float(p.max)
        if default_warp(p) == "Logarithmic":
            return math.log(lo), math.log(hi), True
        return lo, hi, False

    def decode(self, u: np.ndarray) -> Params:
        params: Params = {}
        for p, start, width in zip(self.parameters, self.starts, self.widths, strict=True):
            if isinstance(p, Categorical):
                params[p.name] = p.values[int(np.argmax(u[start : start + width]))]
                continue
            lo, hi, log = self._range(p)
            value = lo + float(np.clip(u[start], 0.0, 1.0)) * (hi - lo)
            value = math.exp(value) if log else value
            params[p.name] = (
                int(np.clip(round(value), p.min, p.max)) if isinstance(p, Integer) else value
            )
        return params

    def encode(self, params: Params) -> np.ndarray:
        u = np.zeros(self.dim)
        for p, start in zip(self.parameters, self.starts, strict=True):
            if isinstance(p, Categorical):
                u[start + list(p.values).index(params[p.name])] = 1.0
                continue
            lo, hi, log = self._range(p)
            value = float(params[p.name])
            u[start] = ((math.log(value) if log else value) - lo) / (hi - lo)
        return u


def _botorch_next(X: list[np.ndarray], Y: list[float]) -> np.ndarray:
    """One BoTorch step: fit SingleTaskGP on (X, Y) (maximised), maximise LogEI."""
    import torch
    from botorch.acquisition import LogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    train_X = torch.tensor(np.array(X), dtype=torch.double)
    train_Y = torch.tensor(Y, dtype=torch.double)[:, None]
    model = SingleTaskGP(train_X, train_Y, outcome_transform=Standardize(m=1))
    cube = torch.stack([torch.zeros(train_X.shape[1]), torch.ones(train_X.shape[1])]).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit and optimiser warnings
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        acquisition = LogExpectedImprovement(model, best_f=train_Y.max())
        candidate, _ = optimize_acqf(acquisition, bounds=cube, q=1, num_restarts=4, raw_samples=256)
    return np.asarray(candidate[0].numpy())


def botorch_runner(problem: Problem, seed: int, budget: int) -> Trace:
    """BoTorch's standard loop, as its tutorials write it: SingleTaskGP (its default priors,
    outcomes standardised) + LogExpectedImprovement, ``optimize_acqf`` over the unit cube
    (:class:`_UnitCube`), 10 scrambled-Sobol points first."""
    import torch

    torch.manual_seed(seed)
    cube = _UnitCube(problem)
    design = torch.quasirandom.SobolEngine(cube.dim, scramble=True, seed=seed).draw(10)
    evaluate, trace = _evaluator(problem, seed), []
    X: list[np.ndarray] = []
    Y: list[float] = []
    while len(trace) < budget:
        u = design[len(trace)].double().numpy() if len(trace) < len(design) else _botorch_next(X, Y)
        params = cube.decode(u)
        observed, true = evaluate(params)
        X.append(cube.encode(params))
        Y.append(-observed)  # BoTorch maximises
        trace.append((observed, true))
    return trace


def available_optimizers() -> tuple[dict[str, Runner], list[str]]:
    """Optimizers that can run here, and a note for each one left out."""
    runners: dict[str, Runner] = {
        "kubetune-Bayesian": kubetune_runner("Bayesian"),
        "kubetune-Random": kubetune_runner("Random"),
    }
    missing: list[str] = []
    if importlib.util.find_spec("optuna"):
        runners["optuna-TPE"] = optuna_runner("TPE")
        if importlib.util.find_spec("torch"):
            runners["optuna-GP"] = optuna_runner("GP")
        else:
            missing.append("optuna-GP (GPSampler needs torch: pip install torch)")
    else:
        missing.append("optuna-TPE, optuna-GP (pip install optuna)")
    if importlib.util.find_spec("skopt"):
        runners["skopt-GP"] = skopt_runner
    else:
        missing.append("skopt-GP (pip install scikit-optimize)")
    if importlib.util.find_spec("botorch"):
        runners["botorch-LogEI"] = botorch_runner
    else:
        missing.append("botorch-LogEI (pip install botorch)")
    return runners, missing

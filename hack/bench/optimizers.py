"""The optimizers compared by ``hack/bench_optimizer.py``, behind one signature:
``run(problem, seed, budget) -> [(observed, true), ...]`` in evaluation order.

Baselines get the same scaling information as kubetune: a parameter kubetune log-scales by
default is declared log-scaled to them too (ReverseLogarithmic has no equivalent: linear).
"""

# Optional baselines and scikit-learn are imported where used: the harness runs without them.
# ruff: noqa: PLC0415

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable

import numpy as np
from bench.problems import Params, Problem
from kubetune.optimizer import Categorical, Continuous, Observation, suggest
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
    return runners, missing

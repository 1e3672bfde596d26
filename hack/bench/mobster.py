"""A MOBSTER-style sampler for Hyperband, for the benchmark only (not in the optimizer).

MOBSTER (Klein et al., "Model-based Asynchronous Hyperparameter and Neural Architecture
Search", 2020; Syne Tune's ``MOBSTER``) fits one GP over (configuration, resource) to
every value recorded at every rung, and proposes the configuration that maximises
expected improvement at the full resource, with the running trials as fantasies. Here the
pieces are kubetune's own (``kubetune.optimizer``'s GP, log EI with fantasies and its
acquisition maximiser); the resource is one more numeric input, ``log r / log
max_resource`` in [0, 1], and EI is evaluated with it fixed at 1.

Until ``n_initial_points`` values at any resource exist, configurations are drawn at
random (as ``suggest_hyperband``'s Random sampler does).

Measured on the development seeds 1000-1002 (``bench-hyperband --dev --seeds 3 --methods
Hyperband-Random Hyperband-Bayesian HB-MOBSTER``), median epochs to Random-120's best
(seeds that reached it within 1,080 epochs), Random / Bayesian (rank fit) / MOBSTER
sampler: digits 444 (3/3) / >1080 (1/3) / >1080 (0/3); powerlaw 202 / 174 / 343 (all
3/3); crossing 649 (3/3) / >674 (2/3) / 347 (3/3). Mean regret ×100 at 540 epochs: digits
0.55 / 2.23 / 2.78, powerlaw 16.0 / 13.6 / 1.4, crossing 37.2 / 35.0 / 7.1. It wins on
crossing curves and on quality at equal resource on both synthetic families, but never
reaches the level on the recorded digits table, where the early epochs do not rank the
best configurations, and is slower to it on powerlaw; about 100 CPU-seconds a seed on
digits. Not a win on dev: it stays a benchmark variant, not a `hyperband.sampler`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from kubetune.optimizer import HyperbandTrial, Observation, suggest
from kubetune.optimizer.acq_optim import SAME_POINT, maximize_log_ei
from kubetune.optimizer.bayesian import _acquisition, impute_and_standardise
from kubetune.optimizer.encoding import Encoder, FloatArray
from kubetune.optimizer.gp import GPRegressor, fit_kernel_params
from kubetune.optimizer.space import ParamValue, SearchSpace
from kubetune.optimizer.suggest import n_initial_points

# Most (configuration, resource) points the GP is fitted on: the deepest levels first, then
# the latest values of the next level (a GP costs O(n³); the benchmark proposes hundreds
# of configurations per run).
MAX_POINTS = 128
_N_INCUMBENTS = 5


class AtMaxResource:
    """An acquisition over (configuration features, resource) seen as one over the
    configuration features alone, with the resource input at its maximum (1)."""

    def __init__(self, acquisition: object) -> None:
        self.inner = acquisition
        self.lengthscales: FloatArray = acquisition.lengthscales[:-1]  # type: ignore[attr-defined]

    def __call__(self, x: FloatArray) -> FloatArray:
        out: FloatArray = self.inner(np.hstack([x, np.ones((len(x), 1))]))  # type: ignore[operator]
        return out

    def with_gradient(self, x: FloatArray) -> tuple[float, FloatArray]:
        value, gradient = self.inner.with_gradient(np.append(x, 1.0))  # type: ignore[attr-defined]
        return value, gradient[:-1]


def _points(
    encoder: Encoder, trials: Sequence[HyperbandTrial], resources: Sequence[int]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Raw configuration values (n, d), resource inputs (n,) and losses (n,) of every
    recorded value (failed trials: NaN at the full resource), capped at ``MAX_POINTS``."""
    top = math.log(resources[-1])
    rows: list[tuple[float, int, FloatArray, float]] = []  # (resource input, trial, x, loss)
    for number, trial in enumerate(trials):
        x = encoder.parse(trial.params)
        if x is None or trial.running:
            continue
        if not trial.values:
            rows.append((1.0, number, x, math.nan))
        for level, value in enumerate(trial.values):
            loss = value if math.isfinite(value) else math.nan
            rows.append((math.log(resources[level]) / top, number, x, loss))
    rows.sort(key=lambda r: (-r[0], -r[1]))  # deepest first, then the latest
    rows = rows[:MAX_POINTS]
    return (
        np.array([r[2] for r in rows]).reshape(-1, len(encoder.columns)),
        np.array([r[0] for r in rows]),
        np.array([r[3] for r in rows]),
    )


def suggest_mobster(
    space: SearchSpace,
    trials: Sequence[HyperbandTrial],
    resources: Sequence[int],
    seed: int,
) -> dict[str, ParamValue]:
    """One configuration for a new trial. ``resources``: the rungs then max_resource
    (the level of each of a trial's ``values``); losses are minimised."""
    encoder = Encoder(space)
    values, z, losses = _points(encoder, trials, resources)
    if int(np.isfinite(losses).sum()) < n_initial_points(space):
        seen = [Observation(t.params, math.nan) for t in trials]
        (params,) = suggest(space, seen, strategy="Random", seed=seed)
        return params
    rng = np.random.default_rng([seed % 2**64, len(trials), 11])
    y = impute_and_standardise(losses)
    X = np.hstack([encoder.encode_values(values), z[:, None]])
    is_categorical = np.append(encoder.is_categorical, False)
    params, _ = fit_kernel_params(X, y, is_categorical, n_restarts=1)
    gp = GPRegressor(X, y, is_categorical, params)
    configs = np.unique(X[:, :-1], axis=0)
    at_max = np.hstack([configs, np.ones((len(configs), 1))])
    mean_at_max = gp.posterior(at_max)[0]
    best = float(np.min(mean_at_max))
    incumbents = configs[np.argsort(mean_at_max, kind="stable")[:_N_INCUMBENTS]]
    running = [encoder.parse(t.params) for t in trials if t.running]
    pending_raw = np.array([x for x in running if x is not None]).reshape(-1, values.shape[1])
    pending = encoder.encode_values(pending_raw) if len(pending_raw) else pending_raw
    acquisition = AtMaxResource(
        _acquisition(gp, best, np.hstack([pending, np.ones((len(pending), 1))]), rng)
    )
    x = maximize_log_ei(
        acquisition,  # type: ignore[arg-type]
        encoder,
        known=[(configs, SAME_POINT), (pending, SAME_POINT)],
        incumbents=incumbents,
        rng=rng,
    )
    return encoder.values_to_params(encoder.decode_values(x[None, :]))[0]

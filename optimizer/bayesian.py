"""The Bayesian strategy: GP + log EI, batches by kriging-believer fantasies.

Steps, per call (nothing is remembered between calls):

1. Losses: failed trials (NaN) take the worst finite loss, so the model steers away from
   them without being distorted by a made-up number; then standardise.
2. Warps: each "Auto" parameter starts with the AMT rule (log when the range spans two
   decades, min > 0); where the range spans at least a decade the model then tries the
   other warp and keeps it when the marginal likelihood prefers it by a clear margin
   (``_WARP_SWITCH_NATS``). This is input warping chosen by evidence, one column at a time.
3. Hyperparameters: MAP by multi-start L-BFGS-B (see :mod:`kubetune.optimizer.gp`); on
   many observations the fit uses a subset, the posterior uses everything.
4. Pending trials, and each point already chosen in this batch, are added as fantasies
   (hyperparameters kept, no refit) whose value is the posterior mean plus one standard
   deviation (a pessimistic kriging believer, see ``_lie``): the variance collapses there
   and EI drops around them, so the next point is chosen elsewhere.
5. The incumbent is the lowest posterior mean at an observed point (robust to noise,
   unlike the lowest observed value, which a lucky noisy draw would freeze).
"""

from __future__ import annotations

import math

import numpy as np
from kubetune.optimizer.acq_optim import maximize_log_ei
from kubetune.optimizer.encoding import Encoder, FloatArray, IntArray, Warp, is_warp_learnable
from kubetune.optimizer.gp import (
    GPRegressor,
    KernelParams,
    fit_kernel_params,
    log_marginal_likelihood,
)
from kubetune.optimizer.kernel import squared_differences
from kubetune.optimizer.observations import History

# Observations needed before a warp switch is considered: fewer cannot tell warps apart.
_MIN_OBSERVATIONS_FOR_WARP_LEARNING = 10
# A Bayes factor of e² ≈ 7.4: "positive evidence" on Kass & Raftery's scale.
_WARP_SWITCH_NATS = 2.0
# Above this many observations the hyperparameters are fitted on a subset (O(n³) per step).
_MAX_FIT_POINTS = 200
_N_INCUMBENTS = 5
_MAX_POINTS_FOR_TWO_STARTS = 80
_LIE_STDS = 1.0


def impute_and_standardise(losses: FloatArray) -> FloatArray:
    """Losses (n,) with NaN for failures -> standardised targets (n,), failures at the worst."""
    finite = np.isfinite(losses)
    worst = float(np.max(losses[finite])) if finite.any() else 0.0
    y = np.where(finite, losses, worst)
    std = float(np.std(y))
    standardised: FloatArray = (y - np.mean(y)) / (std if std > 0 else 1.0)
    return standardised


def _fit_subset(n: int, y: FloatArray, rng: np.random.Generator) -> IntArray:
    """Indices of the points used for the hyperparameter fit: all, or the best quarter of
    the cap plus a random rest (the region near the optimum matters most for EI)."""
    if n <= _MAX_FIT_POINTS:
        return np.arange(n)
    n_best = _MAX_FIT_POINTS // 4
    best = np.argsort(y, kind="stable")[:n_best]
    rest = np.setdiff1d(np.arange(n), best)
    return np.sort(
        np.concatenate([best, rng.choice(rest, _MAX_FIT_POINTS - n_best, replace=False)])
    )


def _log_evidence_at(
    encoder: Encoder, values: FloatArray, y: FloatArray, params: KernelParams, column: int
) -> float:
    """Max over a few lengthscales of ``column`` of the log marginal likelihood at ``params``.

    A cheap stand-in for a refit: the other hyperparameters stay, only the lengthscale of
    the column whose warp changed gets a coarse line search.
    """
    X = encoder.encode_values(values)
    D = squared_differences(X, X, encoder.is_categorical)
    theta = params.to_theta()
    best = -math.inf
    for shift in (-1.0, -0.5, 0.0, 0.5, 1.0):
        trial = theta.copy()
        trial[column] += shift
        try:
            best = max(best, log_marginal_likelihood(trial, D, y)[0])
        except np.linalg.LinAlgError:
            continue
    return best


def choose_warps(
    encoder: Encoder, values: FloatArray, y: FloatArray, params: KernelParams
) -> Encoder:
    """Switch learnable Auto columns between Linear and Logarithmic where evidence says so."""
    if len(y) < _MIN_OBSERVATIONS_FOR_WARP_LEARNING:
        return encoder
    for j, column in enumerate(encoder.columns):
        if not is_warp_learnable(column.param):
            continue
        other: Warp = "Linear" if column.warp == "Logarithmic" else "Logarithmic"
        candidate = encoder.with_warp(column.param.name, other)
        current = _log_evidence_at(encoder, values, y, params, j)
        alternative = _log_evidence_at(candidate, values, y, params, j)
        if alternative > current + _WARP_SWITCH_NATS:
            encoder = candidate
    return encoder


def _lie(gp: GPRegressor, x: FloatArray) -> FloatArray:
    """The fantasy value (p,) of pending points x (p, d): mean plus one standard deviation.

    A pessimistic believer: the plain mean (kriging believer) only collapses the variance
    at x, so the next point lands next to it; a value above the mean also lowers EI around
    x, spreading asynchronous workers over the promising region instead of piling them up.
    """
    mean, var = gp.posterior(x)
    lie: FloatArray = mean + _LIE_STDS * np.sqrt(var)
    return lie


def suggest_bayesian(
    encoder: Encoder,
    history: History,
    extra_pending: FloatArray,
    n: int,
    rng: np.random.Generator,
) -> FloatArray:
    """``n`` new points as raw values (n, d) (categoricals as indices).

    In: the observed history (at least one observation), ``extra_pending`` (q, d) raw values
    chosen earlier in this batch (e.g. initial-design points). Raw values, not features, go
    out because the warps chosen here are private to this call.
    """
    y = impute_and_standardise(history.losses)
    subset = _fit_subset(len(y), y, rng)
    X = encoder.encode_values(history.values)
    # A second start pays off while the fit is cheap; above that, latency wins.
    n_restarts = 2 if len(subset) <= _MAX_POINTS_FOR_TWO_STARTS else 1
    params, _ = fit_kernel_params(
        X[subset], y[subset], encoder.is_categorical, n_restarts=n_restarts
    )
    warped = choose_warps(encoder, history.values[subset], y[subset], params)
    if warped is not encoder:
        encoder = warped
        X = encoder.encode_values(history.values)
        params, _ = fit_kernel_params(X[subset], y[subset], encoder.is_categorical, n_restarts=1)

    gp = GPRegressor(X, y, encoder.is_categorical, params)
    finite = np.isfinite(history.losses)
    best = float(np.min(gp.posterior(X[finite])[0])) if finite.any() else float(np.min(y))
    incumbents = X[np.argsort(np.where(finite, y, np.inf), kind="stable")[:_N_INCUMBENTS]]

    pending = (
        np.vstack([history.pending, extra_pending]) if len(extra_pending) else (history.pending)
    )
    P = encoder.encode_values(pending) if len(pending) else np.empty((0, X.shape[1]))
    known = np.vstack([X, P])
    # A fantasy below the incumbent becomes the incumbent: otherwise EI ≈ best - μ stays
    # positive at the fantasised point, and the batch would pile up there.
    if len(P):
        believed = _lie(gp, P)
        gp, best = gp.condition_on(P, believed), min(best, float(np.min(believed)))

    chosen: list[FloatArray] = []
    for _ in range(n):
        x = maximize_log_ei(gp, encoder, best, known=known, incumbents=incumbents, rng=rng)
        chosen.append(x)
        known = np.vstack([known, x[None, :]])
        believed = _lie(gp, x[None, :])
        gp, best = gp.condition_on(x[None, :], believed), min(best, float(believed[0]))
    return encoder.decode_values(np.array(chosen).reshape(-1, X.shape[1]))

"""Log expected improvement (for minimisation), stable far in the tail, and the
acquisition objects built on it (:class:`LogEI`, :class:`FantasyLogEI` for pending trials).

With z = (best - μ) / σ, EI = σ h(z) where h(z) = φ(z) + z Φ(z). In floating point h(z)
underflows to 0 for z ≲ -38, and even before that 1 + z Φ(z)/φ(z) cancels catastrophically;
a flat zero acquisition leaves the optimiser blind. Following Ament et al., "Unexpected
Improvements to Expected Improvement for Bayesian Optimization" (NeurIPS 2023), log h is
computed in three branches:

- z > -1: log(φ(z) + z Φ(z)) directly.
- -1/√ε < z ≤ -1: log φ(z) + log(1 - |z| √(π/2) erfcx(-z/√2)), with log1mexp.
- z ≤ -1/√ε: the asymptote log φ(z) - 2 log|z|.
"""

from __future__ import annotations

import math

import numpy as np
from kubetune.optimizer.encoding import FloatArray
from kubetune.optimizer.gp import GPRegressor
from scipy.special import erfcx, log_ndtr, ndtr

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_HALF_LOG_PI_OVER_2 = 0.5 * math.log(math.pi / 2)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)
# Variance floor relative to nothing: keeps z finite where the GP interpolates exactly.
_MIN_VAR = 1e-20


def _log1mexp(a: FloatArray) -> FloatArray:
    """log(1 - exp(a)) for a < 0, accurate on both sides of -log 2 (Mächler 2012)."""
    return np.where(a > -math.log(2), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))


def log_h(z: FloatArray) -> FloatArray:
    """log(φ(z) + z Φ(z)) elementwise, finite for every finite z."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu * zu - _LOG_SQRT_2PI) + zu * ndtr(zu))
    middle = ~upper & (z > -_INV_SQRT_EPS)
    zm = z[middle]
    out[middle] = (
        -0.5 * zm * zm
        - _LOG_SQRT_2PI
        + _log1mexp(np.log(erfcx(-zm / math.sqrt(2)) * np.abs(zm)) + _HALF_LOG_PI_OVER_2)
    )
    tail = ~upper & ~middle
    zt = z[tail]
    out[tail] = -0.5 * zt * zt - _LOG_SQRT_2PI - 2.0 * np.log(np.abs(zt))
    return out


def log_expected_improvement(
    mean: FloatArray, var: FloatArray, best: float | FloatArray
) -> FloatArray:
    """log EI of improving below ``best`` given the posterior mean (m,) and variance (m,);
    arrays broadcast (e.g. mean and best (k, m) or (k, 1) for k fantasies, var (m,))."""
    sigma = np.sqrt(np.maximum(var, _MIN_VAR))
    return np.log(sigma) + log_h((best - mean) / sigma)


def log_expected_improvement_with_gradient(
    mean: float, var: float, best: float
) -> tuple[float, float, float]:
    """log EI at one point and its partial derivatives w.r.t. the mean and the variance.

    d log h/dz = Φ(z)/h(z) (because h' = Φ), computed as exp(log Φ(z) - log h(z)).
    """
    var = max(var, _MIN_VAR)
    sigma = math.sqrt(var)
    z = (best - mean) / sigma
    log_h_z = float(log_h(np.array([z]))[0])
    dlogh_dz = math.exp(float(log_ndtr(z)) - log_h_z)
    d_dmean = -dlogh_dz / sigma
    d_dsigma = 1.0 / sigma - dlogh_dz * z / sigma
    return math.log(sigma) + log_h_z, d_dmean, d_dsigma / (2.0 * sigma)


# Candidates scored per posterior call: bounds the (m, n) cross-covariance in memory.
_CANDIDATE_CHUNK = 2048


def log_noise_factor(var: FloatArray, noise_var: float) -> FloatArray:
    """log(1 - σ_n / √(σ²(x) + σ_n²)): augmented EI's penalty (Huang et al., "Global
    Optimization of Stochastic Black-Box Systems via Sequential Kriging Meta-Models", J.
    Global Optim. 2006). Near 0 where the posterior is far less sure than one measurement,
    very negative where repeated measurements already pinned f down: a further measurement
    there cannot teach more than the noise allows. 0 when ``noise_var`` is 0."""
    if noise_var <= 0:
        return np.zeros_like(var)
    ratio = np.sqrt(noise_var / (np.maximum(var, _MIN_VAR) + noise_var))
    return np.log1p(-ratio)


def log_noise_factor_with_gradient(var: float, noise_var: float) -> tuple[float, float]:
    """:func:`log_noise_factor` at one point and its derivative w.r.t. the variance.

    With r = √(σ_n² / (v + σ_n²)): d log(1 - r)/dv = r / (2 (1 - r) (v + σ_n²)).
    """
    if noise_var <= 0:
        return 0.0, 0.0
    v = max(var, _MIN_VAR)
    ratio = math.sqrt(noise_var / (v + noise_var))
    return math.log1p(-ratio), ratio / (2.0 * (1.0 - ratio) * (v + noise_var))


class LogEI:
    """log EI of one GP posterior below ``best``: the sequential acquisition.

    In: a GP posterior, the incumbent value ``best`` (standardised loss) and the noise
    variance ``noise_var`` for augmented EI's penalty (0: plain EI).
    """

    def __init__(self, gp: GPRegressor, best: float, noise_var: float = 0.0) -> None:
        self.gp, self.best, self.noise_var = gp, best, noise_var
        self.lengthscales: FloatArray = gp.params.lengthscales

    def __call__(self, x: FloatArray) -> FloatArray:
        """log EI at x (m, d) -> (m,)."""
        out = np.empty(len(x))
        for start in range(0, len(x), _CANDIDATE_CHUNK):
            mean, var = self.gp.posterior(x[start : start + _CANDIDATE_CHUNK])
            out[start : start + _CANDIDATE_CHUNK] = log_expected_improvement(
                mean, var, self.best
            ) + log_noise_factor(var, self.noise_var)
        return out

    def with_gradient(self, x: FloatArray) -> tuple[float, FloatArray]:
        """log EI at one point x (d,) and its gradient (d,)."""
        mean, var, dmean, dvar = self.gp.posterior_with_gradient(x)
        value, d_dmean, d_dvar = log_expected_improvement_with_gradient(float(mean), var, self.best)
        factor, d_factor_dvar = log_noise_factor_with_gradient(var, self.noise_var)
        return value + factor, d_dmean * dmean + (d_dvar + d_factor_dvar) * dvar


class FantasyLogEI:
    """log of the mean EI over fantasised outcomes of the pending points.

    Each fantasy conditions the GP on one joint posterior sample at the pending points; EI
    averaged over fantasies is the expected improvement of x given that the pending trials
    will return *some* plausible values (the one-point marginal of Ginsbourger's q-EI).
    Unlike a single constant lie, it neither pins the pending points' neighbourhood to one
    guessed value nor lets the batch pile up: near a pending point the fantasies disagree
    only as much as the posterior does.

    In: the GP conditioned on all k fantasies at once (y (n, k), see
    :meth:`~kubetune.optimizer.gp.GPRegressor.condition_on`), each fantasy's incumbent
    ``bests`` (k,) and ``noise_var`` as for :class:`LogEI`. The fantasies differ only in
    the posterior mean: the variance, the costly part, is computed once for all of them.
    """

    def __init__(self, gp: GPRegressor, bests: FloatArray, noise_var: float = 0.0) -> None:
        self.gp, self.bests, self.noise_var = gp, bests, noise_var
        self.lengthscales: FloatArray = gp.params.lengthscales
        self._log_k = math.log(len(bests))

    def __call__(self, x: FloatArray) -> FloatArray:
        """log mean EI at x (m, d) -> (m,)."""
        out = np.empty(len(x))
        for start in range(0, len(x), _CANDIDATE_CHUNK):
            mean, var = self.gp.posterior(x[start : start + _CANDIDATE_CHUNK])  # (m, k), (m,)
            values = log_expected_improvement(mean.T, var, self.bests[:, None]) + log_noise_factor(
                var, self.noise_var
            )  # (k, m)
            top = np.max(values, axis=0)
            out[start : start + _CANDIDATE_CHUNK] = (
                top + np.log(np.sum(np.exp(values - top), axis=0)) - self._log_k
            )
        return out

    def with_gradient(self, x: FloatArray) -> tuple[float, FloatArray]:
        """log mean EI at one point x (d,) and its gradient (d,)."""
        mean, var, dmean, dvar = self.gp.posterior_with_gradient(x)  # (k,), 1, (d, k), (d,)
        factor, d_factor_dvar = log_noise_factor_with_gradient(var, self.noise_var)
        parts = [
            log_expected_improvement_with_gradient(float(m), var, float(b))
            for m, b in zip(mean, self.bests, strict=True)
        ]
        values = np.array([v for v, _, _ in parts]) + factor  # (k,)
        gradients = np.array(
            [
                d_dmean * dmean[:, j] + (d_dvar + d_factor_dvar) * dvar
                for j, (_, d_dmean, d_dvar) in enumerate(parts)
            ]
        )  # (k, d)
        top = float(np.max(values))
        weights = np.exp(values - top)
        total = float(np.sum(weights))
        gradient: FloatArray = (weights / total) @ gradients
        return top + math.log(total) - self._log_k, gradient

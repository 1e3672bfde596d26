"""Priors on the GP hyperparameters (value and gradient), in the log space θ the fit uses.

The objective values are standardised and the features live in the unit cube, so one set
of priors fits every problem. The numeric lengthscale, signal and noise priors are Optuna
GPSampler's (``optuna/_gp/prior.py``, Optuna 4.x/5.0), chosen by its authors, not tuned
on our problems:

- numeric lengthscales, on λ = 1/ℓ² = e^(-2 log ℓ): log p = -(0.1/λ + 0.1 λ) per
  dimension. Its mode is ℓ = 1 whatever d is, and its tails are heavy both ways (a
  lengthscale of 0.1 or 10 costs 10 nats, against ~1.5 under the log-normal it replaced).
- log ℓ ~ N(0, ½) for a categorical feature k, whose distance is 0 or 1 (Hamming)
  whatever d is: ℓ = 1 correlates two values of a categorical at 0.52 of the signal
  variance. A wide prior let the fit declare categories interchangeable (ℓ ≈ 5,
  correlation 0.97) after a few points, and the search then stayed on the first good
  value. Measured with hack/bench_optimizer.py, 3 seeds: the random forest problem went
  from 0/44 to 42/78 at 30/60 evaluations.
- signal variance s² ~ Gamma(2, 1): about 1 for standardised outputs.
- noise variance σ²_noise ~ Gamma(1.1, 30): mean 0.037 (noise std ≈ 0.19 of the
  outputs'), with a density that stays almost flat down to the hard floor
  (``MIN_NOISE_VAR``, which keeps the Cholesky factor healthy on deterministic objectives).

Measured against the previous log-normal priors (log ℓ ~ N(log ½ + ½ log d, 3),
log s² ~ N(0, 1), log σ²_noise ~ N(-4, 1)) on the 9 synthetic development problems,
seeds 0-7, paired per seed: +10.5 ± 4.0 points at 30 evaluations (51.0 → 61.5) and
+2.4 ± 2.4 at 60 (71.3 → 73.7); gains on the mixed problems (+54 and +20 at 30),
Hartmann-6 (+16), noisy Hartmann-6 (+9) and Hartmann-3 (+12), a loss on Levy-10 (-18 at
30, -2 at 60) and on Michalewicz-5 at 60 (-12). Tried and not kept (seeds 0-3): Optuna's
lengthscale prior with our signal and noise priors (+8.8 ± 10.6 / -0.2 ± 3.6: it lost
the noisy Hartmann-6), and either set with 10 initial points instead of max(5, d + 1).
"""

from __future__ import annotations

import numpy as np
from kubetune.optimizer.encoding import BoolArray, FloatArray

MIN_NOISE_VAR = 1e-6
# Gamma(shape, rate) priors on the signal and noise variances.
SIGNAL_VAR_SHAPE, SIGNAL_VAR_RATE = 2.0, 1.0
NOISE_VAR_SHAPE, NOISE_VAR_RATE = 1.1, 30.0
# Weight of each side of -(w/λ + w·λ) on a numeric inverse squared lengthscale λ.
INVERSE_SQUARED_LENGTHSCALE_WEIGHT = 0.1
CAT_LOG_LENGTHSCALE_MEAN, CAT_LOG_LENGTHSCALE_VAR = 0.0, 0.5
# Where the fit starts: the priors' modes (ℓ = 1, s² = 1) and a small noise.
START_LOG_NOISE_VAR = -4.0


def fit_start(n_features: int, is_categorical: BoolArray | None = None) -> FloatArray:
    """The fit's first start, θ = [log ℓ (d), log s², log σ²_noise] (d + 2,): the modes of
    the lengthscale and signal priors, and a little noise."""
    means = np.zeros(n_features)
    if is_categorical is not None:
        means[is_categorical] = CAT_LOG_LENGTHSCALE_MEAN
    return np.concatenate([means, [0.0, START_LOG_NOISE_VAR]])


def _log_gamma(log_x: float, shape: float, rate: float) -> tuple[float, float]:
    """log Gamma(shape, rate) density of x = e^log_x, up to a constant, as a function of
    log_x (no Jacobian: the MAP objective is the density's value, as in Optuna), and its
    derivative with respect to log_x."""
    x = float(np.exp(log_x))
    return (shape - 1.0) * log_x - rate * x, (shape - 1.0) - rate * x


def log_prior(
    theta: FloatArray, is_categorical: BoolArray | None = None
) -> tuple[float, FloatArray]:
    """log p(θ) up to a constant and its gradient (d + 2,), for θ as in :func:`fit_start`."""
    n_features = theta.size - 2
    categorical = np.zeros(n_features, bool) if is_categorical is None else is_categorical
    grad = np.zeros_like(theta)
    # Numeric: λ = e^(-2 log ℓ), so w/λ = w e^(2 log ℓ) and w λ = w e^(-2 log ℓ).
    log_ls = theta[:n_features][~categorical]
    w = INVERSE_SQUARED_LENGTHSCALE_WEIGHT
    value = -float(np.sum(w * np.exp(2.0 * log_ls) + w * np.exp(-2.0 * log_ls)))
    grad[:n_features][~categorical] = -2.0 * w * (np.exp(2.0 * log_ls) - np.exp(-2.0 * log_ls))
    delta = theta[:n_features][categorical] - CAT_LOG_LENGTHSCALE_MEAN
    value -= float(0.5 * np.sum(delta * delta) / CAT_LOG_LENGTHSCALE_VAR)
    grad[:n_features][categorical] = -delta / CAT_LOG_LENGTHSCALE_VAR
    signal, grad[-2] = _log_gamma(float(theta[-2]), SIGNAL_VAR_SHAPE, SIGNAL_VAR_RATE)
    noise, grad[-1] = _log_gamma(float(theta[-1]), NOISE_VAR_SHAPE, NOISE_VAR_RATE)
    return value + signal + noise, grad

"""Priors on the GP hyperparameters, as Gaussians on their logarithms (value and gradient).

The objective values are standardised and the features live in the unit cube, so one set
of priors fits every problem:

- log ℓ_k ~ N(log(½) + ½ log d, 3): lengthscales grow like √d, as in the dimension-scaled
  prior of Hvarfner et al., "Vanilla Bayesian Optimization Performs Great in High
  Dimensions" (ICML 2024), but centred at ½√d instead of their e^√2·√d ≈ 4√d. Measured
  with hack/bench_optimizer.py (6 synthetic problems, 3 seeds, 40 evaluations), the longer
  prior over-smoothed at these small budgets (mean score 24 vs 77 at 40 evaluations).
- log s² ~ N(0, 1): the signal variance of standardised outputs is about 1.
- log σ²_noise ~ N(-4, 1): BoTorch's default; little noise, but enough prior mass to learn
  noise when the objective is noisy. A hard floor (``MIN_NOISE_VAR``) keeps the Cholesky
  factor healthy on deterministic objectives.
"""

from __future__ import annotations

import math

import numpy as np
from kubetune.optimizer.encoding import FloatArray

MIN_NOISE_VAR = 1e-6
LOG_SIGNAL_VAR_MEAN, LOG_SIGNAL_VAR_VAR = 0.0, 1.0
LOG_NOISE_VAR_MEAN, LOG_NOISE_VAR_VAR = -4.0, 1.0
LOG_LENGTHSCALE_VAR = 3.0


def log_lengthscale_mean(n_features: int) -> float:
    """The prior mean of log ℓ for ``n_features`` dimensions."""
    return math.log(0.5) + 0.5 * math.log(n_features)


def prior_means(n_features: int) -> FloatArray:
    """Prior means of θ = [log ℓ (d), log s², log σ²_noise], (d + 2,)."""
    return np.concatenate(
        [
            np.full(n_features, log_lengthscale_mean(n_features)),
            [LOG_SIGNAL_VAR_MEAN, LOG_NOISE_VAR_MEAN],
        ]
    )


def log_prior(theta: FloatArray) -> tuple[float, FloatArray]:
    """log p(θ) up to a constant and its gradient (d + 2,), for θ as in :func:`prior_means`."""
    n_features = theta.size - 2
    variances = np.concatenate(
        [np.full(n_features, LOG_LENGTHSCALE_VAR), [LOG_SIGNAL_VAR_VAR, LOG_NOISE_VAR_VAR]]
    )
    delta = theta - prior_means(n_features)
    return float(-0.5 * np.sum(delta * delta / variances)), -delta / variances

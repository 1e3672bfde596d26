"""``has_converged``: is another trial unlikely to improve on the best one?

The regret-bound test of Makarova et al., "Automatic Termination for Hyperparameter
Optimization" (AutoML 2022), the criterion behind SageMaker AMT's convergence detection.
With the GP posterior of the (standardised) loss f:

    regret bound = min over observed x of UCB(x)  −  min over the space of LCB(x)
    UCB, LCB = μ ± β σ

The first term is a pessimistic value of the best trial so far, the second an optimistic
value of the best point anywhere: while the gap exceeds what the objective's own noise can
resolve, a better point may exist. The paper's threshold is the standard deviation of the
objective's estimate (cross-validation there); here it is the GP's fitted noise standard
deviation, floored at ``_MIN_THRESHOLD`` observed standard deviations, because a
deterministic objective would otherwise never count as converged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from kubetune.optimizer.acq_optim import candidate_points
from kubetune.optimizer.bayesian import fit_subset, impute_and_standardise, model_history
from kubetune.optimizer.encoding import Encoder
from kubetune.optimizer.gp import GPRegressor, fit_kernel_params
from kubetune.optimizer.observations import Goal, ObservationLike, parse_history
from kubetune.optimizer.space import SearchSpace

# Width of the confidence band, in posterior standard deviations. 3 (two-sided 99.7 %)
# rather than 2: at 2, seed 0 of the benchmark's Branin, Hartmann-6 and mixed problems
# stopped 6-13 trials earlier (hack/bench problems, 60 Bayesian trials). Neither stops
# a GP that is confidently wrong about a local optimum: the test is as good as the model.
_BETA = 3.0
# The smallest gap that counts as "could still improve", in observed standard deviations
# of the objective: 5 % of its spread, e.g. 0.5 points of accuracy when trials range
# over ±10 points.
_MIN_THRESHOLD = 0.05
# Fewer finished trials than this never count as converged: the GP's band is unreliable.
MIN_OBSERVATIONS = 10


def has_converged(
    space: SearchSpace,
    observations: Sequence[ObservationLike],
    *,
    goal: Goal = "Minimize",
    seed: int = 0,
) -> bool:
    """True when the GP's regret bound is below the objective's resolvable noise.

    Observations as for :func:`kubetune.optimizer.suggest`; failures are ignored beyond
    their effect on the fit. False with fewer than ``MIN_OBSERVATIONS`` (or 2 × the number
    of parameters) finite observations. Deterministic for the same inputs and seed.
    """
    encoder = Encoder(space)
    # The GP sees what suggest's does (model_history: at most MAX_MODEL_POINTS rows, all
    # finite), and its hyperparameters are fitted on suggest's subset of them.
    history = model_history(encoder, parse_history(encoder, observations, (), goal))
    finite = np.isfinite(history.losses)
    if finite.sum() < max(MIN_OBSERVATIONS, 2 * len(space)) or np.ptp(history.losses[finite]) == 0:
        return False
    y = impute_and_standardise(history.losses)
    X = encoder.encode_values(history.values)
    rng = np.random.default_rng([seed % 2**64, len(y)])
    subset = fit_subset(len(y), y, rng)  # all of them up to 200: no draw from rng then
    params, _ = fit_kernel_params(X[subset], y[subset], encoder.is_categorical, n_restarts=1)
    gp = GPRegressor(X, y, encoder.is_categorical, params)

    mean, var = gp.posterior(X[finite])
    pessimistic_best = float(np.min(mean + _BETA * np.sqrt(var)))
    incumbents = X[finite][np.argsort(y[finite], kind="stable")[:5]]
    points = np.vstack([candidate_points(encoder, incumbents, rng, 2048, 200), X])
    mean, var = gp.posterior(points)
    optimistic_best = float(np.min(mean - _BETA * np.sqrt(var)))

    threshold = max(math.sqrt(params.noise_var), _MIN_THRESHOLD)
    return pessimistic_best - optimistic_best < threshold

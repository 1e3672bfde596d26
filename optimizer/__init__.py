"""kubetune optimizer: search spaces and stateless suggestion strategies (numpy/scipy only).

Public interface (a contract with the operator)::

    suggest(space, observations, *, strategy="Bayesian", n=1, pending=(), seed=0,
            goal="Minimize") -> list[dict[str, float | int | str]]

with ``SearchSpace([Continuous(...), Integer(...), Categorical(...)])``, observations as
``Observation(params, value)`` or ``(params, value)`` pairs, ``grid_size(space)`` for the
number of Grid points, and ``has_converged(space, observations, goal=...)`` for the
job-level convergence test. See :func:`kubetune.optimizer.suggest.suggest` for the details.

In a finite space (Integer and Categorical parameters only), no strategy proposes a
configuration already tried (observed, failed or pending) or twice in one batch, and
``suggest`` and ``suggest_hyperband`` return fewer than ``n`` points, possibly none, when
fewer are untried: the caller's search is then over (the operator completes the job with
reason SearchSpaceExhausted). With a Continuous parameter they return exactly ``n``.

Hyperband (asynchronous successive halving): ``rung_levels``, ``continues_at_rung`` and
``rung_decisions`` (the stopping rule, replayable from recorded ``RungRecord``s; a trial
is judged among its ``RungLog`` peers, those with its ``comparison_group``),
``infer_max_resource``, ``suggest_hyperband`` and ``best_trial``; see
:mod:`kubetune.optimizer.hyperband`.

``scipy.stats`` and ``scipy.optimize`` are imported where they are first used, not at the
top of their modules: together they take about 0.9 CPU-seconds to import, and every
command of the CLI imports this package (through the operator's controller) while only
``kubetune run --local`` ever suggests.
"""

from kubetune.optimizer.convergence import has_converged
from kubetune.optimizer.grid import grid_size
from kubetune.optimizer.hyperband import (
    MAX_RESOURCE_KEYS,
    SAMPLERS,
    HyperbandSampler,
    HyperbandTrial,
    RungLog,
    RungRecord,
    Sampler,
    best_trial,
    comparison_group,
    continues_at_rung,
    infer_max_resource,
    judged_among,
    rung_decisions,
    rung_levels,
    suggest_hyperband,
)
from kubetune.optimizer.observations import GOALS, Goal, Observation
from kubetune.optimizer.space import (
    SCALINGS,
    Categorical,
    Continuous,
    Integer,
    Parameter,
    ParamValue,
    Scaling,
    SearchSpace,
)
from kubetune.optimizer.suggest import STRATEGIES, Strategy, n_initial_points, suggest

__all__ = [
    "GOALS",
    "MAX_RESOURCE_KEYS",
    "SAMPLERS",
    "SCALINGS",
    "STRATEGIES",
    "Categorical",
    "Continuous",
    "Goal",
    "HyperbandSampler",
    "HyperbandTrial",
    "Integer",
    "Observation",
    "ParamValue",
    "Parameter",
    "RungLog",
    "RungRecord",
    "Sampler",
    "Scaling",
    "SearchSpace",
    "Strategy",
    "best_trial",
    "comparison_group",
    "continues_at_rung",
    "grid_size",
    "has_converged",
    "infer_max_resource",
    "judged_among",
    "n_initial_points",
    "rung_decisions",
    "rung_levels",
    "suggest",
    "suggest_hyperband",
]

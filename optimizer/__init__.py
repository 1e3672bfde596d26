"""kubetune optimizer: search spaces and stateless suggestion strategies (numpy/scipy only).

Public interface (a contract with the operator)::

    suggest(space, observations, *, strategy="Bayesian", n=1, pending=(), seed=0,
            goal="Minimize") -> list[dict[str, float | int | str]]

with ``SearchSpace([Continuous(...), Integer(...), Categorical(...)])``, observations as
``Observation(params, value)`` or ``(params, value)`` pairs, ``grid_size(space)`` for the
number of Grid points, and ``has_converged(space, observations, goal=...)`` for the
job-level convergence test. See :func:`kubetune.optimizer.suggest.suggest` for the details.
"""

from kubetune.optimizer.convergence import has_converged
from kubetune.optimizer.grid import grid_size
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
    "SCALINGS",
    "STRATEGIES",
    "Categorical",
    "Continuous",
    "Goal",
    "Integer",
    "Observation",
    "ParamValue",
    "Parameter",
    "Scaling",
    "SearchSpace",
    "Strategy",
    "grid_size",
    "has_converged",
    "n_initial_points",
    "suggest",
]

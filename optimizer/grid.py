"""The Grid strategy: every combination of Integer and Categorical values, in fixed order.

The order is lexicographic over the declared parameters, the last parameter varying
fastest; integers ascend and categoricals follow their declared order. Points already
observed (failed ones included) or pending are skipped; an exhausted grid yields nothing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

from kubetune.optimizer.encoding import FloatArray
from kubetune.optimizer.space import Categorical, Continuous, SearchSpace


def check_grid_space(space: SearchSpace) -> None:
    """Raise ValueError if ``space`` has a Continuous parameter (a grid needs finite values)."""
    for param in space.parameters:
        if isinstance(param, Continuous):
            raise ValueError(
                f"Grid strategy: parameter {param.name!r} is Continuous; Grid enumerates only "
                "Integer and Categorical parameters. Make it Integer or Categorical, or use "
                "the Bayesian, Random or Sobol strategy."
            )


def grid_size(space: SearchSpace) -> int:
    """The number of points in the grid of ``space`` (raises ValueError for Continuous)."""
    check_grid_space(space)
    return math.prod(
        len(p.values) if isinstance(p, Categorical) else p.max - p.min + 1
        for p in space.parameters
        if not isinstance(p, Continuous)
    )


def _grid_values(space: SearchSpace) -> Iterator[tuple[float, ...]]:
    """Raw values (categoricals as indices) of every grid point, in grid order."""
    axes = [
        range(len(p.values)) if isinstance(p, Categorical) else range(p.min, p.max + 1)
        for p in space.parameters
        if not isinstance(p, Continuous)
    ]
    for point in itertools.product(*axes):
        yield tuple(float(v) for v in point)


def next_grid_points(space: SearchSpace, seen: FloatArray, n: int) -> list[tuple[float, ...]]:
    """The first ``n`` grid points (raw values) not among ``seen`` (k, d); fewer at the end.

    Cost is O(k + n) grid steps: the walk stops after n fresh points.
    """
    check_grid_space(space)
    skip = {tuple(float(v) for v in row) for row in seen}
    fresh: list[tuple[float, ...]] = []
    if n <= 0:
        return fresh
    for point in _grid_values(space):
        if point not in skip:
            fresh.append(point)
            if len(fresh) == n:
                break
    return fresh

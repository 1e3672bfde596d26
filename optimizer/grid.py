"""Finite spaces: the Grid strategy, and no repeats for the others.

The Grid strategy: every combination of Integer and Categorical values, in fixed order.
The order is lexicographic over the declared parameters, the last parameter varying
fastest; integers ascend and categoricals follow their declared order. Points already
observed (failed ones included) or pending are skipped; an exhausted grid yields nothing.

The other strategies, in a finite space (Integer and Categorical parameters only), go
through :func:`replace_repeats`: a proposal that repeats a tried configuration (observed,
failed or pending) or one earlier in its batch is replaced by an untried configuration,
drawn as the Random strategy draws (uniformly in each parameter's scaled range) but
restricted to the untried ones; once none is left, fewer points come out, possibly none.
A trial's best is its single observation, so a repeat would re-train for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from kubetune.optimizer.encoding import Encoder, FloatArray
from kubetune.optimizer.space import Categorical, Continuous, Integer, SearchSpace

# Grid points enumerated, at most, to draw an untried configuration (with their weights:
# half a MiB); a larger grid with more than half of it untried is drawn from by rejection.
_MAX_ENUMERATED = 2**16
# Draws for one replacement by rejection, each untried with probability above 1/2: all
# fail with probability below 2^-64, and then the first untried point in grid order is
# taken (a walk of at most len(tried) + 1 grid steps).
_MAX_REDRAWS = 64

Point = tuple[float, ...]


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
    """Raw values (categoricals as indices) of every grid point, in grid order.

    Counted like an odometer, one point at a time: `itertools.product` would first copy
    every axis into a tuple, 4 GB for an Integer of 10^8 values before the first point."""
    axes = _axes(space)
    digits = [0] * len(axes)
    while True:
        yield tuple(float(first + k) for (first, _), k in zip(axes, digits, strict=True))
        for j in reversed(range(len(axes))):  # the last parameter varies fastest
            digits[j] += 1
            if digits[j] < axes[j][1]:
                break
            digits[j] = 0
        else:
            return


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


def is_finite(space: SearchSpace) -> bool:
    """Whether ``space`` has finitely many configurations (no Continuous parameter)."""
    return not any(isinstance(p, Continuous) for p in space.parameters)


def _key(row: FloatArray | Point) -> Point:
    return tuple(float(v) for v in row)


def count_untried(space: SearchSpace, tried: FloatArray) -> int | None:
    """The configurations of a finite ``space`` not among ``tried`` (k, d) (raw values of
    points inside the space, repeats allowed); None for a space with a Continuous
    parameter. O(k), whatever the size of the grid."""
    if not is_finite(space):
        return None
    return grid_size(space) - len({_key(row) for row in tried})


def replace_repeats(
    encoder: Encoder, proposed: FloatArray, tried: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """``proposed`` (n, d) raw values, each row that repeats a row of ``tried`` (k, d) or
    an earlier row replaced by an untried configuration drawn from ``rng`` (the Random
    strategy's distribution restricted to the untried ones); the rows from the first that
    has none left to take its place are dropped, so (m, d) with m <= n comes out.

    ``proposed`` itself (the same object) when no row repeats, or when the space has a
    Continuous parameter (its points are never exhausted): results there do not change.
    """
    space = encoder.space
    if not is_finite(space):
        return proposed
    seen = {_key(row) for row in tried}
    keys = [_key(row) for row in proposed]
    if len(set(keys)) == len(keys) and seen.isdisjoint(keys):
        return proposed
    fresh: list[Point] = []
    for key in keys:
        chosen = key if key not in seen else _draw_untried(encoder, seen, rng)
        if chosen is None:
            break  # every configuration is tried: so would the rest of the batch be
        seen.add(chosen)
        fresh.append(chosen)
    return np.array(fresh, dtype=float).reshape(-1, len(space))


def _draw_untried(encoder: Encoder, seen: set[Point], rng: np.random.Generator) -> Point | None:
    """One configuration not in ``seen``, as the Random strategy would draw it given that it
    is untried; None when every configuration is in ``seen``. Enumerates the grid only
    when it is small, or no more than twice the size of ``seen`` (so the work is bounded
    by the input's size); otherwise draws until untried."""
    space = encoder.space
    size = grid_size(space)
    if size <= len(seen):
        return None
    if size <= max(_MAX_ENUMERATED, 2 * len(seen)):
        weights = _untried_weights(encoder, seen)
        index = int(rng.choice(size, p=weights / weights.sum()))
        return _grid_point(space, index)
    for _ in range(_MAX_REDRAWS):
        row = encoder.decode_values(encoder.from_unit(rng.random((1, len(space)))))[0]
        if _key(row) not in seen:
            return _key(row)
    return next_grid_points(space, np.array(sorted(seen)), 1)[0]


def _axes(space: SearchSpace) -> list[tuple[int, int]]:
    """(first raw value, number of values) of each parameter's axis of the grid."""
    return [
        (0, len(p.values)) if isinstance(p, Categorical) else (p.min, p.max - p.min + 1)
        for p in space.parameters
        if not isinstance(p, Continuous)
    ]


def _grid_point(space: SearchSpace, index: int) -> Point:
    """The raw values of grid point ``index`` (in grid order)."""
    axes = _axes(space)
    offsets = np.unravel_index(index, [count for _, count in axes])
    return tuple(float(first + int(k)) for (first, _), k in zip(axes, offsets, strict=True))


def _untried_weights(encoder: Encoder, seen: set[Point]) -> FloatArray:
    """(grid_size,) in grid order: each point's probability under the Random strategy's
    draw (uniform on each parameter's scaled range: an Integer value owns the stretch of
    [min - 1/2, max + 1/2] that rounds to it, a Categorical value 1/k), 0 where seen."""
    axes = _axes(encoder.space)
    weights = np.ones(1)
    for column, (first, count) in zip(encoder.columns, axes, strict=True):
        if isinstance(column.param, Integer):
            edges = np.arange(first, first + count + 1, dtype=float) - 0.5
            mass = np.diff(column.encode(edges))
        else:
            mass = np.full(count, 1.0 / count)
        weights = np.multiply.outer(weights, mass).ravel()
    if seen:
        offsets = np.array(sorted(seen), dtype=float) - [first for first, _ in axes]
        flat = np.ravel_multi_index(offsets.astype(np.intp).T, [count for _, count in axes])
        weights[flat] = 0.0
    return weights

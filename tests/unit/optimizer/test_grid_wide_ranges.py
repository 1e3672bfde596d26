"""QA105 #1: the Grid strategy walks its grid one point at a time, so a wide Integer range
costs no more than a narrow one (it copied every axis first: 4 GB for 10^8 values, a
MemoryError for 10^15, and an operator OOM-killed at every reconcile)."""

from __future__ import annotations

import itertools
import tracemalloc

from kubetune.optimizer import Categorical, Integer, SearchSpace, suggest


def test_a_grid_over_a_wide_integer_range_gives_its_first_points_in_little_memory() -> None:
    space = SearchSpace([Categorical("opt", ["sgd", "adam"]), Integer("seed", 0, 10**15)])
    tried = [({"opt": "sgd", "seed": 1}, 0.5)]
    pending = [{"opt": "sgd", "seed": 0}]
    tracemalloc.start()
    try:
        points = suggest(space, tried, strategy="Grid", n=3, pending=pending)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert points == [{"opt": "sgd", "seed": s} for s in (2, 3, 4)]
    assert peak < 1_000_000, f"{peak} bytes traced for 3 grid points"


def test_the_grid_order_is_the_last_parameter_fastest() -> None:
    space = SearchSpace([Integer("a", -1, 1), Categorical("c", ["x", "y"]), Integer("b", 5, 6)])
    every = suggest(space, [], strategy="Grid", n=100)
    expected = [
        {"a": a, "c": c, "b": b}
        for a, c, b in itertools.product(range(-1, 2), ["x", "y"], range(5, 7))
    ]
    assert every == expected

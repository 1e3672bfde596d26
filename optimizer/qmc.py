"""Quasi-random points: scrambled Sobol sequences, addressed by index.

The optimizer is stateless, so "the next Sobol point" is the point at index
``len(observations) + len(pending)`` of the sequence fixed by the seed: successive calls walk
the same sequence without remembering anything.
"""

from __future__ import annotations

import warnings

from kubetune.optimizer.encoding import FloatArray


def sobol_unit(d: int, start: int, n: int, seed: int) -> FloatArray:
    """Points ``start .. start + n - 1`` (n, d) of the Owen-scrambled Sobol sequence ``seed``."""
    from scipy.stats import qmc  # noqa: PLC0415 (on first use: see kubetune.optimizer)

    sampler = qmc.Sobol(d, scramble=True, seed=seed)
    if start:
        sampler.fast_forward(start)
    with warnings.catch_warnings():
        # Balance needs powers of two; a stateless caller takes points one batch at a time.
        warnings.simplefilter("ignore", UserWarning)
        points: FloatArray = sampler.random(n)
    return points

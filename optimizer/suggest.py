"""``suggest``: the one stateless entry point, dispatching to the strategies.

Determinism: every random choice draws from ``numpy.random.default_rng`` seeded with
(seed, number of usable observations, number of usable pending trials, strategy), so the
same inputs give the same output, and successive calls (which see more trials) differ.
Sobol-based choices walk one scrambled sequence per seed, indexed by the number of trials
seen (see :mod:`kubetune.optimizer.qmc`).

Finite spaces (Integer and Categorical parameters only): no strategy proposes a
configuration already tried while an untried one remains; a repeat is replaced by an
untried configuration drawn from a stream of its own
(:func:`kubetune.optimizer.grid.replace_repeats`), so that outputs without repeats, and
all outputs in spaces with a Continuous parameter, are those the strategies give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, TypeAlias

import numpy as np
from kubetune.optimizer.bayesian import MAX_MODEL_CHOICES, suggest_bayesian
from kubetune.optimizer.encoding import Encoder, FloatArray
from kubetune.optimizer.grid import count_untried, next_grid_points, replace_repeats
from kubetune.optimizer.observations import GOALS, Goal, History, ObservationLike, parse_history
from kubetune.optimizer.qmc import sobol_unit
from kubetune.optimizer.space import ParamValue, SearchSpace

Strategy: TypeAlias = Literal["Bayesian", "Random", "Sobol", "Grid"]
STRATEGIES: tuple[Strategy, ...] = ("Bayesian", "Random", "Sobol", "Grid")

# Sobol points a Bayesian search starts with: enough to fit a lengthscale per dimension
# roughly, few enough that the model takes over early in a small budget.
_MIN_INITIAL, _MAX_INITIAL = 5, 10
# Sobol indices tried when an initial-design point repeats a known one (discrete spaces).
_MAX_SOBOL_SKIPS = 64
# The random stream that replaces repeated configurations (finite spaces), apart from the
# strategies' own draws.
_UNTRIED_STREAM = 1


def n_initial_points(space: SearchSpace) -> int:
    """How many Sobol points the Bayesian strategy proposes before using the model."""
    return min(max(_MIN_INITIAL, len(space) + 1), _MAX_INITIAL)


def _check_arguments(strategy: object, n: object, seed: object, goal: object) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(
            f"suggest: strategy={strategy!r} is not one of {list(STRATEGIES)}; use one of those."
        )
    if goal not in GOALS:
        raise ValueError(f"suggest: goal={goal!r} is not one of {list(GOALS)}; use one of those.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"suggest: n={n!r} must be an int >= 0 (the number of points wanted).")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"suggest: seed={seed!r} must be an int.")


def _rng(seed: int, history: History, strategy: Strategy, *stream: int) -> np.random.Generator:
    return np.random.default_rng(
        [
            seed % 2**64,
            len(history.values),
            len(history.pending),
            STRATEGIES.index(strategy),
            *stream,
        ]
    )


def sobol_values(
    encoder: Encoder, seed: int, start: int, n: int, known: FloatArray | None = None
) -> FloatArray:
    """Raw values (n, d) of Sobol points from index ``start``; with ``known`` (k, d), points
    equal to a known one (or to each other) are skipped, up to ``_MAX_SOBOL_SKIPS``."""
    d = len(encoder.columns)
    if n == 0:
        return np.empty((0, d))
    if known is None:
        return encoder.decode_values(encoder.from_unit(sobol_unit(d, start, n, seed % 2**32)))
    batch = encoder.decode_values(
        encoder.from_unit(sobol_unit(d, start, n + _MAX_SOBOL_SKIPS, seed % 2**32))
    )
    seen = {tuple(row) for row in known}
    fresh: list[FloatArray] = []
    for row in batch:
        if tuple(row) not in seen:
            fresh.append(row)
            seen.add(tuple(row))
            if len(fresh) == n:
                break
    fresh.extend(batch[len(batch) - (n - len(fresh)) :] if len(fresh) < n else [])
    return np.array(fresh).reshape(-1, d)


def _bayesian(
    encoder: Encoder, history: History, n: int, seed: int, rng: np.random.Generator
) -> FloatArray:
    d = len(encoder.columns)
    n_finite = int(np.isfinite(history.losses).sum())
    # The model takes over once enough trials have *finished*: pending ones carry no
    # information, and a GP fitted on fewer points than the design is unreliable. Until
    # then the Sobol sequence continues past the pending points (index ``n_seen``).
    n_design = max(0, min(n, n_initial_points(encoder.space) - len(history.values)))
    if n_finite == 0:
        n_design = n  # nothing to model yet (no trial finished, or all failed)
    known = np.vstack([history.values, history.pending])
    design = sobol_values(encoder, seed, history.n_seen, n_design, known)
    if n_design == n:
        return design
    # A batch larger than MAX_MODEL_CHOICES (many free slots) gets the model's points
    # first and the rest from the Sobol sequence, from the indices after the design's (this
    # call's n indices are passed to the next call's design by ``n_seen``).
    n_model = min(n - n_design, MAX_MODEL_CHOICES)
    model_points = suggest_bayesian(encoder, history, design, n_model, rng)
    n_fill = n - n_design - n_model
    if n_fill == 0:
        return np.vstack([design, model_points]).reshape(-1, d)
    known = np.vstack([known, design, model_points])
    fill = sobol_values(encoder, seed, history.n_seen + n_design, n_fill, known)
    return np.vstack([design, model_points, fill]).reshape(-1, d)


def suggest(
    space: SearchSpace,
    observations: Sequence[ObservationLike],
    *,
    strategy: Strategy = "Bayesian",
    n: int = 1,
    pending: Sequence[Mapping[str, object]] = (),
    seed: int = 0,
    goal: Goal = "Minimize",
) -> list[dict[str, ParamValue]]:
    """Propose ``n`` new parameter dicts for ``space``.

    In:
      observations: finished trials as ``Observation(params, value)`` or ``(params, value)``.
        Params outside the space or missing a parameter are ignored (e.g. warm-start trials
        from a job with another space); a non-finite or non-numeric value is a failed trial.
      strategy: "Bayesian" (GP + expected improvement, after a short Sobol design),
        "Random" (uniform in each parameter's scaled range), "Sobol" (scrambled Sobol
        sequence) or "Grid" (Integer/Categorical only; see :mod:`kubetune.optimizer.grid`).
      pending: params of running trials; Bayesian and Grid avoid them, and in a finite
        space every strategy does.
      seed: any int; combined with the numbers of observations and pending trials.
      goal: "Minimize" or "Maximize" the value.
    Out: up to ``n`` dicts {name: value}, values of the declared kinds (float for
    Continuous, int for Integer, the str for Categorical), inside their ranges. In a
    finite space (Integer and Categorical parameters only), none repeats an observed
    (failed included) or pending configuration, or another of the batch: every strategy
    returns fewer than ``n`` (possibly none) when fewer configurations are untried, and
    Random draws uniformly in each parameter's scaled range among the untried ones. With
    a Continuous parameter, exactly ``n``.
    Raises ValueError for an unknown strategy or goal, a bad ``n`` or ``seed``, or Grid on a
    space with a Continuous parameter.
    """
    _check_arguments(strategy, n, seed, goal)
    encoder = Encoder(space)
    history = parse_history(encoder, observations, pending, goal)
    tried = np.vstack([history.values, history.pending])
    if strategy == "Grid":
        points = next_grid_points(space, tried, n)
        return encoder.values_to_params(np.array(points).reshape(-1, len(space)))
    if n == 0 or count_untried(space, tried) == 0:
        return []
    rng = _rng(seed, history, strategy)
    if strategy == "Random":
        values = encoder.decode_values(encoder.from_unit(rng.random((n, len(space)))))
    elif strategy == "Sobol":
        # Skipping known points keeps the sequence from repeating a running trial's when
        # the caller left out a trial that had used an earlier index.
        values = sobol_values(encoder, seed, history.n_seen, n, tried)
    else:
        values = _bayesian(encoder, history, n, seed, rng)
    untried_rng = _rng(seed, history, strategy, _UNTRIED_STREAM)
    return encoder.values_to_params(replace_repeats(encoder, values, tried, untried_rng))

"""Turning the caller's observations and pending trials into arrays.

Observations come from the TuningJob status and, with warm start, from other jobs, so they
are filtered rather than trusted: an observation whose params lack a parameter of the
space, or hold a value outside it, is ignored (no error); extra keys are ignored. A value
that is not a finite number (NaN, ±inf, None, a non-numeric string) marks a failed trial:
it is kept, as NaN, so that strategies neither count it as a success nor propose the same
point again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias

import numpy as np
from kubetune.optimizer.encoding import Encoder, FloatArray

Goal: TypeAlias = Literal["Minimize", "Maximize"]
GOALS: tuple[Goal, ...] = ("Minimize", "Maximize")


class Observation(NamedTuple):
    """One finished trial: its hyperparameters and objective value (NaN/inf = failed)."""

    params: Mapping[str, object]
    value: float


ObservationLike: TypeAlias = Observation | tuple[Mapping[str, object], object]


@dataclass(frozen=True)
class History:
    """The usable part of the caller's input, as raw values (categoricals as indices).

    values: (n, d) observed points inside the space.
    losses: (n,) objective to minimise (negated for Maximize); NaN for failed trials.
    pending: (p, d) points of running trials inside the space.
    """

    values: FloatArray
    losses: FloatArray
    pending: FloatArray

    @property
    def n_seen(self) -> int:
        return len(self.values) + len(self.pending)


def _as_loss(value: object, goal: Goal) -> float:
    if isinstance(value, bool):
        return math.nan
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    if not math.isfinite(number):
        return math.nan
    return number if goal == "Minimize" else -number


def parse_history(
    encoder: Encoder,
    observations: Sequence[ObservationLike],
    pending: Sequence[Mapping[str, object]],
    goal: Goal,
) -> History:
    """Filter and convert; see the module docstring for what is dropped and why."""
    d = len(encoder.columns)
    rows: list[FloatArray] = []
    losses: list[float] = []
    for observation in observations:
        try:
            params, value = observation
        except (TypeError, ValueError):
            continue
        row = encoder.parse(params)
        if row is not None:
            rows.append(row)
            losses.append(_as_loss(value, goal))
    pending_rows = [r for r in (encoder.parse(p) for p in pending) if r is not None]
    return History(
        values=np.array(rows).reshape(-1, d),
        losses=np.array(losses, dtype=float),
        pending=np.array(pending_rows).reshape(-1, d),
    )

"""The map between parameter dicts and model features: one column per parameter.

Notation
--------
d: number of parameters (columns).
u: a numeric feature in [0, 1], the parameter's position in its warped range.
features: an array (..., d). Numeric columns hold u; categorical columns hold the index
    of the value (0, 1, ..., k-1) as a float, which the kernel compares by equality.

Warps (``warp`` per numeric column)
-----------------------------------
- ``"Linear"``: w(x) = x.
- ``"Logarithmic"``: w(x) = log x (needs min > 0).
- ``"ReverseLogarithmic"``: w(x) = -log(1 - x), dense near 1 (needs max < 1).
Integers are widened by half a step before warping, [min - 1/2, max + 1/2], so every
integer owns an equal share of the warped interval; decoding rounds back. ``"Auto"``
resolves to Logarithmic when the range spans at least two decades with min > 0 (AMT's rule
of thumb) and Linear otherwise; the Bayesian strategy may then switch a column whose range
spans at least a decade to the other warp when the marginal likelihood prefers it
(:func:`kubetune.optimizer.bayesian`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from kubetune.optimizer.space import (
    Categorical,
    Continuous,
    Integer,
    Parameter,
    ParamValue,
    SearchSpace,
)

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
IntArray: TypeAlias = npt.NDArray[np.intp]
Warp: TypeAlias = Literal["Linear", "Logarithmic", "ReverseLogarithmic"]

# Two decades: AMT's documented threshold for treating a range as log-scaled by default.
AUTO_LOG_MIN_RATIO = 100.0
# Ranges narrower than a decade look nearly the same under both warps: not worth learning.
LEARNABLE_LOG_MIN_RATIO = 10.0
# Observed values may have been rounded by a trainer or a YAML round trip.
_RANGE_TOLERANCE = 1e-9
# Significant digits of a suggested Continuous value: a person reads ``0.99``, not the
# ``0.9899999999999999`` that exp/log round trips leave; 10 digits are far finer than any
# model can tell apart (the no-repeat rule already treats 1 % of a range as one point).
SIGNIFICANT_DIGITS = 10
# A value this close to a bound (relative to the range) is the bound: 9e-15 on [0, 0.9999]
# has 10 readable digits but means 0.
_AT_BOUND = 1e-10


def default_warp(param: Continuous | Integer) -> Warp:
    """The warp a numeric parameter gets before any data: its declared scaling, Auto resolved."""
    if param.scaling != "Auto":
        return param.scaling
    if param.min > 0 and param.max / param.min >= AUTO_LOG_MIN_RATIO:
        return "Logarithmic"
    return "Linear"


def is_warp_learnable(param: Parameter) -> bool:
    """Whether the Bayesian strategy may choose between Linear and Logarithmic for ``param``."""
    return (
        not isinstance(param, Categorical)
        and param.scaling == "Auto"
        and param.min > 0
        and param.max / param.min >= LEARNABLE_LOG_MIN_RATIO
    )


def _warp(warp: Warp, x: FloatArray) -> FloatArray:
    if warp == "Logarithmic":
        return np.log(x)
    if warp == "ReverseLogarithmic":
        return -np.log1p(-x)
    return x


def _unwarp(warp: Warp, t: FloatArray) -> FloatArray:
    if warp == "Logarithmic":
        return np.exp(t)
    if warp == "ReverseLogarithmic":
        return -np.expm1(-t)
    return t


def readable(x: FloatArray, lo: float, hi: float, position: FloatArray | None = None) -> FloatArray:
    """Values (m,) as a person would write them: within ``_AT_BOUND`` of the range of a
    bound, the bound itself; otherwise rounded to ``SIGNIFICANT_DIGITS`` significant digits
    and clipped to [lo, hi] (clipping last keeps a bound exact). ``position`` (m,) is where
    the values lie in the range as it is searched (0 at lo, 1 at hi: on a log scale the
    bottom decades of [1e-12, 1] are far from lo, though within 1e-10 of it); by default
    the linear one.

    Decimal formatting rounds correctly at every magnitude, where scaling by a power of
    ten would not (10^k is inexact in binary beyond 10^22); m is small (decoded points).
    """
    rounded = np.array([float(f"{v:.{SIGNIFICANT_DIGITS}g}") for v in np.ravel(x)])
    rounded = np.clip(rounded.reshape(np.shape(x)), lo, hi)
    if position is None:
        # Halved, so that a range as wide as [-1e308, 1e308] does not overflow.
        position = (rounded / 2 - lo / 2) / (hi / 2 - lo / 2)
    return np.where(position <= _AT_BOUND, lo, np.where(position >= 1 - _AT_BOUND, hi, rounded))


@dataclass(frozen=True)
class ColumnCodec:
    """Encoding of one parameter: value ↔ feature."""

    param: Parameter
    warp: Warp

    @property
    def n_choices(self) -> int:
        """Number of categorical values; 0 for numeric columns."""
        return len(self.param.values) if isinstance(self.param, Categorical) else 0

    def _warped_bounds(self) -> tuple[float, float]:
        param = self.param
        assert not isinstance(param, Categorical)
        half = 0.5 if isinstance(param, Integer) else 0.0
        bounds = _warp(self.warp, np.array([param.min - half, param.max + half], dtype=float))
        return float(bounds[0]), float(bounds[1])

    def encode(self, values: FloatArray) -> FloatArray:
        """Parameter values (numeric, or categorical indices) (m,) -> features (m,)."""
        if isinstance(self.param, Categorical):
            return values.astype(float)
        lo, hi = self._warped_bounds()
        # In halves, as `readable` computes: hi - lo of [-1e308, 1e308] overflows to inf,
        # which put every value at one end. Halving is exact (subnormals apart): no other
        # range encodes differently.
        return (_warp(self.warp, values.astype(float)) / 2 - lo / 2) / (hi / 2 - lo / 2)

    def decode(self, features: FloatArray) -> FloatArray:
        """Features (m,) -> parameter values (m,): in range, integers and indices rounded."""
        param = self.param
        if isinstance(param, Categorical):
            return np.clip(np.rint(features), 0, len(param.values) - 1)
        lo, hi = self._warped_bounds()
        position = np.clip(features, 0.0, 1.0)
        x = _unwarp(self.warp, 2 * (lo / 2 + position * (hi / 2 - lo / 2)))  # see encode
        if isinstance(param, Integer):
            return np.clip(np.rint(x), param.min, param.max)
        return readable(x, param.min, param.max, position)

    def from_unit(self, u: FloatArray) -> FloatArray:
        """Points of the unit interval (m,) (e.g. Sobol) -> valid features (m,)."""
        if isinstance(self.param, Categorical):
            k = len(self.param.values)
            return np.minimum(np.floor(u * k), k - 1).astype(float)
        return self.snap(u)

    def snap(self, features: FloatArray) -> FloatArray:
        """Features (m,) -> the features of the nearest valid parameter values (m,)."""
        if isinstance(self.param, Continuous):
            return np.clip(features, 0.0, 1.0)
        return self.encode(self.decode(features))

    def parse(self, raw: object) -> float | None:
        """A value as the caller sent it -> numeric value or categorical index; None if invalid.

        Lenient on purpose (warm-start trials come from other jobs, values may have passed
        through strings): numeric strings are accepted, out-of-range or unknown values are not.
        """
        param = self.param
        if isinstance(param, Categorical):
            key = raw if isinstance(raw, str) else str(raw)
            return float(param.values.index(key)) if key in param.values else None
        if isinstance(raw, bool):
            return None
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        span = param.max - param.min
        if not math.isfinite(value) or not (
            param.min - _RANGE_TOLERANCE * span <= value <= param.max + _RANGE_TOLERANCE * span
        ):
            return None
        if isinstance(param, Integer):
            # Exactly inside the range once rounded: a tolerance relative to the span would
            # admit whole integers outside it (min - 2 for a span of 2e9, log(0) on a log
            # scale), which no job of this space can have run.
            if abs(value - round(value)) > 1e-6 or not param.min <= round(value) <= param.max:
                return None
            return float(round(value))
        return min(max(value, float(param.min)), float(param.max))

    def to_python(self, value: float) -> ParamValue:
        """A decoded value -> the declared Python type (float, int or the categorical str)."""
        param = self.param
        if isinstance(param, Categorical):
            return param.values[int(value)]
        if isinstance(param, Integer):
            return int(value)
        return float(value)


class Encoder:
    """Encodes whole parameter dicts of a :class:`SearchSpace` as feature rows."""

    def __init__(self, space: SearchSpace, warps: Mapping[str, Warp] | None = None) -> None:
        chosen = dict(warps or {})
        self.space = space
        self.columns: tuple[ColumnCodec, ...] = tuple(
            ColumnCodec(
                p,
                "Linear" if isinstance(p, Categorical) else chosen.get(p.name, default_warp(p)),
            )
            for p in space.parameters
        )
        self.is_categorical = np.array([c.n_choices > 0 for c in self.columns])  # (d,)
        self.is_integer = np.array([isinstance(c.param, Integer) for c in self.columns])  # (d,)

    @property
    def warps(self) -> dict[str, Warp]:
        return {c.param.name: c.warp for c in self.columns if c.n_choices == 0}

    def with_warp(self, name: str, warp: Warp) -> Encoder:
        """A copy with one numeric column's warp replaced."""
        return Encoder(self.space, {**self.warps, name: warp})

    def parse(self, params: object) -> FloatArray | None:
        """A parameter dict -> raw values (d,) (categoricals as indices); None if any key is
        missing or any value is outside the space. Extra keys are ignored."""
        if not isinstance(params, Mapping):
            return None
        row = np.empty(len(self.columns))
        for j, column in enumerate(self.columns):
            if column.param.name not in params:
                return None
            value = column.parse(params[column.param.name])
            if value is None:
                return None
            row[j] = value
        return row

    def encode_values(self, values: FloatArray) -> FloatArray:
        """Raw values (m, d) -> features (m, d)."""
        return np.stack([c.encode(values[:, j]) for j, c in enumerate(self.columns)], axis=1)

    def decode_values(self, features: FloatArray) -> FloatArray:
        """Features (m, d) -> raw values (m, d)."""
        return np.stack([c.decode(features[:, j]) for j, c in enumerate(self.columns)], axis=1)

    def from_unit(self, U: FloatArray) -> FloatArray:
        """Unit-cube points (m, d) -> valid features (m, d)."""
        return np.stack([c.from_unit(U[:, j]) for j, c in enumerate(self.columns)], axis=1)

    def snap(self, features: FloatArray) -> FloatArray:
        """Features (m, d) -> features of the nearest valid points (m, d)."""
        return np.stack([c.snap(features[:, j]) for j, c in enumerate(self.columns)], axis=1)

    def to_params(self, features: FloatArray) -> list[dict[str, ParamValue]]:
        """Features (m, d) -> parameter dicts with values of the declared Python types."""
        return self.values_to_params(self.decode_values(np.atleast_2d(features)))

    def values_to_params(self, values: FloatArray) -> list[dict[str, ParamValue]]:
        """Raw values (m, d) as decoded -> parameter dicts of the declared Python types."""
        return [
            {c.param.name: c.to_python(row[j]) for j, c in enumerate(self.columns)}
            for row in values
        ]

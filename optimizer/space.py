"""Search spaces: the parameter types a TuningJob declares, validated on construction.

Semantics follow SageMaker Automatic Model Tuning (AMT):

- ``Continuous(name, min, max, scaling)`` and ``Integer(name, min, max, scaling)`` cover the
  closed range ``[min, max]``; ``Categorical(name, values)`` picks one of ``values`` (strings,
  as the CRD carries them).
- ``scaling`` is one of ``"Auto"``, ``"Linear"``, ``"Logarithmic"``, ``"ReverseLogarithmic"``.
  Logarithmic needs ``min > 0``; ReverseLogarithmic is Continuous-only and needs
  ``0 <= min < max < 1``. ``"Auto"`` lets the Bayesian strategy decide per dimension
  (see :mod:`kubetune.optimizer.encoding`).

Every problem raises ``ValueError`` naming the parameter, the value and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

Scaling: TypeAlias = Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"]
SCALINGS: tuple[Scaling, ...] = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")

ParamValue: TypeAlias = float | int | str


def _check_scaling(kind: str, name: str, scaling: object) -> None:
    if scaling not in SCALINGS:
        raise ValueError(
            f"{kind} parameter {name!r}: scaling={scaling!r} is not one of {list(SCALINGS)}; "
            "use one of those spellings (case matters)."
        )


def _check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} parameter: name={name!r} must be a non-empty string.")


def _check_finite_number(kind: str, name: str, field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{kind} parameter {name!r}: {field}={value!r} must be a finite number.")


@dataclass(frozen=True)
class Continuous:
    """A real-valued parameter in ``[min, max]``."""

    name: str
    min: float
    max: float
    scaling: Scaling = "Auto"

    def __post_init__(self) -> None:
        _check_name("Continuous", self.name)
        _check_finite_number("Continuous", self.name, "min", self.min)
        _check_finite_number("Continuous", self.name, "max", self.max)
        _check_scaling("Continuous", self.name, self.scaling)
        if not self.min < self.max:
            raise ValueError(
                f"Continuous parameter {self.name!r}: min={self.min!r} must be below "
                f"max={self.max!r}; swap them, or use a Categorical with one value."
            )
        if self.scaling == "Logarithmic" and self.min <= 0:
            raise ValueError(
                f"Continuous parameter {self.name!r}: Logarithmic scaling needs min > 0, got "
                f"min={self.min!r}; raise min or use scaling='Linear'."
            )
        if self.scaling == "ReverseLogarithmic" and not (self.min >= 0 and self.max < 1):
            raise ValueError(
                f"Continuous parameter {self.name!r}: ReverseLogarithmic scaling needs "
                f"0 <= min < max < 1, got min={self.min!r}, max={self.max!r}; narrow the "
                "range or use scaling='Linear'."
            )


@dataclass(frozen=True)
class Integer:
    """An integer parameter in ``[min, max]`` (both inclusive)."""

    name: str
    min: int
    max: int
    scaling: Scaling = "Auto"

    def __post_init__(self) -> None:
        _check_name("Integer", self.name)
        for field, value in (("min", self.min), ("max", self.max)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(
                    f"Integer parameter {self.name!r}: {field}={value!r} must be an int; "
                    "use Continuous for fractional ranges."
                )
        _check_scaling("Integer", self.name, self.scaling)
        if not self.min < self.max:
            raise ValueError(
                f"Integer parameter {self.name!r}: min={self.min!r} must be below "
                f"max={self.max!r}; swap them, or use a Categorical with one value."
            )
        if self.scaling == "Logarithmic" and self.min <= 0:
            raise ValueError(
                f"Integer parameter {self.name!r}: Logarithmic scaling needs min > 0, got "
                f"min={self.min!r}; raise min to 1 or use scaling='Linear'."
            )
        if self.scaling == "ReverseLogarithmic":
            raise ValueError(
                f"Integer parameter {self.name!r}: scaling='ReverseLogarithmic' is only "
                "allowed for Continuous parameters; use 'Linear', 'Logarithmic' or 'Auto'."
            )


@dataclass(frozen=True)
class Categorical:
    """A parameter that takes one of ``values`` (distinct strings, in declared order)."""

    name: str
    values: tuple[str, ...]

    def __init__(self, name: str, values: Iterable[str]) -> None:
        # A list from the caller is frozen into a tuple so the space stays hashable.
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "values", tuple(values))
        _check_name("Categorical", name)
        if not self.values:
            raise ValueError(
                f"Categorical parameter {name!r}: values is empty; list at least one value."
            )
        for value in self.values:
            if not isinstance(value, str):
                raise ValueError(
                    f"Categorical parameter {name!r}: value {value!r} must be a string; "
                    f"quote it (e.g. {str(value)!r})."
                )
        if len(set(self.values)) != len(self.values):
            duplicates = sorted({v for v in self.values if self.values.count(v) > 1})
            raise ValueError(
                f"Categorical parameter {name!r}: values {duplicates} appear more than once; "
                "list each value once."
            )


Parameter: TypeAlias = Continuous | Integer | Categorical


class SearchSpace:
    """An ordered, validated collection of parameters with unique names.

    The order is the declared one; encodings and Grid enumeration follow it.
    """

    def __init__(self, parameters: Sequence[Parameter]) -> None:
        params = tuple(parameters)
        if not params:
            raise ValueError("SearchSpace: parameters is empty; declare at least one parameter.")
        seen: set[str] = set()
        for param in params:
            if not isinstance(param, Continuous | Integer | Categorical):
                raise ValueError(
                    f"SearchSpace: {param!r} is not a Continuous, Integer or Categorical parameter."
                )
            if param.name in seen:
                raise ValueError(
                    f"SearchSpace: parameter name {param.name!r} appears more than once; "
                    "give every parameter a unique name."
                )
            seen.add(param.name)
        self.parameters: tuple[Parameter, ...] = params

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.parameters == other.parameters

    def __hash__(self) -> int:
        return hash(self.parameters)

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.parameters)!r})"

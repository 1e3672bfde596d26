"""Hyperparameter values as text: the one place that says how a tuned value is written
in the status and passed to the trainer (the optimizer reads the same text back)."""

from __future__ import annotations

from kubetune.operator.api.enums import ParameterType
from kubetune.operator.api.spec import Parameter


def format_value(parameter: Parameter, value: float | int | str) -> str:
    """The text of a tuned value as status and trainers see it.

    Continuous: Python's shortest exact `repr` of the float (at most
    NUMBER_TEXT_MAX_LENGTH characters, which the status size rule relies on); Integer: the
    nearest whole number without a fraction (63.9999 is "64"); Categorical: the value.
    """
    if parameter.type is ParameterType.CATEGORICAL:
        return str(value)
    if parameter.type is ParameterType.INTEGER:
        return str(round(float(value)))
    return repr(float(value))

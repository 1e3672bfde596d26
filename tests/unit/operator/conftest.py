"""Fixtures of the operator's unit tests."""

from __future__ import annotations

import pytest
from kubetune.operator.models import TuningJobSpec
from operator_specs import make_spec


@pytest.fixture
def spec() -> TuningJobSpec:
    return make_spec()

"""Fixtures of the operator's unit tests."""

from __future__ import annotations

import pytest
from kubetune.operator.api import TuningJobSpec
from support.specs import make_spec


@pytest.fixture
def spec() -> TuningJobSpec:
    return make_spec()

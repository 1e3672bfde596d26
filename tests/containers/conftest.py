"""Tests of the images `make images` builds, run under podman (hack/podman). Marked
``containers``: `make unit` leaves them out, `make test` builds the images first."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks every test in this folder with ``containers``."""
    for item in items:
        if Path(str(item.path)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.containers)

"""Fixtures for the chart tests: the helm binary and `helm template` renders."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support.chart_render import CHART, DEFAULT_HELM, RELEASE, RELEASE_NAMESPACE, Render


@pytest.fixture(scope="session")
def helm() -> Path:
    path = Path(os.environ.get("KUBETUNE_HELM", DEFAULT_HELM))
    if not os.access(path, os.X_OK):
        pytest.fail(f"helm not found at {path}: run `make helm` (builds it once, cached)")
    return path


@pytest.fixture(scope="session")
def run_helm(helm: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
        )

    return run


@pytest.fixture(scope="session")
def render(run_helm: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., Render]:
    """`render("watchNamespaces={a,b}", ...)`: the chart rendered with those --set values."""

    def _render(*set_values: str) -> Render:
        args = ["template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE]
        for value in set_values:
            args += ["--set", value]
        done = run_helm(*args)
        assert done.returncode == 0, done.stderr
        objects = [o for o in yaml.safe_load_all(done.stdout) if o]
        return Render(done.stdout, objects)

    return _render

"""The notebook API's optional extras: without matplotlib, a plot method says what it
needs and how to install it, as `dataframe()` does for pandas and `kubetune plot` for
matplotlib (QA84 L14: a bare `No module named 'matplotlib'`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from kubetune import analytics
from kubetune.analytics import TuningJobAnalytics
from support.cli_data import write_directory
from synthetic_tuning_job import synthetic_tuning_job

PLOTS = ("plot_progress", "plot_parameters", "plot_scatter_matrix", "plot_rungs", "plot_summary")


@pytest.mark.parametrize("method", PLOTS)
def test_a_plot_without_matplotlib_says_how_to_install_it(
    method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tuning = TuningJobAnalytics(
        directory=write_directory(synthetic_tuning_job("demo", 6), tmp_path / "demo")
    )
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    # Imported before (another test), the module stays an attribute of its package, which
    # `from kubetune.analytics import plots` would take without importing anything.
    monkeypatch.delitem(sys.modules, "kubetune.analytics.plots", raising=False)
    monkeypatch.delattr(analytics, "plots", raising=False)
    with pytest.raises(ImportError) as raised:
        getattr(tuning, method)()
    assert str(raised.value) == (
        f"TuningJobAnalytics.{method}() needs matplotlib: pip install 'kubetune[analytics]'"
    )

"""Trials stopped before their last epoch (at a Hyperband rung, or by early stopping) in
the per-parameter panels and the scatter matrix: grey rings at the value read when they
stopped, named in a legend, and left out of the objective's colours (QA76 L8: a trial
stopped after 1 epoch read as a finished result)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubetune.analytics.plots import all_axes, summary_figure
from kubetune.analytics.resource import parse_tuning_job
from matplotlib.collections import PathCollection
from support.cli_data import hyperband_tuning_job

pytestmark = pytest.mark.slow


def test_trials_stopped_at_a_rung_are_grey_rings_outside_the_colour_scale(
    tmp_path: Path,
) -> None:
    body = hyperband_tuning_job(30)
    trials = body["status"]["trials"]
    finished = sorted(t["objective"] for t in trials if t["phase"] == "Succeeded")
    stopped = sorted(t["objective"] for t in trials if t["phase"] == "EarlyStopped")
    assert finished and stopped and min(stopped) < min(finished)
    figure = summary_figure(parse_tuning_job(body))
    figure.savefig(tmp_path / "hb.png", dpi=60)
    axes = list(all_axes(figure))
    panels = [ax for ax in axes if ax.get_title().startswith("objective vs ")]
    matrix = [ax for ax in axes if not ax.get_title() and ax.collections and ax.get_xlabel()]
    assert panels and matrix
    for ax in panels:
        rings, coloured = (c for c in ax.collections if isinstance(c, PathCollection))
        assert rings.get_label() == "stopped at a rung"
        assert len(rings.get_facecolors()) == 0 or not rings.get_facecolors()[:, 3].any()
        assert sorted(rings.get_offsets()[:, 1]) == stopped
        assert sorted(coloured.get_offsets()[:, 1]) == finished
        assert (coloured.norm.vmin, coloured.norm.vmax) == (finished[0], finished[-1])
    legend = panels[0].get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [
        "stopped at a rung",
        "trained to the end",
        "failed",
        "best",
    ]
    for ax in matrix:
        scatters = [
            c for c in ax.collections if isinstance(c, PathCollection) and c.get_label() != "failed"
        ]
        if scatters:  # off the diagonal
            rings, coloured = scatters
            assert len(rings.get_offsets()) == len(stopped)
            assert len(coloured.get_offsets()) == len(finished)
    suptitles = [sub.get_suptitle() for sub in figure.subfigs]  # the matrix is the second
    assert any(
        "; grey rings: stopped at a rung; red x and bars: failed" in title for title in suptitles
    )

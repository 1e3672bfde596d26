"""The plots: the panels they must contain, the axis scales the optimizer's scaling
implies, and tick labels that never overlap, checked on the rendered figure's label boxes
at ranges that crowd them (no cluster)."""

from __future__ import annotations

import io
import math
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kubetune.analytics import NotFoundError, TuningJobAnalytics
from kubetune.analytics.plots import (
    all_axes,
    axis_scale,
    best_so_far,
    comparison_figure,
    drawn_tick_labels,
    progress_figure,
    rung_curve,
    rungs_figure,
    scatter_matrix_figure,
    summary_figure,
)
from kubetune.analytics.resource import Parameter, TuningJobView, parse_tuning_job
from kubetune.cli.main import EXIT_OK, run
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import imread
from support.cli_data import HYPERBAND_RUNGS, hyperband_tuning_job, write_directory
from synthetic_tuning_job import synthetic_tuning_job

# Rendering figures takes seconds each: these run in make test, not in make unit.
pytestmark = pytest.mark.slow


def tick_label_boxes(figure: Figure) -> list[tuple[str, Any]]:
    """(text, window box) of every tick label the saved figure shows."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = []
    for ax in all_axes(figure):
        for axis in (a for a in (ax.xaxis, ax.yaxis) if a.get_visible()):
            low, high = sorted(axis.get_view_interval())
            ticks = list(
                zip(axis.get_majorticklocs(), axis.get_majorticklabels(), strict=False)
            ) + list(zip(axis.get_minorticklocs(), axis.get_minorticklabels(), strict=False))
            for location, label in ticks:
                if label.get_visible() and label.get_text() and low <= location <= high:
                    boxes.append((label.get_text(), label.get_window_extent(renderer)))
    return boxes


def overlaps(figure: Figure, tmp_path: Path) -> list[tuple[str, str]]:
    figure.savefig(tmp_path / "check.png", dpi=100)  # what a user sees
    boxes = tick_label_boxes(figure)
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.overlaps(box_b)
    ]


def test_summary_has_every_panel(view: TuningJobView, tmp_path: Path) -> None:
    figure = summary_figure(view)
    titles = [ax.get_title() for ax in all_axes(figure)]
    assert "objective per trial" in titles
    for name in ("learning_rate", "momentum", "wd", "num_layers", "optimizer"):
        assert f"objective vs {name}" in titles
    matrix = [
        ax
        for ax in all_axes(figure)
        if ax.get_subplotspec() and ax.get_subplotspec().get_gridspec().get_geometry() == (5, 5)
    ]
    cells = {
        (ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in matrix
    }
    assert len(cells) == 25  # every pair of the five parameters
    labels = {ax.get_xlabel() for ax in matrix} | {ax.get_ylabel() for ax in matrix}
    assert {"learning_rate", "momentum", "wd", "num_layers", "optimizer"} <= labels
    colorbars = [
        ax
        for ax in all_axes(figure)
        if ax.get_ylabel() == "validation:accuracy" and ax not in matrix and not ax.get_title()
    ]
    assert colorbars, "the scatter matrix has a colour bar of the objective"
    progress = next(ax for ax in all_axes(figure) if ax.get_title() == "objective per trial")
    assert [line.get_label() for line in progress.get_lines()][-1] == "best so far"
    assert not overlaps(figure, tmp_path)


def test_axis_scales_follow_the_optimizer(view: TuningJobView) -> None:
    def parameter(**fields: Any) -> Parameter:
        return Parameter.model_validate({"name": "p", "type": "Continuous", **fields})

    assert axis_scale(parameter(min=1e-4, max=0.5, scaling="Logarithmic")) == "log"
    assert axis_scale(parameter(min=1e-4, max=0.5)) == "log"  # Auto: 3.7 decades
    assert axis_scale(parameter(min=0.01, max=0.5)) == "linear"  # Auto: under 2 decades
    assert axis_scale(parameter(min=0.0, max=0.001)) == "linear"  # Auto: min 0
    assert axis_scale(parameter(min=0.9, max=0.999, scaling="ReverseLogarithmic")) == "reverse-log"
    figure = summary_figure(view)
    panel = next(ax for ax in all_axes(figure) if ax.get_title() == "objective vs learning_rate")
    assert panel.get_xscale() == "log"
    panel = next(ax for ax in all_axes(figure) if ax.get_title() == "objective vs wd")
    assert panel.get_xscale() == "linear"


RANGES = {
    "wd 0-0.001": {"name": "wd", "type": "Continuous", "min": 0.0, "max": 0.001},
    "tiny": {"name": "wd", "type": "Continuous", "min": 0.0, "max": 3e-9},
    "huge": {"name": "wd", "type": "Continuous", "min": 1000.0, "max": 9.9e8, "scaling": "Linear"},
    "narrow log": {
        "name": "wd",
        "type": "Continuous",
        "min": 0.011,
        "max": 0.013,
        "scaling": "Logarithmic",
    },
    "wide log": {
        "name": "wd",
        "type": "Continuous",
        "min": 1e-12,
        "max": 1e6,
        "scaling": "Logarithmic",
    },
    "reverse log": {
        "name": "wd",
        "type": "Continuous",
        "min": 0.9,
        "max": 0.99999,
        "scaling": "ReverseLogarithmic",
    },
    "many integers": {"name": "wd", "type": "Integer", "min": -100000000, "max": 100000000},
    "long categories": {
        "name": "wd",
        "type": "Categorical",
        "values": [f"configuration-{i:02d}-{'x' * 10}" for i in range(30)],
    },
}


@pytest.mark.parametrize("parameter", RANGES.values(), ids=RANGES.keys())
def test_no_tick_labels_overlap(parameter: dict[str, Any], tmp_path: Path) -> None:
    body = synthetic_tuning_job("ranges", 40)
    # Two parameters keep the figure small: learning_rate and the one under test.
    body["spec"]["parameters"] = [body["spec"]["parameters"][0], parameter]
    rng = random.Random(1)
    for trial in body["status"]["trials"]:
        if parameter["type"] == "Categorical":
            trial["hyperparameters"]["wd"] = rng.choice(parameter["values"])
        else:
            low, high = parameter["min"], parameter["max"]
            value = low + (high - low) * rng.random()
            trial["hyperparameters"]["wd"] = (
                str(round(value)) if parameter["type"] == "Integer" else repr(value)
            )
    figure = summary_figure(parse_tuning_job(body))
    assert overlaps(figure, tmp_path) == []


def test_analytics_from_a_directory(body: dict[str, Any], tmp_path: Path) -> None:
    analytics = TuningJobAnalytics(directory=write_directory(body, tmp_path / "job"))
    frame = analytics.dataframe()
    assert list(frame["trial"]) == [t["name"] for t in body["status"]["trials"]]
    assert frame["learning_rate"].dtype == float and frame["num_layers"].dtype == int
    best = body["status"]["bestTrial"]
    assert frame.loc[frame["objective"].idxmax(), "trial"] == best["name"]
    assert (
        analytics.best_hyperparameters()["learning_rate"]
        == best["hyperparameters"]["learning_rate"]
    )
    path = tmp_path / "matrix.png"
    analytics.plot_scatter_matrix().savefig(path)
    assert imread(path).shape[0] > 300


def test_measured_columns_are_floats_also_when_no_trial_has_a_value(tmp_path: Path) -> None:
    # One trial, still running: no objective, no epochs, no value at the last rung yet.
    hyperband = hyperband_tuning_job(2)
    status = hyperband["status"]
    del status["trials"][0], status["bestTrial"], status["bestObjective"]
    for body in (synthetic_tuning_job("fresh", 1, running=1), hyperband):
        directory = write_directory(body, tmp_path / body["metadata"]["name"])
        frame = TuningJobAnalytics(directory=directory).dataframe()
        empty = ["objective"]
        if body["spec"]["strategy"] == "Hyperband":
            empty += ["epochs", "objective@9"]
        for column in [*empty, "durationSeconds"]:
            assert frame[column].dtype == float, (column, frame[column].dtype)
        assert frame[empty].isna().all().all()


def test_plot_prints_the_path_of_the_file_it_writes(body: dict[str, Any], tmp_path: Path) -> None:
    run_dir = str(write_directory(body, tmp_path / "demo"))
    folder = tmp_path / "plots"
    folder.mkdir()
    for given, written in (
        (str(folder), folder / "demo.png"),  # a directory: NAME.png in it
        (f"{tmp_path / 'myplot'}", tmp_path / "myplot.png"),  # no suffix: .png, as savefig adds
        (f"{tmp_path / 'plot.svg'}", tmp_path / "plot.svg"),
        (f"{tmp_path / 'run.v2'}", tmp_path / "run.v2.png"),  # a suffix of no file type: a name
        # A trailing separator means a directory, created when it is not there yet.
        (f"{tmp_path / 'newdir'}{os.sep}", tmp_path / "newdir" / "demo.png"),
        (f"{tmp_path / 'new.v2'}{os.sep}", tmp_path / "new.v2" / "demo.png"),
    ):
        out, err = io.StringIO(), io.StringIO()
        assert run(["plot", run_dir, "-o", given], out, err) == EXIT_OK, err.getvalue()
        assert out.getvalue() == f"{written}\n"
        assert written.is_file() and written.stat().st_size > 1000


def test_the_scatter_matrix_diagonal_labels_each_bar_with_its_count(view: TuningJobView) -> None:
    """The diagonal's left axis is the row's parameter scale (log for learning_rate): the
    counts are the labels of the bars (a failed trial's stacked on the others), which add
    up to the trials plotted."""
    figure = scatter_matrix_figure(view)
    labelled = [ax for ax in all_axes(figure) if ax.texts]
    assert len(labelled) == 5  # one histogram per parameter
    plotted = sum(1 for t in view.trials if t.objective is not None or t.phase == "Failed")
    for ax in labelled:
        counts = [int(t.get_text()) for t in ax.texts if t.get_text()]
        assert sum(counts) == plotted and all(c > 0 for c in counts)
        stacks: dict[str, float] = {}
        for patch in ax.patches:
            stacks[_at(patch)] = stacks.get(_at(patch), 0) + patch.get_height()
        bars = [height for height in stacks.values() if height > 0]
        assert sorted(bars) == sorted(counts)  # each bin labelled with its stack's height
        assert ax.get_ylim()[1] > max(counts)  # room above the highest bar's label


def test_the_scatter_matrix_of_one_parameter_is_a_histogram_with_a_count_axis(
    tmp_path: Path,
) -> None:
    """Nothing to pair and nothing coloured: the title promises no colours, and the left
    axis counts trials (not the parameter's range, as a panel of a bigger matrix has)."""
    body = synthetic_tuning_job("one", 12)
    body["spec"]["parameters"] = body["spec"]["parameters"][1:2]  # momentum, 0-0.99
    view = parse_tuning_job(body)
    figure = scatter_matrix_figure(view)
    (ax,) = list(all_axes(figure))  # no twin, no colour bar
    scored = sum(1 for t in view.trials if t.objective is not None)
    failed = sum(1 for t in view.trials if t.phase == "Failed")
    assert failed
    assert ax.get_xlabel() == "momentum" and ax.get_ylabel() == "trials"
    assert figure.get_suptitle() == (
        f"values of momentum tried by the {scored} trials with an objective, {failed} failed"
    )
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["failed"]  # the red bars
    assert "coloured" not in figure.get_suptitle()
    heights = [patch.get_height() for patch in ax.patches]
    assert sum(heights) == scored + failed
    assert sum(p.get_height() for p in ax.patches if _red(p)) == failed
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > max(heights)
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert len(ticks) >= 2 and all(t == int(t) for t in ticks)  # counts, whole numbers
    assert not overlaps(figure, tmp_path)
    # The summary (`kubetune plot`) has the same panel under the objective against it.
    summary = list(all_axes(summary_figure(view)))
    assert [ax.get_title() for ax in summary] == [
        "objective per trial",
        "objective vs momentum",
        "",
    ]
    assert summary[-1].get_ylabel() == "trials"


def test_plot_rungs_of_a_job_that_is_not_hyperband_says_so(
    body: dict[str, Any], tmp_path: Path
) -> None:
    """`kubetune plot` draws a rungs panel for Hyperband jobs only; plot_rungs() of another
    job is an error naming its strategy and the plot to use, not an empty figure."""
    analytics = TuningJobAnalytics(directory=write_directory(body, tmp_path / "job"))
    with pytest.raises(
        NotFoundError,
        match=r'^TuningJob "demo" has no rungs to plot: its strategy is Bayesian, not '
        r"Hyperband .*plot_progress\(\)",
    ):
        analytics.plot_rungs()
    with pytest.raises(NotFoundError, match="not Hyperband"):
        rungs_figure(analytics.view)
    assert "objective at each rung" not in [
        ax.get_title() for ax in all_axes(summary_figure(analytics.view))
    ]


def test_best_so_far_and_the_comparison_figure(view: TuningJobView, tmp_path: Path) -> None:
    curve = best_so_far(view)
    scored = [t for t in view.trials if t.objective is not None]
    assert len(curve) == len(scored) > 20  # running and failed trials have no value
    assert curve == sorted(curve, reverse=not view.maximize)  # never worse than before
    best = (max if view.maximize else min)(t.objective for t in scored if t.objective)
    assert curve[-1] == best
    figure = comparison_figure({"Bayesian": [curve, curve[:10]], "Random": [[0.5, 0.7]]}, "acc")
    (ax,) = list(all_axes(figure))
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["Bayesian (mean of 2)", "Random (mean of 1)"]
    # Two thin lines and a mean for Bayesian, one and a mean for Random.
    assert len(ax.get_lines()) == 5
    assert not overlaps(figure, tmp_path)


def test_best_so_far_starts_at_the_first_trial_not_stopped_early(tmp_path: Path) -> None:
    # Hyperband: the first trials to end are typically stopped at the first rung.
    body = hyperband_tuning_job(12)
    trials = body["status"]["trials"]
    for trial in trials:
        if trial["phase"] == "EarlyStopped":
            trial["endTime"] = "2025-12-31T00:00:00Z"  # before every other trial ended
    view = parse_tuning_job(body)
    stopped = sum(t["phase"] == "EarlyStopped" for t in trials)
    succeeded = [t["objective"] for t in trials if t["phase"] == "Succeeded"]
    curve = best_so_far(view)
    assert stopped >= 2 and all(math.isnan(value) for value in curve[:stopped])
    assert curve[stopped:] == sorted(curve[stopped:]) and curve[-1] == max(succeeded)
    figure = progress_figure(view)
    (ax,) = list(all_axes(figure))
    # Drawn against the trial numbers: the best among the finished trials up to each.
    (line,) = [line for line in ax.get_lines() if line.get_label() == "best so far"]
    finished = [(int(t["name"][-3:]), t["objective"]) for t in trials if t["phase"] == "Succeeded"]
    assert list(line.get_xdata()) == [n for n, _ in finished]
    assert list(line.get_ydata()) == list(np.maximum.accumulate([v for _, v in finished]))
    assert not overlaps(figure, tmp_path)


def test_a_hyperband_job_plots_each_trial_at_the_rungs_it_reached(tmp_path: Path) -> None:
    body = hyperband_tuning_job(30)
    view = parse_tuning_job(body)
    titles = [ax.get_title() for ax in all_axes(summary_figure(view))]
    assert "objective at each rung" in titles and "objective per trial" in titles
    figure = rungs_figure(view)
    (ax,) = list(all_axes(figure))
    curves = [
        (tuple(segment[:, 0]), tuple(segment[:, 1]))
        for collection in ax.collections
        for segment in collection.get_segments()  # type: ignore[attr-defined]
    ]
    assert len(curves) == len(body["status"]["trials"])  # every trial reached a rung
    for trial in body["status"]["trials"]:
        values = trial["rungValues"]
        epochs = HYPERBAND_RUNGS[: len(values)]
        if trial["phase"] == "Succeeded":  # and its final value after all 27 epochs
            epochs, values = [*epochs, 27], [*values, trial["objective"]]
        assert (tuple(epochs), tuple(values)) in curves
        assert rung_curve(view, view.trials[body["status"]["trials"].index(trial)]) == (
            epochs,
            values,
        )
    (stops,) = [line for line in ax.get_lines() if line.get_marker() == "x"]
    stopped = [t for t in body["status"]["trials"] if t["phase"] == "EarlyStopped"]
    assert list(stops.get_ydata()) == [t["rungValues"][-1] for t in stopped]
    assert [t.get_text() for t in ax.xaxis.get_majorticklabels()] == ["1", "3", "9", "27"]
    assert not overlaps(figure, tmp_path)


def _panel(figure: Figure, title: str) -> Any:
    return next(ax for ax in all_axes(figure) if ax.get_title() == title)


def _red(patch: Any) -> bool:
    """A bar in the red of the failed trials' x (a failed trial's part of a histogram)."""
    return bool(np.allclose(patch.get_facecolor()[:3], to_rgb("C3")))


def _at(patch: Any) -> str:
    """A bar's bin: its centre, to 9 digits (a histogram's bar and a bar of the same bin
    differ in the last bits; a left edge of 0 is 6e-18 in one of them)."""
    return f"{patch.get_x() + patch.get_width() / 2:.9g}"


def _line(ax: Any, label: str) -> Any:
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    return line


def test_each_trial_is_drawn_at_its_number_and_failed_trials_are_marked(tmp_path: Path) -> None:
    """QA84 M5 and M4: x is the number the trial's name ends with (what `kubetune logs
    NAME 7` takes), not its place among the scored trials; failed trials, which have no
    value, are a red x on the worse edge of each panel, in the matrix at their values, and
    counted in the title."""
    body = synthetic_tuning_job("nums", 40)
    trials = body["status"]["trials"]
    # Trials end out of order (the last launched first), as parallel trials do.
    for trial in trials:
        trial["endTime"] = f"2026-01-01T00:{59 - int(trial['name'][-3:]):02d}:00Z"
    view = parse_tuning_job(body)
    number = {t["name"]: int(t["name"][-3:]) for t in trials}
    succeeded = [t for t in trials if t["phase"] == "Succeeded"]
    failed = [t for t in trials if t["phase"] == "Failed"]
    assert len(failed) >= 2
    figure = summary_figure(view)
    progress = _panel(figure, "objective per trial")
    assert progress.get_xlabel() == "trial"
    dots = _line(progress, "trial")
    assert sorted(zip(dots.get_xdata(), dots.get_ydata(), strict=True)) == sorted(
        (number[t["name"]], t["objective"]) for t in succeeded
    )
    crosses = _line(progress, "failed")
    assert sorted(crosses.get_xdata()) == [number[t["name"]] for t in failed]
    # On the bottom edge (the objective is maximized), in axes coordinates.
    assert crosses.get_transform() == progress.get_xaxis_transform()
    assert set(crosses.get_ydata()) == {0.0}
    # The best so far among the trials up to each number, over the finished ones.
    best = _line(progress, "best so far")
    by_number = sorted((number[t["name"]], t["objective"]) for t in succeeded)
    assert list(best.get_xdata()) == [n for n, _ in by_number]
    assert list(best.get_ydata()) == list(np.maximum.accumulate([v for _, v in by_number]))
    layers = _panel(figure, "objective vs num_layers")
    assert sorted(_line(layers, "failed").get_xdata()) == sorted(
        int(t["hyperparameters"]["num_layers"]) for t in failed
    )
    first = _panel(figure, "objective vs learning_rate")
    assert "failed" in [t.get_text() for t in first.get_legend().get_texts()]
    matrix_failed = [
        c for ax in all_axes(figure) for c in ax.collections if c.get_label() == "failed"
    ]
    assert len(matrix_failed) == 5 * 4  # every panel off the diagonal
    assert all(len(c.get_offsets()) == len(failed) for c in matrix_failed)
    scored = len(succeeded) + sum(t["phase"] == "EarlyStopped" for t in trials)
    assert f"{scored} trials with an objective, {len(failed)} failed," in figure.get_suptitle()
    assert not overlaps(figure, tmp_path)


def test_a_hyperband_job_without_a_finished_trial_draws_its_provisional_best(
    tmp_path: Path,
) -> None:
    """QA82 L3: before any trial trained to the end, the best is the best at the highest
    rung (`(at 3 epochs)`): a star in every panel, not only the rungs panel; legends name only
    what is drawn; a trial stopped with only values at rungs (the job ended) is a ring at
    its last one; and `kubetune plot` of such a job draws them instead of 'nothing to
    plot'."""
    body = hyperband_tuning_job(9)
    status = body["status"]
    for trial in status["trials"]:
        if trial["phase"] in ("Succeeded", "Running"):  # stopped when the job ended
            trial.update(phase="Stopped", reason="MaxRuntimeExceeded", epochs=3)
            trial["rungValues"] = trial["rungValues"][:2]
            trial.pop("objective", None)
    best = max(
        (t for t in status["trials"] if len(t["rungValues"]) == 2),
        key=lambda t: t["rungValues"][-1],
    )
    status["bestTrial"] = {
        "name": best["name"],
        "hyperparameters": best["hyperparameters"],
        "objective": best["rungValues"][-1],
    }
    status["bestObjective"] = best["rungValues"][-1]
    status["bestObjectiveText"] = f"{best['rungValues'][-1]:.6g} (at 3 epochs)"
    view = parse_tuning_job(body)
    figure = summary_figure(view)
    number = int(best["name"][-3:])
    for title in ("objective per trial", "objective vs learning_rate"):
        ax = _panel(figure, title)
        star = _line(ax, "best")
        assert list(star.get_ydata()) == [best["rungValues"][-1]]
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        assert "trained to the end" not in labels and "trial" not in labels
        # helper-89's leftover: the same words in every panel, the rungs' included.
        assert "stopped at a rung or by the job's end" in labels
    rung_labels = [
        t.get_text() for t in _panel(figure, "objective at each rung").get_legend().get_texts()
    ]
    assert "stopped at a rung or by the job's end" in rung_labels, rung_labels
    assert list(_line(_panel(figure, "objective per trial"), "best").get_xdata()) == [number]
    stopped = [t for t in status["trials"] if t["phase"] == "Stopped"]
    rings = next(
        c
        for c in _panel(figure, "objective per trial").collections
        if c.get_label() == "stopped at a rung or by the job's end"
    )
    drawn_values = sorted(rings.get_offsets()[:, 1])
    assert all(t["rungValues"][-1] in drawn_values for t in stopped)
    assert "with only a value at a rung" in figure.get_suptitle()
    assert not overlaps(figure, tmp_path)
    # Only rung values (no trial has an objective at all): plotted, not refused.
    for trial in status["trials"]:
        trial.pop("objective", None)
        trial.update(phase="Stopped", reason="TooManyObjectiveValues")
    directory = write_directory(body, tmp_path / "rungs-only")
    out, err = io.StringIO(), io.StringIO()
    written = tmp_path / "rungs-only.png"
    assert run(["plot", str(directory), "-o", str(written)], out, err) == EXIT_OK, err.getvalue()
    assert written.is_file()


def test_nothing_to_plot_of_an_ended_job_says_why_and_what_to_run(tmp_path: Path) -> None:
    """QA84 L6: not 'yet' for a job that has ended, and the command that shows why."""
    body = synthetic_tuning_job("allfail", 3)
    for trial in body["status"]["trials"]:
        trial.update(phase="Failed", reason="Error")
        trial.pop("objective", None)
    body["status"]["phase"] = "Failed"
    directory = write_directory(body, tmp_path / "allfail")
    out, err = io.StringIO(), io.StringIO()
    assert run(["plot", str(directory), "-o", str(tmp_path / "x.png")], out, err) == 1
    assert 'TuningJob "allfail" has nothing to plot: no trial has an objective' in err.getvalue()
    assert f"`kubetune trials {directory}` shows each trial's phase" in err.getvalue()


def test_long_category_names_are_shortened_and_stay_inside_their_panel(tmp_path: Path) -> None:
    """QA84 M3: names of 35 characters rotated after the layout ran into the panel below
    and past the figure's bottom edge; shortened in the middle and laid out again, every
    tick label lies inside the figure and off every other panel."""
    values = [
        f"{arch}-with-extra-long-suffix-{k}"
        for arch, k in (
            ("resnet18", "a"),
            ("resnet50", "b"),
            ("vit-base", "c"),
            ("efficientnet", "d"),
        )
    ]
    body = synthetic_tuning_job("long", 24)
    body["spec"]["parameters"][4]["values"] = values
    rng = random.Random(3)
    for trial in body["status"]["trials"]:
        trial["hyperparameters"]["optimizer"] = rng.choice(values)
    if body["status"].get("bestTrial"):
        best = body["status"]["bestTrial"]["name"]
        body["status"]["bestTrial"]["hyperparameters"] = next(
            t["hyperparameters"] for t in body["status"]["trials"] if t["name"] == best
        )
    figure = summary_figure(parse_tuning_job(body))
    figure.savefig(tmp_path / "long.png", dpi=100)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    panel = _panel(figure, "objective vs optimizer")
    labels = [t.get_text() for t in panel.xaxis.get_majorticklabels() if t.get_text()]
    assert labels == [
        "resnet18-…suffix-a",
        "resnet50-…suffix-b",
        "vit-base-…suffix-c",
        "efficient…suffix-d",
    ]
    width, height = figure.bbox.width, figure.bbox.height
    axes = list(all_axes(figure))
    for ax in axes:
        for text, box in [
            (t.get_text(), t.get_window_extent(renderer)) for t in drawn_tick_labels(ax.xaxis)
        ]:
            assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, text
            for other in axes:
                if other is not ax and other.bbox.overlaps(box) and not _twins(ax, other):
                    raise AssertionError(f"{text!r} of {ax.get_title()!r} over {other}")
    assert not overlaps(figure, tmp_path)


def _twins(a: Any, b: Any) -> bool:
    return bool(a.bbox.bounds == b.bbox.bounds)


def test_integer_histograms_have_a_bar_per_value_centred_on_it() -> None:
    """QA84 M6: an Integer 1..8 in 10 equal bins had bins holding no integer (false
    gaps) and bars beside their ticks; L13: ReverseLogarithmic bins are equal on its
    axis, not linear."""
    body = synthetic_tuning_job("ints", 60)
    body["spec"]["parameters"][1] = {
        "name": "momentum",
        "type": "Continuous",
        "min": 0.5,
        "max": 0.9999,
        "scaling": "ReverseLogarithmic",
    }
    for index, trial in enumerate(body["status"]["trials"]):
        trial["hyperparameters"]["num_layers"] = str(1 + index % 8)  # every value tried
        trial["hyperparameters"]["momentum"] = repr(1 - 10 ** -(0.3 + 3.7 * (index % 10) / 9))
    figure = scatter_matrix_figure(parse_tuning_job(body))
    histograms = [ax for ax in all_axes(figure) if ax.texts]
    layers = next(ax for ax in histograms if ax.get_xlim() == (0.5, 8.5))
    bars = sorted((p.get_x(), p.get_width()) for p in layers.patches if not _red(p))
    assert [x + w / 2 for x, w in bars] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(p.get_height() > 0 for p in layers.patches)  # no false gap
    momentum = next(ax for ax in histograms if 0.99 < ax.get_xlim()[1] < 1)
    edges = sorted({p.get_x() for p in momentum.patches if not _red(p)})
    steps = np.diff(-np.log1p(-np.array(edges)))
    assert np.allclose(steps, steps[0])


def test_one_trial_has_one_colour_in_every_panel_and_whole_trial_ticks(tmp_path: Path) -> None:
    """QA84 L1: Normalize(v, v) drew the only trial as the worst colour above and mid
    scale in the matrix; its progress panel had ticks 0.96, 0.98, ..."""
    view = parse_tuning_job(synthetic_tuning_job("one", 1))
    figure = summary_figure(view)
    figure.savefig(tmp_path / "one.png", dpi=60)
    colours = {
        tuple(np.round(c.get_facecolors()[0], 3))
        for ax in all_axes(figure)
        for c in ax.collections
        if isinstance(c, PathCollection) and c.get_array() is not None
    }
    assert len(colours) == 1
    progress = _panel(figure, "objective per trial")
    low, high = progress.get_xlim()
    ticks = [t for t in progress.get_xticks() if low <= t <= high]
    assert ticks == [1]


def matrix_cell(figure: Any, row: int, column: int) -> Any:
    """The scatter matrix's panel at `row`, `column` (parameter indices)."""
    return next(
        ax
        for ax in all_axes(figure)
        if ax.get_subplotspec()
        and (ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start)
        == (row, column)
    )


def test_the_scatter_matrix_spreads_the_trials_of_a_category_cell(tmp_path: Path) -> None:
    """QA84 L17: on axes of categories and small integers every trial of a cell was drawn
    at the same point (369 trials on 24 dots); each is now a little beside its value, the
    same trial at the same offset in every panel."""
    body = synthetic_tuning_job("cells", 60)
    view = parse_tuning_job(body)
    figure = scatter_matrix_figure(view)
    names = [p.name for p in view.spec.parameters]
    layers, optimizer = names.index("num_layers"), names.index("optimizer")
    values = ["sgd", "adam", "nag"]
    finished = [t for t in view.trials if t.phase == "Succeeded"]
    cell = matrix_cell(figure, optimizer, layers)
    (points,) = [c for c in cell.collections if c.get_array() is not None]
    offsets = points.get_offsets()
    assert len(offsets) == len(finished)
    exact = [
        (int(t.hyperparameters["num_layers"]), values.index(t.hyperparameters["optimizer"]))
        for t in finished
    ]
    dx = offsets[:, 0] - [x for x, _ in exact]
    dy = offsets[:, 1] - [y for _, y in exact]
    assert np.abs(dx).max() <= 0.2 and np.abs(dy).max() <= 0.2  # beside its own value
    assert len({(round(x, 6), round(y, 6)) for x, y in offsets}) == len(finished)  # apart
    transposed = matrix_cell(figure, layers, optimizer)
    (mirror,) = [c for c in transposed.collections if c.get_array() is not None]
    assert np.allclose(mirror.get_offsets()[:, ::-1], offsets)  # the same offsets there
    assert not overlaps(figure, tmp_path)


def test_the_scatter_matrix_diagonal_counts_the_failed_trials_in_red() -> None:
    """The diagonal left the failed trials out: its histogram counted fewer trials than
    the panels beside it draw (a red x for each failed one). Now each bin stacks its
    failed trials in red on the others, and its label counts them all."""
    body = synthetic_tuning_job("diag", 60)
    view = parse_tuning_job(body)
    failed = [t for t in view.trials if t.phase == "Failed"]
    assert len(failed) >= 3
    figure = scatter_matrix_figure(view)
    names = [p.name for p in view.spec.parameters]
    beside = matrix_cell(figure, 0, 1)
    shown = sum(len(c.get_offsets()) for c in beside.collections)
    for index, name in enumerate(names):
        (histogram,) = [
            ax
            for ax in all_axes(figure)
            if ax.texts
            and ax.get_subplotspec()
            and (ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start)
            == (index, index)
        ]
        labels = [int(t.get_text()) for t in histogram.texts if t.get_text()]
        assert sum(labels) == shown, name  # every trial the panels beside it draw
        red = [p for p in histogram.patches if _red(p)]
        assert sum(p.get_height() for p in red) == len(failed), name
        others = {_at(p): p.get_height() for p in histogram.patches if not _red(p)}
        for patch in red:  # stacked on the bin's other trials, not hidden behind them
            assert patch.get_y() == others[_at(patch)], name
    optimizer = matrix_cell(figure, names.index("optimizer"), names.index("optimizer"))
    (histogram,) = [ax for ax in all_axes(figure) if ax.texts and _twins(ax, optimizer)]
    red_at = {
        round(p.get_x() + p.get_width() / 2): p.get_height() for p in histogram.patches if _red(p)
    }
    values = ["sgd", "adam", "nag"]
    expected: dict[int, int] = {}
    for trial in failed:
        at = values.index(trial.hyperparameters["optimizer"])
        expected[at] = expected.get(at, 0) + 1
    assert red_at == expected
    assert "red x and bars: failed" in figure.get_suptitle()

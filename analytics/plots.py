"""The plots of a tuning job, as matplotlib figures:

- progress: the objective of each trial against its number (`-007` is trial 7, as
  `kubetune logs NAME 7` takes it), and the best so far;
- rungs (Hyperband jobs): each trial's objective at the rungs it reached, against epochs;
- parameters: the objective against each hyperparameter;
- scatter matrix: every pair of hyperparameters, each trial a point coloured by its
  objective (the seed notebooks' picture), the distribution of each one on the diagonal;
  for a job of one hyperparameter, its distribution alone (trials per bin).

An axis is logarithmic where the optimizer searches the parameter on a log scale:
`Logarithmic`, and `Auto` when the optimizer's default rule makes it Logarithmic (a range
of at least two decades with min > 0, `kubetune.optimizer.encoding.default_warp`);
`ReverseLogarithmic` axes are dense near 1 as the search is. Tick labels never overlap:
long category names are shortened in the middle (`resnet18…suffix-a`); after layout,
category labels that collide are rotated and the figure laid out again (so they fit in
their panel), then each axis whose labels still collide gets fewer ticks
(`fit_tick_labels`).

What each panel draws of a trial: its objective, coloured, once it trained to the end; a
grey ring at the value read when it stopped before its last epoch (early stopping, a
Hyperband rung, or the job ending: then its value at the last rung it reached); a red
"x" at the panel's worse edge (bottom when maximizing) when it failed (in the scatter
matrix at its values, and counted in the diagonal's histograms as a red part of its bin's
bar); the best trial (`status.bestTrial`, also Hyperband's provisional best at a rung) a
star.

Only this module imports matplotlib; it uses no pyplot state, so figures can be made in
threads and without a display.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from kubetune.analytics.errors import NotFoundError
from kubetune.analytics.resource import Parameter, ParameterType, Trial, TuningJobView
from kubetune.operator.controller.types import count
from kubetune.optimizer.encoding import default_warp
from kubetune.optimizer.space import Continuous, Integer
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure, SubFigure
from matplotlib.text import Text

AxisScale = Literal["categorical", "linear", "log", "reverse-log"]
Container = Figure | SubFigure

PANEL_INCHES = 3.4
MATRIX_PANEL_INCHES = 2.1
PARAMETER_COLUMNS = 4
MATRIX_MAX_PARAMETERS = 8
"""The scatter matrix shows the first this many parameters (a panel per pair)."""
_LABEL_GAP_PIXELS = 2.0
CATEGORY_LABEL_CHARACTERS = 18
"""Longer category names are shortened in the middle on an axis (`resnet18…suffix-a`),
as far as they stay distinct."""
FEW_INTEGERS = 20
"""An Integer parameter of at most this many values gets a histogram bar per value."""
JITTER = 0.2
"""How far (in values) the scatter matrix moves a trial beside its category or integer."""
_JITTER_STEPS = [math.sqrt(p) % 1 for p in (2, 3, 5, 7, 11, 13, 17, 19)]
"""Each parameter's offsets: the trial number times an irrational step, mod 1 (even,
and unrelated between two parameters, so a cell's points do not fall on a line)."""


def axis_scale(parameter: Parameter) -> AxisScale:
    """How a parameter's axis is drawn: as the optimizer searches its range."""
    if parameter.type is ParameterType.CATEGORICAL:
        return "categorical"
    low, high = float(parameter.min or 0.0), float(parameter.max or 0.0)
    scaling: Any = parameter.scaling.value
    numeric = (
        Integer(parameter.name, int(low), int(high), scaling=scaling)
        if parameter.type is ParameterType.INTEGER
        else Continuous(parameter.name, low, high, scaling=scaling)
    )
    warp = default_warp(numeric)
    return {"Logarithmic": "log", "ReverseLogarithmic": "reverse-log"}.get(warp, "linear")  # type: ignore[return-value]


def _reverse_log(x: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log1p(-np.clip(np.asarray(x, dtype=float), None, 1 - 1e-12))


def _reverse_log_inverse(t: Any) -> Any:
    return -np.expm1(-np.asarray(t, dtype=float))


def _position(parameter: Parameter, text: str | None) -> float:
    """Where a trial's value lies on the parameter's axis (NaN when unknown)."""
    if text is None:
        return math.nan
    if parameter.type is ParameterType.CATEGORICAL:
        values = list(parameter.values or [])
        return float(values.index(text)) if text in values else math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def _set_parameter_axis(axis: Axis, parameter: Parameter) -> None:
    """Scale, limits and ticks of an axis that shows `parameter`'s range."""
    scale = axis_scale(parameter)
    set_scale = axis.axes.set_xscale if axis is axis.axes.xaxis else axis.axes.set_yscale
    set_limits = axis.axes.set_xlim if axis is axis.axes.xaxis else axis.axes.set_ylim
    if scale == "categorical":
        values = list(parameter.values or [])
        axis.set_major_locator(ticker.FixedLocator(range(len(values))))
        axis.set_major_formatter(ticker.FixedFormatter(short_labels(values)))
        set_limits(-0.5, len(values) - 0.5)
        return
    low, high = float(parameter.min or 0.0), float(parameter.max or 0.0)
    if scale == "log":
        set_scale("log")
        pad = (high / low) ** 0.05
        set_limits(low / pad, high * pad)
        return
    if scale == "reverse-log":
        set_scale("function", functions=(_reverse_log, _reverse_log_inverse))
        t_low, t_high = _reverse_log(low), _reverse_log(high)
        pad = (t_high - t_low) * 0.05
        set_limits(
            float(_reverse_log_inverse(t_low - pad)), float(_reverse_log_inverse(t_high + pad))
        )
        nines = [1 - 10.0**-k for k in range(1, 16) if low <= 1 - 10.0**-k <= high]
        # 0.9, 0.99, 0.999...: evenly spaced on this axis, as decades are on a log axis.
        locator = ticker.FixedLocator(nines) if len(nines) >= 2 else ticker.MaxNLocator(nbins=4)
        axis.set_major_locator(locator)
        axis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:.12g}"))
        return
    pad = (high - low) * 0.05
    if _few_integers(parameter):
        pad = 0.5  # room for the histogram's bars, centred on the first and last value
    set_limits(low - pad, high + pad)
    formatter = ticker.ScalarFormatter(useMathText=True)
    formatter.set_powerlimits((-2, 4))  # 0–0.001 reads 0, 2, 4... ×10⁻⁴, not 0.0002, 0.0004...
    axis.set_major_formatter(formatter)
    if parameter.type is ParameterType.INTEGER:
        axis.set_major_locator(ticker.MaxNLocator(integer=True))


def _few_integers(parameter: Parameter) -> bool:
    return (
        parameter.type is ParameterType.INTEGER
        and axis_scale(parameter) == "linear"
        and float(parameter.max or 0) - float(parameter.min or 0) < FEW_INTEGERS
    )


def short_labels(values: Sequence[str], limit: int = CATEGORY_LABEL_CHARACTERS) -> list[str]:
    """`values` as tick labels: each longer than `limit` characters shortened in the middle
    (`resnet18…suffix-a`), keeping as many characters as it takes to tell them apart."""

    def shorten(text: str, width: int) -> str:
        if len(text) <= width:
            return text
        tail = (width - 1) // 2
        return f"{text[: width - 1 - tail]}…{text[len(text) - tail :]}"

    longest = max((len(v) for v in values), default=0)
    for width in range(limit, longest):
        labels = [shorten(v, width) for v in values]
        if len(set(labels)) == len(set(values)):
            return labels
    return list(values)


_NEVER = datetime.max.replace(tzinfo=UTC)


def _value(trial: Trial) -> float | None:
    """The value a trial is drawn at: its objective; for a trial stopped without one (a
    Hyperband trial stopped when the job ended), its value at the last rung it reached;
    None for a trial without either (running, failed)."""
    if trial.objective is not None and math.isfinite(trial.objective):
        return trial.objective
    if trial.phase in ("EarlyStopped", "Stopped") and trial.rung_values:
        return trial.rung_values[-1]
    return None


@dataclass(frozen=True)
class Drawn:
    """The trials a job's panels draw, in the job's order: `finished` (coloured by their
    objective), `stopped` (grey rings: stopped before their last epoch, at the value read
    then) and `failed` (a red x at the worse edge), with each one's value and number."""

    finished: list[Trial]
    stopped: list[Trial]
    failed: list[Trial]
    values: dict[str, float]
    numbers: dict[str, int]
    best: Trial | None
    """status.bestTrial, also Hyperband's provisional best at a rung, when it has a value."""

    def xy(self, trials: Sequence[Trial], parameter: Parameter | None = None) -> Any:
        """The trials' numbers (or positions on `parameter`'s axis) and values."""
        x = [
            self.numbers[t.name]
            if parameter is None
            else _position(parameter, t.hyperparameters.get(parameter.name))
            for t in trials
        ]
        y = [self.values.get(t.name, math.nan) for t in trials]
        return np.array(x, dtype=float), np.array(y, dtype=float)

    @property
    def valued(self) -> list[Trial]:
        """The trials drawn at a value (finished or stopped), in the job's order."""
        return self.finished + self.stopped


def trial_number(name: str) -> int | None:
    """A trial's number as its name ends: `qa-max-007` is 7 (`kubetune logs NAME 7`)."""
    match = re.search(r"-(\d+)$", name)
    return int(match.group(1)) if match else None


def drawn(view: TuningJobView) -> Drawn:
    """Sorts the job's trials into what the panels draw of them."""
    finished: list[Trial] = []
    stopped: list[Trial] = []
    failed: list[Trial] = []
    values: dict[str, float] = {}
    for trial in view.trials:
        value = _value(trial)
        if trial.phase == "Failed":
            failed.append(trial)
        elif value is not None:
            values[trial.name] = value
            early = trial.phase == "EarlyStopped" or value != trial.objective
            (stopped if early else finished).append(trial)
    numbers = {}
    for index, trial in enumerate(view.trials):
        numbers[trial.name] = trial_number(trial.name) or index + 1  # a name without one
    best_status = view.status.best_trial
    best = next((t for t in view.trials if best_status and t.name == best_status.name), None)
    if best is not None and best.name not in values:
        best = None
    return Drawn(finished, stopped, failed, values, numbers, best)


def _scored(view: TuningJobView) -> list[Trial]:
    """Trials with a finite objective, in order of completion."""
    scored = [t for t in view.trials if t.objective is not None and math.isfinite(t.objective)]
    order = {t.name: i for i, t in enumerate(view.trials)}
    # Ended trials by end time (launch order among equal times), then any without one.
    return sorted(
        scored,
        key=lambda t: (
            t.end_time is None,
            t.end_time.timestamp() if t.end_time else 0.0,
            order[t.name],
        ),
    )


def best_so_far(view: TuningJobView) -> list[float]:
    """The best objective after each scored trial, in order of completion (a trial stopped
    early counts as a trial but not as a value)."""
    pick = max if view.maximize else min
    best: list[float] = []
    for trial in _scored(view):
        # nan: no best yet (only trials stopped early so far); min/max would keep it for
        # ever, as every comparison with nan is false.
        candidates = [b for b in best[-1:] if not math.isnan(b)]
        if trial.phase != "EarlyStopped" and trial.objective is not None:
            candidates.append(trial.objective)
        best.append(pick(candidates) if candidates else math.nan)
    return best


def comparison_figure(
    curves: Mapping[str, Sequence[Sequence[float]]], ylabel: str, zoom_from: int = 1
) -> Figure:
    """Best so far against trials for several searches (label -> one `best_so_far` curve per
    repetition): each repetition a thin line, their mean a thick one (at each trial, over
    the repetitions that reached it). The value axis starts at the lowest mean from trial
    `zoom_from` on, so that the first, poor trials do not flatten the differences."""
    figure = _new_figure(6.4, 4.2)
    ax = figure.add_subplot()
    lowest = math.inf
    for index, (label, runs) in enumerate(curves.items()):
        color = f"C{index}"
        for run in runs:
            x = np.arange(1, len(run) + 1)
            ax.step(x, run, where="post", color=color, alpha=0.35, linewidth=0.8)
        length = max((len(run) for run in runs), default=0)
        mean = [float(np.mean([run[k] for run in runs if len(run) > k])) for k in range(length)]
        ax.step(
            np.arange(1, length + 1),
            mean,
            where="post",
            color=color,
            linewidth=2.0,
            label=f"{label} (mean of {len(runs)})",
        )
        lowest = min([lowest, *mean[zoom_from - 1 :]])
    top = max((max(run) for runs in curves.values() for run in runs if run), default=math.nan)
    if zoom_from > 1 and math.isfinite(lowest) and math.isfinite(top) and top > lowest:
        margin = 0.05 * (top - lowest)
        ax.set_ylim(lowest - margin, top + margin)
    title = f"best so far (from trial {zoom_from})" if zoom_from > 1 else "best so far"
    ax.set_title(title)
    ax.set_xlabel("trial (in order of completion)")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    if curves:
        ax.legend(loc="lower right", fontsize="small")
    return fit_tick_labels(figure)


def _objective_cmap(view: TuningJobView) -> str:
    """Better is always yellow: reversed for a minimized objective."""
    return "viridis" if view.maximize else "viridis_r"


_FAILED_STYLE: dict[str, Any] = {
    "marker": "x",
    "color": "C3",
    "linestyle": "none",
    "clip_on": False,
    "in_layout": False,  # half a marker past the spine needs no room (and costs seconds)
    "zorder": 5,
    "label": "failed",
}
"""A failed trial has no value: a red x on the panel's edge of the worse values."""
_BEST_STYLE: dict[str, Any] = {
    "marker": "*",
    "color": "C1",
    "ms": 12,
    "linestyle": "none",
    "zorder": 4,
    "label": "best",
}


def _draw_failed(ax: Axes, view: TuningJobView, xs: np.ndarray[Any, Any]) -> None:
    """Failed trials at `xs` on the edge where the worse values are (bottom when the
    objective is maximized), in axes coordinates: they have no value to place them."""
    if len(xs):
        edge = 0.0 if view.maximize else 1.0
        ax.plot(xs, np.full(len(xs), edge), transform=ax.get_xaxis_transform(), **_FAILED_STYLE)


def _legend(ax: Axes) -> None:
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="best", fontsize="small")


def draw_progress(container: Container, view: TuningJobView) -> Axes:
    """The objective of each trial against its number (the number its name ends with),
    and the best so far among the trials up to that number."""
    ax = container.add_subplot()
    parts = drawn(view)
    x, y = parts.xy(parts.finished)
    if len(x):
        ax.plot(x, y, "o", label="trial")
    if parts.stopped:
        xs, ys = parts.xy(parts.stopped)
        ax.scatter(xs, ys, s=24, label=_stopped_label(view), **_STOPPED_MARKERS)
    _draw_failed(ax, view, parts.xy(parts.failed)[0])
    if parts.best is not None:
        ax.plot(*parts.xy([parts.best]), **_BEST_STYLE)
    if len(x):  # finished trials only: a value read at a rung is not a result
        order = np.argsort(x, kind="stable")
        best = np.maximum.accumulate(y[order]) if view.maximize else np.minimum.accumulate(y[order])
        ax.step(x[order], best, where="post", color="C1", label="best so far")
    numbers = [parts.numbers[t.name] for t in parts.valued + parts.failed]
    if numbers:  # whole numbers at the ends, also for one trial
        pad = max(0.5, 0.03 * (max(numbers) - min(numbers)))
        ax.set_xlim(min(numbers) - pad, max(numbers) + pad)
    ax.set_title("objective per trial")
    ax.set_xlabel("trial")
    ax.set_ylabel(view.objective_metric)
    ax.xaxis.set_major_locator(
        ticker.MaxNLocator(nbins=6, integer=True, steps=[1, 2, 5, 10], min_n_ticks=1)
    )
    _legend(ax)
    return ax


def rung_curve(view: TuningJobView, trial: Trial) -> tuple[list[int], list[float]]:
    """Hyperband: a trial's values at the rungs it reached and, once it trained every
    epoch (Succeeded), its final objective at maxResource."""
    epochs = list(view.rungs[: len(trial.rung_values)])
    values = list(trial.rung_values[: len(epochs)])
    if trial.phase == "Succeeded" and trial.objective is not None and view.max_resource:
        epochs.append(view.max_resource)
        values.append(trial.objective)
    return epochs, values


def draw_rungs(container: Container, view: TuningJobView) -> Axes:
    """Hyperband: each trial's objective at the rungs it reached, on a log axis of epochs:
    the trials stopped at a rung in grey (an x where they stopped), those trained to the
    end in colour, the best one marked."""
    ax = container.add_subplot()
    ax.set_xscale("log")
    best = view.status.best_trial.name if view.status.best_trial else None
    # One collection of lines per kind of trial (a thousand trials draw fast): the
    # trained-to-the-end curves over the stopped ones, the stops and the best on top.
    stopped = (_stopped_label(view), "gray", 0.5, 1)
    styles = {  # phase -> label, colour, alpha, zorder
        "EarlyStopped": stopped,
        "Stopped": stopped,  # by the job's end: grey rings in the other panels too
        "Succeeded": ("trained to the end", "C0", 0.8, 2),
    }
    other = ("running or ended otherwise", "C2", 0.6, 2)
    curves: dict[tuple[str, str, float, int], list[list[tuple[int, float]]]] = {}
    stops: list[tuple[int, float]] = []
    for trial in view.trials:
        epochs, values = rung_curve(view, trial)
        if not epochs:
            continue
        points = list(zip(epochs, values, strict=True))
        curves.setdefault(styles.get(trial.phase, other), []).append(points)
        if trial.phase == "EarlyStopped":
            stops.append(points[-1])
        if trial.name == best:
            ax.plot(*points[-1], "*", color="C1", ms=12, zorder=4, label="best")
    for (label, color, alpha, zorder), lines in curves.items():
        collection = LineCollection(lines, colors=color, alpha=alpha, zorder=zorder, lw=0.9)
        ax.add_collection(collection, autolim=True)
        collection.set_label(label)
        # A curve of one rung is no line: a dot (a stopped one has its x already).
        dots = [line[0] for line in lines if len(line) == 1]
        if dots and color != "gray":
            ax.plot(*zip(*dots, strict=True), "o", color=color, ms=4, zorder=zorder)
    if stops:
        ax.plot(*zip(*stops, strict=True), "x", color="dimgray", zorder=3, linestyle="none")
    ax.autoscale_view()
    ticks = [*view.rungs, *([view.max_resource] if view.max_resource else [])]
    ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ticker.FixedFormatter([str(t) for t in ticks]))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_title("objective at each rung")
    ax.set_xlabel("epochs")
    ax.set_ylabel(view.objective_metric)
    if curves:
        ax.legend(loc="best", fontsize="small")
    return ax


def _stopped_label(view: TuningJobView) -> str:
    """What a trial stopped before its last epoch is called in a legend: of a Hyperband
    job, also one stopped by the job's end (drawn at its last rung's value), where any
    is."""
    if not view.hyperband:
        return "stopped early"
    if any(t.phase == "Stopped" and t.rung_values for t in view.trials):
        return "stopped at a rung or by the job's end"
    return "stopped at a rung"


_STOPPED_MARKERS: dict[str, Any] = {"facecolors": "none", "edgecolors": "gray", "linewidths": 0.8}
"""Hollow grey rings: a trial stopped before its last epoch, whose value is the one read
when it stopped (after 1 or 3 epochs at a Hyperband rung), not a finished result."""


def _objective_norm(parts: Drawn) -> Normalize | None:
    """The colour scale of the objective: the range of the finished trials (the stopped
    trials' early values would stretch it; they are drawn uncoloured); None when there
    are none. One value (one trial, or all equal) is the middle of the scale everywhere."""
    values = [parts.values[t.name] for t in parts.finished]
    if not values:
        return None
    low, high = min(values), max(values)
    if low == high:
        half = abs(low) * 0.05 or 0.05
        low, high = low - half, high + half
    return Normalize(low, high)


def draw_parameters(container: Container, view: TuningJobView) -> list[Axes]:
    """The objective against each hyperparameter, PARAMETER_COLUMNS panels per row: the
    trials trained to the end coloured by it, those stopped early (at a Hyperband rung)
    as grey rings at the value read when they stopped, the failed ones as red x on the
    worse edge, the best a star, named in the first panel's legend."""
    parameters = view.spec.parameters
    rows = math.ceil(len(parameters) / PARAMETER_COLUMNS)
    columns = min(len(parameters), PARAMETER_COLUMNS)
    grid: Any = container.subplots(rows, columns, squeeze=False)
    parts = drawn(view)
    norm = _objective_norm(parts)
    axes = []
    for index, ax in enumerate(grid.flat):
        if index >= len(parameters):
            ax.set_visible(False)
            continue
        parameter = parameters[index]
        if parts.stopped:
            xs, ys = parts.xy(parts.stopped, parameter)
            ax.scatter(xs, ys, s=18, label=_stopped_label(view), **_STOPPED_MARKERS)
        if parts.finished:
            xs, ys = parts.xy(parts.finished, parameter)
            ax.scatter(
                xs,
                ys,
                c=ys,
                cmap=_objective_cmap(view),
                norm=norm,
                s=18,
                label="trained to the end",
                zorder=2,
            )
        _draw_failed(ax, view, parts.xy(parts.failed, parameter)[0])
        if parts.best is not None:
            ax.plot(*parts.xy([parts.best], parameter), **_BEST_STYLE)
        _set_parameter_axis(ax.xaxis, parameter)
        ax.set_title(f"objective vs {parameter.name}")
        ax.set_xlabel(parameter.name)
        ax.set_ylabel(view.objective_metric)
        if index == 0:
            _legend(ax)
        axes.append(ax)
    return axes


def _spread(
    parts: Drawn, trials: Sequence[Trial], parameter: Parameter, index: int
) -> np.ndarray[Any, Any]:
    """Positions of the trials on the `index`-th parameter's axis of the scatter matrix: on
    an axis of a few values (categories, small integers) each trial a little beside its
    value, so that the trials of a cell show as many points, not one; the same offset for
    a trial in every panel."""
    at: np.ndarray[Any, Any] = parts.xy(trials, parameter)[0]
    if parameter.type is ParameterType.CATEGORICAL or _few_integers(parameter):
        numbers = np.array([parts.numbers[t.name] for t in trials], dtype=float)
        step = _JITTER_STEPS[index % len(_JITTER_STEPS)]
        at = at + JITTER * 2 * (np.modf(numbers * step)[0] - 0.5)
    return at


def draw_scatter_matrix(container: Container, view: TuningJobView) -> list[list[Axes]]:
    """Every pair of the first MATRIX_MAX_PARAMETERS hyperparameters; points coloured by
    the objective (beside their value on an axis of categories or few integers, `_spread`);
    a histogram of each on the diagonal, each bar labelled with its count of trials. Tick
    labels on the outer panels only, as in pandas' scatter_matrix. A job of one
    hyperparameter has no pair: its histogram alone, with an axis of counts."""
    parameters = view.spec.parameters[:MATRIX_MAX_PARAMETERS]
    d = len(parameters)
    grid: Any = container.subplots(d, d, squeeze=False)
    parts = drawn(view)
    norm = _objective_norm(parts)

    def positions(trials: Sequence[Trial], parameter: Parameter) -> np.ndarray[Any, Any]:
        return parts.xy(trials, parameter)[0]  # type: ignore[no-any-return]

    def spread(trials: Sequence[Trial], parameter: Parameter) -> np.ndarray[Any, Any]:
        return _spread(parts, trials, parameter, parameters.index(parameter))

    if d == 1:
        values = positions(parts.valued, parameters[0])
        failures = positions(parts.failed, parameters[0])
        _draw_one_histogram(container, grid[0][0], parameters[0], values, failures, view)
        return [[grid[0][0]]]
    points = None
    for i, j in np.ndindex(d, d):
        ax = grid[i][j]
        _set_parameter_axis(ax.xaxis, parameters[j])
        _set_parameter_axis(ax.yaxis, parameters[i])
        if i == j:  # the y axis keeps the row's scale (for its labels); counts on a twin
            _draw_histogram(
                ax.twinx(),
                parameters[i],
                positions(parts.valued, parameters[i]),
                positions(parts.failed, parameters[i]),
            )
        else:
            x_of, y_of = parameters[j], parameters[i]
            if parts.stopped:  # under the coloured points, which they would hide
                ax.scatter(
                    spread(parts.stopped, x_of),
                    spread(parts.stopped, y_of),
                    s=12,
                    label=_stopped_label(view),
                    **_STOPPED_MARKERS,
                )
            if parts.failed:  # at their values: where training fails
                ax.scatter(
                    spread(parts.failed, x_of),
                    spread(parts.failed, y_of),
                    s=12,
                    marker="x",
                    color="C3",
                    linewidths=0.8,
                    label="failed",
                )
            if parts.finished:
                points = ax.scatter(
                    spread(parts.finished, x_of),
                    spread(parts.finished, y_of),
                    c=[parts.values[t.name] for t in parts.finished],
                    cmap=_objective_cmap(view),
                    norm=norm,
                    s=12,
                    zorder=2,
                )
        ax.tick_params(labelbottom=i == d - 1, labelleft=j == 0)
        if i == d - 1:
            ax.set_xlabel(parameters[j].name)
        if j == 0:
            ax.set_ylabel(parameters[i].name)
    if points is not None and norm is not None:
        container.colorbar(points, ax=grid, label=view.objective_metric, shrink=0.8)
    shown = "" if d == len(view.spec.parameters) else f" (first {d} of {len(view.spec.parameters)})"
    rings = f"; grey rings: {_stopped_label(view)}" if parts.stopped else ""
    failed = "; red x and bars: failed" if parts.failed else ""
    container.suptitle(f"hyperparameters coloured by {view.objective_metric}{shown}{rings}{failed}")
    return [list(row) for row in grid]


def _draw_one_histogram(
    container: Container,
    ax: Axes,
    parameter: Parameter,
    values: np.ndarray[Any, Any],
    failed: np.ndarray[Any, Any],
    view: TuningJobView,
) -> None:
    """The scatter matrix of a single hyperparameter: no pair to colour by the objective
    (`draw_parameters` plots the objective against it), so the trials per bin of its
    range, on an axis of counts."""
    _set_parameter_axis(ax.xaxis, parameter)
    _draw_histogram(ax, parameter, values, failed)
    ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel(parameter.name)
    ax.set_ylabel("trials")
    tried = count(int(np.isfinite(values).sum()), "trial")
    n_failed = int(np.isfinite(failed).sum())
    _legend(ax)  # the failed trials' red bars, if any
    also = f", {n_failed} failed" if n_failed else ""
    container.suptitle(
        f"values of {parameter.name} tried by the {tried} {_with_a_value(view)}{also}"
    )


def _with_a_value(view: TuningJobView) -> str:
    """What the trials drawn have: an objective, or (Hyperband trials stopped when the job
    ended) only a value at a rung."""
    values = drawn(view).values
    rung_only = any(t.name in values and t.objective is None for t in view.trials)
    return "with a value" if rung_only else "with an objective"


def _draw_histogram(
    ax: Axes, parameter: Parameter, values: np.ndarray[Any, Any], failed: np.ndarray[Any, Any]
) -> None:
    """Trials per bin of the parameter's range, the failed ones stacked on the others in
    the red of their x (they are points beside the diagonal too, so its counts match the
    panels'), each bar labelled with its count of all; no tick on the count axis (a
    caller that has room for one sets its locator)."""
    finite = values[np.isfinite(values)]
    scale = axis_scale(parameter)
    low, high = float(parameter.min or 0), float(parameter.max or 0)
    if scale == "categorical":
        bins: Any = np.arange(len(parameter.values or []) + 1) - 0.5
    elif _few_integers(parameter):  # a bar per value, centred on its tick
        bins = np.arange(low, high + 2) - 0.5
    elif scale == "log":
        bins = np.geomspace(low, high, 11)
    elif scale == "reverse-log":  # equal on the axis, dense near 1 as the search is
        bins = _reverse_log_inverse(np.linspace(_reverse_log(low), _reverse_log(high), 11))
    elif parameter.type is ParameterType.INTEGER:  # whole numbers, none between two bins
        bins = np.unique(np.round(np.linspace(low, high + 1, 11))) - 0.5
    else:
        bins = np.linspace(low, high, 11)
    counts, edges, bars = ax.hist(finite, bins=bins, color="C0", alpha=0.6)
    failures = np.histogram(failed[np.isfinite(failed)], bins=edges)[0]
    totals = counts + failures
    on = failures > 0  # a red bar only where one failed: no empty patches
    # No count axis (the panel's left axis is the row's parameter scale, which the
    # panels beside it share): each bin's top bar says how many trials it holds.
    labels = [f"{t:.0f}" if t and not f else "" for t, f in zip(totals, on, strict=True)]
    ax.bar_label(bars, labels=labels, fontsize=7)  # type: ignore[arg-type]
    if on.any():
        red = ax.bar(
            edges[:-1][on],
            failures[on],
            width=np.diff(edges)[on],
            bottom=counts[on],
            align="edge",
            color="C3",
            alpha=0.6,
            label="failed",
        )
        ax.bar_label(red, labels=[f"{t:.0f}" for t in totals[on]], fontsize=7)
    ax.set_ylim(0, max(float(np.max(totals, initial=0)), 1.0) * 1.3)  # room for the labels
    ax.yaxis.set_major_locator(ticker.NullLocator())
    ax.yaxis.set_minor_locator(ticker.NullLocator())


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _matrix_inches(view: TuningJobView) -> float:
    return max(5.0, MATRIX_PANEL_INCHES * min(len(view.spec.parameters), MATRIX_MAX_PARAMETERS))


def progress_figure(view: TuningJobView) -> Figure:
    figure = _new_figure(6.4, 4.2)
    draw_progress(figure, view)
    return fit_tick_labels(figure)


def parameters_figure(view: TuningJobView) -> Figure:
    n_parameters = len(view.spec.parameters)
    rows = math.ceil(n_parameters / PARAMETER_COLUMNS)
    figure = _new_figure(PANEL_INCHES * min(n_parameters, PARAMETER_COLUMNS), PANEL_INCHES * rows)
    draw_parameters(figure, view)
    return fit_tick_labels(figure)


def scatter_matrix_figure(view: TuningJobView) -> Figure:
    size = _matrix_inches(view)
    figure = _new_figure(size + 1.2, size)
    draw_scatter_matrix(figure, view)
    return fit_tick_labels(figure)


def rungs_figure(view: TuningJobView) -> Figure:
    """Hyperband: `draw_rungs` alone. Raises NotFoundError for a job without rungs (any
    other strategy), whose summary (`kubetune plot`) has no such panel either."""
    if not view.rungs:
        raise NotFoundError(_no_rungs(view))
    figure = _new_figure(6.4, 4.2)
    draw_rungs(figure, view)
    return fit_tick_labels(figure)


def _no_rungs(view: TuningJobView) -> str:
    no_rungs = f'TuningJob "{view.name}" has no rungs to plot'
    instead = "plot_progress() shows each trial's objective, plot_summary() every panel"
    if not view.hyperband:
        return (
            f"{no_rungs}: its strategy is {view.spec.strategy.value}, not Hyperband (only "
            f"Hyperband judges trials at rungs); {instead}."
        )
    return (
        f"{no_rungs}: its epochs are not known (neither spec.hyperband.maxResource nor an "
        f"`epochs` static hyperparameter gives them); {instead}."
    )


def summary_figure(view: TuningJobView) -> Figure:
    """All in one figure (what `kubetune plot` writes): progress (and for a Hyperband job
    the objective at each rung) and the objective against each hyperparameter above, the
    scatter matrix below."""
    n_parameters = len(view.spec.parameters)
    left_columns = 2 if view.rungs else 1
    top_columns = left_columns + min(n_parameters, PARAMETER_COLUMNS)
    top_rows = math.ceil(n_parameters / PARAMETER_COLUMNS)
    top_height = PANEL_INCHES * top_rows
    matrix = _matrix_inches(view)
    width = max(PANEL_INCHES * top_columns, matrix + 1.2)
    figure = _new_figure(width, top_height + matrix + 0.6)
    rows: Any = figure.subfigures(2, 1, height_ratios=[top_height, matrix + 0.6])
    top, bottom = rows
    halves: Any = top.subfigures(1, 2, width_ratios=[left_columns, top_columns - left_columns])
    left, right = halves
    if view.rungs:
        progress, rungs = left.subfigures(1, 2)
        draw_progress(progress, view)
        draw_rungs(rungs, view)
    else:
        draw_progress(left, view)
    draw_parameters(right, view)
    draw_scatter_matrix(bottom, view)
    figure.suptitle(
        f"TuningJob {view.name}: {view.spec.strategy.value}, {trials_drawn(view)}, "
        f"{view.spec.objective.type.value.lower()} {view.objective_metric}"
    )
    return fit_tick_labels(figure)


def trials_drawn(view: TuningJobView) -> str:
    """How many trials the figure draws, of which kind: `369 trials with an objective, 131
    failed` (a Hyperband trial stopped with only rung values counted apart)."""
    parts = drawn(view)
    rung_only = sum(t.objective is None for t in parts.valued)
    counts = [
        (len(parts.valued) - rung_only, "with an objective"),
        (rung_only, "with only a value at a rung"),
        (len(parts.failed), "failed"),
    ]
    shown = [(n, what) for n, what in counts if n] or counts[:1]
    # The first count names the trials: `3 trials with an objective, 1 failed`.
    return ", ".join(
        f"{count(n, 'trial') if i == 0 else n} {what}" for i, (n, what) in enumerate(shown)
    )


# --------------------------------------------------------------------------- tick labels


def all_axes(container: Container) -> Iterator[Axes]:
    """Every visible Axes of a figure, its subfigures' included (colorbars too), once."""
    seen: set[int] = set()

    def walk(part: Container) -> Iterator[Axes]:
        for ax in part.axes:
            if ax.get_visible() and id(ax) not in seen:
                seen.add(id(ax))
                yield ax
        for sub in part.subfigs:
            yield from walk(sub)

    yield from walk(container)


def drawn_tick_labels(axis: Axis) -> list[Text]:
    """The tick labels an axis draws: non-empty, visible, within its view limits."""
    if not axis.get_visible():  # e.g. the x axis of a twin
        return []
    low, high = sorted(axis.get_view_interval())
    labels = []
    for which in ("major", "minor"):
        locations = axis.get_majorticklocs() if which == "major" else axis.get_minorticklocs()
        texts = axis.get_majorticklabels() if which == "major" else axis.get_minorticklabels()
        for location, text in zip(locations, texts, strict=False):
            inside = low - 1e-12 * abs(high - low) <= location <= high + 1e-12 * abs(high - low)
            if inside and text.get_visible() and text.get_text():
                labels.append(text)
    return labels


def overlapping(labels: Sequence[Text], gap: float = _LABEL_GAP_PIXELS) -> bool:
    """Whether any two labels' boxes (each grown by `gap`/2 pixels) overlap."""
    boxes = [label.get_window_extent().expanded(1.0, 1.0).padded(gap / 2) for label in labels]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def _fewer_ticks(axis: Axis, nbins: int) -> None:
    if axis.get_scale() == "log":
        axis.set_major_locator(ticker.LogLocator(numticks=nbins))
    elif isinstance(locator := axis.get_major_locator(), ticker.FixedLocator):
        locations = list(locator.tick_values(0, 0))  # a FixedLocator ignores the range
        formatter = axis.get_major_formatter()
        seq = list(getattr(formatter, "seq", []))
        step = math.ceil(len(locations) / max(nbins, 1))
        axis.set_major_locator(ticker.FixedLocator(locations[::step]))
        if seq:
            axis.set_major_formatter(ticker.FixedFormatter(seq[::step]))
    else:
        integer = axis.axes.xaxis is axis and axis.axes.get_xlabel().startswith("trial")
        axis.set_major_locator(ticker.MaxNLocator(nbins=nbins, integer=integer))


def _fit_axis(axis: Axis) -> None:
    """Fewer (or rotated) tick labels on `axis` until none overlap."""
    if not overlapping(drawn_tick_labels(axis)):
        return
    axis.set_minor_formatter(ticker.NullFormatter())
    is_x = axis is axis.axes.xaxis
    categorical = isinstance(axis.get_major_locator(), ticker.FixedLocator)
    if categorical and is_x:
        axis.axes.tick_params(axis="x", labelrotation=90)
    nbins = max(len(drawn_tick_labels(axis)) - 1, 1)
    while overlapping(drawn_tick_labels(axis)) and nbins >= 1:
        _fewer_ticks(axis, nbins)
        nbins -= 1


def _rotate_categories(axis: Axis) -> bool:
    """Rotates the labels of a category (fixed-tick) x axis that collide; whether it did."""
    fixed = isinstance(axis.get_major_locator(), ticker.FixedLocator)
    rotated = any(label.get_rotation() for label in axis.get_majorticklabels())
    if axis is not axis.axes.xaxis or not fixed or rotated:
        return False
    if not overlapping(drawn_tick_labels(axis)):
        return False
    axis.axes.tick_params(axis="x", labelrotation=90)
    return True


def _rotate_all_categories(figure: Figure) -> bool:
    return sum(_rotate_categories(ax.xaxis) for ax in all_axes(figure)) > 0  # every axis


def fit_tick_labels(figure: Figure) -> Figure:
    """Lays the figure out and freezes that layout (constrained layout is the slow part of
    a big figure), then thins the tick labels that collide; fewer labels only free space,
    so what was checked is what gets saved. Category labels that collide are rotated
    before the last layout, which makes room for them (in their panel, not over the panel
    below or past the figure's edge)."""
    engine = figure.get_layout_engine()
    if engine is not None:
        # Before the layout, at the panels' first places: most labels that collide there
        # collide after it. A second layout (seconds for a big figure) only for the rest.
        _rotate_all_categories(figure)
        engine.execute(figure)
        if _rotate_all_categories(figure):
            engine.execute(figure)
        figure.set_layout_engine("none")
    for ax in all_axes(figure):
        _fit_axis(ax.xaxis)
        _fit_axis(ax.yaxis)
    return figure


def figure_panels(figure: Figure) -> list[str]:
    """Titles of the figure's panels (for tests and for a caption)."""
    return [ax.get_title() for ax in all_axes(figure) if ax.get_title()]

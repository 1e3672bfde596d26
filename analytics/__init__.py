"""kubetune.analytics: a TuningJob's trials for notebooks and scripts, the counterpart of
SageMaker's `HyperparameterTuningJobAnalytics`.

    from kubetune.analytics import TuningJobAnalytics

    tuning = TuningJobAnalytics("cifar10-resnet34", namespace="team-a")
    tuning.dataframe()            # one row per trial (needs pandas: kubetune[analytics])
    tuning.best_hyperparameters() # {"learning_rate": "0.0123", "epochs": "50", ...}
    tuning.plot_scatter_matrix()  # a matplotlib Figure (needs matplotlib)

The cluster is reached like kubectl does (`kubeconfig`, `context`; the namespace defaults
to the context's). `TuningJobAnalytics(directory="runs/x")` reads a TuningJob kept in a
directory instead (`tuningjob.yaml` and `status.yaml`), as `kubetune trials DIR` does: a
`kubetune run --local` that died without recording its end (SIGKILL) shows its running
trials interrupted, said in a `GoneRunWarning`. Nothing is cached but the last read:
`refresh()` reads again.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubetune.analytics.cluster import PYTHON_SETTINGS, KubeClient, connect
from kubetune.analytics.errors import (
    ForbiddenError,
    KubetuneError,
    NotFoundError,
    UnreachableError,
)
from kubetune.analytics.local import as_it_is, read_directory
from kubetune.analytics.records import best_hyperparameters, columns, flat_records, nested_records
from kubetune.analytics.resource import Trial, TuningJobView, parse_tuning_job

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

__all__ = [
    "ForbiddenError",
    "GoneRunWarning",
    "KubetuneError",
    "NotFoundError",
    "Trial",
    "TuningJobAnalytics",
    "TuningJobView",
    "UnreachableError",
    "parse_tuning_job",
]


class GoneRunWarning(UserWarning):
    """A local run directory read as it is, not as written: the run that wrote it died
    without recording its end (SIGKILL, a machine that went down), so its running trials
    are shown interrupted (`kubetune.analytics.local.as_it_is`; nothing is written)."""


def _callers_level() -> int:
    """The `stacklevel` that makes a warning given by the function calling this one name
    the first line outside kubetune.analytics (the user's `tuning.dataframe()`), however
    deep in the package it was given (Python 3.11 has no `skip_file_prefixes`)."""
    level, frame = 1, inspect.currentframe()
    frame = frame.f_back if frame is not None else None  # the function that warns: level 1
    while frame is not None and _in_this_package(frame.f_globals.get("__name__")):
        level, frame = level + 1, frame.f_back
    return level


def _in_this_package(module: object) -> bool:
    return isinstance(module, str) and (module == __name__ or module.startswith(f"{__name__}."))


class TuningJobAnalytics:
    """The trials of one TuningJob, read from a cluster or a directory."""

    def __init__(
        self,
        name: str | None = None,
        namespace: str | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        directory: Path | str | None = None,
        kube: KubeClient | None = None,
    ) -> None:
        if name is None and directory is None:
            raise ValueError("give a TuningJob's name (on a cluster) or directory= (a local run's)")
        if name is not None and directory is not None:
            raise ValueError(
                f"give a TuningJob's name ({name!r}, on a cluster) or directory= "
                f"({str(directory)!r}, a local run's), not both"
            )
        self.name = name
        self.directory = Path(directory) if directory is not None else None
        self._kube = kube
        if self.directory is None and kube is None:
            self._kube = connect(kubeconfig, context, settings=PYTHON_SETTINGS)
        self.namespace = namespace or (self._kube.namespace if self._kube else "")
        self._view: TuningJobView | None = None
        self._gone: str | None = None  # the GoneRunWarning last given

    def refresh(self) -> TuningJobView:
        """Reads the TuningJob again and returns it. A local run that died without
        recording its end shows its running trials interrupted, as `kubetune trials` does;
        a GoneRunWarning says so, once (not again at each read of the same dead run)."""
        if self.directory is not None:
            body = read_directory(self.directory)
            gone = as_it_is(body, self.directory)
            if gone is not None and gone != self._gone:
                warnings.warn(gone, GoneRunWarning, stacklevel=_callers_level())
            self._gone = gone
        else:
            assert self._kube is not None and self.name is not None
            body = self._kube.get_tuning_job(self.namespace, self.name)
        self._view = parse_tuning_job(body, self.directory)
        return self._view

    @property
    def view(self) -> TuningJobView:
        """The TuningJob as last read (read now if it never was)."""
        return self._view or self.refresh()

    def records(self, *, typed: bool = True) -> list[dict[str, Any]]:
        """One flat dict per trial, in launch order (see kubetune.analytics.records)."""
        return flat_records(self.view, datetime.now(UTC), typed=typed)

    def documents(self) -> list[dict[str, Any]]:
        """One nested dict per trial (hyperparameters and metrics as maps)."""
        return nested_records(self.view, datetime.now(UTC))

    def dataframe(self) -> pandas.DataFrame:
        """The trials as a pandas DataFrame: a row per trial, a column per hyperparameter
        (numbers for Continuous and Integer ones), per metric, and phase, reason,
        attempt, start and end times and duration; for a Hyperband job also the epochs
        each trial consumed and its value at each rung (`objective@1`, ...). The values
        measured (objective, metrics, rungs, epochs, durationSeconds) are floats, NaN
        where a trial has none."""
        try:
            import pandas  # noqa: PLC0415 (an optional extra)
        except ImportError:
            raise ImportError(
                "TuningJobAnalytics.dataframe() needs pandas: pip install 'kubetune[analytics]'"
            ) from None
        cols = columns(self.view)
        frame = pandas.DataFrame.from_records(self.records(), columns=cols.names())
        for column in ("start", "end"):
            frame[column] = pandas.to_datetime(frame[column], utc=True)
        # A column without a single value (no trial succeeded yet) would be of Python Nones,
        # dtype object, on which .mean() and comparisons behave otherwise.
        measured = ["objective", *cols.metrics.values(), "durationSeconds"]
        measured += ["epochs", *cols.rungs.values()] if cols.rungs else []
        frame[measured] = frame[measured].astype(float)
        return frame

    def best_hyperparameters(self) -> dict[str, str]:
        """The best trial's hyperparameters, tuned and static, ready to train with.
        Raises NotFoundError when no trial has succeeded yet."""
        return best_hyperparameters(self.view)

    def plot_progress(self) -> Figure:
        with _needs_matplotlib("plot_progress"):
            from kubetune.analytics.plots import progress_figure  # noqa: PLC0415

        return progress_figure(self.view)

    def plot_parameters(self) -> Figure:
        with _needs_matplotlib("plot_parameters"):
            from kubetune.analytics.plots import parameters_figure  # noqa: PLC0415

        return parameters_figure(self.view)

    def plot_scatter_matrix(self) -> Figure:
        with _needs_matplotlib("plot_scatter_matrix"):
            from kubetune.analytics.plots import scatter_matrix_figure  # noqa: PLC0415

        return scatter_matrix_figure(self.view)

    def plot_rungs(self) -> Figure:
        """Hyperband: each trial's objective at the rungs it reached."""
        with _needs_matplotlib("plot_rungs"):
            from kubetune.analytics.plots import rungs_figure  # noqa: PLC0415

        return rungs_figure(self.view)

    def plot_summary(self) -> Figure:
        with _needs_matplotlib("plot_summary"):
            from kubetune.analytics.plots import summary_figure  # noqa: PLC0415

        return summary_figure(self.view)


@contextlib.contextmanager
def _needs_matplotlib(method: str) -> Iterator[None]:
    """Around the import of `kubetune.analytics.plots`, done when a plot is first asked
    for: it needs matplotlib, an optional extra, which an ImportError then names with the
    way to install it."""
    try:
        yield
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != "matplotlib":
            raise
        raise ImportError(
            f"TuningJobAnalytics.{method}() needs matplotlib: pip install 'kubetune[analytics]'"
        ) from None

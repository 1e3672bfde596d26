"""`TuningJobAnalytics(directory=DIR)` reads a local run as `kubetune trials DIR` does
(one implementation, `kubetune.analytics.local.as_it_is`): a run recorded in DIR/.lock that
no longer runs shows its running trials interrupted, said once, with nothing written."""

from __future__ import annotations

import fcntl
import io
import json
import os
import socket
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubetune.analytics import GoneRunWarning, KubetuneError, TuningJobAnalytics
from kubetune.cli import local_follow
from kubetune.cli.main import run
from kubetune.operator.kube.local import process_start
from support.cli_data import write_directory
from synthetic_tuning_job import synthetic_tuning_job


def _files(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _run_dir(tmp_path: Path, **lock: Any) -> Path:
    """A run with its last two trials Running, its .lock naming this process as `lock` says."""
    directory = write_directory(synthetic_tuning_job("demo", 6, running=2), tmp_path / "demo")
    record = {"pid": os.getpid(), "started": process_start(os.getpid())}
    record |= {"host": socket.gethostname()} | lock
    (directory / ".lock").write_text(yaml.safe_dump(record))
    return directory


def _read(tuning: TuningJobAnalytics) -> tuple[list[tuple[str, str | None]], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every warning given, not once per place
        view = tuning.refresh()
    said = [f"{w.category.__name__}: {w.message}" for w in caught]
    return [(t.phase, t.reason) for t in view.trials[-2:]], said


def test_a_gone_runs_trials_are_shown_interrupted_once_as_the_cli_shows_them(
    tmp_path: Path,
) -> None:
    directory = _run_dir(tmp_path, started="1")  # this pid, another start: its run is gone
    before = _files(directory)
    tuning = TuningJobAnalytics(directory=directory)
    shown, said = _read(tuning)
    assert shown == [("Pending", "Interrupted"), ("Pending", "Interrupted")]
    line = (
        f"the run that wrote {directory} (pid {os.getpid()}) is no longer alive: its running "
        f"trials are shown interrupted; `kubetune run --local MANIFEST --out {directory}` "
        "resumes it"
    )
    assert said == [f"GoneRunWarning: {line}"]
    assert issubclass(GoneRunWarning, UserWarning)
    assert tuning.view.status.reason == "Interrupted"
    assert _read(tuning) == (shown, [])  # said once

    out, err = io.StringIO(), io.StringIO()
    assert run(["trials", str(directory), "-o", "json"], out, err) == 0
    assert err.getvalue() == f"{line}.\n"
    assert json.loads(out.getvalue()) == tuning.documents()  # one story
    assert _files(directory) == before  # no reader writes


def test_a_run_alive_shows_its_trials_as_written(tmp_path: Path) -> None:
    tuning = TuningJobAnalytics(directory=_run_dir(tmp_path))
    assert _read(tuning) == ([("Running", None), ("Running", None)], [])


def test_a_run_of_another_host_runs_while_its_lock_is_held(tmp_path: Path) -> None:
    """Its pid is not this machine's: the flock tells (held by a run on a shared file
    system; held by none in a directory copied from another machine)."""
    directory = _run_dir(tmp_path, host="gpu-7", pid=1, started="1")
    tuning = TuningJobAnalytics(directory=directory)
    with (directory / ".lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `kubetune run --local` does
        assert _read(tuning) == ([("Running", None), ("Running", None)], [])
    shown, said = _read(tuning)  # the lock released: that run has ended
    assert shown == [("Pending", "Interrupted"), ("Pending", "Interrupted")]
    assert said == [
        f"GoneRunWarning: the run that wrote {directory} (pid 1 on host gpu-7) is no longer "
        "alive: its running trials are shown interrupted; `kubetune run --local MANIFEST "
        f"--out {directory}` resumes it"
    ]


def test_a_run_gone_as_it_launched_shows_those_trials_interrupted_not_running(
    tmp_path: Path,
) -> None:
    """SIGKILLed within a second of launching: its trials are still Pending in status.yaml,
    their trainers started or about to be; they are shown interrupted, as running ones are
    (QA63 M2), and the line does not call them running (QA55 #3)."""
    directory = _run_dir(tmp_path, started="1")
    recorded = yaml.safe_load((directory / "status.yaml").read_text())
    for trial in recorded["trials"][-2:]:
        trial.update(phase="Pending")
        trial.pop("startTime", None)
    recorded["counters"] |= {"running": 0, "pending": 2}
    (directory / "status.yaml").write_text(yaml.safe_dump(recorded))
    tuning = TuningJobAnalytics(directory=directory)
    shown, said = _read(tuning)
    assert shown == [("Pending", "Interrupted"), ("Pending", "Interrupted")]
    line = (
        f"the run that wrote {directory} (pid {os.getpid()}) is no longer alive: its trials "
        "being launched are shown interrupted; `kubetune run --local MANIFEST --out "
        f"{directory}` resumes it"
    )
    assert said == [f"GoneRunWarning: {line}"]
    assert tuning.view.status.reason == "Interrupted"
    out, err = io.StringIO(), io.StringIO()
    assert run(["trials", str(directory)], out, err) == 0
    assert err.getvalue() == f"{line}.\n"


@pytest.mark.parametrize("read", ["refresh", "view", "records", "documents", "best"])
def test_the_gone_run_warning_points_at_the_line_that_read_the_run(
    tmp_path: Path, read: str
) -> None:
    """Not at the library's own lines (`return self._view or self.refresh()`): the warning
    is given where the user's code called kubetune.analytics (QA55 #4)."""
    tuning = TuningJobAnalytics(directory=_run_dir(tmp_path, started="1"))
    calls = {
        "refresh": tuning.refresh,
        "view": lambda: tuning.view,
        "records": tuning.records,
        "documents": tuning.documents,
        "best": tuning.best_hyperparameters,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calls[read]()
    assert [(w.category, w.filename) for w in caught] == [(GoneRunWarning, __file__)]


def test_watch_names_another_hosts_gone_run_as_the_readers_line_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run directory copied from another machine: watch's line names that run with its
    host (it named the pid alone, as if it were this machine's: QA68 L3)."""
    directory = _run_dir(tmp_path, host="gpu-7", pid=4242, started="1")
    monkeypatch.setattr(local_follow, "STARTING_SECONDS", 0.0)  # no run is coming
    out, err = io.StringIO(), io.StringIO()
    assert run(["watch", str(directory)], out, err) == 1
    assert err.getvalue() == (
        f"error: {directory} is not running: its last run (pid 4242 on host gpu-7) has ended "
        f"(phase InProgress, Interrupted); `kubetune run --local MANIFEST --out {directory}` "
        "resumes it\n"
    )


def test_the_notebook_api_says_what_is_wrong_with_what_it_was_given(tmp_path: Path) -> None:
    """QA84 L7: a manifest file and a missing directory both said `no TuningJob in ...:
    tuningjob.yaml is missing`, and neither name nor directory `..., not both`."""
    manifest = tmp_path / "base.yaml"
    manifest.write_text("kind: TuningJob\n")
    with pytest.raises(KubetuneError, match=r"base.yaml is a file, not a run directory: "):
        TuningJobAnalytics(directory=manifest).refresh()
    missing = tmp_path / "nope"
    with pytest.raises(KubetuneError) as raised:
        TuningJobAnalytics(directory=missing).refresh()
    assert str(raised.value) == (
        f"no run directory {missing}: `kubetune run --local MANIFEST --out {missing}` writes one"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(KubetuneError, match=r"tuningjob\.yaml is missing"):
        TuningJobAnalytics(directory=tmp_path / "empty").refresh()
    with pytest.raises(
        ValueError, match=r"^give a TuningJob's name \(on a cluster\) or directory="
    ):
        TuningJobAnalytics()
    with pytest.raises(ValueError, match=r"not both$"):
        TuningJobAnalytics("demo", directory=tmp_path)


def test_a_gone_runs_trials_end_when_it_last_touched_its_lock(tmp_path: Path) -> None:
    """QA84 L3: a run touches DIR/.lock every second (`local_run.ALIVE_SECONDS`); killed,
    its trials end then, not at the last status write, which may be an epoch older."""
    directory = _run_dir(tmp_path, started="1")  # a gone run
    written = time.time() - 60
    for path in directory.rglob("*"):
        os.utime(path, (written, written))
    os.utime(directory / ".lock", (written + 6, written + 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GoneRunWarning)
        view = TuningJobAnalytics(directory=directory).refresh()
    assert [t.reason for t in view.trials[-2:]] == ["Interrupted", "Interrupted"]
    last_alive = datetime.fromtimestamp(written + 6, UTC).replace(microsecond=0)  # as stored
    assert {t.end_time for t in view.trials[-2:]} == {last_alive}


def test_a_gone_runs_trial_whose_trainer_had_ended_is_said_to_be_recorded_not_started_again(
    tmp_path: Path,
) -> None:
    """QA98 L2: a killed run (busy with a GP fit) had not recorded 7 of its 8 trials whose
    trainers had ended, their exit codes written in logs/; the readers said all 8 would
    be started again, where the resume records those 7 from their logs."""
    directory = _run_dir(tmp_path, started="1")  # its run is gone
    trials = yaml.safe_load((directory / "status.yaml").read_text())["trials"]
    ended, running = (t["name"] for t in trials[-2:])
    (directory / "logs").mkdir(exist_ok=True)
    (directory / "logs" / f"{ended}.exit").write_text("0\n")
    view = TuningJobAnalytics(directory=directory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GoneRunWarning)
        view.refresh()
    message = view.view.status.message or ""
    assert message.endswith(f", starting {running} again, recording {ended} from the logs")
    said = {t.name: t.message for t in view.view.trials[-2:]}
    assert (said[ended] or "").startswith("its trainer ended before its run recorded it"), said
    assert (said[running] or "").endswith("command starts it again"), said

"""`kubetune run --local` interrupted at the edges: a trial being launched at that moment
reads as interrupted as the running ones do (QA63 M2), a SIGTERM is not told to press
Ctrl-C again, and one that comes before any trial started says so (QA63 L4)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubetune.cli import local_run
from kubetune.cli.local_follow import LocalRun
from kubetune.operator.kube import local as local_kube

from tests.local.test_run_local import kubetune, manifest, status
from tests.local.test_run_local_ending import files_of, record_run, runner

pytestmark = pytest.mark.slow


def interrupt_at_launch(monkeypatch: pytest.MonkeyPatch, when: str = "started") -> None:
    """Ctrl-C lands as the first trial Job is created: its trial recorded Pending (record
    before you act), its trainer `started` or about to be (`before`)."""
    create_job = local_kube.LocalKube.create_job

    def create_then_interrupt(self: local_kube.LocalKube, namespace: str, job: Any) -> bool:
        if when == "started":
            create_job(self, namespace, job)
        raise KeyboardInterrupt

    monkeypatch.setattr(local_kube.LocalKube, "create_job", create_then_interrupt)


def shown(out_dir: Path) -> tuple[list[tuple[str, str | None]], str]:
    code, listed, err = kubetune("trials", str(out_dir), "-o", "json")
    assert code == 0, err
    return [(t["phase"], t.get("reason")) for t in json.loads(listed)], err


@pytest.mark.parametrize("when", ["started", "before"])
def test_a_trial_being_launched_at_ctrl_c_is_recorded_interrupted_and_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """It was recorded Pending with no reason, as if nothing had happened to it."""
    path = manifest(tmp_path, limits={"maxTrials": 1, "maxParallelTrials": 1})
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    interrupt_at_launch(monkeypatch, when)
    code, _, err = kubetune(*argv)
    assert code == 130, err
    assert ("stopping 1 running trial" in err) == (when == "started"), err
    monkeypatch.undo()
    recorded = status(out_dir)
    (trial,) = recorded["trials"]
    assert (trial["phase"], trial.get("reason")) == ("Pending", "Interrupted"), trial
    assert trial["message"].startswith("interrupted (Ctrl-C)"), trial
    assert "endTime" not in trial, trial  # its attempt never started
    assert recorded["reason"] == "Interrupted", recorded
    assert recorded["message"].endswith("resumes it, starting local-001 again"), recorded
    assert shown(out_dir) == ([("Pending", "Interrupted")], "")
    assert LocalRun(out_dir).read().trials[0].reason == "Interrupted"  # watch's view

    # Started again (its Job was created) or launched (it had none): the run has
    # exactly its trial, which ends.
    code, _, err = kubetune(*argv)
    assert code == 0, err
    assert ("resumed; started again: local-001\n" in err) == (when == "started"), err
    assert [t["phase"] for t in status(out_dir)["trials"]] == ["Succeeded"]


def test_the_readers_show_a_trial_being_launched_when_the_run_was_killed_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run SIGKILLed as it launched a trial leaves it Pending with no reason (the kill
    is played here by an interruption that records nothing): `kubetune trials`,
    `describe` and `watch` show it interrupted, say so in a line, and write nothing."""
    path = manifest(tmp_path, limits={"maxTrials": 1, "maxParallelTrials": 1})
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    interrupt_at_launch(monkeypatch, "started")
    monkeypatch.setattr(local_run, "mark_interrupted", lambda *_: None)
    assert kubetune(*argv)[0] == 130
    monkeypatch.undo()
    assert [(t["phase"], t.get("reason")) for t in status(out_dir)["trials"]] == [("Pending", None)]
    record_run(out_dir, os.getpid(), "1")  # the recorded run is gone (its pid reused)
    before = files_of(out_dir)
    line = (
        f"the run that wrote {out_dir} (pid {os.getpid()}) is no longer alive: its trials "
        f"being launched are shown interrupted; `kubetune run --local MANIFEST --out "
        f"{out_dir}` resumes it.\n"
    )
    assert shown(out_dir) == ([("Pending", "Interrupted")], line)
    code, described, err = kubetune("describe", str(out_dir))
    assert (code, err) == (0, line)
    assert "Next:       Nothing runs: the local run was interrupted" in described, described
    (trial,) = LocalRun(out_dir).read().trials  # watch's view
    assert (trial.phase, trial.reason) == ("Pending", "Interrupted")
    assert files_of(out_dir) == before  # a reader writes nothing

    code, _, err = kubetune(*argv)
    assert code == 0, err
    assert "resumed; started again: local-001\n" in err
    assert [t["phase"] for t in status(out_dir)["trials"]] == ["Succeeded"]


def test_sigterm_while_the_manifest_is_read_says_nothing_ran(tmp_path: Path) -> None:
    """The manifest is a FIFO that the run blocks reading until the test writes it, so the
    SIGTERM lands before any trial started (it used to end the run at once, exit 143, -15
    here, with nothing said). The exit code is Ctrl-C's, as for a SIGTERM later on."""
    fifo = tmp_path / "job.yaml"
    os.mkfifo(fifo)
    out_dir = tmp_path / "run"
    with runner(["run", "--local", str(fifo), "--out", str(out_dir)]) as run:
        # A FIFO opens for writing without blocking only once its reader has opened it.
        deadline = time.monotonic() + 60
        writer = None
        while writer is None:
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                assert error.errno == errno.ENXIO and time.monotonic() < deadline, error
                assert run.poll() is None, run.communicate()
                time.sleep(0.05)  # polls a condition of another process, with a deadline
        try:
            run.send_signal(signal.SIGTERM)
            err = run.communicate(timeout=60)[1].decode()
        finally:
            with contextlib.suppress(OSError):
                os.close(writer)
        assert run.returncode == 130, err
    assert err == "interrupted (SIGTERM) before any trial started: nothing ran\n"
    assert not out_dir.exists()


def test_a_sigterm_is_not_told_to_press_ctrl_c_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its sender (`timeout`, a CI) cannot: it is told the trainers are killed after the
    grace instead. (`test_sigterm_or_sighup_stops_the_trainers_as_ctrl_c_does` sends
    real signals; here a SIGTERM lands as the trial starts.)"""
    path = manifest(tmp_path, limits={"maxTrials": 1, "maxParallelTrials": 1})
    create_job = local_kube.LocalKube.create_job

    def create_then_sigterm(self: local_kube.LocalKube, namespace: str, job: Any) -> bool:
        create_job(self, namespace, job)
        raise local_run._Signalled(signal.SIGTERM)

    monkeypatch.setattr(local_kube.LocalKube, "create_job", create_then_sigterm)
    code, _, err = kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))
    assert code == 130, err
    assert "stopping 1 running trial (up to 10 s, then killed)\n" in err, err
    assert "Ctrl-C" not in err, err
    assert err.endswith(
        "interrupted (SIGTERM): running trials stopped; resume with the same command\n"
    ), err
    assert yaml.safe_load((tmp_path / "run" / "status.yaml").read_text())["reason"] == (
        "Interrupted"
    )

"""What a resumed `kubetune run --local` counts: the epochs of a Hyperband attempt cut short
by the end of its run (interrupted or killed) are the trial's, as a retried attempt's
are on a cluster (QA82 M4), and `best` says that such a trial was interrupted, not that
it runs; a resume past `maxRuntimeSeconds` starts nothing and says how to go on (QA84
L15)."""

from __future__ import annotations

import re
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.local.test_run_local import kubetune, manifest, status, wait_for, write_manifest
from tests.local.test_run_local_ending import alive, files_of, runner
from tests.local.test_run_local_interrupt import interrupt_at_launch

pytestmark = pytest.mark.slow


def hyperband_job(tmp_path: Path) -> tuple[Path, list[str]]:
    """One Hyperband trial (no peer stops it at a rung) of 9 epochs, a value every 0.3 s;
    the command that runs it."""
    path = manifest(
        tmp_path,
        "Hyperband",
        hyperband={"minResource": 1, "maxResource": 9, "reductionFactor": 3},
        staticHyperparameters={"mode": "curve", "steps": "9", "pause": "0.3"},
        limits={"maxTrials": 1, "maxParallelTrials": 1},
    )
    return path, ["run", "--local", str(path), "--out", str(tmp_path / "run")]


def at_second_rung(out_dir: Path) -> bool:
    """Once the trial's value after 3 epochs is recorded."""
    if not (out_dir / "status.yaml").exists():
        return False
    trials = status(out_dir).get("trials") or []
    return bool(trials) and len(trials[0].get("rungValues") or []) >= 2


def printed(out_dir: Path) -> int:
    """The values the trial's attempt printed, in its log (replaced when it starts again)."""
    return (out_dir / "logs" / "local-001.log").read_text().count("loss=")


def resumed_counts_both(argv: list[str], out_dir: Path, cut_short: int) -> None:
    """Resumed, the trial runs its 9 epochs again: its epochs, and the job's, are both
    attempts'."""
    code, _, err = kubetune(*argv)
    assert code == 0, err
    assert "resumed; started again: local-001\n" in err
    recorded = status(out_dir)
    (trial,) = recorded["trials"]
    assert trial["phase"] == "Succeeded", trial
    assert trial["epochs"] == cut_short + 9, trial
    assert recorded["epochsConsumed"] == cut_short + 9, recorded


def test_the_epochs_of_an_interrupted_attempt_are_counted_and_best_says_it_was_interrupted(
    tmp_path: Path,
) -> None:
    _, argv = hyperband_job(tmp_path)
    out_dir = tmp_path / "run"
    with runner(argv) as run:
        wait_for(lambda: at_second_rung(out_dir))
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 130
    cut_short = printed(out_dir)  # its trainer is stopped: the log is whole
    assert 3 <= cut_short < 9
    recorded = status(out_dir)
    (trial,) = recorded["trials"]
    assert (trial["phase"], trial["reason"]) == ("Pending", "Interrupted"), trial
    assert trial["epochs"] == recorded["epochsConsumed"] == cut_short, recorded

    code, _, err = kubetune("best", str(out_dir))
    assert code == 0, err
    assert (
        f"and local-001 was interrupted after {cut_short} epochs with its run (Pending: nothing "
        "runs it now; the same `kubetune run --local` command resumes it): not a fully "
        "trained result.\n"
    ) in err, err
    assert "still running" not in err

    resumed_counts_both(argv, out_dir, cut_short)


def test_the_epochs_of_an_attempt_of_a_killed_run_are_counted_on_resume(tmp_path: Path) -> None:
    """SIGKILL: the run records nothing; the resume counts what the attempt printed before
    its log is begun anew."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the trainer dies with the run by PR_SET_PDEATHSIG, Linux's")
    _, argv = hyperband_job(tmp_path)
    out_dir = tmp_path / "run"
    with runner(argv) as run:
        wait_for(lambda: at_second_rung(out_dir))
        trainer = yaml.safe_load((out_dir / "logs" / "local-001.pid").read_text())["pgid"]
        run.kill()
        run.wait()
    wait_for(lambda: not alive(trainer), timeout=10)  # then its log is whole
    cut_short = printed(out_dir)
    assert 3 <= cut_short < 9
    (trial,) = status(out_dir)["trials"]
    assert (trial["phase"], trial.get("epochs")) == ("Running", None), trial

    resumed_counts_both(argv, out_dir, cut_short)


def test_a_resume_past_max_runtime_starts_nothing_and_says_how_to_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It started the interrupted trials, which the runtime limit stopped a second later
    (`Stopped (MaxRuntimeExceeded)`, exit 0). The time between runs counts, as the
    cluster's wall clock from status.startTime does."""
    limits = {"maxTrials": 1, "maxParallelTrials": 1, "maxRuntimeSeconds": 40}
    path = manifest(tmp_path, limits=limits)
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    interrupt_at_launch(monkeypatch)
    assert kubetune(*argv)[0] == 130
    monkeypatch.undo()
    # The run started a minute ago: its 40 s have passed while nothing ran.
    recorded = status(out_dir)
    started = datetime.now(UTC) - timedelta(seconds=60)
    recorded["startTime"] = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    (out_dir / "status.yaml").write_text(yaml.safe_dump(recorded))
    before = files_of(out_dir)

    code, out, err = kubetune(*argv)
    assert (code, out) == (1, ""), err
    shown = recorded["startTime"].replace("T", " ")
    assert re.fullmatch(
        rf"error: maxRuntimeSeconds \(40\) has passed since the run started at {shown} "
        r"\(1m0[0-9]s ago; the time between its runs counts, as on a cluster\): nothing was "
        rf"started again; raise it in {re.escape(str(path))} \(spec.limits.maxRuntimeSeconds\) "
        r"and run the same command to go on\n",
        err,
    ), err
    assert files_of(out_dir) == before  # nothing started, nothing written

    body = yaml.safe_load(path.read_text())
    body["spec"]["limits"]["maxRuntimeSeconds"] = 600
    write_manifest(path, body)
    code, _, err = kubetune(*argv)
    assert code == 0, err
    assert "resumed; started again: local-001\n" in err
    recorded = status(out_dir)
    assert recorded["phase"] == "Completed", recorded
    assert [t["phase"] for t in recorded["trials"]] == ["Succeeded"]

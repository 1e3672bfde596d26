"""`kubetune logs` and `kubetune watch` on a local run directory, from another process than
the `kubetune run --local` that writes it: real runs, real trainers, real CLI processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.local.test_run_local import kubetune, manifest, status, wait_for
from tests.local.test_run_local_ending import runner

pytestmark = pytest.mark.slow

# Prints loss=0.9, then waits (up to 120 s) until the file GO.<trial> or GO exists, then
# prints loss=0.<its number> and ends.
TRAINER = """
import pathlib, sys, time
go, trial = pathlib.Path(sys.argv[1]), sys.argv[2]
print("loss=0.9", flush=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    if go.exists() or go.with_name(f"{go.name}.{trial}").exists():
        break
    time.sleep(0.05)
print(f"loss=0.{trial[-1]}", flush=True)
"""


def job(tmp_path: Path) -> tuple[Path, Path]:
    """A manifest of two trials run one at a time, each until GO (or GO.<trial>) exists;
    its GO file."""
    go, trainer = tmp_path / "go", tmp_path / "trainer.py"
    trainer.write_text(TRAINER)
    container = {"command": [sys.executable, str(trainer)], "args": [str(go), "${trial.name}"]}
    limits = {"maxTrials": 2, "maxParallelTrials": 1}
    return manifest(tmp_path, container=container, limits=limits), go


def printed(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def started(out_dir: Path, trial: str) -> None:
    """Once `trial` has printed its first line."""
    wait_for(lambda: "loss=0.9" in printed(out_dir / "logs" / f"{trial}.log"))


def test_logs_print_a_trials_log_by_number_or_name_and_say_which_has_none(
    tmp_path: Path,
) -> None:
    path, go = job(tmp_path)
    go.touch()
    out_dir = tmp_path / "run"
    with runner(["run", "--local", str(path), "--out", str(out_dir)]) as run:
        assert run.wait(timeout=60) == 0  # a process of its own, which has ended
    for given, trial in (("2", "local-002"), ("local-001", "local-001")):
        code, out, err = kubetune("logs", str(out_dir), given)
        assert (code, err) == (0, ""), err
        assert out == f"loss=0.9\nloss=0.{trial[-1]}\n"
        assert kubetune("logs", "-f", str(out_dir), given)[1] == out  # ended: no waiting
    code, out, err = kubetune("logs", str(out_dir), "7")
    assert (code, out) == (1, "")
    assert err.startswith('error: TuningJob "local" has no trial "7"; its trials are '), err
    # A trial recorded but never started (its run was killed between the two): said so,
    # interrupted as the run's running trials are, with the command that resumes the run.
    recorded = status(out_dir)
    never = {**recorded["trials"][1], "name": "local-003", "phase": "Pending"}
    recorded.update(phase="InProgress", trials=[*recorded["trials"], never])
    (out_dir / "status.yaml").write_text(yaml.safe_dump(recorded))
    code, out, err = kubetune("logs", str(out_dir), "3")
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        f"error: trial local-003 is Pending (Interrupted): it has no log yet, and {out_dir} is "
        f"not running; `kubetune run --local MANIFEST --out {out_dir}` resumes it."
    ), err


def test_logs_follow_a_running_trial_until_it_ends(tmp_path: Path) -> None:
    path, go = job(tmp_path)
    out_dir, followed = tmp_path / "run", tmp_path / "followed.txt"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    try:
        with runner(argv) as run:
            started(out_dir, "local-001")
            with (
                followed.open("wb") as out,
                runner(["logs", "-f", str(out_dir), "1"], stdout=out) as logs,
            ):
                wait_for(lambda: printed(followed) == "loss=0.9\n" or logs.poll() is not None)
                assert logs.poll() is None, logs.communicate()[1]  # the trial runs: it waits
                go.with_name("go.local-001").touch()
                err = logs.communicate(timeout=60)[1].decode()
                assert logs.returncode == 0, err
            assert printed(followed) == "loss=0.9\nloss=0.1\n"
            go.touch()
            assert run.wait(timeout=60) == 0
    finally:
        go.touch()


def test_watch_follows_a_live_run_to_its_end(tmp_path: Path) -> None:
    path, go = job(tmp_path)
    out_dir, watched, ran = tmp_path / "run", tmp_path / "watched.txt", tmp_path / "ran.txt"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    try:
        with ran.open("wb") as run_out, runner(argv, stdout=run_out) as run:
            started(out_dir, "local-001")
            with watched.open("wb") as out, runner(["watch", str(out_dir)], stdout=out) as watch:
                wait_for(lambda: "1 running" in printed(watched) or watch.poll() is not None)
                assert watch.poll() is None, watch.communicate()[1]
                go.touch()
                err = watch.communicate(timeout=60)[1].decode()
                assert watch.returncode == 0, err
            assert run.wait(timeout=60) == 0
    finally:
        go.touch()
    lines = printed(watched).splitlines()
    assert lines[0] == "TuningJob local/local: InProgress (TrialsRunning); 0/2 ended, 1 running"
    assert [line.split()[:2] for line in lines[1:3]] == [
        ["local-001", "Succeeded"],
        ["local-002", "Succeeded"],
    ]
    # The last line is the run's own.
    assert lines[3:] == printed(ran).splitlines()[-1:], lines
    assert lines[3].startswith("TuningJob local: Completed (MaxTrialsReached); best trial")


def test_watch_of_a_run_that_no_longer_runs_says_how_to_resume_it(tmp_path: Path) -> None:
    """Killed while watched, and watched once dead: exit 1, one line that says so."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the trainer dies with a SIGKILLed run by Linux's PR_SET_PDEATHSIG")
    path, go = job(tmp_path)
    out_dir = tmp_path / "run"
    try:
        with runner(["run", "--local", str(path), "--out", str(out_dir)]) as run:
            started(out_dir, "local-001")
            with runner(["watch", str(out_dir)], stdout=subprocess.PIPE) as watch:
                run.kill()
                run.wait()
                out, err = (text.decode() for text in watch.communicate(timeout=60))
                assert watch.returncode == 1, out + err
    finally:
        go.touch()
    said = (
        f"error: {out_dir} is not running: its last run (pid {run.pid}) has ended (phase "
        f"InProgress, Interrupted); `kubetune run --local MANIFEST --out {out_dir}` resumes it\n"
    )
    assert err.endswith(said) and err.count("\n") == 1, err
    code, out, err = kubetune("watch", str(out_dir))
    assert (code, err) == (1, said), err
    assert (
        out == "TuningJob local/local: InProgress (Interrupted); 0/2 ended, 0 running, 1 pending\n"
    )
    # A --timeout shorter than watch's patience for a starting run says the same, not that
    # the run "keeps running".
    code, _, err = kubetune("watch", str(out_dir), "--timeout", "1")
    assert code == 1 and err.endswith(f". {said.removeprefix('error: ').rstrip()}.\n"), err


def test_watch_of_a_suspended_run_says_to_unsuspend_it(tmp_path: Path) -> None:
    """The same manifest would launch nothing again: the line says what to change."""
    path = manifest(tmp_path, suspend=True)
    out_dir = tmp_path / "run"
    with runner(["run", "--local", str(path), "--out", str(out_dir)]) as run:
        assert run.wait(timeout=60) == 0  # a process of its own, which has ended
    code, _, err = kubetune("watch", str(out_dir))
    assert code == 1, err
    assert err.endswith(
        "; set spec.suspend to false in its manifest; then `kubetune run --local MANIFEST "
        f"--out {out_dir}` resumes it\n"
    ), err

"""`kubetune logs` and `kubetune watch` on a local run directory, from another process than
the `kubetune run --local` that writes it: real runs, real trainers, real CLI processes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubetune.analytics.errors import KubetuneError
from kubetune.cli import local_follow
from kubetune.operator.kube import local as local_kube

from tests.local.test_run_local import kubetune, manifest, status, wait_for
from tests.local.test_run_local_ending import record_run, runner
from tests.local.test_run_local_interrupt import interrupt_at_launch

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
    """Once `trial` has printed its first line and the run has recorded it Running, about
    a second later: a reader started in between (`watch`, whose first line is the status
    as it finds it) would find it Pending."""
    wait_for(lambda: "loss=0.9" in printed(out_dir / "logs" / f"{trial}.log"))
    wait_for(
        lambda: any(
            t["name"] == trial and t.get("phase") == "Running"
            for t in status(out_dir).get("trials") or []
        )
    )


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


def test_watch_of_a_run_that_no_longer_runs_says_how_to_resume_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    with monkeypatch.context() as patched:  # no resume is coming: not 10 s more
        patched.setattr(local_follow, "STARTING_SECONDS", 0.5)
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


def interrupted(tmp_path: Path) -> tuple[list[str], Path, Path]:
    """A run Ctrl-C'd while trial 1 runs (its log `loss=0.9`, kept): its command (argv),
    its directory and its GO file."""
    path, go = job(tmp_path)
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    with runner(argv) as run:
        started(out_dir, "local-001")
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 130
    return argv, out_dir, go


def follow_log(stack: contextlib.ExitStack, out_dir: Path) -> subprocess.Popen[bytes]:
    """`kubetune logs -f OUT_DIR 1` started, its stdout in followed.txt and its stderr in
    said.txt beside OUT_DIR."""
    out, err = (stack.enter_context((out_dir.parent / f).open("wb")) for f in FOLLOWED)
    return stack.enter_context(runner(["logs", "-f", str(out_dir), "1"], stdout=out, stderr=err))


FOLLOWED = ("followed.txt", "said.txt")
RESTARTED = "trial local-001 was started again: its log begins anew\n"


def test_logs_f_reads_a_restarted_trials_new_log_from_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume starts the interrupted attempt again under its name, its new log renamed
    over the old file: logs -f, started between the resume taking DIR and restarting the
    trial, prints the old log, a line, then the new log from its start (it went on reading
    the old file and printed none of the restart: QA68 H1)."""
    argv, out_dir, go = interrupted(tmp_path)
    followed, said = (tmp_path / f for f in FOLLOWED)
    resume = local_kube.LocalKube.resume
    following: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:

        def follow_then_resume(kube: local_kube.LocalKube) -> list[str]:
            logs = follow_log(stack, out_dir)
            following.append(logs)
            wait_for(lambda: printed(followed) == "loss=0.9\n" or logs.poll() is not None)
            assert logs.poll() is None, printed(said)  # this run has DIR: it waits
            restarted = resume(kube)
            go.touch()
            return restarted

        monkeypatch.setattr(local_kube.LocalKube, "resume", follow_then_resume)
        code, _, err = kubetune(*argv)
        assert code == 0, err
        assert following[0].wait(timeout=60) == 0, printed(said)
    assert (printed(followed), printed(said)) == ("loss=0.9\nloss=0.9\nloss=0.1\n", RESTARTED)


def test_logs_f_waits_for_a_resume_that_is_starting(tmp_path: Path) -> None:
    """A resume checks its manifest for seconds before it takes DIR: logs -f of the
    interrupted trial, started first, waits for it and follows the restarted attempt (it
    ended at once, the run not alive, with only the old log printed: QA68 H1)."""
    argv, out_dir, go = interrupted(tmp_path)
    followed, said = (tmp_path / f for f in FOLLOWED)
    with contextlib.ExitStack() as stack:
        logs = follow_log(stack, out_dir)
        wait_for(lambda: printed(followed) == "loss=0.9\n" or logs.poll() is not None)
        go.touch()
        code, _, err = kubetune(*argv)
        assert code == 0, err
        assert logs.wait(timeout=60) == 0, printed(said)
    assert (printed(followed), printed(said)) == ("loss=0.9\nloss=0.9\nloss=0.1\n", RESTARTED)


def test_logs_f_started_before_its_run_waits_for_the_run_as_watch_does(tmp_path: Path) -> None:
    """`logs -f DIR 1` started just before `run --local --out DIR`: it waits for DIR and
    for the run's first trials, as watch does, and follows the trial (it said at once
    that DIR is no run directory: QA76 L3)."""
    path, go = job(tmp_path)
    out_dir = tmp_path / "run"
    followed, said = (tmp_path / f for f in FOLLOWED)
    waiting = f"{out_dir} holds no run yet: waiting for one (Ctrl-C to stop)\n"
    with contextlib.ExitStack() as stack:
        logs = follow_log(stack, out_dir)
        wait_for(lambda: printed(said) == waiting or logs.poll() is not None)
        assert logs.poll() is None, printed(said)
        go.touch()
        code, _, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
        assert code == 0, err
        assert logs.wait(timeout=60) == 0, printed(said)
    # A follower that looks while the run records trial 1 Pending, before it launches it,
    # says so too.
    pending = "trial local-001 is Pending: waiting for it to start (Ctrl-C to stop)\n"
    assert printed(followed) == "loss=0.9\nloss=0.1\n"
    assert printed(said) in (waiting, waiting + pending)


def test_logs_f_of_a_trial_not_started_waits_for_a_resume_that_is_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted as it was launched, the trial has no log: logs -f waits for the resume
    that is starting (it said at once that DIR is not running: QA68 H1), and says so once
    no run has used DIR for STARTING_SECONDS."""
    path, go = job(tmp_path)
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    interrupt_at_launch(monkeypatch, "before")
    assert kubetune(*argv)[0] == 130
    monkeypatch.undo()
    record_run(out_dir, os.getpid(), "1")  # run here: the recorded run is gone (pid reused)
    waiting = "trial local-001 is Pending (Interrupted): waiting for it to start (Ctrl-C to stop)\n"
    not_running = (
        f"error: trial local-001 is Pending (Interrupted): it has no log yet, and {out_dir} is "
        f"not running; `kubetune run --local MANIFEST --out {out_dir}` resumes it.\n"
    )
    assert kubetune("logs", str(out_dir), "1") == (1, "", not_running)  # without -f: at once
    with monkeypatch.context() as patched:
        patched.setattr(local_follow, "STARTING_SECONDS", 0.5)
        assert kubetune("logs", "-f", str(out_dir), "1") == (1, "", waiting + not_running)
    followed, said = (tmp_path / f for f in FOLLOWED)
    with contextlib.ExitStack() as stack:
        logs = follow_log(stack, out_dir)
        wait_for(lambda: printed(said) == waiting or logs.poll() is not None)
        assert logs.poll() is None, printed(said)
        go.touch()
        code, _, err = kubetune(*argv)
        assert code == 0, err
        assert logs.wait(timeout=60) == 0, printed(said)
    # The resume records the trial Pending without its reason before it launches it: a
    # follower that looks then says so too (the line changes), one that does not, not.
    relaunched = "trial local-001 is Pending: waiting for it to start (Ctrl-C to stop)\n"
    assert printed(followed) == "loss=0.9\nloss=0.1\n"
    assert printed(said) in (waiting, waiting + relaunched)


class FakeClock:
    """time.monotonic and time.sleep of a clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now = round(self.now + seconds, 3)


def test_watch_calls_a_run_gone_once_no_run_used_dir_for_starting_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume may take DIR seconds after watch starts (4.4 to 6.5 s measured on a loaded
    two-core machine; watch gave it 3 s from its own start: QA68 L5). Once a run is gone
    for good, watch reads once more (a killed run's trials are then shown interrupted),
    and says so if it is still gone; a run resumed meanwhile is given the time again, and
    that read (given only once per watch: QA68 L5)."""
    path = manifest(tmp_path, suspend=True)
    out_dir = tmp_path / "run"
    assert kubetune("run", "--local", str(path), "--out", str(out_dir))[0] == 0
    clock = FakeClock()
    monkeypatch.setattr(local_follow, "time", clock)
    alive = [(0.0, False), (5.0, True), (6.0, False)]  # from that time on

    def recorded_run(_: Path) -> tuple[str, bool]:
        return "pid 7", [a for at, a in alive if at <= clock.now][-1]

    monkeypatch.setattr(local_follow, "recorded_run", recorded_run)
    watched = local_follow.LocalRun(out_dir)
    view = watched.read()
    seen: list[tuple[float, str]] = []
    said = ""
    while not said:
        try:
            watched.wait(view, clock.now + 60)
            seen.append((clock.now, "read again"))
        except KubetuneError as error:
            said = str(error)
            seen.append((clock.now, "said gone"))
        if len(seen) == 1:  # resumed as watch reads, gone again a second later
            alive += [(clock.now, True), (clock.now + 1, False)]
    assert seen == [(16.0, "read again"), (27.0, "read again"), (27.0, "said gone")], seen
    assert said.startswith(f"{out_dir} is not running: its last run (pid 7) has ended"), said


def test_a_run_starting_as_a_reader_asks_whether_dir_is_locked_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader of a run of another host asks whether DIR/.lock is locked by taking a
    shared flock for an instant, at every poll (`_lock_held`): a run that tries to take DIR
    at that instant tries again, and is not refused as if DIR were in use (QA68 L4)."""
    path = manifest(tmp_path, limits={"maxTrials": 1, "maxParallelTrials": 1})
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / ".lock").write_text(yaml.safe_dump({"pid": 1, "started": "1", "host": "gpu-7"}))
    asking = (out_dir / ".lock").open("rb")
    fcntl.flock(asking, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a reader's, as the run starts
    flock = fcntl.flock

    def reader_done_after_first_try(file: Any, operation: int) -> None:
        try:
            flock(file, operation)
        finally:
            asking.close()  # the reader's file closed: its lock released

    monkeypatch.setattr(fcntl, "flock", reader_done_after_first_try)
    code, _, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
    assert code == 0, err
    assert [t["phase"] for t in status(out_dir)["trials"]] == ["Succeeded"]

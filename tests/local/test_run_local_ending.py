"""`kubetune run --local`, however its run ends: no trainer outlives it, and its status says
what it is (the running trials Pending, reason Interrupted), with one line and an exit
code that is not 0; a resume runs no trial twice and none that had ended."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubetune.analytics import TuningJobAnalytics
from kubetune.analytics.resource import parse_tuning_job
from kubetune.cli.local_run import _latest_values
from kubetune.operator.kube import local as local_kube
from kubetune.operator.kube.client import JobNotStartedError
from kubetune.operator.kube.metric_logs import TAIL_BYTES

from tests.local.test_run_local import kubetune, manifest, status, wait_for, write_manifest

pytestmark = pytest.mark.slow

# A trainer that records its pid in PIDS/<trial>.<pid> and prints loss=1, then: trial 001
# ends at once, the others wait (up to 120 s) until the file GO (or GO.<trial>) exists.
# With "ignore" as its last argument it ignores SIGTERM (saying so in PIDS/<trial>.term);
# with "child" it first starts a child in its process group that records
# PIDS/<trial>.child.<pid>; with "stubborn-child" that child ignores SIGTERM.
TRAINER = """
import os, pathlib, signal, subprocess, sys, time
pids, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
trial, how = sys.argv[3], sys.argv[4]
if how == "ignore":
    signal.signal(signal.SIGTERM, lambda *_: (pids / f"{trial}.term").touch())
if how in ("child", "stubborn-child") and not go.exists():
    mark = f"{pids}/{trial}.child."
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if how != "child" else ""
    record = f"open({mark!r} + str(os.getpid()), 'w')"
    code = f"import os, signal, time; {ignore}{record}; time.sleep(120)"
    subprocess.Popen([sys.executable, "-c", code])
(pids / f"{trial}.{os.getpid()}").touch()
print("loss=1", flush=True)
deadline = time.monotonic() + 120
while not trial.endswith("-001") and time.monotonic() < deadline:
    if go.exists() or go.with_name(f"{go.name}.{trial}").exists():
        break
    time.sleep(0.05)
"""


def job(tmp_path: Path, how: str = "plain", trials: int = 2) -> tuple[Path, Path, Path]:
    """The manifest, its PIDS folder and its GO file."""
    pids, go, trainer = tmp_path / "pids", tmp_path / "go", tmp_path / "trainer.py"
    pids.mkdir(exist_ok=True)
    trainer.write_text(TRAINER)
    container = {
        "command": [sys.executable, str(trainer)],
        "args": [str(pids), str(go), "${trial.name}", how],
    }
    limits = {"maxTrials": trials, "maxParallelTrials": trials}
    return manifest(tmp_path, container=container, limits=limits), pids, go


def alive(pid: int) -> bool:
    """Running (a zombie that no init reaps is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pids_of(pids: Path, pattern: str = "*") -> list[int]:
    return [int(p.name.rsplit(".", 1)[1]) for p in pids.glob(pattern) if p.suffix[1:].isdigit()]


@contextlib.contextmanager
def runner(
    argv: list[str], command: Sequence[str] = (sys.executable, "-m", "kubetune.cli"), **popen: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """`kubetune ARGV` (run as `command`: the module, or the console script) in a process
    of its own that Ctrl-C reaches as from a terminal; on leaving, it is gone (killed if
    need be)."""
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    # Tests started by a non-interactive shell inherit SIGINT ignored, and an exec keeps
    # it so: the run would never see Ctrl-C. Not ignored in the child:
    inherited = signal.getsignal(signal.SIGINT)
    if inherited == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        popen.setdefault("stdout", subprocess.DEVNULL)
        popen.setdefault("stderr", subprocess.PIPE)
        process = subprocess.Popen([*command, *argv], env=env, **popen)
    finally:
        if inherited == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def kill_all(pids: Path) -> None:
    for pid in pids_of(pids, "*.*"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def first_ended(out_dir: Path) -> None:
    """Once trial 001 is recorded Succeeded."""
    wait_for(
        lambda: (
            (out_dir / "status.yaml").exists()
            and [t["phase"] for t in status(out_dir).get("trials") or []][:1] == ["Succeeded"]
        )
    )


def started(pids: Path, count: int) -> list[int]:
    """Once `count` trainers have started, their pids."""
    wait_for(lambda: len(pids_of(pids, "local-*")) >= count)
    return pids_of(pids, "local-*")


def interrupted_as_recorded(out_dir: Path, cause: str) -> None:
    recorded = status(out_dir)
    trials = recorded["trials"]
    assert [t["phase"] for t in trials] == ["Succeeded", "Pending"], trials
    assert trials[1]["reason"] == "Interrupted", trials[1]
    assert trials[1]["message"].startswith(f"interrupted ({cause})"), trials[1]
    assert recorded["counters"]["running"] == 0, recorded["counters"]
    assert not (out_dir / ".status.yaml.tmp").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_stops_the_trainers_as_ctrl_c_does(
    tmp_path: Path, signum: signal.Signals
) -> None:
    path, pids, _ = job(tmp_path)
    out_dir = tmp_path / "run"
    try:
        with runner(["run", "--local", str(path), "--out", str(out_dir)]) as run:
            first_ended(out_dir)
            trainers = started(pids, 2)
            run.send_signal(signum)
            err = run.communicate(timeout=60)[1].decode()
            assert run.returncode == 130, err
        wait_for(lambda: not any(alive(p) for p in trainers), timeout=5)
        interrupted_as_recorded(out_dir, signum.name)
        assert f"interrupted ({signum.name}): running trials stopped" in err, err
        # Its sender cannot press Ctrl-C again: it is told what comes instead.
        assert "stopping 1 running trial (up to 10 s, then killed)\n" in err, err
        assert "Ctrl-C" not in err, err
        assert "Traceback" not in err, err
    finally:
        kill_all(pids)


def test_a_second_ctrl_c_kills_the_trainers_at_once_and_still_records_them(
    tmp_path: Path,
) -> None:
    path, pids, _ = job(tmp_path, "ignore")
    out_dir = tmp_path / "run"
    try:
        with runner(["run", "--local", str(path), "--out", str(out_dir)]) as run:
            first_ended(out_dir)
            trainers = started(pids, 2)
            first = time.monotonic()
            run.send_signal(signal.SIGINT)
            wait_for((pids / "local-002.term").exists)  # ignored: the grace runs
            run.send_signal(signal.SIGINT)
            err = run.communicate(timeout=60)[1].decode()
            assert run.returncode == 130, err
            # Killed at the second Ctrl-C, not after the grace of the first one.
            assert time.monotonic() - first < local_kube.STOP_GRACE_SECONDS, err
        wait_for(lambda: not any(alive(p) for p in trainers), timeout=5)
        interrupted_as_recorded(out_dir, "Ctrl-C")
        assert "stopping 1 running trial (up to 10 s; Ctrl-C again to kill them now)" in err
        assert err.endswith("interrupted: running trials stopped; resume with the same command\n")
    finally:
        kill_all(pids)


def test_ctrl_c_stops_a_trainers_whole_process_group_not_only_the_trainer(
    tmp_path: Path,
) -> None:
    """The trainer exits at SIGTERM, the child it started ignores it: the grace runs
    until the group is gone, then SIGKILL (it used to end with the trainer, the child
    left running)."""
    path, pids, _ = job(tmp_path, "stubborn-child")
    out_dir = tmp_path / "run"
    try:
        with runner(["run", "--local", str(path), "--out", str(out_dir)]) as run:
            first_ended(out_dir)
            wait_for(lambda: pids_of(pids, "local-002.child.*"))
            (child,) = pids_of(pids, "local-002.child.*")
            run.send_signal(signal.SIGINT)
            err = run.communicate(timeout=60)[1].decode()
            assert run.returncode == 130, err
        assert not alive(child), err
        interrupted_as_recorded(out_dir, "Ctrl-C")
    finally:
        kill_all(pids)


def test_a_killed_run_leaves_no_trainer_and_its_resume_runs_no_trial_twice(
    tmp_path: Path,
) -> None:
    """SIGKILL: the trainer dies with the run (PR_SET_PDEATHSIG); the child it started
    in its process group is stopped by the resume before the trial starts again."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    path, pids, go = job(tmp_path, "child")
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    try:
        with runner(argv) as run:
            first_ended(out_dir)
            wait_for(lambda: pids_of(pids, "local-002.child.*"))
            wait_for(lambda: pids_of(pids, "local-002.[0-9]*"))
            (leader,) = pids_of(pids, "local-002.[0-9]*")
            (child,) = pids_of(pids, "local-002.child.*")
            run.kill()
            run.wait()
        wait_for(lambda: not alive(leader), timeout=5)
        assert alive(child)  # in the trainer's process group, not the run's child
        go.touch()  # the trial, started again, ends
        code, _, err = kubetune(*argv)
        assert code == 0, err
        assert "resumed; started again: local-002\n" in err
        assert not alive(child)
        assert status(out_dir)["phase"] == "Completed"
    finally:
        kill_all(pids)


def test_a_closed_stdout_stops_the_trainers_and_fails(tmp_path: Path) -> None:
    path, pids, _ = job(tmp_path)
    out_dir = tmp_path / "run"
    try:
        argv = ["run", "--local", str(path), "--out", str(out_dir)]
        with runner(argv, stdout=subprocess.PIPE) as run:
            assert run.stdout is not None
            run.stdout.close()  # `| head` has ended: the first line written fails
            err = run.communicate(timeout=60)[1].decode()
            assert run.returncode == 1, err
        trainers = pids_of(pids, "local-*")
        wait_for(lambda: not any(alive(p) for p in trainers), timeout=5)
        interrupted_as_recorded(out_dir, "output closed")
        assert err.splitlines()[-1] == (
            "error: the output was closed (a pipe's reader ended); run the same command "
            "to resume (running trials stopped and recorded as interrupted)"
        ), err
    finally:
        kill_all(pids)


def test_an_error_mid_run_stops_the_trainers_and_says_so_in_one_line(tmp_path: Path) -> None:
    """Here the status cannot be written (a directory where its temporary file goes), as
    on a full disk."""
    path, pids, go = job(tmp_path, trials=3)
    out_dir = tmp_path / "run"
    try:
        with runner(["run", "--local", str(path), "--out", str(out_dir)]) as run:
            first_ended(out_dir)
            trainers = started(pids, 3)
            (out_dir / ".status.yaml.tmp").mkdir()
            go.with_name("go.local-002").touch()  # its end is a status write, which fails
            err = run.communicate(timeout=60)[1].decode()
            assert run.returncode == 1, err
        wait_for(lambda: not any(alive(p) for p in trainers), timeout=5)
        assert "Traceback" not in err, err
        (line,) = [x for x in err.splitlines() if x.startswith("error:")]
        assert line.startswith(f"error: cannot write {out_dir}/.status.yaml.tmp: Is a directory")
        assert "run the same command to resume" in line and "could not record" in line, line
        # Space again: the same command resumes the run and ends it.
        (out_dir / ".status.yaml.tmp").rmdir()
        (tmp_path / "go").touch()
        code, _, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
        assert code == 0, err
        assert [t["phase"] for t in status(out_dir)["trials"]] == ["Succeeded"] * 3
    finally:
        kill_all(pids)


def test_a_failed_status_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local_kube.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        local_kube.write_atomically(tmp_path / "status.yaml", {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_a_resume_whose_trainer_no_longer_starts_says_how_to_go_on(tmp_path: Path) -> None:
    path, pids, go = job(tmp_path)
    body = yaml.safe_load(path.read_text())
    container = body["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    command = container.pop("command")
    write_manifest(path, body)
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    image = f"fake:1={' '.join(command)}"
    try:
        with runner([*argv, "--image", image]) as run:
            first_ended(out_dir)
            started(pids, 2)
            run.send_signal(signal.SIGINT)
            assert run.wait(60) == 130
        # The resume comes an hour later (its times moved back by one): a restart that
        # never started leaves the attempt's duration as it was, not an hour longer.
        recorded = status(out_dir)
        for key in ("startTime", "endTime"):
            when = datetime.fromisoformat(recorded["trials"][1][key].replace("Z", "+00:00"))
            recorded["trials"][1][key] = (when - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        (out_dir / "status.yaml").write_text(yaml.safe_dump(recorded))
        code, _, err = kubetune(*argv, "--image", "fake:1=/nonexistent/python3 train.py")
        assert code == 1, err
        times = [{k: t.get(k) for k in ("startTime", "endTime")} for t in recorded["trials"]]
        assert [
            {k: t.get(k) for k in ("startTime", "endTime")} for t in status(out_dir)["trials"]
        ] == times
        saved = out_dir / "images.yaml"
        # The --image given did not start: the saved one stays (and nothing says otherwise).
        assert "replaces" not in err, err
        assert yaml.safe_load(saved.read_text()) == {"fake:1": " ".join(command)}
        assert err.splitlines()[-1] == (
            "error: spec.trialTemplate: cannot start the command '/nonexistent/python3' of "
            "container 'trainer': [Errno 2] No such file or directory: '/nonexistent/python3'; "
            f"fix it (or --image) and run the same command again on {out_dir} (running trials "
            "stopped and recorded as interrupted)"
        ), err
        interrupted_as_recorded(out_dir, "a trainer did not start")
        go.touch()
        code, _, err = kubetune(*argv, "--image", image)
        assert code == 0, err
        assert "resumed; started again: local-002\n" in err and "replaces" not in err, err
        assert yaml.safe_load(saved.read_text()) == {"fake:1": " ".join(command)}
    finally:
        kill_all(pids)


def test_a_resume_leaves_a_trial_that_had_ended_and_its_log_alone(tmp_path: Path) -> None:
    """A run interrupted while the Job of an ended (e.g. early-stopped) trial was being
    deleted: its manifest is there, no exit code; it is not started again."""
    out_dir = tmp_path / "run"
    path = manifest(tmp_path, limits={"maxTrials": 1, "maxParallelTrials": 1})
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    assert kubetune(*argv)[0] == 0
    logs = out_dir / "logs"
    log = (logs / "local-001.log").read_text()
    assert log and (logs / "local-001.job.yaml").exists()
    (logs / "local-001.exit").unlink()
    kube = local_kube.LocalKube(out_dir)
    assert kube.resume() == []
    assert kube.running() == []
    assert (logs / "local-001.log").read_text() == log
    assert not (logs / "local-001.job.yaml").exists()


def test_a_restart_that_cannot_start_keeps_the_interrupted_log(tmp_path: Path) -> None:
    """A resume whose command cannot start leaves the interrupted attempt's log as it was
    (it was emptied before the start was tried), and nothing beside it; a restart that
    starts writes its log anew under the same name."""
    out_dir = tmp_path / "run"
    path = manifest(tmp_path, limits={"maxTrials": 1, "maxParallelTrials": 1})
    assert kubetune("run", "--local", str(path), "--out", str(out_dir))[0] == 0
    logs = out_dir / "logs"
    # Trial 001 as a run interrupted after it printed a line leaves it.
    (logs / "local-001.exit").unlink()
    recorded = status(out_dir)
    recorded["trials"][0]["phase"] = "Running"
    (out_dir / "status.yaml").write_text(yaml.safe_dump(recorded))
    interrupted = b"interrupted attempt\n"
    (logs / "local-001.log").write_bytes(interrupted)
    job_file = logs / "local-001.job.yaml"
    job = job_file.read_text()
    broken = yaml.safe_load(job)
    broken["spec"]["template"]["spec"]["containers"][0]["command"] = ["/nonexistent/cmd"]
    job_file.write_text(yaml.safe_dump(broken))
    before = sorted(p.name for p in logs.iterdir())
    with pytest.raises(JobNotStartedError, match="/nonexistent/cmd"):
        local_kube.LocalKube(out_dir).resume()
    assert (logs / "local-001.log").read_bytes() == interrupted
    assert sorted(p.name for p in logs.iterdir()) == before
    job_file.write_text(job)
    kube = local_kube.LocalKube(out_dir)
    assert kube.resume() == ["local-001"]
    deadline = time.monotonic() + 60
    while kube.running() and time.monotonic() < deadline:
        kube.wait(1.0)
    assert kube.running() == []
    log = (logs / "local-001.log").read_bytes()
    assert b"loss=" in log and interrupted not in log
    assert not any(p.name.startswith(".") for p in logs.iterdir())


@pytest.mark.parametrize("where", ["under-a-file", "a-file"])
def test_an_out_that_cannot_be_a_directory_is_named(tmp_path: Path, where: str) -> None:
    path = manifest(tmp_path)
    (tmp_path / "file").write_text("")
    out_dir = tmp_path / "file" / "run" if where == "under-a-file" else tmp_path / "file"
    code, _, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
    assert code == 1
    assert err.startswith(f"error: cannot use {out_dir} as the run directory: "), err
    assert err.endswith("; give another --out\n") and err.count("\n") == 1, err


def test_the_live_view_reads_only_the_end_of_a_huge_log(tmp_path: Path) -> None:
    """A chatty trainer's log may be gigabytes: the screen's latest value comes from its
    last TAIL_BYTES (it read the whole file at every reconcile), without a step number
    (the lines read do not say how many values came before)."""
    out_dir = tmp_path / "run"
    path = manifest(tmp_path, limits={"maxTrials": 1, "maxParallelTrials": 1})
    assert kubetune("run", "--local", str(path), "--out", str(out_dir))[0] == 0
    kube = local_kube.LocalKube(out_dir)
    noise = b"x" * 99 + b"\n"
    (out_dir / "logs" / "local-001.log").write_bytes(
        b"loss=0.9\n" + noise * (16 * TAIL_BYTES // len(noise)) + b"loss=0.25\n"
    )
    body = local_kube.read_run(out_dir)
    body["status"]["trials"][0]["phase"] = "Running"
    view = parse_tuning_job(body)
    tracemalloc.start()
    try:
        latest = _latest_values(kube, view)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (latest["local-001"].value, latest["local-001"].step) == (0.25, None)
    assert peak < 4 * TAIL_BYTES  # the whole 16 MiB log was read (and split) before


def files_of(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `directory` with its content and mtime: what a reader must not
    change."""
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def record_run(out_dir: Path, pid: int, started: str | None) -> None:
    """DIR/.lock naming process `pid`, started at `started` (clock ticks), as a run writes it."""
    record = {"pid": pid, "started": started, "host": socket.gethostname()}
    (out_dir / ".lock").write_text(yaml.safe_dump(record))


def test_the_readers_show_a_killed_runs_trials_interrupted_and_write_nothing(
    tmp_path: Path,
) -> None:
    """A SIGKILLed run (or one whose machine went down) records no end: status.yaml keeps
    its trials Running. `kubetune trials` and `describe` show them interrupted once the run
    recorded in DIR/.lock no longer runs (its pid gone, or reused: another start time),
    and say so in a line; they write nothing, and the same command resumes the run."""
    path, pids, go = job(tmp_path)
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]

    def shown() -> tuple[list[tuple[str, str | None]], str]:
        code, listed, err = kubetune("trials", str(out_dir), "-o", "json")
        assert code == 0, err
        return [(t["phase"], t.get("reason")) for t in json.loads(listed)], err

    try:
        with runner(argv) as run:
            first_ended(out_dir)
            started(pids, 2)
            # Alive: shown as it runs.
            assert shown() == ([("Succeeded", None), ("Running", None)], "")
            # Idle (its trainer waits), the run still says it is alive: it touches its .lock,
            # whose time ends the trials a kill interrupts (QA84 L3: the status's, 1 s after
            # their start, where they ran 6).
            lock, status_file = out_dir / ".lock", out_dir / "status.yaml"
            wait_for(lambda: lock.stat().st_mtime > status_file.stat().st_mtime + 1.5)
            run.kill()
            run.wait()
        before = files_of(out_dir)
        assert [t["phase"] for t in status(out_dir)["trials"]] == ["Succeeded", "Running"]
        line = (
            f"the run that wrote {out_dir} (pid {run.pid}) is no longer alive: its running "
            f"trials are shown interrupted; `kubetune run --local MANIFEST --out {out_dir}` "
            "resumes it.\n"
        )
        assert shown() == ([("Succeeded", None), ("Pending", "Interrupted")], line)
        code, described, err = kubetune("describe", str(out_dir))
        assert (code, err) == (0, line)
        assert "Phase:      InProgress (Interrupted)" in described, described
        assert "Next:       Nothing runs: the local run was interrupted" in described, described
        assert files_of(out_dir) == before  # a reader writes nothing

        # The recorded pid reused by another process (this one): not the run.
        record_run(out_dir, os.getpid(), "1")
        assert shown()[0][1] == ("Pending", "Interrupted")
        record_run(out_dir, os.getpid(), local_kube.process_start(os.getpid()))
        assert shown() == ([("Succeeded", None), ("Running", None)], "")  # the run itself

        go.touch()
        code, _, err = kubetune(*argv)
        assert code == 0, err
        assert "resumed; started again: local-002\n" in err
        assert [t["phase"] for t in status(out_dir)["trials"]] == ["Succeeded", "Succeeded"]
    finally:
        kill_all(pids)


def test_the_notebook_api_shows_a_killed_runs_trials_as_the_cli_does(tmp_path: Path) -> None:
    """`TuningJobAnalytics(directory=DIR)` reads a SIGKILLed run's directory as `kubetune
    trials` does: its running trials interrupted (the same documents), said once in a
    warning with the CLI's line, nothing written; while the run lives, as it runs."""
    path, pids, _ = job(tmp_path)
    out_dir = tmp_path / "run"

    def read(tuning: TuningJobAnalytics) -> tuple[dict[str, Any], list[str]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # every warning given, not once per place
            tuning.refresh()
        said = [f"{w.category.__name__}: {w.message}" for w in caught]
        return {d["trial"]: d for d in tuning.documents()}, said

    def cli_documents() -> tuple[dict[str, Any], str]:
        code, listed, err = kubetune("trials", str(out_dir), "-o", "json")
        assert code == 0, err
        return {d["trial"]: d for d in json.loads(listed)}, err

    try:
        with runner(["run", "--local", str(path), "--out", str(out_dir)]) as run:
            first_ended(out_dir)
            started(pids, 2)
            alive_documents, said = read(TuningJobAnalytics(directory=out_dir))
            assert said == []
            assert [d["phase"] for d in alive_documents.values()] == ["Succeeded", "Running"]
            run.kill()
            run.wait()
        before = files_of(out_dir)
        tuning = TuningJobAnalytics(directory=out_dir)
        documents, said = read(tuning)
        shown, line = cli_documents()
        assert [(d["phase"], d.get("reason")) for d in documents.values()] == [
            ("Succeeded", None),
            ("Pending", "Interrupted"),
        ]
        assert documents == shown  # one story: same phases, messages, end times, durations
        assert said == [f"GoneRunWarning: {line.removesuffix(chr(10)).removesuffix('.')}"]
        assert read(tuning)[1] == []  # said once
        assert tuning.view.status.reason == "Interrupted"
        assert files_of(out_dir) == before  # a reader writes nothing
    finally:
        kill_all(pids)


def test_a_resume_without_image_runs_the_command_the_run_was_started_with(
    tmp_path: Path,
) -> None:
    """--image is saved in DIR (images.yaml): the same command without it resumes the run
    with the trainer its trials ran with (it failed: the container has no command)."""
    path, pids, go = job(tmp_path)
    body = yaml.safe_load(path.read_text())
    container = body["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    command = " ".join(container.pop("command"))
    write_manifest(path, body)
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    try:
        with runner([*argv, "--image", f"fake:1={command}"]) as run:
            first_ended(out_dir)
            started(pids, 2)
            run.send_signal(signal.SIGINT)
            assert run.wait(60) == 130
        go.touch()
        code, _, err = kubetune(*argv)
        assert code == 0, err
        assert yaml.safe_load((out_dir / "images.yaml").read_text()) == {"fake:1": command}
        assert "resumed; started again: local-002\n" in err and "replaces" not in err, err
        assert [t["phase"] for t in status(out_dir)["trials"]] == ["Succeeded", "Succeeded"]
        assert len(pids_of(pids, "local-002.*")) == 2  # the same trainer, started again
    finally:
        kill_all(pids)


def test_a_failed_trials_message_quotes_the_last_line_its_trainer_printed(
    tmp_path: Path,
) -> None:
    """QA76 M7: a trainer's own explanation (a dataset not mounted) was only in its log;
    the trial and the job said `exited with code 2` alone. As the kubelet's
    FallbackToLogsOnError, the trial's message quotes its last line."""
    path = manifest(tmp_path, staticHyperparameters={"mode": "fail"}, limits={"maxTrials": 1})
    out_dir = tmp_path / "run"
    code, out, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
    assert code == 1, err
    (trial,) = status(out_dir)["trials"]
    assert trial["message"].endswith("exited with code 3: training diverged"), trial
    assert "exited with code 3: training diverged" in out + err

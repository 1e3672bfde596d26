"""How `kubetune` ends when it cannot finish: an output it cannot write (`plot -o` where
it may not write, a full stdout: one line and exit 1, no traceback, QA76 H1), a reader
that stops reading (`| head`: exit 0), an interrupt while it starts (its imports take a
second or more: 130, and `run --local`'s one line, QA76 M2); and durations under a
second (QA76 L9). The processes are the installed console script, started as a user
starts it."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubetune.cli import output
from kubetune.cli.main import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, run
from support.cli_data import write_directory
from synthetic_tuning_job import synthetic_tuning_job

from tests.local.test_run_local_ending import runner

KUBETUNE = Path(sys.executable).with_name("kubetune")
PROC = Path("/proc/self/maps").exists()


def kubetune(*argv: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBETUNE), *argv],
        capture_output="stdout" not in popen,
        text=True,
        timeout=120,
        check=False,
        **popen,
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_directory(synthetic_tuning_job("demo", 30), tmp_path / "demo")


# --- an output that cannot be written ------------------------------------------------


@pytest.mark.slow
def test_plot_where_it_cannot_write_says_what_and_what_to_do(run_dir: Path, tmp_path: Path) -> None:
    """Each was a traceback (FileNotFoundError, FileExistsError from the directory it
    creates), exit 1."""
    (tmp_path / "a-file").write_text("")
    cases = {
        "/proc/x.png": "error: cannot write /proc/x.png: No such file or directory; give another "
        "-o (a file in a directory you may write)\n",
        f"{tmp_path}/a-file/x.png": f"error: cannot create the directory {tmp_path}/a-file: a "
        "file is there; give another -o (a file in a directory you may write)\n",
    }
    for target, said in cases.items():
        done = kubetune("plot", str(run_dir), "-o", target)
        assert (done.returncode, done.stderr, done.stdout) == (EXIT_ERROR, said, ""), target


def test_plot_where_it_may_not_write_names_the_path_and_the_reason(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PermissionError (an unwritable directory: root may write anywhere, so it is
    raised here where matplotlib opens the file), and a full disk, which names no path."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure  # noqa: PLC0415 (optional)

    target = tmp_path / "ro" / "x.png"
    for error, said in [
        (
            PermissionError(errno.EACCES, "Permission denied", str(target)),
            f"error: cannot write {target}: Permission denied; give another -o",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device"),
            "error: cannot write the image: No space left on device; give another -o",
        ),
    ]:

        def refuse(*_: Any, error: OSError = error, **__: Any) -> None:
            raise error

        monkeypatch.setattr(Figure, "savefig", refuse)
        out, err = io.StringIO(), io.StringIO()
        assert run(["plot", str(run_dir), "-o", str(target)], out, err) == EXIT_ERROR
        assert err.getvalue().startswith(said), err.getvalue()
        assert err.getvalue().count("\n") == 1 and out.getvalue() == ""


@pytest.mark.parametrize("device", [os.devnull, "/dev/full"])
def test_plot_to_a_device_is_a_usage_error_not_a_png_beside_it(
    run_dir: Path, capsys: pytest.CaptureFixture[str], device: str
) -> None:
    """-o /dev/full wrote /dev/full.png: a name without suffix gets .png added."""
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    beside = Path(f"{device}.png")
    assert not beside.exists()
    try:
        code = run(["plot", str(run_dir), "-o", device], io.StringIO(), io.StringIO())
        assert not beside.exists()
    finally:
        beside.unlink(missing_ok=True)  # what the old code wrote (as root) is not left
    assert code == EXIT_USAGE
    assert f"{device} is not a regular file or a directory" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize(
    "argv", [["trials", "-o", "csv"], ["trials"], ["best", "-o", "json"], ["describe"]]
)
def test_a_full_stdout_is_one_line_and_exit_1(run_dir: Path, argv: list[str]) -> None:
    """Was a traceback ending `OSError: [Errno 28] No space left on device`; the line is
    all, with no "Exception ignored" as the interpreter flushes stdout at exit."""
    with open("/dev/full", "w") as full:
        done = kubetune(argv[0], str(run_dir), *argv[1:], stdout=full, stderr=subprocess.PIPE)
    assert (done.returncode, done.stderr) == (
        EXIT_ERROR,
        "error: cannot write the output: No space left on device; send it where it can be "
        "written (another file, a disk with room, an open pipe)\n",
    )


@pytest.mark.slow
def test_a_reader_that_stops_reading_ends_it_quietly_with_0(tmp_path: Path) -> None:
    """`kubetune trials NAME | head -1` (the table is far more than a pipe holds)."""
    run_dir = write_directory(synthetic_tuning_job("big", 1000), tmp_path / "big")
    reader = subprocess.Popen(
        [str(KUBETUNE), "trials", str(run_dir), "-o", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().startswith(b"trial,phase,")
    reader.stdout.close()
    err = reader.stderr.read().decode()
    assert (reader.wait(timeout=120), err) == (EXIT_OK, "")


# --- interrupted while it starts -------------------------------------------------------


def started(argv: list[str]) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """`kubetune ARGV` as the console script (whose import of cli.main comes before any
    handling), Ctrl-C reaching it as from a terminal; killed on leaving."""
    return runner(argv, command=[str(KUBETUNE)])


def extensions_loaded(pid: int) -> int:
    """How many of site-packages' extension modules (numpy's, pydantic's, yaml's, ...)
    the process has loaded: each a step of its start-up. The CLI's own module imports
    only the standard library, so from the first of them on the process is in `main`."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/maps") as maps:
        return len({line.split()[-1] for line in maps if "site-packages" in line and ".so" in line})
    return 0


def wait_until(process: subprocess.Popen[bytes], condition: Callable[[], bool]) -> None:
    """Polls `condition` (of the other process) until it holds; fails if it ends first."""
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the condition never came"
        time.sleep(0.002)


@contextlib.contextmanager
def stalled_cluster(tmp_path: Path) -> Iterator[tuple[Path, socket.socket]]:
    """A kubeconfig whose API server accepts and never answers: `kubetune trials` waits
    in its first request (the moment it has connected: start-up is over)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
            "users: [{name: u, user: {token: t}}]\n"
            "contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]\n"
        )
        server.setblocking(False)
        yield kubeconfig, server


def ended(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    err = process.communicate(timeout=60)[1].decode()
    return process.returncode, err


def connected(server: socket.socket, held: list[socket.socket]) -> bool:
    """The command has connected to the API server (the connection is `held` open: a
    closed one would end it with an error)."""
    try:
        held.append(server.accept()[0])
    except BlockingIOError:
        return False
    return True


def reading(fifo: Path, held: list[int]) -> bool:
    """The run has opened the manifest, a FIFO that blocks it (its start-up is over). A
    FIFO opens for writing without blocking only once its reader has; the writer is
    `held` open (closed, the run would read an empty manifest)."""
    try:
        held.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as error:
        assert error.errno == errno.ENXIO, error
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not PROC, reason="reads /proc/PID/maps")
@pytest.mark.parametrize(
    ("command", "signum", "said"),
    [
        ("trials", signal.SIGINT, ""),
        ("run", signal.SIGINT, "interrupted before any trial started: nothing ran\n"),
        ("run", signal.SIGTERM, "interrupted (SIGTERM) before any trial started: nothing ran\n"),
    ],
)
def test_an_interrupt_while_it_starts_ends_it_as_later_on(
    tmp_path: Path, command: str, signum: signal.Signals, said: str
) -> None:
    """The signal lands at several steps of the start-up (as the first extension module
    is loaded, at a quarter, half and three quarters of them) and once it is over: each
    time 130 and what the command says of an interrupt later on (`run --local`: its one
    line; the readers: nothing). It was a 40-line KeyboardInterrupt traceback while the
    commands were imported (a SIGTERM: exit 143, nothing said)."""
    fifo = tmp_path / "job.yaml"
    os.mkfifo(fifo)
    with stalled_cluster(tmp_path) as (kubeconfig, server):
        argv = (
            ["trials", "demo", "--kubeconfig", str(kubeconfig)]
            if command == "trials"
            else ["run", "--local", str(fifo), "--out", str(tmp_path / "run")]
        )

        connections: list[socket.socket] = []
        writers: list[int] = []

        def over(process: subprocess.Popen[bytes]) -> bool:
            return connected(server, connections) if command == "trials" else reading(fifo, writers)

        outcomes = []
        with started(argv) as process:  # once start-up is over; it counts the steps
            wait_until(process, lambda: over(process))
            steps = extensions_loaded(process.pid)
            process.send_signal(signum)
            outcomes.append(("over", *ended(process)))
        for connection in connections:
            connection.close()
        for writer in writers:
            os.close(writer)
        assert steps >= 8, steps
        for step in (1, steps // 4, steps // 2, 3 * steps // 4):
            with started(argv) as process:
                wait_until(process, lambda: extensions_loaded(process.pid) >= step)  # noqa: B023
                process.send_signal(signum)
                outcomes.append((step, *ended(process)))
    assert [o for o in outcomes if o[1:] != (EXIT_INTERRUPTED, said)] == [], steps
    assert not (tmp_path / "run").exists()


# --- durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "<1s"), (0.4, "<1s"), (0.999, "<1s"), (1, "1s"), (59.9, "59s"), (60, "1m00s")],
)
def test_a_duration_under_a_second_is_not_0s(seconds: float, text: str) -> None:
    """Times are recorded to the second: a trial that ended within the second it started
    in took some time, not none (it showed `0s`)."""
    assert output.duration(seconds) == text


def test_the_trials_table_shows_a_trial_of_under_a_second_so(tmp_path: Path) -> None:
    body = synthetic_tuning_job("fast", 3)
    trial = body["status"]["trials"][0]
    trial["endTime"] = trial["startTime"]
    out, err = io.StringIO(), io.StringIO()
    assert run(["trials", str(write_directory(body, tmp_path / "fast"))], out, err) == EXIT_OK
    row = out.getvalue().splitlines()[1].split()
    assert row[0] == "fast-001" and "<1s" in row and "0s" not in row, row

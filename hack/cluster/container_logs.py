"""Container log files: written by a relay thread, read (and followed) by the kubelet API.

Each line of a log file is ``<RFC3339 timestamp, nanoseconds, UTC> <text>``, so the API
can serve ``timestamps``, ``sinceTime`` and ``sinceSeconds`` as the kubelet does. A
container's stdout and stderr are one pipe, relayed line by line as they arrive.
"""

from __future__ import annotations

import datetime
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# A line longer than this is cut into several log lines (as the kubelet does at 16 KiB).
MAX_LINE_BYTES = 16 * 1024
# How much of a failed container's log the kubelet makes its termination message under
# terminationMessagePolicy FallbackToLogsOnError (kubecontainer's
# MaxContainerTerminationMessageLogLines and MaxContainerTerminationMessageLogLength).
TERMINATION_MESSAGE_LOG_LINES = 80
TERMINATION_MESSAGE_LOG_BYTES = 2048


def timestamp(moment: datetime.datetime | None = None) -> str:
    """RFC 3339 UTC with nanosecond digits: fixed width, so strings sort as times do."""
    moment = moment or datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


class ContainerLog:
    """The log of one run of one container; ``finished`` once its pipe reached EOF."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.finished = False
        self.changed = threading.Condition()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def relay(self, pipe_fd: int) -> None:
        """Copies the pipe to the file, one timestamped line at a time, until EOF; closes
        the pipe. Runs in its own thread."""
        pending = b""
        try:
            with self.path.open("ab", buffering=0) as out:

                def emit(line: bytes) -> None:
                    out.write(timestamp().encode() + b" " + line + b"\n")

                while True:
                    chunk = os.read(pipe_fd, 65536)
                    if not chunk:
                        break
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    while len(pending) > MAX_LINE_BYTES:
                        lines.append(pending[:MAX_LINE_BYTES])
                        pending = pending[MAX_LINE_BYTES:]
                    for line in lines:
                        emit(line)
                    if lines:
                        with self.changed:
                            self.changed.notify_all()
                if pending:
                    emit(pending)
        finally:
            os.close(pipe_fd)
            with self.changed:
                self.finished = True
                self.changed.notify_all()

    def wait_for_change(self, timeout: float) -> None:
        """Blocks until a line is written, the log finishes, or ``timeout`` passes."""
        with self.changed:
            if not self.finished:
                self.changed.wait(timeout)


@dataclass(frozen=True)
class LogQuery:
    """The kubelet's containerLogs options (k8s.io/api/core/v1 PodLogOptions)."""

    follow: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    timestamps: bool = False
    since_time: str | None = None  # in :func:`timestamp`'s format


def _format(line: bytes, query: LogQuery) -> bytes:
    stamp, _, text = line.partition(b" ")
    return (stamp + b" " + text if query.timestamps else text) + b"\n"


def _selected(lines: list[bytes], query: LogQuery) -> list[bytes]:
    if query.since_time is not None:
        since = query.since_time.encode()
        lines = [line for line in lines if line.partition(b" ")[0] >= since]
    if query.tail_lines is not None:
        lines = lines[-query.tail_lines :] if query.tail_lines > 0 else []
    return lines


def stream(
    path: Path,
    live: ContainerLog | None,
    query: LogQuery,
    write: Callable[[bytes], object],
    flush: Callable[[], object] = lambda: None,
) -> None:
    """Writes the log at ``path`` through ``write`` as the query asks. With ``follow`` and
    a ``live`` log that has not finished, keeps writing new lines until it finishes,
    calling ``flush`` whenever it has written what there is so far."""
    budget = query.limit_bytes

    def send(chunk: bytes) -> bool:
        """Writes within the byte limit; False once the limit is reached."""
        nonlocal budget
        if budget is not None:
            chunk = chunk[:budget]
            budget -= len(chunk)
        if chunk:
            write(chunk)
        return budget is None or budget > 0

    with path.open("rb") as log:
        data = log.read()
        complete, _, partial = data.rpartition(b"\n")
        lines = complete.split(b"\n") if complete or data.endswith(b"\n") else []
        for line in _selected(lines, query):
            if not send(_format(line, query)):
                return
        if not query.follow or live is None:
            return
        flush()
        since_filter = LogQuery(since_time=query.since_time, timestamps=query.timestamps)
        for lines in _follow(log, partial, live):
            for line in _selected(lines, since_filter):
                if not send(_format(line, query)):
                    return
            flush()


def termination_message(path: Path) -> str:
    """A failed container's termination message read from its log, as the kubelet's
    readLastStringFromContainerLogs reads it: the last 80 lines, each ending in a newline,
    of which a 2048-byte circular buffer keeps the last 2048 bytes."""
    out = bytearray()
    try:
        stream(path, None, LogQuery(tail_lines=TERMINATION_MESSAGE_LOG_LINES), out.extend)
    except OSError as e:
        return f"Error on reading termination message from logs: {e}"
    return out[-TERMINATION_MESSAGE_LOG_BYTES:].decode(errors="replace")


def _follow(log: BinaryIO, partial: bytes, live: ContainerLog) -> Iterator[list[bytes]]:
    """Yields batches of complete lines appended to the open file until the log finishes."""
    while True:
        finished = live.finished  # read before the data, so no last line is missed
        data = partial + log.read()
        complete, _, partial = data.rpartition(b"\n")
        if complete or data.endswith(b"\n"):
            yield complete.split(b"\n")
        if finished:
            return
        live.wait_for_change(timeout=1.0)

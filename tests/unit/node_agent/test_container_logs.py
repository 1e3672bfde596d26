"""Container log files: relayed from a real pipe, served with the kubelet's options."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from cluster.container_logs import ContainerLog, LogQuery, stream, termination_message
from cluster.kubelet_api import parse_query


def relayed(tmp_path: Path, text: bytes) -> ContainerLog:
    """A finished log holding ``text`` as written to a container's pipe."""
    log = ContainerLog(tmp_path / "c" / "0.log")
    read_fd, write_fd = os.pipe()
    os.write(write_fd, text)
    os.close(write_fd)
    log.relay(read_fd)
    return log


def served(log: ContainerLog, query: LogQuery) -> bytes:
    out: list[bytes] = []
    stream(log.path, None if log.finished else log, query, out.append)
    return b"".join(out)


def test_lines_tail_limit_and_timestamps(tmp_path: Path) -> None:
    log = relayed(tmp_path, b"a\nb\n\nc\nno newline at the end")
    assert log.finished
    assert served(log, LogQuery()) == b"a\nb\n\nc\nno newline at the end\n"
    assert served(log, LogQuery(tail_lines=2)) == b"c\nno newline at the end\n"
    assert served(log, LogQuery(tail_lines=0)) == b""
    assert served(log, LogQuery(limit_bytes=3)) == b"a\nb"
    stamped = served(log, LogQuery(timestamps=True, tail_lines=1)).decode()
    stamp, text = stamped.split(" ", 1)
    assert text == "no newline at the end\n"
    assert stamp.endswith("Z") and len(stamp) == len("2024-01-01T00:00:00.000000000Z")


def test_since_time_filters_older_lines(tmp_path: Path) -> None:
    log = relayed(tmp_path, b"old\n")
    assert served(log, LogQuery(since_time="9999-01-01T00:00:00.000000000Z")) == b""
    assert served(log, LogQuery(since_time="2000-01-01T00:00:00.000000000Z")) == b"old\n"


def test_follow_streams_until_the_pipe_closes(tmp_path: Path) -> None:
    log = ContainerLog(tmp_path / "c" / "0.log")
    read_fd, write_fd = os.pipe()
    relay = threading.Thread(target=log.relay, args=(read_fd,))
    relay.start()
    received: list[bytes] = []
    first_line = threading.Event()

    def collect(chunk: bytes) -> None:
        received.append(chunk)
        first_line.set()

    follower = threading.Thread(target=stream, args=(log.path, log, LogQuery(follow=True), collect))
    follower.start()
    os.write(write_fd, b"one\n")
    assert first_line.wait(10), "the first line was not streamed while the pipe is open"
    assert follower.is_alive()  # still following: the container has not ended
    os.write(write_fd, b"two\n")
    os.close(write_fd)
    relay.join(10)
    follower.join(10)
    assert not follower.is_alive()
    assert b"".join(received) == b"one\ntwo\n"


def test_termination_message_is_the_last_80_lines_within_2048_bytes(tmp_path: Path) -> None:
    # As the kubelet's FallbackToLogsOnError: the last 80 lines, then their last 2048 bytes.
    short = [f"line {i:03}" for i in range(100)]
    log = relayed(tmp_path / "short", "\n".join(short).encode())
    assert termination_message(log.path) == "".join(f"{line}\n" for line in short[20:])
    long = [f"{i:03} " + "x" * 96 for i in range(30)]  # 101 bytes a line, newline included
    log = relayed(tmp_path / "long", "\n".join(long).encode())
    assert termination_message(log.path) == "".join(f"{line}\n" for line in long)[-2048:]
    assert termination_message(relayed(tmp_path / "empty", b"").path) == ""
    assert termination_message(tmp_path / "gone.log").startswith(
        "Error on reading termination message from logs: "
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [("tailLines=x", "tailLines='x' is not an integer"), ("limitBytes=-1", "limitBytes=-1")],
)
def test_bad_query_parameters_are_named(query: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_query(query)


def test_query_parameters_are_parsed() -> None:
    query = parse_query("follow=true&tailLines=5&limitBytes=10&timestamps=true")
    assert query == LogQuery(follow=True, tail_lines=5, limit_bytes=10, timestamps=True)

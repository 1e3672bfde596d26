"""Process identity helpers: a pid plus its start time names one process, even after the
kernel reuses the pid, so ``down`` never signals a stranger."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), or
    None if no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after its ')' are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def signal_group_if_same(pgid: int, start_time: int, sig: signal.Signals) -> None:
    """Sends ``sig`` to process group ``pgid`` if its leader is still the process that
    started at ``start_time``, or if the leader is gone (a pid is never reused while its
    group has members, so any member left is ours). Missing groups are ignored."""
    current = process_start_time(pgid)
    if current is not None and current != start_time:
        return  # the pid now belongs to another process
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """True while any process of group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

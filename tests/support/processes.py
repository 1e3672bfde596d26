"""Processes as the tests of the node agent and the cluster see them."""

from __future__ import annotations

from pathlib import Path


def process_alive(pid: int) -> bool:
    """True while a process with this pid exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"

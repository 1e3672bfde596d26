"""Which commands use a cluster that hack/with-cluster.sh started, so that the last of
them to end stops it, and none stops it under another.

`make demo` and `make reproduce` run their command through hack/with-cluster.sh, which
starts a cluster when none answers and stops it afterwards. Two of them at once used to
ask `cluster status` first and `cluster up` next: both could find none running, both take
the `up` that started it for their own, and the first to end stopped the cluster under
the other. Now `up --session PID` decides and records in one step, under the state
directory's lock: a cluster it starts is a session cluster (``sessions.json`` in the
state directory lists the commands using it, each a pid and its start time); one that
already runs gets the command added if it is a session cluster, and is left alone if it
is not (`make cluster-up`'s, which its user stops). `release --session PID` takes the
command off the list and stops the cluster when no command left on it is alive. A plain
`up` (`make cluster-up`, KEEP_CLUSTER=1) makes a running session cluster the user's: it
then stays up.

The functions here decide over the recorded state only (``join``, ``leave``); reading
and writing the file is ``read`` and ``write``, called under the lock by cluster.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SESSIONS_FILE = "sessions.json"
STOPS_LINE = "this cluster stops when the last command using it ends (KEEP_CLUSTER=1 keeps it)"
"""What `up --session` prints of a session cluster (hack/with-cluster.sh reads it)."""


@dataclass(frozen=True)
class Session:
    """A command using a session cluster: its pid and that process's start time."""

    pid: int
    start_time: int


Sessions = tuple[Session, ...] | None
"""The commands using a session cluster; None when the cluster is no session cluster
(none runs, or it is the user's)."""


def join(sessions: Sessions, started: bool, me: Session) -> Sessions:
    """After `up --session`: a cluster it `started` is a session cluster used by `me`; one
    that was running gets `me` added if it is one, and stays the user's if not."""
    if started:
        return (me,)
    if sessions is None:
        return None
    return (*[s for s in sessions if s != me], me)


def leave(
    sessions: Sessions, me: Session, alive: Callable[[Session], bool]
) -> tuple[Sessions, bool]:
    """After `me`'s command ended: the sessions left, and whether to stop the cluster now
    (a session cluster that no live command uses any more). A command that died without
    `release` (SIGKILLed) is dropped once it is not `alive`."""
    if sessions is None:
        return None, False
    left = tuple(s for s in sessions if s != me and alive(s))
    return (left, False) if left else (None, True)


def read(directory: Path) -> Sessions:
    path = directory / SESSIONS_FILE
    if not path.exists():
        return None
    return tuple(Session(**entry) for entry in json.loads(path.read_text()))


def write(directory: Path, sessions: Sessions) -> None:
    path = directory / SESSIONS_FILE
    if sessions is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([s.__dict__ for s in sessions], indent=2))
    tmp.replace(path)

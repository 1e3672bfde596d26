"""What one TuningJob's daemon wrote, read or created and the watches have not shown yet."""

from __future__ import annotations

import time
from typing import Any

MAX_UNSEEN_WRITES = 50
"""Status writes whose watch events have not arrived, after which the versions the watch
may still show are forgotten: each one it shows then costs a live read."""
CREATE_EXPECTATION_S = 30.0
"""How long a Job we created but have not seen yet counts as existing (then it is
created again, which is an AlreadyExists no-op if it does exist)."""


class Expectations:
    """One TuningJob's own writes and live reads that the watches have not shown yet
    (client-go's "expectations"), so that a reconcile from the cache neither plans from a
    TuningJob older than one this daemon has written or read live nor creates again a
    Job it created a moment ago. A plan that changes nothing in the status writes
    nothing, so no resourceVersion precondition guards the Jobs it creates or deletes:
    only this keeps it from acting on a status that has moved on.

    resourceVersions are opaque (never compared for order), so this keeps the newest
    TuningJob this daemon knows (its last status write, or its last live read: a GET is
    a consistent read, as new as anything seen before it) and the versions known to be
    older: the watch's version when each write was planned or each live read made, and
    earlier writes and reads. The watched TuningJob is planned from only when it is that
    newest one; one known to be older is replaced by the newest; any other version
    (someone else's change, a watch that skipped ahead or went back) means "not sure":
    read live, as after a conflict. Used by one daemon, one reconcile at a time."""

    def __init__(self) -> None:
        self.newest: dict[str, Any] | None = None
        self.older: set[str] = set()
        self.live = True  # the first reconcile, and the one after a conflict, read live
        self.planned_from: str | None = None
        self.jobs: dict[str, float] = {}  # created Job → when (monotonic)

    def start(self, watched: dict[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
        """A reconcile starts from these snapshots: the TuningJob to plan from (None: read
        it from the API server, then tell `read`)."""
        seen = {job["metadata"]["name"] for job in jobs}
        expired = time.monotonic() - CREATE_EXPECTATION_S
        self.jobs = {n: t for n, t in self.jobs.items() if n not in seen and t > expired}
        version = watched["metadata"].get("resourceVersion")
        self.planned_from = version
        if self.live or self.newest is None:
            return None
        if version == self.newest["metadata"].get("resourceVersion"):
            self.newest, self.older = watched, set()  # the watch has caught up
            return watched
        if version in self.older:
            return self.newest
        self.conflicted()
        return None

    def read(self, body: dict[str, Any]) -> None:
        """The reconcile read the TuningJob live and got `body`: the newest there is."""
        self._replace_newest({**body, "metadata": dict(body["metadata"])})

    def wrote(self, written: dict[str, Any]) -> None:
        """A status write succeeded and returned `written`."""
        self._replace_newest(written)
        if len(self.older) > MAX_UNSEEN_WRITES:  # the watch is not delivering
            self.older = set()

    def _replace_newest(self, newest: dict[str, Any]) -> None:
        if self.planned_from is not None:
            self.older.add(self.planned_from)
        if self.newest is not None:
            self.older.add(str(self.newest["metadata"].get("resourceVersion")))
        self.older.discard(newest["metadata"].get("resourceVersion"))
        self.newest = newest

    def create(self, job: str) -> None:
        self.jobs[job] = time.monotonic()

    def created(self, job: str) -> bool:
        return job in self.jobs

    def reconciled(self) -> None:
        self.live = False

    def conflicted(self) -> None:
        """The TuningJob changed under a write, a reconcile failed midway, or a resync
        reads everything again: read live (`read` then knows the newest again)."""
        self.newest, self.older, self.live = None, set(), True

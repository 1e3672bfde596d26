"""What one TuningJob's daemon wrote or created and the watches have not shown yet."""

from __future__ import annotations

import time
from typing import Any

MAX_UNSEEN_WRITES = 50
"""Status writes whose watch events have not arrived, after which reads go live."""
CREATE_EXPECTATION_S = 30.0
"""How long a Job we created but have not seen yet counts as existing (then it is
created again, which is an AlreadyExists no-op if it does exist)."""


class Expectations:
    """One TuningJob's own writes that the watches have not shown yet (client-go's
    "expectations"), so that a reconcile from the cache neither plans from a status older
    than its last write nor creates again a Job it created a moment ago.

    resourceVersions are opaque (never compared for order), so this keeps the versions
    known to be older than our last status write: the watch's version when each write was
    planned, and our earlier writes. Seeing our last write's version means the watch has
    caught up; any other version (someone else's change, a watch that skipped ahead)
    means "not sure": read live, as after a conflict. Used by one daemon, one reconcile
    at a time."""

    def __init__(self) -> None:
        self.written: dict[str, Any] | None = None
        self.older: set[str] = set()
        self.live = True  # the first reconcile, and the one after a conflict, read live
        self.planned_from: str | None = None
        self.jobs: dict[str, float] = {}  # created Job → when (monotonic)

    def start(self, watched: dict[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
        """A reconcile starts from these snapshots: the TuningJob to plan from (None: read
        it from the API server)."""
        seen = {job["metadata"]["name"] for job in jobs}
        expired = time.monotonic() - CREATE_EXPECTATION_S
        self.jobs = {n: t for n, t in self.jobs.items() if n not in seen and t > expired}
        version = watched["metadata"].get("resourceVersion")
        self.planned_from = version
        if self.live:
            return None
        if self.written is None:
            return watched
        if version == self.written["metadata"].get("resourceVersion"):
            self.written, self.older = None, set()
            return watched
        if version in self.older:
            return self.written
        self.conflicted()
        return None

    def wrote(self, written: dict[str, Any]) -> None:
        """A status write succeeded and returned `written`."""
        self.older.add(str(self.planned_from))
        if self.written is not None:
            self.older.add(self.written["metadata"].get("resourceVersion"))
        self.written = written
        if len(self.older) > MAX_UNSEEN_WRITES:  # the watch is not delivering: read live
            self.conflicted()

    def create(self, job: str) -> None:
        self.jobs[job] = time.monotonic()

    def created(self, job: str) -> bool:
        return job in self.jobs

    def reconciled(self) -> None:
        self.live = False

    def conflicted(self) -> None:
        """The TuningJob changed under a write, or a reconcile failed midway: read live."""
        self.written, self.older, self.live = None, set(), True

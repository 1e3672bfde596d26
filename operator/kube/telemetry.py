"""What the adapter reports about its work (API call times, cache hits, suggestion times,
each TuningJob's counters), as a protocol: the runtime implements it with Prometheus
metrics (`kubetune.operator.runtime.telemetry`); tests and local runs use `NO_TELEMETRY`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from kubetune.operator.api import TuningJobStatus


class Telemetry(Protocol):
    def api_call(self, call: str) -> AbstractContextManager[None]:
        """Times one API call (log reads include their scan)."""
        ...

    def cache_hit(self, call: str) -> None:
        """A call answered from the watches' cache."""
        ...

    def suggestion(self, strategy: str, seconds: float) -> None:
        """One call to the optimizer took `seconds`."""
        ...

    def tuning_job(self, namespace: str, name: str, status: TuningJobStatus) -> None:
        """A TuningJob's status as last written."""
        ...

    def forget(self, namespace: str, name: str) -> None:
        """A TuningJob is gone."""
        ...


class NoTelemetry:
    """Reports nothing."""

    @contextlib.contextmanager
    def api_call(self, call: str) -> Iterator[None]:
        yield

    def cache_hit(self, call: str) -> None:
        pass

    def suggestion(self, strategy: str, seconds: float) -> None:
        pass

    def tuning_job(self, namespace: str, name: str, status: TuningJobStatus) -> None:
        pass

    def forget(self, namespace: str, name: str) -> None:
        pass


NO_TELEMETRY: Telemetry = NoTelemetry()

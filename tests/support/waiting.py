"""Wait for a condition with a deadline: the one way tests synchronise with the cluster.

    from support.waiting import wait_for
    pod = wait_for(lambda: phase_if_done(api, name), timeout=30, what="pod to finish")

``wait_for`` calls ``check`` until it returns something truthy and returns that value;
after ``timeout`` seconds it fails with ``what`` and the last value seen (or the last
exception ``check`` raised), so a failure says what was awaited and what was there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Between checks; short, since the local cluster reacts within tens of milliseconds.
POLL_INTERVAL_S = 0.1


class WaitTimeoutError(AssertionError):
    """The condition did not hold within the deadline (an AssertionError: a test failure)."""


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = POLL_INTERVAL_S,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Returns the first truthy result of ``check()``; raises WaitTimeoutError after
    ``timeout`` seconds. Exceptions listed in ``ignore`` count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except ignore as e:
            last = e
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise WaitTimeoutError(
                f"timed out after {timeout:g} s waiting for {what}; last: {last!r}"
            )
        time.sleep(interval)  # the poll interval of this deadline-bounded wait

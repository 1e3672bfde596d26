"""A daemon reads everything live at least once a resync period, even when events keep
waking it before its timeout (kopf's caches never drop what a watch gap hid)."""

from __future__ import annotations

from kubetune.operator.runtime.handlers import RESYNC_SECONDS, resync_due


def test_a_daemon_woken_every_few_seconds_still_reads_live_once_a_period() -> None:
    last = 1000.0
    woken = [last + 5.0 * i for i in range(1, 20)]  # a trial printing a value every 5 s
    due = [now for now in woken if resync_due(last, now)]
    assert due and due[0] == last + RESYNC_SECONDS  # the first wake-up a period on
    assert not resync_due(last, last + RESYNC_SECONDS - 0.5)

"""A filter for kopf's log."""

from __future__ import annotations

import logging


class QuietSuccesses(logging.Filter):
    """Drops kopf's "Handler 'pod_changed' succeeded." line, logged at INFO for every
    watch event of every trial Job, pod and TuningJob: noise in the operator's log, and
    CPU on its event loop. Drops "Daemon 'tuning-job' succeeded." too: the end of a
    TuningJob is logged with its phase and reason when it ends (`events.log_events`),
    and without this line an operator restarting among many finished TuningJobs logs
    nothing for each. And kopf's WARNING "Daemon 'tuning-job' is cancelled. Will
    escalate.": how a TuningJob's daemon ends by design when the TuningJob is deleted or
    the operator stops (a reconcile in flight runs on in its thread); the deletion is
    logged by itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        routine = message.endswith(("' succeeded.", "' is cancelled. Will escalate."))
        return not (message.startswith(("Handler '", "Daemon '")) and routine)

"""`plan()`: the whole reconcile decision, as a short sequence of named steps.

In: a `Snapshot` of the TuningJob (its spec, or the validation messages that make it
invalid; its recorded status; what the cluster shows about each trial Job, with the
metric outcome already read from the logs for finished ones) and the time. Out: a
`Plan`: the next status, the trial Jobs to create (recorded in that status first), the
Jobs to delete, and the Events to post.

Nothing here talks to Kubernetes or reads the clock, so every rule is a unit test away.
The adapter (`kubetune.operator.kube.reconcile`) writes `plan.status` first and acts only
once that write succeeded ("record before you act"): a crash in between leaves a recorded
Pending trial whose deterministic Job name makes the next reconcile create it exactly
once.
"""

from __future__ import annotations

from datetime import datetime

from kubetune.operator.api import (
    INVALID_SPEC,
    SUGGESTION_FAILED,
    TERMINAL_PHASES,
    TERMINAL_TRIAL_PHASES,
    ConditionStatus,
    ConditionType,
    Phase,
    TrialPhase,
    TuningJobStatus,
    count_trials,
    set_condition,
)
from kubetune.operator.controller.criteria import completion, end_now
from kubetune.operator.controller.early_stopping import (
    schedule_checks,
    stop_diverged,
    stop_early,
)
from kubetune.operator.controller.hyperband import (
    job_note,
    note_too_few_values,
    provisional_best,
    schedule_rung_checks,
    stop_at_rungs,
)
from kubetune.operator.controller.launch import finish_running, launch_trials, report_progress
from kubetune.operator.controller.observe_trials import (
    announce_completions,
    delete_leftover_jobs,
    observe_trials,
    still_there,
)
from kubetune.operator.controller.summary import conclude, summarise
from kubetune.operator.controller.types import (
    Decision,
    Event,
    Optimizer,
    OptimizerError,
    Plan,
    Snapshot,
)

DEFAULT_OPTIMIZER = Optimizer()


def plan(snapshot: Snapshot, now: datetime, optimizer: Optimizer = DEFAULT_OPTIMIZER) -> Plan:
    """Decide the next status and actions of one TuningJob (see the module docstring).
    `snapshot.status` is not modified; `plan.status` is a new object."""
    out = _keep_jobs_left_note(_plan(snapshot, now, optimizer))
    _judge_for_kstatus(out.status, now)
    return out


def _judge_for_kstatus(status: TuningJobStatus, now: datetime) -> None:
    """kstatus' Reconciling and Stalled conditions, from the phase this look decided (see
    ConditionType), and every condition stamped with the generation this look judged the
    job by: those it did not rewrite (Suspended once the job ended, the outcome of an
    ended job) still hold at it, and a stale one would read as not yet looked at."""
    reason = status.reason or status.phase.value
    message = status.message or ""
    # Held by spec.suspend, nothing happens until a person resumes it: "Current", as
    # waiting for it would only time out. A suspended job finishing its last trials
    # (reason the completion's) still ends by itself.
    held = status.phase not in TERMINAL_PHASES and reason == ConditionType.SUSPENDED.value
    going_on = status.phase not in TERMINAL_PHASES and not held
    set_condition(
        status,
        ConditionType.RECONCILING,
        ConditionStatus.TRUE if going_on else ConditionStatus.FALSE,
        reason,
        message,
        now=now,
    )
    if status.phase is Phase.FAILED:
        set_condition(status, ConditionType.STALLED, ConditionStatus.TRUE, reason, message, now=now)
    for condition in status.conditions:
        condition.observed_generation = status.observed_generation


def _plan(snapshot: Snapshot, now: datetime, optimizer: Optimizer) -> Plan:
    status = snapshot.status.model_copy(deep=True)
    status.observed_generation = snapshot.generation
    if status.start_time is None and not (snapshot.spec is not None and snapshot.spec.suspend):
        # A job created suspended has not started: its runtime budget waits for it.
        status.start_time = now
    if snapshot.spec is None or snapshot.invalid:
        return _invalid(Plan(status=status), snapshot, now)
    d = Decision(
        spec=snapshot.spec,
        snapshot=snapshot,
        now=now,
        plan=Plan(status=status),
        retried=status.counters.retried,
        terminal_before=status.phase in TERMINAL_PHASES,
    )
    observe_trials(d)
    stop_early(d)
    stop_at_rungs(d)
    note_too_few_values(d)
    stop_diverged(d)  # after the rules, which judge it on its values before it diverged
    announce_completions(d)  # after every rule that may still stop a trial that ended
    delete_leftover_jobs(d)
    summarise(d)
    if d.terminal_before:
        d.plan.events.extend(_spec_change_ignored(snapshot, d.status.phase))
        return d.plan
    schedule_checks(d)
    schedule_rung_checks(d)
    if not end_now(d):
        try:
            _go_on(d, optimizer)
        except OptimizerError as error:
            d.stop_all(SUGGESTION_FAILED)
            conclude(d, Phase.FAILED, SUGGESTION_FAILED, str(error)[:1000])
    # The message is set afresh on every look (progress, waiting, the end): the notes on
    # the best at a rung and on what the trials printed stay in it to the end.
    d.status.message = (d.status.message or "") + provisional_best(d) + job_note(d)
    return d.plan


SPEC_CHANGE_IGNORED = "SpecChangeIgnored"
"""The reason of the Event saying that a change to an ended job's spec does nothing."""


def _spec_change_ignored(snapshot: Snapshot, phase: Phase) -> list[Event]:
    """An ended job whose spec changed since the status was written: the change is
    observed (the status says this generation, as GitOps tools wait for) and said, once,
    to do nothing: an ended job stays ended."""
    observed = snapshot.status.observed_generation
    if observed is None or observed == snapshot.generation:
        return []
    message = (
        f"spec changed (generation {snapshot.generation}) after the job ended "
        f"({phase.value}): an ended TuningJob stays ended and its spec no longer applies; "
        f"to tune further, create a new TuningJob with spec.warmStart.parents: [{snapshot.name}]"
    )
    return [Event("Warning", SPEC_CHANGE_IGNORED, message)]


def _go_on(d: Decision, optimizer: Optimizer) -> None:
    """The job is not over: complete it, or wait for its running trials, or launch."""
    done = completion(d, optimizer)
    d.status.phase = Phase.IN_PROGRESS
    suspended = d.spec.suspend
    d.condition(
        ConditionType.SUSPENDED,
        ConditionStatus.TRUE if suspended else ConditionStatus.FALSE,
        "Suspended" if suspended else "NotSuspended",
        "spec.suspend is true: no new trial is launched" if suspended else "",
    )
    if done is not None:
        finish_running(d, done)
        return
    launch_trials(d, optimizer)
    if not d.plan.terminal:
        report_progress(d)


def _invalid(out: Plan, snapshot: Snapshot, now: datetime) -> Plan:
    """An invalid spec: Failed, with the field in the condition; never a crash loop."""
    status: TuningJobStatus = out.status
    message = "; ".join(snapshot.invalid) or "the spec could not be read"
    if status.phase is not Phase.FAILED:
        out.events.append(Event("Warning", INVALID_SPEC, message))
    else:
        out.events.extend(_spec_change_ignored(snapshot, status.phase))
    status.phase = Phase.FAILED
    status.reason = INVALID_SPEC
    status.message = message
    status.completion_time = status.completion_time or now
    for type_, value in (
        (ConditionType.INVALID, ConditionStatus.TRUE),
        (ConditionType.FAILED, ConditionStatus.TRUE),
        (ConditionType.RUNNING, ConditionStatus.FALSE),
    ):
        set_condition(status, type_, value, INVALID_SPEC, message, now=now)
    # The job is over: its unfinished trials end now (recorded ones whose Job the API
    # server refused included), so that none is left Pending or Running for ever.
    unfinished = [t for t in status.trials if t.phase not in TERMINAL_TRIAL_PHASES]
    for trial in unfinished:
        trial.phase = TrialPhase.STOPPED
        trial.reason = INVALID_SPEC
        trial.message = "the tuning job's spec is invalid"
        trial.end_time = now
    status.counters = count_trials(status.trials, status.counters.retried)
    # The printer column's "ended / maxTrials", now that every trial has ended (the limit
    # as last shown where the spec cannot be read).
    limit = (
        str(snapshot.spec.limits.max_trials)
        if snapshot.spec
        else (status.trials_done or "").partition("/")[2]
    )
    if limit:
        status.trials_done = f"{len(status.trials)}/{limit}"
    left = [j.job_name for j in snapshot.jobs.values() if still_there(j)]
    out.delete = list(dict.fromkeys([*left, *(t.job_name for t in unfinished)]))
    return out


JOBS_LEFT_REASON = "Forbidden"
"""The reason of the JobsLeft condition: the API server refused to delete trial Jobs."""


def jobs_left(
    status: TuningJobStatus, left: list[str], namespace: str, refusal: str, now: datetime
) -> TuningJobStatus:
    """`status` saying that the API server refused (HTTP 403, `refusal` its message) to
    delete the trial Jobs `left`, which may still run and hold their GPUs, though their
    trials (or the whole job) ended: a JobsLeft condition, and the job's message ends
    with the same note, for `kubectl get -o wide` and `kubetune watch`. The reconcile
    that met the refusal writes it; each plan keeps it while Jobs remain to delete and
    drops it once they are gone (`_keep_jobs_left_note`): it is in the status, so an
    operator that restarts keeps saying it, and an Event alone expires."""
    names = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
    jobs = f"{len(left)} trial Job{'s' if len(left) != 1 else ''}"
    if "cannot delete resource" in refusal:  # RBAC's words; an admission policy has its own
        why = (
            f"the operator may not delete jobs.batch in namespace {namespace} (Forbidden); "
            "grant it `delete` on jobs.batch there (charts/kubetune/templates/rbac.yaml)"
        )
    else:
        why = f"the API server refuses it (HTTP 403: {refusal})"
    note = f"{jobs} could not be deleted yet ({names}): {why}; the operator retries until "
    note += "they are gone"
    noted = status.model_copy(deep=True)
    message = _without_note(noted)
    set_condition(
        noted, ConditionType.JOBS_LEFT, ConditionStatus.TRUE, JOBS_LEFT_REASON, note, now=now
    )
    noted.message = f"{message}; {note}" if message else note
    _judge_for_kstatus(noted, now)  # their message is the job's, now with the note
    return noted


def jobs_left_noted(status: TuningJobStatus) -> bool:
    """Whether the status says that trial Jobs could not be deleted yet (`jobs_left`)."""
    return status.condition(ConditionType.JOBS_LEFT.value) is not None


def _without_note(status: TuningJobStatus) -> str | None:
    """The job's message without the note of `jobs_left`."""
    condition = status.condition(ConditionType.JOBS_LEFT.value)
    if condition is None or not status.message:
        return status.message
    if status.message == condition.message:
        return None
    return status.message.replace(f"; {condition.message}", "")


def _keep_jobs_left_note(out: Plan) -> Plan:
    """Keep the note of `jobs_left` while Jobs remain to delete (each failed deletion
    writes it anew, naming those left), at the end of a message set afresh on this look;
    drop it once none does."""
    condition = out.status.condition(ConditionType.JOBS_LEFT.value)
    if condition is None:
        return out
    message = _without_note(out.status)
    if out.delete:
        out.status.message = f"{message}; {condition.message}" if message else condition.message
    else:
        out.status.message = message
        out.status.conditions = [c for c in out.status.conditions if c is not condition]
    return out

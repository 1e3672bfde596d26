"""Step 1 of a plan: bring every unfinished trial up to date with what its Job shows,
and delete Jobs that still run though their trial is finished (or unknown)."""

from __future__ import annotations

from kubetune.operator.api import TERMINAL_TRIAL_PHASES, TrialPhase, TrialStatus
from kubetune.operator.controller.types import (
    LOG_FORBIDDEN,
    LOG_UNAVAILABLE,
    POD_NOT_CREATED,
    POD_REFUSED,
    RETRYING_AFTER,
    WAITING_MESSAGES,
    Decision,
    JobObservation,
    ObjectiveOutcome,
    TrialLaunch,
)

_NO_LOG = ObjectiveOutcome(None, 0, "MetricUnavailable", "the trial's log could not be read")


def observe_trials(d: Decision) -> None:
    """Each unfinished trial takes the state of its Job: Running, Succeeded (with the
    objective from its log), Failed (retried when the cause was the infrastructure), or
    Failed as JobDeleted when the Job of a running trial is gone. A recorded trial whose
    Job does not exist yet is launched (record before you act: this is the second half)."""
    for trial in d.status.trials:
        if trial.phase in TERMINAL_TRIAL_PHASES:
            continue
        job_name = trial.job_name
        job = d.snapshot.jobs.get(job_name)
        if job is None:
            _without_job(d, trial, job_name)
            continue
        if job.state == "Waiting":
            if not _pod_gone(trial, job):
                _waiting(d, trial, job)
            continue
        if (trial.message or "").startswith(WAITING_MESSAGES):
            trial.reason = trial.message = None
        if trial.start_time is None:
            trial.start_time = job.started or d.now
        if job.state == "Running":
            trial.phase = TrialPhase.RUNNING
            if job.reason == LOG_FORBIDDEN and trial.message != job.message:
                trial.reason, trial.message = job.reason, job.message
                d.event("Warning", "Forbidden", f"trial {trial.name}: {job.message}")
        elif job.state == "Succeeded":
            _succeeded(d, trial, job)
        else:
            _failed(d, trial, job)


def _pod_gone(trial: TrialStatus, job: JobObservation) -> bool:
    """Whether a trial that ran has lost its pod (deleted, its node gone) before the Job
    controller said how its Job ended: it stays Running, as recorded, until the Job's
    outcome arrives (a second or so later; its update wakes the operator). Pending would
    say, for that moment, that it never started."""
    return trial.phase is TrialPhase.RUNNING and job.reason == POD_NOT_CREATED


def _waiting(d: Decision, trial: TrialStatus, job: JobObservation) -> None:
    """The trial's Job exists, its pod has not started: Pending, saying why if the
    scheduler or the Job controller said (until the pod runs, or the reason is gone); a
    Warning Event when the namespace starts refusing its pod."""
    trial.phase = TrialPhase.PENDING
    if job.message is not None:
        if job.reason == POD_REFUSED and trial.reason != POD_REFUSED:
            d.event("Warning", "TrialPodRefused", f"trial {trial.name}: {job.message}")
        trial.reason, trial.message = job.reason, job.message
    elif trial.reason == POD_REFUSED and job.reason == POD_NOT_CREATED:
        # Still no pod, and the refusal's Events are gone (the API server keeps Events
        # an hour by default, a restarted operator may not find them): the refusal is
        # still the last word on why; a pod once created clears it.
        pass
    elif (trial.message or "").startswith(WAITING_MESSAGES):
        trial.reason = trial.message = None


def _without_job(d: Decision, trial: TrialStatus, job_name: str) -> None:
    """A trial whose Job is gone. A running one's was deleted by someone else (`kubectl
    delete job`, a cleanup policy): taken as meant, it ends Failed and is not retried,
    whatever `spec.retry` says. A pending one's Job was not created yet (the operator
    records a trial before it creates its Job), or deleted before its pod started: it is
    created (again)."""
    if trial.phase is TrialPhase.RUNNING:
        message = (
            f"Job {job_name} was deleted before it finished (not by the operator); not retried"
        )
        d.finish_trial(trial, TrialPhase.FAILED, "JobDeleted", message)
        trial.infrastructure = True
        d.event("Warning", "TrialFailed", f"trial {trial.name}: JobDeleted")
    elif not d.terminal_before:
        d.plan.launch.append(TrialLaunch(trial.name, trial.attempt, trial.hyperparameters))


def _succeeded(d: Decision, trial: TrialStatus, job: JobObservation) -> None:
    outcome = job.outcome or _NO_LOG
    trial.intermediate_count = outcome.intermediate_count
    trial.metrics = dict(outcome.metrics) or None
    end = job.finished or d.now
    if outcome.value is not None:
        trial.objective = outcome.value
        # The message, if any, notes what the log lacked (a metric that never matched).
        # Its Event waits for the stopping rules (`announce_completions`).
        d.finish_trial(trial, TrialPhase.SUCCEEDED, None, outcome.message, end)
        return
    d.finish_trial(trial, TrialPhase.FAILED, outcome.reason, outcome.message, end)
    trial.infrastructure = outcome.reason == LOG_UNAVAILABLE or None
    d.event("Warning", "TrialFailed", f"trial {trial.name}: {outcome.reason}: {outcome.message}")


def _failed(d: Decision, trial: TrialStatus, job: JobObservation) -> None:
    if job.infrastructure and trial.attempt < d.spec.retry.max_attempts and not d.terminal_before:
        trial.attempt += 1
        trial.phase = TrialPhase.PENDING
        trial.reason = job.reason
        trial.message = f"{RETRYING_AFTER}{job.message or job.reason}"
        d.retried += 1
        d.plan.launch.append(TrialLaunch(trial.name, trial.attempt, trial.hyperparameters))
        d.event(
            "Warning", "TrialRetried", f"trial {trial.name}: {job.reason}; attempt {trial.attempt}"
        )
        return
    message = job.message
    if job.infrastructure:  # a user who has drained nodes may well ask why it was not
        limit = d.spec.retry.max_attempts
        retries = (
            f"not retried, spec.retry.maxAttempts {limit}"
            if limit == 1
            else f"attempt {trial.attempt} of {limit}"
        )
        message = f"{retries}: {job.message or job.reason}"
    d.finish_trial(trial, TrialPhase.FAILED, job.reason or "Failed", message, job.finished or d.now)
    trial.infrastructure = job.infrastructure or None
    d.event("Warning", "TrialFailed", f"trial {trial.name}: {job.reason}: {job.message}")


def announce_completions(d: Decision) -> None:
    """A TrialCompleted Event for each trial that succeeded in this reconcile, posted
    after the stopping rules have judged it: a Hyperband trial judged at a rung only
    after it ended (the operator was down meanwhile) ends EarlyStopped instead, and the
    full-budget objective it does not keep is not announced."""
    unfinished = {t.name for t in d.snapshot.status.trials if t.phase not in TERMINAL_TRIAL_PHASES}
    for trial in d.status.trials:
        if trial.phase is TrialPhase.SUCCEEDED and trial.name in unfinished:
            message = f"trial {trial.name}: objective {trial.objective!r}"
            d.event("Normal", "TrialCompleted", message)


def delete_leftover_jobs(d: Decision) -> None:
    """Jobs whose trial is finished but which still run, wait for their pod or keep one
    (an image that never pulls, whose pod would wait forever; a Job left over from
    before a stop; an early-stopped trial), or that belong to no recorded trial (an
    earlier attempt of a retried one), are deleted: a waiting one would start training
    when a GPU frees."""
    trials = d.status.trials
    finished = {t.job_name for t in trials if t.phase in TERMINAL_TRIAL_PHASES}
    current = {t.job_name for t in trials}
    for job in d.snapshot.jobs.values():
        if still_there(job) and (job.job_name in finished or job.job_name not in current):
            d.plan.delete.append(job.job_name)


def still_there(job: JobObservation) -> bool:
    """Whether a Job runs, will run, or keeps a pod: deleting it frees something."""
    return job.state in ("Running", "Waiting") or job.pod_left

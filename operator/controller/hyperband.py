"""`strategy: Hyperband` (asynchronous successive halving): the rung decisions and the
new configurations, as steps of `plan()`.

Crash safety: a running trial's value at each rung it reached is recorded in its status
entry (`rungValues`, with the job-wide order `rungSeqs`) in the same status write as the
decision taken on it, and the Job is deleted only after that write. Decisions are
`kubetune.optimizer.rung_decisions` replayed over all recorded values (each trial judged
among the values of the trials with its values of the Categorical parameters once there
are enough of them, `kubetune.optimizer.RungLog`), so an operator restarted at any moment
takes exactly the same ones. The values come from the curves the
adapter reads for early stopping (`Snapshot.curves`: match s of the objective regex is
the value after s epochs).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Sequence
from itertools import accumulate
from typing import Any

from kubetune.operator.api import (
    HYPERBAND_RUNG_STOPPED,
    TERMINAL_TRIAL_PHASES,
    BestTrial,
    Hyperband,
    ObjectiveType,
    ParameterType,
    Strategy,
    TrialPhase,
    TrialStatus,
    TuningJobSpec,
    objective_text,
)
from kubetune.operator.api.constants import MAX_TRIAL_MESSAGE_LENGTH
from kubetune.operator.controller.optimizer_input import search_space
from kubetune.operator.controller.types import (
    Decision,
    count,
    finite_values,
    keep_last_metrics,
    note_not_a_number,
)
from kubetune.optimizer import (
    Goal,
    HyperbandSampler,
    HyperbandTrial,
    RungLog,
    RungRecord,
    SearchSpace,
    comparison_group,
    continues_at_rung,
    infer_max_resource,
    judged_among,
    rung_decisions,
    rung_levels,
)
from kubetune.optimizer import (
    best_trial as optimizer_best_trial,
)

TOO_MANY_VALUES = "TooManyObjectiveValues"
"""The reason of a Hyperband job that failed because a trial printed more values of the
objective than `maxResource` (`too_many_values`)."""
TOO_FEW_VALUES = "TooFewObjectiveValues"
"""The reason of the Warning Event on a Hyperband trial whose trainer exited successfully
having printed fewer values of the objective than `maxResource` (`note_too_few_values`)."""

JUDGED_AT_END = "judged at its end"
"""In the message of a trial stopped at a rung on values it printed only when its
trainer ended, fewer than `maxResource` (`_stop`): `job_note` counts it among the
trials that printed too few."""

RUNG_CHECK_SECONDS = 5.0
"""How often a Hyperband job with running trials is looked at again, so a trial is
judged soon after it reaches a rung even when no Job or pod changes."""


def settings(spec: TuningJobSpec) -> Hyperband:
    return spec.hyperband or Hyperband()


def max_resource(spec: TuningJobSpec) -> int:
    """`hyperband.maxResource`, or the epochs named by the static hyperparameters
    (admission and `kube.validation` guarantee one of them)."""
    explicit = settings(spec).max_resource
    if explicit is not None:
        return explicit
    inferred = infer_max_resource(spec.static_hyperparameters or {})
    if inferred is None:
        raise ValueError("hyperband: no maxResource and none to infer")
    return inferred


def _goal(spec: TuningJobSpec) -> Goal:
    return "Maximize" if spec.objective.type is ObjectiveType.MAXIMIZE else "Minimize"


def levels(spec: TuningJobSpec) -> list[int]:
    """The rungs, in epochs."""
    hb = settings(spec)
    return rung_levels(hb.min_resource, max_resource(spec), hb.reduction_factor)


def rung_records(space: SearchSpace, trials: Sequence[TrialStatus]) -> list[RungRecord]:
    """Every recorded rung value of the job, each with its trial's comparison group in the
    job's search space (`optimizer_input.search_space`)."""
    return [
        RungRecord(seq, trial.name, rung, value, comparison_group(space, trial.hyperparameters))
        for trial in trials
        for rung, (seq, value) in enumerate(
            zip(trial.rung_seqs or [], trial.rung_values or [], strict=True)
        )
    ]


def stop_at_rungs(d: Decision) -> None:
    """Record the running trials' values at the rungs they reached, then stop (EarlyStopped,
    Job deleted as a leftover) every running trial that is not in the top 1/η at one of
    its recorded rungs.

    A trial that succeeded since the last reconcile is judged the same way, from its log:
    it may have passed its last rungs unjudged (it finished while the operator was down,
    or between two looks). If it should have stopped at a rung, it ends EarlyStopped
    there, as it would have without the gap: its full-budget value is neither the best
    nor a full-budget observation for the sampler. A trial that succeeded earlier and
    lacks rung values (its log was unreadable then) has them all recorded, for the
    comparisons only."""
    if d.spec.strategy is not Strategy.HYPERBAND:
        return
    if not d.terminal_before:
        _record(d)
        _stop(d)
        _note_not_a_number(d)


def _record(d: Decision) -> None:
    """Record the values the judged trials' curves give at rungs not recorded yet, each
    judged against the values recorded at its rung before it (a trial stopped at one
    records no later rung). Values read in one look (two trials reached rungs between two
    looks, or ended while the operator was down) are recorded in the order they were
    printed (`Snapshot.curve_times`), as an operator that saw each when printed did;
    where a time is unknown (a local run's logs), rung by rung, each in trial order."""
    curves = d.snapshot.curves or {}
    hb = settings(d.spec)
    rungs = levels(d.spec)
    space = search_space(d.spec)
    records = rung_records(space, d.status.trials)
    next_seq = max((r.seq for r in records), default=-1) + 1
    log = RungLog(hb.reduction_factor)
    for record in sorted(records, key=lambda r: r.seq):
        log.add(record.rung, record.group, record.value)
    goal = _goal(d.spec)
    judged = _judged(d)
    new: list[tuple[int | None, int, int, float]] = []  # (printed, rung, trial, value)
    for index, trial in enumerate(d.status.trials):
        curve = finite_values(curves.get(trial.name) or ())
        if trial.phase not in (TrialPhase.RUNNING, TrialPhase.SUCCEEDED) or not curve:
            continue
        # A clock set back mid-trial must not put a trial's later rung before its earlier.
        printed = list(accumulate((d.snapshot.curve_times or {}).get(trial.name) or (), max))
        for rung in range(len(trial.rung_values or []), len(rungs)):
            step = rungs[rung] - 1
            if len(curve) <= step:
                break
            when = printed[step] if step < len(printed) else None
            new.append((when, rung, index, float(curve[step])))
    timed = all(when is not None for when, *_ in new)
    new.sort(key=lambda v: ((v[0] or 0) if timed else 0, v[1], v[2]))
    stopped: set[int] = set()
    for _, rung, index, value in new:
        trial = d.status.trials[index]
        if index in stopped:
            continue
        group = comparison_group(space, trial.hyperparameters)
        peers = log.peers(rung, group)
        goes_on = continues_at_rung(value, peers, reduction_factor=hb.reduction_factor, goal=goal)
        trial.rung_values = [*(trial.rung_values or []), value]
        trial.rung_seqs = [*(trial.rung_seqs or []), next_seq]
        log.add(rung, group, value)
        next_seq += 1
        if not goes_on and trial.name in judged:
            stopped.add(index)


def _judged(d: Decision) -> dict[str, bool]:
    """The trials whose rung decisions are acted on, by name: the running ones (False)
    and those that succeeded since the last reconcile (True: judged after they ended)."""
    unfinished = {t.name for t in d.snapshot.status.trials if t.phase not in TERMINAL_TRIAL_PHASES}
    return {
        t.name: t.phase is TrialPhase.SUCCEEDED
        for t in d.status.trials
        if t.phase is TrialPhase.RUNNING
        or (t.phase is TrialPhase.SUCCEEDED and t.name in unfinished)
    }


def _stop(d: Decision) -> None:
    """Stop the judged trials the replayed log says do not continue."""
    hb = settings(d.spec)
    rungs = levels(d.spec)
    records = rung_records(search_space(d.spec), d.status.trials)
    goal = _goal(d.spec)
    decisions = rung_decisions(records, reduction_factor=hb.reduction_factor, goal=goal)
    by_key = {(r.trial, r.rung): r for r in records}
    judged = _judged(d)
    for trial in d.status.trials:
        if trial.name not in judged:
            continue
        values = trial.rung_values or []
        stopped_at = next((k for k in range(len(values)) if not decisions[(trial.name, k)]), None)
        if stopped_at is None:
            continue
        value = values[stopped_at]
        # The values its decision was taken among: its own and its peers' recorded before
        # it there (values recorded later do not change it).
        record = by_key[(trial.name, stopped_at)]
        earlier = judged_among(records, record, reduction_factor=hb.reduction_factor)
        better = sum(v > value if goal == "Maximize" else v < value for v in earlier)
        everyone = sum(r.rung == stopped_at and r.seq < record.seq for r in records)
        alike = _alike(d.spec) if len(earlier) < everyone else None
        curve = (d.snapshot.curves or {}).get(trial.name) or []
        trial.objective = value
        trial.intermediate_count = max(len(curve), rungs[stopped_at], trial.intermediate_count)
        late = judged[trial.name]
        few = _too_few(d, trial, judged.keys())  # the judged trials were all unfinished
        suffix = ""
        if few is not None:  # its values came when it ended: the operator was not down
            suffix = f"; {JUDGED_AT_END}: printed {few} of {max_resource(d.spec)} values"
        elif late:
            suffix = "; judged only after it ended, when its log was read"
        judgement = functools.partial(
            stop_message,
            stopped_at,
            rungs[stopped_at],
            value,
            rank=1 + better,
            among=len(earlier) + 1,
            reduction_factor=hb.reduction_factor,
        )
        message = judgement(alike=alike) + suffix
        if len(message) > MAX_TRIAL_MESSAGE_LENGTH:  # whole, the rank true: without `alike`
            message = judgement() + suffix
        end = trial.end_time if late else None
        reason = f"{HYPERBAND_RUNG_STOPPED}{stopped_at}"
        d.finish_trial(trial, TrialPhase.EARLY_STOPPED, reason, message, end)
        if not late:  # one judged after it ended keeps its final values, read then
            keep_last_metrics(d, trial)
        d.event("Normal", "TrialEarlyStopped", f"trial {trial.name} at {message}")


def _note_not_a_number(d: Decision) -> None:
    """A judged trial whose values end on a text that is no number is judged at no later
    rung, and says so (`note_not_a_number`)."""
    rungs = levels(d.spec)

    def next_rung(trial: TrialStatus, _step: int) -> str | None:
        rung = len(trial.rung_values or [])
        return f"rung {rung} ({count(rungs[rung], 'epoch')})" if rung < len(rungs) else None

    note_not_a_number(d, next_rung)


def stop_message(
    rung: int,
    epochs: int,
    value: float,
    *,
    rank: int,
    among: int,
    reduction_factor: int,
    alike: str | None = None,
) -> str:
    """Why a trial stopped at a rung, for its message: its rank there among the values
    its decision was taken among (`alike`: those of the trials with its values of the
    Categorical parameters, `_alike`), and how many of those go on (the top max(1, ⌊n/η⌋),
    `continues_at_rung`). Short, and without the metric's name (up to 255 characters):
    without `alike` and with the longest suffix `_stop` adds, it fits the trial's message
    (128 characters), which would otherwise lose its middle (`_stop` leaves `alike` out
    where it would not fit)."""
    top = max(1, among // reduction_factor)
    head = f"rung {rung} ({count(epochs, 'epoch')}): {value:.6g} ranked {_ordinal(rank)} of {among}"
    tail = f"; the top {top} go on"
    peers = f" with its {alike}" if alike else ""
    return head + peers + tail


def _alike(spec: TuningJobSpec) -> str:
    """What the trials a rung judged a trial among share with it, in a few words: the
    names of the Categorical parameters when they are short, else what they are."""
    names = "/".join(p.name for p in spec.parameters if p.type is ParameterType.CATEGORICAL)
    return names if len(names) <= 24 else "categorical values"


def _ordinal(n: int) -> str:
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def too_many_values(d: Decision) -> str | None:
    """Why the job fails (reason `TOO_MANY_VALUES`), if a trial printed more values of the
    objective than `maxResource`: Hyperband takes match s of the objective regex as the
    value after s epochs, so a regex that matches two lines per epoch (a training and a
    validation line) or a trainer run for more epochs than `maxResource` has had every
    rung decision taken on the wrong values, and every later trial would be too. None
    otherwise.

    What a trial printed is its recorded `intermediateCount`, or, while the snapshot shows
    it unfinished, the values read from its log so far (`Snapshot.curves`: they only grow,
    so a restart before the failure is written decides the same; once written, the job
    has ended)."""
    if d.spec.strategy is not Strategy.HYPERBAND:
        return None
    most = max_resource(d.spec)
    unfinished, curves = _unfinished(d), d.snapshot.curves or {}
    for trial in d.status.trials:
        curve = (curves.get(trial.name) or ()) if trial.name in unfinished else ()
        printed = max(trial.intermediate_count, len(curve))
        if printed > most:
            return (
                f"trial {trial.name} printed {count(printed, 'value')} of "
                f"{d.spec.objective.metric}, more than its {count(most, 'epoch')} "
                "(maxResource): Hyperband takes match s of the objective's regex as the value "
                "after s epochs, so its rung decisions were taken on the wrong values. Does the "
                "regex match more than one line per epoch (a training and a validation line)? "
                "Make it match one line per epoch (or set hyperband.maxResource to the epochs "
                f"the trainer runs), then {d.snapshot.start_anew}"
            )
    return None


def _unfinished(d: Decision) -> set[str]:
    """The trials the recorded status shows unfinished (pending or running)."""
    return {t.name for t in d.snapshot.status.trials if t.phase not in TERMINAL_TRIAL_PHASES}


def _too_few(d: Decision, trial: TrialStatus, unfinished: Collection[str]) -> int | None:
    """How many values of the objective `trial` printed, if its Job succeeded in this
    reconcile (`unfinished`: the trials recorded unfinished) with a value but fewer than
    `maxResource` of them."""
    job = d.snapshot.jobs.get(trial.job_name)
    if (
        trial.name not in unfinished
        or job is None
        or job.state != "Succeeded"
        or job.outcome is None
        or job.outcome.value is None
    ):
        return None
    printed = job.outcome.intermediate_count
    return printed if printed < max_resource(d.spec) else None


def note_too_few_values(d: Decision) -> None:
    """A trial whose trainer exited successfully having printed fewer values of the
    objective than `maxResource` (Succeeded, or EarlyStopped when judged as it ended)
    gets a Warning Event, once, in the reconcile that records its end, and a succeeded
    one a note in its message: a trainer that prints only a final value has it taken as
    the value after one epoch and judged at rung 0 on it. Not a failure: a trainer may
    stop on its own before its last epoch (`job_note` keeps it in the job's message)."""
    if d.spec.strategy is not Strategy.HYPERBAND:
        return
    unfinished = _unfinished(d)
    most = max_resource(d.spec)
    for trial in d.status.trials:
        printed = _too_few(d, trial, unfinished)
        if printed is None or trial.phase not in (TrialPhase.SUCCEEDED, TrialPhase.EARLY_STOPPED):
            continue
        if trial.phase is TrialPhase.SUCCEEDED:
            # Without the metric's name (up to 255 characters): the note must fit the
            # trial's message (128), which would lose its middle.
            note = f"printed {printed} of {most} objective values (Hyperband needs one per epoch)"
            trial.message = f"{note}; {trial.message}" if trial.message else note
        d.event(
            "Warning",
            TOO_FEW_VALUES,
            f"trial {trial.name} exited successfully but printed {count(printed, 'value')} "
            f"of {d.spec.objective.metric} in a {most}-epoch trial: Hyperband needs one per "
            "epoch, as match s of the objective's regex is the value after s epochs, so a "
            "trainer that prints only a final value is judged at rung 0 on it",
        )


def job_note(d: Decision) -> str:
    """For the job's message: the trials that ended having printed fewer values of the
    objective than `maxResource` (from their recorded `intermediateCount`): those that
    succeeded, and those stopped at a rung when they ended (`JUDGED_AT_END`); empty if
    none."""
    if d.spec.strategy is not Strategy.HYPERBAND:
        return ""
    most = max_resource(d.spec)
    few = [
        t
        for t in d.status.trials
        if (t.phase is TrialPhase.SUCCEEDED and 0 < t.intermediate_count < most)
        or (t.phase is TrialPhase.EARLY_STOPPED and JUDGED_AT_END in (t.message or ""))
    ]
    if not few:
        return ""
    return (
        f"; {count(len(few), 'trial')} ended having printed fewer values of "
        f"{d.spec.objective.metric} than {count(most, 'epoch')} (first: {few[0].name}, "
        f"{count(few[0].intermediate_count, 'value')}): Hyperband needs one value per epoch "
        "to judge trials at their rungs"
    )


def count_epochs(d: Decision) -> None:
    """Each trial's epochs, summed over its attempts (all of them were trained), and the
    job's total. A retried trial keeps its earlier attempts' epochs in `epochs` while it
    runs again; when it ends, its last attempt's are added. Both are computed from the
    recorded status (`d.snapshot`), so every step that ends a trial may call this again
    and nothing is counted twice. A running attempt's epochs are not counted until it
    ends: they would change the status, and cost a write, on every reconcile."""
    if d.spec.strategy is not Strategy.HYPERBAND:
        return
    recorded = {t.name: t for t in d.snapshot.status.trials}
    for trial in d.status.trials:
        before = recorded.get(trial.name)
        if before is None:
            continue
        unfinished = before.phase not in TERMINAL_TRIAL_PHASES
        retried = trial.attempt > before.attempt
        ended = trial.phase in TERMINAL_TRIAL_PHASES and (unfinished or before.epochs is None)
        if retried or ended:
            earlier = (before.epochs or 0) if unfinished else 0
            trial.epochs = earlier + _attempt_epochs(d, trial, before)
    d.status.epochs_consumed = sum(t.epochs or 0 for t in d.status.trials)


def _attempt_epochs(d: Decision, trial: TrialStatus, before: TrialStatus) -> int:
    """The epochs the attempt that `before` records ran: the values the operator read
    from its log (a failed attempt's: the last read while it ran, `Snapshot.curves`),
    or as many as it printed, and for a first attempt at least its highest recorded rung
    (all its rung values are its own); at most `maxResource`. A later attempt that failed
    unread (the operator down throughout) counts 0: its rung values cannot be told from
    its predecessors'."""
    curve = (d.snapshot.curves or {}).get(trial.name) or ()
    counted = max(len(curve), trial.intermediate_count)
    values = before.rung_values or []
    if before.attempt == 1 and values:
        counted = max(counted, levels(d.spec)[len(values) - 1])
    # No attempt trains more than maxResource epochs: more values than that are lines the
    # regex matches besides the one per epoch (`too_many_values` fails the job for them).
    return min(counted, max_resource(d.spec))


def provisional_best(d: Decision) -> str:
    """Before any trial ran its full `maxResource`: the best trial that did not fail, at the
    highest rung such a trial reached, becomes `bestTrial` (not `bestObjective`, which
    `targetObjective` reads: a value after a few epochs is no final objective), and the
    Best column shows it marked with its rung's epochs. Returns the note that says so, for the
    job's message ("" once a trial succeeded: `summary.summarise` then sets the best). At
    every look, whether the job goes on or ends: a rung value recorded after the last
    launch counts too."""
    status = d.status
    if (
        d.spec.strategy is not Strategy.HYPERBAND
        or status.reason == TOO_MANY_VALUES  # its values were read from the wrong lines
        or any(t.phase is TrialPhase.SUCCEEDED and t.objective is not None for t in status.trials)
    ):
        return ""
    # A failed trial is no result, whatever it reached before (a diverged one above all):
    # the best is among the others, at the highest rung one of them reached. A stopped one
    # (at a rung, or by the job's end) keeps its values there: they are what it measured.
    found = optimizer_best_trial(
        [
            HyperbandTrial({}, [] if t.phase is TrialPhase.FAILED else t.rung_values or [])
            for t in status.trials
        ],
        goal=_goal(d.spec),
    )
    if found is None:  # none yet, or only failed ones: a best named earlier is no more
        status.best_trial = status.best_objective_text = None
        return ""
    index, rung = found
    trial = status.trials[index]
    value = (trial.rung_values or [])[rung]
    status.best_trial = BestTrial(
        name=trial.name, hyperparameters=trial.hyperparameters, objective=value
    )
    status.best_objective_text = objective_text(value, levels(d.spec)[rung])
    return (
        f"; best so far at rung {rung} ({count(levels(d.spec)[rung], 'epoch')}, no trial "
        f"has run its {max_resource(d.spec)} yet): {trial.name} with {value:.6g}"
    )


def schedule_rung_checks(d: Decision) -> None:
    """With trials still to judge at their rungs, look again in a few seconds."""
    if d.spec.strategy is Strategy.HYPERBAND and any(
        t.phase in (TrialPhase.PENDING, TrialPhase.RUNNING) for t in d.status.trials
    ):
        d.plan.requeue_after = min(d.plan.requeue_after or RUNG_CHECK_SECONDS, RUNG_CHECK_SECONDS)


def sampler_trials(d: Decision) -> list[HyperbandTrial]:
    """The job's trials, after the warm start's (`optimizer_input.warm_start_trials`), as
    the Hyperband sampler sees them: their values at the levels they reached. A trial the
    infrastructure failed is `lost`: it measured nothing of its configuration, which
    stays untried (proposed again in a finite space), as the other strategies leave it
    out of their observations (`optimizer_input._observation`); it keeps its place in
    the numbering the sampler's draws follow (left out, the next trial took the draw of
    the one after it, which may be running: two trials of one configuration)."""
    n_levels = len(levels(d.spec)) + 1
    out = [HyperbandTrial(t.params, t.values) for t in d.snapshot.warm_start]
    for trial in d.status.trials:
        params: dict[str, Any] = dict(trial.hyperparameters)
        if trial.phase is TrialPhase.FAILED and trial.infrastructure:
            out.append(HyperbandTrial(params, [], lost=True))
            continue
        values = list(trial.rung_values or [])
        if trial.phase is TrialPhase.SUCCEEDED and trial.objective is not None:
            # Rungs it passed before its values could be read (a restart) are unknown.
            values += [math.nan] * (n_levels - 1 - len(values)) + [trial.objective]
        elif trial.phase is TrialPhase.FAILED:
            values = []
        out.append(HyperbandTrial(params, values, running=trial.phase not in TERMINAL_TRIAL_PHASES))
    return out


def suggest_configurations(d: Decision, n: int, seed: int, suggest: Any) -> list[dict[str, Any]]:
    """`n` new configurations from the Hyperband sampler (`suggest`: the optimizer's
    `suggest_hyperband`, replaceable in tests); pending and running trials count."""
    hb = settings(d.spec)
    result: list[dict[str, Any]] = suggest(
        search_space(d.spec),
        sampler_trials(d),
        n_levels=len(levels(d.spec)) + 1,
        sampler=HyperbandSampler(hb.sampler.value),
        n=n,
        seed=seed,
        goal=d.spec.objective.type.value,
    )
    return result

"""What the read-only commands print, as pure functions of a TuningJobView (and the
time): the trials in four formats, the best hyperparameters in four, and `describe`."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from kubetune.analytics.errors import UsageError
from kubetune.analytics.local import INTERRUPTED
from kubetune.analytics.records import (
    best_hyperparameters,
    columns,
    flat_records,
    nested_records,
    sort_records,
)
from kubetune.analytics.resource import POD_REFUSED, ParameterType, Trial, TuningJobView
from kubetune.cli import output, serving
from kubetune.operator.api import (
    CONVERGED,
    FINISHING,
    MAX_TRIALS_NOT_IMPROVING,
    MAX_TRIALS_REACHED,
    NO_TRIAL_SUCCEEDED,
    SEARCH_SPACE_EXHAUSTED,
    TARGET_OBJECTIVE_REACHED,
    ConditionType,
    TrialPhase,
    TuningJobSpec,
    WarmStart,
)
from kubetune.operator.controller import warm_start_observations, warm_start_trials

HYPERPARAMETERS_ENV = "KUBETUNE_HYPERPARAMETERS"
"""The variable a trial's container gets its hyperparameters in (the operator's
HYPERPARAMETERS_ENV); `best -o env` prints it."""

# Columns of the table (CSV, JSON and YAML have them all); `message`, the last one, only
# where a trial has one (a succeeded trial's says what its log lacked).
_TABLE_HIDDEN = {"intermediateCount", "end"}


def trials_output(
    view: TuningJobView, fmt: str, now: datetime, sort: str | None = None, top: int | None = None
) -> str:
    """`kubetune trials`: every trial (launch order, or sorted by `sort`; the first `top`)."""
    names = columns(view).names()
    flat = flat_records(view, now)
    if sort:
        bare = sort.removeprefix("-")
        aliases = _sort_aliases(view, names)
        if aliases.get(bare, bare) not in names:
            shown = ", ".join(_SORT_ALIASES_BACK.get(n, n) for n in names)
            raise UsageError(
                f"--sort {sort}: no column {bare!r}; sort by one of: {shown} (-FIELD reverses)"
            )
        sort = sort[: len(sort) - len(bare)] + aliases.get(bare, bare)
        flat = sort_records(flat, sort, view, names)
    flat = flat[:top] if top else flat
    if fmt == "csv":
        return output.to_csv(names, flat)
    if fmt in ("json", "yaml"):
        by_name = {d["trial"]: d for d in nested_records(view, now)}
        documents = [by_name[r["trial"]] for r in flat]
        return output.to_json(documents) if fmt == "json" else output.to_yaml(documents)
    return _trials_table(view, flat, names)


def _trials_table(view: TuningJobView, flat: Sequence[dict[str, Any]], names: list[str]) -> str:
    cols = columns(view)
    shown_as = shown_hyperparameters(view)
    hyperparameter_columns = {c: shown_as[name] for name, c in cols.hyperparameters.items()}
    hidden = _TABLE_HIDDEN | (set() if any(t.message for t in view.trials) else {"message"})
    shown = [n for n in names if n not in hidden]
    trials = {t.name: t for t in view.trials}
    rows = []
    for record in flat:
        row = []
        for name in shown:
            value = record[name]
            if name == "epochs" and value is None:
                row.append(_epochs_so_far(view, trials[record["trial"]]))
            elif name in hyperparameter_columns:
                row.append(hyperparameter_columns[name](value))
            elif name == "durationSeconds":
                row.append(output.duration(value))
            elif name == "start":
                # A space for the T, read more easily; the Z kept: the time is UTC.
                row.append(value.replace("T", " ") if value else output.MISSING)
            elif name == "message" and value:
                row.append(" ".join(value.split()))  # one line per trial
            elif isinstance(value, float | int):
                row.append(output.number(value))
            else:
                row.append(output.MISSING if value is None else str(value))
        rows.append(row)
    # Headers are the column names (what --sort takes), `duration` for durationSeconds.
    headers = [_SORT_ALIASES_BACK.get(n, n) for n in shown]
    return output.table(headers, rows)


def shown_hyperparameters(view: TuningJobView) -> dict[str, Callable[[str | None], str]]:
    """Parameter name → how the table and `watch` show its values: a Continuous or
    Integer number shortened (`output.hyperparameter`), a Categorical value as written:
    it is a key, not a number (`1e-3` is not `0.001` to the trainer, nor a value of the
    spec)."""
    return {
        p.name: _as_written if p.type is ParameterType.CATEGORICAL else output.hyperparameter
        for p in view.spec.parameters
    }


def _as_written(text: str | None) -> str:
    return output.MISSING if text is None else text


def _epochs_so_far(view: TuningJobView, trial: Trial) -> str:
    """The table's `epochs` of a Hyperband trial not ended yet: at least the epochs of the
    highest rung whose value it printed (`≥3`); `-` before its first. The exact count is
    written when it ends (a running trial's would cost a status write on every look), so
    CSV, JSON and YAML leave it empty."""
    reached = min(len(trial.rung_values), len(view.rungs))
    return f"≥{view.rungs[reached - 1]}" if reached else output.MISSING


_SORT_ALIASES = {"duration": "durationSeconds"}
_SORT_ALIASES_BACK = {v: k for k, v in _SORT_ALIASES.items()}


def _sort_aliases(view: TuningJobView, names: Sequence[str]) -> dict[str, str]:
    """The other names `--sort` takes for columns: `duration`, and the objective metric's
    own name (`val_acc`: what the job, `describe` and `best` call it) for `objective`,
    unless a column has that name."""
    if view.objective_metric in names:
        return _SORT_ALIASES
    return {**_SORT_ALIASES, view.objective_metric: "objective"}


def best_objective(view: TuningJobView) -> str:
    """The best objective as `watch` and `describe` show it: `0.9164`, or before any
    Hyperband trial has run its full maxResource, the best value at the highest rung
    reached marked with that rung's epochs, `0.9164 (at 3 epochs)`: the operator's
    `bestObjectiveText`, which the Best printer column shows (not yet a final objective,
    so `bestObjective` is unset: a trial that runs to the end replaces it); `-` when
    none."""
    status = view.status
    if status.best_trial is None:
        return output.MISSING
    if status.best_objective is None and status.best_objective_text:
        return status.best_objective_text
    return output.number(status.best_trial.objective)


LIST_HEADERS = ["NAME", "STRATEGY", "PHASE", "BEST", "TRIALS", "RUNNING", "EPOCHS", "AGE"]
"""`kubetune list`'s columns: those of `kubectl get tj`, but the message."""


def list_row(item: dict[str, Any], now: datetime) -> list[str]:
    """A TuningJob's row in `kubetune list` (LIST_HEADERS), from the resource as listed
    (not parsed: a job whose spec this kubetune cannot read still gets its row)."""
    meta, spec, status = item["metadata"], item.get("spec") or {}, item.get("status") or {}
    created = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
    max_trials = (spec.get("limits") or {}).get("maxTrials", "?")
    epochs = status.get("epochsConsumed")  # Hyperband only
    return [
        meta["name"],
        str(spec.get("strategy", "Bayesian")),
        str(status.get("phase", "Pending")),
        # Before any Hyperband trial has run its full maxResource, the best value at the
        # highest rung reached, marked with it as `watch` and `describe` mark it.
        status.get("bestObjectiveText") or output.number(status.get("bestObjective")),
        status.get("trialsDone") or f"0/{max_trials}",
        str((status.get("counters") or {}).get("running", 0)),
        output.MISSING if epochs is None else str(epochs),
        output.duration((now - created).total_seconds()),
    ]


def best_caveat(view: TuningJobView) -> str | None:
    """For `kubetune best` (on stderr: its output is for a script), where a Hyperband job's
    best is a value at a rung, no trial having run its full maxResource: which rung, and
    how far that trial got. None otherwise."""
    best = view.status.best_trial
    if not view.hyperband or best is None or view.status.best_objective is not None:
        return None
    trial = next((t for t in view.trials if t.name == best.name), None)
    if trial is None or not trial.rung_values or not view.rungs:
        return None
    rung = min(len(trial.rung_values), len(view.rungs)) - 1
    after = f" after {output.count(trial.epochs, 'epoch')}" if trial.epochs else ""
    if trial.reason == INTERRUPTED:  # a local run, after Ctrl-C: nothing runs now
        state = (
            f"was interrupted{after} with its run (Pending: nothing runs it now; the same "
            "`kubetune run --local` command resumes it)"
        )
    elif trial.phase in ("Pending", "Running"):
        state = "is still running"
    else:
        state = f"ended {trial.phase}" + (f" ({trial.reason})" if trial.reason else "") + after
    return (
        f"Note: these are the hyperparameters of {best.name}, best at rung {rung} "
        f"({output.count(view.rungs[rung], 'epoch')}) with {best.objective:.6g}; no trial has "
        f"run its {view.max_resource} epochs, and {best.name} {state}: not a fully trained "
        "result.\n"
    )


def best_output(view: TuningJobView, fmt: str) -> str:
    """`kubetune best`: the best trial's hyperparameters (tuned and static)."""
    values = best_hyperparameters(view)
    if fmt == "json":
        return output.to_json(values)
    if fmt == "args":
        return " ".join(shlex.quote(f"--{k}={v}") for k, v in values.items()) + "\n"
    if fmt == "env":
        text = json.dumps(values, separators=(",", ":"))
        return f"{HYPERPARAMETERS_ENV}={shlex.quote(text)}\n"
    return output.to_yaml(values)


def _warm_start_from(view: TuningJobView) -> str:
    """How a new TuningJob warm-starts from this one: naming it and its own warm-start
    parents, whose trials it does not pass on (a warm start is not transitive), as many
    as the schema takes."""
    own = list(view.spec.warm_start.parents) if view.spec.warm_start else []
    if not own:
        return f"(spec.warmStart.parents: [{view.name}])"
    most = int(WarmStart.model_json_schema()["properties"]["parents"]["maxItems"])
    named = (
        f"[{', '.join([view.name, *own])}]"
        if 1 + len(own) <= most
        else f"[{view.name}] and {most - 1} of {', '.join(own)}: at most {most} parents"
    )
    return (
        "and from its own parents, as a warm start is not transitive "
        f"(spec.warmStart.parents: {named})"
    )


def exhausted_advice(view: TuningJobView) -> str:
    """What to do with a job that ended SearchSpaceExhausted, starting in lowercase (it
    follows a colon or a semicolon): raising maxTrials runs nothing; widen the space in a
    warm-started child, which with the same space would run again only the configurations
    whose trials failed. `kubetune describe`'s Next, and `kubetune run --local` on the
    edited manifest of such a run."""
    status = view.status
    # A child with the same parameters has left to try only what no trial measured:
    # what its warm start would carry of this job is what it does not try again.
    measured = {tuple(sorted(p.items())) for p, _ in warm_start_observations([status])}
    again = {tuple(sorted(t.hyperparameters.items())) for t in status.trials} - measured
    same = (
        f" With the same spec.parameters it would run again only the "
        f"{output.count(len(again), 'configuration')} whose trials failed."
        if again
        else ""
    )
    return (
        "every configuration of its space was tried, so raising maxTrials runs nothing. "
        "To tune further, widen spec.parameters (more values, a wider range) in a new "
        f"TuningJob warm-started from it {_warm_start_from(view)}.{same}"
    )


def _plain(view: TuningJobView) -> Callable[[str], str]:
    """`kubetune COMMAND NAME`: a suggested command where no option was given."""
    return lambda command: f"kubetune {command} {view.name}"


def _ended(view: TuningJobView) -> str:
    status, limits = view.status, view.spec.limits
    # Trial Jobs the operator could not delete yet: its one task left, which it retries.
    left = status.condition(ConditionType.JOBS_LEFT.value)
    deleting = "" if left is None else f"Deleting trial Jobs that may still run: {left.message}. "
    ended = (
        f"{deleting}Nothing{'' if left is None else ' else'}: the job has ended "
        f"({status.phase.value}, {status.reason or 'no reason'})"
    )
    if status.reason == SEARCH_SPACE_EXHAUSTED:
        return f"{ended}: {exhausted_advice(view)}"
    if limits.max_trials > len(view.trials) and status.phase.value != "Failed":
        # maxTrials may still be edited, and raising it is accepted: it runs nothing.
        return (
            f"{ended}; spec.limits.maxTrials {limits.max_trials} is above the "
            f"{output.count(len(view.trials), 'trial')} it launched, but an ended job "
            "launches no more (raising maxTrials runs nothing): to tune further, "
            f"warm-start a new TuningJob from it {_warm_start_from(view)}."
        )
    return ended + "."


def not_picked_up(view: TuningJobView) -> str | None:
    """The sentence that says no operator has picked a cluster's job up yet (it is still
    Pending), with what to check; None once one has."""
    if view.status.phase.value != "Pending":
        return None
    return (
        "No operator has picked the job up yet: is the kubetune operator running, and "
        f"does it watch namespace {view.namespace} (the chart's watchNamespaces)?"
    )


def next_step(view: TuningJobView, suggest: Callable[[str], str] | None = None) -> str:
    """What happens next to the job, in one sentence: what it waits for when it waits.
    `suggest`: the command it suggests of a subcommand (see `describe_text`)."""
    suggest = suggest or _plain(view)
    status = view.status
    if view.terminal:
        return _ended(view)
    if view.spec.stop:  # written by `kubetune stop`; the operator acts on it at its next look
        launched, _ = _launched(view)
        trials = f" stops its {output.count(launched, 'launched trial')} and" if launched else ""
        return (
            f"Stopping: spec.stop is true; the operator{trials} ends the job Stopped at its "
            "next look (if it stays so, is the operator running?)."
        )
    if (waiting := not_picked_up(view)) is not None:
        return waiting
    if status.reason == INTERRUPTED:  # a local run, after Ctrl-C
        return (
            "Nothing runs: the local run was interrupted; the same `kubetune run --local` "
            "command resumes it, starting its interrupted trials again."
        )
    ending = _ending(view, suggest)
    if ending is not None:
        return ending
    refused = _refused(view)
    if refused is not None:
        return (
            f"Waiting for the namespace to let trial {refused.name}'s pod in ("
            f"{refused.message or 'refused'}); no other trial is launched meanwhile. It "
            "starts once the quota, LimitRange or ServiceAccount allows it (raise the quota, "
            "fix the LimitRange, create the ServiceAccount), or fix the template in a new "
            "TuningJob."
        )
    return _going_on(view)


def _going_on(view: TuningJobView) -> str:
    """The next step of a job that launches trials, or would but for spec.suspend."""
    limits = view.spec.limits
    launched, waiting = _launched(view)
    left = limits.max_trials - len(view.trials)
    if view.spec.suspend and launched == 0:
        return "Suspended: nothing runs, and nothing starts until spec.suspend is false."
    if view.spec.suspend:
        return (
            f"Suspended: {output.count(launched, 'trial')}{waiting} still "
            f"{'running ' if not waiting else ''}finish, no new trial starts until "
            "spec.suspend is false."
        )
    if left <= 0:
        return (
            f"Every trial is launched ({limits.max_trials}); the job ends when "
            f"{_ending_trials(launched, waiting)}."
        )
    slots = max(limits.max_parallel_trials - launched, 0)
    return (
        f"{output.count(launched, 'trial')} {'launched' if waiting else 'running'}{waiting}; "
        f"{left} more to launch, {slots} now (maxParallelTrials "
        f"{limits.max_parallel_trials}), unless a completion criterion ends the job first."
    )


def _launched(view: TuningJobView) -> tuple[int, str]:
    """The trials launched that have not ended, and, when some of them wait to start
    (for a node, for the namespace to let their pod in, to be retried), how many run:
    ` (0 running, 2 waiting to start)`; "" when all of them run."""
    running = sum(1 for t in view.trials if t.phase == "Running")
    waiting = sum(1 for t in view.trials if t.phase == "Pending")
    detail = f" ({running} running, {waiting} waiting to start)" if waiting else ""
    return running + waiting, detail


def _ending_trials(launched: int, waiting: str) -> str:
    """`1 running trial ends`, `its 2 launched trials end (0 running, 2 waiting to
    start)`: what a job that launches no more waits for."""
    verb = "ends" if launched == 1 else "end"
    if not waiting:
        return f"{output.count(launched, 'running trial')} {verb}"
    return f"its {output.count(launched, 'launched trial')} {verb}{waiting}"


_ENDING_REASONS = (TARGET_OBJECTIVE_REACHED, MAX_TRIALS_NOT_IMPROVING, CONVERGED)
"""The reasons of a job that goes on only while its launched trials finish (the operator's
`finish_running`); MaxTrialsReached, the other, has its own sentence (every trial is
launched)."""


def _why_ending(view: TuningJobView) -> str:
    """What the job's ending reason means, with the criterion's value."""
    reason, criteria = view.status.reason, view.spec.completion_criteria
    if reason == TARGET_OBJECTIVE_REACHED and criteria is not None:
        return (
            f"a trial reached completionCriteria.targetObjective "
            f"{output.number(criteria.target_objective)}"
        )
    if reason == MAX_TRIALS_NOT_IMPROVING and criteria is not None:
        return (
            f"{criteria.max_trials_not_improving} finished trials in a row did not improve "
            "the best objective (completionCriteria.maxTrialsNotImproving)"
        )
    if reason == CONVERGED:
        return "the optimizer judged further trials unlikely to improve the best objective"
    return "a completion criterion is met"


def _ending(view: TuningJobView, suggest: Callable[[str], str]) -> str | None:
    """A job whose completion criterion is met while trials still run: the operator
    launches no new trial (it still retries an attempt the infrastructure failed), and
    ends the job when its launched trials have ended: Completed, or Failed
    (NoTrialSucceeded) if none of its trials succeeded. spec.stop, maxFailedTrials and
    maxRuntimeSeconds still end it sooner. None for any other job."""
    status = view.status
    reason = status.reason or ""
    running_condition = status.condition(ConditionType.RUNNING.value)
    finishing = running_condition is not None and running_condition.reason == FINISHING
    if reason == MAX_TRIALS_REACHED or not (reason in _ENDING_REASONS or finishing):
        return None
    launched, waiting = _launched(view)
    why = _why_ending(view)
    if launched == 0:  # the operator has not written its ending yet
        return f"The job is ending ({reason}: {why}): nothing more is launched."
    outcome = "completes" if status.counters.completed else "ends"  # as finish_running
    text = (
        f"The job is ending ({reason}: {why}): no new trial is launched; it {outcome} when "
        f"{_ending_trials(launched, waiting)}"
    )
    if outcome == "ends":
        text += f": Completed if one of them succeeds, else Failed ({NO_TRIAL_SUCCEEDED})"
    refused = _refused(view)
    if refused is not None:
        text += (
            f". Trial {refused.name}'s pod is refused by the namespace ("
            f"{refused.message or 'refused'}): it starts once the quota, LimitRange or "
            f"ServiceAccount allows it, or `{suggest('stop')}` ends the job now (Stopped)"
        )
    return text + "."


def _refused(view: TuningJobView) -> Trial | None:
    """The first trial whose pod the namespace refuses (a quota, a LimitRange...)."""
    pending = (t for t in view.trials if t.phase == "Pending")
    return next((t for t in pending if t.reason == POD_REFUSED), None)


def _budgets(view: TuningJobView, now: datetime) -> list[str]:
    status, limits = view.status, view.spec.limits
    # An ended job launches no more: its maxTrials (editable afterwards) is no budget left.
    launched = f"{len(view.trials)} launched" + (
        "" if view.terminal else f" of {limits.max_trials}"
    )
    lines = [f"  Trials:        {view.trials_done()} ended, {launched}"]
    if status.start_time is not None:
        elapsed = ((status.completion_time or now) - status.start_time).total_seconds()
        cap = (
            f" of {output.duration(limits.max_runtime_seconds)}"
            if limits.max_runtime_seconds
            else ""
        )
        lines.append(f"  Runtime:       {output.duration(elapsed)}{cap}")
    lines.append(f"  Trial-seconds: {output.number(status.consumed_seconds)}")
    if view.hyperband:
        rungs = ", ".join(str(r) for r in view.rungs)
        where = f"; rungs at {rungs} of {view.max_resource} epochs" if view.rungs else ""
        consumed = output.number(status.epochs_consumed or 0)
        lines.append(f"  Epochs:        {consumed} (over the ended trials{where})")
    elif (epochs := _epochs(view)) is not None:
        lines.append(f"  Epochs:        {epochs}")
    return lines


def _epochs(view: TuningJobView) -> str | None:
    """The epochs the ended trials trained, where an `epochs` hyperparameter says (static
    or tuned), with what they are counted over; None when none says. A succeeded trial
    trained its `epochs`; one that never started, none; one stopped or failed on the way
    as many as the values of the objective it printed (at most its `epochs`), which is
    exact where the trainer prints one per epoch (a succeeded trial printed as many as its
    `epochs`) and otherwise a lower bound, said as such. (A Hyperband job counts its
    trials' epochs itself: `status.epochsConsumed`.)"""
    static = (view.spec.static_hyperparameters or {}).get("epochs")
    total, known, cut, per_epoch = 0.0, False, 0, False
    for trial in view.trials:
        text = trial.hyperparameters.get("epochs", static)
        if trial.phase in ("Pending", "Running") or text is None:
            continue
        try:
            full = float(text)
        except ValueError:
            continue
        known = True
        if trial.phase == "Succeeded":
            total += full
            per_epoch = per_epoch or (full > 1 and trial.intermediate_count == full)
        elif trial.start_time is not None:  # never started: trained nothing
            total += min(full, trial.intermediate_count)
            cut += trial.intermediate_count < full
    if not known:
        return None
    if not cut:
        return f"{output.number(total)} (over the ended trials)"
    counted = (
        f"{output.count(cut, 'trial')} that stopped or failed early counted by the "
        "objective values they printed"
    )
    if per_epoch:
        return f"{output.number(total)} (over the ended trials; {counted}, one per epoch)"
    return (
        f"at least {output.number(total)} (over the ended trials; {counted}: the trainer "
        "may train more epochs than it prints values)"
    )


def warm_start_carried(spec: TuningJobSpec, parent: TuningJobView) -> str:
    """What a warm start of a job of `spec` takes of `parent` (`warm_start_trials`), for
    `_warm_start`: its trials that produced a value; of a Hyperband parent, how many of
    them trained to the end and how many stopped at a rung, which only a Hyperband job
    with the same rungs takes (at that rung)."""
    valued = len(warm_start_observations([parent.status]))
    if not parent.hyperband:
        return f"{output.count(valued, 'trial')} with a value"
    trained = sum(
        t.phase is TrialPhase.SUCCEEDED and t.objective is not None for t in parent.status.trials
    )
    stopped = f"{valued - trained} stopped at a rung"
    if len(warm_start_trials(spec, [(parent.spec, parent.status)])) == valued:
        return (
            f"{output.count(valued, 'trial')} with a value: {trained} trained to the end, {stopped}"
        )
    return f"{output.count(trained, 'trial')} trained to the end; {stopped}, not carried"


def warm_start_parent(spec: TuningJobSpec, parent: TuningJobView) -> str:
    """A warm start's parent as `describe` shows it: what the warm start carries of it
    and its best trial, which a user compares the job's own with (did the child beat
    its parent?)."""
    carried = warm_start_carried(spec, parent)
    best = parent.status.best_trial
    return carried if best is None else f"{carried}; its best {best_objective(parent)}, {best.name}"


def _warm_start(view: TuningJobView, parents: Mapping[str, int | str] | None) -> list[str]:
    """The parents of a warm start, each with what the warm start carries of it: its
    trials that produced a value (an int), or in words (a str: `warm_start_carried`, or
    why it is not known); names only where `parents` is None."""
    if view.spec.warm_start is None:
        return []
    shown = []
    for name in view.spec.warm_start.parents:
        found = None if parents is None else parents.get(name, "not read")
        if isinstance(found, int):
            shown.append(f"{name} ({output.count(found, 'trial')} with a value)")
        else:
            shown.append(name if found is None else f"{name} ({found})")
    return [f"Warm start: {', '.join(shown)}"]


DESCRIBED_MESSAGES = 5
"""`describe` shows this many different messages of succeeded trials, the most common
first; `kubetune trials` shows every trial's."""


def _succeeded_messages(view: TuningJobView, trials: str) -> list[str]:
    """Each message of a succeeded trial once (what its log lacked: a metric that never
    matched, ...), with how many succeeded trials have it and the first few of them; no
    line when none has one. `trials`: the `kubetune trials` command that lists them all."""
    succeeded = [t for t in view.trials if t.phase == "Succeeded"]
    having: dict[str, list[str]] = {}
    for trial in succeeded:
        if trial.message:
            having.setdefault(" ".join(trial.message.split()), []).append(trial.name)
    if not having:
        return []
    lines = ["Succeeded trials' messages:"]
    common_first = sorted(having.items(), key=lambda item: -len(item[1]))  # stable
    for message, names in common_first[:DESCRIBED_MESSAGES]:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        lines.append(f"  {len(names)} of {len(succeeded)} ({shown}): {message}")
    if len(having) > DESCRIBED_MESSAGES:
        lines.append(
            f"  ... {len(having) - DESCRIBED_MESSAGES} more messages: `{trials}` shows each trial's"
        )
    return lines


def describe_text(
    view: TuningJobView,
    events: Sequence[Any] | None,
    now: datetime,
    no_events: str = "none kept (a local run)",
    parents: Mapping[str, int | str] | None = None,
    operator: str | None = None,
    suggest: Callable[[str], str] | None = None,
) -> str:
    """`kubetune describe`: phase, budgets, counters, best trial, the messages of succeeded
    trials, conditions, Events (None: a local run, which keeps none), next. `parents`:
    each warm-start parent's finished trials, or why they are unknown (None: names only).
    `operator`: that no operator serves the job, and what that means (`serving`).
    `suggest`: the command it suggests of a subcommand (`trials` → `kubetune -n demo
    trials NAME`: with the -n, --context and --kubeconfig the user gave, so that copied it
    reads the same job; a local run named by its directory); default `kubetune SUB NAME`."""
    suggest = suggest or _plain(view)
    spec, status = view.spec, view.status
    deleting = serving.deleting_text(view, now)
    counters = status.counters
    lines = [
        f"Name:       {view.name}",
        f"Namespace:  {view.namespace}",
        f"Strategy:   {spec.strategy.value}",
        *_warm_start(view, parents),
        f"Objective:  {spec.objective.type.value} {view.objective_metric}",
        f"Phase:      {view.phase}" + (f" ({status.reason})" if status.reason else ""),
        *([f"Deleting:   {deleting}."] if deleting else []),
        *([f"Operator:   {operator[0].upper()}{operator[1:]}"] if operator else []),
        f"Message:    {status.message or output.MISSING}",
        "Budgets:",
        *_budgets(view, now),
        "Counters:   "
        + ", ".join(
            f"{name} {value}"
            for name, value in (
                ("pending", counters.pending),
                ("running", counters.running),
                ("completed", counters.completed),
                ("failed", counters.failed),
                ("early stopped", counters.early_stopped),
                ("stopped", counters.stopped),
                ("retried", counters.retried),
            )
        ),
    ]
    best = status.best_trial
    if best is None:
        lines.append("Best trial: none" + ("" if view.terminal else " yet"))
    else:
        lines.append(f"Best trial: {best.name}  {view.objective_metric}={best_objective(view)}")
        lines += [f"  {k} = {v}" for k, v in best_hyperparameters(view).items()]
    lines += _succeeded_messages(view, suggest("trials"))
    lines.append("Conditions:")
    lines += [
        f"  {c.type:<10} {c.status.value:<6} {c.reason:<24} {c.message}".rstrip()
        for c in status.conditions
        # kstatus' (for Flux and Helm's --wait) restate the phase and the Running or
        # Failed condition above them.
        if c.type not in (ConditionType.RECONCILING, ConditionType.STALLED)
    ] or ["  none"]
    lines.append("Events (most recent last):")
    if events is None:
        lines.append(f"  {no_events}")
    else:
        lines += [_event_line(e, now) for e in list(events)[-10:]] or ["  none"]
    lines.append(f"Next:       {_refused_operator(view, events) or next_step(view, suggest)}")
    return "\n".join(lines) + "\n"


def _refused_operator(view: TuningJobView, events: Sequence[Any] | None) -> str | None:
    """Why a job no operator seems to have picked up (Pending, no status written) waits,
    where a Forbidden Event says an operator has it but RBAC refuses it a call (writing
    the status, say): not 'is the operator running?'. None otherwise."""
    if not_picked_up(view) is None or not any(e.reason == "Forbidden" for e in events or ()):
        return None
    return (
        "An operator has the job but is refused an API call (Forbidden, in the Events "
        "above): grant what the Event names in the operator's ClusterRole or Role "
        "(charts/kubetune/templates/rbac.yaml); it retries with backoff."
    )


def _event_line(event: Any, now: datetime) -> str:
    when = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
    age = output.duration((now - when).total_seconds()) if when else output.MISSING
    return f"  {age:>7} ago  {event.type:<8} {event.reason:<20} {event.message or ''}".rstrip()

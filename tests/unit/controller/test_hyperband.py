"""`strategy: Hyperband` in the controller: rung values recorded in the trials' status,
stops decided by the optimizer's replayable rung decisions, configurations from the
Hyperband sampler, epochs counted; driven through plan()."""

from __future__ import annotations

from typing import Any

from kubetune.operator.api import Phase, Strategy, TrialPhase, TuningJobStatus
from kubetune.operator.api.constants import MAX_TRIAL_MESSAGE_LENGTH
from kubetune.operator.controller import (
    ObjectiveOutcome,
    Optimizer,
    Plan,
    Snapshot,
    WarmTrial,
    plan,
)
from kubetune.operator.controller.hyperband import (
    JUDGED_AT_END,
    levels,
    rung_records,
    stop_message,
)
from kubetune.operator.controller.optimizer_input import search_space
from kubetune.operator.controller.types import NOT_A_NUMBER
from kubetune.optimizer import suggest_hyperband
from support.plan_sim import Sim
from support.specs import make_spec


def hyperband_spec(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "strategy": "Hyperband",
        "hyperband": {"minResource": 1, "maxResource": 9, "reductionFactor": 3},
        "limits": {"maxTrials": 6, "maxParallelTrials": 3},
        **overrides,
    }
    return make_spec(**fields)


class Job(Sim):
    """A Hyperband job whose running trials have printed `curves` so far."""

    def __init__(self, **overrides: Any) -> None:
        super().__init__(hyperband_spec(**overrides))
        self.curves: dict[str, list[float]] = {}
        self.suggested: list[dict[str, Any]] = []

    def step(self, optimizer: Optimizer | None = None, **snapshot: Any) -> Plan:
        def spy(*args: Any, **kw: Any) -> list[dict[str, Any]]:
            self.suggested.append({"trials": args[1], **kw})
            return suggest_hyperband(*args, **kw)

        optimizer = optimizer or Optimizer(suggest_hyperband=spy)
        return super().step(optimizer, curves=self.curves, **snapshot)

    def trial(self, i: int) -> Any:
        return self.status.trials[i]


def started() -> Job:
    """Three trials launched and running."""
    job = Job()
    job.step()
    job.step()
    assert [t.phase for t in job.status.trials] == [TrialPhase.RUNNING] * 3
    return job


def test_the_rungs_come_from_the_spec_or_the_static_epochs() -> None:
    assert levels(hyperband_spec()) == [1, 3]
    inferred = make_spec(strategy="Hyperband", staticHyperparameters={"epochs": "27"})
    assert levels(inferred) == [1, 3, 9]


def test_launches_come_from_the_hyperband_sampler_with_the_running_trials_pending() -> None:
    job = Job()
    job.step()
    assert len(job.status.trials) == 3
    assert job.suggested[0]["n"] == 3
    assert job.suggested[0]["n_levels"] == 3
    assert job.suggested[0]["sampler"].kind == "SobolBayesian"  # the default
    assert job.spec.strategy is Strategy.HYPERBAND


def test_a_trial_outside_the_top_third_at_a_rung_is_stopped_with_its_job_deleted() -> None:
    job = started()
    a, b, c = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5], b: [0.7, 0.69], c: [0.3]}
    decided = job.step()
    # Recorded in trial order: a first (alone: continues), b worse than a (rank 2 of 2 >
    # max(1, 2 // 3)): stopped at rung 0, c best so far: continues.
    assert [job.trial(i).rung_values for i in range(3)] == [[0.5], [0.7], [0.3]]
    assert [job.trial(i).rung_seqs for i in range(3)] == [[0], [1], [2]]
    stopped = job.trial(1)
    assert stopped.phase is TrialPhase.EARLY_STOPPED
    assert stopped.reason == "StoppedAtRung0"
    assert stopped.message is not None and "rung 0 (1 epoch)" in stopped.message
    assert stopped.objective == 0.7
    assert stopped.epochs == 2
    assert stopped.job_name in decided.delete
    assert job.trial(0).phase is TrialPhase.RUNNING
    assert job.trial(2).phase is TrialPhase.RUNNING
    # Its slot goes to a new configuration.
    assert len(job.status.trials) == 4
    assert job.status.epochs_consumed == 2


def test_a_value_is_recorded_once_and_decisions_replay_from_the_records_alone() -> None:
    job = started()
    a, b, c = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5], b: [0.7], c: [0.3]}
    job.step()
    recorded = job.status.model_copy(deep=True)
    # Same curves again, and a restart that has not read any log yet: nothing changes.
    for curves in (job.curves, {}):
        again = plan(Snapshot("tj", "uid", 1, job.spec, recorded, job.jobs, curves=curves), job.now)
        space = search_space(job.spec)
        assert rung_records(space, again.status.trials) == rung_records(space, recorded.trials)
        before = [(t.phase, t.reason) for t in recorded.trials[:3]]
        assert [(t.phase, t.reason) for t in again.status.trials[:3]] == before
        assert again.launch == []


def test_a_recorded_losing_value_stops_a_trial_that_still_runs() -> None:
    """The record was written but the trial is still Running (written by an older
    operator, or by hand): the replay stops it, at that rung, from the records."""
    job = started()
    status = job.status.model_copy(deep=True)
    status.trials[0].rung_values, status.trials[0].rung_seqs = [0.2], [0]
    status.trials[1].rung_values, status.trials[1].rung_seqs = [0.9], [1]
    decided = plan(Snapshot("tj", "uid", 1, job.spec, status, job.jobs), job.now)
    assert decided.status.trials[1].phase is TrialPhase.EARLY_STOPPED
    assert decided.status.trials[1].reason == "StoppedAtRung0"
    assert decided.status.trials[0].phase is TrialPhase.RUNNING


def test_a_trial_past_several_rungs_in_one_read_is_judged_at_each_in_turn() -> None:
    job = started()
    a, b, _ = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5, 0.4, 0.3]}
    job.step()
    assert job.trial(0).rung_values == [0.5, 0.3]  # values after 1 and 3 epochs
    assert job.trial(0).phase is TrialPhase.RUNNING
    # b: best at rung 0 (continues), worse than a at rung 1: stopped there.
    job.curves[b] = [0.45, 0.44, 0.43, 0.42]
    job.step()
    assert job.trial(1).rung_values == [0.45, 0.43]
    assert job.trial(1).phase is TrialPhase.EARLY_STOPPED
    assert job.trial(1).reason == "StoppedAtRung1"
    assert job.trial(1).epochs == 4


def test_a_succeeded_trial_counts_its_epochs_and_the_job_ends_at_max_trials() -> None:
    job = started()
    for _ in range(20):
        running = job.running()
        if not running:
            break
        name = next(t.name for t in job.status.trials if running[0].startswith(t.name))
        job.curves[name] = [0.1] * 9
        job.finish(running[0], state="Succeeded", outcome=ObjectiveOutcome(0.1, 9))
        job.step()
    assert job.status.phase is Phase.COMPLETED
    assert len(job.status.trials) == 6
    assert all(t.epochs == 9 for t in job.status.trials)
    assert job.status.epochs_consumed == 54
    # Succeeded trials' rung values are recorded too: later trials are compared with them.
    assert all(t.rung_values == [0.1, 0.1] for t in job.status.trials)


def test_a_rung_value_after_the_last_launch_moves_the_best_until_the_job_ends() -> None:
    """QA82 H1: once every configuration of maxTrials was launched (waiting for the
    running ones), and when the job ends with no trial having run its maxResource (here
    spec.stop), a value recorded at a higher rung still moves the provisional best; it
    was set only at a look that launched trials, so it stayed at rung 0 (or none)."""
    job = Job(limits={"maxTrials": 2, "maxParallelTrials": 2})
    job.step()
    job.step()
    a, b = (job.trial(i).name for i in range(2))
    job.curves = {a: [0.5], b: [0.4]}
    job.step()
    assert job.status.best_objective_text == "0.4 (at 1 epoch)"
    job.curves = {a: [0.5], b: [0.4, 0.3, 0.2]}  # b reaches rung 1: all are launched
    job.step()
    assert job.status.best_objective_text == "0.2 (at 3 epochs)"
    assert f"best so far at rung 1 (3 epochs, no trial has run its 9 yet): {b}" in (
        job.status.message or ""
    )
    job.spec = job.spec.model_copy(update={"stop": True})
    job.step()
    assert job.status.phase is Phase.STOPPED
    assert job.status.best_trial is not None
    assert (job.status.best_trial.name, job.status.best_trial.objective) == (b, 0.2)
    assert job.status.best_objective_text == "0.2 (at 3 epochs)"
    assert (job.status.message or "").endswith(
        f"; best so far at rung 1 (3 epochs, no trial has run its 9 yet): {b} with 0.2"
    )


def test_a_job_ending_before_any_launch_look_after_the_first_rung_has_its_best() -> None:
    """QA82 H1's first case: both trials record their first rung and the job ends at the
    same look (spec.stop): no look launched after the values came, and the job had no
    best at all."""
    job = Job(limits={"maxTrials": 2, "maxParallelTrials": 2})
    job.step()
    job.step()
    b = job.trial(1).name
    job.curves = {job.trial(0).name: [0.5], b: [0.4]}
    job.spec = job.spec.model_copy(update={"stop": True})
    job.step()
    assert job.status.phase is Phase.STOPPED
    assert job.status.best_trial is not None and job.status.best_trial.name == b
    assert job.status.best_objective_text == "0.4 (at 1 epoch)"


def test_a_failed_trial_is_never_the_best_at_a_rung() -> None:
    """QA82 H2: a reached rung 1 and then diverged (Failed, ObjectiveNotFinite): it was
    the best so far, and stayed so, named at once as the failure and as the best. The
    best is now among the trials that did not fail, at the highest rung one of them
    reached: b at rung 0, c's stop there (EarlyStopped) a legitimate result too."""
    job = started()
    a, b, c = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5, 0.4, 0.2], b: [0.45], c: [0.6]}
    job.step()
    assert job.status.best_trial is not None and job.status.best_trial.name == a
    assert job.trial(2).phase is TrialPhase.EARLY_STOPPED
    job.curves[a] = [0.5, 0.4, 0.2, float("nan")]
    job.step()
    assert (job.trial(0).phase, job.trial(0).reason) == (TrialPhase.FAILED, "ObjectiveNotFinite")
    best = job.status.best_trial
    assert best is not None and (best.name, best.objective) == (b, 0.45)
    assert job.status.best_objective_text == "0.45 (at 1 epoch)"
    assert f"best so far at rung 0 (1 epoch, no trial has run its 9 yet): {b}" in (
        job.status.message or ""
    )
    # A stopped trial counts: b fails too, c's 0.6 at rung 0 is the best left.
    job.finish(job.trial(1).job_name, state="Failed", reason="Error")
    job.step()
    best = job.status.best_trial
    assert best is not None and (best.name, best.objective) == (c, 0.6)


def test_a_best_that_failed_with_no_other_value_leaves_no_best() -> None:
    job = started()
    a = job.trial(0).name
    job.curves = {a: [0.5]}
    job.step()
    assert job.status.best_trial is not None and job.status.best_trial.name == a
    job.curves[a] = [0.5, float("nan")]  # as a log read gives a diverged value
    job.step()
    assert job.trial(0).phase is TrialPhase.FAILED
    assert (job.status.best_trial, job.status.best_objective_text) == (None, None)
    assert "best so far" not in (job.status.message or "")


def test_other_strategies_record_nothing() -> None:
    sim = Sim(make_spec(limits={"maxTrials": 2, "maxParallelTrials": 1}))
    sim.step(curves={})
    status: TuningJobStatus = sim.status
    assert status.epochs_consumed is None
    assert all(t.rung_values is None for t in status.trials)


def test_before_a_full_trial_the_best_at_the_highest_rung_is_shown_as_such() -> None:
    job = started()
    a, b, c = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5, 0.4, 0.2], b: [0.1], c: [0.6]}
    job.step()
    # a reached rung 1 (3 epochs): it is the best though b's value at rung 0 is lower.
    best = job.status.best_trial
    assert best is not None
    assert (best.name, best.objective) == (a, 0.2)
    assert job.status.best_objective is None  # no final objective: targetObjective waits
    assert job.status.best_objective_text == "0.2 (at 3 epochs)"  # the Best column, marked
    assert job.status.message is not None
    assert f"best so far at rung 1 (3 epochs, no trial has run its 9 yet): {a}" in (
        job.status.message
    )
    # A trial that ran its full budget replaces it.
    job.curves[a] = [0.5, 0.4, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.15]
    job.finish(a, state="Succeeded", outcome=ObjectiveOutcome(0.15, 9))
    job.step()
    assert job.status.best_trial is not None
    assert (job.status.best_trial.name, job.status.best_objective) == (a, 0.15)
    assert job.status.best_objective_text == "0.15"
    assert "best so far" not in (job.status.message or "")


def test_the_sampler_sees_every_trial_at_the_levels_it_reached_and_the_warm_start() -> None:
    job = started()
    a, b, c = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5], b: [0.7]}
    job.finish(c, state="Failed", reason="Error")
    # A parent's trial, as warm_start_trials gives it at this job's levels.
    job.step(warm_start=[WarmTrial({"lr": "0.5", "layers": "2", "opt": "sgd"}, (0.3, 0.05))])
    trials = job.suggested[-1]["trials"]
    parent, ta, tb, tc, *new = trials
    assert (list(parent.values), parent.running) == ([0.3, 0.05], False)  # as carried
    assert (list(ta.values), ta.running) == ([0.5], True)
    assert (list(tb.values), tb.running) == ([0.7], False)  # stopped at rung 0
    assert (list(tc.values), tc.running) == ([], False)  # failed
    assert all(t.running and not t.values for t in new)  # launched, pending


def test_a_trial_that_ended_unjudged_is_stopped_at_the_rung_it_lost_with_its_end() -> None:
    """b passed rung 0 while the operator was down and ran to the end; on the first look
    afterwards it is judged from its log as it would have been live: worse than a at rung
    0, so EarlyStopped there, its full-budget value neither the best nor an observation
    at the full budget."""
    job = started()
    a, b, _ = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5]}
    job.step()
    assert job.trial(0).rung_values == [0.5]
    job.curves[b] = [0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1]
    job.finish(job.trial(1).job_name, state="Succeeded", outcome=ObjectiveOutcome(0.1, 9))
    ended = job.now
    decided = job.step()
    stopped = job.trial(1)
    assert (stopped.phase, stopped.reason) == (TrialPhase.EARLY_STOPPED, "StoppedAtRung0")
    assert stopped.message is not None and "judged only after it ended" in stopped.message
    assert stopped.rung_values == [0.7]  # not its later values: it lost at rung 0
    assert stopped.objective == 0.7
    assert (stopped.epochs, stopped.end_time) == (9, ended)
    assert job.status.best_objective is None
    assert job.status.best_trial is not None and job.status.best_trial.name != b
    # Its full-budget objective, which it does not keep, is not announced.
    assert [e.reason for e in decided.events if b in e.message] == ["TrialEarlyStopped"]
    sampled = job.suggested[-1]["trials"][1]
    assert (list(sampled.values), sampled.running) == ([0.7], False)
    # The decision stands on every later look, with or without the curves.
    for curves in (job.curves, {}):
        again = plan(
            Snapshot("tj", "uid", 1, job.spec, job.status, job.jobs, curves=curves), job.now
        )
        assert again.status.trials[1] == stopped
        assert "TrialEarlyStopped" not in [e.reason for e in again.events]


def test_a_trial_that_ended_unjudged_but_won_its_rungs_succeeds() -> None:
    job = started()
    a, b, _ = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5]}
    job.step()
    job.curves[b] = [0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.08, 0.05]
    job.finish(job.trial(1).job_name, state="Succeeded", outcome=ObjectiveOutcome(0.05, 9))
    job.step()
    assert job.trial(1).phase is TrialPhase.SUCCEEDED
    assert job.trial(1).rung_values == [0.4, 0.3]
    assert job.status.best_objective == 0.05


def test_a_retried_trial_keeps_the_rung_decisions_taken_on_its_earlier_attempt() -> None:
    """Attempt 1 of a passed rung 0 with 0.5, then its pod was evicted. The log is never
    rewritten: a's value there stays (b was judged against it) and attempt 2 is not judged
    there again, even on a value that would lose; it is judged at rung 1 on its own."""
    job = Job(retry={"maxAttempts": 2})
    job.step()
    job.step()
    a, b, c = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5], b: [0.3]}
    job.step()
    assert [job.trial(i).rung_values for i in range(2)] == [[0.5], [0.3]]
    first = job.trial(0).job_name
    job.finish(first, state="Failed", reason="Evicted", infrastructure=True)
    del job.curves[a]
    job.step()
    retried = job.trial(0)
    assert (retried.phase, retried.attempt) == (TrialPhase.PENDING, 2)
    assert (retried.rung_values, retried.rung_seqs) == ([0.5], [0])
    assert retried.job_name != first and retried.job_name in job.jobs
    job.step()
    job.curves[a] = [0.9]  # attempt 2, epoch 1: worse than b's 0.3, not judged again
    job.step()
    assert job.trial(0).phase is TrialPhase.RUNNING
    assert (job.trial(0).rung_values, job.trial(0).rung_seqs) == ([0.5], [0])
    job.curves[a] = [0.9, 0.5, 0.2]  # rung 1, first there: recorded from attempt 2
    job.step()
    assert (job.trial(0).rung_values, job.trial(0).rung_seqs) == ([0.5, 0.2], [0, 2])
    assert job.trial(0).phase is TrialPhase.RUNNING
    assert job.trial(1).phase is TrialPhase.RUNNING and job.trial(2).name == c


def test_a_retried_trial_counts_the_epochs_of_every_attempt() -> None:
    """Attempt 1 of a ran 4 epochs (the values the adapter last read while it ran) and
    was evicted; attempt 2 ran all 9. Both were trained: a's epochs are 4 + 9, counted once
    however often the job is reconciled, and the job's total includes the 4 while attempt 2
    runs."""
    job = Job(retry={"maxAttempts": 2})
    job.step()
    job.step()
    a, b, _ = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5, 0.45, 0.4, 0.38], b: [0.6]}
    job.step()
    job.finish(job.trial(0).job_name, state="Failed", reason="Evicted", infrastructure=True)
    job.step()  # the failed attempt's last-read curve is still in the snapshot
    assert (job.trial(0).phase, job.trial(0).attempt) == (TrialPhase.PENDING, 2)
    assert job.trial(0).epochs == 4
    assert job.status.epochs_consumed == 4 + 1  # b stopped at rung 0 after 1 epoch
    del job.curves[a]
    for _ in range(3):  # nothing is added again while attempt 2 starts and runs
        job.step()
        assert job.trial(0).epochs == 4
    job.curves[a] = [0.3] * 9
    job.finish(job.trial(0).job_name, state="Succeeded", outcome=ObjectiveOutcome(0.3, 9))
    job.step()
    job.step()
    assert (job.trial(0).phase, job.trial(0).epochs) == (TrialPhase.SUCCEEDED, 4 + 9)
    assert job.status.epochs_consumed == sum(t.epochs or 0 for t in job.status.trials)
    assert job.status.epochs_consumed >= 4 + 9 + 1


def test_an_attempt_that_failed_unread_counts_at_least_its_highest_rung() -> None:
    """The operator never read the failed attempt's log after rung 1 (it was down): the
    recorded rung 1 (3 epochs) says the attempt ran at least that far."""
    job = Job(retry={"maxAttempts": 2})
    job.step()
    job.step()
    a = job.trial(0).name
    job.curves = {a: [0.5, 0.4, 0.3]}
    job.step()
    assert job.trial(0).rung_values == [0.5, 0.3]
    job.finish(job.trial(0).job_name, state="Failed", reason="PodDeleted", infrastructure=True)
    job.curves = {}
    job.step()
    assert (job.trial(0).attempt, job.trial(0).epochs) == (2, 3)


def test_a_failed_trial_and_trials_stopped_with_the_job_count_their_epochs() -> None:
    """A trial that fails for good, and running trials stopped when the job ends, count
    the epochs they ran (not 0): the values read from their logs."""
    job = started()
    a, b, c = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5, 0.4], b: [0.4, 0.35], c: [0.3, 0.2]}
    job.step()
    job.finish(job.trial(0).job_name, state="Failed", reason="Error")
    job.step()
    assert (job.trial(0).phase, job.trial(0).epochs) == (TrialPhase.FAILED, 2)
    job.spec = job.spec.model_copy(update={"stop": True})
    job.step()
    assert job.status.phase is Phase.STOPPED
    assert [(t.phase, t.epochs) for t in job.status.trials[1:3]] == [(TrialPhase.STOPPED, 2)] * 2
    # QA82 L7: and the values they printed, as a trial stopped at a rung records them.
    assert [t.intermediate_count for t in job.status.trials[1:3]] == [2, 2]
    job.step()  # the job is over: nothing counted again
    assert job.status.epochs_consumed == 6 + sum(t.epochs or 0 for t in job.status.trials[3:])


def test_a_diverged_trial_fails_at_once_keeping_its_rungs_and_counting_its_epochs() -> None:
    """A trial that prints nan is not trained on to maxResource (F5 of the QA pass): it
    fails ObjectiveNotFinite at the step it diverged, its Job deleted and its slot given
    to a new configuration; the rungs it passed before stay recorded and judged."""
    job = started()
    a, b, c = (job.trial(i).name for i in range(3))
    nan = float("nan")
    job.curves = {a: [0.5, 0.45, nan], b: [nan], c: [0.3, 0.2]}
    decided = job.step()
    for i, (rungs, epochs) in enumerate([([0.5], 3), (None, 1)]):
        trial = job.trial(i)
        assert (trial.phase, trial.reason) == (TrialPhase.FAILED, "ObjectiveNotFinite")
        assert trial.message is not None and f"step {epochs}: " in trial.message
        assert (trial.rung_values, trial.epochs, trial.objective) == (rungs, epochs, None)
        assert trial.job_name in decided.delete
    assert job.trial(2).phase is TrialPhase.RUNNING and job.trial(2).rung_values == [0.3]
    assert len(job.status.trials) == 5 and job.status.epochs_consumed == 4
    assert [e.reason for e in decided.events].count("TrialFailed") == 2
    # The same curves again (a restart that read the logs before its Jobs went): the same.
    again = plan(
        Snapshot("tj", "uid", 1, job.spec, job.status, job.jobs, curves=job.curves), job.now
    )
    assert [(t.phase, t.reason, t.rung_values) for t in again.status.trials[:3]] == [
        (t.phase, t.reason, t.rung_values) for t in job.status.trials[:3]
    ]
    assert again.launch == [] and again.status.counters.failed == 2


def test_the_best_at_rung_0_is_said_to_be_after_1_epoch() -> None:
    """QA67 L3: "(1 epoch, ...)", not "(1 epochs"."""
    job = started()
    job.curves = {job.trial(0).name: [0.5]}
    job.step()
    assert "best so far at rung 0 (1 epoch, no trial has run its 9 yet)" in (
        job.status.message or ""
    )


def test_a_value_that_is_no_number_says_the_trial_escapes_its_later_rungs() -> None:
    """QA82 M5: a's log gives `loss=oops` at epoch 2, so its curve ends there (marked) and
    it is judged at no later rung: it says so while it runs and once it succeeded, with
    one Warning Event, instead of running to the end unjudged without a word."""
    job = started()
    a, b, _ = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5, NOT_A_NUMBER], b: [0.4, 0.35, 0.3]}
    decided = job.step()
    note = "value 2 of the objective is not a number: not judged at rung 1 (3 epochs) or later"
    assert job.trial(0).phase is TrialPhase.RUNNING and job.trial(0).rung_values == [0.5]
    assert job.trial(0).message == note
    warnings = [e for e in decided.events if e.type == "Warning"]
    assert [(e.reason, e.message.split(" so it")[0]) for e in warnings] == [
        ("ObjectiveNotANumber", f"trial {a}: value 2 of loss in its log is not a number,")
    ]
    assert job.trial(1).message is None  # b's values are all numbers
    again = job.step()
    assert job.trial(0).message == note
    assert [e for e in again.events if e.type == "Warning"] == []
    job.finish(job.trial(0).job_name, state="Succeeded", outcome=ObjectiveOutcome(0.2, 9))
    ended = job.step()
    assert (job.trial(0).phase, job.trial(0).message) == (TrialPhase.SUCCEEDED, note)
    assert [e for e in ended.events if e.type == "Warning"] == []
    # A trial that ended unseen says so too, with its Event, then.
    c = job.trial(2).name
    job.curves[c] = [0.3, NOT_A_NUMBER]
    job.finish(job.trial(2).job_name, state="Succeeded", outcome=ObjectiveOutcome(0.1, 9))
    ended = job.step()
    assert (job.trial(2).phase, job.trial(2).rung_values) == (TrialPhase.SUCCEEDED, [0.3])
    assert job.trial(2).message == note
    assert [e.reason for e in ended.events if e.type == "Warning"] == ["ObjectiveNotANumber"]
    # One that printed no number after its last rung escaped nothing: no note.
    d = job.trial(3).name
    job.curves[d] = [0.2, 0.3, 0.1, NOT_A_NUMBER]
    job.step()
    assert (job.trial(3).rung_values, job.trial(3).message) == ([0.2, 0.1], None)


def test_a_stop_message_counts_only_the_values_its_decision_was_taken_among() -> None:
    """QA67 L4: b and c reached rung 0 in one look, b recorded first: b's stop was decided
    among a's value and its own (2), not c's, recorded after it."""
    job = started()
    a, b, c = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5], b: [0.7], c: [0.6]}
    job.step()
    assert [job.trial(i).rung_seqs for i in range(3)] == [[0], [1], [2]]
    stopped = job.trial(1)
    assert stopped.phase is TrialPhase.EARLY_STOPPED
    assert stopped.message == "rung 0 (1 epoch): 0.7 ranked 2nd of 2; the top 1 go on"
    # c, recorded third (rank 2 of 3 > max(1, 3 // 3)), was judged among 3.
    assert job.trial(2).message == "rung 0 (1 epoch): 0.6 ranked 2nd of 3; the top 1 go on"


def test_a_stop_message_gives_the_rank_and_how_many_go_on() -> None:
    """QA82 L5: "not in the top 1/3 of 5 values" left the rounding to guess. Of 6 values
    at rung 0, with η 3, the top 2 go on; a Maximize job ranks the highest first. (The
    first, 0.5, went on: alone there when it arrived.)"""
    job = Job(
        objective={"metric": "accuracy", "type": "Maximize"},
        metrics=[{"name": "accuracy", "regex": "accuracy=(\\S+)"}],
        limits={"maxTrials": 6, "maxParallelTrials": 6},
    )
    job.step()
    job.step()
    names = [t.name for t in job.status.trials]
    values = [0.5, 0.9, 0.8, 0.7, 0.95, 0.6]
    for name, value in zip(names, values, strict=True):  # one look each: in this order
        job.curves[name] = [value]
        job.step()
    messages = {t.name: t.message for t in job.status.trials if t.phase is TrialPhase.EARLY_STOPPED}
    assert messages == {
        names[2]: "rung 0 (1 epoch): 0.8 ranked 2nd of 3; the top 1 go on",
        names[3]: "rung 0 (1 epoch): 0.7 ranked 3rd of 4; the top 1 go on",
        names[5]: "rung 0 (1 epoch): 0.6 ranked 5th of 6; the top 2 go on",
    }


def test_the_longest_stop_message_fits_a_trial_message_whole() -> None:
    """QA82 M1: the stop message of a trial judged when it ended, with the trainer's
    count and the metric's name, was longer than a trial's message (128 characters),
    which lost its middle: the reason. The metric's name is left out (it may have 255
    characters); the worst numbers fit."""
    worst = (
        stop_message(7, 19999, -1.23456789e-100, rank=1000, among=1000, reduction_factor=2)
        + f"; {JUDGED_AT_END}: printed 19999 of 20000 values"
    )
    assert len(worst) <= MAX_TRIAL_MESSAGE_LENGTH, (len(worst), worst)
    # Judged among the trials with its Categorical values, it says so.
    alike = "x" * 24
    assert stop_message(1, 3, 0.5, rank=8, among=8, reduction_factor=3, alike=alike) == (
        f"rung 1 (3 epochs): 0.5 ranked 8th of 8 with its {alike}; the top 2 go on"
    )
    assert stop_message(0, 1, 0.5, rank=11, among=12, reduction_factor=3).endswith(
        "0.5 ranked 11th of 12; the top 4 go on"
    )
    # Through plan(), with a metric name of the longest kind: the message is kept whole.
    metric = "m" * 255
    job = Job(
        objective={"metric": metric, "type": "Minimize"},
        metrics=[{"name": metric, "regex": "loss=(\\S+)"}],
    )
    job.step()
    job.step()
    for i, value in ((0, 0.3), (1, 0.5)):  # trainers that print only a final value
        job.curves[job.trial(i).name] = [value]
        job.finish(job.trial(i).job_name, state="Succeeded", outcome=ObjectiveOutcome(value, 1))
        job.step()
    first, second = job.trial(0), job.trial(1)
    assert first.message == "printed 1 of 9 objective values (Hyperband needs one per epoch)"
    assert second.message == (
        "rung 0 (1 epoch): 0.5 ranked 2nd of 2; the top 1 go on; "
        "judged at its end: printed 1 of 9 values"
    )


def test_a_trial_printing_more_values_than_max_resource_fails_the_job_at_once() -> None:
    """QA67 M3: a regex that also matches the training line gives two values per epoch;
    as soon as a trial shows more values than maxResource, every rung decision is known
    to be on the wrong values: the job fails, naming the trial, the count and the fix, its
    running trials stopped; a's epochs are capped at maxResource."""
    job = started()
    a, b, _ = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5] * 10, b: [0.4, 0.4]}
    decided = job.step()
    status = job.status
    assert (status.phase, status.reason) == (Phase.FAILED, "TooManyObjectiveValues")
    assert status.message.startswith(
        f"trial {a} printed 10 values of loss, more than its 9 epochs (maxResource): "
    )
    assert "more than one line per epoch" in status.message
    assert "then create a new TuningJob" in status.message
    assert [(e.type, e.reason) for e in decided.events][-1] == ("Warning", "TooManyObjectiveValues")
    assert [t.phase for t in status.trials] == [TrialPhase.STOPPED] * 3
    assert sorted(decided.delete) == sorted(job.trial(i).job_name for i in range(3))
    assert decided.launch == []
    assert job.trial(0).epochs == 9  # not 10: no trial trains more than maxResource
    # QA82 L6: its values at the rungs were read from the wrong lines: no best at a rung.
    assert job.trial(1).rung_values == [0.4]
    assert (status.best_trial, status.best_objective_text) == (None, None)
    assert "best so far" not in status.message
    # Decided from the records on: the job has ended, and stays so without the curves.
    again = plan(Snapshot("tj", "uid", 1, job.spec, job.status, job.jobs), job.now)
    assert again.status == job.status and again.launch == [] and again.events == []


def test_a_succeeded_trial_with_more_values_than_max_resource_fails_the_job() -> None:
    job = started()
    a = job.trial(0).name
    job.finish(job.trial(0).job_name, state="Succeeded", outcome=ObjectiveOutcome(0.1, 18))
    job.step()
    assert (job.status.phase, job.status.reason) == (Phase.FAILED, "TooManyObjectiveValues")
    assert f"trial {a} printed 18 values of loss" in job.status.message
    assert job.trial(0).epochs == 9
    # QA82 L6: its objective is the last line the regex matched, a wrong one (a training
    # loss): not the job's best, on this look or a later one.
    status = job.status
    assert (status.best_trial, status.best_objective, status.best_objective_text) == (
        None,
        None,
        None,
    )
    job.step()
    assert (job.status.best_trial, job.status.best_objective) == (None, None)


def test_a_trial_that_succeeded_with_fewer_values_than_max_resource_is_pointed_out() -> None:
    """QA67 M3: a trainer that prints the objective only when it ends. The trial that
    succeeded says so, with a Warning Event, and the job's message keeps it to the end; the
    next one, judged at rung 0 on its final value, says it was judged when it ended (not
    "judged only after it ended", as if read late). Not a failure: a trainer may stop on
    its own before its last epoch."""
    job = started()
    a, b, _ = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.3]}
    job.finish(job.trial(0).job_name, state="Succeeded", outcome=ObjectiveOutcome(0.3, 1))
    decided = job.step()
    first = job.trial(0)
    assert first.phase is TrialPhase.SUCCEEDED
    assert first.message == "printed 1 of 9 objective values (Hyperband needs one per epoch)"
    warnings = [e for e in decided.events if e.type == "Warning"]
    assert [(e.reason, e.message.split(": Hyperband")[0]) for e in warnings] == [
        (
            "TooFewObjectiveValues",
            f"trial {a} exited successfully but printed 1 value of loss in a 9-epoch trial",
        )
    ]
    note = (
        f"; 1 trial ended having printed fewer values of loss than 9 epochs (first: {a}, "
        "1 value): Hyperband needs one value per epoch to judge trials at their rungs"
    )
    assert job.status.phase is Phase.IN_PROGRESS
    assert (job.status.message or "").endswith(note)
    job.curves[b] = [0.5]
    job.finish(job.trial(1).job_name, state="Succeeded", outcome=ObjectiveOutcome(0.5, 1))
    decided = job.step()
    second = job.trial(1)
    assert (second.phase, second.reason) == (TrialPhase.EARLY_STOPPED, "StoppedAtRung0")
    assert second.message is not None and "only after it ended" not in second.message
    assert second.message == (
        "rung 0 (1 epoch): 0.5 ranked 2nd of 2; the top 1 go on; "
        "judged at its end: printed 1 of 9 values"
    )
    assert [e.reason for e in decided.events if e.type == "Warning"] == ["TooFewObjectiveValues"]
    # QA82 M2: the job's note counts it too: it ended having printed too few values.
    note = note.replace("; 1 trial ended", "; 2 trials ended")
    assert (job.status.message or "").endswith(note)
    # Posted once: a later look posts nothing again and keeps the note.
    again = job.step()
    assert [e for e in again.events if e.type == "Warning"] == []
    assert (job.status.message or "").endswith(note)
    # A trial stopped at its rung while it ran (it printed its values) is not counted.
    job.curves[job.trial(2).name] = [0.9]
    job.step()
    assert job.trial(2).phase is TrialPhase.EARLY_STOPPED
    assert (job.status.message or "").endswith(note)


def test_values_read_in_one_look_are_recorded_in_the_order_they_were_printed() -> None:
    """QA82 M7: b printed its rung values before a did, and both ended while the operator
    was down. Read in one look, they are recorded in print order, not trial by trial, so
    a is judged against b at rung 0 and stopped there (ranked 2nd of 2), as by an
    operator that stayed up and saw b's values first."""
    a_curve = [0.5, 0.45, 0.4, 0.35, 0.3, 0.28, 0.26, 0.24, 0.22]
    b_curve = [0.3, 0.25, 0.2, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02]
    second = 1_000_000_000
    b_times = [(1 + s) * second for s in range(9)]  # b's epochs end before a's
    a_times = [(20 + s) * second for s in range(9)]

    stayed_up = started()
    a, b, _ = (stayed_up.trial(i).name for i in range(3))
    stayed_up.curves = {b: b_curve[:1]}
    stayed_up.step()
    stayed_up.curves = {b: b_curve[:3]}
    stayed_up.step()
    stayed_up.curves = {b: b_curve[:3], a: a_curve[:1]}
    stayed_up.step()

    restarted = started()
    restarted.curves = {a: a_curve, b: b_curve}
    for trial, value in ((a, a_curve[-1]), (b, b_curve[-1])):
        job = next(t.job_name for t in restarted.status.trials if t.name == trial)
        restarted.finish(job, state="Succeeded", outcome=ObjectiveOutcome(value, 9))
    restarted.step(curve_times={a: a_times, b: b_times})

    for job in (stayed_up, restarted):
        assert [(t.rung_values, t.rung_seqs) for t in job.status.trials[:2]] == [
            ([0.5], [2]),
            ([0.3, 0.2], [0, 1]),
        ]
        stopped = job.trial(0)
        assert (stopped.phase, stopped.reason) == (TrialPhase.EARLY_STOPPED, "StoppedAtRung0")
        assert stopped.message is not None and "ranked 2nd of 2" in stopped.message
    assert restarted.trial(1).phase is TrialPhase.SUCCEEDED


def test_values_read_in_one_look_without_print_times_are_recorded_rung_by_rung() -> None:
    """A local run's logs have no times: values read in one look are recorded rung by
    rung (every rung-0 value before any rung-1 value), each rung in trial order."""
    job = started()
    a, b, c = (job.trial(i).name for i in range(3))
    job.curves = {a: [0.5, 0.45, 0.4], b: [0.3, 0.25, 0.2], c: [0.4]}
    job.step()
    assert [(t.rung_values, t.rung_seqs) for t in job.status.trials[:3]] == [
        ([0.5, 0.4], [0, 3]),
        ([0.3, 0.2], [1, 4]),
        ([0.4], [2]),
    ]


def test_a_rung_judges_a_trial_among_its_categorical_values_once_there_are_enough() -> None:
    """The spec's `opt` is Categorical: once 2η = 6 trials with its value have a value at
    a rung, a trial is judged among those (models learn at their own pace), and its
    message says so; before, among every value there."""
    job = Job(limits={"maxTrials": 16, "maxParallelTrials": 16})
    job.step()
    job.step()
    by_opt: dict[str, list[str]] = {}
    for trial in job.status.trials:
        by_opt.setdefault(trial.hyperparameters["opt"], []).append(trial.name)
    sgd, adam = by_opt["sgd"], by_opt["adam"]
    assert len(sgd) >= 6 and len(adam) >= 8, by_opt  # the seeded sampler's split: 8 and 8
    job.curves = {name: [0.1 + 0.01 * k] for k, name in enumerate(sgd[:6])}
    job.step()
    for value, name in zip([0.9, 0.8, 0.85, 0.95, 0.7, 0.88, 0.75, 0.99], adam, strict=False):
        job.curves[name] = [value]
        job.step()
    phases = {t.name: t for t in job.status.trials}
    first = phases[adam[0]]
    assert first.phase is TrialPhase.EARLY_STOPPED
    assert first.message == "rung 0 (1 epoch): 0.9 ranked 7th of 7; the top 2 go on"
    # The seventh adam trial is the second best of the seven adam values: it goes on, where
    # among all thirteen values (seven lower) it would have stopped.
    assert phases[adam[6]].phase is TrialPhase.RUNNING
    last = phases[adam[7]]
    assert last.phase is TrialPhase.EARLY_STOPPED
    assert last.message == "rung 0 (1 epoch): 0.99 ranked 8th of 8 with its opt; the top 2 go on"

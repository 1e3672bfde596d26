"""Early stopping (the median stopping rule) and convergence in the engine's plan()."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from kubetune.operator.api import (
    ObjectiveType,
    Phase,
    TrialPhase,
    TuningJobSpec,
)
from kubetune.operator.controller import JobObservation, ObjectiveOutcome, Optimizer, Plan
from kubetune.operator.controller.early_stopping import (
    EARLY_STOPPING_CHECK_SECONDS,
    MedianRule,
)
from kubetune.operator.controller.types import NOT_A_NUMBER
from kubetune.optimizer import suggest
from support.plan_sim import Sim
from support.specs import make_spec

MIN = ObjectiveType.MINIMIZE
MAX = ObjectiveType.MAXIMIZE
PEERS = [[1.0, 0.8, 0.6], [1.2, 1.0, 0.8], [0.8, 0.6, 0.4]]  # running means at 2: 0.9, 1.1, 0.7


def fixed_suggest(space: Any, observations: Any, **kw: Any) -> list[dict[str, Any]]:
    """A fast stand-in for the optimizer: distinct points, never the same twice (the seed
    is the job's; like the optimizer, it mixes in how many trials it is shown)."""
    rng = random.Random(f"{kw['seed']}/{len(observations)}/{len(kw['pending'])}")
    return [
        {"lr": rng.uniform(0.001, 1.0), "layers": rng.randint(1, 4), "opt": "sgd"}
        for _ in range(kw["n"])
    ]


class Job(Sim):
    """A simulated TuningJob whose trials print curves (intermediate values), planned with
    a fast stand-in for the optimizer."""

    def __init__(self, spec: TuningJobSpec, **plan_kw: Any) -> None:
        super().__init__(spec)
        self.curves: dict[str, list[float]] = {}
        self.plan_kw: dict[str, Any] = {"suggest": fixed_suggest, **plan_kw}

    def step(self, optimizer: Optimizer | None = None, **snapshot: Any) -> Plan:
        optimizer = optimizer or Optimizer(**self.plan_kw)
        return super().step(optimizer, curves=self.curves, **snapshot)

    def finish_curve(self, trial: str, curve: Sequence[float]) -> None:
        """The trial's Job succeeded; its log held `curve` (objective: the last value)."""
        self.curves[trial] = list(curve)
        outcome = ObjectiveOutcome(curve[-1], len(curve))
        self.finish(trial, state="Succeeded", outcome=outcome)

    def finish_next(self, curve: Sequence[float]) -> Plan:
        """Finish the first running trial (seeing the pending ones start first if none
        runs yet) with `curve`, and plan."""
        running = [t.name for t in self.status.trials if t.phase is TrialPhase.RUNNING]
        if not running:
            self.step()
            running = [t.name for t in self.status.trials if t.phase is TrialPhase.RUNNING]
        self.finish_curve(running[0], curve)
        return self.step()

    def trial(self, name: str) -> Any:
        return next(t for t in self.status.trials if t.name == name)


def with_peers(
    goal: str = "Minimize", peers: Sequence[Sequence[float]] = PEERS, **spec: Any
) -> Job:
    """A job with earlyStopping Auto whose first len(peers) trials succeeded with `peers`
    as curves, and one more trial running."""
    n = len(peers)
    job = Job(
        make_spec(
            objective={"metric": "loss", "type": goal},
            earlyStopping="Auto",
            limits={"maxTrials": 10, "maxParallelTrials": n + 1},
            **spec,
        )
    )
    job.step()
    for i, curve in enumerate(peers, 1):
        job.finish_curve(f"tj-{i:03d}", curve)
    job.step()
    assert job.status.counters.completed == n
    job.step()  # the replacement trials are seen running
    return job


def test_the_rule_stops_a_curve_worse_than_the_median_of_running_averages() -> None:
    assert MedianRule(PEERS, MIN).judge([1.0, 0.95]) == (2, 0.95, pytest.approx(0.9), 3)
    assert MedianRule(PEERS, MIN).judge([1.0, 0.85]) is None  # better than the median 0.9
    assert MedianRule(PEERS, MIN).judge([0.9, 0.9]) is None  # equal is not worse
    assert MedianRule(PEERS, MIN).judge([5.0]) is None  # step 1: never
    assert MedianRule(PEERS[:2], MIN).judge([1.0, 0.95]) is None  # 2 peers: too few
    # A peer that did not reach the step does not count.
    assert MedianRule([*PEERS[:2], [0.1]], MIN).judge([1.0, 0.95]) is None
    # Its best so far counts, not its latest value: 0.5 at step 1 beats the median.
    assert MedianRule(PEERS, MIN).judge([0.5, 2.0]) is None


def test_maximize_mirrors_minimize() -> None:
    peers = [[-v for v in curve] for curve in PEERS]  # running means at 2: -0.9 -1.1 -0.7
    assert MedianRule(peers, MAX).judge([-1.0, -0.95]) == (2, -0.95, pytest.approx(-0.9), 3)
    assert MedianRule(peers, MAX).judge([-1.0, -0.85]) is None
    # The same curve is judged the other way round under the other goal.
    assert MedianRule(peers, MAX).judge([-0.8, -0.85]) is None  # best -0.8 beats -0.9
    assert MedianRule(peers, MIN).judge([-0.8, -0.85]) is not None  # best -0.85 does not


@pytest.mark.parametrize("goal", ["Minimize", "Maximize"])
def test_plan_stops_a_worse_running_trial_and_frees_its_slot(goal: str) -> None:
    sign = 1.0 if goal == "Minimize" else -1.0
    job = with_peers(goal, [[sign * v for v in curve] for curve in PEERS])
    running = [t.name for t in job.status.trials if t.phase is TrialPhase.RUNNING]
    bad, good = running[0], running[1]
    job.curves[bad] = [sign * 1.0, sign * 0.95, sign * 0.97]  # best 0.95, median 0.8 at step 3
    job.curves[good] = [sign * 0.5, sign * 0.4]
    decided = job.step()
    stopped = job.trial(bad)
    assert (stopped.phase, stopped.reason) == (TrialPhase.EARLY_STOPPED, "EarlyStopped")
    assert stopped.objective == sign * 0.97 and stopped.intermediate_count == 3  # last value
    assert stopped.end_time == job.now and "step 3" in (stopped.message or "")
    assert job.trial(good).phase is TrialPhase.RUNNING
    assert decided.delete == [bad]  # its Job goes, after the status is written
    assert [e.reason for e in decided.events].count("TrialEarlyStopped") == 1
    counters = decided.status.counters
    assert (counters.early_stopped, counters.failed, counters.completed) == (1, 0, 3)
    assert len(decided.launch) == 1  # its slot went to a new trial
    assert decided.requeue_after == EARLY_STOPPING_CHECK_SECONDS
    # The operator died after writing the status, before deleting the Job: the next
    # reconcile deletes it, and the trial stays EarlyStopped.
    job.jobs[bad] = JobObservation(bad, "Running")
    again = job.step()
    assert job.trial(bad).phase is TrialPhase.EARLY_STOPPED and again.delete == [bad]
    assert not job.step().delete


def test_fewer_than_three_succeeded_peers_at_the_step_stop_nothing() -> None:
    job = with_peers(peers=PEERS[:2])
    running = [t for t in job.status.trials if t.phase is TrialPhase.RUNNING]
    job.curves[running[0].name] = [9.0, 9.0, 9.0]
    assert not job.step().delete and job.status.counters.early_stopped == 0
    # Three peers, but only two reached step 3: still undecided at step 3.
    job = with_peers(peers=[*PEERS[:2], [0.1, 0.1]])
    running = [t for t in job.status.trials if t.phase is TrialPhase.RUNNING]
    job.curves[running[0].name] = [9.0, 9.0, 9.0]
    assert not job.step().delete and job.status.counters.early_stopped == 0


def test_a_trial_better_than_the_median_runs_on() -> None:
    job = with_peers()
    running = [t for t in job.status.trials if t.phase is TrialPhase.RUNNING]
    for trial in running:
        job.curves[trial.name] = [0.9, 0.7, 0.5]
    decided = job.step()
    assert not decided.delete and all(t.phase is TrialPhase.RUNNING for t in running)


def test_a_value_that_is_no_number_says_the_trial_escapes_the_rule_from_there() -> None:
    """A log giving `loss=oops` at its second value ends the curve the rule judges there:
    the trial says so while it runs and once it succeeded, with one Warning Event,
    instead of running to its end unjudged without a word (as Hyperband's rungs say)."""
    job = with_peers()
    running = [t.name for t in job.status.trials if t.phase is TrialPhase.RUNNING]
    odd, plain = running[0], running[1]
    job.curves[odd] = [0.85, NOT_A_NUMBER]
    job.curves[plain] = [0.85, 0.5]
    decided = job.step()
    note = "value 2 of the objective is not a number: not judged at step 2 or later"
    assert (job.trial(odd).phase, job.trial(odd).message) == (TrialPhase.RUNNING, note)
    assert job.trial(plain).message is None
    assert [(e.reason, e.message.split(" so it")[0]) for e in decided.events] == [
        ("ObjectiveNotANumber", f"trial {odd}: value 2 of loss in its log is not a number,")
    ]
    assert [e for e in job.step().events if e.type == "Warning"] == []  # said once
    job.finish(odd, state="Succeeded", outcome=ObjectiveOutcome(0.4, 3))  # its last line's
    ended = job.step()
    assert (job.trial(odd).phase, job.trial(odd).message) == (TrialPhase.SUCCEEDED, note)
    assert [e for e in ended.events if e.type == "Warning"] == []


def test_off_never_stops_and_never_requeues_for_it() -> None:
    job = with_peers()
    job.spec = job.spec.model_copy(update={"early_stopping": "Off"})
    running = [t for t in job.status.trials if t.phase is TrialPhase.RUNNING]
    job.curves[running[0].name] = [9.0, 9.0, 9.0]
    decided = job.step()
    assert not decided.delete and decided.requeue_after is None


def test_the_stopped_value_is_an_observation_for_the_optimizer() -> None:
    seen: list[list[tuple[dict[str, Any], float]]] = []

    def spy(space: Any, observations: Any, **kw: Any) -> list[dict[str, Any]]:
        seen.append(list(observations))
        return fixed_suggest(space, observations, **kw)

    job = with_peers()
    job.plan_kw["suggest"] = spy
    bad = next(t for t in job.status.trials if t.phase is TrialPhase.RUNNING)
    job.curves[bad.name] = [2.0, 1.5]
    job.step()
    assert (bad.hyperparameters, 1.5) in seen[-1]  # as recorded; the optimizer parses it
    assert len(seen[-1]) == 4  # 3 succeeded + the early-stopped one


def test_an_early_stopped_trial_is_never_the_best_nor_meets_the_target() -> None:
    # Peers that got worse at the end (overfitting): final objectives 5, 5.5, 6.
    peers = [[1.0, 1.0, 5.0], [1.2, 1.2, 5.5], [0.8, 0.8, 6.0]]
    job = with_peers(peers=peers, completionCriteria={"targetObjective": 3.0})
    bad = next(t for t in job.status.trials if t.phase is TrialPhase.RUNNING)
    job.curves[bad.name] = [2.0, 2.0]  # worse than the median running average 1.0
    decided = job.step()
    assert job.trial(bad.name).phase is TrialPhase.EARLY_STOPPED
    assert job.trial(bad.name).objective == 2.0  # better than every succeeded one...
    assert decided.status.best_trial is not None
    assert decided.status.best_trial.name == "tj-001" and decided.status.best_objective == 5.0
    assert decided.status.reason != "TargetObjectiveReached"  # ...and meets no target
    assert len(decided.launch) == 1


# --------------------------------------------------------------------------- convergence


def converging_job(converged: Any, strategy: str = "Bayesian", **limits: Any) -> Job:
    return Job(
        make_spec(
            strategy=strategy,
            limits={"maxTrials": 30, "maxParallelTrials": 2, **limits},
            completionCriteria={"convergence": "Auto"},
        ),
        converged=converged,
    )


def run_until_terminal(job: Job, limit: int = 100) -> None:
    job.step()
    for _ in range(limit):
        if job.status.phase is not Phase.IN_PROGRESS:
            return
        running = [t.name for t in job.status.trials if t.phase is TrialPhase.RUNNING]
        if running:
            job.finish_curve(running[0], [float(len(job.status.trials))])
        job.step()
    raise AssertionError("did not finish")


def test_convergence_completes_the_job_only_after_the_minimum_of_trials() -> None:
    calls: list[int] = []

    def converged(space: Any, observations: Sequence[Any], *, goal: str, seed: int) -> bool:
        calls.append(len(observations))
        assert goal == "Minimize" and isinstance(seed, int)
        return len(observations) >= 12

    job = converging_job(converged)
    run_until_terminal(job)
    status = job.status
    assert calls and min(calls) >= 10  # max(10, 2 x 3 parameters) succeeded first
    assert (status.phase, status.reason) == (Phase.COMPLETED, "Converged")
    condition = status.condition("Succeeded")
    assert condition is not None and (condition.status, condition.reason) == ("True", "Converged")
    # The trial running when it converged was let finish, and nothing launched after.
    assert status.counters.completed == len(status.trials) == 13
    assert status.counters.stopped == 0


def test_convergence_is_kept_while_running_trials_finish() -> None:
    answers = iter([True])

    def converged_once(*_: Any, **__: Any) -> bool:
        return next(answers, False)  # a later "no" must not restart launching

    job = converging_job(converged_once)
    job.step()
    while job.status.counters.completed < 10:
        job.finish_next([1.0])
    assert job.status.reason == "Converged" and job.status.phase is Phase.IN_PROGRESS
    trials = len(job.status.trials)
    decided = job.finish_next([1.0])
    assert not decided.launch and len(decided.status.trials) == trials
    assert (decided.status.phase, decided.status.reason) == (Phase.COMPLETED, "Converged")


def test_convergence_is_asked_only_for_bayesian_and_when_auto() -> None:
    def never(*_: Any, **__: Any) -> bool:
        raise AssertionError("not to be asked")

    for job in (
        converging_job(never, strategy="Random", maxTrials=12),
        Job(make_spec(strategy="Bayesian", limits={"maxTrials": 12}), converged=never),
    ):
        run_until_terminal(job)
        assert job.status.reason == "MaxTrialsReached"


def test_a_failing_convergence_test_fails_the_job_like_the_optimizer() -> None:
    def broken(*_: Any, **__: Any) -> bool:
        raise ValueError("singular matrix")

    job = converging_job(broken)
    run_until_terminal(job)
    assert (job.status.phase, job.status.reason) == (Phase.FAILED, "SuggestionFailed")
    assert "convergence" in (job.status.message or "")


def test_the_real_convergence_test_is_wired() -> None:
    """The optimizer's own suggest and has_converged (the defaults): an objective that only
    the categorical parameter moves is soon judged converged."""
    job = Job(
        make_spec(
            strategy="Bayesian",
            limits={"maxTrials": 40, "maxParallelTrials": 1},
            completionCriteria={"convergence": "Auto"},
        ),
        suggest=suggest,
    )
    job.step()
    while job.status.phase is Phase.IN_PROGRESS:
        trial = next((t for t in job.status.trials if t.phase is TrialPhase.RUNNING), None)
        if trial is None:
            job.step()
            continue
        job.finish_curve(trial.name, [1.0 if trial.hyperparameters["opt"] == "sgd" else 2.0])
        job.step()
    assert (job.status.phase, job.status.reason) == (Phase.COMPLETED, "Converged")
    assert 10 <= len(job.status.trials) < 40


def test_a_diverged_trial_fails_at_once_and_diverged_peers_count_up_to_their_divergence() -> None:
    nan = float("nan")
    # A peer that diverged at step 3 counts at steps 1 and 2 only: at step 3 two peers.
    assert MedianRule([*PEERS[:2], [0.8, 0.6, nan]], MIN).judge([1.0, 0.95, 0.97]) is None
    assert MedianRule([*PEERS[:2], [0.8, 0.6, nan]], MIN).judge([1.0, 0.95]) is not None
    assert MedianRule(PEERS, MIN).judge([0.5, 0.4, nan]) is None  # judged on [0.5, 0.4]
    job = with_peers()
    running = [t.name for t in job.status.trials if t.phase is TrialPhase.RUNNING]
    job.curves[running[0]] = [nan]  # from its first value: no peers needed
    decided = job.step()
    trial = job.trial(running[0])
    assert (trial.phase, trial.reason) == (TrialPhase.FAILED, "ObjectiveNotFinite")
    assert trial.objective is None and trial.intermediate_count == 1
    assert decided.delete == [running[0]] and len(decided.launch) == 1
    # Where running trials are not judged, a diverged trial trains on to its end.
    job = with_peers()
    job.spec = job.spec.model_copy(update={"early_stopping": "Off"})
    running = [t.name for t in job.status.trials if t.phase is TrialPhase.RUNNING]
    job.curves[running[0]] = [1.0, nan]
    assert not job.step().delete and job.trial(running[0]).phase is TrialPhase.RUNNING

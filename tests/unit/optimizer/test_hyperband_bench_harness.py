"""The Hyperband benchmark's simulator and problems in their smallest form: the recorded
table, the synthetic optima, and simulated runs that are deterministic and stop where the
rules say."""

from __future__ import annotations

import numpy as np
import pytest
from bench.curves import (
    DIGITS_TABLE,
    DIGITS_TABLE_MORE,
    CurveProblem,
    Params,
    crossing_levy_problem,
    crossing_problem,
    digits_problem,
    load_table,
    powerlaw6_problem,
    powerlaw_problem,
    slowstart_ackley_problem,
)
from bench.multifidelity import (
    AdaptiveFirstRung,
    FullBudget,
    Hyperband,
    OracleChoice,
    PerfectRungs,
    Run,
    Trial,
    median_stops,
    simulate,
)
from bench.tables import DIGITS, DIGITS_200, DIGITS_1000, TableTask
from bench_hyperband import rung_rank_correlations
from kubetune.optimizer.encoding import Encoder
from kubetune.optimizer.suggest import sobol_values
from record_learning_curves import sample_configs


def test_the_recorded_table_is_shipped_small_and_complete() -> None:
    assert DIGITS_TABLE.stat().st_size < 1_000_000
    records = load_table()
    assert len(records) >= 300
    epochs = max(len(r["accuracy"]) for r in records)  # type: ignore[arg-type]
    assert epochs == 27
    for r in records:
        assert len(r["accuracy"]) == len(r["seconds"]) <= epochs  # type: ignore[arg-type]
    finals = [r["accuracy"][-1] for r in records if len(r["accuracy"]) == epochs]  # type: ignore[index, arg-type]
    # A task where the hyperparameters matter: a wide spread of final accuracies.
    assert max(finals) > 0.95 and float(np.median(finals)) < max(finals) - 0.03


def test_the_more_digits_table_continues_the_table_with_the_same_sampling() -> None:
    """The 1,683 extra records are the configurations that follow the table's 317 in the
    recorder's one sequence, each recorded over the full budget or until it diverged."""
    table, more = load_table(), load_table(DIGITS_TABLE_MORE)
    assert DIGITS_TABLE_MORE.stat().st_size < 1_000_000
    assert [r["index"] for r in table] == list(range(317))
    assert [r["index"] for r in more] == list(range(317, 2000))
    configs = sample_configs(2000)
    assert [r["params"] for r in table + more] == configs
    assert all(0 < len(r["accuracy"]) <= 27 for r in more)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("task", "configs", "median_below_best"), [(DIGITS_200, 1000, 0.3), (DIGITS_1000, 600, 0.2)]
)
def test_a_later_task_is_its_own_sequence_recorded_in_full(
    task: TableTask, configs: int, median_below_best: float
) -> None:
    """digits200 and digits1000: configurations drawn from the task's own space and
    seed, each recorded over the full budget or until it diverged, on a task where the
    hyperparameters matter."""
    records = load_table(task.path)
    assert task.path.stat().st_size < 1_000_000
    assert [r["index"] for r in records] == list(range(configs))
    assert [r["params"] for r in records] == sample_configs(configs, task)
    assert all(0 < len(r["accuracy"]) == len(r["seconds"]) <= 27 for r in records)  # type: ignore[arg-type]
    finals = [r["accuracy"][-1] for r in records if len(r["accuracy"]) == 27]  # type: ignore[index, arg-type]
    assert max(finals) > 0.95 and float(np.median(finals)) < max(finals) - median_below_best


@pytest.mark.parametrize(
    ("task", "index"), [(DIGITS, 7), (DIGITS_200, 7), (DIGITS_200, 993), (DIGITS_1000, 7)]
)
def test_a_recorded_configuration_replays_its_own_curve(task: TableTask, index: int) -> None:
    records = load_table(task.path)
    problem = digits_problem(records, task)
    record = records[index]
    curve = problem.curve(record["params"], np.random.default_rng(0))  # type: ignore[arg-type]
    assert np.allclose(curve.observed, 1.0 - np.array(record["accuracy"]))


@pytest.mark.parametrize(
    "make",
    [
        powerlaw_problem,
        crossing_problem,
        slowstart_ackley_problem,
        powerlaw6_problem,
        crossing_levy_problem,
    ],
)
def test_synthetic_optimum_is_a_lower_bound_reached_at_the_last_epoch(make: object) -> None:
    problem = make()  # type: ignore[operator]
    rng = np.random.default_rng(0)
    from kubetune.optimizer import suggest  # noqa: PLC0415

    for params in suggest(problem.space, [], strategy="Random", n=200, seed=3):
        curve = problem.curve(params, rng)
        assert len(curve.true) == problem.max_resource
        assert curve.true[-1] >= problem.optimum - 1e-4
        assert curve.true[0] > curve.true[-1]  # loss falls with training


def test_the_crossing_family_optimum_is_where_the_docstring_says() -> None:
    problem = crossing_problem()
    best = {"u": (np.pi + 5) / 15, "v": 2.275 / 15, "learning_rate": 0.01, "batch_size": 16}
    curve = problem.curve(best, np.random.default_rng(0))
    assert curve.true[-1] == pytest.approx(problem.optimum, abs=1e-5)


@pytest.mark.parametrize(
    ("make", "best"),
    [
        (slowstart_ackley_problem, {"a": 0.0, "b": 0.0, "dropout": 0.3, "model": "resnet"}),
        (
            powerlaw6_problem,
            {
                **dict(
                    zip(
                        [f"x{i}" for i in range(6)],
                        [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573],
                        strict=True,
                    )
                ),
                "optimizer": "sgd",
            },
        ),
        (
            crossing_levy_problem,
            {"x0": 1.0, "x1": 1.0, "x2": 1.0, "learning_rate": 10**-2.5, "batch_size": 8},
        ),
    ],
)
def test_the_held_out_optima_are_where_the_docstrings_say(make: object, best: Params) -> None:
    problem = make()  # type: ignore[operator]
    curve = problem.curve(best, np.random.default_rng(0))
    assert curve.true[-1] == pytest.approx(problem.optimum, abs=1e-4)


def _stop_after(resource: int):  # type: ignore[no-untyped-def]
    return lambda run: run.resource >= resource


def test_simulation_is_deterministic_and_counts_epochs() -> None:
    problem = powerlaw_problem()
    runs: list[Run] = [
        simulate(problem, FullBudget(problem, "Random", 5), 5, stop=_stop_after(200))
        for _ in range(2)
    ]
    assert runs[0].progress == runs[1].progress
    assert runs[0].resource == 200
    # Random never stops a trial: every finished trial ran max_resource epochs.
    assert [p.resource for p in runs[0].progress][:1] >= [problem.max_resource]


def test_hyperband_trials_end_at_a_rung_or_the_full_budget() -> None:
    problem = powerlaw_problem()
    tuner = Hyperband(problem, "Random", 1)
    ended: list[int] = []
    finished = tuner.finished

    def spy(trial):  # type: ignore[no-untyped-def]
        ended.append(trial.epochs)
        finished(trial)

    tuner.finished = spy  # type: ignore[method-assign]
    simulate(problem, tuner, 1, stop=_stop_after(600))
    assert set(ended) <= {1, 3, 9, 27}
    reached = [sum(e >= rung for e in ended) for rung in (1, 3, 9, 27)]
    assert reached[0] > reached[1] > reached[2] > reached[3] > 0, reached
    assert reached[1] < reached[0] / 2  # about a third continue past the first rung


def _trials_of_a_run(
    problem: CurveProblem, tuner: Hyperband, seed: int, epochs: int
) -> list[Trial]:
    """Simulate ``epochs`` epochs and return the run's trials (as the tuner saw them last)."""
    seen: list[list[Trial]] = []
    propose = tuner.propose

    def spy(trials: list[Trial]) -> Params:
        seen[:] = [trials]
        return propose(trials)

    tuner.propose = spy  # type: ignore[method-assign]
    simulate(problem, tuner, seed, stop=_stop_after(epochs))
    (trials,) = seen
    return trials


@pytest.mark.parametrize("sampler", ["Random", "Sobol"])
def test_perfect_rungs_never_stop_the_best_configuration(sampler: str) -> None:
    """On crossing curves the early epochs mislead, so plain Hyperband may stop the
    eventual best; the reference judges on the true final loss, so the best configuration is
    the best so far at every rung it reaches and is never stopped."""
    problem = crossing_problem()
    trials = _trials_of_a_run(problem, PerfectRungs(problem, 2, sampler), 2, 600)
    best = min(trials, key=lambda t: float(t.curve.true[-1]))
    assert not best.stopped
    assert sum(t.stopped for t in trials) > len(trials) / 2  # the rungs did stop most


def test_perfect_rungs_can_be_perfect_at_some_rungs_only() -> None:
    """The diagnostic rows: perfect at the later rungs only, the first rung judges on the
    observed loss after one epoch, the later rungs on the true final loss."""
    problem = crossing_problem()
    tuner = PerfectRungs(problem, 3, "Sobol", slice(1, None))
    trials = _trials_of_a_run(problem, tuner, 3, 400)
    later = 0
    for trial in trials:
        values = tuner.values.get(trial.number, [])
        if values:
            assert values[0] == float(trial.curve.observed[0])
        for value in values[1:3]:
            assert value == float(trial.curve.true[-1])
            later += 1
    assert later > 0


def test_the_oracle_choice_takes_the_truly_best_of_the_sobol_bayesian_candidates() -> None:
    """The reference's two candidates are those the shipped SobolBayesian sampler chooses
    between (it proposes one of them), and it takes the one with the lower true final loss;
    with four, the one with the lowest of the points 4k ... 4k + 3."""
    problem = crossing_problem()
    trials = _trials_of_a_run(problem, Hyperband(problem, "SobolBayesian", 4), 4, 300)
    encoder = Encoder(problem.space)

    def final(params: Params) -> float:
        return float(problem.curve(params, np.random.default_rng(0)).true[-1])

    for k in (3, 20, len(trials)):
        pair = encoder.values_to_params(sobol_values(encoder, 4, 2 * k, 2))
        shipped = Hyperband(problem, "SobolBayesian", 4).propose(trials[:k])
        assert shipped in pair
        assert OracleChoice(problem, 4, 2).propose(trials[:k]) == min(pair, key=final)
        four = encoder.values_to_params(sobol_values(encoder, 4, 4 * k, 4))
        assert OracleChoice(problem, 4, 4).propose(trials[:k]) == min(four, key=final)


def test_adaptive_first_rung_judges_probes_first_at_epoch_eta() -> None:
    """Every fourth trial is a probe, first judged at epoch 3: no probe ends before it,
    while trials first judged at epoch 1 do end there."""
    problem = crossing_problem()
    tuner = AdaptiveFirstRung(problem, "Sobol", 5)
    trials = _trials_of_a_run(problem, tuner, 5, 500)
    ended = [t for t in trials if t.stopped or t.epochs == problem.max_resource]
    assert all(tuner.bracket[t.number] == 1 for t in trials if t.number % 4 == 3)
    assert sum(tuner.bracket[n] for n in tuner.ran_to_end) >= 2  # probes ran to the end
    assert all(t.epochs >= 3 for t in ended if tuner.bracket[t.number] == 1)
    assert any(t.epochs == 1 for t in ended if tuner.bracket[t.number] == 0)


def test_adaptive_first_rung_moves_when_most_probes_would_have_stopped() -> None:
    """The evidence: probes that ran to the end, and whether their epoch-1 value is in
    the top third of every other trial's. Two of three would have stopped: judge later."""
    tuner = AdaptiveFirstRung(crossing_problem(), "Sobol", 0)
    tuner.values = {n: [float(n)] for n in range(9)}  # trial n's loss after one epoch: n
    tuner.bracket = dict.fromkeys(range(9), 0) | {3: 1, 7: 1, 8: 1}
    tuner.ran_to_end = {0, 3}
    assert not tuner.first_rung_misleads()  # one probe: not enough
    tuner.ran_to_end = {0, 3, 7}
    assert tuner.first_rung_misleads()  # 3 and 7 are outside the top third of 8 others
    tuner.values[7] = [-1.0]
    assert not tuner.first_rung_misleads()  # now one of two would have stopped
    tuner.ran_to_end = {0, 3, 7, 8}
    assert tuner.first_rung_misleads()  # two of three


def test_median_rule_stops_a_curve_worse_than_the_peers_median() -> None:
    peers = [np.array([0.5, 0.4, 0.3]), np.array([0.6, 0.5, 0.4]), np.array([0.7, 0.6, 0.5])]
    assert not median_stops(np.array([0.9]), peers)  # step 1: too early
    assert median_stops(np.array([0.9, 0.8]), peers)  # best 0.8 > median average 0.55
    assert not median_stops(np.array([0.9, 0.5]), peers)
    assert not median_stops(np.array([0.9, 0.8]), peers[:2])  # too few peers


def test_rung_rank_correlations_grow_with_the_epoch_on_the_powerlaw_family() -> None:
    rho = rung_rank_correlations(powerlaw_problem(), n=200)
    assert list(rho) == [1, 3, 9]
    assert all(-1.0 <= r <= 1.0 for row in rho.values() for r in row)
    assert rho[1][0] < rho[3][0] < rho[9][0]
    assert rho[9][2] > 0.8  # late rungs rank even the best tenth well here


def test_early_epochs_do_not_rank_the_best_digits_configurations() -> None:
    """The finding the benchmark's docstring reports: on the recorded table the early
    epochs order all configurations well but the best tenth no better than chance."""
    rho = rung_rank_correlations(digits_problem(load_table()))
    assert rho[1][0] > 0.4 and rho[9][0] > 0.85
    assert rho[1][2] < 0.1 and rho[9][2] < 0.3


def test_the_mobster_sampler_proposes_in_the_space_deterministically_and_runs() -> None:
    """The bench-only MOBSTER sampler: its EI is the joint GP's at the full resource, the
    proposals are valid and repeatable, and a short simulated run goes through."""
    from bench.mobster import AtMaxResource, suggest_mobster  # noqa: PLC0415
    from bench.multifidelity import Mobster  # noqa: PLC0415
    from kubetune.optimizer import HyperbandTrial, suggest  # noqa: PLC0415
    from kubetune.optimizer.encoding import Encoder  # noqa: PLC0415

    class Inner:
        lengthscales = np.array([1.0, 2.0, 3.0])

        def __call__(self, x: np.ndarray) -> np.ndarray:
            return x[:, 0] + 10 * x[:, 2]

        def with_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
            return float(x[0] + 10 * x[2]), np.array([1.0, 0.0, 10.0])

    wrapped = AtMaxResource(Inner())
    assert list(wrapped(np.array([[0.5, 0.2]]))) == [10.5]
    assert wrapped.with_gradient(np.array([0.5, 0.2]))[0] == 10.5
    assert list(wrapped.with_gradient(np.array([0.5, 0.2]))[1]) == [1.0, 0.0]
    assert list(wrapped.lengthscales) == [1.0, 2.0]

    problem = crossing_problem()
    rng = np.random.default_rng(0)
    trials = []
    for i, params in enumerate(suggest(problem.space, [], strategy="Random", n=12, seed=5)):
        curve = problem.curve(params, rng)
        depth = 1 + i % 4  # values at the first `depth` levels (1, 3, 9 epochs, then 27)
        trials.append(
            HyperbandTrial(params, [float(curve.observed[r - 1]) for r in (1, 3, 9, 27)][:depth])
        )
    trials.append(HyperbandTrial(trials[0].params, [], running=True))
    first = suggest_mobster(problem.space, trials, [1, 3, 9, 27], seed=3)
    assert first == suggest_mobster(problem.space, trials, [1, 3, 9, 27], seed=3)
    assert Encoder(problem.space).parse(first) is not None
    run = simulate(problem, Mobster(problem, 0), 0, stop=lambda r: r.resource >= 60)
    assert run.resource == 60 and run.trials > 4

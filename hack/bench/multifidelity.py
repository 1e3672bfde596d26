"""The simulator and the tuners of ``hack/bench_hyperband.py``.

The simulator replays tuning runs on learning-curve problems (``bench.curves``) with
asynchronous workers and a simulated clock, as Syne Tune's blackbox-repository simulation
does: a free worker asks the tuner for a configuration, the trial then reports its loss
after each epoch at the simulated time that epoch ends, and after every report the tuner
says whether it continues. Nothing sleeps; a run of hundreds of trials takes seconds, and
the same seed gives the same run.
"""

# Optuna is optional (the `bench` extra) and imported where used.
# ruff: noqa: PLC0415

from __future__ import annotations

import heapq
import math
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from bench.curves import Curve, CurveProblem, Params
from bench.mobster import suggest_mobster
from kubetune.optimizer import (
    Categorical,
    Continuous,
    HyperbandSampler,
    HyperbandTrial,
    Observation,
    RungLog,
    comparison_group,
    continues_at_rung,
    rung_levels,
    suggest,
    suggest_hyperband,
)
from kubetune.optimizer.encoding import Encoder, default_warp
from kubetune.optimizer.gp import GPRegressor, fit_kernel_params
from kubetune.optimizer.suggest import sobol_values

WORKERS = 4
REDUCTION_FACTOR = 3


@dataclass
class Trial:
    number: int
    params: Params
    curve: Curve
    epochs: int = 0  # epochs done so far
    stopped: bool = False

    @property
    def losses(self) -> np.ndarray:
        """The observed losses so far (epochs,)."""
        return self.curve.observed[: self.epochs]


class Tuner(Protocol):
    def propose(self, trials: list[Trial]) -> Params: ...

    def report(self, trial: Trial) -> bool:
        """The trial has just finished epoch ``trial.epochs``: continue?"""
        ...

    def finished(self, trial: Trial) -> None:
        """It ran to the end of its curve, or was stopped (``trial.stopped``)."""
        ...


@dataclass(frozen=True)
class Progress:
    """After a trial ran to the end: epochs spent by all trials so far, simulated
    seconds, and the true final loss of the best trial that ran to the end (by its
    observed final loss: the one a user would pick)."""

    resource: int
    seconds: float
    best_true: float


@dataclass
class Run:
    progress: list[Progress] = field(default_factory=list)
    trials: int = 0
    resource: int = 0
    seconds: float = 0.0


def simulate(
    problem: CurveProblem,
    tuner: Tuner,
    seed: int,
    *,
    stop: Callable[[Run], bool],
    workers: int = WORKERS,
) -> Run:
    """Run ``tuner`` on ``problem`` until ``stop(run)`` (checked after every epoch)."""
    run = Run()
    trials: list[Trial] = []
    events: list[tuple[float, int]] = []  # (time the next epoch ends, trial number)
    best_observed = best_true = math.inf

    def start(now: float) -> None:
        params = tuner.propose(trials)
        noise = np.random.default_rng([seed, len(trials), 7])  # this trial's noise draw
        trial = Trial(len(trials), params, problem.curve(params, noise))
        trials.append(trial)
        heapq.heappush(events, (now + float(trial.curve.seconds[0]), trial.number))

    for _ in range(workers):
        start(0.0)
    while events and not stop(run):
        now, number = heapq.heappop(events)
        trial = trials[number]
        trial.epochs += 1
        run.resource += 1
        run.seconds = now
        keep_going = tuner.report(trial)
        if keep_going and trial.epochs < len(trial.curve.observed):
            heapq.heappush(events, (now + float(trial.curve.seconds[trial.epochs]), number))
            continue
        trial.stopped = not keep_going and trial.epochs < problem.max_resource
        tuner.finished(trial)
        run.trials += 1
        if not trial.stopped:
            final = float(trial.curve.observed[trial.epochs - 1])
            if final < best_observed or not run.progress:
                best_observed = final
                best_true = float(trial.curve.true[trial.epochs - 1])
            run.progress.append(Progress(run.resource, now, best_true))
        start(now)
    return run


# --------------------------------------------------------------------------- kubetune


class FullBudget:
    """kubetune's Random or Bayesian strategy; every trial runs to the end, unless
    ``median`` applies the median stopping rule."""

    def __init__(self, problem: CurveProblem, strategy: str, seed: int, median: bool = False):
        self.problem, self.strategy, self.seed, self.median = problem, strategy, seed, median
        self.observations: list[Observation] = []
        self.peers: list[np.ndarray] = []  # completed trials' observed curves

    def propose(self, trials: list[Trial]) -> Params:
        running = [t.params for t in trials if t.epochs < len(t.curve.observed) and not t.stopped]
        (params,) = suggest(
            self.problem.space,
            self.observations,
            strategy=self.strategy,  # type: ignore[arg-type]
            pending=running,
            seed=self.seed,
        )
        return params

    def report(self, trial: Trial) -> bool:
        return not (self.median and median_stops(trial.losses, self.peers))

    def finished(self, trial: Trial) -> None:
        # As the operator does: an early-stopped trial counts with its last value.
        self.observations.append(Observation(trial.params, float(trial.losses[-1])))
        if not trial.stopped:
            self.peers.append(trial.losses)


# The operator's median rule (`median_stopping` in operator/engine.py, with its constants
# EARLY_STOPPING_MIN_STEP = 2 and EARLY_STOPPING_MIN_PEERS = 3), re-implemented here for
# minimisation because the benchmark must not import the operator; keep the two in step
# until the rule moves into the optimizer.
MEDIAN_MIN_STEP, MEDIAN_MIN_PEERS = 2, 3


def median_stops(curve: np.ndarray, peers: list[np.ndarray]) -> bool:
    step = len(curve)
    if step < MEDIAN_MIN_STEP:
        return False
    averages = [float(np.mean(peer[:step])) for peer in peers if len(peer) >= step]
    if len(averages) < MEDIAN_MIN_PEERS:
        return False
    return statistics.median(averages) < float(np.min(curve))


class Hyperband:
    """kubetune's Hyperband: the ASHA stopping rule of ``kubetune.optimizer`` at each
    rung, and ``suggest_hyperband`` for new configurations. ``brackets`` > 1 is the
    asynchronous Hyperband of Li et al. (trial i starts in bracket i mod brackets, whose
    first rung is min_resource·η^bracket), tried with the Random sampler only.
    ``grouped=False`` judges every trial among all the values at its rung, as kubetune
    did before it judged among the trials with its values of the Categorical parameters
    (``kubetune.optimizer.RungLog``)."""

    def __init__(
        self,
        problem: CurveProblem,
        sampler: str,
        seed: int,
        *,
        brackets: int = 1,
        fit: str = "rank",
        random_fraction: float = 0.0,
        grouped: bool = True,
    ):
        self.problem, self.seed, self.brackets, self.grouped = problem, seed, brackets, grouped
        self.sampler = HyperbandSampler(sampler, fit, random_fraction)  # type: ignore[arg-type]
        self.levels = rung_levels(1, problem.max_resource, REDUCTION_FACTOR)
        self.logs: dict[int, RungLog] = {}  # bracket -> the values at its rungs
        self.values: dict[int, list[float]] = {}  # trial -> its values at each level

    def views(self, trials: list[Trial]) -> list[HyperbandTrial]:
        """The trials as the samplers see them: parameters, values at the levels reached,
        and whether they still run."""
        return [
            HyperbandTrial(
                t.params,
                self.values.get(t.number, []),
                running=t.epochs < len(t.curve.observed) and not t.stopped,
            )
            for t in trials
        ]

    def propose(self, trials: list[Trial]) -> Params:
        (params,) = suggest_hyperband(
            self.problem.space,
            self.views(trials),
            n_levels=len(self.levels) + 1,
            sampler=self.sampler,
            seed=self.seed,
        )
        return params

    def rung_value(self, trial: Trial) -> float:
        """The value a trial is judged on at a rung: its loss after the rung's epochs."""
        return float(trial.losses[-1])

    def first_rung(self, trial: Trial) -> int:
        """The index of the first rung that judges ``trial`` (its bracket)."""
        return trial.number % self.brackets

    def report(self, trial: Trial) -> bool:
        bracket = self.first_rung(trial)
        if trial.epochs not in self.levels[bracket:]:
            return True
        value = self.rung_value(trial)
        self.values.setdefault(trial.number, []).append(value)
        log = self.logs.setdefault(bracket, RungLog(REDUCTION_FACTOR))
        rung = self.levels.index(trial.epochs)
        group = comparison_group(self.problem.space, trial.params) if self.grouped else ()
        peers = log.peers(rung, group)
        keep_going = continues_at_rung(value, peers, reduction_factor=REDUCTION_FACTOR)
        log.add(rung, group, value)
        return keep_going

    def finished(self, trial: Trial) -> None:
        if not trial.stopped and trial.epochs == self.problem.max_resource:
            self.values.setdefault(trial.number, []).append(float(trial.losses[-1]))


class PerfectRungs(Hyperband):
    """A reference, not a tuner: Hyperband whose rungs judge each trial by its true final
    loss, as if the early epochs ranked configurations without a mistake. Where it still
    needs more than a target allows, its sampler cannot meet that target with any stopping
    rule: the rest must come from sampling. (Not a bound seed by seed: other stopping
    decisions change the run's timing and its noise draws.)"""

    def __init__(
        self,
        problem: CurveProblem,
        seed: int,
        sampler: str = "Random",
        perfect: slice = slice(None),
    ):
        # Among all the values at a rung: what a ranking without mistakes gains, measured
        # before the rungs judged among the trials with the same Categorical values.
        super().__init__(problem, sampler, seed, grouped=False)
        # The rungs (a slice of self.levels) that judge by the true final loss; the others
        # judge as Hyperband does. All of them by default.
        self.perfect = range(len(self.levels))[perfect]

    def rung_value(self, trial: Trial) -> float:
        if self.levels.index(trial.epochs) in self.perfect:
            return float(trial.curve.true[-1])
        return super().rung_value(trial)


class OracleChoice(Hyperband):
    """A reference, not a tuner: trial k takes, of the Sobol points c·k ... c·k + c − 1
    (the SobolBayesian sampler's candidates when c = 2), the one with the lowest true
    final loss, as if the model that chooses among them never erred. With c = 2 it bounds
    what any choice rule can gain over the shipped EI choice; with more candidates it
    shows what steering harder does to the rungs (docs/benchmarks.md, bench-hyperband)."""

    def __init__(self, problem: CurveProblem, seed: int, candidates: int):
        super().__init__(problem, "SobolBayesian", seed)
        self.candidates = candidates
        self.encoder = Encoder(problem.space)

    def propose(self, trials: list[Trial]) -> Params:
        c = self.candidates
        points = self.encoder.values_to_params(
            sobol_values(self.encoder, self.seed, c * len(trials), c)
        )
        # The true curve does not depend on the noise generator.
        finals = [self.problem.curve(p, np.random.default_rng(0)).true[-1] for p in points]
        return points[int(np.argmin(finals))]


class AdaptiveFirstRung(Hyperband):
    """Hyperband whose first judgement moves from epoch 1 to epoch η when the job's own
    curves say epoch 1 misjudges (a design variant, measured in docs/benchmarks.md).

    Every ``probe_every``-th trial is a probe, first judged at epoch η (its own bracket,
    as in asynchronous Hyperband). A probe that ran to the end is evidence: would the
    first rung have stopped it (is its epoch-1 value outside the top 1/η of every other
    trial's)? While most of at least ``min_probes`` such probes would have been stopped,
    every new trial is first judged at epoch η; the evidence is read again at every
    proposal, so the choice is a function of the recorded values, as crash safety asks.
    """

    def __init__(
        self,
        problem: CurveProblem,
        sampler: str,
        seed: int,
        probe_every: int = 4,
        min_probes: int = 2,
    ):
        super().__init__(problem, sampler, seed)
        self.probe_every, self.min_probes = probe_every, min_probes
        self.bracket: dict[int, int] = {}  # trial -> 0 (first judged at epoch 1) or 1
        self.ran_to_end: set[int] = set()

    def first_rung_misleads(self) -> bool:
        probes = [n for n in self.ran_to_end if self.bracket[n] == 1]
        if len(probes) < self.min_probes:
            return False
        would_stop = sum(
            not continues_at_rung(
                self.values[n][0],
                [values[0] for m, values in self.values.items() if m != n],
                reduction_factor=REDUCTION_FACTOR,
            )
            for n in probes
        )
        return 2 * would_stop > len(probes)

    def propose(self, trials: list[Trial]) -> Params:
        k = len(trials)
        probe = k % self.probe_every == self.probe_every - 1
        self.bracket[k] = 1 if probe or self.first_rung_misleads() else 0
        return super().propose(trials)

    def first_rung(self, trial: Trial) -> int:
        return self.bracket[trial.number]

    def report(self, trial: Trial) -> bool:
        # A level below the trial's first rung is not judged, but its value still goes to
        # the sampler, so that every trial's values line up with the levels (values[0] is
        # the loss after one epoch: the evidence).
        if trial.epochs in self.levels[: self.first_rung(trial)]:
            self.values.setdefault(trial.number, []).append(self.rung_value(trial))
            return True
        return super().report(trial)

    def finished(self, trial: Trial) -> None:
        super().finished(trial)
        if not trial.stopped and trial.epochs == self.problem.max_resource:
            self.ran_to_end.add(trial.number)


def rung_predictor(
    encoder: Encoder,
    configs: np.ndarray,
    at_rung: np.ndarray,
    later: np.ndarray,
    depth: np.ndarray | None = None,
    params: Any = None,
) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], Any]:
    """A predictor of the final loss from (configuration, loss at a rung), fitted on
    trials that went on past the rung: ``configs`` (n, d) raw values
    (``Encoder.parse``), ``at_rung`` (n,) their losses at the rung, ``later`` (n,) their
    losses at a later level, ``depth`` (n,) that level as log(epochs) / log(max epochs)
    (None: every row is a final loss; otherwise it is a feature, and predictions are at
    depth 1, the full budget).

    A GP over [encoded configuration, rung loss scaled to [0, 1] over the rows'
    range(, depth)] fitted to the change later − rung loss, predicted value = rung loss
    + posterior mean; where the GP knows nothing (a configuration far from the rows, a
    rung loss outside their range) it reverts to the mean change, so the ranking is the
    raw one (fitted to the later loss itself, it would revert to the mean: a hopeless
    trial then looks average; docs/benchmarks.md). ``params``: kernel
    hyperparameters to reuse instead of fitting (returned with the predictor)."""
    ok = np.isfinite(at_rung) & np.isfinite(later)
    configs, at_rung, later = configs[ok], at_rung[ok], later[ok]
    if depth is not None:
        depth = depth[ok]
    low, spread = float(np.min(at_rung)), float(np.ptp(at_rung)) or 1.0
    raw_target = later - at_rung
    mean, std = float(np.mean(raw_target)), float(np.std(raw_target)) or 1.0
    extra = 1 if depth is None else 2
    is_categorical = np.append(encoder.is_categorical, [False] * extra)

    def features(c: np.ndarray, v: np.ndarray, d: np.ndarray | None) -> np.ndarray:
        columns = [encoder.encode_values(c), (v - low) / spread]
        if depth is not None:
            columns.append(np.ones(len(v)) if d is None else d)
        return np.column_stack(columns)

    X, y = features(configs, at_rung, depth), (raw_target - mean) / std
    if params is None:
        params, _ = fit_kernel_params(X, y, is_categorical, n_restarts=1)
    gp = GPRegressor(X, y, is_categorical, params)

    def predict(c: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = np.full(len(v), math.inf)
        finite = np.isfinite(v)
        if finite.any():
            mu, _ = gp.posterior(features(c[finite], v[finite], None))
            out[finite] = mean + std * mu + v[finite]
        return out

    return predict, params


class ModelJudgedRungs(Hyperband):
    """Hyperband whose rungs judge a trial by a prediction of its final loss instead of
    its loss at the rung (a design variant, measured in docs/benchmarks.md): a GP
    (``rung_predictor``) fitted on the trials that ran to the end maps (configuration,
    loss at the rung) to the final loss. The continue rule stays ASHA's top 1/η, applied
    to the predictions of this trial's and of every earlier value at the rung, all
    re-predicted by the one model fitted on the trials that had ended before this
    decision: so a decision is a function of the recorded raw values (the rung log up to
    this record and the finals recorded before it), as crash safety asks, and the
    recorded values stay raw (the sampler sees them unchanged). While fewer than
    ``min_trials`` trials ran to the end, a rung judges the raw values, as Hyperband.
    ``rungs``: the rungs that use the model (the others judge raw values). ``train``
    "later": the model is fitted instead on every later value of the trials past the
    rung (its level a feature; at most ``max_rows`` rows, the deepest levels first), so it
    starts after a few promotions rather than a few ended trials."""

    def __init__(
        self,
        problem: CurveProblem,
        seed: int,
        *,
        min_trials: int = 8,
        rungs: slice = slice(None),
        train: str = "ended",
        max_rows: int = 96,
    ):
        super().__init__(problem, "SobolBayesian", seed)
        self.min_trials = min_trials
        self.train, self.max_rows = train, max_rows
        self.all_levels = [*self.levels, problem.max_resource]
        self.fits: dict[int, tuple[int, Any]] = {}  # rung -> (rows at the last fit, params)
        self.judged = range(len(self.levels))[rungs]  # rungs that use the model
        self.encoder = Encoder(problem.space)
        self.configs: dict[int, np.ndarray] = {}  # trial -> raw parameter values (d,)
        self.at_rung: dict[int, list[int]] = {}  # rung -> trials recorded there, in order
        self.ended: list[int] = []  # trials that ran to the end, in order
        self.models: dict[tuple[int, Any], Callable[[np.ndarray, np.ndarray], np.ndarray]] = {}

    def predictor(self, rung: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
        if rung not in self.judged:
            return None
        if self.train == "ended":
            rows = [(n, len(self.levels)) for n in self.ended if math.isfinite(self.values[n][-1])]
        else:
            # Every later level each trial past the rung reached (a trial still running
            # counts with the levels it has): the deepest rows first, at most max_rows.
            rows = [
                (n, level)
                for level in reversed(range(rung + 1, len(self.levels) + 1))
                for n in self.at_rung.get(rung, [])
                if len(self.values[n]) > level and math.isfinite(self.values[n][level])
            ][: self.max_rows]
        if len(rows) < self.min_trials:
            return None
        key = (rung, tuple(rows))
        if key not in self.models:
            # Hyperparameters refitted when the rows grew by a tenth since the last fit.
            fitted_at, params = self.fits.get(rung, (0, None))
            if len(rows) >= 1.1 * fitted_at + 1:
                params = None
            depths = [
                math.log(self.all_levels[lv]) / math.log(self.all_levels[-1]) for _, lv in rows
            ]
            predict, params = rung_predictor(
                self.encoder,
                np.array([self.configs[n] for n, _ in rows]),
                np.array([self.values[n][rung] for n, _ in rows]),
                np.array([self.values[n][lv] for n, lv in rows]),
                None if self.train == "ended" else np.array(depths),
                params,
            )
            if params is not self.fits.get(rung, (0, None))[1]:
                self.fits[rung] = (len(rows), params)
            self.models = {k: v for k, v in self.models.items() if k[0] != rung}
            self.models[key] = predict
        return self.models[key]

    def report(self, trial: Trial) -> bool:
        if trial.epochs not in self.levels:
            return True
        rung = self.levels.index(trial.epochs)
        value = float(trial.losses[-1])
        if trial.number not in self.configs:
            parsed = self.encoder.parse(trial.params)
            assert parsed is not None
            self.configs[trial.number] = parsed
        earlier = self.at_rung.setdefault(rung, [])
        raw = [self.values[n][rung] for n in earlier]
        predict = self.predictor(rung)
        if predict is None:
            keep_going = continues_at_rung(value, raw, reduction_factor=REDUCTION_FACTOR)
        else:
            numbers = [*earlier, trial.number]
            predicted = predict(
                np.array([self.configs[n] for n in numbers]), np.array([*raw, value])
            )
            keep_going = continues_at_rung(
                float(predicted[-1]), list(predicted[:-1]), reduction_factor=REDUCTION_FACTOR
            )
        self.values.setdefault(trial.number, []).append(value)
        earlier.append(trial.number)
        return keep_going

    def finished(self, trial: Trial) -> None:
        super().finished(trial)
        if not trial.stopped and trial.epochs == self.problem.max_resource:
            self.ended.append(trial.number)


class Mobster(Hyperband):
    """kubetune's Hyperband stopping rule with a MOBSTER-style sampler (``bench.mobster``:
    one GP over configuration and log resource, EI at the full resource)."""

    def __init__(self, problem: CurveProblem, seed: int):
        super().__init__(problem, "Random", seed)

    def propose(self, trials: list[Trial]) -> Params:
        resources = [*self.levels, self.problem.max_resource]
        return suggest_mobster(self.problem.space, self.views(trials), resources, self.seed)


# --------------------------------------------------------------------------- Optuna


def _optuna_distributions(problem: CurveProblem) -> dict[str, Any]:
    import optuna

    distributions: dict[str, Any] = {}
    for p in problem.space.parameters:
        if isinstance(p, Categorical):
            distributions[p.name] = optuna.distributions.CategoricalDistribution(p.values)
        else:
            log = default_warp(p) == "Logarithmic"
            cls: Any = (
                optuna.distributions.FloatDistribution
                if isinstance(p, Continuous)
                else optuna.distributions.IntDistribution
            )
            distributions[p.name] = cls(p.min, p.max, log=log)
    return distributions


class OptunaTPE:
    """Optuna's TPE sampler with its SuccessiveHalving or Hyperband pruner, through the
    ask-and-tell interface (the same asynchronous workers)."""

    def __init__(self, problem: CurveProblem, pruner: str, seed: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        chosen: Any = (
            optuna.pruners.SuccessiveHalvingPruner(
                min_resource=1, reduction_factor=REDUCTION_FACTOR
            )
            if pruner == "SuccessiveHalving"
            else optuna.pruners.HyperbandPruner(
                min_resource=1,
                max_resource=problem.max_resource,
                reduction_factor=REDUCTION_FACTOR,
            )
        )
        self.study = optuna.create_study(
            sampler=optuna.samplers.TPESampler(seed=seed), pruner=chosen
        )
        self.distributions = _optuna_distributions(problem)
        self.live: dict[int, Any] = {}

    def propose(self, trials: list[Trial]) -> Params:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self.study.ask(self.distributions)
        self.live[len(trials)] = trial
        return dict(trial.params)

    def report(self, trial: Trial) -> bool:
        live = self.live[trial.number]
        live.report(float(trial.losses[-1]), trial.epochs)
        return not live.should_prune()

    def finished(self, trial: Trial) -> None:
        import optuna

        live = self.live.pop(trial.number)
        if trial.stopped:
            self.study.tell(live, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(live, float(trial.losses[-1]))


TunerFactory = Callable[[CurveProblem, int], Tuner]

METHODS: dict[str, TunerFactory] = {
    "Random": lambda p, s: FullBudget(p, "Random", s),
    "Bayesian": lambda p, s: FullBudget(p, "Bayesian", s),
    "Bayesian+median": lambda p, s: FullBudget(p, "Bayesian", s, median=True),
    "Hyperband-SobolBayesian": lambda p, s: Hyperband(p, "SobolBayesian", s),
    "Hyperband-Sobol": lambda p, s: Hyperband(p, "Sobol", s),
    "Hyperband-Random": lambda p, s: Hyperband(p, "Random", s),
    "Hyperband-Bayesian": lambda p, s: Hyperband(p, "Bayesian", s),
    # References, not tuners: the rungs judge by the true final loss.
    "Hyperband-perfect-rungs": PerfectRungs,
    "Hyperband-Sobol-perfect-rungs": lambda p, s: PerfectRungs(p, s, "Sobol"),
    "TPE+SHA": lambda p, s: OptunaTPE(p, "SuccessiveHalving", s),
    "TPE+Hyperband": lambda p, s: OptunaTPE(p, "Hyperband", s),
}
# Design variants, compared on the development seeds only.
VARIANTS: dict[str, TunerFactory] = {
    # The rungs as before this round: every trial judged among all the values there.
    "HB-all-values": lambda p, s: Hyperband(p, "SobolBayesian", s, grouped=False),
    "HB-Sobol-all-values": lambda p, s: Hyperband(p, "Sobol", s, grouped=False),
    "HB-Bayesian-level": lambda p, s: Hyperband(p, "Bayesian", s, fit="level"),
    "HB-rank-random1/3": lambda p, s: Hyperband(p, "Bayesian", s, random_fraction=1 / 3),
    "HB-level-random1/3": lambda p, s: Hyperband(
        p, "Bayesian", s, fit="level", random_fraction=1 / 3
    ),
    "Hyperband-Random-2brackets": lambda p, s: Hyperband(p, "Random", s, brackets=2),
    "Hyperband-Random-3brackets": lambda p, s: Hyperband(p, "Random", s, brackets=3),
    "HB-MOBSTER": Mobster,
    # Which rungs' mistakes cost the Sobol sampler most: perfect at the first rung only, or
    # at all the later ones only.
    "HB-Sobol-perfect-first-rung": lambda p, s: PerfectRungs(p, s, "Sobol", slice(0, 1)),
    "HB-Sobol-perfect-later-rungs": lambda p, s: PerfectRungs(p, s, "Sobol", slice(1, None)),
    # How much choosing among the SobolBayesian sampler's candidates can gain, and what
    # choosing among more of them does: the choice by the true final loss.
    "HB-oracle-choice-of-2": lambda p, s: OracleChoice(p, s, 2),
    "HB-oracle-choice-of-4": lambda p, s: OracleChoice(p, s, 4),
    # The first judgement at epoch 1 or η, chosen from the job's own probes.
    "HB-adaptive-first-rung": lambda p, s: AdaptiveFirstRung(p, "SobolBayesian", s),
    # The rungs judge a trial by its final loss as predicted from the job's ended trials.
    "HB-model-judged-rungs": ModelJudgedRungs,
    "HB-model-judged-rungs-min4": lambda p, s: ModelJudgedRungs(p, s, min_trials=4),
    "HB-model-judged-rungs-later": lambda p, s: ModelJudgedRungs(p, s, train="later"),
    "HB-model-judged-rungs-3-9": lambda p, s: ModelJudgedRungs(
        p, s, min_trials=4, rungs=slice(1, None)
    ),
}

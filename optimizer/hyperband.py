"""Hyperband as asynchronous successive halving (ASHA, the stopping variant): pure functions.

A trial is started with the full ``max_resource`` (epochs) and judged at each rung
``min_resource·η^k < max_resource`` (η = ``reduction_factor``): when it reaches a rung it
continues only if its value there is in the top 1/η of the values recorded at that rung so
far, itself included; ties go in its favour. Otherwise it stops. The values it is judged
among are those of the trials with its values of the Categorical parameters once there
are 2η of them at the rung, else all (:class:`RungLog`): models learn at their own pace
(on digits the typical small CNN learns slower than the typical MLP, and the best CNNs
end best), and a rung that compares an early value across them stops the slow starters
that end best. Of the 2,000 configurations recorded from the trainer on digits, the best
1/27 at the end are all CNNs, in the top third of all configurations at epoch 3 in 85 %
of cases, of the CNNs in 96 %. Judged so, Hyperband was faster than with all values in
67 held-out runs of ``make bench-hyperband`` with a Categorical parameter and slower in
44 (docs/benchmarks.md). In a space without a Categorical parameter it is plain ASHA.
One bracket only: on the benchmark's development seeds (``make bench-hyperband
BENCH_ARGS=--dev``) two or three brackets (asynchronous Hyperband) needed 10-35% more
epochs than one and reached the target less often, on all three problems.

Crash safety: every decision is a function of recorded data only. The caller records each
trial's value at each rung it reached, with a job-wide sequence number (``RungRecord``);
:func:`rung_decisions` replays the whole log and gives every record's decision, so an
operator restarted after SIGKILL takes exactly the decisions it took (or would have taken)
before, from the same records, in the same order.

New configurations (:func:`suggest_hyperband`): ``sampler="SobolBayesian"`` (the default)
gives trial k of the job the better, by expected improvement, of the points 2k and
2k + 1 of a scrambled Sobol sequence, under kubetune's GP fitted to the ended trials'
ranks (the rank fit below; running trials pending); the first of the two until
``n_initial_points(space)`` trials have ended. The model steers, the sequence keeps the
proposals spread and distinct: a model left to roam the whole space (the Bayesian
sampler) keeps proposing next to a configuration that passed every rung, which on the
benchmark's digits table re-runs a few recorded configurations (docs/benchmarks.md). Two
candidates won on the development seeds against four and eight (more steering, fewer
digits runs reaching the level) and against the first four unused points of the
sequence; see docs/benchmarks.md, bench-hyperband, for the measurements on held-out seeds
and problems. ``sampler="Sobol"`` walks the sequence (point k for the k-th trial of the
job), which covers the space more evenly than independent draws and so reaches a small
good region sooner; it was the default before. ``sampler="Random"`` draws uniformly.
``sampler="Bayesian"`` maximises EI over the whole space under the GP fitted to the
ended trials' ranks, ordered by the level they reached and then by their value there
(``fit="rank"``, the default: every trial informs the model, and one stopped at the
first rung counts as worse than one that was promoted, as Optuna's TPE orders pruned
trials), or to the values at one level (``fit="level"``: the highest level, with
``max_resource`` as the last, holding ``n_initial_points(space)`` values, as BOHB does;
on 4 development seeds the rank fit reached the target in 9 of 12 runs against 6);
running trials are pending, so they are not proposed twice. ``random_fraction`` makes the
Bayesian sampler draw that share of configurations at random instead (BOHB's 1/3 guards
against a confidently wrong model; on the development seeds it traded digits runs for
synthetic ones, not a win). On digits the early epochs do not rank the good
configurations (``bench-hyperband --diagnose``), so a model of rung values has little to
learn where it matters there.

In a finite space (Integer and Categorical parameters only) every sampler skips the
configurations of the job's trials, whatever level they stopped at (a configuration
proposed again would train from scratch), through the same rule as
:func:`kubetune.optimizer.suggest` (:func:`kubetune.optimizer.grid.replace_repeats`), and
proposes nothing once all have been tried.

Values are objective values as the trainer prints them; ``goal`` says which way is better.
A non-finite value (NaN, inf) is the worst possible value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple, TypeAlias

import numpy as np
from kubetune.optimizer.bayesian import choose_by_ei
from kubetune.optimizer.encoding import Encoder
from kubetune.optimizer.grid import count_untried, is_finite, replace_repeats
from kubetune.optimizer.observations import GOALS, Goal, Observation, parse_history
from kubetune.optimizer.space import Categorical, ParamValue, SearchSpace
from kubetune.optimizer.suggest import n_initial_points, sobol_values, suggest

Sampler: TypeAlias = Literal["SobolBayesian", "Sobol", "Random", "Bayesian"]
SAMPLERS: tuple[Sampler, ...] = ("SobolBayesian", "Sobol", "Random", "Bayesian")
Fit: TypeAlias = Literal["rank", "level"]
# The static hyperparameters that name the number of epochs (SageMaker AMT's keys), in the
# order they are looked up.
MAX_RESOURCE_KEYS = ("epochs", "num_epochs", "n_epochs", "numepochs", "n-epochs")
MAX_RESOURCE_LIMIT = 20000
# Trials the rank fit takes at most (beyond the deepest level): a GP costs O(n³). The
# SobolBayesian sampler keeps it too: fitting every ended trial reached the digits level
# more often but was slower on the other five families (docs/benchmarks.md, bench-hyperband).
_MAX_MODEL_TRIALS = 64
# Separate the coin that picks random draws, and the fantasies of the SobolBayesian
# sampler, from the other streams of the same seed.
_RANDOM_SHARE_STREAM = 4
_SOBOL_CHOICE_STREAM = 5
# ... and the draws that replace a repeated configuration (finite spaces).
_UNTRIED_STREAM = 6
# The SobolBayesian sampler's candidates per trial: trial k chooses between Sobol points
# 2k and 2k + 1.
_SOBOL_CANDIDATES = 2


def rung_levels(min_resource: int, max_resource: int, reduction_factor: int = 3) -> list[int]:
    """The resources at which trials are judged: ``min_resource·η^k`` for k = 0, 1, ...
    while below ``max_resource`` (the full budget is not a rung: a trial there is done).

    Raises ValueError naming the argument when ``1 ≤ min_resource < max_resource ≤ 20000``
    or ``reduction_factor ≥ 2`` (integers) does not hold.
    """
    for name, value in (
        ("min_resource", min_resource),
        ("max_resource", max_resource),
        ("reduction_factor", reduction_factor),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"hyperband: {name}={value!r} must be an integer.")
    if not 1 <= min_resource < max_resource <= MAX_RESOURCE_LIMIT:
        raise ValueError(
            f"hyperband: min_resource={min_resource}, max_resource={max_resource}: need "
            f"1 <= min_resource < max_resource <= {MAX_RESOURCE_LIMIT}; lower minResource "
            "or raise maxResource."
        )
    if reduction_factor < 2:
        raise ValueError(
            f"hyperband: reduction_factor={reduction_factor} must be >= 2 (3 is usual)."
        )
    levels = []
    level = min_resource
    while level < max_resource:
        levels.append(level)
        level *= reduction_factor
    return levels


def infer_max_resource(static_hyperparameters: Mapping[str, object]) -> int | None:
    """The number of epochs named by the first of ``MAX_RESOURCE_KEYS`` present in the
    static hyperparameters (values are strings in a TuningJob, "27"), or None if none is.

    Raises ValueError naming the key when its value is not a whole number in
    [2, 20000]: a trainer cannot be stopped at rungs of a budget it does not have.
    """
    for key in MAX_RESOURCE_KEYS:
        if key not in static_hyperparameters:
            continue
        raw = static_hyperparameters[key]
        try:
            number = float(str(raw).strip()) if not isinstance(raw, bool) else math.nan
        except ValueError:
            number = math.nan
        if not (number.is_integer() and 2 <= number <= MAX_RESOURCE_LIMIT):
            raise ValueError(
                f"staticHyperparameters.{key}={raw!r} is not a whole number of epochs in "
                f"[2, {MAX_RESOURCE_LIMIT}]: fix it, or set hyperband.maxResource."
            )
        return int(number)
    return None


def _loss(value: float, goal: Goal) -> float:
    """Lower is better; non-finite values are the worst."""
    if not math.isfinite(value):
        return math.inf
    return value if goal == "Minimize" else -value


def continues_at_rung(
    value: float, earlier: Sequence[float], *, reduction_factor: int = 3, goal: Goal = "Minimize"
) -> bool:
    """ASHA's stopping rule for one trial arriving at a rung with ``value``, given the
    values ``earlier`` recorded at that rung before it.

    Of the n = len(earlier) + 1 values, the trial continues when its rank (1 + the number
    of strictly better earlier values, so ties favour it) is at most max(1, ⌊n/η⌋): the
    best so far always continues (so does the first), otherwise only the top 1/η, rounded
    down. (Rounding up let more trials through early on and needed 4-10% more epochs on
    the benchmark's development seeds with the Random sampler; Optuna rounds down too.)
    """
    if goal not in GOALS:
        raise ValueError(f"hyperband: goal={goal!r} is not one of {list(GOALS)}.")
    mine = _loss(value, goal)
    rank = 1 + sum(_loss(v, goal) < mine for v in earlier)
    return rank <= max(1, (len(earlier) + 1) // reduction_factor)


class RungRecord(NamedTuple):
    """A trial's value at a rung, as recorded (in the TuningJob status).

    seq: job-wide order of recording (0, 1, 2, ...); decisions depend on it.
    rung: index into :func:`rung_levels` (0 = the first rung).
    """

    seq: int
    trial: str
    rung: int
    value: float
    group: tuple[str, ...] = ()
    """The trial's values of the job's Categorical parameters, in the space's order (empty
    without any): see :class:`RungLog`."""


class RungLog:
    """The values recorded at each rung so far, and those a trial arriving at a rung is
    judged among (:meth:`peers`): the values of its group (the trials with its values of
    the Categorical parameters, ``RungRecord.group``) once the rung holds ``2η`` of them,
    else every value at the rung. (2η, chosen before measuring: enough values for the top
    1/η to be one of several; a thin group is judged as plain ASHA judges it.)"""

    def __init__(self, reduction_factor: int = 3) -> None:
        self.group_size = 2 * reduction_factor
        self._rung: dict[int, list[float]] = {}
        self._group: dict[tuple[int, tuple[str, ...]], list[float]] = {}

    def peers(self, rung: int, group: tuple[str, ...] = ()) -> list[float]:
        own = self._group.get((rung, group), [])
        return own if group and len(own) >= self.group_size else self._rung.get(rung, [])

    def add(self, rung: int, group: tuple[str, ...], value: float) -> None:
        self._rung.setdefault(rung, []).append(value)
        self._group.setdefault((rung, group), []).append(value)


def rung_decisions(
    records: Sequence[RungRecord], *, reduction_factor: int = 3, goal: Goal = "Minimize"
) -> dict[tuple[str, int], bool]:
    """Replay the recorded log: {(trial, rung): continues?} for every record.

    Each record is judged against its peers (:class:`RungLog`) among the records with a
    smaller ``seq``, as :func:`continues_at_rung` does; the input order does not matter.
    Raises ValueError on a repeated ``seq`` or a repeated (trial, rung): the log would be
    ambiguous.
    """
    log = RungLog(reduction_factor)
    seen_seq: set[int] = set()
    out: dict[tuple[str, int], bool] = {}
    for record in sorted(records, key=lambda r: r.seq):
        key = (record.trial, record.rung)
        if record.seq in seen_seq or key in out:
            raise ValueError(
                f"hyperband: rung record {record} repeats a seq or a (trial, rung) already "
                "recorded; each value is recorded once."
            )
        seen_seq.add(record.seq)
        out[key] = continues_at_rung(
            record.value,
            log.peers(record.rung, record.group),
            reduction_factor=reduction_factor,
            goal=goal,
        )
        log.add(record.rung, record.group, record.value)
    return out


def judged_among(
    records: Sequence[RungRecord], record: RungRecord, *, reduction_factor: int = 3
) -> list[float]:
    """The values ``record`` was judged against (its peers among the records before it),
    for a message that gives its rank."""
    log = RungLog(reduction_factor)
    for earlier in sorted(records, key=lambda r: r.seq):
        if earlier.seq >= record.seq:
            break
        log.add(earlier.rung, earlier.group, earlier.value)
    return log.peers(record.rung, record.group)


def comparison_group(space: SearchSpace, params: Mapping[str, object]) -> tuple[str, ...]:
    """A configuration's ``RungRecord.group``: its Categorical parameters' values."""
    return tuple(str(params.get(p.name)) for p in space.parameters if isinstance(p, Categorical))


class HyperbandSampler(NamedTuple):
    """How new configurations are proposed: ``kind`` SobolBayesian (the default: it won
    ``make bench-hyperband``), Sobol, Random or Bayesian; for Bayesian, ``fit`` says what
    the GP is fitted on: "rank" (trials ordered by the level they reached, then their
    value there) or "level" (BOHB's: the values at the highest level with enough points).
    SobolBayesian always uses the rank fit."""

    kind: Sampler = "SobolBayesian"
    fit: Fit = "rank"
    # Bayesian only: the share of configurations drawn at random instead (BOHB's
    # safeguard against a model that is confidently wrong; 1/3 there).
    random_fraction: float = 0.0


DEFAULT_SAMPLER = HyperbandSampler()


class HyperbandTrial(NamedTuple):
    """A trial as the sampler sees it.

    values: its value at each level it reached, in order: the rungs, then ``max_resource``
      for a trial that ran to the end (so len(values) = len(rung_levels) + 1 then).
    running: still training (its next values are unknown).
    lost: ended having measured nothing of its configuration (the infrastructure failed
      it): it keeps its place in the job's numbering of trials, which the samplers' draws
      follow (trial k of a job, Sobol points 2k and 2k + 1), and is neither an observation
      nor a tried configuration (in a finite space it may be proposed again).
    """

    params: Mapping[str, object]
    values: Sequence[float]
    running: bool = False
    lost: bool = False


def model_level(space: SearchSpace, trials: Sequence[HyperbandTrial], n_levels: int) -> int:
    """The level the Bayesian sampler fits: the highest (of ``n_levels``: the rungs and
    ``max_resource``) with at least ``n_initial_points(space)`` finite values, else 0."""
    needed = n_initial_points(space)
    for level in reversed(range(n_levels)):
        count = sum(len(t.values) > level and math.isfinite(t.values[level]) for t in trials)
        if count >= needed:
            return level
    return 0


def _rank_observations(
    trials: Sequence[HyperbandTrial], goal: Goal
) -> tuple[list[Observation], list[Mapping[str, object]]]:
    """Ended trials as observations of their rank (0 = best, 1 = worst) by the level they
    reached (deeper is better: they beat their peers on the way), then by their value at
    that level; ties share their average rank. Whole levels are taken from the deepest
    down while at most ``_MAX_MODEL_TRIALS`` trials are in (the deepest always is), which
    bounds the cost of the GP. Failed trials are NaN (avoided), running ones pending."""
    ended = [t for t in trials if t.values and not t.running]
    depths = sorted({len(t.values) for t in ended}, reverse=True)
    shallowest = depths[0] if depths else 0
    for depth in depths:
        if sum(len(t.values) >= depth for t in ended) > _MAX_MODEL_TRIALS:
            break
        shallowest = depth
    ended = [t for t in ended if len(t.values) >= shallowest]
    keys = [(-len(t.values), _loss(t.values[-1], goal)) for t in ended]
    order = sorted(range(len(ended)), key=lambda i: keys[i])
    rank = [0.0] * len(ended)
    start = 0
    while start < len(order):
        stop = start
        while stop + 1 < len(order) and keys[order[stop + 1]] == keys[order[start]]:
            stop += 1
        for i in order[start : stop + 1]:
            rank[i] = (start + stop) / 2 / max(1, len(ended) - 1)
        start = stop + 1
    observations = [Observation(t.params, r) for t, r in zip(ended, rank, strict=True)]
    observations += [
        Observation(t.params, math.nan)
        for t in trials
        if not t.values and not t.running and not t.lost
    ]
    pending = [t.params for t in trials if t.running]
    return observations, pending


def suggest_hyperband(
    space: SearchSpace,
    trials: Sequence[HyperbandTrial],
    *,
    n_levels: int,
    sampler: HyperbandSampler = DEFAULT_SAMPLER,
    n: int = 1,
    seed: int = 0,
    goal: Goal = "Minimize",
) -> list[dict[str, ParamValue]]:
    """Propose ``n`` configurations for new trials (see the module docstring).

    In: the job's trials so far, in their order (running, stopped, finished, failed: a
    failed trial has no values and is not running; one the infrastructure failed is
    ``lost``);
    ``n_levels`` = len(rung_levels(...)) + 1.
    Out: ``n`` parameter dicts, as :func:`kubetune.optimizer.suggest` returns them. In a
    finite space (Integer and Categorical parameters only) none is the configuration of
    a trial in ``trials`` (a trial stopped at a rung would replay from scratch) or of
    another of the batch; fewer than ``n`` (possibly none) when fewer are untried.
    Deterministic in its inputs; raises ValueError for an unknown sampler or fit.
    """
    if sampler.kind not in SAMPLERS:
        raise ValueError(
            f"hyperband: sampler={sampler.kind!r} is not one of {list(SAMPLERS)}; use one of those."
        )
    if sampler.fit not in ("rank", "level"):
        raise ValueError(f"hyperband: fit={sampler.fit!r} is not 'rank' or 'level'.")
    if not 0.0 <= sampler.random_fraction <= 1.0:
        raise ValueError(
            f"hyperband: random_fraction={sampler.random_fraction!r} must be in [0, 1]."
        )
    # Every trial counts as observed, so that each call draws afresh (suggest's seed mixes
    # in the number of observations) and the Sobol sampler gives the k-th trial point k.
    seen = [Observation(t.params, math.nan) for t in trials]
    encoder = Encoder(space)
    # Every trial, at whatever level it stopped, running or failed, was tried; a lost one
    # measured nothing.
    measured = [o for o, t in zip(seen, trials, strict=True) if not t.lost]
    tried = parse_history(encoder, measured, (), goal).values
    if count_untried(space, tried) == 0:
        return []
    if sampler.kind in ("Random", "Sobol"):
        proposed = suggest(space, seen, strategy=sampler.kind, n=n, seed=seed, goal=goal)
    elif sampler.kind == "SobolBayesian":
        proposed = _suggest_sobol_choice(space, trials, n, seed, goal)
    else:
        coin = np.random.default_rng([seed % 2**64, len(trials), _RANDOM_SHARE_STREAM])
        n_random = int((coin.random(n) < sampler.random_fraction).sum())
        drawn = suggest(space, seen, strategy="Random", n=n_random, seed=seed, goal=goal)
        model = _suggest_model(space, trials, n_levels, sampler.fit, n - n_random, seed, goal)
        proposed = drawn + model
    if not is_finite(space):
        return proposed
    values = parse_history(encoder, [Observation(p, 0.0) for p in proposed], (), goal).values
    rng = np.random.default_rng([seed % 2**64, len(trials), _UNTRIED_STREAM])
    return encoder.values_to_params(replace_repeats(encoder, values, tried, rng))


def _suggest_model(
    space: SearchSpace,
    trials: Sequence[HyperbandTrial],
    n_levels: int,
    fit: Fit,
    n: int,
    seed: int,
    goal: Goal,
) -> list[dict[str, ParamValue]]:
    """``n`` configurations from the GP fitted as ``fit`` says (the module docstring)."""
    if n == 0:
        return []
    if fit == "rank":
        observations, pending = _rank_observations(trials, goal)
        return suggest(space, observations, strategy="Bayesian", n=n, pending=pending, seed=seed)
    level = model_level(space, trials, n_levels)
    observations = []
    pending = []
    for trial in trials:
        if len(trial.values) > level:
            observations.append(Observation(trial.params, trial.values[level]))
        elif not trial.running and not trial.values and not trial.lost:
            observations.append(Observation(trial.params, math.nan))  # failed: avoided
        elif trial.running:
            pending.append(trial.params)
    return suggest(
        space, observations, strategy="Bayesian", n=n, pending=pending, seed=seed, goal=goal
    )


def _suggest_sobol_choice(
    space: SearchSpace, trials: Sequence[HyperbandTrial], n: int, seed: int, goal: Goal
) -> list[dict[str, ParamValue]]:
    """Trial k (of the job, the new ones included) gets the one of Sobol points 2k and
    2k + 1 with the higher EI under the rank fit's GP (``_rank_observations``); the first
    of the two while fewer than ``n_initial_points(space)`` trials have ended with a value.
    """
    encoder = Encoder(space)
    points = sobol_values(encoder, seed, _SOBOL_CANDIDATES * len(trials), _SOBOL_CANDIDATES * n)
    blocks = points.reshape(n, _SOBOL_CANDIDATES, len(encoder.columns))
    observations, pending = _rank_observations(trials, goal)
    # Ranks: 0 is the best whatever the goal.
    history = parse_history(encoder, observations, pending, "Minimize")
    if n == 0 or np.isfinite(history.losses).sum() < n_initial_points(space):
        return encoder.values_to_params(blocks[:, 0])
    rng = np.random.default_rng([seed % 2**64, len(trials), _SOBOL_CHOICE_STREAM])
    return encoder.values_to_params(choose_by_ei(encoder, history, blocks, rng))


def best_trial(
    trials: Sequence[HyperbandTrial], *, goal: Goal = "Minimize"
) -> tuple[int, int] | None:
    """(index of the best trial, level it is judged at), or None before any value.

    Values at different levels are not comparable (one epoch against 27): the best is the
    best among the trials that reached the highest level any trial reached, which is
    ``max_resource`` as soon as one trial ran to the end. Ties go to the earlier trial.
    """
    top = max((len(t.values) for t in trials), default=0) - 1
    if top < 0:
        return None
    candidates = [i for i, t in enumerate(trials) if len(t.values) > top]
    best = min(candidates, key=lambda i: _loss(trials[i].values[top], goal))
    return best, top

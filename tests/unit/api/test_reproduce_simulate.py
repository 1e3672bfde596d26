"""hack/reproduce/simulate.py asks `suggest` what the operator would ask it."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import reproduce
from kubetune.operator.api import format_value
from kubetune.operator.api.spec import TuningJobSpec
from kubetune.operator.controller.optimizer_input import search_space
from kubetune.optimizer import suggest


def _simulate() -> ModuleType:
    path = Path(reproduce.__file__).parent / "reproduce" / "simulate.py"
    spec = importlib.util.spec_from_file_location("simulate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["simulate"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


class Momentum:
    """A stand-in objective (the accuracy is the momentum): the schedule is under test."""

    def __init__(self) -> None:
        self.asked: list[dict[str, str]] = []

    def accuracy(self, hyperparameters: dict[str, str]) -> float:
        self.asked.append(hyperparameters)
        return float(hyperparameters["momentum"])


def test_a_simulated_search_calls_suggest_as_the_operator_does() -> None:
    simulate = _simulate()
    fit = simulate.bayesian._fit
    objective = Momentum()
    variant = dataclasses.replace(simulate.VARIANTS["auto"], trials=7)
    result = simulate.search(variant, 5, objective)
    trials = [t["hp"] for t in result["trials"]]
    assert len(trials) == 7
    assert objective.asked == trials  # each trial trained once, in the order they started
    spec = TuningJobSpec.from_api({**simulate.load_spec(), "randomSeed": 5})

    def operator(observed: int, pending: list[int], n: int) -> list[dict[str, str]]:
        """What the operator asks with trials 1..observed ended and `pending` running."""
        suggestions = suggest(
            search_space(spec),
            [(trials[i], float(trials[i]["momentum"])) for i in range(observed)],
            strategy="Bayesian",
            n=n,
            pending=[trials[i] for i in pending],
            seed=5,  # the job's seed, as the operator gives it
            goal="Maximize",
        )
        return [{p.name: format_value(p, s[p.name]) for p in spec.parameters} for s in suggestions]

    # 2 in flight: two trials from the first call; then one each time the older of the
    # two running ends, the other pending. Trial 7 comes from the GP (5 observed).
    assert operator(0, [], 2) == trials[:2]
    assert operator(2, [2], 1) == [trials[3]]
    assert operator(5, [5], 1) == [trials[6]]
    assert len(result["fits"]) == 1 and result["fits"][0]["observations"] == 5
    assert simulate.bayesian._fit is fit  # the fit recorder is removed afterwards


def test_the_schedule_asks_for_free_slots_and_tells_in_start_order() -> None:
    simulate = _simulate()
    objective = Momentum()
    told: list[int] = []
    variant = dataclasses.replace(simulate.VARIANTS["auto"], trials=5)

    def propose(trials: list[object], done: list[bool], n: int) -> list[dict[str, str]]:
        # The schedule's calls: 2 free slots at first, then 1 each time the oldest ends.
        assert (len(trials), done.count(False), n) in {(0, 0, 2), (2, 1, 1), (3, 1, 1), (4, 1, 1)}
        return [{"momentum": str(len(trials) + k)} for k in range(n)]

    trials = simulate.schedule(variant, objective, propose, lambda k, _: told.append(k))
    assert [float(h["momentum"]) for h, _ in trials] == [0, 1, 2, 3, 4]
    assert told == [0, 1, 2, 3, 4]


def test_an_optuna_search_records_values_as_the_operator_writes_them() -> None:
    """Optuna is a benchmark dependency (.[bench]): skipped where it is not installed."""
    pytest.importorskip("optuna")
    simulate = _simulate()
    objective = Momentum()
    variant = dataclasses.replace(simulate.VARIANTS["optuna_tpe_log"], trials=5)
    result = simulate.search(variant, 3, objective)
    recorded = [t["hp"] for t in result["trials"]]
    assert len(recorded) == 5 and objective.asked == recorded
    spec = simulate.load_spec("Logarithmic")
    for hyperparameters in recorded:
        for parameter in spec["parameters"]:
            value = float(hyperparameters[parameter["name"]])
            assert parameter["min"] <= value <= parameter["max"]
    # Each recorded value is the text the operator would write for it (exact repr).
    assert all(repr(float(v)) == v for h in recorded for v in h.values())

"""The benchmark harness in its smallest form: scoring maths and one tiny run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

HARNESS = Path(__file__).resolve().parents[3] / "hack" / "bench_optimizer.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_optimizer", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_optimizer"] = module
    spec.loader.exec_module(module)
    return module


def test_best_so_far_reports_the_true_value_of_the_best_observed_point(bench: ModuleType) -> None:
    trace = [(5.0, 5.5), (3.0, 4.0), (4.0, 1.0), (2.0, 2.5)]
    assert bench.best_so_far(trace).tolist() == [5.5, 4.0, 4.0, 2.5]


def test_normalised_score(bench: ModuleType) -> None:
    assert bench.normalised_score(best=0.0, optimum=0.0, random_median=4.0) == 100.0
    assert bench.normalised_score(best=4.0, optimum=0.0, random_median=4.0) == 0.0
    assert bench.normalised_score(best=1.0, optimum=0.0, random_median=4.0) == 75.0
    assert bench.normalised_score(best=8.0, optimum=0.0, random_median=4.0) == -100.0
    # Random search already optimal, up to the last bits of a cross-validated error.
    assert (
        bench.normalised_score(best=0.0150189, optimum=0.0150189, random_median=0.015018903)
        == 100.0
    )
    assert bench.normalised_score(best=0.0175, optimum=0.0150189, random_median=0.015018903) == 0.0


def test_tiny_run_scores_every_optimizer(bench: ModuleType) -> None:
    # Importable only once the harness has put hack/ on sys.path (the fixture).
    from bench.optimizers import kubetune_parallel, kubetune_runner  # noqa: PLC0415
    from bench.problems import synthetic_problems  # noqa: PLC0415

    problems = [p for p in synthetic_problems() if p.name == "branin"]
    runners = {
        bench.OURS: kubetune_runner("Bayesian"),
        bench.RANDOM: kubetune_runner("Random"),
        bench.PARALLEL: kubetune_parallel(4),
    }
    curves = bench.run_all(problems, runners, seeds=1, budget=8)
    scores = bench.score_table(problems, curves, [4, 8])
    assert set(scores["branin"]) == set(runners)
    assert scores["branin"][bench.RANDOM] == [0.0, 0.0]  # the median of one run is itself
    assert all(len(c) == 8 for runs in curves["branin"].values() for c in runs)


def test_botorch_unit_cube_round_trips_mixed_points(bench: ModuleType) -> None:
    """The BoTorch baseline's encoding: a decoded point is valid and encodes back to the
    cube position it decodes from again (log warp, integers, one-hot categoricals)."""
    import numpy as np  # noqa: PLC0415
    from bench.optimizers import _UnitCube  # noqa: PLC0415
    from bench.problems import synthetic_problems  # noqa: PLC0415
    from kubetune.optimizer import Categorical, Integer  # noqa: PLC0415

    problem = next(p for p in synthetic_problems() if p.name == "mixed-int-cat")
    cube = _UnitCube(problem)
    rng = np.random.default_rng(0)
    for u in rng.random((20, cube.dim)):
        params = cube.decode(u)
        for p in problem.space.parameters:
            value = params[p.name]
            if isinstance(p, Categorical):
                assert value in p.values
            else:
                assert p.min <= value <= p.max  # type: ignore[operator]
                assert isinstance(value, int) == isinstance(p, Integer)
        assert cube.decode(cube.encode(params)) == params


def test_first_seed_runs_the_later_seeds_alone_and_reuses_the_cache(
    bench: ModuleType, tmp_path: Path
) -> None:
    """``--first-seed`` fills the cache in parts: seeds 1..2 alone, then 0..2 finds them."""
    from bench.optimizers import kubetune_runner  # noqa: PLC0415
    from bench.problems import Problem, synthetic_problems  # noqa: PLC0415

    problems = [p for p in synthetic_problems() if p.name == "branin"]
    calls: list[int] = []
    random_search = kubetune_runner("Random")

    def counted(problem: Problem, seed: int, budget: int) -> list[tuple[float, float]]:
        calls.append(seed)
        return random_search(problem, seed, budget)

    runners = {bench.RANDOM: counted}
    later = bench.run_all(problems, runners, seeds=2, budget=4, cache=tmp_path, first_seed=1)
    assert calls == [1, 2]
    every = bench.run_all(problems, runners, seeds=3, budget=4, cache=tmp_path)
    assert calls == [1, 2, 0]  # seeds 1 and 2 came from the cache
    assert every["branin"][bench.RANDOM][1:] == later["branin"][bench.RANDOM]


def test_split_is_fixed_disjoint_and_half_half(bench: ModuleType) -> None:
    names = [f"p{i}" for i in range(25)]
    halves = bench.split_problems(names)
    development = [n for n in names if halves[n] == "dev"]
    assert len(development) == 12 and set(halves.values()) == {"dev", "held-out"}
    assert bench.split_problems(list(reversed(names))) == halves  # order does not matter
    assert bench.split_problems(names, seed=bench.SPLIT_SEED + 1) != halves


def test_summary_is_the_mean_over_problems_with_its_standard_error_over_seeds(
    bench: ModuleType,
) -> None:
    # Two problems, one per half; two seeds; one budget.
    per_seed = {"a": {"opt": [[10.0], [30.0]]}, "b": {"opt": [[50.0], [70.0]]}}
    halves = {"a": "dev", "b": "held-out"}
    summary = bench.summarise(per_seed, ["opt"], halves)
    assert summary["dev"]["opt"] == [(20.0, 10.0)]  # std([10, 30], ddof=1)/√2 = 10
    assert summary["held-out"]["opt"] == [(60.0, 10.0)]
    assert summary["total"]["opt"] == [(40.0, 10.0)]  # per-seed means 30, 50


def test_markdown_tables_list_every_group_optimizer_and_problem(bench: ModuleType) -> None:
    per_seed = {"a": {"opt": [[10.0], [30.0]]}, "b": {"opt": [[50.0], [70.0]]}}
    halves = {"a": "dev", "b": "held-out"}
    summary = bench.summarise(per_seed, ["opt"], halves)
    scores = {"a": {"opt": [20.0]}, "b": {"opt": [60.0]}}
    text = bench.markdown(scores, summary, [60], halves)
    assert "| opt | 20.0 ± 10.0 | 60.0 ± 10.0 | 40.0 ± 10.0 |" in text
    assert "| a | dev | 20 |" in text and "| b | held-out | 60 |" in text


def test_a_diverging_problem_prints_huge_losses_in_a_quarter_of_its_space_only(
    bench: ModuleType,
) -> None:
    from bench.problems import DIVERGING, diverging, synthetic_problems  # noqa: PLC0415

    # x in [-5, 10], y in [0, 15]: the quarter where both are above the middle diverges.
    branin = next(p for p in synthetic_problems() if p.name == "branin")
    blown = diverging(branin)
    rng = np.random.default_rng(0)
    assert blown.name == "branin" + DIVERGING and blown.optimum == branin.optimum
    calm = {"x": 1.0, "y": 14.0}  # x in the lower half of its range
    assert blown.evaluate(calm, rng) == branin.evaluate(calm, rng)
    high = {"x": 9.0, "y": 14.0}
    true = branin.evaluate(high, rng)[1]
    observed, reported = blown.evaluate(high, rng)
    assert observed == reported and 1e6 * (abs(true) + 1) <= observed <= 1e9 * (abs(true) + 1)
    assert blown.evaluate(high, rng) == (observed, reported)  # the same point, the same loss

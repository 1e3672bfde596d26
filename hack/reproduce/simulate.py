"""`make reproduce`'s searches on more seeds, and why they end as they do: a simulator.

`make reproduce` runs the searches through the operator on the local cluster (about 17
minutes for 3 seeds). This script runs the same searches in-process (seconds for a
30-trial search on the 2-core machine, nothing once cached), so that seeds 1-10 and
counterfactual searches are affordable:

- kubetune's `suggest` is called as the operator calls it (operator/controller/launch.py):
  the manifest's search space (hack/reproduce/bayesian.yaml, scaling Auto), seed
  `spec.randomSeed` (the job's seed), the finished trials as observations in
  trial order, the running ones as pending, values recorded as the operator formats them.
  Trials end in the order they started (equal durations): Bayesian starts 2, then one
  each time one ends (pending: the other); the Random twin (Linear, uniform) the same with 8.
- A trial's accuracy is the real trainer's (hack/reproduce/evaluate.py, in the trainer's
  venv): same network, epochs, folds and trainer seed 42 as a trial, so the same number as
  the cluster's trial. Every evaluation is cached in out/reproduce/simulate/cache.jsonl:
  reruns and variants that revisit a configuration are free.
- A variant changes ONE general thing (never a knob fitted to this task); `VARIANTS` lists
  them. Each GP fit is recorded (warps chosen, noise std / signal std) for the diagnosis.
- The optuna_* variants propose with another peer's optimizer instead (Optuna's GPSampler
  or TPESampler with their defaults, on the same schedule and the same trainer); they need
  Optuna, a benchmark dependency (`.venv/bin/pip install -e '.[bench]'`).
- kubetune's searches depend on BLAS's thread count (float rounding in the GP fit can
  change which point EI picks): the recorded ones ran without OMP_NUM_THREADS; with
  OMP_NUM_THREADS=1, 2 of 4 searches checked differ. Optuna's were the same either way.

    export PYTHONSAFEPATH=1   # and .venv-trainer must exist (make trainer-venv)
    nice -n 15 .venv/bin/python hack/reproduce/simulate.py run \
        [--seeds 1 .. 10] [--variants auto random linear ...] [--trials N] [--suffix S]
    nice -n 15 .venv/bin/python hack/reproduce/simulate.py report [--train]
    nice -n 15 .venv/bin/python hack/reproduce/simulate.py check out/reproduce/tuningjobs.json

`run` writes out/reproduce/simulate/NAME.json (seed -> trials, GP fits); `report` prints
best-after-30 (and after all trials) mean ± sd over the seeds for every NAME.json, the
same paired per seed against Random@120 and Auto, the best seed-42 accuracy in the cache,
writes best-so-far.png (auto against random) and variants.png, and the diagnosis
(hack/reproduce/diagnose.py). To simulate another optimizer, put a tree with
kubetune/optimizer first on PYTHONPATH and name its searches with --suffix.

`check` replays a cluster run: for each recorded trial, whether `suggest` in some operator
state consistent with the trials' start and end times (which trials had ended, which ran;
times have one-second resolution) proposes exactly its values, and whether the trainer
here gives exactly its accuracy.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from kubetune.operator.api import format_value
from kubetune.operator.api.spec import TuningJobSpec
from kubetune.operator.controller.optimizer_input import search_space
from kubetune.optimizer import bayesian, n_initial_points, suggest

# The package's `suggest` is the function; the variants patch the module's constants.
suggest_module = importlib.import_module("kubetune.optimizer.suggest")

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "hack" / "reproduce" / "bayesian.yaml"
OUT = REPO / "out" / "reproduce" / "simulate"
TRAINER = [
    str(REPO / ".venv-trainer" / "bin" / "python"),
    str(Path(__file__).with_name("evaluate.py")),
]
Hyperparameters = dict[str, str]


@dataclass(frozen=True)
class Variant:
    """One search: a strategy and at most one general change to how it is run."""

    strategy: str = "Bayesian"
    trials: int = 30
    parallel: int = 2
    scaling: str | None = None  # learning_rate's scaling instead of the manifest's (Auto)
    patches: tuple[tuple[Any, str, Any], ...] = ()  # (module, name, value) while it runs
    random_every: int = 0  # every k-th trial after the Sobol design drawn by Random
    sampler: str = ""  # "GP" or "TPE": that Optuna sampler proposes instead of kubetune
    about: str = ""


VARIANTS = {
    "auto": Variant(about="as `make reproduce`: Auto, 2 in flight"),
    "random": Variant("Random", 120, 8, "Linear", about="the Random twin: uniform, 8 in flight"),
    "linear": Variant(scaling="Linear", about="learning_rate scaling Linear"),
    "log": Variant(scaling="Logarithmic", about="learning_rate Logarithmic (Auto, no warp switch)"),
    "sequential": Variant(parallel=1, about="1 in flight: no pending trial"),
    "init10": Variant(
        patches=((suggest_module, "_MIN_INITIAL", 10),), about="10 Sobol points, not 5"
    ),
    "third": Variant(random_every=3, about="every 3rd trial Random (BOHB's 1/3 safeguard)"),
    "repeats": Variant(
        patches=((bayesian, "SAME_POINT", 0.0),), about="no 1 % no-repeat radius (exact only)"
    ),
    # Other peers' optimizers on the same schedule, with their defaults (Optuna 5). No
    # scaling: every range linear, as Optuna samples a float unless told log=True.
    "optuna_gp": Variant(sampler="GP", about="Optuna GPSampler, every range linear"),
    "optuna_gp_log": Variant(
        sampler="GP", scaling="Logarithmic", about="Optuna GPSampler, learning_rate log"
    ),
    "optuna_tpe": Variant(sampler="TPE", about="Optuna TPESampler, every range linear"),
    "optuna_tpe_log": Variant(
        sampler="TPE", scaling="Logarithmic", about="Optuna TPESampler, learning_rate log"
    ),
}


class Trainer:
    """Accuracy of a trial's hyperparameters: from the cache, else from the trainer."""

    def __init__(self, static: dict[str, str]) -> None:
        self.static, self.path = static, OUT / "cache.jsonl"
        self.cache: dict[str, float] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                entry = json.loads(line)
                self.cache[entry["key"]] = entry["accuracy"]
        self.worker: subprocess.Popen[str] | None = None

    def accuracy(self, hyperparameters: Hyperparameters) -> float:
        key = json.dumps({**self.static, **hyperparameters}, sort_keys=True)
        if key not in self.cache:
            if self.worker is None:
                env = {**os.environ, "OMP_NUM_THREADS": "1", "MXNET_CPU_WORKER_NTHREADS": "1"}
                self.worker = subprocess.Popen(
                    TRAINER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
                )
            assert self.worker.stdin is not None and self.worker.stdout is not None
            self.worker.stdin.write(key + "\n")
            self.worker.stdin.flush()
            self.cache[key] = float(self.worker.stdout.readline())
            with self.path.open("a") as cache:
                cache.write(json.dumps({"key": key, "accuracy": self.cache[key]}) + "\n")
        return self.cache[key]

    @classmethod
    def for_manifest(cls) -> Trainer:
        """The trainer with the manifest's static hyperparameters, as every trial has them."""
        return cls(load_spec()["staticHyperparameters"])

    def close(self) -> None:
        if self.worker is not None:
            assert self.worker.stdin is not None
            self.worker.stdin.close()
            self.worker.wait()


def load_spec(scaling: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())["spec"]
    if scaling is not None:
        for parameter in spec["parameters"]:
            # momentum and wd start at 0: Auto is Linear for them already.
            if parameter["name"] == "learning_rate":
                parameter["scaling"] = scaling
    return spec


def operator_suggest(
    spec: TuningJobSpec,
    trials: list[tuple[Hyperparameters, float | None]],
    done: list[bool],
    n: int,
) -> list[Hyperparameters]:
    """The operator's call for `n` new trials after `trials` (done: which have ended)."""
    assert spec.random_seed is not None
    observed = [
        (dict(h), math.nan if a is None else a) for (h, a), d in zip(trials, done, strict=True) if d
    ]
    pending = [dict(h) for (h, _), d in zip(trials, done, strict=True) if not d]
    suggestions = suggest(
        search_space(spec),
        observed,
        strategy=spec.strategy.value,  # type: ignore[arg-type]
        n=n,
        pending=pending,
        seed=spec.random_seed,
        goal=spec.objective.type.value,
    )
    return [{p.name: format_value(p, s[p.name]) for p in spec.parameters} for s in suggestions]


@contextmanager
def patched(variant: Variant, fits: list[dict[str, Any]]) -> Iterator[None]:
    """The variant's patches, and every GP fit recorded (warps, noise/signal std)."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in variant.patches]
    fit = bayesian._fit

    def recording(*args: Any) -> Any:
        encoder, gp = fit(*args)
        p = gp.params
        fits.append(
            {
                "observations": len(gp.X),
                "warps": [column.warp for column in encoder.columns],
                "noise_over_signal": math.sqrt(p.noise_var / p.signal_var),
                "lengthscales": [float(x) for x in p.lengthscales],
            }
        )
        return encoder, gp

    try:
        for module, name, value in variant.patches:
            setattr(module, name, value)
        # The wrapper takes and returns what _fit does, untyped.
        bayesian._fit = recording  # type: ignore[assignment]
        yield
    finally:
        bayesian._fit = fit
        for module, name, value in saved:
            setattr(module, name, value)


Trials = list[tuple[Hyperparameters, float | None]]
# (trials so far, which have ended, how many new ones) -> the new trials' values
Propose = Callable[[Trials, list[bool], int], list[Hyperparameters]]


def schedule(
    variant: Variant,
    trainer: Trainer,
    propose: Propose,
    told: Callable[[int, float], None] = lambda trial, accuracy: None,
) -> Trials:
    """A TuningJob's trials, first-started first-ended, `variant.parallel` at a time: new
    trials are proposed whenever fewer run; `told(k, accuracy)` as trial k ends."""
    trials: Trials = []
    done: list[bool] = []
    while len(trials) < variant.trials or not all(done):
        running = done.count(False)
        if running < variant.parallel and len(trials) < variant.trials:
            n = min(variant.parallel - running, variant.trials - len(trials))
            for hyperparameters in propose(trials, done, n)[:n]:
                trials.append((hyperparameters, None))
                done.append(False)
        else:
            oldest = done.index(False)
            accuracy = trainer.accuracy(trials[oldest][0])
            trials[oldest] = (trials[oldest][0], accuracy)
            done[oldest] = True
            told(oldest, accuracy)
    return trials


def search(variant: Variant, seed: int, trainer: Trainer) -> dict[str, Any]:
    """One TuningJob's trials as the operator would run them (or an Optuna study)."""
    if variant.sampler:
        trials = optuna_search(variant, seed, trainer)
        return {"seed": seed, "trials": [{"hp": h, "accuracy": a} for h, a in trials], "fits": []}
    raw = load_spec(variant.scaling)
    raw.update(strategy=variant.strategy, randomSeed=seed)
    spec = TuningJobSpec.from_api(raw)
    at_random = TuningJobSpec.from_api({**raw, "strategy": "Random"})

    def propose(trials: Trials, done: list[bool], n: int) -> list[Hyperparameters]:
        every = variant.random_every
        after_design = len(trials) >= n_initial_points(search_space(spec))
        use = at_random if every and after_design and len(trials) % every == 0 else spec
        return operator_suggest(use, trials, done, n)

    fits: list[dict[str, Any]] = []
    with patched(variant, fits):
        trials = schedule(variant, trainer, propose)
    return {"seed": seed, "trials": [{"hp": h, "accuracy": a} for h, a in trials], "fits": fits}


def optuna_search(variant: Variant, seed: int, trainer: Trainer) -> Trials:
    """An Optuna study with the sampler's defaults on the same schedule: ask as many as the
    free slots, tell each trial as it ends (Optuna 5's GP and TPE samplers see the running
    trials themselves). Values are recorded as the operator formats them (exact repr)."""
    try:
        import optuna  # noqa: PLC0415 (a benchmark dependency: pip install -e '.[bench]')
    except ImportError:
        sys.exit(f"variant with sampler {variant.sampler} needs Optuna: pip install -e '.[bench]'")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    raw = load_spec(variant.scaling)
    parameters = TuningJobSpec.from_api({**raw, "randomSeed": seed}).parameters
    distributions: dict[str, optuna.distributions.BaseDistribution] = {
        p["name"]: optuna.distributions.FloatDistribution(
            p["min"], p["max"], log=p.get("scaling") == "Logarithmic"
        )
        for p in raw["parameters"]
    }
    samplers = {"GP": optuna.samplers.GPSampler, "TPE": optuna.samplers.TPESampler}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GPSampler's experimental-feature warning
        sampler = samplers[variant.sampler](seed=seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
    asked: list[Any] = []

    def propose(trials: Trials, done: list[bool], n: int) -> list[Hyperparameters]:
        asked.extend(study.ask(distributions) for _ in range(n))
        return [{p.name: format_value(p, t.params[p.name]) for p in parameters} for t in asked[-n:]]

    def told(trial: int, accuracy: float) -> None:
        study.tell(asked[trial], accuracy)

    return schedule(variant, trainer, propose, told)


def run(args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    trainer = Trainer.for_manifest()
    try:
        for name in args.variants:
            path = OUT / f"{name}{args.suffix}.json"
            runs = json.loads(path.read_text()) if path.exists() else {}
            variant = VARIANTS[name]
            if args.trials:  # Random's first trials do not depend on the accuracies
                variant = dataclasses.replace(variant, trials=args.trials)
            for seed in args.seeds:
                runs[str(seed)] = search(variant, seed, trainer)
                best = max(t["accuracy"] for t in runs[str(seed)]["trials"])
                print(f"{name} seed {seed}: best {100 * best:.2f}", flush=True)
                path.write_text(json.dumps(runs))
    finally:
        trainer.close()


JITTER = timedelta(seconds=3)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _ended(trial: dict[str, Any]) -> datetime:
    return _time(trial.get("endTime", "9999-12-31T00:00:00Z"))


def _launch_states(
    recorded: list[dict[str, Any]], k: int, parallel: int, by_count: bool
) -> Iterator[tuple[int, list[bool]]]:
    """(first trial of the launch, which earlier trials had ended) for each operator state
    consistent with the recorded times that could have launched trial k.

    A launch creates up to `parallel` trials; start and end times are the pods', seconds
    apart from the operator's looks, so a trial that ended within JITTER of the launch may
    or may not have been seen as ended. With `by_count` one state per number of ended
    trials (Random's draws depend on how many ended, not on which)."""
    window = range(max(0, k - parallel + 1), k + 1)
    started = _time(recorded[k]["startTime"])
    for first in [j for j in window if started - _time(recorded[j]["startTime"]) <= JITTER]:
        launch = _time(recorded[first]["startTime"])
        ended = [_ended(t) < launch - JITTER for t in recorded[:first]]
        maybe = [j for j, t in enumerate(recorded[:first]) if abs(_ended(t) - launch) <= JITTER]
        for r in range(len(maybe) + 1):
            for chosen in itertools.islice(
                itertools.combinations(maybe, r), 1 if by_count else None
            ):
                yield first, [e or j in chosen for j, e in enumerate(ended)]


def replay(job: dict[str, Any], trainer: Trainer) -> tuple[list[int], int, int]:
    """(the trials (1-based) whose values no consistent operator state reproduces, trials
    whose accuracy the trainer here reproduces, trials) for one recorded TuningJob."""
    spec = TuningJobSpec.from_api(job["spec"])
    recorded = job["status"]["trials"]
    trials = [(t["hyperparameters"], t.get("objective")) for t in recorded]
    by_count = spec.strategy.value == "Random"
    missed, same_accuracy = [], 0
    for k, trial in enumerate(recorded):
        states = _launch_states(recorded, k, spec.limits.max_parallel_trials, by_count)
        found = any(
            operator_suggest(spec, trials[:first], done, k - first + 1)[k - first]
            == trial["hyperparameters"]
            for first, done in states
        )
        if not found:
            missed.append(k + 1)
        if trial.get("objective") is not None:
            same_accuracy += trainer.accuracy(trial["hyperparameters"]) == trial["objective"]
    return missed, same_accuracy, len(recorded)


def check(args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    trainer = Trainer.for_manifest()
    try:
        for job in json.loads(args.file.read_text())["items"]:
            if args.only and job["spec"]["strategy"] != args.only:
                continue
            missed, accuracies, total = replay(job, trainer)
            scored = sum(1 for t in job["status"]["trials"] if t.get("objective") is not None)
            print(
                f"{job['metadata']['name']}: values reproduced {total - len(missed)}/{total} "
                f"(not: {missed}), accuracies {accuracies}/{scored}",
                flush=True,
            )
    finally:
        trainer.close()


def best_so_far(accuracies: list[float]) -> list[float]:
    return list(np.maximum.accumulate(accuracies))


@dataclass
class Summary:
    """Best after `budget` trials over the seeds of one variant."""

    name: str
    budget: int
    bests: list[float] = field(default_factory=list)

    def line(self, against: Summary | None) -> str:
        sd = statistics.stdev(self.bests) if len(self.bests) > 1 else 0.0
        text = (
            f"{self.name}@{self.budget}: {100 * statistics.mean(self.bests):.2f} ± "
            f"{100 * sd:.2f} % over {len(self.bests)} seeds"
        )
        same = against is not None and (against.name, against.budget) == (self.name, self.budget)
        if against is None or same or len(self.bests) < 2:
            return text
        # Seeds of different strategies draw unrelated streams: unpaired, standard errors.
        difference = statistics.mean(self.bests) - statistics.mean(against.bests)
        error = math.hypot(
            statistics.stdev(self.bests) / math.sqrt(len(self.bests)),
            statistics.stdev(against.bests) / math.sqrt(len(against.bests)),
        )
        versus = f"{against.name}@{against.budget}"
        return f"{text}; vs {versus} {100 * difference:+.2f} ± {100 * error:.2f}"


def load_runs(name: str) -> dict[str, Any]:
    path = OUT / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def saved_searches() -> dict[str, dict[str, Any]]:
    """Every NAME.json run wrote: the variants in VARIANTS' order, then suffixed ones."""
    names = [path.stem for path in sorted(OUT.glob("*.json"))]
    order = {name: index for index, name in enumerate(VARIANTS)}
    names.sort(key=lambda name: (order.get(name, len(order)), name))
    return {name: load_runs(name) for name in names if variant_of(name)}


def variant_of(name: str) -> Variant | None:
    return VARIANTS.get(name.split("-", 1)[0])


def expected_best(pool: list[float], budget: int) -> str:
    """Mean ± sd of the best of `budget` draws from `pool` (bootstrap)."""
    best = np.random.default_rng(0).choice(pool, size=(4000, budget)).max(axis=1)
    return f"{100 * best.mean():.2f} ± {100 * best.std():.2f} %"


def best_at(search: dict[str, Any], budget: int) -> float | None:
    """A search's best accuracy in its first `budget` trials (None: it has fewer)."""
    trials = search["trials"]
    return max(t["accuracy"] for t in trials[:budget]) if len(trials) >= budget else None


def paired(searches: dict[str, dict[str, Any]]) -> None:
    """Each search's best@30 against Random@120's and Auto's, seed by seed (the seeds both
    ran): mean difference ± its standard error."""
    references = [("random", 120), ("auto", 30)]
    references = [(name, budget) for name, budget in references if name in searches]
    if not references:
        return
    print("\npaired per seed: best@30 minus the reference's best on the same seed")
    for name, runs in searches.items():
        cells = []
        for reference, budget in references:
            differences = []
            for seed in runs.keys() & searches[reference].keys():
                mine = best_at(runs[seed], 30)
                theirs = best_at(searches[reference][seed], budget)
                if mine is not None and theirs is not None:
                    differences.append(mine - theirs)
            if len(differences) > 1 and (name, 30) != (reference, budget):
                error = statistics.stdev(differences) / math.sqrt(len(differences))
                cells.append(
                    f"vs {reference}@{budget} {100 * statistics.mean(differences):+.2f} ± "
                    f"{100 * error:.2f} ({len(differences)} seeds)"
                )
        if cells:
            print(f"  {name}@30: " + "; ".join(cells))


def oracle() -> str:
    """The best seed-42 accuracy among every configuration the cache holds (all searches,
    the neighbours the diagnosis trained): what a search could find at best."""
    seed42 = []
    for line in (OUT / "cache.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "seed" not in json.loads(entry["key"]):  # the trainer's default: 42
            seed42.append(entry["accuracy"])
    top = sorted(seed42, reverse=True)
    return (
        f"oracle: the best seed-42 accuracy of the {len(top)} configurations in the cache "
        f"{100 * top[0]:.2f} % (10th best {100 * top[9]:.2f} %, 100th {100 * top[99]:.2f} %)"
    )


def report(args: argparse.Namespace) -> None:
    # Imported here: the diagnosis is a separate concern (and a longer read).
    sys.path.insert(0, str(Path(__file__).parent))
    from diagnose import diagnose  # noqa: PLC0415
    from kubetune.analytics.plots import comparison_figure  # noqa: PLC0415 (matplotlib)

    searches = saved_searches()
    table, curves = [], {}
    random30 = Summary("random", 30)
    for run_ in searches.get("random", {}).values():
        random30.bests.append(max(t["accuracy"] for t in run_["trials"][:30]))
    for name, runs in searches.items():
        variant = variant_of(name)
        assert variant is not None
        trials = max(len(r["trials"]) for r in runs.values())
        budgets = (30, trials) if trials > 30 else (trials,)
        for budget in budgets:  # over the seeds whose search has that many trials
            summary = Summary(name, budget)
            for run_ in runs.values():
                if len(run_["trials"]) >= budget:
                    summary.bests.append(max(t["accuracy"] for t in run_["trials"][:budget]))
            table.append(f"{summary.line(random30 if random30.bests else None)}  ({variant.about})")
        label = f"{name}: {variant.about}"
        curves[label] = [best_so_far([t["accuracy"] for t in r["trials"]]) for r in runs.values()]
    print("\n".join(table))
    if "random" in searches:
        pool = [t["accuracy"] for r in searches["random"].values() for t in r["trials"]]
        print(
            f"best of k uniform configurations, bootstrap from all {len(pool)} Random trials:"
            f" k=30 {expected_best(pool, 30)}, k=120 {expected_best(pool, 120)}"
        )
    paired(searches)
    print(oracle())
    for png, shown in (("best-so-far.png", ("auto", "random")), ("variants.png", None)):
        picked = {k: v for k, v in curves.items() if shown is None or k.split(":")[0] in shown}
        comparison_figure(picked, "validation:accuracy", zoom_from=5).savefig(OUT / png, dpi=100)
        print(f"wrote {OUT / png}")
    diagnose(searches, train=args.train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="simulate searches")
    run_parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 11)))
    run_parser.add_argument("--variants", nargs="+", default=["auto", "random"])
    run_parser.add_argument("--trials", type=int, help="instead of the variant's number")
    run_parser.add_argument(
        "--suffix", default="", help="NAME{SUFFIX}.json: e.g. another optimizer's searches"
    )
    check_parser = commands.add_parser("check", help="replay a cluster run's TuningJobs")
    check_parser.add_argument("file", type=Path, help="`kubectl get tj -o json` output")
    check_parser.add_argument("--only", help="only this strategy's TuningJobs")
    report_parser = commands.add_parser("report", help="table, plot and diagnosis")
    report_parser.add_argument(
        "--train", action="store_true", help="train ±1 % neighbours and the bests again"
    )
    args = parser.parse_args()
    {"run": run, "check": check, "report": report}[args.command](args)


if __name__ == "__main__":
    main()

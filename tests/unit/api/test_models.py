"""The TuningJob pydantic models: parsing, defaults, wire format and status size."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubetune.operator import api as models
from kubetune.operator.api import constants
from kubetune.operator.controller.optimizer_input import search_space
from kubetune.operator.kube.metric_logs import FULL_NUMBER_GROUP
from kubetune.operator.kube.validation import validate_spec
from kubetune.optimizer.suggest import suggest
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
ETCD_OBJECT_LIMIT = 1_572_864  # 1.5 MiB


def load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        manifest: dict[str, Any] = yaml.safe_load(f)
    return manifest


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_parses_and_passes_the_operators_validation(path: Path) -> None:
    job = models.TuningJob.model_validate(load(path))
    assert job.api_version == models.API_VERSION
    assert job.kind == models.KIND
    assert validate_spec(job.spec) == []
    assert job.spec.objective_metric().name == job.spec.objective.metric


def test_seed_example_matches_the_issue() -> None:
    spec = models.TuningJob.model_validate(
        load(ROOT / "examples" / "cifar10-resnet34-bayesian.yaml")
    ).spec
    assert spec.strategy is models.Strategy.BAYESIAN
    assert spec.objective == models.Objective(metric="validation:accuracy", type="Maximize")
    assert spec.objective_metric().regex == f"validation: accuracy={FULL_NUMBER_GROUP}"
    ranges = {p.name: (p.min, p.max) for p in spec.parameters}
    assert ranges == {"learning_rate": (0.001, 0.5), "momentum": (0.0, 0.99), "wd": (0.0, 0.001)}
    assert spec.static_hyperparameters is not None
    assert spec.static_hyperparameters["batch_size"] == "1024"
    assert spec.static_hyperparameters["epochs"] == "50"
    assert (spec.limits.max_trials, spec.limits.max_parallel_trials) == (30, 2)
    (container,) = spec.trial_template.containers()
    assert container["image"] == "kubetune/mxnet-trainer:0.1.0"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_random_twin_differs_only_in_strategy_and_budget() -> None:
    bayes = load(ROOT / "examples" / "cifar10-resnet34-bayesian.yaml")["spec"]
    random = load(ROOT / "examples" / "cifar10-resnet34-random.yaml")["spec"]
    assert random["strategy"] == "Random"
    assert random["limits"] == {"maxTrials": 120, "maxParallelTrials": 8}
    for key in ("objective", "metrics", "staticHyperparameters", "trialTemplate"):
        assert random[key] == bayes[key], key
    # The seed's scalings: AMT's default (Auto) for Bayesian; uniform draws for Random.
    assert all("scaling" not in p for p in bayes["parameters"])
    assert [{**p, "scaling": "Linear"} for p in bayes["parameters"]] == random["parameters"]


@pytest.mark.parametrize(("example", "median"), [("bayesian", 0.022), ("random", 0.25)])
def test_random_draws_of_the_cifar10_examples(example: str, median: float) -> None:
    # Our Random strategy samples each parameter in its scaled range: with Auto the seed's
    # learning_rate range (0.001-0.5) is log-uniform (median sqrt(0.001 * 0.5) = 0.022),
    # with Linear uniform (median 0.25), as the seed's random search drew it.
    path = ROOT / "examples" / f"cifar10-resnet34-{example}.yaml"
    space = search_space(models.TuningJob.model_validate(load(path)).spec)
    draws = suggest(space, [], strategy="Random", n=4000, seed=1)
    rates = sorted(float(d["learning_rate"]) for d in draws)
    assert rates[len(rates) // 2] == pytest.approx(median, rel=0.1)


def test_cifar10_data_job_fills_the_claim_the_examples_mount() -> None:
    claim, job = yaml.safe_load_all((ROOT / "examples" / "data" / "cifar10-prepare.yaml").open())
    assert (claim["kind"], job["kind"]) == ("PersistentVolumeClaim", "Job")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = container["volumeMounts"]
    claim_name = claim["metadata"]["name"]
    assert pod["volumes"] == [
        {"name": mount["name"], "persistentVolumeClaim": {"claimName": claim_name}}
    ]
    # The script the trainer images copy next to train.py, writing where the claim is.
    assert container["command"] == [
        "python3",
        "/opt/kubetune/prepare_cifar10.py",
        "--out",
        mount["mountPath"],
    ]
    for dockerfile in ("Dockerfile", "cpu.Dockerfile"):
        text = (ROOT / "trainer-image" / dockerfile).read_text()
        assert "COPY train.py prepare_cifar10.py ./" in text, dockerfile
    for example in ("bayesian", "random"):
        spec = load(ROOT / "examples" / f"cifar10-resnet34-{example}.yaml")["spec"]
        volumes = spec["trialTemplate"]["job"]["template"]["spec"]["volumes"]
        assert volumes[0]["persistentVolumeClaim"]["claimName"] == claim_name


def test_digits_cpu_example_needs_no_gpu() -> None:
    spec = models.TuningJob.model_validate(load(ROOT / "examples" / "digits-cpu.yaml")).spec
    assert spec.static_hyperparameters is not None
    assert spec.static_hyperparameters["dataset"] == "digits"
    assert spec.limits.max_parallel_trials == 2
    assert "nvidia.com/gpu" not in json.dumps(spec.trial_template.job)


def minimal_spec() -> dict[str, Any]:
    return {
        "objective": {"metric": "loss", "type": "Minimize"},
        "metrics": [{"name": "loss", "regex": "loss=([0-9.]+)"}],
        "parameters": [{"name": "x", "type": "Continuous", "min": 0, "max": 1}],
        "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
    }


def test_defaults_match_the_documented_ones() -> None:
    spec = models.TuningJobSpec.from_api(minimal_spec())
    assert spec.strategy is models.Strategy.BAYESIAN
    assert (spec.limits.max_trials, spec.limits.max_parallel_trials) == (10, 1)
    assert spec.limits.max_runtime_seconds is None
    assert spec.early_stopping is models.EarlyStopping.OFF
    assert spec.retry.max_attempts == 1
    assert spec.suspend is False
    assert spec.parameters[0].scaling is models.Scaling.AUTO
    assert spec.trial_template.primary_container_name() == "t"


def test_to_api_is_camel_case_without_nulls_and_round_trips() -> None:
    spec = models.TuningJobSpec.from_api(minimal_spec())
    wire = spec.to_api()
    assert wire["limits"] == {"maxTrials": 10, "maxParallelTrials": 1}
    assert "completionCriteria" not in wire
    assert "null" not in json.dumps(wire)
    assert models.TuningJobSpec.from_api(wire) == spec


def test_unknown_spec_field_is_an_error_naming_it() -> None:
    raw = minimal_spec()
    raw["limits"] = {"maxTrial": 5}
    with pytest.raises(ValidationError, match="maxTrial"):
        models.TuningJobSpec.from_api(raw)


def test_status_ignores_fields_written_by_a_newer_operator() -> None:
    status = models.TuningJobStatus.from_api({"phase": "InProgress", "futureField": 1})
    assert status.phase is models.Phase.IN_PROGRESS


def test_status_timestamps_are_rfc3339_utc_seconds() -> None:
    cet = timezone(timedelta(hours=1))
    trial = models.TrialStatus(
        name="t-001",
        start_time=datetime(2025, 1, 1, 11, 0, 0, 123456, tzinfo=cet),
        end_time=datetime(2025, 1, 1, 10, 5, 0),  # naive: taken as UTC
    )
    wire = trial.to_api()
    assert wire["startTime"] == "2025-01-01T10:00:00Z"
    assert wire["endTime"] == "2025-01-01T10:05:00Z"
    assert models.TrialStatus.from_api(wire).start_time == datetime(2025, 1, 1, 10, tzinfo=UTC)


def test_long_trial_message_keeps_its_start_and_its_end_within_the_schema_limit() -> None:
    # containerd's message for a refused connection, as the real node gives it: cut at
    # its end, the trial's message would lose the cause.
    image = "127.0.0.1:39445/kubetune/missing:1"
    message = (
        "waiting for its image: the pull is being retried (for up to 5 min): "
        f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
        f'failed to do request: Head "https://127.0.0.1:39445/v2/kubetune/missing/manifests/1":'
        " dial tcp 127.0.0.1:39445: connect: connection refused"
    )
    trial = models.TrialStatus(name="t", message=message)
    assert trial.message is not None
    assert len(trial.message) == constants.MAX_TRIAL_MESSAGE_LENGTH
    assert trial.message.startswith("waiting for its image: the pull is being retried")
    assert trial.message == message[:76] + "…" + message[-51:]
    assert trial.message.endswith("127.0.0.1:39445: connect: connection refused")


def test_condition_lookup() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    status = models.TuningJobStatus(
        conditions=[
            models.Condition(
                type=models.ConditionType.SUSPENDED,
                status=models.ConditionStatus.TRUE,
                reason="Suspended",
                last_transition_time=now,
            )
        ]
    )
    suspended = status.condition(models.ConditionType.SUSPENDED)
    assert suspended is not None
    assert suspended.status is models.ConditionStatus.TRUE
    assert status.condition(models.ConditionType.FAILED) is None


def trial_values_bytes_bound(spec: models.TuningJobSpec) -> int:
    """The CEL rule's per-trial bound, computed in Python (see api.cel.SPEC_RULES)."""
    total = 0
    for p in spec.parameters:
        value = max(map(len, p.values)) if p.values else constants.NUMBER_TEXT_MAX_LENGTH
        total += len(p.name) + 6 + value
    for m in spec.metrics:
        if m.name != spec.objective.metric:
            total += len(m.name) + 6 + constants.NUMBER_TEXT_MAX_LENGTH
    return total


def largest_admitted_spec(
    parameters: int, metrics: int, metric_name_length: int, strategy: str
) -> Any:
    """40-character parameters and metrics with names of the given length, with the
    largest maxTrials the size rule admits for them (with Hyperband, less the bytes the
    rule reserves for each trial's rung values and epochs)."""
    width = constants.HYPERPARAMETER_NAME_MAX_LENGTH
    raw = minimal_spec()
    raw["strategy"] = strategy
    if strategy == "Hyperband":
        raw["hyperband"] = {"minResource": 1, "maxResource": 6561}
    raw["parameters"] = [
        {"name": f"p{i:0{width - 1}d}", "type": "Continuous", "min": -1, "max": 1}
        for i in range(parameters)
    ]
    raw["metrics"] = [
        {"name": f"m{i:0{metric_name_length - 1}d}", "regex": "m=([0-9.]+)"} for i in range(metrics)
    ]
    raw["objective"]["metric"] = raw["metrics"][0]["name"]
    spec = models.TuningJobSpec.from_api(raw)
    budget = constants.STATUS_TRIAL_VALUES_BUDGET_BYTES
    per_trial = trial_values_bytes_bound(spec) + reserved_bytes(spec)
    spec.limits.max_trials = min(models.MAX_TRIALS, budget // per_trial)
    return spec


def reserved_bytes(spec: models.TuningJobSpec) -> int:
    hyperband = spec.strategy is models.Strategy.HYPERBAND
    return constants.HYPERBAND_TRIAL_STATUS_BYTES if hyperband else 0


@pytest.mark.parametrize(
    ("parameters", "metrics", "metric_name_length", "strategy"),
    [
        (10, 1, 1, "Bayesian"),  # the most 40-character parameters at 1000 trials
        (5, 5, 40, "Bayesian"),  # parameters and recorded metrics, at 1000 trials
        (1, 40, 255, "Bayesian"),  # the most and longest metrics the schema allows
        (30, 40, 255, "Bayesian"),
        (5, 1, 1, "Hyperband"),  # with rung values at the most rungs, at 1000 trials
        (30, 40, 255, "Hyperband"),
    ],
)
def test_the_largest_status_admission_allows_fits_well_under_the_etcd_limit(
    parameters: int, metrics: int, metric_name_length: int, strategy: str
) -> None:
    """The largest maxTrials the size rule lets through for these parameters and metrics,
    every string field at its maximum length (with Hyperband: a value and a seq at each of
    the most rungs admission allows, and the epochs of 30 full attempts): the whole object
    stays under 1.5 MiB."""
    spec = largest_admitted_spec(parameters, metrics, metric_name_length, strategy)
    assert spec.limits.max_trials * (trial_values_bytes_bound(spec) + reserved_bytes(spec)) <= (
        constants.STATUS_TRIAL_VALUES_BUDGET_BYTES
    )
    hyperband = strategy == "Hyperband"
    rungs = constants.MAX_HYPERBAND_RUNGS if hyperband else 0
    value = "-1.2345678901234567e-100"
    assert len(value) == constants.NUMBER_TEXT_MAX_LENGTH
    hps = {p.name: value for p in spec.parameters}
    recorded = {m.name: float(value) for m in spec.metrics[1:]}
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    trials = [
        models.TrialStatus(
            name=f"{'j' * 58}-{i:04d}",
            hyperparameters=hps,
            objective=-1.2345678901234567e-100,
            metrics=recorded or None,
            intermediate_count=10_000,
            phase=models.TrialPhase.EARLY_STOPPED,
            reason="R" * 64,
            message="m" * 500,
            attempt=30,
            rung_values=[-1.2345678901234567e-100] * rungs if hyperband else None,
            rung_seqs=[7999 - k for k in range(rungs)] if hyperband else None,
            epochs=30 * 20000 if hyperband else None,  # 30 attempts of maxResource each
            start_time=t0,
            end_time=t0,
        )
        for i in range(spec.limits.max_trials)
    ]
    status = models.TuningJobStatus(
        observed_generation=12,
        phase=models.Phase.IN_PROGRESS,
        reason="TrialsRunning",
        message="x" * 1000,
        conditions=[
            models.Condition(
                type=t,
                status="True",
                reason="Reason",
                message="c" * 1000,
                last_transition_time=t0,
                observed_generation=12,
            )
            for t in models.ConditionType
        ],
        start_time=t0,
        counters=models.TrialCounters(completed=1000),
        best_trial=models.BestTrial(name=trials[0].name, hyperparameters=hps, objective=1.0),
        best_objective=1.0,
        trials_done="1000/1000",
        epochs_consumed=20_000_000 if hyperband else None,
        trials=trials,
    )
    job = models.TuningJob(metadata={"name": "j" * 58}, spec=spec, status=status)
    size = len(json.dumps(job.to_api(), separators=(",", ":")))
    print(f"{parameters} parameters, {metrics} metrics: {len(trials)} trials, {size} bytes")
    assert size < 0.85 * ETCD_OBJECT_LIMIT, size


def test_forty_metrics_lower_the_admitted_max_trials_and_1000_needs_few() -> None:
    """The size rule is what bounds the recorded metrics: 40 long-named ones admit far
    fewer than 1000 trials, while a typical job (a few short metrics) admits 1000."""
    assert largest_admitted_spec(30, 40, 255, "Bayesian").limits.max_trials < 100
    assert largest_admitted_spec(5, 5, 20, "Bayesian").limits.max_trials == models.MAX_TRIALS


@pytest.mark.parametrize(
    ("parameter", "value", "text"),
    [
        ({"type": "Continuous", "min": 0, "max": 1}, 0.1, "0.1"),
        ({"type": "Continuous", "min": -1, "max": 1}, -1.2345678901234567e-100, None),
        ({"type": "Integer", "min": 1, "max": 1024}, 63.9999, "64"),
        ({"type": "Integer", "min": -5, "max": 5}, -3.0, "-3"),
        ({"type": "Categorical", "values": ["sgd", "adam"]}, "adam", "adam"),
    ],
)
def test_format_hyperparameter_fits_the_status_size_rule(
    parameter: dict[str, Any], value: float | str, text: str | None
) -> None:
    p = models.Parameter.model_validate({"name": "p", **parameter})
    formatted = models.format_value(p, value)
    if text is not None:
        assert formatted == text
    else:
        assert float(formatted) == value  # exact round trip
    assert len(formatted) <= constants.NUMBER_TEXT_MAX_LENGTH

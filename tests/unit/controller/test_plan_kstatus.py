"""kstatus' Reconciling and Stalled conditions (QA99 M1): Flux's health checks and Helm
4's `--wait` read only them (and `status.observedGeneration`) on a kind they do not know,
so without them a running job and a Failed one both read as healthy ("Current")."""

from __future__ import annotations

from pathlib import Path

import yaml
from kubetune.operator.api import Phase, TuningJobStatus
from kubetune.operator.controller import Snapshot, plan
from support.plan_sim import T0, Sim
from support.specs import make_spec

ROOT = Path(__file__).resolve().parents[3]
LIMITS = {"maxTrials": 2, "maxParallelTrials": 1}


def kstatus(status: TuningJobStatus, generation: int = 1) -> str:
    """The status kstatus computes for a kind it does not know, as its Go code does
    (github.com/fluxcd/cli-utils pkg/kstatus/status: checkGenericProperties, then the
    Ready condition, else Current)."""
    if status.observed_generation is not None and status.observed_generation != generation:
        return "InProgress"
    for condition in status.conditions:
        if condition.type == "Reconciling" and condition.status == "True":
            return "InProgress"
        if condition.type == "Stalled" and condition.status == "True":
            return "Failed"
    ready = status.condition("Ready")
    if ready is not None and ready.status != "True":
        return "InProgress"
    return "Current"


def conditions(status: TuningJobStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_a_job_is_in_progress_until_it_completes_then_current() -> None:
    sim = Sim(make_spec(limits=LIMITS))
    running = sim.step().status
    assert conditions(running)["Reconciling"] == ("True", "TrialsRunning")
    assert "Stalled" not in conditions(running) and kstatus(running) == "InProgress"
    sim.run()
    done = sim.status
    assert done.phase is Phase.COMPLETED
    assert conditions(done)["Reconciling"] == ("False", "MaxTrialsReached")
    assert "Stalled" not in conditions(done) and kstatus(done) == "Current"


def test_a_failed_job_is_stalled_with_its_reason_and_message() -> None:
    sim = Sim(make_spec(limits=LIMITS))
    sim.step()
    for _ in range(2):
        sim.finish(sim.running()[0], state="Failed", reason="Error", message="exit code 3")
        sim.step()
    failed = sim.status
    assert failed.phase is Phase.FAILED and failed.reason
    stalled = failed.condition("Stalled")
    assert stalled is not None and stalled.status == "True"
    assert (stalled.reason, stalled.message) == (failed.reason, failed.message)
    assert conditions(failed)["Reconciling"] == ("False", failed.reason)
    assert kstatus(failed) == "Failed"
    assert conditions(sim.step().status) == conditions(failed)  # looked at again: the same


def test_an_invalid_spec_is_stalled() -> None:
    decided = plan(
        Snapshot(
            name="tj",
            uid="u",
            generation=1,
            spec=make_spec(),
            invalid=["spec.metrics[0].regex (metric 'loss'): bad"],
            status=TuningJobStatus(),
        ),
        T0,
    )
    assert conditions(decided.status)["Stalled"] == ("True", "InvalidSpec")
    assert kstatus(decided.status) == "Failed"


def test_a_suspended_job_is_current_and_in_progress_again_once_resumed() -> None:
    """Held by spec.suspend, nothing happens until a person resumes it: waiting for it
    (`helm install --wait`) would only time out."""
    sim = Sim(make_spec(limits=LIMITS, suspend=True))
    held = sim.step().status
    assert conditions(held)["Reconciling"] == ("False", "Suspended")
    assert kstatus(held) == "Current"
    sim.spec = make_spec(limits=LIMITS)
    resumed = sim.step().status
    assert conditions(resumed)["Reconciling"] == ("True", "TrialsRunning")
    assert kstatus(resumed) == "InProgress"


def test_every_condition_carries_the_generation_of_the_last_look() -> None:
    """QA99 L3: stopped while suspended, the Suspended condition (set only while the job
    goes on) kept the generation before the stop."""
    sim = Sim(make_spec(limits=LIMITS, suspend=True))
    sim.step()
    stopped = plan(
        Snapshot(
            name="tj",
            uid="uid",
            generation=2,
            spec=make_spec(limits=LIMITS, suspend=True, stop=True),
            status=sim.status,
            jobs=sim.jobs,
        ),
        sim.now,
    ).status
    assert stopped.phase is Phase.STOPPED
    assert "Suspended" in conditions(stopped)
    assert {c.type: c.observed_generation for c in stopped.conditions} == dict.fromkeys(
        conditions(stopped), 2
    )
    assert kstatus(stopped, generation=2) == "Current"


def test_a_job_not_looked_at_yet_is_in_progress_and_planned_as_any_new_one() -> None:
    """The API server shows a TuningJob the operator has not written yet with the CRD's
    default status: without any, kstatus read "Current" and `helm install --wait`
    returned before the operator had looked."""
    crd = yaml.safe_load((ROOT / "crds" / "kubetune.io_tuningjobs.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert schema["default"] == {"observedGeneration": 0}
    fresh = TuningJobStatus.model_validate(schema["default"])
    assert kstatus(fresh) == "InProgress"
    sim = Sim(make_spec(limits=LIMITS))
    sim.status = fresh
    first = sim.step().status
    assert first.observed_generation == 1 and first.phase is Phase.IN_PROGRESS
    assert kstatus(first) == "InProgress" and len(first.trials) == 1

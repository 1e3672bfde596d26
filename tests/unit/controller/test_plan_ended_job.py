"""A spec changed after the job ended: observed (the status says the new generation),
nothing more run or changed, and said once per change in a SpecChangeIgnored Event."""

from __future__ import annotations

from kubetune.operator.api import Phase
from kubetune.operator.controller import Plan, Snapshot, plan
from support.plan_sim import Sim
from support.specs import make_spec


def look(sim: Sim, generation: int, **limits: int) -> Plan:
    """A plan of the ended job in `sim` at `generation` of its spec."""
    spec = make_spec(limits={"maxTrials": 3, "maxParallelTrials": 3, **limits})
    snapshot = Snapshot(
        name="tj", uid="uid", generation=generation, spec=spec, status=sim.status, jobs=sim.jobs
    )
    decided = plan(snapshot, sim.now)
    sim.status = decided.status
    return decided


def test_a_spec_change_to_an_ended_job_is_observed_and_said_once_to_do_nothing() -> None:
    sim = Sim(make_spec(limits={"maxTrials": 3, "maxParallelTrials": 3}))
    sim.run()
    ended = sim.status
    assert (ended.phase, ended.observed_generation) == (Phase.COMPLETED, 1)

    decided = look(sim, 2, maxTrials=12)
    assert decided.launch == [] and decided.delete == []
    assert decided.status.observed_generation == 2
    unchanged = {"observed_generation", "conditions"}
    assert decided.status.model_dump(exclude=unchanged) == ended.model_dump(exclude=unchanged)
    assert [(c.type, c.observed_generation) for c in decided.status.conditions] == [
        (c.type, 2) for c in ended.conditions
    ]
    [event] = decided.events
    assert (event.type, event.reason) == ("Warning", "SpecChangeIgnored")
    assert event.message == (
        "spec changed (generation 2) after the job ended (Completed): an ended TuningJob "
        "stays ended and its spec no longer applies; to tune further, create a new "
        "TuningJob with spec.warmStart.parents: [tj]"
    )

    assert look(sim, 2, maxTrials=12).events == []  # said once
    assert [e.reason for e in look(sim, 3, maxTrials=1).events] == ["SpecChangeIgnored"]
    assert sim.status.observed_generation == 3


def test_a_stopped_job_says_so_too() -> None:
    sim = Sim(make_spec(limits={"maxTrials": 3, "maxParallelTrials": 3}))
    sim.step()
    sim.spec = make_spec(limits={"maxTrials": 3, "maxParallelTrials": 3}, stop=True)
    sim.step()
    assert sim.status.phase is Phase.STOPPED
    [event] = look(sim, 2, maxTrials=6).events
    assert "after the job ended (Stopped)" in event.message


def test_a_job_failed_as_invalid_says_so_too() -> None:
    sim = Sim(make_spec())
    invalid = ["spec.trialTemplate.job: the API server refused trial Job tj-001: no"]
    sim.step(invalid=invalid)
    assert (sim.status.phase, sim.status.reason) == (Phase.FAILED, "InvalidSpec")
    snapshot = Snapshot(
        name="tj", uid="uid", generation=2, spec=sim.spec, invalid=invalid, status=sim.status
    )
    decided = plan(snapshot, sim.now)
    assert (decided.status.phase, decided.status.observed_generation) == (Phase.FAILED, 2)
    assert [(e.reason, "ended (Failed)" in e.message) for e in decided.events] == [
        ("SpecChangeIgnored", True)
    ]

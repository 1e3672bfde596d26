"""plan() keeps the note that trial Jobs could not be deleted (`jobs_left`, QA93 L3) while
Jobs remain to delete, at the end of a message it sets afresh, and drops it after."""

from __future__ import annotations

from kubetune.operator.api import Phase
from kubetune.operator.controller import JobObservation
from kubetune.operator.controller.plan import jobs_left
from support.plan_sim import T0, Sim
from support.specs import make_spec


def test_a_running_jobs_note_follows_its_fresh_message_until_the_job_is_deleted() -> None:
    sim = Sim(make_spec(limits={"maxTrials": 6, "maxParallelTrials": 2}))
    sim.step()
    sim.finish("tj-001")
    sim.step()  # tj-001 Succeeded, tj-003 launched
    # tj-001's Job left running (its deletion refused), as the reconcile then records it.
    sim.jobs["tj-001"] = JobObservation("tj-001", "Running", started=T0)
    sim.status = jobs_left(sim.status, ["tj-001"], "ns", "denied by policy p", sim.now)
    note = sim.status.conditions[-1].message
    assert note.startswith("1 trial Job could not be deleted yet (tj-001): the API server")

    kept = sim.step()
    assert kept.delete == ["tj-001"] and kept.status.phase is Phase.IN_PROGRESS
    assert kept.status.message is not None and kept.status.message.endswith(f"; {note}")
    assert kept.status.message.count(note) == 1
    assert kept.status.condition("JobsLeft") is not None

    gone = sim.step()  # the Sim deleted it: nothing is left to delete
    assert gone.delete == [] and gone.status.condition("JobsLeft") is None
    assert gone.status.message is not None and "could not be deleted" not in gone.status.message
    assert gone.status.message == kept.status.message.removesuffix(f"; {note}")

"""A spec edited after its TuningJob ended (QA99 H1): the operator observes it,
`status.observedGeneration` following `metadata.generation` as kstatus (Helm 4's
`--wait`, Flux's health checks) waits for, the job staying as it ended, and says once per
change, in a SpecChangeIgnored Event, that the change does nothing and what to do
instead. The job's daemon has returned by then (kopf never starts it again): without
this the generation stayed unobserved for ever, or until the operator restarted."""

from __future__ import annotations

from typing import Any

from support.operator_harness import Api, OperatorProcess, tuning_job, wait_for

TIMEOUT = 120.0


def observed(api: Api, name: str) -> dict[str, Any] | None:
    """The TuningJob once its status observed its latest generation."""
    body = api.get(name) or {}
    status = body.get("status") or {}
    return body if status.get("observedGeneration") == body["metadata"]["generation"] else None


def ignored(api: Api, name: str) -> dict[int, int]:
    """How many SpecChangeIgnored Events were posted on `name`, by the generation each
    names."""
    counts: dict[int, int] = {}
    for event in api.events(name):
        if event.reason == "SpecChangeIgnored":
            generation = int(event.message.split("(generation ")[1].split(")")[0])
            counts[generation] = counts.get(generation, 0) + (event.count or 1)
    return counts


def assert_as_it_ended(body: dict[str, Any], ended: dict[str, Any], generation: int) -> None:
    status = body["status"]
    assert body["metadata"]["generation"] == generation
    for field in ("phase", "reason", "message", "trialsDone", "trials", "completionTime"):
        assert status.get(field) == ended.get(field), field
    # Each condition still holds, now for the new spec too.
    assert {c["type"]: c["observedGeneration"] for c in status["conditions"]} == {
        c["type"]: generation for c in ended["conditions"]
    }


def test_a_spec_edited_after_the_job_ended_is_observed_and_said_to_do_nothing(
    api: Api, operator: OperatorProcess
) -> None:
    api.create(tuning_job("done", max_trials=2, parallel=2))
    api.create(
        tuning_job("halted", max_trials=4, parallel=1, static={"mode": "sleep", "seconds": "600"})
    )
    wait_for("halted's trial to run", lambda: api.running_pod("halted"), operator=operator)
    api.patch_spec("halted", {"stop": True})
    ends = {"done": ("Completed", "MaxTrialsReached"), "halted": ("Stopped", "StoppedByUser")}
    ended: dict[str, dict[str, Any]] = {}
    for name, (phase, reason) in ends.items():
        ended[name] = wait_for(
            f"{name} to end", lambda n=name: api.terminal(n), timeout=TIMEOUT, operator=operator
        )
        assert (ended[name]["phase"], ended[name]["reason"]) == (phase, reason)
        # The Event of its end is posted after its last reconcile: its daemon has returned.
        wait_for(
            f"{name}'s {reason} Event",
            lambda n=name, r=reason: r in {e.reason for e in api.events(n)},
            operator=operator,
        )
    generation = {"done": 1, "halted": 2}

    # Raised limits (and stop on a Completed job): accepted by the API server, observed.
    api.patch_spec("done", {"limits": {"maxTrials": 4, "maxParallelTrials": 3}})
    api.patch_spec("halted", {"limits": {"maxTrials": 8, "maxParallelTrials": 1}})
    api.patch_spec("done", {"stop": True})
    for name in ends:
        body = wait_for(
            f"{name}'s new spec observed", lambda n=name: observed(api, n), operator=operator
        )
        generation[name] = body["metadata"]["generation"]
        assert_as_it_ended(body, ended[name], generation[name])
        # Said once per change the operator saw (two edits may reach it as one).
        events = wait_for(
            f"{name}'s SpecChangeIgnored Event",
            lambda n=name: (e := ignored(api, n)) and generation[n] in e and e,
            operator=operator,
        )
        assert all(count == 1 for count in events.values()), events
        message = next(e.message for e in api.events(name) if e.reason == "SpecChangeIgnored")
        assert f"after the job ended ({ends[name][0]})" in message
        assert f"create a new TuningJob with spec.warmStart.parents: [{name}]" in message
    assert len(api.jobs("done")) == 2 and len(ended["done"]["trials"]) == 2  # nothing ran

    # Edited while the operator is down: the restarted one observes it, and says so too.
    operator.kill()
    api.patch_spec("done", {"limits": {"maxTrials": 5, "maxParallelTrials": 3}})
    operator.start()
    body = wait_for(
        "done's edit observed after a restart", lambda: observed(api, "done"), operator=operator
    )
    assert_as_it_ended(body, ended["done"], generation["done"] + 1)
    events = wait_for(
        "the restarted operator's SpecChangeIgnored Event",
        lambda: (e := ignored(api, "done")) and generation["done"] + 1 in e and e,
        operator=operator,
    )
    assert events[generation["done"] + 1] == 1, events

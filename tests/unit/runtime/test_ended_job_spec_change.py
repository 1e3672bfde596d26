"""A spec edited after its TuningJob ended, its daemon returned (kopf never starts it
again): `tuning_job_changed` reconciles it once, so the new generation is observed, the
job staying as it ended, with one SpecChangeIgnored Event (QA99 H1)."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from kubetune.operator.kube import reconcile
from kubetune.operator.runtime.handlers import Runtime, tuning_job, tuning_job_changed
from support.memory_kube import MemoryKube
from support.specs import spec_dict

NS, NAME = "ns", "tj"


def completed_job() -> MemoryKube:
    """A TuningJob of one trial, Completed."""
    kube = MemoryKube()
    kube.add_tuning_job(NS, NAME, spec_dict(limits={"maxTrials": 1, "maxParallelTrials": 1}))
    reconcile(kube, NS, NAME)
    kube.finish_job(NS, "tj-001", b"loss=0.5\n")
    reconcile(kube, NS, NAME)
    assert kube.status(NS, NAME)["phase"] == "Completed"
    return kube


def edit_spec(kube: MemoryKube, **limits: int) -> dict[str, Any]:
    """What the API server does with a spec change: a new generation."""
    body = kube.tuning_jobs[(NS, NAME)]
    body["spec"]["limits"].update(limits)
    body["metadata"]["generation"] += 1
    body["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 100)
    return kopf.Body(kube.get_tuning_job(NS, NAME))  # type: ignore[arg-type]


def handler_kwargs(runtime: Runtime) -> dict[str, Any]:
    memo = kopf.Memo(runtime=runtime)
    logger = kopf.LocalObjectLogger(body=kopf.Body({}), settings=kopf.OperatorSettings())
    return {"namespace": NS, "name": NAME, "memo": memo, "logger": logger}


def test_an_ended_jobs_spec_change_is_observed_after_its_daemon_returned() -> None:
    kube = completed_job()
    runtime = Runtime(kube=kube)  # type: ignore[arg-type]
    kwargs = handler_kwargs(runtime)
    indices = {"trial_jobs": {}, "trial_pods": {}}
    ended = kube.status(NS, NAME)

    async def scenario() -> None:
        body = kopf.Body(kube.get_tuning_job(NS, NAME))  # type: ignore[arg-type]
        await tuning_job(body=body, **kwargs, **indices)  # looks once, returns: ended
        assert not runtime.wakers.wakers  # no daemon left to wake
        edited = edit_spec(kube, maxTrials=3)
        await tuning_job_changed(type="MODIFIED", body=edited, **kwargs, **indices)

    asyncio.run(scenario())
    runtime.events.executor.shutdown(wait=True)
    status = kube.status(NS, NAME)
    assert status["observedGeneration"] == 2
    for field in ("phase", "reason", "message", "trialsDone", "trials"):
        assert status.get(field) == ended.get(field), field
    assert kube.called("create_job") == ["tj-001"]  # nothing more ran
    [(type_, _, message)] = [e for e in kube.events if e[1] == "SpecChangeIgnored"]
    assert type_ == "Warning"
    assert message == (
        "spec changed (generation 2) after the job ended (Completed): an ended TuningJob "
        "stays ended and its spec no longer applies; to tune further, create a new "
        "TuningJob with spec.warmStart.parents: [tj]"
    )


def test_a_change_that_arrives_while_the_daemon_ends_the_job_is_observed() -> None:
    """The edit lands during the reconcile that ends the job, after it read the spec: the
    daemon, woken meanwhile, looks once more rather than end unaware of it."""
    kube = MemoryKube()
    kube.add_tuning_job(NS, NAME, spec_dict(limits={"maxTrials": 1, "maxParallelTrials": 1}))
    reconcile(kube, NS, NAME)  # tj-001 runs
    stop = kube.tuning_jobs[(NS, NAME)]
    stop["spec"]["stop"] = True  # the daemon's first look ends the job: Stopped
    stop["metadata"]["generation"] = 2
    runtime = Runtime(kube=kube)  # type: ignore[arg-type]
    kwargs = handler_kwargs(runtime)
    watched = kube.get_tuning_job(NS, NAME)
    assert watched is not None
    write_status = kube.patch_status

    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        def edited_meanwhile(*args: Any) -> dict[str, Any]:
            written = write_status(*args)
            if written["metadata"]["generation"] == 2:
                edit_spec(kube, maxTrials=3)
                # What kopf does on the watch event: update the daemon's body, then the
                # handler wakes the daemon.
                watched.update(kube.get_tuning_job(NS, NAME) or {})
                loop.call_soon_threadsafe(runtime.wakers.wake, NS, NAME)
            return written

        kube.patch_status = edited_meanwhile  # type: ignore[method-assign]
        body = kopf.Body(watched)  # type: ignore[arg-type]
        key = (NS, NAME)  # the watches' indices, by (namespace, TuningJob label)
        jobs, pods = {key: kube.list_trial_jobs(*key)}, {key: kube.list_trial_pods(*key)}
        await asyncio.wait_for(
            tuning_job(body=body, trial_jobs=jobs, trial_pods=pods, **kwargs), timeout=10
        )

    asyncio.run(scenario())
    runtime.events.executor.shutdown(wait=True)
    status = kube.status(NS, NAME)
    assert (status["phase"], status["observedGeneration"]) == ("Stopped", 3)
    assert [e[1] for e in kube.events].count("SpecChangeIgnored") == 1

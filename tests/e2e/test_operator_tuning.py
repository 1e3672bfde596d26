"""The real operator against the local cluster: strategies, stopping criteria, suspend,
live limit changes, deletion and invalid specs. Trials run fake_trainer.py as real
processes; assertions are on status semantics, not only that pods ran.
"""

from __future__ import annotations

import math
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client
from support.operator_harness import (
    Api,
    OperatorProcess,
    objective,
    tuning_job,
    wait_for,
)

TIMEOUT = 120.0


def assert_objectives_match_hyperparameters(
    status: dict[str, Any], static: dict[str, str] | None = None
) -> None:
    """Every succeeded trial's objective is what the trainer printed for its values."""
    for trial in status["trials"]:
        if trial["phase"] == "Succeeded":
            hp = {**(static or {}), **trial["hyperparameters"]}
            expected = objective(float(hp.get("x", 0)), int(hp.get("n", 0)))
            assert math.isclose(trial["objective"], expected, rel_tol=1e-12), trial
            assert trial["intermediateCount"] == 1  # ^loss=...$ matches only the last line


def assert_one_job_per_trial(api: Api, name: str, status: dict[str, Any]) -> None:
    jobs = sorted(j.metadata.name for j in api.jobs(name))
    assert jobs == sorted(t["name"] for t in status["trials"]), "a Job per trial, no more"


def test_every_strategy_runs_max_trials_and_records_objectives(
    api: Api, operator: OperatorProcess
) -> None:
    grid_params = [
        {"name": "x", "type": "Categorical", "values": ["0.1", "0.3", "0.9"]},
        {"name": "n", "type": "Integer", "min": 0, "max": 1},
    ]
    jobs = {
        "bayes": tuning_job("bayes", strategy="Bayesian", max_trials=6, parallel=2),
        "random": tuning_job("random", strategy="Random", max_trials=5, parallel=3),
        "sobol": tuning_job("sobol", strategy="Sobol", max_trials=4, parallel=2),
        # 6 grid points, maxTrials 10: the grid runs out first.
        "grid": tuning_job(
            "grid", strategy="Grid", max_trials=10, parallel=3, parameters=grid_params
        ),
    }
    for body in jobs.values():
        api.create(body)
    for name, body in jobs.items():
        status = wait_for(
            f"{name} to finish", lambda n=name: api.terminal(n), timeout=TIMEOUT, operator=operator
        )
        max_trials = body["spec"]["limits"]["maxTrials"]
        assert status["phase"] == "Completed", status
        if name == "grid":
            assert status["reason"] == "SearchSpaceExhausted"
            points = {
                (t["hyperparameters"]["x"], t["hyperparameters"]["n"]) for t in status["trials"]
            }
            assert len(points) == len(status["trials"]) == 6
        else:
            assert status["reason"] == "MaxTrialsReached"
            assert len(status["trials"]) == max_trials
            assert status["counters"]["completed"] == max_trials
        assert_objectives_match_hyperparameters(status)
        assert_one_job_per_trial(api, name, status)
        best = min(t["objective"] for t in status["trials"])
        assert status["bestTrial"]["objective"] == best == status["bestObjective"]
        conditions = {c["type"]: c for c in status["conditions"]}
        assert conditions["Succeeded"]["status"] == "True"
        assert conditions["Succeeded"]["observedGeneration"] == 1
        assert status["startTime"] and status["completionTime"]
        # Events are posted in the background, best effort: they may trail the status.
        wanted = {"TrialCreated", "TrialCompleted", status["reason"]}
        wait_for(
            f"{name}'s Events {sorted(wanted)}",
            lambda n=name, w=wanted: w <= {e.reason for e in api.events(n)},
            operator=operator,
        )


def test_stopping_criteria(api: Api, operator: OperatorProcess) -> None:
    api.create(
        tuning_job(
            "target", max_trials=40, parallel=2, completionCriteria={"targetObjective": 0.02}
        )
    )
    api.create(
        tuning_job(
            "plateau", max_trials=40, parallel=1, completionCriteria={"maxTrialsNotImproving": 2}
        )
    )
    api.create(
        tuning_job(
            "failing",
            max_trials=10,
            parallel=2,
            static={"mode": "fail"},
            limits={"maxTrials": 10, "maxParallelTrials": 2, "maxFailedTrials": 1},
        )
    )
    api.create(
        tuning_job(
            "runtime",
            max_trials=10,
            parallel=2,
            static={"mode": "sleep", "seconds": "600"},
            limits={"maxTrials": 10, "maxParallelTrials": 2, "maxRuntimeSeconds": 4},
        )
    )

    target = wait_for("target", lambda: api.terminal("target"), timeout=TIMEOUT, operator=operator)
    assert (target["phase"], target["reason"]) == ("Completed", "TargetObjectiveReached")
    assert target["bestObjective"] <= 0.02  # completed by target => best meets it
    assert len(target["trials"]) < 40

    plateau = wait_for(
        "plateau", lambda: api.terminal("plateau"), timeout=TIMEOUT, operator=operator
    )
    assert (plateau["phase"], plateau["reason"]) == ("Completed", "MaxTrialsNotImproving")
    values = [t["objective"] for t in plateau["trials"]]
    best_index = values.index(min(values))
    assert len(values) - 1 - best_index >= 2  # the last 2 did not improve on the best

    failing = wait_for(
        "failing", lambda: api.terminal("failing"), timeout=TIMEOUT, operator=operator
    )
    assert (failing["phase"], failing["reason"]) == ("Failed", "MaxFailedTrialsExceeded")
    # The job fails at the second failure. With 2 in parallel, the first failure frees a
    # slot for a third trial, which may fail too before the operator sees the second
    # (seen under load): 2 or 3 failures, but no trial is launched once the limit is past.
    assert 2 <= failing["counters"]["failed"] <= 3
    assert len(failing["trials"]) <= 3
    failed = [t for t in failing["trials"] if t["phase"] == "Failed"]
    assert all(t["reason"] == "Error" and "code 3" in t["message"] for t in failed)

    runtime = wait_for(
        "runtime", lambda: api.terminal("runtime"), timeout=TIMEOUT, operator=operator
    )
    assert (runtime["phase"], runtime["reason"]) == ("Stopped", "MaxRuntimeExceeded")
    assert {t["phase"] for t in runtime["trials"]} == {"Stopped"}
    wait_for(
        "the stopped trials' pods to go",
        lambda: not api.pods("runtime"),
        timeout=60,
        operator=operator,
    )


def test_suspend_resume_and_live_limits(api: Api, operator: OperatorProcess) -> None:
    api.create(tuning_job("paused", max_trials=3, parallel=1, suspend=True))
    generation = api.get("paused")["metadata"]["generation"]  # type: ignore[index]

    def suspended() -> bool:
        status = api.status("paused")
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        return status.get("observedGeneration") == generation and (
            conditions.get("Suspended") == "True"
        )

    wait_for("the operator to see the suspended job", suspended, operator=operator)
    assert api.jobs("paused") == [] and api.status("paused")["phase"] == "InProgress"
    api.patch_spec("paused", {"suspend": False})
    status = wait_for(
        "resumed job to finish", lambda: api.terminal("paused"), timeout=TIMEOUT, operator=operator
    )
    assert status["phase"] == "Completed" and len(status["trials"]) == 3

    # Live limits: a long job, one trial at a time, each sleeping until stopped.
    api.create(
        tuning_job("live", max_trials=50, parallel=1, static={"mode": "sleep", "seconds": "600"})
    )
    wait_for("one trial running", lambda: len(api.jobs("live")) == 1, operator=operator)
    api.patch_spec("live", {"limits": {"maxTrials": 50, "maxParallelTrials": 3}})
    wait_for("parallelism raised to 3", lambda: len(api.jobs("live")) == 3, operator=operator)
    # Lower maxTrials to what exists and a runtime that has passed: the job ends now.
    api.patch_spec(
        "live", {"limits": {"maxTrials": 3, "maxParallelTrials": 3, "maxRuntimeSeconds": 1}}
    )
    status = wait_for(
        "live job to stop", lambda: api.terminal("live"), timeout=TIMEOUT, operator=operator
    )
    assert status["reason"] == "MaxRuntimeExceeded" and len(status["trials"]) == 3


def test_deleting_a_tuning_job_removes_its_jobs_and_pods(
    api: Api, operator: OperatorProcess
) -> None:
    api.create(
        tuning_job("doomed", max_trials=5, parallel=2, static={"mode": "sleep", "seconds": "600"})
    )
    wait_for("two trial pods", lambda: len(api.pods("doomed")) == 2, operator=operator)
    api.delete("doomed")
    wait_for(
        "the TuningJob to go", lambda: api.get("doomed") is None, timeout=60, operator=operator
    )
    wait_for(
        "its Jobs and pods to go",
        lambda: not api.jobs("doomed") and not api.pods("doomed"),
        timeout=60,
        operator=operator,
    )


def test_a_trial_job_name_taken_by_a_job_of_no_tuning_job_fails_the_job_saying_so(
    api: Api, operator: OperatorProcess
) -> None:
    """A Job named like the first trial's, owned by no TuningJob (left by a TuningJob
    deleted with --cascade=orphan, or made by someone else), would keep that trial Pending
    for ever, silently: the job fails (InvalidSpec), naming the Job and the fix."""
    squatter = {
        "metadata": {"name": "taken-001"},
        "spec": {
            "suspend": True,  # never runs
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "python:3.11", "command": ["true"]}],
                }
            },
        },
    }
    api.batch.create_namespaced_job(api.ns, squatter)
    api.create(tuning_job("taken", max_trials=2, parallel=1))
    status = wait_for("taken to fail", lambda: api.terminal("taken"), operator=operator)
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec"), status
    assert status["message"].startswith(
        "spec.trialTemplate: trial Job taken-001 cannot be created: a Job of that name already "
        f"exists in namespace {api.ns} and belongs to no TuningJob"
    ), status["message"]
    assert f"kubectl delete job taken-001 -n {api.ns}" in status["message"]
    api.batch.delete_namespaced_job("taken-001", api.ns, propagation_policy="Background")


def test_a_name_clash_fails_the_job_and_deletes_no_job_the_tuning_job_does_not_own(
    api: Api, operator: OperatorProcess
) -> None:
    """QA99 H2: users' own Jobs named like the first two trials (made by hand, or
    orphaned by a TuningJob of the same name deleted with --cascade=orphan). The job
    fails on the first clash, and its end deletes every unfinished trial's Job by name,
    also one it has not seen (created a moment ago): the second user's Job, running, was
    deleted with it. Only Jobs the TuningJob owns are."""
    users = ("clash-001", "clash-002")
    for job in users:
        api.batch.create_namespaced_job(
            api.ns,
            {
                "metadata": {"name": job},
                "spec": {
                    "suspend": True,  # never runs
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {"name": "c", "image": "python:3.11", "command": ["true"]}
                            ],
                        }
                    },
                },
            },
        )
    api.create(tuning_job("clash", max_trials=4, parallel=2))
    status = wait_for("clash to fail", lambda: api.terminal("clash"), operator=operator)
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec"), status
    assert "trial Job clash-001 cannot be created" in status["message"], status["message"]
    assert {t["name"]: t["phase"] for t in status["trials"]} == {
        "clash-001": "Stopped",
        "clash-002": "Stopped",
    }
    # The operator posts the job's Events once its deletions are done.
    wait_for(
        "the InvalidSpec Event",
        lambda: any(e.reason == "InvalidSpec" for e in api.events("clash")),
        operator=operator,
    )
    for job in users:
        try:
            left = api.batch.read_namespaced_job(job, api.ns)
        except client.ApiException as error:
            raise AssertionError(f"the user's Job {job} was deleted ({error.status})") from None
        assert left.metadata.deletion_timestamp is None, f"the user's Job {job} is being deleted"
    for job in users:
        api.batch.delete_namespaced_job(job, api.ns, propagation_policy="Background")


def test_an_invalid_spec_fails_with_the_field_named_and_the_operator_lives(
    api: Api, operator: OperatorProcess
) -> None:
    # A look-behind passes admission (CEL cannot compile RE2) but not the operator.
    api.create(tuning_job("invalid", regex=r"(?<=loss=)(\S+)"))
    api.create(tuning_job("valid-neighbour", max_trials=2))
    status = wait_for("invalid to fail", lambda: api.terminal("invalid"), operator=operator)
    assert status["phase"] == "Failed"
    invalid = {c["type"]: c for c in status["conditions"]}["Invalid"]
    assert invalid["status"] == "True" and "spec.metrics[0].regex" in invalid["message"]
    assert api.jobs("invalid") == []
    done = wait_for(
        "the neighbour to finish",
        lambda: api.terminal("valid-neighbour"),
        timeout=TIMEOUT,
        operator=operator,
    )
    assert done["phase"] == "Completed"
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.health_port}/healthz") as r:
        assert r.status == 200


def test_static_hyperparameters_and_substitution_reach_the_trainer(
    api: Api, operator: OperatorProcess, tmp_path: Path
) -> None:
    body = tuning_job("subst", max_trials=2, parallel=2, static={"n": "2"})
    container = body["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    out = tmp_path / "out"
    out.mkdir()
    # The trainer writes nothing itself; a shell-free `tee`-like second program proves the
    # substitution: python3 -c with the trial name and x as separate argv entries.
    container["command"] = [
        "python3",
        "-c",
        "import sys, runpy; open(sys.argv[1], 'w').write(sys.argv[2]); "
        "sys.argv = [sys.argv[3]] + sys.argv[4:]; runpy.run_path(sys.argv[0], run_name='__main__')",
        f"{out}/${{trial.name}}",
        "${trialParameters.x}",
        container["command"][1],
    ]
    api.create(body)
    status = wait_for("subst", lambda: api.terminal("subst"), timeout=TIMEOUT, operator=operator)
    assert status["phase"] == "Completed"
    for trial in status["trials"]:
        assert (out / trial["name"]).read_text() == trial["hyperparameters"]["x"]
        assert trial["hyperparameters"].keys() == {"x"}  # static ones are not recorded
    assert_objectives_match_hyperparameters(status, static={"n": "2"})  # n reached it


def test_warm_start_checks_its_parents(api: Api, operator: OperatorProcess) -> None:
    """A parent with the same parameters and objective seeds the child; one with other
    parameters makes the child Invalid, naming the parent and the mismatch."""
    api.create(tuning_job("wp-parent", max_trials=2))
    api.create(tuning_job("wp-other", max_trials=1, parallel=1, suspend=True, parameters=[
        {"name": "y", "type": "Continuous", "min": 0.0, "max": 1.0}]))  # fmt: skip
    wait_for("wp-parent to finish", lambda: api.terminal("wp-parent"), timeout=TIMEOUT,
             operator=operator)  # fmt: skip
    api.create(
        tuning_job("wp-child", max_trials=1, parallel=1, warmStart={"parents": ["wp-parent"]})
    )
    api.create(
        tuning_job("wp-mismatch", max_trials=1, parallel=1, warmStart={"parents": ["wp-other"]})
    )
    api.create(
        tuning_job("wp-typo", max_trials=1, parallel=1, warmStart={"parents": ["wp-parnet"]})
    )
    typo = wait_for("wp-typo to fail", lambda: api.terminal("wp-typo"), operator=operator)
    assert (typo["phase"], typo["reason"]) == ("Failed", "InvalidSpec")
    assert "parent 'wp-parnet': no TuningJob" in typo["message"] and not api.jobs("wp-typo")
    bad = wait_for("wp-mismatch to fail", lambda: api.terminal("wp-mismatch"), operator=operator)
    assert bad["phase"] == "Failed"
    invalid = {c["type"]: c for c in bad["conditions"]}["Invalid"]
    assert invalid["status"] == "True"
    assert invalid["message"].startswith(
        "spec.warmStart.parents: parent 'wp-other' has other parameters (y: Continuous) than "
        "this job (x: Continuous)"
    )
    assert api.jobs("wp-mismatch") == []
    good = wait_for(
        "wp-child to finish", lambda: api.terminal("wp-child"), timeout=TIMEOUT, operator=operator
    )
    assert good["phase"] == "Completed"


def test_a_trial_whose_container_cannot_be_created_says_why_until_it_can(
    api: Api, operator: OperatorProcess
) -> None:
    """A template naming a ConfigMap that does not exist: the kubelet keeps the pod
    Pending (CreateContainerConfigError) and the trial says so, in its message and the
    job's; once the ConfigMap exists the trial runs and the job completes."""
    job = tuning_job("noconfig", max_trials=1, parallel=1)
    (container,) = job["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"]
    container["envFrom"] = [{"configMapRef": {"name": "trainer-settings"}}]
    api.create(job)

    trial = wait_for(
        "the trial to say why it waits",
        lambda: api.trial_with_reason("noconfig", "CreateContainerConfigError"),
        operator=operator,
    )
    assert trial["phase"] == "Pending" and "startTime" not in trial
    assert trial["message"].startswith("waiting for its pod: CreateContainerConfigError: ")
    # Whole in the job's message (a trial's is cut at 128 characters).
    message = api.status("noconfig")["message"]
    assert "; trial noconfig-001 is waiting for its pod: CreateContainerConfigError: " in message
    assert "trainer-settings not found" in message
    api.core.create_namespaced_config_map(
        api.ns, {"metadata": {"name": "trainer-settings"}, "data": {"MODE": "x"}}
    )
    done = wait_for("noconfig to finish", lambda: api.terminal("noconfig"), operator=operator)
    assert done["phase"] == "Completed" and "message" not in done["trials"][0], done


def test_a_trial_waiting_for_gpus_is_pending_with_the_schedulers_reason(
    api: Api, operator: OperatorProcess
) -> None:
    """A trial asking for more GPUs than any node has is Pending (not Running), without a
    start time, its message the scheduler's; stopping the job ends it and deletes its Job."""
    job = tuning_job("queued", max_trials=1, parallel=1)
    (container,) = job["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"]
    container["resources"]["limits"] = {"nvidia.com/gpu": "64"}
    api.create(job)

    trial = wait_for(
        "the trial to wait for a node",
        lambda: api.trial_with_reason("queued", "Unschedulable"),
        operator=operator,
    )
    assert trial["phase"] == "Pending" and "startTime" not in trial
    assert trial["message"].startswith("waiting for a node: ")
    assert "nvidia.com/gpu" in trial["message"]
    counters = api.status("queued")["counters"]
    assert (counters["pending"], counters["running"]) == (1, 0)
    api.patch_spec("queued", {"stop": True})
    stopped = wait_for("queued to stop", lambda: api.terminal("queued"), operator=operator)
    assert stopped["phase"] == "Stopped" and stopped["trials"][0]["phase"] == "Stopped"
    wait_for("its Job to go", lambda: not api.jobs("queued"), operator=operator)

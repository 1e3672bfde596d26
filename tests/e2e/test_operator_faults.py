"""Fault tolerance of the real operator: SIGKILLs at random points, hostile regexes and
logs, and trainers that misbehave."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from support.operator_harness import (
    Api,
    OperatorProcess,
    fault_rng,
    objective,
    tuning_job,
    wait_for,
)

TIMEOUT = 180.0


def trials_recorded(api: Api, name: str) -> int:
    return len(api.status(name).get("trials", []))


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    api: Api, operator: OperatorProcess
) -> None:
    max_trials = 12
    api.create(
        tuning_job(
            "crashy",
            strategy="Bayesian",
            max_trials=max_trials,
            parallel=3,
            static={"mode": "sleep", "seconds": "0.3"},
        )
    )
    rng = fault_rng(5)
    for kill in range(5):
        # Let it make some progress (a random amount), then kill it mid-flight.
        goal = min(max_trials, trials_recorded(api, "crashy") + rng.randint(1, 3))
        wait_for(
            f"{goal} trials before kill {kill}",
            lambda g=goal: trials_recorded(api, "crashy") >= g or api.terminal("crashy"),
            timeout=TIMEOUT,
            operator=operator,
        )
        if api.terminal("crashy"):
            break
        operator.kill()
        operator.start()
    status = wait_for(
        "crashy to finish", lambda: api.terminal("crashy"), timeout=TIMEOUT, operator=operator
    )
    assert status["phase"] == "Completed" and status["reason"] == "MaxTrialsReached"
    names = [t["name"] for t in status["trials"]]
    assert len(names) == len(set(names)) == max_trials  # exactly maxTrials, recorded once
    jobs = api.jobs("crashy")
    assert sorted(j.metadata.name for j in jobs) == sorted(names)  # one Job each, no extra
    job_uids = {j.metadata.uid for j in jobs}
    for pod in api.pods("crashy"):  # no orphan pods
        owners = {o.uid for o in pod.metadata.owner_references or []}
        assert owners & job_uids, f"pod {pod.metadata.name} has no live Job"
    assert len(api.pods("crashy")) == max_trials
    for trial in status["trials"]:
        assert trial["phase"] == "Succeeded", trial
        x = float(trial["hyperparameters"]["x"])
        assert math.isclose(trial["objective"], objective(x), rel_tol=1e-12)
    assert status["counters"]["completed"] == max_trials


def test_hostile_regex_and_huge_log_do_not_stall_or_bloat_the_operator(
    api: Api, operator: OperatorProcess
) -> None:
    # (a+)+$ on 100 kB lines of "aaa...b": exponential in a backtracking engine.
    api.create(
        tuning_job(
            "backtrack",
            max_trials=2,
            parallel=2,
            regex=r"(a+)+$|^loss=(?:\S+)",
            static={"mode": "backtrack", "lines": "50"},
        )
    )
    api.create(
        tuning_job("huge", max_trials=1, parallel=1, static={"mode": "huge", "megabytes": "200"})
    )
    api.create(tuning_job("neighbour", max_trials=6, parallel=2))
    wait_for("the operator to start", lambda: operator.rss_kib("VmRSS") > 0, operator=operator)
    neighbour = wait_for(
        "the neighbour to finish",
        lambda: api.terminal("neighbour"),
        timeout=TIMEOUT,
        operator=operator,
    )
    assert neighbour["phase"] == "Completed" and len(neighbour["trials"]) == 6

    backtrack = wait_for(
        "backtrack", lambda: api.terminal("backtrack"), timeout=TIMEOUT, operator=operator
    )
    # The regex matches the "aaa...b" lines? No: $ needs the end right after a's. Every
    # trial ends without a numeric last match: a clear reason, and the job ends, failed
    # since none succeeded.
    assert (backtrack["phase"], backtrack["reason"]) == ("Failed", "NoTrialSucceeded")
    for trial in backtrack["trials"]:
        assert trial["phase"] == "Failed" and trial["reason"] == "MetricUnavailable", trial

    huge = wait_for("huge", lambda: api.terminal("huge"), timeout=TIMEOUT, operator=operator)
    (trial,) = huge["trials"]
    assert trial["phase"] == "Succeeded"
    assert math.isclose(trial["objective"], objective(float(trial["hyperparameters"]["x"])))
    peak_mib = operator.rss_kib("VmHWM") / 1024
    print(f"operator peak RSS after a 200 MB log: {peak_mib:.0f} MiB")
    assert peak_mib < 250, f"peak RSS {peak_mib:.0f} MiB: the log was not streamed"


MISBEHAVING = {
    # mode: (trial reason, a word of its message)
    "nan": ("ObjectiveNotFinite", "nan"),
    "silent": ("MetricUnavailable", "no line"),
    # The trainer's last line, which the node agent makes the container's termination
    # message (FallbackToLogsOnError, as the kubelet does).
    "fail": ("Error", "exited with code 3: training diverged"),
}


def test_misbehaving_trainers_fail_their_trials_with_a_reason(
    api: Api, operator: OperatorProcess
) -> None:
    for mode in MISBEHAVING:
        api.create(tuning_job(mode, max_trials=3, parallel=2, static={"mode": mode}))
    for mode, (reason, detail) in MISBEHAVING.items():
        status = wait_for(
            f"{mode} to finish", lambda m=mode: api.terminal(m), timeout=TIMEOUT, operator=operator
        )
        assert len(status["trials"]) == 3  # it goes on to maxTrials, then fails:
        assert (status["phase"], status["reason"]) == ("Failed", "NoTrialSucceeded")
        assert reason in status["message"]  # the first trial's reason
        for trial in status["trials"]:
            assert (trial["phase"], trial["reason"]) == ("Failed", reason), trial
            assert detail in trial["message"]
        assert status["counters"]["failed"] == 3
        wait_for(  # Events are posted in the background: they may trail the status
            f"a TrialFailed Event of {mode}",
            lambda m=mode: "TrialFailed" in {e.reason for e in api.events(m)},
            operator=operator,
        )


def test_trials_deleted_mid_run_fail_clearly_and_the_job_continues(
    api: Api, operator: OperatorProcess
) -> None:
    api.create(
        tuning_job(
            "victim",
            max_trials=3,
            parallel=1,
            static={"mode": "sleep", "seconds": "600"},
            limits={"maxTrials": 3, "maxParallelTrials": 1},
        )
    )

    first = wait_for(
        "the first trial's pod to run", lambda: api.running_pod("victim"), operator=operator
    )
    api.core.delete_namespaced_pod(first.metadata.name, api.ns)
    wait_for(
        "trial 1 to fail",
        lambda: any(t["phase"] == "Failed" for t in api.status("victim").get("trials", [])),
        timeout=TIMEOUT,
        operator=operator,
    )
    second_job = wait_for(
        "trial 2's Job",
        lambda: next((j for j in api.jobs("victim") if j.metadata.name == "victim-002"), None),
        operator=operator,
    )
    wait_for(
        "trial 2's Job to be seen running",
        lambda: api.status("victim")["trials"][1]["phase"] == "Running",
        operator=operator,
    )
    api.batch.delete_namespaced_job(
        second_job.metadata.name, api.ns, propagation_policy="Background"
    )
    wait_for(
        "trial 3 to start",
        lambda: len(api.status("victim")["trials"]) == 3,
        timeout=TIMEOUT,
        operator=operator,
    )
    trials = api.status("victim")["trials"]
    assert trials[0]["phase"] == "Failed" and trials[0]["reason"] == "PodDeleted", trials[0]
    assert trials[1]["phase"] == "Failed" and trials[1]["reason"] == "JobDeleted", trials[1]
    api.patch_spec(
        "victim", {"limits": {"maxTrials": 3, "maxParallelTrials": 1, "maxRuntimeSeconds": 1}}
    )
    wait_for("victim to stop", lambda: api.terminal("victim"), timeout=TIMEOUT, operator=operator)


def test_an_evicted_trial_is_retried_as_a_new_job(api: Api, operator: OperatorProcess) -> None:
    api.create(
        tuning_job(
            "drained",
            max_trials=1,
            parallel=1,
            static={"mode": "sleep", "seconds": "600"},
            retry={"maxAttempts": 2},
        )
    )

    pod = wait_for(
        "the trial's pod to run",
        lambda: api.running_pod("drained", "drained-001"),
        operator=operator,
    )
    # What `kubectl drain` does: the Eviction API marks the pod DisruptionTarget, then
    # deletes it; an infrastructure failure, which `retry` covers.
    api.core.create_namespaced_pod_eviction(
        pod.metadata.name,
        api.ns,
        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod.metadata.name}},
    )
    wait_for(
        "the second attempt to run",
        lambda: api.running_pod("drained", "drained-001-a2"),
        operator=operator,
    )
    trial = wait_for(
        "the trial to be seen running again",
        lambda: next(
            (
                t
                for t in api.status("drained").get("trials", [])
                if t["attempt"] == 2 and t["phase"] == "Running"
            ),
            None,
        ),
        operator=operator,
    )
    # The reason depends on whether the operator saw the terminating pod (its disruption
    # condition) or only its absence; both are retryable.
    assert trial["reason"] in ("Evicted", "PodDeleted"), trial
    status = api.status("drained")
    assert status["counters"]["retried"] == 1 and status["counters"]["failed"] == 0
    wait_for(  # Events are posted in the background: they may trail the status
        "a TrialRetried Event",
        lambda: "TrialRetried" in {e.reason for e in api.events("drained")},
        operator=operator,
    )
    api.patch_spec(
        "drained", {"limits": {"maxTrials": 1, "maxParallelTrials": 1, "maxRuntimeSeconds": 1}}
    )
    wait_for("drained to stop", lambda: api.terminal("drained"), timeout=TIMEOUT, operator=operator)


def create_peering(api: Api, namespace: str) -> Callable[[], int]:
    """The KopfPeering "kubetune"; returns how many replicas have registered in it."""
    api.custom.create_namespaced_custom_object(
        "kopf.dev",
        "v1",
        namespace,
        "kopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "kubetune"}},
    )

    def peers() -> int:
        body = api.custom.get_namespaced_custom_object(
            "kopf.dev", "v1", namespace, "kopfpeerings", "kubetune"
        )
        return len(body.get("status") or {})

    return peers


def test_two_replicas_with_peering_never_double_launch(
    api: Api, kubeconfig_path: Path, namespace: str, tmp_path: Path, crds: None
) -> None:
    peers = create_peering(api, namespace)
    replicas: list[OperatorProcess] = []
    try:
        for i in range(2):  # one after the other, so that the second meets a working first
            log_dir = tmp_path / f"replica-{i}"
            log_dir.mkdir()
            replica = OperatorProcess(
                Path(kubeconfig_path), [namespace], log_dir, peering="kubetune"
            )
            replica.start()
            replicas.append(replica)
            wait_for(f"replica {i} to register", lambda n=i + 1: peers() == n, timeout=60)
            wait_for(
                f"replica {i} to keep its peering alive",
                lambda r=replica: "Keep-alive in 'kubetune'" in r.log_tail(100_000),
                timeout=60,
            )
        wait_for(
            "peering to settle: one replica serving, the other paused",
            lambda: sorted(str(r.serving()) for r in replicas) == ["False", "True"],
            timeout=60,
        )
        before = [r.reconciles() for r in replicas]
        api.create(tuning_job("shared", max_trials=8, parallel=3))
        status = wait_for("shared to finish", lambda: api.terminal("shared"), timeout=TIMEOUT)
        assert status["phase"] == "Completed" and len(status["trials"]) == 8
        assert sorted(j.metadata.name for j in api.jobs("shared")) == sorted(
            t["name"] for t in status["trials"]
        )
        assert len(api.pods("shared")) == 8
        # Peering let exactly one replica work; the other stayed paused throughout.
        worked = sorted(r.reconciles() - b for r, b in zip(replicas, before, strict=True))
        assert worked[0] == 0 and worked[1] > 0, worked
    finally:
        for replica in replicas:
            replica.stop()


def followed_logs(replica: OperatorProcess) -> float:
    return replica.metrics().get("kubetune_followed_logs", 0.0)


def test_a_paused_replica_lets_go_of_the_logs_it_followed(
    api: Api, kubeconfig_path: Path, namespace: str, tmp_path: Path, crds: None
) -> None:
    """Peering pauses a replica that follows its silent trials' logs: it closes their
    streams at once (the replica that takes over follows them), not when the trials end
    or the streams' reads time out."""
    peers = create_peering(api, namespace)
    replicas: list[OperatorProcess] = []
    try:
        for priority in (1, 2):  # the second, higher, takes over from the first
            log_dir = tmp_path / f"priority-{priority}"
            log_dir.mkdir()
            replica = OperatorProcess(
                Path(kubeconfig_path), [namespace], log_dir, peering="kubetune", priority=priority
            )
            replica.start()
            replicas.append(replica)
            wait_for(f"replica {priority} to register", lambda n=priority: peers() == n, timeout=60)
            if priority == 1:
                wait_for("replica 1 to serve", lambda r=replica: r.serving(), timeout=60)
                # Two trials silent for three minutes (longer than a stream's read
                # timeout), followed: only closing the streams frees them early.
                api.create(
                    tuning_job(
                        "followed",
                        max_trials=2,
                        parallel=2,
                        static={"mode": "sleep", "seconds": "180"},
                        earlyStopping="Auto",
                    )
                )
                wait_for(
                    "replica 1 to follow both trials' logs",
                    lambda r=replica: followed_logs(r) == 2,
                    timeout=90,
                    operator=replica,
                )
        low, high = replicas
        wait_for(
            "replica 2 to take over",
            lambda: (low.serving(), high.serving()) == (False, True),
            timeout=60,
        )
        wait_for(
            "the paused replica to let go of the logs",
            lambda: followed_logs(low) == 0,
            timeout=20,
            operator=low,
        )
        wait_for(
            "the serving replica to follow them",
            lambda: followed_logs(high) == 2,
            timeout=60,
            operator=high,
        )
        # Still running: the streams were closed by the pause, not by the trials' end.
        assert api.status("followed")["counters"]["running"] == 2
    finally:
        for replica in replicas:
            replica.stop()

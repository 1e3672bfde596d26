"""The operator under the chart's namespaced RBAC (`watchNamespaces`), as its
ServiceAccount: a process with the account's token, where test_operator_container.py runs
the image. It serves the namespace it is given at once, never asking for the namespaces
the chart does not let it see."""

from __future__ import annotations

import contextlib
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubetune.analytics.resource import parse_tuning_job
from kubetune.cli import views
from support.chart_release import (
    CHART,
    drop_tuning_job_finalizers,
    helm_binary,
    service_account_token,
)
from support.operator_harness import Api, OperatorProcess, tuning_job, wait_for


def namespaced_rbac(namespace: str) -> str:
    """The chart's ServiceAccount and RBAC, watching only `namespace`."""
    return subprocess.run(
        [helm_binary(), "template", f"kt-{uuid.uuid4().hex[:6]}", str(CHART),
         "--namespace", namespace, "--set", f"watchNamespaces={{{namespace}}}",
         "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip


def service_account_kubeconfig(cluster: Any, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig holding only the account's token (from the TokenRequest API)."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    token = service_account_token(cluster, namespace, account)
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": admin["clusters"][0]["cluster"]}],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": "local", "user": account}}],
                "current-context": "sa",
            }
        )
    )
    return path


@contextlib.contextmanager
def namespaced_operator(
    cluster: Any, namespace: str, tmp_path: Path, also: tuple[str, ...] = ()
) -> Iterator[OperatorProcess]:
    """The operator as the chart's namespaced ServiceAccount, serving `namespace` (and the
    namespaces `also` names, which the RBAC does not cover), stopped afterwards."""
    rbac = namespaced_rbac(namespace)
    cluster.run_kubectl("apply", "-f", "-", stdin=rbac)
    [account] = [o for o in yaml.safe_load_all(rbac) if o and o["kind"] == "ServiceAccount"]
    kubeconfig = service_account_kubeconfig(
        cluster, namespace, account["metadata"]["name"], tmp_path / "kubeconfig"
    )
    operator = OperatorProcess(kubeconfig, [namespace, *also], tmp_path)
    try:
        yield operator
    finally:
        operator.stop()
        drop_tuning_job_finalizers(cluster, namespace)
        cluster.run_kubectl("delete", "-f", "-", "--wait=false", stdin=rbac, check=False)


def test_the_namespaced_operator_serves_its_namespace_without_listing_namespaces(
    cluster: Any, crds: None, namespace: str, api: Api, tmp_path: Path
) -> None:
    # A second namespace it may not watch (not created yet, so no Role): left out with
    # an error, instead of kopf ending the operator after 9 refused watches.
    missing = f"kubetune-missing-{uuid.uuid4().hex[:6]}"
    with namespaced_operator(cluster, namespace, tmp_path, also=(missing,)) as operator:
        api.create(tuning_job("namespaced", max_trials=2, parallel=2))
        operator.start()
        status = wait_for(
            "namespaced to finish",
            lambda: api.terminal("namespaced"),
            timeout=120,
            operator=operator,
        )
        assert status["phase"] == "Completed" and len(status["trials"]) == 2, status
        log = operator.log_tail(100_000)
        # kopf asked for nothing it may not have: no refused request, retried or not.
        assert "Not enough permissions" not in log and "Request attempt" not in log, log
        assert f"namespace {missing}: not served: this operator may not list tuningjobs" in log


def test_trial_pods_the_namespace_refuses_are_reported_not_waited_for_in_silence(
    cluster: Any, crds: None, namespace: str, api: Api, tmp_path: Path
) -> None:
    """A quota that refuses a trial's pod leaves it Pending, the API server's refusal in
    its message and the job's (read from the Job controller's FailedCreate Events, which
    the chart's Role lets the operator list); once the quota is gone the trial runs. The
    namespace's Pod Security level refusing the pods fails the TuningJob, naming the fix."""
    quota = {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}
    api.core.create_namespaced_resource_quota(namespace, quota)
    wait_for(  # until the quota controller has counted, admission says "exceeded quota"
        "the quota to be counted",
        lambda: api.core.read_namespaced_resource_quota("no-pods", namespace).status.hard,
    )
    with namespaced_operator(cluster, namespace, tmp_path) as operator:
        operator.start()
        api.create(tuning_job("quota", max_trials=1, parallel=1))

        trial = wait_for(
            "the trial to say its pod is refused",
            lambda: api.trial_with_reason("quota", "FailedCreate"),
            operator=operator,
        )
        assert trial["phase"] == "Pending" and "startTime" not in trial
        assert trial["message"].startswith("waiting for its pod: exceeded quota: no-pods"), trial
        status = api.status("quota")
        assert status["phase"] == "InProgress"
        assert "; trial quota-001 is waiting for its pod: exceeded quota" in status["message"]
        wait_for(
            "a TrialPodRefused Event",
            lambda: "TrialPodRefused" in {e.reason for e in api.events("quota")},
            operator=operator,
        )

        api.core.delete_namespaced_resource_quota("no-pods", namespace)
        done = wait_for(
            "quota to finish", lambda: api.terminal("quota"), timeout=150, operator=operator
        )
        assert done["phase"] == "Completed" and done["trials"][0]["phase"] == "Succeeded"
        assert "message" not in done["trials"][0], done["trials"][0]

        restricted = {"pod-security.kubernetes.io/enforce": "restricted"}
        api.core.patch_namespace(namespace, {"metadata": {"labels": restricted}})
        api.create(tuning_job("restricted", max_trials=2, parallel=2))
        failed = wait_for(
            "restricted to fail", lambda: api.terminal("restricted"), timeout=60, operator=operator
        )
        assert (failed["phase"], failed["reason"]) == ("Failed", "InvalidSpec"), failed
        # Both trials' pods are refused, possibly in one reconcile: said once either way.
        assert re.match(
            r"spec\.trialTemplate\.job: the namespace's Pod Security level refuses the pods? "
            r"of trial Jobs? restricted-00[12](, restricted-002)?: violates",
            failed["message"],
        ), failed
        assert failed["message"].count("violates PodSecurity") == 1, failed
        assert 'violates PodSecurity "restricted:latest"' in failed["message"], failed
        assert "runAsNonRoot: true" in failed["message"], failed
        assert {t["phase"] for t in failed["trials"]} == {"Stopped"}, failed
        wait_for("restricted's Jobs to go", lambda: not api.jobs("restricted"), operator=operator)


def test_a_missing_permission_is_one_line_per_retry_naming_it_without_traceback(
    cluster: Any, crds: None, namespace: str, api: Api, kube_api: Any, tmp_path: Path
) -> None:
    """The chart's Role without `create` on jobs: every reconcile fails on the same 403,
    retried with backoff for as long as the grant is missing. Each retry is one line that
    names the refusal (no traceback: it is not a bug), and the advice is posted once."""
    with namespaced_operator(cluster, namespace, tmp_path) as operator:
        rbac = client.RbacAuthorizationV1Api(kube_api)
        [role] = [
            r
            for r in rbac.list_namespaced_role(namespace).items
            if any(rule.resources == ["jobs"] for rule in r.rules)
        ]
        for rule in role.rules:
            if rule.resources == ["jobs"]:
                rule.verbs = [v for v in rule.verbs if v != "create"]
        rbac.replace_namespaced_role(role.metadata.name, namespace, role)
        api.create(tuning_job("refused", max_trials=1, parallel=1))
        operator.start()

        refusal = re.compile(
            r"\[\S+/refused\] reconcile failed: HTTP 403 Forbidden: jobs\.batch is forbidden: "
            r"User \"system:serviceaccount:\S+\" cannot create resource \"jobs\" .*; "
            r"retrying in \d+ s$",
            re.MULTILINE,
        )
        wait_for(
            "three refused reconciles",
            lambda: len(refusal.findall(operator.log_tail(100_000))) >= 3,
            operator=operator,
        )
        log = operator.log_tail(100_000)
        assert "Traceback" not in log, log
        assert log.count("grant it in the operator's ClusterRole or Role") == 1, log


def test_trials_whose_logs_may_not_be_read_are_shown_running_until_the_grant(
    cluster: Any, crds: None, namespace: str, api: Api, kube_api: Any, tmp_path: Path
) -> None:
    """QA93 M3: the chart's Role without `get pods/log`. The refused read failed the whole
    reconcile, so trials that had run and ended stayed Pending, with no start time, until
    the grant. Now they show Running, saying why; granted, they are read and succeed."""
    with namespaced_operator(cluster, namespace, tmp_path) as operator:
        rbac = client.RbacAuthorizationV1Api(kube_api)
        [role] = [
            r
            for r in rbac.list_namespaced_role(namespace).items
            if any(rule.resources == ["pods/log"] for rule in r.rules)
        ]
        granted = [rule for rule in role.rules if rule.resources == ["pods/log"]]
        role.rules = [rule for rule in role.rules if rule.resources != ["pods/log"]]
        rbac.replace_namespaced_role(role.metadata.name, namespace, role)
        api.create(tuning_job("nolog", max_trials=2, parallel=2))
        operator.start()

        def trials() -> list[dict[str, Any]]:
            return ((api.get("nolog") or {}).get("status") or {}).get("trials") or []

        wait_for(
            "both trials shown Running, saying their logs may not be read",
            lambda: len(trials()) == 2 and all(t.get("reason") == "LogForbidden" for t in trials()),
            operator=operator,
        )
        for trial in trials():
            assert trial["phase"] == "Running" and trial.get("startTime"), trial
            assert "may not get pods/log" in trial["message"], trial
        role = rbac.read_namespaced_role(role.metadata.name, namespace)
        role.rules = [*role.rules, *granted]
        rbac.replace_namespaced_role(role.metadata.name, namespace, role)
        wait_for(
            "both trials read and Succeeded once granted",
            lambda: [t["phase"] for t in trials()] == ["Succeeded", "Succeeded"],
            operator=operator,
        )


def test_trial_jobs_the_operator_may_not_delete_are_said_in_the_status_until_gone(
    cluster: Any, crds: None, namespace: str, api: Api, kube_api: Any, tmp_path: Path
) -> None:
    """QA93 L3: the chart's Role without `delete` on jobs. `kubetune stop` gave phase
    Stopped, the trials Stopped and describe's Next "Nothing: the job has ended" while
    their Jobs ran on (holding GPUs on a real cluster); only a Forbidden Event said so.
    Now the status says so (a JobsLeft condition, the message) for as long as they are
    there, across an operator restart; granted, they are deleted and the note goes."""
    with namespaced_operator(cluster, namespace, tmp_path) as operator:
        rbac = client.RbacAuthorizationV1Api(kube_api)
        [role_name] = [
            r.metadata.name
            for r in rbac.list_namespaced_role(namespace).items
            if any(rule.resources == ["jobs"] for rule in r.rules)
        ]

        def grant_delete(granted: bool) -> None:
            role = rbac.read_namespaced_role(role_name, namespace)
            for rule in role.rules:
                if rule.resources == ["jobs"]:
                    rule.verbs = [v for v in rule.verbs if v != "delete"] + ["delete"] * granted
            rbac.replace_namespaced_role(role_name, namespace, role)

        grant_delete(False)
        static = {"mode": "sleep", "seconds": "300"}
        api.create(tuning_job("nodelete", max_trials=2, parallel=2, static=static))
        operator.start()
        wait_for(
            "both trials running",
            lambda: (
                [t["phase"] for t in api.status("nodelete").get("trials", [])]
                == ["Running", "Running"]
            ),
            timeout=90,
            operator=operator,
        )
        api.patch_spec("nodelete", {"stop": True})

        def left() -> dict[str, Any] | None:
            conditions = api.status("nodelete").get("conditions", [])
            return next((c for c in conditions if c["type"] == "JobsLeft"), None)

        condition = wait_for("the JobsLeft condition", left, operator=operator)
        note = (
            "2 trial Jobs could not be deleted yet (nodelete-001, nodelete-002): the operator "
            f"may not delete jobs.batch in namespace {namespace} (Forbidden); grant it `delete` "
            "on jobs.batch there (charts/kubetune/templates/rbac.yaml); the operator retries "
            "until they are gone"
        )
        assert (condition["status"], condition["reason"], condition["message"]) == (
            "True",
            "Forbidden",
            note,
        )
        stopped = "spec.stop is true: stopped by the user; 2 unfinished trials were stopped"
        body = api.get("nodelete")
        assert body is not None
        assert body["status"]["phase"] == "Stopped"
        assert body["status"]["message"] == f"{stopped}; {note}"  # kubectl get tj -o wide
        assert views.next_step(parse_tuning_job(body)).startswith(
            f"Deleting trial Jobs that may still run: {note}. Nothing else: the job has ended"
        )
        assert sorted(j.metadata.name for j in api.jobs("nodelete")) == [
            "nodelete-001",
            "nodelete-002",
        ]

        # A restarted operator, which remembers nothing, is refused as well: still said.
        operator.kill()
        before = len(operator.log_tail(100_000).splitlines())
        operator.start()
        refused = re.compile(r"\[\S+/nodelete\] reconcile failed: HTTP 403 .* cannot delete")
        wait_for(
            "the restarted operator to be refused",
            lambda: refused.search("\n".join(operator.log_tail(100_000).splitlines()[before:])),
            operator=operator,
        )
        assert left() == condition and api.jobs("nodelete")

        grant_delete(True)
        wait_for("the Jobs deleted", lambda: not api.jobs("nodelete"), operator=operator)
        wait_for("the note gone", lambda: left() is None, operator=operator)
        status = api.status("nodelete")
        assert (status["phase"], status["message"]) == ("Stopped", stopped)
        assert views.next_step(parse_tuning_job(api.get("nodelete") or {})) == (
            "Nothing: the job has ended (Stopped, StoppedByUser)."
        )

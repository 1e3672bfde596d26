"""Every `kubetune` command against the real local cluster and the real operator: the
installed console script runs as a user would run it, its output is parsed (CSV, JSON,
YAML) and compared with the TuningJob's status as the API server returns it; errors
(unknown job, no cluster, no permission, an empty job, usage) and their exit codes.

Trials run tests/e2e/fake_trainer.py; one TuningJob runs to completion for the whole
module, a second one is followed by `kubetune watch` while it runs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from support.operator_harness import Api, install_crds, run_operator, tuning_job, wait_for

pytestmark = pytest.mark.cluster

KUBETUNE = Path(sys.executable).with_name("kubetune")
TIMEOUT = 180.0
PARAMETERS = [
    {"name": "x", "type": "Continuous", "min": 0.0, "max": 1.0},
    {"name": "n", "type": "Integer", "min": 0, "max": 2},
    {"name": "lr", "type": "Continuous", "min": 1e-5, "max": 1e-1, "scaling": "Logarithmic"},
]


def kubetune(
    kubeconfig: Path | str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBETUNE), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def cli_namespace(kube_api: client.ApiClient, cluster: Any) -> Iterator[str]:
    install_crds(cluster.kubectl, cluster.kubeconfig)
    core = client.CoreV1Api(kube_api)
    name = f"kubetune-cli-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"kubetune.io/test": "true"}}})
    wait_for(
        "the default ServiceAccount",
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
    )
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="module")
def operator(
    cli_namespace: str, kubeconfig_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    yield from run_operator(kubeconfig_path, [cli_namespace], tmp_path_factory.mktemp("operator"))


@pytest.fixture(scope="module")
def api(kube_api: client.ApiClient, cli_namespace: str) -> Api:
    return Api(kube_api, cli_namespace)


@pytest.fixture(scope="module")
def done(api: Api, operator: Any) -> dict[str, Any]:
    """A TuningJob that ran its 5 trials; its object as the API server returns it."""
    api.create(
        tuning_job(
            "done",
            max_trials=5,
            parallel=2,
            parameters=PARAMETERS,
            static={"epochs": "3"},
            metrics=[
                {"name": "loss", "regex": r"^loss=(\S+)$"},
                {"name": "epoch:loss", "regex": r"^epoch \d+ loss=(\S+)$"},
            ],
        )
    )
    wait_for("done to finish", lambda: api.terminal("done"), timeout=TIMEOUT, operator=operator)
    body = api.get("done")
    assert body is not None and body["status"]["phase"] == "Completed"
    return body


def test_list_shows_phase_best_and_trials(
    done: dict[str, Any], kubeconfig_path: Path, cli_namespace: str, cluster: Any
) -> None:
    result = kubetune(kubeconfig_path, "list", "-n", cli_namespace)
    assert result.returncode == 0, result.stderr
    header, *rows = [line.split() for line in result.stdout.splitlines()]
    assert header == ["NAME", "STRATEGY", "PHASE", "BEST", "TRIALS", "RUNNING", "EPOCHS", "AGE"]
    row = next(r for r in rows if r[0] == "done")
    assert row[1:5] == ["Random", "Completed", f"{done['status']['bestObjective']:.6g}", "5/5"]
    assert row[6] == "-"  # epochs are counted for Hyperband only
    plugin = subprocess.run(  # kubectl finds kubectl-tune on the PATH
        [
            str(cluster.kubectl),
            "tune",
            "--kubeconfig",
            str(kubeconfig_path),
            "list",
            "-n",
            cli_namespace,
        ],
        env={**os.environ, "PATH": f"{KUBETUNE.parent}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert plugin.returncode == 0, plugin.stderr
    plugin_rows = [line.split() for line in plugin.stdout.splitlines()]
    assert plugin_rows[0] == header
    assert next(r for r in plugin_rows if r[0] == "done")[:5] == row[:5]  # AGE may tick
    everywhere = kubetune(kubeconfig_path, "list", "-A")  # flags after the command, too
    assert everywhere.stdout.split()[0] == "NAMESPACE"
    assert any(
        line.split()[:2] == [cli_namespace, "done"] for line in everywhere.stdout.splitlines()
    )


def test_trials_csv_and_json_match_the_status(
    done: dict[str, Any], kubeconfig_path: Path, cli_namespace: str
) -> None:
    trials = done["status"]["trials"]
    result = kubetune(kubeconfig_path, "-n", cli_namespace, "trials", "done", "-o", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["trial"] for r in rows] == [t["name"] for t in trials]
    for row, trial in zip(rows, trials, strict=True):
        assert {k: row[k] for k in ("x", "n", "lr")} == trial["hyperparameters"]
        assert float(row["objective"]) == trial["objective"]
        # The trainer prints two metrics: the second one's last value is recorded too.
        assert trial["metrics"] == {"epoch:loss": pytest.approx(trial["objective"] + 1 / 3)}
        assert float(row["epoch:loss"]) == trial["metrics"]["epoch:loss"]
        assert (row["phase"], row["start"], row["end"]) == (
            trial["phase"],
            trial["startTime"],
            trial["endTime"],
        )
    result = kubetune(
        kubeconfig_path,
        "-n",
        cli_namespace,
        "trials",
        "done",
        "-o",
        "json",
        "--sort",
        "objective",
        "--top",
        "2",
    )
    documents = json.loads(result.stdout)
    best_two = sorted(trials, key=lambda t: t["objective"])[:2]  # minimized
    assert [d["trial"] for d in documents] == [t["name"] for t in best_two]
    assert [d["hyperparameters"] for d in documents] == [t["hyperparameters"] for t in best_two]
    table = kubetune(kubeconfig_path, "-n", cli_namespace, "trials", "done")
    assert len(table.stdout.splitlines()) == 1 + len(trials)


def test_best_is_the_best_trial_ready_to_reuse(
    done: dict[str, Any], kubeconfig_path: Path, cli_namespace: str
) -> None:
    expected = {"epochs": "3", **done["status"]["bestTrial"]["hyperparameters"]}
    as_json = kubetune(kubeconfig_path, "-n", cli_namespace, "best", "done", "-o", "json")
    assert json.loads(as_json.stdout) == expected
    as_yaml = kubetune(kubeconfig_path, "-n", cli_namespace, "best", "done")
    assert yaml.safe_load(as_yaml.stdout) == expected
    as_args = kubetune(kubeconfig_path, "-n", cli_namespace, "best", "done", "-o", "args")
    assert sorted(as_args.stdout.split()) == sorted(f"--{k}={v}" for k, v in expected.items())


def test_describe_shows_outcome_events_and_next(
    done: dict[str, Any], kubeconfig_path: Path, cli_namespace: str
) -> None:
    result = kubetune(kubeconfig_path, "-n", cli_namespace, "describe", "done")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"Phase:      Completed ({done['status']['reason']})" in text
    assert f"Best trial: {done['status']['bestTrial']['name']}" in text
    assert "Epochs:        15" in text  # 5 trials x static epochs 3
    assert "TrialCompleted" in text and "Succeeded" in text  # an Event and a condition
    assert "Next:       Nothing: the job has ended" in text


def test_plot_writes_a_png(
    done: dict[str, Any], kubeconfig_path: Path, cli_namespace: str, tmp_path: Path
) -> None:
    path = tmp_path / "plots" / "done.png"
    result = kubetune(
        kubeconfig_path, "-n", cli_namespace, "plot", "done", "-o", str(path), timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_logs_of_a_trial_by_name_and_by_number(
    done: dict[str, Any], kubeconfig_path: Path, cli_namespace: str
) -> None:
    first = done["status"]["trials"][0]
    by_name = kubetune(kubeconfig_path, "-n", cli_namespace, "logs", "done", first["name"])
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout.splitlines()[-1] == f"loss={first['objective']!r}"
    by_number = kubetune(kubeconfig_path, "-n", cli_namespace, "logs", "done", "1", "-f")
    assert by_number.returncode == 0, by_number.stderr
    assert by_number.stdout == by_name.stdout
    missing = kubetune(kubeconfig_path, "-n", cli_namespace, "logs", "done", "99")
    assert missing.returncode == 1 and 'has no trial "99"' in missing.stderr


def test_watch_follows_a_running_job_to_its_end(
    api: Api, operator: Any, kubeconfig_path: Path, cli_namespace: str
) -> None:
    static = {"mode": "curve", "steps": "3", "pause": "0.3"}
    api.create(tuning_job("watched", max_trials=4, parallel=2, static=static))
    result = kubetune(
        kubeconfig_path,
        "-n",
        cli_namespace,
        "watch",
        "watched",
        "--interval",
        "0.5",
        "--timeout",
        str(TIMEOUT),
        timeout=TIMEOUT + 30,
    )
    assert result.returncode == 0, result.stderr
    status = api.status("watched")
    lines = result.stdout.splitlines()  # not a terminal: a first line, one per trial, the end
    assert lines[0].startswith(f"TuningJob {cli_namespace}/watched: ")
    assert sorted(line.split()[0] for line in lines[1:-1]) == sorted(
        t["name"] for t in status["trials"]
    )
    assert all(f"loss={t['objective']:.6g}" in result.stdout for t in status["trials"])
    best = status["bestTrial"]["name"]
    assert lines[-1].startswith(
        f"TuningJob watched: Completed ({status['reason']}); best trial {best}"
    )
    follow = kubetune(kubeconfig_path, "-n", cli_namespace, "logs", "watched", "2", "-f")
    assert follow.stdout.count("loss=") == 3


def test_logs_of_a_trial_waiting_for_a_node_and_describe_of_a_warm_start(
    done: dict[str, Any], api: Api, operator: Any, kubeconfig_path: Path, cli_namespace: str
) -> None:
    body = tuning_job(
        "nonode", max_trials=1, parallel=1, parameters=PARAMETERS, warmStart={"parents": ["done"]}
    )
    container = body["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"] = {"nvidia.com/gpu": "99"}  # no node has as many
    api.create(body)
    wait_for(
        "nonode's pod",
        lambda: any(
            c.type == "PodScheduled" and c.status == "False"
            for p in api.pods("nonode")
            for c in p.status.conditions or []
        ),
        timeout=TIMEOUT,
        operator=operator,
    )
    logs = kubetune(kubeconfig_path, "-n", cli_namespace, "logs", "nonode", "1")
    assert logs.returncode == 1 and logs.stdout == "", logs
    assert logs.stderr.startswith("error: trial nonode-001 is Pending (Unschedulable: "), logs
    # The command it suggests carries the options given (QA76 M4).
    same = f"kubetune -n {cli_namespace} --kubeconfig {kubeconfig_path}"
    assert f"it has no log yet; `{same} logs nonode 1 -f` waits for it to start." in logs.stderr
    cluster = [str(KUBETUNE), "--kubeconfig", str(kubeconfig_path), "-n", cli_namespace]
    # -f waits, saying so (and goes on waiting: it is stopped once it said it).
    follower = subprocess.Popen(
        [*cluster, "logs", "nonode", "1", "-f"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    said: list[str] = []
    threading.Thread(target=lambda: said.extend(follower.stderr or ()), daemon=True).start()
    try:
        wait_for(
            "logs -f to say it waits for the container",
            lambda: any("waiting for its container to start" in line for line in said),
            timeout=TIMEOUT,
        )
        assert follower.poll() is None, said
    finally:
        follower.terminate()
        follower.wait(timeout=30)
    carried = sum(  # the trials that produced a value: a warm start carries those only
        t["phase"] in ("Succeeded", "EarlyStopped") and t.get("objective") is not None
        for t in done["status"]["trials"]
    )
    described = kubetune(kubeconfig_path, "-n", cli_namespace, "describe", "nonode")
    best = done["status"]["bestTrial"]["name"]
    best_value = done["status"]["bestObjectiveText"]
    assert (
        f"Warm start: done ({carried} trials with a value; its best {best_value}, {best})\n"
        in described.stdout
    ), described
    api.delete("nonode")


def test_errors_name_the_problem(
    api: Api, operator: Any, kubeconfig_path: Path, cli_namespace: str, tmp_path: Path
) -> None:
    unknown = kubetune(kubeconfig_path, "-n", cli_namespace, "describe", "nope")
    assert unknown.returncode == 1
    assert f'TuningJob "nope" not found in namespace "{cli_namespace}"' in unknown.stderr
    # The list it suggests reads the same cluster (QA84 L8).
    assert f"`kubetune -n {cli_namespace} --kubeconfig {kubeconfig_path} list`" in unknown.stderr

    config = yaml.safe_load(kubeconfig_path.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    (tmp_path / "down").write_text(yaml.safe_dump(config))
    down = kubetune(tmp_path / "down", "list")
    assert (
        down.returncode == 1
        and "cannot reach the Kubernetes API server at https://127.0.0.1:1" in down.stderr
    )
    nowhere = kubetune(tmp_path / "absent", "list")
    assert nowhere.returncode == 1 and "no kubeconfig at" in nowhere.stderr

    usage = kubetune(kubeconfig_path, "trials")
    assert usage.returncode == 2 and "NAME" in usage.stderr
    bad_sort = kubetune(kubeconfig_path, "-n", cli_namespace, "trials", "nope", "--top", "0")
    assert bad_sort.returncode == 2

    api.create(tuning_job("empty", max_trials=3, parallel=1, suspend=True))
    wait_for(
        "empty to be picked up",
        lambda: api.status("empty").get("phase"),
        timeout=60,
        operator=operator,
    )
    trials = kubetune(kubeconfig_path, "-n", cli_namespace, "trials", "empty")
    assert trials.returncode == 0 and 'TuningJob "empty" has no trials yet' in trials.stderr
    assert trials.stdout == ""
    as_json = kubetune(kubeconfig_path, "-n", cli_namespace, "trials", "empty", "-o", "json")
    assert json.loads(as_json.stdout) == []
    best = kubetune(kubeconfig_path, "-n", cli_namespace, "best", "empty")
    assert best.returncode == 1 and 'TuningJob "empty" has no best trial yet' in best.stderr
    plot = kubetune(
        kubeconfig_path, "-n", cli_namespace, "plot", "empty", "-o", str(tmp_path / "e.png")
    )
    assert plot.returncode == 1 and "nothing to plot yet" in plot.stderr


def test_no_permission_names_the_verb_and_resource(
    done: dict[str, Any],
    kube_api: client.ApiClient,
    kubeconfig_path: Path,
    cli_namespace: str,
    tmp_path: Path,
) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_service_account(cli_namespace, {"metadata": {"name": "nobody"}})
    token = core.create_namespaced_service_account_token(
        "nobody", cli_namespace, {"spec": {"expirationSeconds": 600}}
    )
    config = yaml.safe_load(kubeconfig_path.read_text())
    config["users"] = [{"name": "nobody", "user": {"token": token.status.token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "nobody"
    (tmp_path / "nobody").write_text(yaml.safe_dump(config))
    result = kubetune(tmp_path / "nobody", "-n", cli_namespace, "list")
    assert result.returncode == 1
    assert (
        f'forbidden: you may not list tuningjobs.kubetune.io in namespace "{cli_namespace}"'
        in result.stderr
    )
    assert token.status.token not in result.stderr
    # Allowed to read TuningJobs, not Events (a user's Role often is): describe shows the
    # job and says why the Events are missing.
    rbac = client.RbacAuthorizationV1Api(kube_api)
    rule = {"apiGroups": ["kubetune.io"], "resources": ["tuningjobs"], "verbs": ["get", "list"]}
    rbac.create_namespaced_role(
        cli_namespace, {"metadata": {"name": "tuningjob-reader"}, "rules": [rule]}
    )
    rbac.create_namespaced_role_binding(
        cli_namespace,
        {
            "metadata": {"name": "tuningjob-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "tuningjob-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": cli_namespace}],
        },
    )
    described = wait_for(
        "the Role to take effect",
        lambda: (
            (r := kubetune(tmp_path / "nobody", "-n", cli_namespace, "describe", "done")).returncode
            == 0
            and r
        ),
        timeout=30,
    )
    assert "Phase:      Completed" in described.stdout, described.stdout
    assert "not shown: forbidden: you may not list events" in described.stdout


def test_stop_stops_the_running_trials_and_ends_the_job_stopped_by_user(
    api: Api, operator: Any, kubeconfig_path: Path, cli_namespace: str
) -> None:
    """AMT's StopHyperParameterTuningJob: the running trials are stopped (their Jobs
    deleted), the job ends Stopped (StoppedByUser), and what was recorded stays."""
    api.create(
        tuning_job("to-stop", max_trials=6, parallel=2, static={"mode": "sleep", "seconds": "600"})
    )
    wait_for(
        "two running trials",
        lambda: (
            (api.get("to-stop") or {}).get("status", {}).get("counters", {}).get("running") == 2
        ),
        timeout=TIMEOUT,
        operator=operator,
    )
    result = kubetune(kubeconfig_path, "-n", cli_namespace, "stop", "to-stop")
    assert result.returncode == 0, result.stderr
    wait_for("to-stop to end", lambda: api.terminal("to-stop"), timeout=TIMEOUT, operator=operator)
    body = api.get("to-stop") or {}
    status = body["status"]
    assert body["spec"]["stop"] is True
    # Audit logs and GitOps diffs name kubetune as the writer of spec.stop (QA99 L4).
    stop_writers = [
        m["manager"]
        for m in body["metadata"]["managedFields"]
        if "f:stop" in (m.get("fieldsV1") or {}).get("f:spec", {})
    ]
    assert stop_writers == ["kubetune"], body["metadata"]["managedFields"]
    assert (status["phase"], status["reason"]) == ("Stopped", "StoppedByUser")
    assert [(t["phase"], t["reason"]) for t in status["trials"]] == [
        ("Stopped", "StoppedByUser")
    ] * 2
    assert status["counters"]["stopped"] == 2 and status["counters"]["running"] == 0
    assert status["trialsDone"] == "2/6"
    wait_for(
        "the stopped trials' Jobs to be deleted",
        lambda: all(j.metadata.deletion_timestamp is not None for j in api.jobs("to-stop")),
        timeout=TIMEOUT,
    )
    # A stopped job stays stopped: the API server refuses to unset spec.stop.
    with pytest.raises(client.ApiException) as refused:
        api.patch_spec("to-stop", {"stop": False})
    assert refused.value.status == 422
    assert "spec.stop cannot be set back to false" in json.loads(refused.value.body)["message"]
    assert (api.get("to-stop") or {})["status"]["trials"] == status["trials"]
    # Its log went with the Job: `kubetune logs` says so rather than "not started yet".
    wait_for(
        "the stopped trials' pods to go",
        lambda: not api.pods("to-stop"),
        timeout=TIMEOUT,
    )
    logs = kubetune(kubeconfig_path, "-n", cli_namespace, "logs", "to-stop", "1")
    assert logs.returncode == 1
    assert 'trial "to-stop-001" was stopped (Stopped, StoppedByUser)' in logs.stderr, logs.stderr
    assert f"`kubetune -n {cli_namespace} --kubeconfig {kubeconfig_path} trials to-stop`" in (
        logs.stderr
    )


def test_watch_on_a_terminal_draws_the_progress_screen(
    done: dict[str, Any], kubeconfig_path: Path, cli_namespace: str
) -> None:
    main, child = pty.openpty()
    with subprocess.Popen(
        [str(KUBETUNE), "--kubeconfig", str(kubeconfig_path), "-n", cli_namespace, "watch", "done"],
        stdout=child,
        stderr=subprocess.PIPE,
    ) as process:
        os.close(child)
        assert process.wait(timeout=120) == 0
        screen = b""
        while select.select([main], [], [], 0)[0]:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child side is closed: everything was read
                break
            if not chunk:
                break
            screen += chunk
    os.close(main)
    text = screen.decode()
    assert "trials [##############################] 5/5 ended, 5 launched" in text
    best = done["status"]["bestTrial"]
    assert f"best: loss={best['objective']:.6g} ({best['name']}:" in text
    assert text.rstrip().splitlines()[-1].startswith("TuningJob done: Completed")

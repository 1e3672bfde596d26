"""`kubetune run --local`: real trial processes (tests/e2e/fake_trainer.py), no cluster."""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e.fake_trainer import acc_value
from kubetune.cli import output
from kubetune.cli.main import run
from kubetune.operator.api.naming import trial_job_name
from kubetune.operator.api.schema import immutable_spec_fields
from kubetune.operator.kube.local import LocalKube
from kubetune.operator.kube.metric_logs import FULL_NUMBER_GROUP

# Real trainer processes, seconds each: these run in make test, not in make unit.
pytestmark = pytest.mark.slow

FAKE_TRAINER = str(Path(__file__).resolve().parents[1] / "e2e" / "fake_trainer.py")


def manifest(tmp_path: Path, strategy: str = "Random", **extra: Any) -> Path:
    container: dict[str, Any] = {
        "name": "trainer",
        "image": "fake:1",
        "command": [sys.executable, FAKE_TRAINER],
    }
    container.update(extra.pop("container", {}))
    spec: dict[str, Any] = {
        "strategy": strategy,
        "objective": {"metric": "loss", "type": "Minimize"},
        "metrics": [{"name": "loss", "regex": "^loss=([-+0-9.eE]+)"}],
        "parameters": [
            {"name": "x", "type": "Continuous", "min": 0.0, "max": 1.0},
            {"name": "n", "type": "Integer", "min": 0, "max": 3},
        ],
        "limits": {"maxTrials": 4, "maxParallelTrials": 2},
        "randomSeed": 5,
        "trialTemplate": {
            "primaryContainer": "trainer",
            "job": {"template": {"spec": {"containers": [container]}}},
        },
    }
    spec.update(extra)
    path = tmp_path / "job.yaml"
    body = {"apiVersion": "kubetune.io/v1alpha1", "kind": "TuningJob"}
    write_manifest(path, {**body, "metadata": {"name": "local"}, "spec": spec})
    return path


def write_manifest(path: Path, body: dict[str, Any]) -> None:
    """`body` as JSON, which is YAML with every string quoted: PyYAML's safe_dump leaves
    the parameter name n bare, which kubectl (and `kubetune run --local`) reads as false."""
    path.write_text(json.dumps(body, indent=2))


def kubetune(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def status(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "status.yaml").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("strategy", ["Random", "Sobol", "Bayesian", "Grid"])
def test_strategy_runs_max_trials_and_records_everything(tmp_path: Path, strategy: str) -> None:
    out_dir = tmp_path / "run"
    extra: dict[str, Any] = {}
    if strategy == "Grid":  # Grid enumerates only Integer and Categorical parameters
        extra["parameters"] = [
            {"name": "x", "type": "Categorical", "values": ["0.1", "0.3"]},
            {"name": "n", "type": "Integer", "min": 0, "max": 1},
        ]
    path = manifest(tmp_path, strategy, **extra)
    code, out, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
    assert code == 0, out + err
    recorded = status(out_dir)
    assert recorded["phase"] == "Completed", recorded
    trials = recorded["trials"]
    assert len(trials) == 4
    assert all(t["phase"] == "Succeeded" for t in trials), trials
    for trial in trials:
        log = (out_dir / "logs" / f"{trial['name']}.log").read_text()
        # fake_trainer exits 2 if argv and KUBETUNE_HYPERPARAMETERS disagree: both delivered.
        x, n = float(trial["hyperparameters"]["x"]), int(trial["hyperparameters"]["n"])
        assert f"loss={(x - 0.3) ** 2 + 0.01 * n!r}" in log
    code, best, _ = kubetune("best", str(out_dir), "-o", "args")
    assert code == 0 and f"--x={recorded['bestTrial']['hyperparameters']['x']}" in best, best
    code, table, _ = kubetune("trials", str(out_dir))
    assert code == 0 and all(t["name"] in table for t in trials)


def test_failing_and_metric_less_trials_are_recorded(tmp_path: Path) -> None:
    for mode, reason in (("fail", "Error"), ("silent", None)):
        out_dir = tmp_path / mode
        path = manifest(tmp_path, staticHyperparameters={"mode": mode}, limits={"maxTrials": 2})
        code, _, _ = kubetune("run", "--local", str(path), "--out", str(out_dir))
        recorded = status(out_dir)
        trials = recorded["trials"]
        assert trials and all(t["phase"] == "Failed" for t in trials), trials
        # No trial succeeded: the job fails, and so does the command (CI must notice).
        assert (recorded["phase"], recorded["reason"], code) == ("Failed", "NoTrialSucceeded", 1)
        if reason:
            assert trials[0]["reason"] == reason
        else:
            assert trials[0]["reason"] != "Error", trials[0]


def test_a_trainer_killed_by_a_signal_exits_with_the_code_a_kubelet_reports(
    tmp_path: Path,
) -> None:
    """128 + the signal, as on a cluster (137: SIGKILL, the OOM killer's), not Popen's -9,
    also as a resumed run reads it back from disk."""
    path = manifest(tmp_path, staticHyperparameters={"mode": "killed"}, limits={"maxTrials": 1})
    kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))
    (trial,) = status(tmp_path / "run")["trials"]
    assert trial["phase"] == "Failed", trial
    assert "exited with code 137 (SIGKILL)" in trial["message"], trial
    (pod,) = LocalKube(tmp_path / "run").list_trial_pods("default", "demo")
    (container,) = pod["status"]["containerStatuses"]
    assert container["state"]["terminated"]["exitCode"] == 137, pod


def test_a_failing_trainer_ends_its_trial_whatever_the_jobs_backoff_limit(
    tmp_path: Path,
) -> None:
    """Local mode runs a trainer once: with backoffLimit 3 (common in Job manifests) its
    failure ends the trial at once, as backoffLimit 0 does, instead of waiting for ever
    for retries that never come."""
    path = manifest(tmp_path, staticHyperparameters={"mode": "fail"}, limits={"maxTrials": 1})
    body = yaml.safe_load(path.read_text())
    body["spec"]["trialTemplate"]["job"]["backoffLimit"] = 3
    write_manifest(path, body)
    done = threading.Event()
    result: list[int] = []

    def run_it() -> None:
        result.append(kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))[0])
        done.set()

    threading.Thread(target=run_it, daemon=True).start()
    assert done.wait(60), "the run did not end within 60 s"
    (trial,) = status(tmp_path / "run")["trials"]
    assert (trial["phase"], trial["reason"], result) == ("Failed", "Error", [1])


def test_placeholders_are_substituted_in_args(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    container = {
        "command": [sys.executable, "-c", "import sys; print(sys.argv[1:]); print('loss=1')"],
        "args": ["${trial.name}", "x is ${trialParameters.x}"],
    }
    path = manifest(tmp_path, container=container, limits={"maxTrials": 1})
    assert kubetune("run", "--local", str(path), "--out", str(out_dir))[0] == 0
    trial = status(out_dir)["trials"][0]
    log = (out_dir / "logs" / f"{trial['name']}.log").read_text()
    assert f"'{trial['name']}', 'x is {trial['hyperparameters']['x']}'" in log


def test_an_image_without_command_must_be_mapped(tmp_path: Path) -> None:
    path = manifest(tmp_path, container={"command": None})
    code, _, err = kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))
    assert code == 1
    assert "'trainer'" in err and "'fake:1'" in err and "--image fake:1=CMD" in err
    assert not (tmp_path / "run").exists()
    code, _, err = kubetune(
        "run",
        "--local",
        str(path),
        "--out",
        str(tmp_path / "run"),
        "--image",
        f"fake:1={sys.executable} {FAKE_TRAINER}",
    )
    assert code == 0, err
    assert status(tmp_path / "run")["phase"] == "Completed"


def test_a_warm_started_run_runs_an_image_with_the_command_its_parent_saved(
    tmp_path: Path,
) -> None:
    """docs/local-runs.md's `run --local digits-more.yaml --parent runs/digits`: the parent was
    run with --image; the child, given none, runs that image with the parent's command,
    says so in a line, and keeps it for its resumes. An --image given wins."""
    path = manifest(
        tmp_path,
        "Grid",
        parameters=[{"name": "n", "type": "Integer", "min": 0, "max": 3}],
        container={"command": None},
        limits={"maxTrials": 2, "maxParallelTrials": 1},
    )
    command = f"{sys.executable} {FAKE_TRAINER}"
    parent_dir = tmp_path / "runs" / "parent"
    code, _, err = kubetune(
        "run", "--local", str(path), "--out", str(parent_dir), "--image", f"fake:1={command}"
    )
    assert code == 0, err
    child_path = warm_started_child(path, {"maxTrials": 2, "maxParallelTrials": 1})
    child_dir = tmp_path / "runs" / "child"
    code, _, err = kubetune(
        "run", "--local", str(child_path), "--out", str(child_dir), "--parent", str(parent_dir)
    )
    assert code == 0, err
    assert err.splitlines()[0] == (
        f"--image fake:1={shlex.quote(command)} taken from the warm-start parent's "
        f"{parent_dir / 'images.yaml'}; give --image to run another command"
    )
    assert [t["hyperparameters"]["n"] for t in status(child_dir)["trials"]] == ["2", "3"]
    assert yaml.safe_load((child_dir / "images.yaml").read_text()) == {"fake:1": command}

    given = f"{sys.executable} -u {FAKE_TRAINER}"
    code, _, err = kubetune(
        "run",
        "--local",
        str(child_path),
        "--out",
        str(tmp_path / "c2"),
        "--parent",
        str(parent_dir),
        "--image",
        f"fake:1={given}",
    )
    assert code == 0 and "taken from" not in err, err
    assert yaml.safe_load((tmp_path / "c2" / "images.yaml").read_text()) == {"fake:1": given}


def wait_for(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_interrupted_run_resumes_with_exact_trial_count(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    path = manifest(
        tmp_path,
        staticHyperparameters={"mode": "curve", "steps": "10", "pause": "0.3"},
        limits={"maxTrials": 3, "maxParallelTrials": 1},
    )
    argv = [
        sys.executable,
        "-m",
        "kubetune.cli",
        "run",
        "--local",
        str(path),
        "--out",
        str(out_dir),
    ]
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    # Ctrl-C as a terminal delivers it: tests started in the background by a
    # non-interactive shell inherit SIGINT ignored, an exec keeps it ignored, and the run
    # then never sees KeyboardInterrupt (it went on to exit 0). Not ignored in the child:
    inherited = signal.getsignal(signal.SIGINT)
    if inherited == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        if inherited == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    def second_running() -> bool:
        # Exactly the second of three trials running (one at a time): the third has not
        # started, so at least one whole trial is left when the signal arrives.
        if not (out_dir / "status.yaml").exists():
            return False
        trials = status(out_dir).get("trials", [])
        return len(trials) == 2 and trials[1]["phase"] == "Running"

    wait_for(second_running)
    # Running for more than a second (the status's times are whole seconds): its start
    # when resumed must then differ from the first one.
    log = out_dir / "logs" / "local-002.log"
    wait_for(lambda: log.read_text().count("loss=") >= 4)
    interrupted_at = datetime.now(UTC).replace(microsecond=0)
    first.send_signal(signal.SIGINT)
    assert first.wait(60) == 130
    interrupted = status(out_dir)
    # Recorded as it is: no trial Running (no process runs), the interrupted one Pending
    # (its Job kept, to start again), its duration frozen at the interruption.
    assert [t["phase"] for t in interrupted["trials"]] == ["Succeeded", "Pending"], interrupted
    running = [t for t in interrupted["trials"] if t.get("reason") == "Interrupted"]
    assert [t["name"] for t in running] == ["local-002"], interrupted
    assert running[0]["endTime"] >= running[0]["startTime"]
    assert interrupted["reason"] == "Interrupted"
    assert interrupted["counters"]["running"] == 0 and interrupted["counters"]["pending"] == 1
    code, listed, _ = kubetune("trials", str(out_dir), "-o", "json")
    time.sleep(1.1)  # the status's times are whole seconds
    assert (code, listed) == (0, kubetune("trials", str(out_dir), "-o", "json")[1])
    described = kubetune("describe", str(out_dir))[1]
    assert "Next:       Nothing runs: the local run was interrupted" in described
    for trial in running:  # stopped, not recorded as ended: it runs again on resume
        assert not (out_dir / "logs" / f"{trial_job_name(trial['name'])}.exit").exists()
    second = subprocess.run(argv, check=False, env=env, capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr
    final = status(out_dir)
    assert final["phase"] == "Completed"
    assert [t["name"] for t in final["trials"]] == ["local-001", "local-002", "local-003"]
    assert all(t["phase"] == "Succeeded" for t in final["trials"])
    assert b"resumed; started again: local-002\n" in second.stderr
    # QA98 L1: the trial ended before is counted in one line, not listed again.
    first_line, *ended, last = second.stdout.decode().splitlines()
    assert first_line.startswith("1/3 ended before this run, best="), second.stdout
    assert first_line.endswith(" (`kubetune trials` lists them)"), second.stdout
    assert [line.split()[0] for line in ended] == ["local-002", "local-003"], second.stdout
    assert ended[-1].endswith("  3/3 ended"), second.stdout
    assert last.startswith("TuningJob local: Completed"), second.stdout
    resumed = final["trials"][1]  # the same trial, nothing left of its interruption
    assert resumed["hyperparameters"] == running[0]["hyperparameters"]
    assert "reason" not in resumed and resumed["endTime"] != running[0]["endTime"], resumed
    # A trial started again starts when it was: the interruption is not part of its run.
    for trial in (t for t in final["trials"] if t["name"] in {r["name"] for r in running}):
        started = datetime.fromisoformat(trial["startTime"].replace("Z", "+00:00"))
        assert started >= interrupted_at, (trial, interrupted_at)


def test_a_second_run_on_a_directory_in_use_is_refused_naming_the_first(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    path = manifest(
        tmp_path,
        staticHyperparameters={"mode": "sleep", "seconds": "3"},
        limits={"maxTrials": 1, "maxParallelTrials": 1},
    )
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    first = subprocess.Popen(
        [sys.executable, "-m", "kubetune.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (out_dir / "status.yaml").exists() and status(out_dir).get("trials"))
        code, _, err = kubetune(*argv)
        assert code == 1
        assert err == (
            f"error: {out_dir} is in use by another kubetune run (pid {first.pid}); wait for "
            "it to end or stop it first, or give another --out\n"
        )
    finally:
        first.wait(60)
    assert first.returncode == 0
    # Only the first run ran the trial; once it has ended the directory is free again.
    (trial,) = status(out_dir)["trials"]
    assert trial["phase"] == "Succeeded"
    assert kubetune(*argv)[0] == 0


def test_hyperband_stops_trials_at_their_rungs_and_the_cli_shows_where(tmp_path: Path) -> None:
    # A value a second: a run reads its logs as they are written, so a stopped trial
    # trains at most one epoch past its last rung (one if it printed again meanwhile).
    out_dir = tmp_path / "run"
    path = manifest(
        tmp_path,
        "Hyperband",
        hyperband={"minResource": 1, "maxResource": 9, "reductionFactor": 3},
        staticHyperparameters={"mode": "curve", "steps": "9", "pause": "1.0", "acc": "1"},
        limits={"maxTrials": 6, "maxParallelTrials": 3},
        metrics=[  # the loss and a second metric, on one line
            {"name": "loss", "regex": "^loss=([-+0-9.eE]+)"},
            {"name": "acc", "regex": " acc=([-+0-9.eE]+)$"},
        ],
    )
    code, out, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
    assert code == 0, out + err
    trials = status(out_dir)["trials"]
    assert len(trials) == 6
    assert {t["phase"] for t in trials} == {"Succeeded", "EarlyStopped"}, trials
    for trial in (t for t in trials if t["phase"] == "EarlyStopped"):
        last_rung = [1, 3][len(trial["rungValues"]) - 1]
        assert last_rung <= trial["epochs"] <= last_rung + 1, trial
        # Its Job was deleted: its process group terminated before it could exit.
        assert not (out_dir / "logs" / f"{trial_job_name(trial['name'])}.exit").exists()
    for trial in trials:
        # The other metric's value printed with the last loss read (QA84 L2: a stopped
        # trial had none), as a finished one keeps its final one.
        x, n = float(trial["hyperparameters"]["x"]), int(trial["hyperparameters"]["n"])
        printed = trial["intermediateCount"]
        assert trial["metrics"] == {"acc": acc_value(x, n, printed)}, trial
    code, out, err = kubetune("trials", str(out_dir), "-o", "json")
    assert code == 0, err
    for document, trial in zip(json.loads(out), trials, strict=True):
        assert document["epochs"] == trial["epochs"]
        assert [r["objective"] for r in document["rungs"]] == trial["rungValues"]
        assert [r["epochs"] for r in document["rungs"]] == [1, 3][: len(trial["rungValues"])]
    code, out, err = kubetune("describe", str(out_dir))
    assert code == 0, err
    consumed = status(out_dir)["epochsConsumed"]
    assert consumed == sum(t["epochs"] for t in trials) < 9 * len(trials)
    assert f"Epochs:        {consumed} (over the ended trials; rungs at 1, 3 of 9 epochs)" in out

    # A warm start from it (QA82 M3): a trial stopped at a rung holds its value after 1 or
    # 3 epochs, no final objective; a child of another strategy takes only those trained
    # to the end, a Hyperband child with the same rungs every one at its rungs.
    trained = sum(t["phase"] == "Succeeded" for t in trials)
    stopped = len(trials) - trained
    fast = {"mode": "curve", "steps": "9", "pause": "0.01"}
    for strategy, carried in [
        ("Random", f"{output.count(trained, 'trial')} trained to the end; {stopped} stopped"),
        ("Hyperband", f"6 trials with a value: {trained} trained to the end, {stopped} stopped"),
    ]:
        child = warm_started_child(
            path, {"maxTrials": 1}, strategy=strategy, staticHyperparameters=fast
        )
        if strategy != "Hyperband":
            body = yaml.safe_load(child.read_text())
            del body["spec"]["hyperband"]
            write_manifest(child, body)
        child_dir = tmp_path / strategy
        argv = ["--out", str(child_dir), "--parent", str(out_dir)]
        code, out, err = kubetune("run", "--local", str(child), *argv)
        assert code == 0, out + err
        code, out, err = kubetune("describe", str(child_dir))
        assert f"\nWarm start: local ({carried}" in out, out


def test_target_objective_ends_the_run_early(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    path = manifest(
        tmp_path,
        completionCriteria={"targetObjective": 10.0},  # every trial reaches it
        limits={"maxTrials": 20, "maxParallelTrials": 1},
    )
    code, out, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
    assert code == 0, out + err
    recorded = status(out_dir)
    assert recorded["phase"] == "Completed" and recorded["reason"] != "MaxTrialsReached"
    assert len(recorded["trials"]) == 1, recorded["trials"]


def test_warm_start_from_an_earlier_local_run(tmp_path: Path) -> None:
    # Grid skips points already observed, the parents' included: the child's trials are
    # exactly the grid points its parent did not try, counted as the child's own.
    grid = [{"name": "n", "type": "Integer", "min": 0, "max": 3}]
    limits = {"maxTrials": 2, "maxParallelTrials": 1}
    parent_path = manifest(tmp_path, "Grid", parameters=grid, limits=limits)
    parent_dir = tmp_path / "local"  # the parent's default run directory: its name
    assert kubetune("run", "--local", str(parent_path), "--out", str(parent_dir))[0] == 0
    parent = status(parent_dir)
    assert [t["hyperparameters"]["n"] for t in parent["trials"]] == ["0", "1"]

    child_path = warm_started_child(parent_path, {"maxTrials": 4, "maxParallelTrials": 1})
    child_dir = tmp_path / "child"
    code, out, err = kubetune("run", "--local", str(child_path), "--out", str(child_dir))
    assert code == 0, out + err
    recorded = status(child_dir)
    assert [t["hyperparameters"]["n"] for t in recorded["trials"]] == ["2", "3"], recorded
    assert [t["name"] for t in recorded["trials"]] == ["child-001", "child-002"]
    assert recorded["reason"] == "SearchSpaceExhausted", recorded
    assert status(parent_dir) == parent  # the parent's run is read, never written
    # describe counts what the warm start carried, as on a cluster, and the parent's best.
    best = parent["bestTrial"]["name"]
    carried = f"2 trials with a value; its best {parent['bestObjectiveText']}, {best}"
    assert f"\nWarm start: local ({carried})\n" in kubetune("describe", str(child_dir))[1]

    # A parent given by --parent wherever it lies; a missing one is named with the fix.
    moved = tmp_path / "elsewhere"
    parent_dir.rename(moved)
    code, _, err = kubetune("run", "--local", str(child_path), "--out", str(tmp_path / "c2"))
    assert code == 1
    assert "spec.warmStart.parents: parent 'local' has no local run" in err
    assert "--parent DIR" in err
    code, out, err = kubetune(
        "run", "--local", str(child_path), "--out", str(tmp_path / "c2"), "--parent", str(moved)
    )
    assert code == 0, out + err
    assert [t["hyperparameters"]["n"] for t in status(tmp_path / "c2")["trials"]] == ["2", "3"]
    # Run again (a resume) without --parent: the run directory remembers where it was.
    code, out, err = kubetune("run", "--local", str(child_path), "--out", str(tmp_path / "c2"))
    assert code == 0, out + err
    # describe finds a parent where --parent said, and says where it looked for one gone.
    described = kubetune("describe", str(tmp_path / "c2"))[1]
    assert f"\nWarm start: local ({carried})\n" in described
    described = kubetune("describe", str(child_dir))[1]
    assert f"\nWarm start: local (no run found at {parent_dir})\n" in described


def test_warm_start_from_a_local_run_whose_trials_all_failed_runs_them_again(
    tmp_path: Path,
) -> None:
    """The user fixed the trainer and warm-started from the failed run: a warm start
    carries only the parent's trials that produced a value, so the child runs every
    configuration instead of ending SearchSpaceExhausted at once (QA55 #1)."""
    grid = [{"name": "n", "type": "Integer", "min": 0, "max": 2}]
    limits = {"maxTrials": 3, "maxParallelTrials": 1}
    parent_path = manifest(
        tmp_path, "Bayesian", parameters=grid, limits=limits, staticHyperparameters={"mode": "fail"}
    )
    parent_dir = tmp_path / "local"
    assert kubetune("run", "--local", str(parent_path), "--out", str(parent_dir))[0] == 1
    parent = status(parent_dir)
    assert [t["phase"] for t in parent["trials"]] == ["Failed"] * 3, parent

    child_path = warm_started_child(
        parent_path,
        {"maxTrials": 5, "maxParallelTrials": 1},
        staticHyperparameters={"mode": "ok"},  # the fixed trainer
    )
    child_dir = tmp_path / "child"
    code, out, err = kubetune("run", "--local", str(child_path), "--out", str(child_dir))
    assert code == 0, out + err
    recorded = status(child_dir)
    assert sorted(t["hyperparameters"]["n"] for t in recorded["trials"]) == ["0", "1", "2"]
    assert all(t["phase"] == "Succeeded" for t in recorded["trials"]), recorded
    assert (recorded["phase"], recorded["reason"]) == ("Completed", "SearchSpaceExhausted")
    assert recorded["message"] == (
        "the Bayesian strategy has no untried hyperparameters left after 3 trials"
    )


def warm_started_child(parent_path: Path, limits: dict[str, int], **spec: Any) -> Path:
    """child.yaml beside `parent_path`: its manifest renamed `child`, with `limits` and
    `spec`'s fields, warm-started from the parent's run (named `local`)."""
    child = yaml.safe_load(parent_path.read_text())
    child["metadata"]["name"] = "child"
    child["spec"] |= {"limits": limits, "warmStart": {"parents": ["local"]}, **spec}
    child_path = parent_path.parent / "child.yaml"
    write_manifest(child_path, child)
    return child_path


def kubetune_within(seconds: float, *argv: str) -> tuple[int, str, str]:
    """`kubetune(*argv)`, failing the test if it has not returned within `seconds` (a run
    that would wait for ever)."""
    done = threading.Event()
    result: list[tuple[int, str, str]] = []

    def run_it() -> None:
        result.append(kubetune(*argv))
        done.set()

    threading.Thread(target=run_it, daemon=True).start()
    assert done.wait(seconds), f"kubetune {' '.join(argv)} did not end within {seconds} s"
    return result[0]


def edit(path: Path, **spec: Any) -> None:
    body = yaml.safe_load(path.read_text())
    body["spec"].update(spec)
    write_manifest(path, body)


@pytest.mark.parametrize("strategy", ["Bayesian", "Random"])
def test_a_finite_space_tried_whole_ends_the_run_exhausted(tmp_path: Path, strategy: str) -> None:
    # In a space of Integer and Categorical parameters only, every strategy skips the
    # configurations tried and completes when none is left, as Grid does.
    finite = [
        {"name": "x", "type": "Categorical", "values": ["0.1", "0.3"]},
        {"name": "n", "type": "Integer", "min": 0, "max": 2},
    ]
    limits = {"maxTrials": 10, "maxParallelTrials": 2}
    path = manifest(tmp_path, strategy, parameters=finite, limits=limits)
    code, out, err = kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))
    assert code == 0, out + err
    recorded = status(tmp_path / "run")
    assert (recorded["phase"], recorded["reason"]) == ("Completed", "SearchSpaceExhausted")
    assert recorded["message"] == (
        f"the {strategy} strategy has no untried hyperparameters left after 6 trials"
    )
    tried = [(t["hyperparameters"]["x"], t["hyperparameters"]["n"]) for t in recorded["trials"]]
    assert len(tried) == 6 == len(set(tried)), tried


def test_a_suspended_run_launches_nothing_and_a_resume_applies_the_mutable_changes(
    tmp_path: Path,
) -> None:
    out_dir = tmp_path / "run"
    path = manifest(tmp_path, suspend=True, limits={"maxTrials": 2, "maxParallelTrials": 1})
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    code, _, err = kubetune_within(60, *argv)
    assert code == 0, err
    assert (
        f"spec.suspend is true: no trial is launched (0 run so far); set it to false in {path}"
        in err
    )
    assert status(out_dir)["trials"] == []

    # As on a live TuningJob: suspend and limits may change, and take effect.
    edit(path, suspend=False, limits={"maxTrials": 3, "maxParallelTrials": 1})
    code, _, err = kubetune_within(60, *argv)
    assert code == 0, err
    assert "applied the manifest's changes to spec.limits.maxTrials, spec.suspend" in err
    recorded = status(out_dir)
    assert (recorded["phase"], len(recorded["trials"])) == ("Completed", 3), recorded

    # An ended TuningJob stays ended: more maxTrials run nothing more, and say why.
    edit(path, limits={"maxTrials": 5, "maxParallelTrials": 1})
    code, _, err = kubetune_within(60, *argv)
    assert code == 0, err
    assert f"{out_dir} has ended (Completed) and stays ended" in err
    assert "spec.warmStart.parents: [local]" in err
    assert status(out_dir) == recorded

    # The immutable fields are refused, each named.
    edit(path, randomSeed=6, staticHyperparameters={"mode": "ok"})
    code, _, err = kubetune_within(60, *argv)
    assert (code, err) == (
        1,
        f"error: {out_dir} holds a run with another value of spec.randomSeed, "
        "spec.staticHyperparameters, immutable on a TuningJob; give another --out to start "
        "anew (to go on from its trials, warm-start the new run from it: "
        f"spec.warmStart.parents: [local], --parent {out_dir})\n",
    )


def test_the_immutable_fields_are_those_of_the_cel_transition_rules() -> None:
    assert sorted(immutable_spec_fields()) == [
        "hyperband",
        "metrics",
        "objective",
        "parameters",
        "randomSeed",
        "staticHyperparameters",
        "strategy",
        "trialTemplate",
        "warmStart",
    ]


def test_parallel_overrides_the_specs_max_parallel_trials(tmp_path: Path) -> None:
    """--parallel 3 runs three trials at once where the spec says one: each trial waits
    until all three have started (one at a time, each would wait until its deadline)."""
    started = tmp_path / "started"
    started.mkdir()
    barrier = (
        "import pathlib, sys, time\n"
        "folder = pathlib.Path(sys.argv[1])\n"
        "(folder / sys.argv[2]).touch()\n"
        "deadline = time.monotonic() + 20\n"
        "while len(list(folder.iterdir())) < 3 and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(f'loss={len(list(folder.iterdir()))}')\n"
    )
    container = {
        "command": [sys.executable, "-c", barrier],
        "args": [str(started), "${trial.name}"],
    }
    path = manifest(tmp_path, container=container, limits={"maxTrials": 3, "maxParallelTrials": 1})
    out_dir = tmp_path / "run"
    code, out, err = kubetune("run", "--local", str(path), "--out", str(out_dir), "--parallel", "3")
    assert code == 0, out + err
    assert [t["objective"] for t in status(out_dir)["trials"]] == [3.0, 3.0, 3.0]
    stored = yaml.safe_load((out_dir / "tuningjob.yaml").read_text())
    assert stored["spec"]["limits"]["maxParallelTrials"] == 3


def test_parallel_beyond_max_trials_runs_them_all_at_once(tmp_path: Path) -> None:
    """--parallel larger than maxTrials (an example's maxTrials lowered, the README's
    --parallel kept) is capped at maxTrials, not refused for a field the user never set."""
    path = manifest(tmp_path, limits={"maxTrials": 2, "maxParallelTrials": 1})
    out_dir = tmp_path / "run"
    code, out, err = kubetune("run", "--local", str(path), "--out", str(out_dir), "--parallel", "5")
    assert code == 0, out + err
    stored = yaml.safe_load((out_dir / "tuningjob.yaml").read_text())
    assert stored["spec"]["limits"]["maxParallelTrials"] == 2


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (
            {"apiVersion": "kubetune.io/v1"},
            "apiVersion 'kubetune.io/v1' is not served; write apiVersion: kubetune.io/v1alpha1",
        ),
        (
            {"metadata": {"name": "Bad_Name"}},
            "metadata.name 'Bad_Name' is not a Kubernetes object name",
        ),
        (
            {"spec": {"limits": {"maxTrail": 3}}},
            "spec.limits.maxTrail: not a field of spec.limits; did you mean maxTrials?",
        ),
        (
            {"spec": {"earlyStopping": False}},  # a bare Off in YAML
            "spec.earlyStopping: Input should be 'Off' or 'Auto' (value False); YAML (as "
            "kubectl reads it) takes a bare y, n, yes, no, on or off, capitalised or not, as a "
            "boolean: write the word quoted, e.g. 'n' or 'Off'",
        ),
        (
            {"spec": {"staticHyperparameters": {"epochs": 3}}},
            "spec.staticHyperparameters.epochs: Input should be a valid string (value 3); "
            "write it quoted: '3'",
        ),
    ],
)
def test_what_the_api_server_refuses_is_refused_naming_the_fix(
    tmp_path: Path, change: dict[str, Any], refusal: str
) -> None:
    path = manifest(tmp_path)
    body = yaml.safe_load(path.read_text())
    for key, value in change.items():
        if key == "spec":
            for field, inner in value.items():
                if isinstance(inner, dict) and isinstance(body["spec"].get(field), dict):
                    body["spec"][field].update(inner)
                else:
                    body["spec"][field] = inner
        else:
            body[key] = value
    write_manifest(path, body)
    code, out, err = kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))
    assert code == 1 and refusal in err, out + err
    assert not (tmp_path / "run").exists()


def test_a_path_without_a_run_directory_says_so(tmp_path: Path) -> None:
    """A NAME written as a path is never a TuningJob on the cluster: no kubeconfig error."""
    code, _, err = kubetune("trials", str(tmp_path / "nowhere"))
    assert code == 1
    assert f"{tmp_path / 'nowhere'}: no local run directory there (no tuningjob.yaml)" in err


def test_a_command_that_cannot_start_says_so_without_blaming_an_api_server(
    tmp_path: Path,
) -> None:
    path = manifest(tmp_path, container={"command": ["no-such-binary-kubetune-test"]})
    code, out, _ = kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))
    recorded = status(tmp_path / "run")
    assert (code, recorded["phase"], recorded["reason"]) == (1, "Failed", "InvalidSpec")
    message = recorded["message"]
    assert message.startswith(
        "spec.trialTemplate: cannot start the command 'no-such-binary-kubetune-test' of "
        "container 'trainer': [Errno 2] No such file or directory"
    ), message
    assert message.endswith("; fix the command and rerun with another --out"), message
    assert "API server" not in out and message in out


def test_a_run_with_no_succeeded_trial_says_to_rerun_with_another_out(tmp_path: Path) -> None:
    path = manifest(tmp_path, staticHyperparameters={"mode": "fail"}, limits={"maxTrials": 1})
    out_dir = tmp_path / "run"
    code, out, _ = kubetune("run", "--local", str(path), "--out", str(out_dir))
    recorded = status(out_dir)
    assert (code, recorded["reason"]) == (1, "NoTrialSucceeded")
    assert recorded["message"].endswith(
        f"then run again with another --out (or delete {out_dir} first)"
    ), recorded["message"]
    assert "TuningJob" not in recorded["message"] and recorded["message"] in out


def test_a_metric_that_never_matches_is_named_in_the_trials_message(tmp_path: Path) -> None:
    metrics = [
        {"name": "loss", "regex": "^loss=([-+0-9.eE]+)"},
        {"name": "never", "regex": "zzz=([0-9]+)"},
    ]
    path = manifest(tmp_path, metrics=metrics, limits={"maxTrials": 1})
    code, _, _ = kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))
    (trial,) = status(tmp_path / "run")["trials"]
    assert (code, trial["phase"]) == (0, "Succeeded")
    assert trial["message"] == (
        "metric never never matched the log (no value recorded); check its regex"
    )
    code, rows, _ = kubetune("trials", str(tmp_path / "run"), "-o", "csv")
    assert code == 0 and "never matched the log" in rows


def test_a_final_value_cut_before_its_exponent_is_named_in_the_trials_message(
    tmp_path: Path,
) -> None:
    """Python prints a loss below 1e-4 as 1.49e-06; a regex that stops at the exponent
    records 1.49, as captured, and the trial's message says so (QA M1)."""
    printer = "print('epoch 1 loss=0.0015'); print('loss=1.4910935887317596e-06')"
    path = manifest(
        tmp_path,
        metrics=[{"name": "loss", "regex": r"loss=([0-9\.]+)"}],
        limits={"maxTrials": 1},
        container={"command": [sys.executable, "-c", printer]},
    )
    code, _, _ = kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))
    (trial,) = status(tmp_path / "run")["trials"]
    assert (code, trial["phase"], trial["objective"]) == (0, "Succeeded", 1.4910935887317596)
    assert trial["message"] == (
        f"metric loss: the regex captured 1.49109 of 1.49109e-06; capture whole numbers: "
        f"{FULL_NUMBER_GROUP}"
    )
    code, rows, _ = kubetune("trials", str(tmp_path / "run"), "-o", "csv")
    assert code == 0 and "captured 1.49109 of 1.49109e-06" in rows

"""The argument parser, exit codes and `watch`'s screen, without a cluster."""

from __future__ import annotations

import copy
import io
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import pytest
import re2
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1ObjectMeta,
    V1PodCondition,
    V1PodStatus,
)
from kubetune.analytics.cluster import KubeClient, connect, pod_not_started
from kubetune.analytics.errors import KubetuneError, NotFoundError, UnreachableError
from kubetune.analytics.local import read_directory
from kubetune.analytics.resource import Trial, TuningJobView, parse_tuning_job
from kubetune.cli import main as cli_main
from kubetune.cli import output, views
from kubetune.cli.local_run import prepare_directory
from kubetune.cli.watch import (
    LOG_TAIL_LINES,
    Reading,
    ended_lines,
    final_line,
    last_reading,
    latest_values,
    progress_bar,
    render,
    watch,
    whole_log,
)
from kubetune.operator.kube.validation import parse_and_validate_spec
from support.cli_data import (
    NOW,
    hyperband_job_before_its_end,
    hyperband_tuning_job,
    write_directory,
)
from synthetic_tuning_job import synthetic_tuning_job


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return cli_main.run(list(argv), out, err), out.getvalue(), err.getvalue()


def test_cluster_flags_go_before_or_after_the_command() -> None:
    parser = cli_main.build_parser()
    before = parser.parse_args(["-n", "team-a", "--context", "c", "trials", "x", "-o", "csv"])
    after = parser.parse_args(["trials", "x", "-n", "team-a", "--context", "c", "--top", "3"])
    assert (before.namespace, before.context, before.output) == ("team-a", "c", "csv")
    assert (after.namespace, after.context, after.top) == ("team-a", "c", 3)
    assert after.kubeconfig is None
    assert parser.parse_args(["list", "-A"]).all_namespaces is True
    assert parser.parse_args(["list"]).all_namespaces is False


def test_all_namespaces_is_an_option_of_list_only(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["describe", "x", "-A"], ["trials", "x", "--all-namespaces"], ["-A", "list"]):
        assert run(*argv)[0] == cli_main.EXIT_USAGE, argv
    assert "unrecognized arguments: " in capsys.readouterr().err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--version")[0] == cli_main.EXIT_OK
    assert capsys.readouterr().out == f"kubetune {version('kubetune')}\n"


def test_the_commands_leave_scipy_stats_and_optimize_to_the_first_suggestion() -> None:
    """They take most of the commands' start-up time to import (kubetune.optimizer's
    docstring), and only `run --local` suggests."""
    heavy = ("scipy.stats", "scipy.optimize")
    script = (
        "import sys\n"
        "import kubetune.cli.commands\n"
        f"print(*[m for m in {heavy!r} if m in sys.modules])\n"
        "from kubetune.optimizer import Continuous, SearchSpace, suggest\n"
        "space = SearchSpace([Continuous('x', 0.0, 1.0)])\n"
        "suggest(space, [({'x': i / 10}, (i / 10 - 0.3) ** 2) for i in range(8)], seed=1)\n"
        f"print(*[m for m in {heavy!r} if m in sys.modules])\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["", " ".join(heavy)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trials", "x", "--top", "abc"], "argument --top: expected a positive integer, got 'abc'"),
        (["trials", "x", "--top", "0"], "argument --top: expected a positive integer, got '0'"),
        (["run", "--local", "f.yaml", "--parallel", "1.5"], "expected a positive integer"),
        (
            ["watch", "x", "--timeout", "-1"],
            "argument --timeout: expected a positive number, got '-1'",
        ),
        (
            ["run", "--local", "f.yaml", "--image", "foo"],
            "argument --image: expected NAME=CMD, e.g. trainer:1='python train.py', got 'foo'",
        ),
    ],
)
def test_a_bad_option_value_is_a_usage_error_naming_option_value_and_what_is_accepted(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*argv)[0] == cli_main.EXIT_USAGE
    err = capsys.readouterr().err  # argparse's own message
    assert message in err and "_positive" not in err, err


def test_sort_by_no_column_is_a_usage_error_naming_the_columns_as_shown(tmp_path: Path) -> None:
    run_dir = str(write_directory(synthetic_tuning_job("s", 3), tmp_path / "s"))
    code, out, err = run("trials", run_dir, "--sort", "nosuch")
    assert (code, out) == (cli_main.EXIT_USAGE, "")
    assert err.startswith("kubetune trials: error: --sort nosuch: no column 'nosuch'; "), err
    assert ", duration, " in err and "durationSeconds" not in err, err
    assert run("trials", run_dir, "--sort", "-duration")[0] == cli_main.EXIT_OK


def test_trials_of_a_job_with_none_says_yet_only_while_it_may_launch_some(
    tmp_path: Path,
) -> None:
    ended = synthetic_tuning_job("e", 0)
    ended["spec"]["limits"]["maxTrials"] = 4
    message = (
        "the Bayesian strategy has no untried hyperparameters left after 0 trials and "
        "4 warm-start trials"
    )
    ended["status"].update(reason="SearchSpaceExhausted", message=message)
    code, out, err = run("trials", str(write_directory(ended, tmp_path / "e")))
    assert (code, out) == (cli_main.EXIT_OK, "")
    assert err == f'TuningJob "e" has no trials (phase Completed: {message}).\n'

    waiting = synthetic_tuning_job("w", 0)
    waiting["spec"]["limits"]["maxTrials"] = 4
    waiting["status"].update(phase="InProgress", reason="Suspended", message="suspended")
    code, out, err = run("trials", str(write_directory(waiting, tmp_path / "w")))
    assert (code, err) == (
        cli_main.EXIT_OK,
        'TuningJob "w" has no trials yet (phase InProgress: suspended).\n',
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["trials"],
        ["trials", "x", "-o", "xml"],
        ["trials", "x", "--top", "0"],
        ["fly"],
        ["watch", "x", "--interval", "0"],  # a busy loop of reads against the API server
        ["watch", "x", "--interval", "-1"],
        ["run", "--local", "f.yaml", "--image", "foo"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    assert run(*argv)[0] == cli_main.EXIT_USAGE


def test_plot_to_an_unsupported_format_is_a_usage_error_naming_the_formats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run("plot", "x", "-o", "report.html")[0] == cli_main.EXIT_USAGE
    err = capsys.readouterr().err  # argparse's own message
    assert "argument -o/--output: report.html: unsupported image format .html; use one of" in err
    assert ".pdf, " in err and ".png, " in err and ".svg, " in err, err


class DeletedAfter:
    """The API server as `watch` sees it: the TuningJob `found` times, then 404."""

    namespace = "default"

    def __init__(self, body: dict[str, Any], found: int) -> None:
        self.body, self.found = body, found

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any]:
        if self.found == 0:
            raise NotFoundError(f'TuningJob "{name}" not found in namespace "{namespace}"')
        self.found -= 1
        return self.body

    def heartbeat_leases(self) -> None:
        return None  # as for a user who may not list Leases: nothing said of the operator


def test_watch_says_when_the_job_is_deleted_while_watched() -> None:
    body = synthetic_tuning_job("wd", 4, running=1)  # InProgress: watch reads it again
    args = cli_main.build_parser().parse_args(["watch", "wd", "--interval", "0.01"])
    ctx = cli_main.Context(args, io.StringIO(), io.StringIO())
    with pytest.raises(NotFoundError) as raised:
        watch(ctx, cast(KubeClient, DeletedAfter(body, found=2)), "team-a", terminal=False)
    assert str(raised.value) == (
        'TuningJob "wd" was deleted while being watched (namespace "team-a").'
    )
    # Never found: the name or the namespace is wrong, as the generic message says.
    with pytest.raises(NotFoundError, match='"wd" not found in namespace "team-a"'):
        watch(ctx, cast(KubeClient, DeletedAfter(body, found=0)), "team-a", terminal=False)


def test_watch_timing_out_on_a_job_no_operator_picked_up_says_so_as_describe_does() -> None:
    body = synthetic_tuning_job("wp", 4)
    del body["status"]  # as created: no operator has written one
    args = cli_main.build_parser().parse_args(["watch", "wp", "--timeout", "0.001"])
    ctx = cli_main.Context(args, io.StringIO(), io.StringIO())
    with pytest.raises(KubetuneError) as raised:
        watch(ctx, cast(KubeClient, FakeKube([body])), "default", terminal=False)
    waiting = views.not_picked_up(parse_tuning_job(body))
    assert waiting is not None and waiting.startswith("No operator has picked the job up yet")
    assert str(raised.value) == (
        f'TuningJob "wp" did not end within --timeout 0.001 s (phase Pending). {waiting}'
    )
    assert f"Next:       {waiting}\n" in views.describe_text(parse_tuning_job(body), [], NOW)
    # Picked up: the job runs on after the timeout.
    running = synthetic_tuning_job("wp", 4, running=1)
    with pytest.raises(KubetuneError, match=r"\(phase InProgress\); it keeps running\.$"):
        watch(ctx, cast(KubeClient, FakeKube([running])), "default", terminal=False)


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--help")[0] == cli_main.EXIT_OK
    assert "trials" in capsys.readouterr().out


def test_a_missing_kubeconfig_is_an_error_that_says_what_to_do(tmp_path: object) -> None:
    code, _, err = run("--kubeconfig", f"{tmp_path}/none", "list")
    assert code == cli_main.EXIT_ERROR
    assert err.startswith("error: no kubeconfig at") and "--kubeconfig" in err


def test_the_kubectl_plugin_names_itself_kubectl_tune(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/kubectl-tune"])
    assert cli_main.build_parser().prog == "kubectl tune"


def test_the_kubectl_plugins_help_says_its_flags_go_after_tune(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`kubectl -n NS tune ...` is refused by kubectl itself ("flags cannot be placed
    before plugin name"); `kubetune -n NS trials X` is fine."""
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/kubectl-tune"])
    epilog = cli_main.build_parser().epilog or ""
    assert "the flags go after `tune` (kubectl tune -n NAMESPACE trials NAME" in epilog
    assert epilog.endswith("Exit codes: 0 ok, 1 error, 2 usage error, 130 interrupted.")
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/kubetune"])
    assert "after `tune`" not in (cli_main.build_parser().epilog or "")


def test_progress_bar() -> None:
    assert progress_bar(9, 30) == "[#########.....................]  9/30"
    assert progress_bar(0, 0).startswith("[....")


def test_watch_screen_shows_progress_best_and_running_trials() -> None:
    view: TuningJobView = parse_tuning_job(synthetic_tuning_job("w", 30, running=2))
    lines = render(view, {"w-029": Reading(0.91, 7)}, NOW)
    assert lines[0] == "TuningJob default/w: InProgress"
    assert "28/30 ended" in lines[1]
    best = view.status.best_trial
    assert best is not None and lines[2].startswith(
        f"best: validation:accuracy={best.objective:.6g} ({best.name}:"
    )
    assert lines[3] == "running:"
    # The step the CLI read, not the status's intermediateCount (written when it ends).
    assert "w-029" in lines[4] and "validation:accuracy=0.91 (step 7)" in lines[4]
    assert "w-030" in lines[5] and "no value yet" in lines[5]
    # A Pending trial says what it waits for.
    body = synthetic_tuning_job("w", 30, running=2)
    body["status"]["trials"][-1].update(
        phase="Pending", reason="Unschedulable", message="waiting for a node: 0/2 nodes ..."
    )
    waiting = render(parse_tuning_job(body), {}, NOW)[5]
    assert "w-030" in waiting and "Pending" in waiting and "waiting for a node: 0/2" in waiting


def test_a_step_is_shown_only_when_the_whole_log_was_read() -> None:
    view = parse_tuning_job(synthetic_tuning_job("w", 30, running=2))
    assert render(view, {"w-029": Reading(0.91, None)}, NOW)[4].endswith("validation:accuracy=0.91")
    pattern = re2.compile("(?m)" + r"^loss=(\S+)$")
    log = "loss=0.5\nepoch 2\nloss=0.25\nloss=oops\n"
    assert last_reading(pattern, log, whole=True) == Reading(0.25, 2)
    assert last_reading(pattern, log, whole=False) == Reading(0.25, None)
    assert whole_log("a\nb\n", 3) and whole_log("", 3)
    assert not whole_log("a\nb\nc\n", 3) and not whole_log("a\nb\nc", 3)


class Pod:
    """A pod as the client returns it, enough for `watch` and `logs`."""

    def __init__(self, name: str, status: V1PodStatus | None = None) -> None:
        self.metadata = V1ObjectMeta(name=name)
        self.status = status or running_status()


def running_status() -> V1PodStatus:
    state = V1ContainerState(running=V1ContainerStateRunning())
    return V1PodStatus(
        phase="Running",
        container_statuses=[
            V1ContainerStatus(
                name="trainer", state=state, image="i", image_id="", ready=True, restart_count=0
            )
        ],
    )


def waiting_status(reason: str, message: str | None = None) -> V1PodStatus:
    state = V1ContainerState(waiting=V1ContainerStateWaiting(reason=reason, message=message))
    return V1PodStatus(
        phase="Pending",
        container_statuses=[
            V1ContainerStatus(
                name="trainer", state=state, image="i", image_id="", ready=False, restart_count=0
            )
        ],
    )


UNSCHEDULED = V1PodStatus(
    phase="Pending",
    conditions=[
        V1PodCondition(
            type="PodScheduled",
            status="False",
            reason="Unschedulable",
            message="0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
        )
    ],
)


class FakeKube:
    """The API server as `watch` and `logs` see it: the TuningJob's bodies in turn (the
    last one for ever after), each trial's pods (a list of lists: one per read, the last
    for ever after) and their logs."""

    namespace = "default"

    def __init__(
        self,
        bodies: list[dict[str, Any]],
        pods: dict[str, list[list[Pod]]] | None = None,
        logs: dict[str, str] | None = None,
    ) -> None:
        self.bodies, self.pods, self.logs = bodies, pods or {}, logs or {}
        self.tails: list[int | None] = []

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any]:
        return self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]

    def trial_pods(self, namespace: str, trial: str) -> list[Pod]:
        reads = self.pods.get(trial, [[]])
        return reads.pop(0) if len(reads) > 1 else reads[0]

    def read_log(
        self, namespace: str, pod: str, container: str, tail_lines: int | None = None
    ) -> str:
        self.tails.append(tail_lines)
        lines = self.logs[pod].splitlines(keepends=True)
        return "".join(lines[-tail_lines:] if tail_lines else lines)

    def follow_log(self, namespace: str, pod: str, container: str) -> Any:
        yield self.logs[pod].encode()

    def heartbeat_leases(self) -> None:
        return None  # as for a user who may not list Leases: nothing said of the operator


def test_the_step_is_the_count_of_values_in_a_log_read_whole() -> None:
    body = synthetic_tuning_job("w", 30, running=2)
    body["spec"]["metrics"][0]["regex"] = r"^acc=(\S+)$"
    short = "".join(f"acc=0.{i}\n" for i in range(1, 6))
    long = "".join(f"acc=0.{i}\nstep {i}\n" for i in range(1, LOG_TAIL_LINES))
    kube = FakeKube(
        [body],
        {"w-029": [[Pod("w-029-1")]], "w-030": [[Pod("w-030-1")]]},
        {"w-029-1": short, "w-030-1": long},
    )
    latest = latest_values(cast(KubeClient, kube), parse_tuning_job(body))
    assert latest == {
        "w-029": Reading(0.5, 5),  # 5 values, all read
        "w-030": Reading(float(f"0.{LOG_TAIL_LINES - 1}"), None),  # a tail: count unknown
    }


def test_piped_watch_says_at_once_that_it_is_alive() -> None:
    running = synthetic_tuning_job("w", 30, running=2)
    ended = synthetic_tuning_job("w", 30)
    args = cli_main.build_parser().parse_args(["watch", "w", "--interval", "0.01"])
    ctx = cli_main.Context(args, io.StringIO(), io.StringIO())
    assert watch(ctx, cast(KubeClient, FakeKube([running, ended])), "default", False) == 0
    lines = ctx.out.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[0] == "TuningJob default/w: InProgress; 28/30 ended, 2 running"
    assert lines[1].startswith("w-001  ") and lines[-1].startswith("TuningJob w: Completed")
    assert sum(line.startswith("TuningJob") for line in lines) == 2  # quiet otherwise


def ended_line(view: TuningJobView, trial: Trial) -> str:
    """`trial`'s line among those of a whole job's trials read at once."""
    return next(line for line in ended_lines(view, set()) if line.startswith(f"{trial.name}  "))


def test_quiet_lines() -> None:
    view = parse_tuning_job(synthetic_tuning_job("q", 6))
    failed = next(t for t in view.trials if t.phase == "Failed")
    assert ended_line(view, failed).startswith("q-005  Failed  Error training diverged")
    assert final_line(view).startswith("TuningJob q: Completed (MaxTrialsReached); best trial q-")


def test_quiet_lines_read_at_once_say_the_count_and_best_at_each_trials_end() -> None:
    """Trials seen ending in one read (or a whole run replayed) are said in the order they
    ended, each with the count and the best at its end (each line said the latest read's:
    '6/6 ended' and the final best on every line: QA76 L1)."""
    view = parse_tuning_job(synthetic_tuning_job("q", 6))
    ended = sorted((t for t in view.trials if t.end_time is not None), key=lambda t: t.end_time)
    lines = ended_lines(view, set())
    assert [line.split("  ")[0] for line in lines] == [t.name for t in ended]
    best: float | None = None
    for done, (trial, line) in enumerate(zip(ended, lines, strict=True), start=1):
        if trial.phase == "Succeeded" and trial.objective is not None:
            best = trial.objective if best is None else max(best, trial.objective)
        said = output.number(best) if best is not None else output.MISSING
        assert line.split("  ")[3:5] == [f"best={said}", f"{done}/6 ended"], line
    assert best is not None and output.number(best) == output.number(view.status.best_objective)
    assert ended_lines(view, {t.name for t in view.trials}) == []  # each said once


@pytest.mark.parametrize(
    ("phase", "reason", "message"),
    [
        (
            "Completed",
            "SearchSpaceExhausted",
            "the Bayesian strategy has no untried hyperparameters left after 6 trials",
        ),
        (
            "Stopped",
            "StoppedByUser",
            "spec.stop is true: stopped by the user; no trial was running",
        ),
    ],
)
def test_the_last_line_joins_the_jobs_message_as_it_is_written(
    phase: str, reason: str, message: str
) -> None:
    """The job's message starts in lowercase, sometimes with a field's name: it follows a
    semicolon, not a full stop that would want it capitalised."""
    body = synthetic_tuning_job("q", 6)
    body["status"].update(phase=phase, reason=reason, message=message)
    view = parse_tuning_job(body)
    best = view.status.best_trial
    assert best is not None
    assert final_line(view) == (
        f"TuningJob q: {phase} ({reason}); best trial {best.name}: validation:accuracy="
        f"{output.number(best.objective)}; {message}"
    )


def test_watch_shows_a_hyperband_jobs_epochs() -> None:
    body = hyperband_tuning_job(12)
    view = parse_tuning_job(body)
    assert render(view, {}, NOW)[1].endswith(f"{body['status']['epochsConsumed']} epochs")
    stopped = next(t for t in view.trials if t.phase == "EarlyStopped" and t.epochs == 3)
    assert f"={output.number(stopped.objective)} at rung 1 (3 epochs)  best=" in (
        ended_line(view, stopped)
    )
    first_rung = next(t for t in view.trials if t.phase == "EarlyStopped" and t.epochs == 1)
    assert " at rung 0 (1 epoch)  best=" in ended_line(view, first_rung)
    full = next(t for t in view.trials if t.phase == "Succeeded")
    assert f" after {full.epochs} epochs  best=" in ended_line(view, full)


def test_watch_gives_a_stopped_trials_rung_value_at_its_rung_not_at_its_end() -> None:
    """QA82 L2: a trial judged at rung 1 (3 epochs) that the operator stopped after 4
    showed its rung value as `after 4 epochs`, a value it had after 3."""
    body = hyperband_tuning_job(12)
    late = next(t for t in body["status"]["trials"] if t.get("epochs") == 3)
    late["epochs"] = 4
    trial = next(t for t in parse_tuning_job(body).trials if t.name == late["name"])
    line = ended_line(parse_tuning_job(body), trial)
    value = output.number(trial.rung_values[1])
    assert f"={value} at rung 1 (3 epochs), stopped after 4 epochs  best=" in line


def test_watch_marks_a_hyperband_best_read_at_a_rung_as_the_best_column_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before any trial has run its full maxResource, the best is a value at a rung (which
    a trial that runs to the end may well not reach): `watch`, its quiet lines and `list`
    mark it with that rung, as `bestObjectiveText` (kubectl's Best column) does."""
    body = hyperband_job_before_its_end(12)
    view = parse_tuning_job(body)
    best = view.status.best_trial
    assert best is not None and view.status.best_objective is None
    marked = f"validation:accuracy={output.number(best.objective)} (at 3 epochs)"
    assert body["status"]["bestObjectiveText"] == f"{best.objective:.6g} (at 3 epochs)"
    assert render(view, {}, NOW)[2].startswith(f"best: {marked} ({best.name}: ")
    stopped = next(t for t in view.trials if t.phase == "EarlyStopped")
    assert ended_line(view, stopped).split("  ")[3] == f"best={marked.split('=')[1]}"
    assert final_line(view).startswith(
        f"TuningJob hb: InProgress; best trial {best.name}: {marked}"
    )
    # A best read at the end of a trial's run is the final objective: no rung.
    done = parse_tuning_job(hyperband_tuning_job(12))
    assert "rung" not in render(done, {}, NOW)[2] and "rung" not in final_line(done)

    from kubetune.cli import commands  # noqa: PLC0415

    body["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    calls = {"list_tuning_jobs": lambda *_: [body], "heartbeat_leases": lambda *_: None}
    kube = type("Kube", (), {"namespace": "default", **calls})()
    monkeypatch.setattr(commands, "connect", lambda *_: kube)
    code, out, _ = run("list")
    assert code == 0 and f"  {best.objective:.6g} (at 3 epochs)  " in out.splitlines()[1]


def test_latest_value_is_the_last_number_the_regex_matched() -> None:
    pattern = re2.compile("(?m)" + r"^loss=(\S+)$")
    reading = last_reading(pattern, "loss=0.5\nepoch 2\nloss=0.25\nloss=oops\n", whole=False)
    assert reading is not None and reading.value == 0.25
    assert last_reading(pattern, "nothing yet\n", whole=False) is None


def test_duration_of_a_running_trial_counts_to_now() -> None:
    view = parse_tuning_job(synthetic_tuning_job("d", 3, running=1))
    running = view.trials[-1]
    start = running.start_time
    assert start is not None
    assert running.duration_seconds(datetime(2026, 1, 1, 0, 2, tzinfo=UTC)) == 120 - 90


def test_the_namespace_defaults_to_the_kubeconfig_context(tmp_path: object) -> None:
    kubeconfig = f"{tmp_path}/config"
    with open(kubeconfig, "w") as file:
        file.write(
            "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
            "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
            "users: [{name: u, user: {token: t}}]\n"
            "contexts: [{name: a, context: {cluster: c, user: u, namespace: team-a}},"
            " {name: b, context: {cluster: c, user: u}}]\n"
        )
    assert connect(kubeconfig).namespace == "team-a"
    assert connect(kubeconfig, context="b").namespace == "default"


def test_best_of_a_job_whose_best_is_a_rung_value_notes_it_on_stderr_only(tmp_path: Path) -> None:
    """QA67 L8: stdout stays the hyperparameters alone, for a script."""
    run_dir = str(write_directory(hyperband_job_before_its_end(12), tmp_path / "hb"))
    for fmt in ("yaml", "json", "args", "env"):
        code, out, err = run("best", run_dir, "-o", fmt)
        assert code == cli_main.EXIT_OK
        assert "Note" not in out and "rung" not in out
        assert "best at rung 1 (3 epochs)" in err and "not a fully trained result" in err, err
    done = str(write_directory(hyperband_tuning_job(12), tmp_path / "done"))
    code, out, err = run("best", done)
    assert (code, err) == (cli_main.EXIT_OK, "")


def test_best_of_a_job_no_trial_of_which_succeeded_says_where_to_see_why(tmp_path: Path) -> None:
    """QA84 L6: `best` said that there is no best trial, and not what to do next."""
    body = synthetic_tuning_job("allfail", 3)
    for trial in body["status"]["trials"]:
        trial.update(phase="Failed", reason="Error", objective=None)
    body["status"].pop("bestTrial", None)
    run_dir = str(write_directory(body, tmp_path / "allfail"))
    code, out, err = run("best", run_dir)
    assert (code, out) == (cli_main.EXIT_ERROR, "")
    assert 'TuningJob "allfail" has no best trial' in err
    assert err.rstrip().endswith(
        f"; `kubetune trials {run_dir}` shows each trial's phase and reason."
    ), err


def test_sort_minus_field_reverses_written_with_a_space(tmp_path: Path) -> None:
    run_dir = str(write_directory(synthetic_tuning_job("s", 12), tmp_path / "s"))
    for field in ("objective", "learning_rate"):
        code, spaced, err = run("trials", run_dir, "--sort", f"-{field}", "--top", "3")
        assert code == cli_main.EXIT_OK, err
        assert spaced == run("trials", run_dir, f"--sort=-{field}", "--top", "3")[1]
        assert spaced != run("trials", run_dir, "--sort", field, "--top", "3")[1]


@pytest.fixture
def in_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory holds ./demo, a local run (as `kubetune run --local` leaves
    it by default), and no cluster is reachable: the cluster's answer is an error."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    return write_directory(synthetic_tuning_job("demo", 6), tmp_path / "demo")


def test_a_bare_name_reads_the_local_run_only_without_cluster_options_and_says_so(
    in_run_folder: Path,
) -> None:
    code, out, err = run("trials", "demo")
    assert code == cli_main.EXIT_OK and "demo-006" in out
    assert err.count("Reading the local run directory ./demo") == 1, err
    assert "give -n NAMESPACE, --context or --kubeconfig" in err
    for option in (["-n", "default"], ["--context", "c"], ["--kubeconfig", "none"]):
        code, out, err = run("trials", "demo", *option)
        assert (code, out) == (cli_main.EXIT_ERROR, ""), option  # the cluster's job
        assert "kubeconfig" in err and "local run" not in err, err
    # Written as a path, it is the local run whatever the options, and needs no note.
    for name in ("./demo", str(in_run_folder)):
        code, out, err = run("describe", name, "-n", "team-a")
        assert code == cli_main.EXIT_OK and "Namespace:" in out and err == "", err


def test_a_folder_named_like_the_job_without_a_run_does_not_hide_the_cluster_job(
    in_run_folder: Path,
) -> None:
    (in_run_folder.parent / "hb4").mkdir()  # e.g. a source folder
    code, _, err = run("trials", "hb4")
    assert code == cli_main.EXIT_ERROR and err.startswith("error: no kubeconfig at"), err


LOCAL_RUN_COMMANDS = [["describe"], ["trials"], ["best"], ["plot"], ["logs", "1"], ["watch"]]
"""The commands that read a local run directory instead of a TuningJob (not stop)."""


@pytest.mark.parametrize("command", LOCAL_RUN_COMMANDS, ids=lambda c: c[0])
def test_a_bare_name_neither_on_the_cluster_nor_a_run_directory_says_both(
    in_run_folder: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """`kubetune watch r1` before `kubetune run --local m.yaml --out r1` (or a typo): the
    error says that there is no local run directory r1 either, and how to wait for one."""
    name, *rest = command
    wait = "`kubetune watch ./r1` waits a moment for a run that starts there"
    then = wait if name == "watch" else "`kubetune run --local MANIFEST --out r1` writes one"
    # No cluster reachable (no kubeconfig), then one without the job.
    code, _, err = run(name, "r1", *rest)
    assert code == cli_main.EXIT_ERROR and err.startswith("error: no kubeconfig at"), err
    assert err.endswith(f" There is no local run directory ./r1 either ({then}).\n"), err
    from kubetune.cli import commands  # noqa: PLC0415

    monkeypatch.setattr(commands, "connect", lambda *_: DeletedAfter({}, found=0))
    code, _, err = run(name, "r1", *rest)
    assert err == (
        'error: TuningJob "r1" not found in namespace "default". There is no local run '
        f"directory ./r1 either ({then}).\n"
    )
    (in_run_folder.parent / "r1").mkdir()  # made, its tuningjob.yaml not yet written
    code, _, err = run(name, "r1", *rest)
    assert "./r1 is a directory, but no local run directory (no tuningjob.yaml in it)" in err
    # The cluster's job asked for (-n), or stop (which reads no run directory): as it was.
    for argv in ([name, "r1", *rest, "-n", "default"], ["stop", "r1"]):
        code, _, err = run(*argv)
        assert err == 'error: TuningJob "r1" not found in namespace "default"\n', argv


def test_a_manifest_given_instead_of_a_name_is_said_to_be_a_file(in_run_folder: Path) -> None:
    (in_run_folder.parent / "demo.yaml").write_text("kind: TuningJob\n")
    for command in ("trials", "logs", "stop"):
        argv = [command, "./demo.yaml", *(["1"] if command == "logs" else [])]
        code, _, err = run(*argv)
        assert code == cli_main.EXIT_ERROR and "./demo.yaml is a file" in err, err


def test_stop_on_a_local_run_says_it_works_on_the_cluster_only_and_how_a_local_run_stops(
    in_run_folder: Path,
) -> None:
    code, _, err = run("stop", "./demo")
    assert code == cli_main.EXIT_ERROR
    assert "works on TuningJobs on the cluster only" in err, err
    assert "a local run is stopped with Ctrl-C in the terminal running it" in err, err
    assert "`kubetune run --local` command resumes it." in err and "logs" not in err, err
    # A bare name: also how to reach the cluster's job instead.
    code, _, err = run("stop", "demo")
    assert code == cli_main.EXIT_ERROR and "give -n NAMESPACE, --context or --kubeconfig" in err, (
        err
    )


def test_a_pod_not_started_says_why() -> None:
    assert pod_not_started(Pod("p"), "trainer") is None
    assert pod_not_started(Pod("p", UNSCHEDULED), "trainer") == (
        "Pending (Unschedulable: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu.)"
    )
    waiting = waiting_status("CreateContainerConfigError", 'configmap "cm" not found')
    assert pod_not_started(Pod("p", waiting), "trainer") == (
        'Pending (CreateContainerConfigError: configmap "cm" not found)'
    )
    assert pod_not_started(Pod("p", waiting_status("ContainerCreating")), "trainer") == (
        "Pending (ContainerCreating)"
    )
    ended = V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=1))
    status = waiting_status("x")
    status.phase, status.container_statuses[0].state = "Failed", ended
    assert pod_not_started(Pod("p", status), "trainer") is None  # it ran: it has a log


def logs(kube: FakeKube, monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    from kubetune.cli import commands  # noqa: PLC0415

    monkeypatch.setattr(commands, "connect", lambda *_: kube)
    monkeypatch.setattr(commands, "LOG_WAIT_SECONDS", 0.0)
    return run("logs", *argv)


def test_logs_of_a_trial_not_started_say_what_it_waits_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no local run directory named w
    body = synthetic_tuning_job("w", 3, running=1)
    kube = FakeKube([body], {"w-003": [[Pod("w-003-1", UNSCHEDULED)]]})
    code, out, err = logs(kube, monkeypatch, "w", "3")
    assert (code, out) == (cli_main.EXIT_ERROR, "")
    assert err == (
        "error: trial w-003 is Pending (Unschedulable: 0/2 nodes are available: 2 Insufficient "
        "nvidia.com/gpu.): it has no log yet; `kubetune logs w 3 -f` waits for it to start.\n"
    )
    config = waiting_status("CreateContainerConfigError", 'configmap "cm" not found')
    kube = FakeKube([body], {"w-003": [[Pod("w-003-1", config)]]})
    code, _, err = logs(kube, monkeypatch, "w", "3")
    assert code == cli_main.EXIT_ERROR and "is Pending (CreateContainerConfigError: " in err
    # No pod yet, the trial Pending: said as the status says it.
    body["status"]["trials"][-1].update(phase="Pending", reason="PodNotCreated")
    code, _, err = logs(FakeKube([body]), monkeypatch, "w", "3")
    assert code == cli_main.EXIT_ERROR
    assert err.startswith("error: trial w-003 is Pending (PodNotCreated): it has no log yet"), err


def test_logs_follow_waits_for_the_container_to_start_then_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    body = synthetic_tuning_job("w", 3, running=1)
    body["status"]["trials"][-1].update(phase="Pending", reason="PodNotCreated")
    reads = [
        [],
        [Pod("w-003-1", UNSCHEDULED)],
        [Pod("w-003-1", UNSCHEDULED)],
        [Pod("w-003-1", waiting_status("ContainerCreating"))],
        [Pod("w-003-1")],
    ]
    kube = FakeKube([body], {"w-003": reads}, {"w-003-1": "loss=0.5\n"})
    code, out, err = logs(kube, monkeypatch, "w", "3", "-f")
    assert (code, out) == (cli_main.EXIT_OK, "loss=0.5\n")
    assert err.splitlines() == [  # each change of what it waits for, once
        f"trial w-003 is {what}: waiting for its container to start (Ctrl-C to stop)"
        for what in (
            "Pending (PodNotCreated)",
            "Pending (Unschedulable: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu.)",
            "Pending (ContainerCreating)",
        )
    ]
    # A pod that ended without starting its container is not waited for.
    failed = V1PodStatus(phase="Failed", reason="Evicted", message="node shut down")
    kube = FakeKube([body], {"w-003": [[Pod("w-003-1", failed)]]})
    code, _, err = logs(kube, monkeypatch, "w", "3", "-f")
    assert code == cli_main.EXIT_ERROR
    assert err == "error: trial w-003 is Failed (Evicted: node shut down): it has no log yet.\n"


def test_logs_follow_ends_130_on_ctrl_c_while_it_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubetune.cli import commands  # noqa: PLC0415

    monkeypatch.chdir(tmp_path)
    kube = FakeKube(
        [synthetic_tuning_job("w", 3, running=1)], {"w-003": [[Pod("w-003-1", UNSCHEDULED)]]}
    )

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands.time, "sleep", interrupt)
    monkeypatch.setattr(commands, "connect", lambda *_: kube)
    code, _, err = run("logs", "w", "3", "-f")
    assert code == cli_main.EXIT_INTERRUPTED and "waiting for its container to start" in err


def test_an_unknown_context_names_the_kubeconfig_and_its_contexts(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u}},"
        " {name: b, context: {cluster: c, user: u}}]\n"
    )
    with pytest.raises(UnreachableError) as raised:
        connect(str(kubeconfig), context="nosuch")
    assert str(raised.value) == f'no context "nosuch" in {kubeconfig}; its contexts: a, b'
    code, _, err = run("--kubeconfig", str(kubeconfig), "--context", "nosuch", "list")
    assert code == cli_main.EXIT_ERROR and "contexts list" not in err, err


def _retried_bodies() -> list[dict[str, Any]]:
    """The reads of a job whose trial w-030's pod is deleted (retry.maxAttempts 2): it
    runs, waits for its second attempt, runs it, and ends."""
    running = synthetic_tuning_job("w", 30, running=2)
    running["spec"]["retry"] = {"maxAttempts": 2}
    waiting = copy.deepcopy(running)
    waiting["status"]["trials"][-1].update(
        phase="Pending",
        attempt=2,
        reason="PodDeleted",
        message="retrying after: pod w-030-xk2p9 was deleted",
    )
    waiting["status"]["counters"]["retried"] = 1
    again = copy.deepcopy(waiting)
    again["status"]["trials"][-1].update(phase="Running")  # the message stays
    ended = synthetic_tuning_job("w", 30)
    ended["spec"]["retry"] = {"maxAttempts": 2}
    ended["status"]["trials"][-1]["attempt"] = 2
    return [running, waiting, again, ended]


def test_piped_watch_says_when_a_trial_is_retried() -> None:
    args = cli_main.build_parser().parse_args(["watch", "w", "--interval", "0.01"])
    ctx = cli_main.Context(args, io.StringIO(), io.StringIO())
    assert watch(ctx, cast(KubeClient, FakeKube(_retried_bodies())), "default", False) == 0
    lines = ctx.out.getvalue().splitlines()  # type: ignore[attr-defined]
    retried = [line for line in lines if "retried" in line]
    assert retried == ["w-030  retried (PodDeleted), attempt 2 of 2"], lines  # said once
    ended = next(line for line in lines if line.startswith("w-030  ") and line != retried[0])
    assert lines.index(retried[0]) < lines.index(ended)
    assert ended.endswith("  30/30 ended  (2 attempts)"), lines  # its ended line too


def test_piped_watch_started_during_a_retry_says_so_but_not_for_ended_trials() -> None:
    bodies = _retried_bodies()[1:]
    args = cli_main.build_parser().parse_args(["watch", "w", "--interval", "0.01"])
    ctx = cli_main.Context(args, io.StringIO(), io.StringIO())
    assert watch(ctx, cast(KubeClient, FakeKube(bodies)), "default", False) == 0
    lines = ctx.out.getvalue().splitlines()  # type: ignore[attr-defined]
    # w-005 and w-022 ended Failed at attempt 2 before the watch: their ended lines say it.
    assert [line for line in lines if "retried" in line] == [
        "w-030  retried (PodDeleted), attempt 2 of 2"
    ], lines
    assert next(line for line in lines if line.startswith("w-005  ")).endswith("(2 attempts)")


def test_watch_screen_lists_the_latest_retries() -> None:
    args = cli_main.build_parser().parse_args(["watch", "w", "--interval", "0.01"])
    ctx = cli_main.Context(args, io.StringIO(), io.StringIO())
    assert watch(ctx, cast(KubeClient, FakeKube(_retried_bodies())), "default", True) == 0
    screens = ctx.out.getvalue().split("\x1b[")  # type: ignore[attr-defined]
    assert "retried:" not in screens[0]
    assert "\nretried:\n  w-030  retried (PodDeleted), attempt 2 of 2\n" in screens[-1]
    assert "30 launched, 1 retried\n" in screens[2]  # the status's counter
    view = parse_tuning_job(synthetic_tuning_job("w", 30, running=2))
    many = [f"w-0{i:02d}  retried, attempt 2" for i in range(1, 8)]
    assert render(view, {}, NOW, many)[-6:] == [
        "retried: (2 earlier not shown)",
        *(f"  {line}" for line in many[2:]),
    ]


def test_a_changed_manifest_of_an_ended_local_run_gives_describes_advice_when_exhausted(
    tmp_path: Path,
) -> None:
    """An ended run stays ended; one that tried its whole space gets describe's advice (a
    warm-started child with the same space would end at once), not a bare 'run a new
    TuningJob warm-started from this one'."""
    body = synthetic_tuning_job("fin", 6)  # fin-005 failed
    body["status"].update(
        reason="SearchSpaceExhausted",
        message="the Bayesian strategy has no untried hyperparameters left after 6 trials",
    )
    directory = write_directory(body, tmp_path / "fin")
    body["spec"]["limits"]["maxTrials"] = 20
    spec, problems = parse_and_validate_spec(body["spec"])
    assert spec is not None, problems
    err = io.StringIO()
    prepare_directory(copy.deepcopy(body), spec, directory, err)
    advice = views.exhausted_advice(parse_tuning_job(read_directory(directory)))
    assert advice.startswith("every configuration of its space was tried, so raising")
    assert advice.endswith("would run again only the 1 configuration whose trials failed.")
    assert err.getvalue() == (
        f"{directory} has ended (Completed) and stays ended, as a TuningJob does: the changed "
        f"spec.limits.maxTrials has no effect; {advice} Pass --parent {directory} to the new "
        "run.\n"
    )

"""The argument parser, exit codes and `watch`'s screen, without a cluster."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime

import pytest
import re2
from kubetune.analytics.cluster import connect
from kubetune.analytics.resource import TuningJobView, parse_tuning_job
from kubetune.cli import main as cli_main
from kubetune.cli import output
from kubetune.cli.watch import ended_line, final_line, last_match, progress_bar, render
from support.cli_data import NOW, hyperband_tuning_job
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
    assert after.kubeconfig is None and after.all_namespaces is False
    assert parser.parse_args(["list", "-A"]).all_namespaces is True


@pytest.mark.parametrize(
    "argv",
    [[], ["trials"], ["trials", "x", "-o", "xml"], ["trials", "x", "--top", "0"], ["fly"]],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    assert run(*argv)[0] == cli_main.EXIT_USAGE


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


def test_progress_bar() -> None:
    assert progress_bar(9, 30) == "[#########.....................]  9/30"
    assert progress_bar(0, 0).startswith("[....")


def test_watch_screen_shows_progress_best_and_running_trials() -> None:
    view: TuningJobView = parse_tuning_job(synthetic_tuning_job("w", 30, running=2))
    lines = render(view, {"w-029": 0.91}, NOW)
    assert lines[0] == "TuningJob default/w: InProgress"
    assert "28/30 ended" in lines[1]
    best = view.status.best_trial
    assert best is not None and lines[2].startswith(
        f"best: validation:accuracy={best.objective:.6g} ({best.name}:"
    )
    assert lines[3] == "running:"
    assert "w-029" in lines[4] and "validation:accuracy=0.91 (step 3)" in lines[4]
    assert "w-030" in lines[5] and "no value yet" in lines[5]


def test_quiet_lines() -> None:
    view = parse_tuning_job(synthetic_tuning_job("q", 6))
    failed = next(t for t in view.trials if t.phase == "Failed")
    assert ended_line(view, failed).startswith("q-005  Failed  Error training diverged")
    assert final_line(view).startswith("TuningJob q: Completed (MaxTrialsReached); best trial q-")


def test_watch_shows_a_hyperband_jobs_epochs() -> None:
    body = hyperband_tuning_job(12)
    view = parse_tuning_job(body)
    assert render(view, {}, NOW)[1].endswith(f"{body['status']['epochsConsumed']} epochs")
    stopped = next(t for t in view.trials if t.phase == "EarlyStopped" and t.epochs == 3)
    assert f"={output.number(stopped.objective)} after 3 epochs  best=" in (
        ended_line(view, stopped)
    )
    first_rung = next(t for t in view.trials if t.phase == "EarlyStopped" and t.epochs == 1)
    assert " after 1 epoch  best=" in ended_line(view, first_rung)


def test_latest_value_is_the_last_number_the_regex_matched() -> None:
    pattern = re2.compile("(?m)" + r"^loss=(\S+)$")
    assert last_match(pattern, "loss=0.5\nepoch 2\nloss=0.25\nloss=oops\n") == 0.25
    assert last_match(pattern, "nothing yet\n") is None


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

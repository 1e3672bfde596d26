"""The commands a message suggests carry the -n, --context and --kubeconfig the user gave:
copied, they read the same TuningJob, not one in the context's namespace (QA76 M4)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from kubetune.analytics.resource import parse_tuning_job
from kubetune.cli import commands, views
from kubetune.cli import main as cli_main
from support.cli_data import NOW
from synthetic_tuning_job import synthetic_tuning_job


class Kube:
    """The API server as stop and logs see it: one TuningJob, no pods."""

    namespace = "default"

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.patched: list[tuple[str, str]] = []

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any]:
        return self.body

    def patch_spec(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.patched.append((namespace, name))

    def trial_pods(self, namespace: str, trial: str) -> list[Any]:
        return []

    def heartbeat_leases(self) -> None:
        return None  # as for a user who may not list Leases: nothing said of the operator


def run(monkeypatch: pytest.MonkeyPatch, kube: Kube, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(commands, "connect", lambda *_: kube)
    out, err = io.StringIO(), io.StringIO()
    return cli_main.run(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _no_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_stop_suggests_watch_in_the_namespace_given(monkeypatch: pytest.MonkeyPatch) -> None:
    body = synthetic_tuning_job("hb", 5, running=2)
    body["metadata"]["namespace"] = "kubetune-demo"
    kube = Kube(body)
    code, out, _ = run(monkeypatch, kube, "-n", "kubetune-demo", "stop", "hb")
    assert code == 0 and kube.patched == [("kubetune-demo", "hb")]
    assert "`kubetune -n kubetune-demo watch hb` shows it end." in out, out
    code, out, _ = run(
        monkeypatch, kube, "stop", "hb", "--context", "kind a", "-n", "kubetune-demo"
    )
    assert "`kubetune -n kubetune-demo --context 'kind a' watch hb` shows it end." in out, out
    code, out, _ = run(monkeypatch, kube, "stop", "hb")  # the context's namespace: as typed
    assert "`kubetune watch hb` shows it end." in out, out


def test_logs_errors_suggest_commands_in_the_namespace_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = synthetic_tuning_job("hb", 5, running=1)
    trials = body["status"]["trials"]
    trials[0].update(phase="EarlyStopped", reason="EarlyStopped")
    kube = Kube(body)
    code, _, err = run(monkeypatch, kube, "-n", "kubetune-demo", "logs", "hb", "1")
    assert code == 1 and "`kubetune -n kubetune-demo trials hb` shows what was recorded" in err
    code, _, err = run(monkeypatch, kube, "-n", "kubetune-demo", "logs", "hb", "9")
    assert code == 1 and "(`kubetune -n kubetune-demo trials hb` lists them;" in err, err
    trials[-1].update(phase="Pending", reason="PodNotCreated")
    code, _, err = run(monkeypatch, kube, "-n", "kubetune-demo", "logs", "hb", "5")
    assert code == 1 and "`kubetune -n kubetune-demo logs hb 5 -f` waits for it" in err, err


def test_describe_suggests_commands_in_the_namespace_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = synthetic_tuning_job("hb", 12, running=2)
    for i, trial in enumerate(body["status"]["trials"]):
        if trial["phase"] == "Succeeded":
            trial["message"] = f"metric train:loss never matched ({i})"
    suggest = lambda command: f"kubetune -n demo {command} hb"  # noqa: E731
    text = views.describe_text(parse_tuning_job(body), [], NOW, suggest=suggest)
    assert "more messages: `kubetune -n demo trials hb` shows each trial's" in text


def test_not_found_suggests_listing_the_namespace_looked_in() -> None:
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415
    from kubetune.analytics import cluster  # noqa: PLC0415

    error = ApiException(status=404, reason="Not Found")
    error.body = '{"kind": "Status", "message": "not found"}'
    target = cluster.Target("get", "tuningjobs.kubetune.io", "kubetune-demo", "hb")
    text = str(cluster._translate(error, target, "https://x"))
    assert '"hb" not found in namespace "kubetune-demo"; `kubetune -n kubetune-demo list`' in text
    # QA84 L8: with the --context and --kubeconfig given, so that it asks the same cluster.
    flags = cluster.cluster_flags("kind a", "/k/c")
    text = str(cluster._translate(error, target, "https://x", flags=flags))
    listed = "`kubetune -n kubetune-demo --context 'kind a' --kubeconfig /k/c list`"
    assert listed in text
    anywhere = cluster.Target("get", "tuningjobs.kubetune.io", None, "hb")
    text = str(cluster._translate(error, anywhere, "https://x", flags=flags[2:]))
    assert "`kubetune --kubeconfig /k/c list -A`" in text

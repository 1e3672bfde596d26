"""hack/with-cluster.sh (`make demo`, `make reproduce`, `make bench-*`) stops only a cluster
it started itself, and not with KEEP_CLUSTER set; hack/demo.py shows its commands as they
can be copied and says how to look further. `.venv/bin/python -m cluster` here is a script
that logs its calls and answers `up` and `release` as hack/cluster does for a cluster that
runs or not (the real cluster: tests/integration; two scripts at once, on hack/cluster's
own decisions: tests/unit/hack/test_sessions.py)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import demo
import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "hack" / "with-cluster.sh"


def run(
    tmp_path: Path, running: bool, keep: str = "", up_rc: int = 0
) -> tuple[int, str, list[str]]:
    """Runs with-cluster.sh in tmp_path on a command that exits 3; returns its exit code,
    its output and the cluster calls made."""
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    up = (
        "cluster already running; kubeconfig: .cluster/kubeconfig"
        if running
        else "cluster up\nthis cluster stops when the last command using it ends"
    )
    release = "the cluster was running before: left running" if running else "cluster down"
    python.write_text(
        "#!/bin/sh\n"
        f'echo "$3" >> "{tmp_path}/calls"\n'
        'case "$3" in\n'
        f"  up) [ {up_rc} = 0 ] || exit {up_rc}; [ \"$4\" != --session ] || echo '{up}';;\n"
        f"  release) echo '{release}';;\n"
        "esac\n"
    )
    python.chmod(0o755)
    env = {**os.environ, "KEEP_CLUSTER": keep}
    command = ["sh", "-c", 'echo "stops=$KUBETUNE_CLUSTER_STOPS"; exit 3']
    done = subprocess.run(
        [str(SCRIPT), *command], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    calls = (tmp_path / "calls").read_text().split()
    return done.returncode, done.stdout, calls


def test_a_cluster_it_started_is_stopped_after_the_command(tmp_path: Path) -> None:
    rc, out, calls = run(tmp_path, running=False)
    assert (rc, calls) == (3, ["up", "release"])
    assert "stops=1" in out and out.endswith("cluster down\n")


def test_a_cluster_running_before_is_left_running(tmp_path: Path) -> None:
    rc, out, calls = run(tmp_path, running=True)
    assert (rc, calls) == (3, ["up", "release"])
    assert "stops=0" in out
    assert "was running before: left running" in out


def test_keep_cluster_leaves_the_cluster_it_started(tmp_path: Path) -> None:
    rc, out, calls = run(tmp_path, running=False, keep="1")
    assert (rc, calls) == (3, ["up"])
    assert "stops=0" in out
    assert "KEEP_CLUSTER is set" in out


def test_a_failed_start_runs_nothing(tmp_path: Path) -> None:
    rc, out, calls = run(tmp_path, running=False, up_rc=5)
    assert (rc, calls, out) == (5, ["up"], "")


def test_the_demo_shows_its_commands_as_they_can_be_copied(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = demo.kubetune(tmp_path / ".cluster" / "kubeconfig", "kubetune-demo", "best", "d")
    demo.echo(argv)
    shown = capsys.readouterr().out.strip()
    assert shown.startswith("$ ")
    assert shlex.split(shown[2:]) == [
        "kubetune", "--kubeconfig", ".cluster/kubeconfig", "-n", "kubetune-demo", "best", "d"
    ]  # fmt: skip


@pytest.mark.parametrize("stops", [True, False])
def test_the_demo_says_how_to_look_further(
    stops: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    text = demo.look_further(tmp_path / ".cluster" / "kubeconfig", "kubetune-demo", "d", stops)
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    assert ". .venv/bin/activate" in lines
    assert 'export KUBECONFIG="$PWD"/.cluster/kubeconfig' in lines
    assert "kubetune -n kubetune-demo describe d" in lines
    assert "make cluster-down" in lines
    assert ("KEEP_CLUSTER=1 make demo" in text) is stops

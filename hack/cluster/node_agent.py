"""The node agent: fake GPU nodes whose pods run as local processes.

One process for all nodes. It registers the nodes, keeps them Ready (status and Lease
every HEARTBEAT_S), serves the kubelet log API for each, and watches pods: a pod bound to
one of its nodes gets a PodWorker (hack/cluster/pod_worker.py) that runs it.

    PYTHONPATH=hack .venv/bin/python -m cluster.node_agent --kubeconfig .cluster/kubeconfig \\
        --state-dir .cluster [--nodes 2] [--gpus-per-node 4]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from types import FrameType

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from . import certs, rest
from .container_logs import ContainerLog
from .images import load_images
from .kubelet_api import KubeletServer, LogNotFoundError
from .launch import LOCAL_IP, Pod
from .pod_worker import AgentContext, PodWorker

log = logging.getLogger("node-agent")

REPO = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 10.0
LEASE_DURATION_S = 40
WATCH_TIMEOUT_S = 300
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
TERMINAL_PHASES = ("Succeeded", "Failed")


class Shutdown(BaseException):
    """SIGTERM or SIGINT: stop every pod process and exit."""


def micro_time() -> str:
    """metav1.MicroTime: RFC 3339 with exactly six fractional digits."""
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{time.time_ns() // 1000 % 10**6:06d}Z"
    )


def now_seconds() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def container_base_path(state_dir: Path) -> str:
    """The PATH every container starts from: the node agent's, after a directory whose
    ``python3`` and ``python`` are the interpreter running the node agent itself, not a
    version manager's shim. pyenv's shim is a bash script costing about 0.25 s of CPU per
    start, ten times Python's own start: at 200 trials a minute it took a third of this
    2-core machine from the cluster under test."""
    interpreter = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    bin_dir = state_dir / "python-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("python3", "python"):
        link = bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(interpreter)
    inherited = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return os.pathsep.join([str(bin_dir), inherited])


class NodeAgent:
    """Registers ``nodes`` fake nodes and runs the pods bound to them."""

    def __init__(
        self,
        api: client.ApiClient,
        state_dir: Path,
        node_names: list[str],
        capacity: dict[str, str],
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.node_names = node_names
        self.capacity = capacity
        self.state_dir = state_dir
        self.pki = certs.load(state_dir / "pki")
        self.workers: dict[str, PodWorker] = {}  # pod uid → worker
        self.finalized: set[str] = set()  # uids of pods we deleted with grace 0
        # (namespace, pod, container) → {restart count: log} of the current pods.
        self.logs: dict[tuple[str, str, str], dict[int, ContainerLog]] = {}
        self.logs_lock = threading.Lock()
        self.servers = {name: KubeletServer(self.pki, self.find_log) for name in node_names}
        self.kubelet_version = "v0.0.0"
        server = api.configuration.host
        self.context = AgentContext(
            core=self.core,
            images=load_images(REPO / "hack" / "images.yaml", REPO),
            pods_dir=state_dir / "pods",
            server=server,
            ca_file=self.pki.ca.cert,
            host_path=container_base_path(state_dir),
            register_log=self.register_log,
        )

    # ----- logs -----

    def register_log(
        self, namespace: str, pod: str, container: str, restart: int, container_log: ContainerLog
    ) -> None:
        with self.logs_lock:
            runs = self.logs.setdefault((namespace, pod, container), {})
            if restart == 0:
                runs.clear()  # a new pod of the same name
            runs[restart] = container_log

    def find_log(
        self, namespace: str, pod: str, container: str, previous: bool
    ) -> tuple[Path, ContainerLog | None]:
        """The log file of a container's current (or previous) run, and its live handle."""
        with self.logs_lock:
            runs = dict(self.logs.get((namespace, pod, container), {}))
        if not runs:  # not run by this agent process: whatever is on disk, finished
            directory = self.context.pods_dir / namespace / pod / container
            runs_on_disk = sorted(int(p.stem) for p in directory.glob("*.log") if p.stem.isdigit())
            paths = {n: directory / f"{n}.log" for n in runs_on_disk}
        else:
            paths = {n: log_.path for n, log_ in runs.items()}
        order = sorted(paths)
        if previous:
            if len(order) < 2:
                raise LogNotFoundError(
                    400, f'previous terminated container "{container}" in pod "{pod}" not found'
                )
            chosen = order[-2]
        elif order:
            chosen = order[-1]
        else:
            raise LogNotFoundError(
                400,
                f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating',
            )
        live = runs.get(chosen)
        return paths[chosen], live if live is not None and not live.finished else None

    # ----- nodes -----

    def register_nodes(self) -> None:
        """Creates (or adopts) every node, posts Ready, lifts the not-ready taint, starts
        each node's kubelet API and Lease."""
        version = client.VersionApi(self.core.api_client).get_code()
        self.kubelet_version = version.git_version or self.kubelet_version
        for name, server in self.servers.items():
            server.start()
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "node.kubernetes.io/instance-type": "kubetune-local",
                        "nvidia.com/gpu.present": "true",
                        "nvidia.com/gpu.count": self.capacity["nvidia.com/gpu"],
                    },
                },
            }
            try:
                self.core.create_node(rest.body(node))
                log.info("node %s registered (kubelet API on port %d)", name, server.port)
            except ApiException as e:
                if e.status != 409:
                    raise
                self.core.patch_node(name, {"metadata": node["metadata"]})
                log.info("node %s adopted (kubelet API on port %d)", name, server.port)
            self.post_node_status(name)
            self.lift_not_ready_taint(name)
            self.renew_lease(name)

    def post_node_status(self, name: str) -> None:
        """Capacity, Ready=True, the address and kubelet port, through the status subresource."""
        now = now_seconds()
        conditions = [
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for kind, status, reason, message in (
                ("MemoryPressure", "False", "KubeletHasSufficientMemory", "enough memory"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
                ("PIDPressure", "False", "KubeletHasSufficientPID", "enough PIDs"),
                ("Ready", "True", "KubeletReady", "kubetune node agent is posting ready status"),
            )
        ]
        status = {
            "capacity": self.capacity,
            "allocatable": self.capacity,
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": LOCAL_IP},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.servers[name].port}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
                "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}-{os.getpid()}")),
                "kernelVersion": os.uname().release,
                "osImage": "kubetune local node agent",
                "containerRuntimeVersion": "local://0.1",
                "kubeletVersion": self.kubelet_version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        self.core.patch_node_status(name, {"status": status})

    def lift_not_ready_taint(self, name: str) -> None:
        """Removes the taint added at registration: the node lifecycle controller would,
        seconds later; doing it now lets pods schedule as soon as the cluster is up."""
        node = rest.json_of(self.core.read_node(name, _preload_content=False))
        taints = node["spec"].get("taints") or []
        kept = [t for t in taints if t["key"] != NOT_READY_TAINT]
        if len(kept) != len(taints):
            self.core.patch_node(name, {"spec": {"taints": kept or None}})

    def renew_lease(self, name: str) -> None:
        """Creates or renews the node's Lease in kube-node-lease (the node heartbeat)."""
        spec = {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_S,
            "renewTime": micro_time(),
        }
        try:
            self.coordination.patch_namespaced_lease(name, "kube-node-lease", {"spec": spec})
        except ApiException as e:
            if e.status != 404:
                raise
            node = rest.json_of(self.core.read_node(name, _preload_content=False))
            self.coordination.create_namespaced_lease(
                "kube-node-lease",
                rest.body(
                    {
                        "metadata": {
                            "name": name,
                            "ownerReferences": [
                                {
                                    "apiVersion": "v1",
                                    "kind": "Node",
                                    "name": name,
                                    "uid": node["metadata"]["uid"],
                                }
                            ],
                        },
                        "spec": spec,
                    }
                ),
            )

    def heartbeat_forever(self) -> None:
        """Every HEARTBEAT_S: renew each Lease and re-post Ready (re-creating a deleted node)."""
        while True:
            time.sleep(HEARTBEAT_S)  # the heartbeat period itself, not synchronisation
            for name in self.node_names:
                try:
                    self.renew_lease(name)
                    self.post_node_status(name)
                except ApiException as e:
                    if e.status == 404:
                        log.warning("node %s is gone: registering it again", name)
                        try:
                            self.register_nodes()
                        except Exception:
                            log.exception("re-registering nodes failed")
                    else:
                        log.warning("heartbeat of %s failed: %s %s", name, e.status, e.reason)
                except Exception:
                    log.exception("heartbeat of %s failed", name)

    # ----- pods -----

    def handle(self, event_type: str, pod: Pod) -> None:
        """One pod event: start a worker for a new pod, pass on deletions."""
        if pod.get("spec", {}).get("nodeName") not in self.node_names:
            return
        meta = pod["metadata"]
        uid = meta["uid"]
        worker = self.workers.get(uid)
        if event_type == "DELETED":
            if worker is not None:
                worker.request_delete(0, gone=True)
                del self.workers[uid]
            self.finalized.discard(uid)
            with self.logs_lock:  # its logs stay on disk, no longer served
                for key in [k for k in self.logs if k[:2] == (meta["namespace"], meta["name"])]:
                    del self.logs[key]
            return
        if meta.get("deletionTimestamp"):
            grace = float(meta.get("deletionGracePeriodSeconds") or 0)
            if worker is not None and worker.request_delete(grace):
                return
            if uid not in self.finalized:
                self.finalized.add(uid)
                self.delete_now(pod)
            return
        phase = pod.get("status", {}).get("phase")
        if worker is None and phase not in TERMINAL_PHASES:
            worker = PodWorker(self.context, pod)
            self.workers[uid] = worker
            log.info(
                "%s/%s: bound to %s; starting",
                meta["namespace"],
                meta["name"],
                pod["spec"]["nodeName"],
            )
            worker.start()

    def delete_now(self, pod: Pod) -> None:
        """Deletes a pod that has no running process with grace 0 (the kubelet's last step)."""
        meta = pod["metadata"]
        try:
            self.core.delete_namespaced_pod(
                meta["name"],
                meta["namespace"],
                # In the body: with a body, the API server ignores the query parameter.
                body=rest.body({"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}),
            )
        except ApiException as e:
            if e.status not in (404, 409):
                log.warning("deleting %s/%s failed: %s", meta["namespace"], meta["name"], e.reason)

    def resync(self) -> str:
        """Lists every pod: handles each, stops workers of pods that vanished. Returns the
        list's resourceVersion, to watch from."""
        listing = rest.json_of(self.core.list_pod_for_all_namespaces(_preload_content=False))
        present = set()
        for pod in listing["items"]:
            present.add(pod["metadata"]["uid"])
            self.handle("SYNC", pod)
        for uid in [u for u in self.workers if u not in present]:
            self.workers.pop(uid).request_delete(0, gone=True)
        version: str = listing["metadata"]["resourceVersion"]
        return version

    def watch_forever(self) -> None:
        """List, then watch from the list's version; on expiry (410) or a broken connection,
        list again. One bad pod is logged and skipped, never fatal."""
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = self.resync()
                response = self.core.list_pod_for_all_namespaces(
                    watch=True,
                    resource_version=version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=WATCH_TIMEOUT_S,
                    _preload_content=False,
                    _request_timeout=(10, WATCH_TIMEOUT_S + 30),
                )
                for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                    event = json.loads(line)
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        log.info("watch ended: %s", obj.get("message"))
                        version = None  # usually 410 Gone: too old a resourceVersion
                        break
                    version = obj["metadata"]["resourceVersion"]
                    if kind == "BOOKMARK":
                        continue
                    try:
                        self.handle(kind, obj)
                    except Exception:
                        log.exception(
                            "handling %s of pod %s failed", kind, obj["metadata"].get("name")
                        )
            except Shutdown:
                raise
            except ApiException as e:
                log.warning("pod watch: %s %s; listing again", e.status, e.reason)
                version = None
                time.sleep(1)  # back-off before reconnecting to a failing API server
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
                log.warning("pod watch broke (%s); reconnecting", e)
                time.sleep(1)  # back-off before reconnecting to a failing API server

    def shutdown(self) -> None:
        """Stops every pod's processes (as a node going down), waits for the workers."""
        workers = list(self.workers.values())
        for worker in workers:
            worker.request_delete(2, gone=True)
        deadline = time.monotonic() + 10
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        log.info("stopped %d pods", len(workers))


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="node_agent", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--gpus-per-node", type=int, default=4)
    parser.add_argument("--cpus-per-node", type=int, default=16)
    parser.add_argument("--memory-per-node", default="64Gi")
    parser.add_argument("--node-prefix", default="kubetune-node-")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error(f"--nodes={args.nodes}: need at least 1 node")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s",
        stream=sys.stdout,
    )
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(args.kubeconfig), client_configuration=configuration
    )
    # One connection per concurrent pod worker, not urllib3's default of 4.
    configuration.connection_pool_maxsize = 64
    api = client.ApiClient(configuration)
    capacity = {
        "cpu": str(args.cpus_per_node),
        "memory": args.memory_per_node,
        "pods": "110",
        "ephemeral-storage": "100Gi",
        "nvidia.com/gpu": str(args.gpus_per_node),
    }
    names = [f"{args.node_prefix}{i}" for i in range(args.nodes)]
    agent = NodeAgent(api, args.state_dir.resolve(), names, capacity)
    signal.signal(signal.SIGTERM, _raise_shutdown)
    signal.signal(signal.SIGINT, _raise_shutdown)
    try:
        agent.register_nodes()
        threading.Thread(target=agent.heartbeat_forever, name="heartbeat", daemon=True).start()
        agent.watch_forever()
    except Shutdown as e:
        log.info("%s: shutting down", e)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        agent.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

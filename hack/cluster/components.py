"""Command lines of the control plane's processes: pure functions of paths and ports.

Flags that matter, and why, are commented here; everything listens on 127.0.0.1 only,
except the API server, which pods in their own network namespace (a real node's) must
reach through the `kubernetes` Service (see :func:`host_address`).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from . import certs

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
LOOPBACK = "127.0.0.1"
# Any address off this machine: a UDP "connect" to it sends nothing, it only asks the
# kernel which source address its route would use (TEST-NET-3, RFC 5737).
_OFF_HOST = ("203.0.113.1", 9)


def host_address() -> str:
    """This machine's primary IPv4 address (the source of its default route), or
    127.0.0.1 when it has none. The API server advertises it: the `kubernetes` Service's
    endpoint must be an address a pod's own network namespace can reach, and a loopback
    address is neither reachable from there nor accepted as an endpoint."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_OFF_HOST)
        except OSError:
            return LOOPBACK  # no route off this machine
        address: str = probe.getsockname()[0]
    return LOOPBACK if address.startswith("127.") else address


@dataclass(frozen=True)
class Layout:
    """Where one cluster's files are, and its ports."""

    directory: Path
    pki: certs.ClusterPki
    etcd_port: int
    etcd_peer_port: int
    api_port: int
    # What the API server advertises (the `kubernetes` Service's endpoint): host_address().
    advertise_address: str = LOOPBACK

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    def kubeconfig(self, component: str) -> Path:
        return self.directory / f"{component}.kubeconfig"


def etcd(binary: Path, layout: Layout) -> list[str]:
    peer = f"http://127.0.0.1:{layout.etcd_peer_port}"
    client = f"http://127.0.0.1:{layout.etcd_port}"
    return [
        str(binary),
        "--name=kubetune",
        f"--data-dir={layout.directory / 'etcd-data'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=kubetune={peer}",
        "--listen-metrics-urls=",
        # A throwaway test store: durability buys nothing here, fsync costs seconds.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def _advertising(layout: Layout) -> list[str]:
    """How the API server is found. On a routable address it listens on every address
    (clients on this machine still use 127.0.0.1; every request needs a certificate or a
    token) and keeps the `kubernetes` Service's endpoint at that address, which
    kube-proxy on a real node turns into iptables rules for the Service's ClusterIP.
    Without one, nothing can route to it: no endpoint at all (the process node agent's
    pods get KUBERNETES_SERVICE_HOST=127.0.0.1 instead)."""
    if layout.advertise_address == LOOPBACK:
        return [
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            "--endpoint-reconciler-type=none",
        ]
    return [
        "--bind-address=0.0.0.0",
        f"--advertise-address={layout.advertise_address}",
        "--endpoint-reconciler-type=lease",
    ]


def kube_apiserver(kube_bin: Path, layout: Layout) -> list[str]:
    pki = layout.pki
    return [
        str(kube_bin / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{layout.etcd_port}",
        *_advertising(layout),
        f"--secure-port={layout.api_port}",
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
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]


def kube_controller_manager(kube_bin: Path, layout: Layout) -> list[str]:
    kubeconfig = layout.kubeconfig("controller-manager")
    return [
        str(kube_bin / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",  # no health endpoint needed; one port fewer to pick
        "--leader-elect=false",
        # Each controller acts as its own ServiceAccount (as kubeadm sets it up), so the
        # bootstrap RBAC roles apply; the token controller signs with the SA key.
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={layout.pki.service_account_key}",
        f"--root-ca-file={layout.pki.ca.cert}",
        f"--service-cluster-ip-range={certs.SERVICE_CLUSTER_IP_RANGE}",
        # Many TuningJobs finishing trials at once: do not let Job syncs queue up.
        "--concurrent-job-syncs=10",
        "--v=1",
    ]


def kube_scheduler(kube_bin: Path, layout: Layout) -> list[str]:
    kubeconfig = layout.kubeconfig("scheduler")
    return [
        str(kube_bin / "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--leader-elect=false",
        "--v=1",
    ]

"""Command lines of the control plane's processes: pure functions of paths and ports.

Flags that matter, and why, are commented here; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import certs

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class Layout:
    """Where one cluster's files are, and its ports."""

    directory: Path
    pki: certs.ClusterPki
    etcd_port: int
    etcd_peer_port: int
    api_port: int

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


def kube_apiserver(kube_bin: Path, layout: Layout) -> list[str]:
    pki = layout.pki
    return [
        str(kube_bin / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{layout.etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
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
        # The `kubernetes` Service's endpoints cannot be a loopback address; nothing here
        # routes through Services (pods get KUBERNETES_SERVICE_HOST=127.0.0.1 instead).
        "--endpoint-reconciler-type=none",
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

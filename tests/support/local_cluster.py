"""The running local cluster as tests see it (the ``cluster`` fixture's value).

def test_x(cluster: Cluster) -> None:
    out = cluster.run_kubectl("get", "nodes", "-o", "name").stdout
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

KUBECTL_TIMEOUT_S = 60


@dataclass(frozen=True)
class Cluster:
    """A running local cluster: its admin kubeconfig, state directory and kubectl binary;
    ``started_here`` when this test session started it (and will stop it)."""

    kubeconfig: Path
    state_dir: Path
    kubectl: Path
    started_here: bool

    def run_kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Runs kubectl as the admin; with ``check``, a non-zero exit fails the test with
        kubectl's stderr."""
        done = subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_S,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr}"
            )
        return done

    def apply_tuningjob_crd(self) -> None:
        """The committed TuningJob CRD, applied and Established (idempotent: tests of
        several modules share it)."""
        crd = Path(__file__).resolve().parents[2] / "crds" / "kubetune.io_tuningjobs.yaml"
        self.run_kubectl(
            "apply", "--server-side", "--force-conflicts", "--field-manager=kubetune-tests",
            "-f", str(crd),
        )  # fmt: skip
        self.run_kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "crd/tuningjobs.kubetune.io"
        )

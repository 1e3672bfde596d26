"""The operator as a local process against the local cluster, for the demo, the operator
benchmark and the end-to-end tests: apply the CRDs, start `kubetune-operator`, read its
memory, CPU and /metrics, stop it.

    from cluster.operator_process import OperatorProcess, apply_crds

    apply_crds(kubeconfig)
    with OperatorProcess(kubeconfig, ["my-namespace"], log_path) as operator:
        ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from .cluster import REPO, free_port, kube_bin_dir

OPERATOR = REPO / ".venv" / "bin" / "kubetune-operator"
CRDS = REPO / "crds"
STOP_GRACE_S = 15.0


class KubectlError(subprocess.CalledProcessError):
    """CalledProcessError whose message includes kubectl's stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}: {(self.stderr or '').strip() or '(no output)'}"


def _kubectl(command: list[str], timeout: float) -> None:
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise KubectlError(result.returncode, command, result.stdout, result.stderr)


def apply_crds(kubeconfig: Path, kubectl: Path | None = None, timeout: float = 180.0) -> None:
    """Apply crds/*.yaml (server-side, so a changed CRD is updated too) and wait until the
    API server serves TuningJobs, for up to ``timeout`` seconds.

    `kubectl wait` is tried again until the deadline when it fails: on an API server that
    had just started, one CI run saw it end with exit status 1 (its output was not kept)
    while the next test module's wait, moments later, succeeded. Raises
    CalledProcessError (KubectlError) whose message carries kubectl's own output."""
    binary = str(kubectl or kube_bin_dir() / "kubectl")
    base = [binary, "--kubeconfig", str(kubeconfig)]
    _kubectl([*base, "apply", "--server-side", "--force-conflicts", "-f", str(CRDS)], 60)
    deadline = time.monotonic() + timeout
    while True:
        left = max(1, int(deadline - time.monotonic()))
        wait = [*base, "wait", "--for=condition=Established", f"--timeout={min(left, 60)}s"]
        try:
            _kubectl([*wait, "crd/tuningjobs.kubetune.io"], min(left, 60) + 30)
            return
        except subprocess.CalledProcessError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(1.0)  # a pause between tries, not a synchronisation


class OperatorProcess:
    """`kubetune-operator --namespace NS ... (--standalone | --peering NAME [--priority
    N])`, a child process with its output in `log_path` (truncated by the first start,
    appended to by a restart). Metrics and health ports are picked anew at each start."""

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: list[str],
        log_path: Path,
        *,
        peering: str | None = None,
        priority: int | None = None,
        verbose: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespaces = namespaces
        self.log_path = log_path
        self.peering = peering
        self.priority = priority
        self.verbose = verbose
        self.extra_args = list(extra_args)
        """More `kubetune-operator` options, e.g. `--heartbeat-seconds 1`."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.health_port = 0
        self.metrics_port = 0
        self.peak_rss_kib = 0
        self._started_once = False

    def start(self) -> None:
        self.health_port = free_port()
        self.metrics_port = free_port()
        argv = [
            str(OPERATOR),
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            str(self.health_port),
        ]
        argv += ["--peering", self.peering] if self.peering else ["--standalone"]
        if self.priority is not None:
            argv += ["--priority", str(self.priority)]
        if self.verbose:
            argv.append("--verbose")
        for ns in self.namespaces:
            argv += ["--namespace", ns]
        argv += self.extra_args
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONSAFEPATH": "1"}
        with self.log_path.open("ab" if self._started_once else "wb") as log:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )
        self._started_once = True

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self, field: str = "VmHWM") -> int:
        """Peak (VmHWM) or current (VmRSS) resident memory of the running process; 0 when
        it is not running. Also updates `peak_rss_kib`."""
        with contextlib.suppress(OSError, AssertionError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    value = int(line.split()[1])
                    self.peak_rss_kib = max(self.peak_rss_kib, value)
                    return value
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the running process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> dict[str, float]:
        """The operator's /metrics: each sample's value by its full key, e.g.
        `kubetune_reconcile_duration_seconds_count` or `kubetune_cached_reads_total{...}`."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                values[key] = float(value)
        return values

    def reconciles(self) -> float:
        """How many reconciles this process has run."""
        return self.metrics().get("kubetune_reconcile_duration_seconds_count", 0.0)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no graceful shutdown."""
        assert self.proc is not None
        self.rss_kib()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM, then SIGKILL if it has not ended within `grace` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.rss_kib()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no operator log)"

    def __enter__(self) -> OperatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

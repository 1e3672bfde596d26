"""Helpers for the operator's end-to-end tests: the real operator as a child process,
TuningJob manifests that run `fake_trainer.py`, and waiting on conditions with deadlines.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from cluster import manifests, operator_process
from kubernetes import client

from support import waiting

ROOT = Path(__file__).resolve().parents[2]

TRAINER = ROOT / "tests" / "e2e" / "fake_trainer.py"
GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuningjobs"
TUNING_JOB_LABEL = "kubetune.io/tuning-job"
TERMINAL = ("Completed", "Failed", "Stopped")

T = TypeVar("T")


def fault_rng(default_seed: int) -> random.Random:
    """The random source of a fault test's kill moments: seeded with `default_seed`, or
    with KUBETUNE_FAULT_SEED when set, to replay the test under other fault timings
    (README.md, Development)."""
    return random.Random(int(os.environ.get("KUBETUNE_FAULT_SEED", default_seed)))


def objective(x: float, n: int = 0) -> float:
    """What fake_trainer.py prints as its final loss."""
    return (x - 0.3) ** 2 + 0.01 * n


class OperatorProcess(operator_process.OperatorProcess):
    """The operator serving `namespaces`, its log in `log_dir`/operator.log. Peering
    replicas log at debug level: their watch-streams' pauses show who works."""

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: list[str],
        log_dir: Path,
        peering: str | None = None,
        priority: int | None = None,
    ) -> None:
        super().__init__(
            kubeconfig,
            namespaces,
            log_dir / "operator.log",
            peering=peering,
            priority=priority,
            verbose=peering is not None,
        )

    def serving(self, plural: str = "tuningjobs") -> bool | None:
        """Whether kopf's watch on `plural` is running (True) or paused by peering (False),
        from the last such line of the debug log; None before either was logged."""
        state = None
        for line in self.log_tail(100_000).splitlines():
            if f"watch-stream for {plural}." in line:
                if "Resuming" in line or ("Starting" in line and "(paused)" not in line):
                    state = True
                elif "Pausing" in line or "(paused)" in line:
                    state = False
        return state


def run_operator(
    kubeconfig_path: Path | str, namespaces: list[str], log_dir: Path
) -> Iterator[OperatorProcess]:
    """Body of the test modules' `operator` fixtures: the real operator serving
    `namespaces`, stopped afterwards (its log tail printed when the test failed)."""
    process = OperatorProcess(Path(kubeconfig_path), namespaces, log_dir)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        print(f"operator log tail ({process.log_path}):\n{process.log_tail()}")


def wait_for(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float = 60.0,
    operator: OperatorProcess | None = None,
) -> T:
    """`waiting.wait_for` that also fails at once if the operator died, and shows the
    operator's log when the deadline passes."""

    def checked() -> T | None:
        if operator is not None and not operator.alive():
            raise AssertionError(
                f"the operator exited while waiting for {what}:\n{operator.log_tail()}"
            )
        return check()

    try:
        return waiting.wait_for(checked, timeout=timeout, what=what, interval=0.2)
    except waiting.WaitTimeoutError as error:
        tail = f"\noperator log:\n{operator.log_tail()}" if operator else ""
        raise waiting.WaitTimeoutError(f"{error}{tail}") from None


def install_crds(kubectl: Path, kubeconfig: Path) -> None:
    """Apply crds/*.yaml (server-side) and wait until the API server serves them."""
    operator_process.apply_crds(kubeconfig, kubectl)


def tuning_job(
    name: str,
    *,
    strategy: str = "Random",
    max_trials: int = 4,
    parallel: int = 2,
    static: dict[str, str] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    regex: str = r"^loss=(\S+)$",
    **spec: Any,
) -> dict[str, Any]:
    """A TuningJob whose trials run fake_trainer.py (minimizing its loss)."""
    fields = {"randomSeed": 3, "staticHyperparameters": static, **spec}
    return manifests.tuning_job(
        name,
        manifests.tuning_job_spec(
            ["python3", str(TRAINER)],
            strategy=strategy,
            max_trials=max_trials,
            parallel=parallel,
            parameters=parameters,
            regex=regex,
            **fields,
        ),
    )


class Api:
    """The calls the tests make, on dicts."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.ns = namespace
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.ns, PLURAL, body
        )

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, self.ns, PLURAL, name
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def status(self, name: str) -> dict[str, Any]:
        body = self.get(name)
        return (body or {}).get("status") or {}

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.ns,
            PLURAL,
            name,
            {"spec": spec},
            _content_type="application/merge-patch+json",
        )

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)

    def jobs(self, name: str | None = None) -> list[Any]:
        selector = f"{TUNING_JOB_LABEL}={name}" if name else TUNING_JOB_LABEL
        return list(self.batch.list_namespaced_job(self.ns, label_selector=selector).items)

    def pods(self, name: str | None = None) -> list[Any]:
        selector = f"{TUNING_JOB_LABEL}={name}" if name else TUNING_JOB_LABEL
        return list(self.core.list_namespaced_pod(self.ns, label_selector=selector).items)

    def running_pod(self, name: str, job: str | None = None) -> Any:
        """A Running pod of the TuningJob `name` (of its Job `job`, if given), or None."""
        for pod in self.pods(name):
            if pod.status.phase == "Running" and job in (None, pod.metadata.labels.get("job-name")):
                return pod
        return None

    def events(self, name: str) -> list[Any]:
        return [
            e
            for e in self.core.list_namespaced_event(self.ns).items
            if e.involved_object.name == name and e.involved_object.kind == "TuningJob"
        ]

    def terminal(self, name: str) -> dict[str, Any] | None:
        status = self.status(name)
        return status if status.get("phase") in TERMINAL else None

    def trial_with_reason(self, name: str, reason: str) -> dict[str, Any] | None:
        """The first trial of the TuningJob `name` whose reason is `reason`, or None."""
        trials = self.status(name).get("trials", [])
        return next((t for t in trials if t.get("reason") == reason), None)

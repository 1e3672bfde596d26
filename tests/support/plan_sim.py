"""A simulated cluster that drives the engine's plan() through whole tuning jobs: the Jobs
the plans create, finished on demand. Shared by the engine's unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kubetune.operator.api import Phase, TuningJobSpec, TuningJobStatus
from kubetune.operator.controller import (
    JobObservation,
    ObjectiveOutcome,
    Optimizer,
    Plan,
    Snapshot,
    plan,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def objective(params: dict[str, str]) -> float:
    return (float(params["lr"]) - 0.3) ** 2 + 0.01 * int(params["layers"])


class Sim:
    """A cluster in a dict: Jobs the plans create, finished on demand."""

    def __init__(self, spec: TuningJobSpec, *, name: str = "tj") -> None:
        self.spec = spec
        self.name = name
        self.status = TuningJobStatus()
        self.jobs: dict[str, JobObservation] = {}
        self.created: list[str] = []
        self.now = T0
        self.plans: list[Plan] = []

    def step(self, optimizer: Optimizer | None = None, **snapshot: Any) -> Plan:
        decided = plan(
            Snapshot(
                name=self.name,
                uid="uid",
                generation=1,
                spec=self.spec,
                status=self.status,
                jobs=self.jobs,
                **snapshot,
            ),
            self.now,
            optimizer or Optimizer(),
        )
        self.status = decided.status
        for launch in decided.launch:
            if launch.job_name not in self.jobs:
                self.created.append(launch.job_name)
                self.jobs[launch.job_name] = JobObservation(
                    launch.job_name, "Running", started=self.now
                )
        for job in decided.delete:
            self.jobs.pop(job, None)
        self.plans.append(decided)
        return decided

    def running(self) -> list[str]:
        return [n for n, j in self.jobs.items() if j.state == "Running"]

    def finish(self, job: str, value: float | None = None, **kw: Any) -> None:
        self.now += timedelta(seconds=3)
        trial = next(t for t in self.status.trials if job.startswith(t.name))
        if "state" in kw:
            self.jobs[job] = JobObservation(
                job, kw.pop("state"), started=T0, finished=self.now, **kw
            )
            return
        v = objective(trial.hyperparameters) if value is None else value
        self.jobs[job] = JobObservation(
            job, "Succeeded", started=T0, finished=self.now, outcome=ObjectiveOutcome(v, 5)
        )

    def run(self, pick: Callable[[list[str]], str] = lambda r: r[0], limit: int = 200) -> None:
        self.step()
        for _ in range(limit):
            if self.status.phase in (Phase.COMPLETED, Phase.FAILED, Phase.STOPPED):
                return
            running = self.running()
            if running:
                self.finish(pick(running))
            self.step()
        raise AssertionError("did not finish")

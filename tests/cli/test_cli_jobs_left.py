"""describe and watch of a job whose trial Jobs the operator could not delete yet (QA93
L3): Next said "Nothing: the job has ended" while they ran on."""

from __future__ import annotations

from kubetune.analytics.resource import parse_tuning_job
from kubetune.cli import views, watch
from kubetune.operator.api import Phase, TuningJobStatus
from kubetune.operator.controller.plan import jobs_left
from support.cli_data import NOW
from synthetic_tuning_job import synthetic_tuning_job

REFUSAL = (
    'jobs.batch "rb-005" is forbidden: User "system:serviceaccount:demo:kubetune" cannot '
    'delete resource "jobs" in API group "batch" in the namespace "demo"'
)


def test_describe_of_an_ended_job_with_jobs_left_says_they_are_deleted_and_what_to_grant() -> None:
    body = synthetic_tuning_job("rb", 6)
    status = TuningJobStatus.model_validate(body["status"])
    status.phase, status.reason, status.message = Phase.STOPPED, "StoppedByUser", "stopped"
    body["status"] = jobs_left(status, ["rb-005", "rb-006"], "demo", REFUSAL, NOW).to_api()
    view = parse_tuning_job(body)
    note = (
        "2 trial Jobs could not be deleted yet (rb-005, rb-006): the operator may not delete "
        "jobs.batch in namespace demo (Forbidden); grant it `delete` on jobs.batch there "
        "(charts/kubetune/templates/rbac.yaml); the operator retries until they are gone"
    )
    assert views.next_step(view) == (
        f"Deleting trial Jobs that may still run: {note}. Nothing else: the job has ended "
        "(Stopped, StoppedByUser)."
    )
    described = views.describe_text(view, [], NOW)
    assert f"Message:    stopped; {note}\n" in described
    assert f"  JobsLeft   True   Forbidden                {note}\n" in described
    assert watch.final_line(view).endswith(f"; stopped; {note}")

    body["status"] = status.to_api()  # the Jobs gone: the note goes
    assert views.next_step(parse_tuning_job(body)) == (
        "Nothing: the job has ended (Stopped, StoppedByUser)."
    )

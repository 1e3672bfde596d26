"""A misspelt field in the trial template (`comand` for `command`) passes admission, the
template being an open JobSpec: the operator creates trial Jobs with strict field
validation, so the API server refuses the Job instead of dropping the field and running
the pod without it (the image's default entrypoint, on a real cluster; QA99 M2)."""

from __future__ import annotations

from support.operator_harness import Api, OperatorProcess, tuning_job, wait_for


def test_a_misspelt_template_field_fails_the_job_naming_it_and_no_trial_job_runs(
    api: Api, operator: OperatorProcess
) -> None:
    body = tuning_job("typo", max_trials=2, parallel=1)
    container = body["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["comand"] = container.pop("command")
    api.create(body)  # admitted: the CRD keeps the pod template open
    status = wait_for("typo to fail", lambda: api.terminal("typo"), operator=operator)
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec"), status
    invalid = {c["type"]: c for c in status["conditions"]}["Invalid"]
    assert invalid["status"] == "True"
    message = status["message"]
    assert message.startswith(
        "spec.trialTemplate.job.template.spec.containers[0].comand: unknown field of a Job"
    ), message
    assert "fix the spelling or remove it" in message, message
    assert "kubectl explain job.spec.template.spec.containers" in message, message
    assert api.jobs("typo") == []

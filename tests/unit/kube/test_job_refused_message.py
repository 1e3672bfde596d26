"""The TuningJob's message for a trial Job the API server refused (QA99 M2)."""

from __future__ import annotations

from kubetune.operator.kube.reconcile import job_refused_message

STRICT = (
    'Job in version "v1" cannot be handled as a Job: strict decoding error: unknown field '
    '"spec.template.spec.containers[0].comand", unknown field "spec.backofLimit"'
)


def test_unknown_fields_are_named_in_the_tuning_job_with_where_to_look_up_the_names() -> None:
    message = job_refused_message("t-001", STRICT)
    assert message.startswith(
        "spec.trialTemplate.job.template.spec.containers[0].comand, "
        "spec.trialTemplate.job.backofLimit: unknown fields of a Job, refused when trial Job "
        "t-001 was created ("
    ), message
    assert "kubectl explain job.spec.template.spec.containers lists the fields" in message


def test_an_unknown_field_at_the_top_of_the_job_spec_points_at_job_spec() -> None:
    refusal = 'strict decoding error: unknown field "spec.backofLimit"'
    message = job_refused_message("t-001", refusal)
    assert message.startswith("spec.trialTemplate.job.backofLimit: unknown field of a Job")
    assert "kubectl explain job.spec lists the fields" in message


def test_another_refusal_is_quoted_under_the_trial_template() -> None:
    refusal = 'Job.batch "t-001" is invalid: spec.template.spec.containers[0].image: Required'
    assert job_refused_message("t-001", refusal) == (
        f"spec.trialTemplate.job: the API server refused trial Job t-001: {refusal}; fix the "
        "template in a new TuningJob"
    )

"""An integer an int64 cannot hold (kubectl sends 2**63 to 2**64 - 1 as written; the API
server reads it as a float, which an integer field refuses): `kubetune run --local` names
the field, the value and the limit, and never fails with celpy's "overflow" traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubetune.analytics.errors import KubetuneError
from kubetune.cli.admission import admission_problems
from kubetune.cli.local_run import check_runnable

from tests.unit.cli.test_read_manifest import PARAMETERS, read


def test_an_integer_beyond_int64_is_a_problem_naming_the_field_and_the_limit() -> None:
    container = {"name": "t", "image": "t:1", "command": ["true"], "x": 2**64 - 1}
    spec = {
        "objective": {"metric": "loss", "type": "Minimize"},
        "metrics": [{"name": "loss", "regex": "loss=([0-9.]+)"}],
        "parameters": [{"name": "x", "type": "Continuous", "min": 2**64, "max": 1}],
        "limits": {"maxTrials": 2, "maxParallelTrials": 1, "maxRuntimeSeconds": 2**63},
        "trialTemplate": {"job": {"template": {"spec": {"containers": [container]}}}},
    }
    limit = "integer a TuningJob holds (9223372036854775807); write 9223372036854775807 or less"
    # A number field's whole number is a float there (min: 2**64 is no problem): the
    # rules of the fields holding such an integer are left out, the others say theirs.
    assert admission_problems(spec) == [
        f"spec.limits.maxRuntimeSeconds: 9223372036854775808 is beyond the largest {limit}",
        "spec.trialTemplate.job.template.spec.containers[0].x: 18446744073709551615 is "
        f"beyond the largest {limit}",
        "spec.parameters[0].min: parameter x: min must be less than max; swap or widen the range",
    ]


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        (
            "randomSeed: 18446744073709551615",
            "spec.randomSeed: 18446744073709551615 is more than the maximum 4294967295; "
            "write 4294967295 or less",
        ),
        (
            "limits: {maxTrials: 9223372036854775808}",
            "spec.limits.maxTrials: 9223372036854775808 is more than the maximum 1000; "
            "write 1000 or less",
        ),
        (
            "limits: {maxRuntimeSeconds: 9223372036854775808}",
            "spec.limits.maxRuntimeSeconds: 9223372036854775808 is beyond the largest integer "
            "a TuningJob holds (9223372036854775807); write 9223372036854775807 or less",
        ),
    ],
)
def test_a_manifest_with_an_integer_beyond_int64_is_refused_in_one_line(
    tmp_path: Path, field: str, problem: str
) -> None:
    quoted = PARAMETERS.replace("name: N", "name: 'N'")
    with pytest.raises(KubetuneError) as refused:
        check_runnable(read(tmp_path, quoted + f"  {field}\n"), {})
    assert str(refused.value) == f"invalid TuningJob:\n  {problem}"

"""QA105 #3: a metric regex that matches empty text is refused when the spec is validated.
It matched at every position of every line, each match a Python iteration (11 s of the
operator's CPU per 10 MB of log), and its last match, empty, made every trial fail
MetricUnavailable even when the log ended with the value."""

from __future__ import annotations

import pytest
from kubetune.operator.api import TuningJobSpec
from kubetune.operator.kube.metric_logs import (
    FULL_NUMBER_GROUP,
    compile_metric_regex,
    objective_outcome,
    scan_log,
)
from kubetune.operator.kube.validation import validate_spec


@pytest.mark.parametrize(
    "regex",
    [r"(x*)", r"(?:loss=([-+0-9.eE]+))?", r"^([0-9.]*)$", r"\b(\d*)", r"(?:loss=)?(\S*)"],
)
def test_a_regex_that_matches_empty_text_is_refused_naming_it_and_the_fix(regex: str) -> None:
    with pytest.raises(ValueError, match="matches empty text") as refused:
        compile_metric_regex(regex)
    message = str(refused.value)
    assert f"'{regex}'" in message
    assert "+ rather than *, the group not optional" in message
    assert FULL_NUMBER_GROUP in message


@pytest.mark.parametrize(
    "regex", [r"loss=([0-9.]*)", r"loss=(.*)", r"^([-+0-9.eE]+)$", rf"loss={FULL_NUMBER_GROUP}"]
)
def test_a_regex_that_needs_some_text_still_reads_the_last_value(regex: str) -> None:
    pattern = compile_metric_regex(regex)
    log = b"epoch 1: loss n/a\n\nloss=0.7\n0.7\nloss=0.5\n0.5\n"
    reading = scan_log([log], {"loss": pattern})
    assert objective_outcome(reading, "loss").value == 0.5


def test_the_spec_check_names_the_metric_and_its_field() -> None:
    spec = TuningJobSpec.from_api(
        {
            "objective": {"metric": "loss", "type": "Minimize"},
            "metrics": [{"name": "loss", "regex": r"(?:loss=([-+0-9.eE]+))?"}],
            "parameters": [{"name": "x", "type": "Continuous", "min": 0, "max": 1}],
            "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
        }
    )
    [message] = validate_spec(spec)
    assert message.startswith("spec.metrics[0].regex (metric 'loss'): ")
    assert "matches empty text" in message

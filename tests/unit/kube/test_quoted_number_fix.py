"""QA105 #4: where text is expected and YAML read a bare number, the fix says to quote it as
written: the number shown is YAML's reading (`01` is 1, `1.10` is 1.1), and quoting that
would send the trainer another categorical value or static hyperparameter."""

from __future__ import annotations

import yaml
from kubetune.operator.kube.validation import parse_and_validate_spec

MANIFEST = """
objective: {metric: loss, type: Minimize}
metrics: [{name: loss, regex: "loss=([0-9.]+)"}]
parameters:
  - {name: run, type: Categorical, values: [01, "02"]}
staticHyperparameters: {version: 1.10}
trialTemplate: {job: {template: {spec: {containers: [{name: t}]}}}}
"""


def test_the_fix_for_a_bare_number_says_to_quote_it_as_written() -> None:
    spec, messages = parse_and_validate_spec(yaml.safe_load(MANIFEST))
    assert spec is None
    assert sorted(messages) == [
        "spec.parameters[0].values[0]: Input should be a valid string (value 1); write it "
        "quoted: '1' (or as written: YAML reads 01 as 1, 1.10 as 1.1)",
        "spec.staticHyperparameters.version: Input should be a valid string (value 1.1); "
        "write it quoted: '1.1' (or as written: YAML reads 01 as 1, 1.10 as 1.1)",
    ]

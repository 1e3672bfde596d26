"""`kubetune run --local` refuses a value of the JSON type the CRD's schema refuses, as the
API server's schema validation does ("spec.limits.maxTrials in body must be of type
integer: \"string\""), before the models' lax parsing reads "0.5" as a number or a number
beyond a double's range, which kubectl sends as text, as inf (QA68 M1); and a whole number
beyond int64 in an integer field with the int64 message, also from 2**64 up where kubectl
reads it as a float (QA68 L1). The API server's messages were checked with
apiextensions-apiserver v0.36.3's schema validator on the same manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from integration.test_tuningjob_admission import base
from kubetune.analytics.errors import KubetuneError
from kubetune.cli.admission import admission_problems
from kubetune.cli.local_run import _read_manifest, checked_spec

BIG = "1" + "0" * 400  # beyond a double: go-yaml keeps it as text, kubectl sends "1000…"


def problems(tmp_path: Path, set_: dict[str, Any]) -> list[str]:
    """The problems `run --local` names for the example manifest with `set_` (dotted
    paths under spec; a value BIG is written bare), read from YAML as kubectl reads it."""
    manifest = base()
    for path, value in set_.items():
        *parents, leaf = path.split(".")
        node: Any = manifest["spec"]
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[leaf] = value
    text = yaml.safe_dump(manifest).replace(f"'{BIG}'", BIG)
    (tmp_path / "job.yaml").write_text(text)
    try:
        checked_spec(_read_manifest(str(tmp_path / "job.yaml"), None))
    except KubetuneError as error:
        return [line.strip() for line in str(error).splitlines()[1:]]
    return []


NEEDS = "where the API server requires"


@pytest.mark.parametrize(
    ("set_", "problem"),
    [
        (
            {"parameters.0.min": "0.001"},
            f'spec.parameters[0].min: "0.001" is text, {NEEDS} a number (must be of type '
            'number: "string"); write it without quotes: 0.001',
        ),
        (
            {"limits.maxTrials": "1"},
            f'spec.limits.maxTrials: "1" is text, {NEEDS} an integer (must be of type '
            'integer: "string"); write it without quotes: 1',
        ),
        (
            {"parameters.0.min": BIG},
            "spec.parameters[0].min: 100000000000…00000000 (401 characters) is beyond the "
            f"range of a JSON number (about ±1.8e308), which kubectl sends as text, {NEEDS} a "
            'number (must be of type number: "string"); write a number between -1.8e308 and '
            "1.8e308",
        ),
        (
            {"parameters.0.min": True},
            f"spec.parameters[0].min: true is a boolean, {NEEDS} a number (must be of type "
            'number: "boolean"); write a number, e.g. 0.5',
        ),
        (
            {"stop": "true"},
            f'spec.stop: "true" is text, {NEEDS} a boolean (must be of type boolean: '
            '"string"); write it without quotes: true',
        ),
        (
            {"trialTemplate.job.parallelism": "1"},
            f'spec.trialTemplate.job.parallelism: "1" is text, {NEEDS} an integer (must be of '
            'type integer: "string"); write it without quotes: 1',
        ),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_as_the_api_server_refuses_it(
    tmp_path: Path, set_: dict[str, Any], problem: str
) -> None:
    assert problems(tmp_path, set_) == [problem]


def test_a_wrong_type_the_models_refuse_is_said_once() -> None:
    spec = base()["spec"]
    spec["limits"]["maxTrials"] = 1.5
    spec["parameters"][0]["name"] = 5
    assert admission_problems(spec) == []  # the models name both, field, value and fix


@pytest.mark.parametrize(
    ("set_", "problem"),
    [
        (
            {"limits.maxRuntimeSeconds": 2**64},  # a float in kubectl's JSON: 18446744073709552000
            "spec.limits.maxRuntimeSeconds: 18446744073709552000 is beyond the largest integer "
            "a TuningJob holds (9223372036854775807); write 9223372036854775807 or less",
        ),
        (
            {"limits.maxTrials": -(2**64)},
            "spec.limits.maxTrials: -18446744073709552000 is less than the minimum 1; "
            "write 1 or more",
        ),
        (
            {"randomSeed": -(2**63) - 1},  # kubectl sends -9223372036854776000, a float
            "spec.randomSeed: -9223372036854776000 is less than the minimum 0; write 0 or more",
        ),
    ],
)
def test_an_integer_kubectl_sends_as_a_float_beyond_int64_gets_the_int64_message(
    tmp_path: Path, set_: dict[str, Any], problem: str
) -> None:
    assert problems(tmp_path, set_) == [problem]  # named once, not in the models' words too

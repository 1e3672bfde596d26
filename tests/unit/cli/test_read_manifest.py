"""`kubetune run --local` reads a manifest as kubectl does (sigs.k8s.io/yaml: go-yaml v2,
then JSON), not as PyYAML's safe_load does, so the same manifest gives the same spec and
the same refusals. The expected values are those of sigs.k8s.io/yaml v1.6.0's YAMLToJSON
(kubectl 1.36's), as the API server reads the JSON back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubetune.analytics.errors import KubetuneError
from kubetune.cli.local_run import _read_manifest, check_runnable

HEADER = "apiVersion: kubetune.io/v1alpha1\nkind: TuningJob\nmetadata:\n  name: job\n"


def read(tmp_path: Path, spec: str) -> dict[str, Any]:
    path = tmp_path / "job.yaml"
    path.write_text(HEADER + "spec:\n" + spec)
    return _read_manifest(str(path), None)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("y", True),  # go-yaml v2's booleans include y, Y, n and N; PyYAML's do not
        ("Y", True),
        ("n", False),
        ("N", False),
        ("1e-3", 0.001),  # a float without a point; PyYAML: text
        ("1e3", 1000),  # and kubectl's JSON writes a whole float as an integer
        ("10.0", 10),
        ("0o17", 15),  # Go's octal; PyYAML: text
        ("09", 9),  # not octal, so Go's float 9, sent as 9; PyYAML: text
        ("1:30", "1:30"),  # no base-60 numbers; PyYAML: 90
        ("2026-01-02", "2026-01-02"),  # a timestamp read untyped is text; PyYAML: a date
        ("1.0e+999", "1.0e+999"),  # Go's ParseFloat refuses an overflow; PyYAML: inf
        ("=", "="),  # PyYAML: an error (no constructor for its "value" tag)
    ],
)
def test_a_plain_scalar_is_read_as_kubectl_reads_it(
    tmp_path: Path, text: str, value: object
) -> None:
    read_value = read(tmp_path, f"  x: {text}\n")["spec"]["x"]
    assert (type(read_value), read_value) == (type(value), value)


def test_map_keys_are_text_as_kubectl_sends_them(tmp_path: Path) -> None:
    static = "  staticHyperparameters:\n    n: a\n    1: b\n    0.5: c\n    1e6: d\n    on: e\n"
    assert read(tmp_path, static)["spec"]["staticHyperparameters"] == {
        "false": "a",
        "1": "b",
        "0.5": "c",
        "1e+06": "d",
        "true": "e",
    }


def test_a_value_without_a_json_form_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(KubetuneError) as refused:
        read(tmp_path, "  staticHyperparameters:\n    lr: .nan\n")
    assert str(refused.value).endswith(
        "job.yaml: spec.staticHyperparameters.lr: .nan has no JSON form (kubectl refuses "
        "it); write a number, or quote it to make it text"
    )


PARAMETERS = """\
  objective: {metric: loss, type: Minimize}
  metrics: [{name: loss, regex: "loss=([0-9.]+)"}]
  parameters:
    - {name: x, type: Continuous, min: 0.0, max: 1.0}
    - {name: N, type: Integer, min: 0, max: 3}
  trialTemplate:
    job: {template: {spec: {containers: [{name: t, image: "t:1", command: ["true"]}]}}}
"""


def test_a_parameter_named_n_bare_is_refused_as_the_api_server_refuses_it(
    tmp_path: Path,
) -> None:
    """kubectl sends `name: N` as false, which the API server refuses (must be of type
    string): so does a local run, naming the field and the fix; quoted, it runs."""
    with pytest.raises(KubetuneError) as refused:
        check_runnable(read(tmp_path, PARAMETERS), {})
    assert "spec.parameters[1].name: Input should be a valid string (value False)" in str(
        refused.value
    )
    assert "write the word quoted, e.g. 'n' or 'Off'" in str(refused.value)
    spec = check_runnable(read(tmp_path, PARAMETERS.replace("name: N", "name: 'N'")), {})
    assert spec.parameters[1].name == "N"


def test_a_file_of_several_documents_runs_its_one_tuning_job(tmp_path: Path) -> None:
    """kubectl applies a file of several documents and skips empty ones (a `---` at the
    end); the TuningJob among them is run, and a file of two is refused saying so."""
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: data\n"
    job = HEADER + "spec:\n  x: 1\n"
    path = tmp_path / "job.yaml"
    path.write_text(f"---\n{config_map}---\n{job}---\n")
    assert _read_manifest(str(path), None)["spec"] == {"x": 1}
    path.write_text(f"{job}---\n{job}")
    with pytest.raises(KubetuneError, match="holds 2 TuningJob manifests"):
        _read_manifest(str(path), None)


def test_a_file_without_a_tuning_job_names_the_kinds_it_has(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(HEADER.replace("kind: TuningJob", "kind: Tuningjob") + "spec: {}\n")
    with pytest.raises(KubetuneError) as refused:
        _read_manifest(str(path), None)
    assert str(refused.value) == (
        f"{path} holds no TuningJob manifest (kind: TuningJob); it has kind: Tuningjob, and "
        "kinds are case-sensitive; `kubetune run --local` runs one: give a file with one"
    )
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: data\n---\n{}\n")
    with pytest.raises(KubetuneError, match=r"no TuningJob manifest \(kind: TuningJob\); its "
                       r"kind: ConfigMap, none; "):  # fmt: skip
        _read_manifest(str(path), None)


def test_a_yaml_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(HEADER + "spec:\n  x: [1\n")
    with pytest.raises(KubetuneError, match=f'in "{path}", line'):
        _read_manifest(str(path), None)

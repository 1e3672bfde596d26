"""The generated CRD and reference page: in sync with the models and well formed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from codegen import crd
from codegen.reference import render_reference
from kubetune.operator import api as models
from kubetune.operator.api.cel import HYPERBAND_DEFAULTS

ROOT = Path(__file__).resolve().parents[3]
CRD_FILE = ROOT / "crds" / "kubetune.io_tuningjobs.yaml"
REFERENCE_FILE = ROOT / "docs" / "tuningjob-reference.md"


def test_committed_crd_is_what_the_models_generate() -> None:
    assert CRD_FILE.read_text() == crd.render_crd_yaml(), (
        "crds/kubetune.io_tuningjobs.yaml is stale: run `make crds` and commit the result"
    )


def test_committed_reference_is_what_the_models_generate() -> None:
    assert REFERENCE_FILE.read_text() == render_reference(), (
        "docs/tuningjob-reference.md is stale: run `make crds` and commit the result"
    )


def test_crd_yaml_parses_back_to_the_built_dict() -> None:
    assert yaml.safe_load(crd.render_crd_yaml()) == crd.build_crd()


def schema() -> dict[str, Any]:
    version = crd.build_crd()["spec"]["versions"][0]
    root: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return root


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_schema_is_structural() -> None:
    for path, node in walk(schema()):
        assert "type" in node, f"{path} has no type"
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        assert node.get("additionalProperties") is not False, path
        assert "default" not in node or node["default"] is not None, path
        if "properties" in node:
            assert "additionalProperties" not in node, path


def test_every_spec_and_status_field_has_a_description() -> None:
    undocumented = [
        path
        for path, node in walk(schema())
        if path.startswith((".spec", ".status"))
        and not path.endswith(("[]", "{}"))
        and not node.get("description")
    ]
    assert undocumented == []


def test_names_scope_and_subresources() -> None:
    spec = crd.build_crd()["spec"]
    assert crd.build_crd()["metadata"]["name"] == "tuningjobs.kubetune.io"
    assert spec["group"] == "kubetune.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "TuningJob"
    assert spec["names"]["plural"] == "tuningjobs"
    assert spec["names"]["shortNames"] == ["tj"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("Strategy", "string", ".spec.strategy"),
        ("Phase", "string", ".status.phase"),
        # The operator's text (6 significant digits): a number column prints the JSON's
        # value as is (0.9888888888888889).
        ("Best", "string", ".status.bestObjectiveText"),
        ("Trials", "string", ".status.trialsDone"),
        ("Running", "integer", ".status.counters.running"),
        ("Epochs", "integer", ".status.epochsConsumed"),
        ("Age", "date", ".metadata.creationTimestamp"),
        ("Message", "string", ".status.message"),  # priority 1: with -o wide
    ]


def test_printer_column_paths_exist_in_the_schema() -> None:
    paths = {path for path, _ in walk(schema())}
    for column in crd.PRINTER_COLUMNS:
        if not column["jsonPath"].startswith(".metadata"):
            assert column["jsonPath"] in paths


@pytest.mark.parametrize(
    ("path", "enum"),
    [
        (".spec.strategy", models.Strategy),
        (".spec.earlyStopping", models.EarlyStopping),
        (".spec.objective.type", models.ObjectiveType),
        (".spec.parameters[].type", models.ParameterType),
        (".spec.parameters[].scaling", models.Scaling),
        (".status.phase", models.Phase),
        (".status.trials[].phase", models.TrialPhase),
    ],
)
def test_enums_come_from_the_models(path: str, enum: Any) -> None:
    node = dict(walk(schema()))[path]
    assert node["enum"] == [e.value for e in enum]


def test_immutable_fields_have_transition_rules_and_mutable_ones_do_not() -> None:
    nodes = dict(walk(schema()))
    for field in ("strategy", "objective", "metrics", "parameters", "trialTemplate"):
        rules = nodes[f".spec.{field}"]["x-kubernetes-validations"]
        message = f"spec.{field} is immutable; create a new TuningJob to change it"
        (immutable,) = [r["rule"] for r in rules if r["message"] == message]
        if field == "parameters":  # by effective values: see the next test
            assert immutable.startswith("self.map(x, x.name) == oldSelf.map(x, x.name) && ")
            continue
        # A keyed list's equality ignores the order: its names are compared in order too.
        in_order = " && self.map(x, x.name) == oldSelf.map(x, x.name)"
        assert immutable == "self == oldSelf" + (in_order if field == "metrics" else "")
    for field in ("limits", "completionCriteria", "suspend", "earlyStopping", "retry"):
        rules = nodes[f".spec.{field}"].get("x-kubernetes-validations", [])
        assert all("oldSelf" not in r["rule"] for r in rules), field


def test_parameters_and_metrics_are_lists_keyed_by_their_required_name() -> None:
    """Keyed (`map`) lists: server-side apply owns each item's fields, so it does not
    conflict over the whole list with an earlier client-side apply (QA99 M3)."""
    nodes = dict(walk(schema()))
    for field in ("parameters", "metrics"):
        node = nodes[f".spec.{field}"]
        assert node["x-kubernetes-list-type"] == "map"
        assert node["x-kubernetes-list-map-keys"] == ["name"]
        assert "name" in node["items"]["required"]  # a map key must be required


def test_the_parameters_rule_compares_every_field_of_a_parameter() -> None:
    """`spec.parameters` is immutable by its items' effective values (the CRD does not
    default `scaling`): a field the rule left out could change on a live job."""
    nodes = dict(walk(schema()))
    (immutable,) = [
        r["rule"]
        for r in nodes[".spec.parameters"]["x-kubernetes-validations"]
        if r["message"].startswith("spec.parameters is immutable")
    ]
    for name, info in models.Parameter.model_fields.items():
        field = info.alias or name
        assert f"q.{field} == p.{field}" in immutable or f"q.{field} : " in immutable, field
    assert "(has(q.scaling) ? q.scaling : 'Auto') == (has(p.scaling) ? p.scaling : 'Auto')" in (
        immutable
    )


def test_the_hyperband_rule_knows_every_field_and_its_model_default() -> None:
    """The immutability of `hyperband` compares effective values, an absent block being
    the defaults (QA99 L1): it must know each field and the model's default."""
    defaults = {
        info.alias or name: info.default for name, info in models.Hyperband.model_fields.items()
    }
    assert defaults == HYPERBAND_DEFAULTS


def test_defaults() -> None:
    nodes = dict(walk(schema()))
    assert nodes[".spec.strategy"]["default"] == "Bayesian"
    assert nodes[".spec.limits"]["default"] == {}
    assert nodes[".spec.limits.maxTrials"]["default"] == 10
    assert nodes[".spec.limits.maxParallelTrials"]["default"] == 1
    assert nodes[".spec.suspend"]["default"] is False
    # None inside a list's items (spec_schema says why); the models default them.
    assert "default" not in nodes[".spec.parameters[].scaling"]
    assert models.Parameter.model_fields["scaling"].default == models.Scaling.AUTO
    assert "default" not in nodes[".spec.limits.maxRuntimeSeconds"]


def test_every_rule_has_a_message_and_parameter_rules_name_the_parameter() -> None:
    for path, node in walk(schema()):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule["message"], path
            if path == ".spec.parameters[]":
                assert rule["messageExpression"].startswith("'parameter ' + self.name"), rule


def test_trial_template_job_keeps_unknown_fields_but_types_containers() -> None:
    nodes = dict(walk(schema()))
    job = nodes[".spec.trialTemplate.job"]
    assert job["x-kubernetes-preserve-unknown-fields"] is True
    containers = nodes[".spec.trialTemplate.job.template.spec.containers"]
    assert containers["type"] == "array"
    assert containers["items"]["properties"]["name"]["type"] == "string"


def test_reference_documents_every_field() -> None:
    page = render_reference()
    for path, _ in walk(schema()):
        if path.startswith((".spec", ".status")) and not path.endswith(("{}", "[]")):
            documented = path[1:]
            if documented.startswith("spec.trialTemplate.job."):
                continue  # the JobSpec body is Kubernetes' own, documented there
            assert f"| `{documented}` |" in page, documented
    assert models.HYPERPARAMETERS_ENV in page
    for condition in models.ConditionType:
        assert condition.value in page

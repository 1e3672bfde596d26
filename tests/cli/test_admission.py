"""`kubetune run --local` checks the CRD's CEL rules as the API server does: every spec
the API server refuses (the admission test's table) is refused here too, with the API
server's message where only a CEL rule catches it; the examples pass (no cluster)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from integration.test_tuningjob_admission import EXAMPLES, INVALID, Mutation, base
from kubetune.cli import main as cli_main
from kubetune.cli.admission import admission_problems
from kubetune.operator.kube.validation import parse_and_validate_spec


@pytest.mark.parametrize(
    ("mutation", "fragments"),
    [pytest.param(m, f, id=case_id) for case_id, m, f in INVALID],
)
def test_what_the_api_server_refuses_is_refused_locally(
    mutation: Mutation, fragments: list[str]
) -> None:
    manifest = base()
    mutation(manifest)
    rules = admission_problems(manifest["spec"])
    models = parse_and_validate_spec(manifest["spec"])[1]
    assert rules or models, "accepted locally"
    if not models:  # only a CEL rule catches it: the API server's message, and its field
        for fragment in fragments:
            assert any(fragment in problem for problem in rules), (fragment, rules)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_keep_every_rule(path: Path) -> None:
    assert admission_problems(yaml.safe_load(path.read_text())["spec"]) == []


def test_defaults_count_and_whole_numbers_are_doubles() -> None:
    manifest = base()
    spec = manifest["spec"]
    # earlyStopping is not written: its default Off keeps the Hyperband rule.
    spec.pop("earlyStopping", None)
    spec["strategy"] = "Hyperband"
    spec["hyperband"] = {"maxResource": 10}
    assert admission_problems(spec) == []
    spec["earlyStopping"] = "Auto"
    (problem,) = admission_problems(spec)
    assert problem.startswith("spec.earlyStopping: earlyStopping must be Off")
    # min: 1 and max: 2 written as integers compare as the API server's doubles.
    spec = base()["spec"]
    spec["parameters"] = [{"name": "p", "type": "Continuous", "min": 2, "max": 1}]
    (problem,) = admission_problems(spec)
    assert (
        problem
        == "spec.parameters[0].min: parameter p: min must be less than max; swap or widen the range"
    )


def test_kubetune_run_local_refuses_what_only_a_cel_rule_catches(tmp_path: Path) -> None:
    manifest = base()
    manifest["spec"]["limits"] = {"maxTrials": 2, "maxParallelTrials": 3}
    path = tmp_path / "tj.yaml"
    path.write_text(yaml.safe_dump(manifest))
    out, err = io.StringIO(), io.StringIO()
    code = cli_main.run(["run", "--local", str(path), "--out", str(tmp_path / "run")], out, err)
    assert code == cli_main.EXIT_ERROR
    assert "spec.limits.maxParallelTrials: limits.maxParallelTrials must not exceed" in (
        err.getvalue()
    )
    assert not (tmp_path / "run" / "logs").exists()  # nothing ran

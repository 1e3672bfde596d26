"""`kubetune run --local`: what it refuses before it writes anything to --out, and what a
resume says it changed (real trial processes, as in test_run_local)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.local.test_run_local import (
    kubetune,
    manifest,
    status,
    warm_started_child,
    write_manifest,
)

pytestmark = pytest.mark.slow

ONE_TRIAL = {"maxTrials": 1, "maxParallelTrials": 1}


def test_a_directory_of_other_files_is_refused_as_out_naming_it_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA76 L7: an existing non-empty directory without a run (`--out .`, a folder of
    notes, a source folder named like the job) was taken silently, the run's files mixed
    in with the user's."""
    path = manifest(tmp_path, limits=ONE_TRIAL)
    notes = tmp_path / "existing"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine\n")
    code, out, err = kubetune("run", "--local", str(path), "--out", str(notes))
    assert (code, out) == (1, ""), err
    assert err == (
        f"error: {notes} is a directory of other files (notes.txt), not a run directory (no "
        "tuningjob.yaml): a run would mix its files and logs with them; give another --out, "
        "a new or empty directory (or a run directory, to resume it)\n"
    )
    assert [p.name for p in notes.iterdir()] == ["notes.txt"]  # nothing written

    monkeypatch.chdir(tmp_path)
    code, _, err = kubetune("run", "--local", str(path), "--out", ".")
    assert code == 1
    assert err.startswith(f"error: . ({tmp_path}) is a directory of other files (existing, ")
    (tmp_path / "local").mkdir()  # a source folder named like the job: the default --out
    (tmp_path / "local" / "train.py").touch()
    code, _, err = kubetune("run", "--local", str(path))
    assert code == 1
    assert err.startswith(
        "error: ./local (the default --out, the job's name) is a directory of other files "
        "(train.py), not a run directory"
    ), err

    # An empty directory is taken, and the run directory it then is resumes.
    empty = tmp_path / "empty"
    empty.mkdir()
    for _ in range(2):
        code, _, err = kubetune("run", "--local", str(path), "--out", str(empty))
        assert code == 0, err
    assert status(empty)["phase"] == "Completed"


def test_a_warm_start_parent_of_other_parameter_types_is_refused_before_out_is_made(
    tmp_path: Path,
) -> None:
    """QA76 L6: a parent whose parameters have other types was found out by the run's
    first reconcile: --out was made, the run ended Failed (InvalidSpec), and the fixed
    manifest needed another --out. It is refused as a misspelt parent is, DIR not made."""
    path = manifest(tmp_path, limits=ONE_TRIAL)
    parent_dir = tmp_path / "runs" / "parent"
    code, _, err = kubetune("run", "--local", str(path), "--out", str(parent_dir))
    assert code == 0, err
    categorical_n = [
        {"name": "x", "type": "Continuous", "min": 0.0, "max": 1.0},
        {"name": "n", "type": "Categorical", "values": ["0", "1"]},
    ]
    child_path = warm_started_child(path, ONE_TRIAL, parameters=categorical_n)
    child_dir = tmp_path / "runs" / "child"
    argv = ["run", "--local", str(child_path), "--out", str(child_dir), "--parent", str(parent_dir)]
    code, out, err = kubetune(*argv)
    assert (code, out) == (1, ""), err
    assert err == (
        "error: spec.warmStart.parents: parent 'local' has other parameters (x: Continuous, "
        "n: Integer) than this job (x: Continuous, n: Categorical); warm-start only from "
        f"TuningJobs with the same parameters and objective (its run: {parent_dir})\n"
    )
    assert not child_dir.exists()
    # The same parent with the same parameters warm-starts the same --out.
    child = yaml.safe_load(child_path.read_text())
    child["spec"]["parameters"] = yaml.safe_load(path.read_text())["spec"]["parameters"]
    write_manifest(child_path, child)
    code, _, err = kubetune(*argv)
    assert code == 0, err
    assert status(child_dir)["phase"] == "Completed"


def test_a_resume_says_what_changed_down_to_the_value_and_what_parallel_did(
    tmp_path: Path,
) -> None:
    """QA76 L2: a resume with only --parallel changed said `applied the manifest's changes
    to spec.limits`, the manifest untouched."""
    out_dir = tmp_path / "run"
    path = manifest(tmp_path, suspend=True, limits={"maxTrials": 2, "maxParallelTrials": 1})
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    code, _, err = kubetune(*argv, "--parallel", "1")  # suspended: launches nothing
    assert code == 0, err
    code, _, err = kubetune(*argv, "--parallel", "2")
    assert code == 0, err
    assert err.splitlines()[0] == "applied --parallel 2 (spec.limits.maxParallelTrials 2, was 1)"
    spec = yaml.safe_load((out_dir / "tuningjob.yaml").read_text())["spec"]
    assert spec["limits"]["maxParallelTrials"] == 2

    body = yaml.safe_load(path.read_text())
    body["spec"]["limits"]["maxTrials"] = 3
    write_manifest(path, body)
    code, _, err = kubetune(*argv, "--parallel", "3")
    assert code == 0, err
    assert err.splitlines()[0] == (
        "applied --parallel 3 (spec.limits.maxParallelTrials 3, was 2) and the manifest's "
        "changes to spec.limits.maxTrials"
    )
    # Without --parallel the manifest's maxParallelTrials applies again: its change.
    code, _, err = kubetune(*argv)
    assert code == 0, err
    assert err.splitlines()[0] == (
        "applied the manifest's changes to spec.limits.maxParallelTrials"
    )

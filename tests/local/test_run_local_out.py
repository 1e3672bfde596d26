"""`kubetune run --local`: what it refuses before it writes anything to --out, and what a
resume says it changed (real trial processes, as in test_run_local)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.local.test_run_local import (
    kubetune,
    manifest,
    status,
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

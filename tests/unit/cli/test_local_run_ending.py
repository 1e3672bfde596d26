"""The one line `kubetune run --local` ends with when its loop is left by an error (the
slow tests in tests/local end real runs; here the loop is replaced)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest
from kubetune.cli import local_run
from kubetune.cli import main as cli_main
from support.cli_data import write_directory
from synthetic_tuning_job import synthetic_tuning_job


class Stopped:
    """A LocalKube with nothing running, its directory `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.hurry = directory, False

    def running(self) -> list[str]:
        return []

    def stop_all(self) -> None:
        pass


@pytest.mark.parametrize(
    ("raised", "problem"),
    [
        (BrokenPipeError(), "the output was closed (a pipe's reader ended)"),
        (RuntimeError("boom"), "RuntimeError('boom')"),
    ],
)
def test_an_error_without_its_own_fix_is_told_to_resume_in_a_sentence_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raised: Exception, problem: str
) -> None:
    def loop(*_: Any) -> int:
        raise raised

    monkeypatch.setattr(local_run, "_loop", loop)
    directory = write_directory(synthetic_tuning_job("local", 2), tmp_path / "run")
    err = io.StringIO()
    ctx = cli_main.Context(argparse.Namespace(), io.StringIO(), err)
    kube: Any = Stopped(directory)
    assert local_run._run(ctx, kube, "local", judges_curves=False) == cli_main.EXIT_ERROR
    assert err.getvalue() == (
        f"error: {problem}; run the same command to resume (running trials stopped and "
        "recorded as interrupted)\n"
    )

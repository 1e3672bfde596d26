"""The `--image` mapping a local run keeps in DIR/images.yaml: saved only once a trainer
has started with it (QA63 M6), with its relative paths made absolute, so that a resume or
a warm-started child runs it from any directory (QA63 M5)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubetune.cli.local_run import anchored, started_from

from tests.local.test_run_local import (
    FAKE_TRAINER,
    kubetune,
    manifest,
    status,
    warm_started_child,
    write_manifest,
)
from tests.local.test_run_local_interrupt import interrupt_at_launch

pytestmark = pytest.mark.slow

BROKEN = "/nonexistent/python3 train.py"


def images(directory: Path) -> Any:
    return yaml.safe_load((directory / "images.yaml").read_text())


def without_command(tmp_path: Path, **extra: Any) -> Path:
    """A manifest whose container has no command: its image fake:1 needs --image."""
    limits = {"maxTrials": 1, "maxParallelTrials": 1}
    return manifest(tmp_path, container={"command": None}, limits=limits, **extra)


def test_an_image_command_that_does_not_start_is_not_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume given an --image that cannot start keeps the command saved before, so the
    same command without --image resumes with the trainer that ran (it used to run the
    broken one, saved); a first run whose command cannot start saves none (a child would
    take it)."""
    path = without_command(tmp_path)
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    good = f"{sys.executable} {FAKE_TRAINER}"
    # Interrupted as its trial starts: the command that started it is saved all the same.
    interrupt_at_launch(monkeypatch)
    assert kubetune(*argv, "--image", f"fake:1={good}")[0] == 130
    monkeypatch.undo()
    assert images(out_dir) == {"fake:1": good}

    code, _, err = kubetune(*argv, "--image", f"fake:1={BROKEN}")
    assert code == 1, err
    assert "cannot start the command '/nonexistent/python3'" in err, err
    assert "replaces" not in err, err  # it did not
    assert images(out_dir) == {"fake:1": good}

    code, _, err = kubetune(*argv)
    assert code == 0, err
    assert "resumed; started again: local-001\n" in err, err
    assert status(out_dir)["phase"] == "Completed"

    other = tmp_path / "other"
    code, out, err = kubetune(
        "run", "--local", str(path), "--out", str(other), "--image", f"fake:1={BROKEN}"
    )
    assert code == 1 and "InvalidSpec" in out, (out, err)
    assert not (other / "images.yaml").exists()


def test_a_command_given_again_replaces_the_saved_one_once_a_trainer_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = without_command(tmp_path)
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    first, second = f"{sys.executable} {FAKE_TRAINER}", f"{sys.executable} -u {FAKE_TRAINER}"
    interrupt_at_launch(monkeypatch)
    assert kubetune(*argv, "--image", f"fake:1={first}")[0] == 130
    monkeypatch.undo()
    code, _, err = kubetune(*argv, "--image", f"fake:1={second}")
    assert code == 0, err
    assert (
        f"resumed; started again: local-001\n--image fake:1='{second}' replaces the command "
        f"saved in {out_dir / 'images.yaml'} ('{first}')\n"
    ) in err, err
    assert images(out_dir) == {"fake:1": second}
    # The run has ended: nothing starts with a third, which replaces nothing.
    code, _, err = kubetune(*argv, "--image", f"fake:1={first}")
    assert code == 0 and "replaces" not in err, err
    assert images(out_dir) == {"fake:1": second}


def trainer_project(project: Path) -> str:
    """`project` with bin/train (a program) and trainer.py (the fake trainer), and the
    command that runs them, in paths relative to `project`."""
    (project / "bin").mkdir(parents=True)
    program = project / "bin" / "train"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    program.chmod(0o755)
    shutil.copy(FAKE_TRAINER, project / "trainer.py")
    return "bin/train trainer.py"


def test_a_child_runs_its_parents_command_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent ran `--image fake:1='bin/train trainer.py'` in its project; its child,
    run from elsewhere, takes that command and runs it (it used to fail InvalidSpec: no
    bin/train there)."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    command = trainer_project(project)
    elsewhere.mkdir()
    path = without_command(tmp_path)
    parent_dir = tmp_path / "runs" / "local"
    monkeypatch.chdir(project)
    code, _, err = kubetune(
        "run", "--local", str(path), "--out", str(parent_dir), "--image", f"fake:1={command}"
    )
    assert code == 0, err

    monkeypatch.chdir(elsewhere)
    child_path = warm_started_child(path, {"maxTrials": 1, "maxParallelTrials": 1})
    child_dir = tmp_path / "runs" / "child"
    code, _, err = kubetune(
        "run", "--local", str(child_path), "--out", str(child_dir), "--parent", str(parent_dir)
    )
    assert code == 0, err
    assert [t["phase"] for t in status(child_dir)["trials"]] == ["Succeeded"]
    absolute = f"{project}/bin/train {project}/trainer.py"  # as the parent saved it
    assert images(parent_dir) == images(child_dir) == {"fake:1": absolute}


def test_a_parents_command_that_cannot_start_here_is_refused_naming_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parent's images.yaml saved with a relative program (before they were made
    absolute), read from another directory: refused before anything runs, with the fix."""
    project = tmp_path / "project"
    command = trainer_project(project)
    path = without_command(tmp_path)
    parent_dir = tmp_path / "runs" / "local"
    monkeypatch.chdir(project)
    assert (
        kubetune(
            "run", "--local", str(path), "--out", str(parent_dir), "--image", f"fake:1={command}"
        )[0]
        == 0
    )
    (parent_dir / "images.yaml").write_text(yaml.safe_dump({"fake:1": command}))
    monkeypatch.chdir(tmp_path)
    child_path = warm_started_child(path, {"maxTrials": 1, "maxParallelTrials": 1})
    child_dir = tmp_path / "runs" / "child"
    code, _, err = kubetune(
        "run", "--local", str(child_path), "--out", str(child_dir), "--parent", str(parent_dir)
    )
    assert code == 1, err
    assert err == (
        f"error: the command 'bin/train trainer.py' of image 'fake:1', taken from the "
        f"warm-start parent's {parent_dir / 'images.yaml'}, cannot start here: 'bin/train' "
        "is not an executable file here; give the command with --image fake:1=CMD\n"
    )
    assert not child_dir.exists()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("bin/train trainer.py --lr 0.1", "{p}/bin/train {p}/trainer.py --lr 0.1"),
        ("./bin/train data", "{p}/bin/train {p}/data"),
        ("python -m pkg.train --out=data", "python -m pkg.train --out=data"),
        ("python missing.py", "python missing.py"),
        ("/usr/bin/env python 'a b'", "/usr/bin/env python 'a b'"),
    ],
)
def test_anchored_makes_the_relative_paths_of_a_command_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, expected: str
) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "trainer.py").touch()
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    assert anchored(command) == expected.format(p=os.fspath(tmp_path))


def test_an_image_no_container_runs_is_refused_naming_it_and_the_manifests(
    tmp_path: Path,
) -> None:
    """QA76 M5: an --image with a typo in its tag (or for another container) was silently
    not used; the error then said to give --image, as if none had been."""
    path = without_command(tmp_path)
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    code, out, err = kubetune(*argv, "--image", "fake:2=python3 x.py")
    assert (code, out) == (1, ""), err
    assert err == (
        "error: --image fake:2: matches no container image of the manifest; a local run runs "
        "container 'trainer', image fake:1: give --image fake:1=CMD\n"
    )
    assert not out_dir.exists()
    good = f"fake:1={sys.executable} {FAKE_TRAINER}"
    code, _, err = kubetune(*argv, "--image", good, "--image", "fake=python3 x.py")
    assert code == 1 and err.startswith("error: --image fake: matches no container image"), err
    sidecar = {"name": "proxy", "image": "envoy:1", "command": ["envoy"]}
    body = yaml.safe_load(path.read_text())
    body["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"].append(sidecar)
    write_manifest(path, body)
    code, _, err = kubetune(*argv, "--image", good, "--image", "envoy:1=envoy")
    assert code == 1, err
    assert err == (
        "error: --image envoy:1: is the image of container 'proxy', which a local run does not "
        "run; a local run runs container 'trainer', image fake:1: give --image fake:1=CMD (the "
        "manifest's other images: envoy:1)\n"
    )


def test_trials_run_in_the_directory_the_run_was_first_started_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA76 M6: a container `command` with a relative script (`python3 train.py`, as in an
    image whose WORKDIR holds it) ran from the shell's directory: a resume from another
    one failed every trial, and the run ended Failed."""
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(FAKE_TRAINER, source / "train.py")
    path = manifest(tmp_path, container={"command": [sys.executable, "train.py"]})
    out_dir = tmp_path / "run"
    argv = ["run", "--local", str(path), "--out", str(out_dir)]
    monkeypatch.chdir(source)
    interrupt_at_launch(monkeypatch)
    assert kubetune(*argv)[0] == 130
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)  # resumed from elsewhere
    code, _, err = kubetune(*argv)
    assert code == 0, err
    assert {t["phase"] for t in status(out_dir)["trials"]} == {"Succeeded"}
    assert (out_dir / "workdir").read_text() == f"{source}\n"


def test_a_recorded_start_directory_that_is_not_here_gives_way_to_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run directory copied from another machine names a directory that is not here:
    # its trials run where it is resumed from (they would all fail to start there).
    run, here = tmp_path / "run", tmp_path / "here"
    run.mkdir()
    here.mkdir()
    monkeypatch.chdir(here)
    (run / "workdir").write_text(f"{tmp_path / 'elsewhere'}\n")
    assert started_from(run) == here
    assert (run / "workdir").read_text() == f"{tmp_path / 'elsewhere'}\n"  # kept as it was
    (run / "workdir").write_text(f"{tmp_path}\n")
    assert started_from(run) == tmp_path

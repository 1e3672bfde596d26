"""trainer-image/prepare_cifar10.py on a small synthetic archive in the layout of the
official cifar-10-python.tar.gz (no download): the trainer then trains on what it wrote."""

from __future__ import annotations

import hashlib
import io
import pickle
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from trainer.test_train_script import (  # the trainer's own test helpers and fixtures
    ROOT,
    TRAIN_SCRIPT,
    TRAINER_PYTHON,
    Run,
    assert_trained,
    write_cifar_batch,
)

PREPARE = ROOT / "trainer-image" / "prepare_cifar10.py"
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def synthetic_archive(path: Path, names: list[str], extra: dict[str, bytes] | None = None) -> str:
    """A .tar.gz holding cifar-10-batches-py/NAME batches (8 images each); its MD5."""
    folder = path.parent / "cifar-10-batches-py"
    folder.mkdir(exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for seed, name in enumerate(names):
            write_cifar_batch(folder / name, 8, seed=seed)
            tar.add(folder / name, arcname=f"cifar-10-batches-py/{name}")
        meta = pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2)
        for arcname, data in {"cifar-10-batches-py/batches.meta": meta, **(extra or {})}.items():
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def trainer_venv(script: Path, *args: str) -> Run:
    """`script` run by .venv-trainer's Python, as the trainer image runs it."""
    if not TRAINER_PYTHON.exists():
        pytest.fail(f"{TRAINER_PYTHON} is missing: run `make trainer-venv`")
    done = subprocess.run(
        [str(TRAINER_PYTHON), str(script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={"PYTHONSAFEPATH": "1"},
    )
    return Run(done.returncode, done.stdout, done.stderr)


def prepare(*args: str) -> Run:
    return trainer_venv(PREPARE, *args)


def test_prepared_volume_trains(tmp_path: Path) -> None:
    archive = tmp_path / "src" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    md5 = synthetic_archive(archive, BATCHES, extra={"../escape": b"x"})
    volume = tmp_path / "volume"
    run = prepare("--out", str(volume), "--archive", str(archive), "--md5", md5)
    assert run.returncode == 0, run.stderr
    assert f"40 training and 8 test images in {volume}" in run.stdout
    assert sorted(p.name for p in volume.iterdir()) == sorted([*BATCHES, "batches.meta"])
    assert not (tmp_path / "escape").exists()  # only the expected members are written
    written = pickle.loads((volume / "data_batch_3").read_bytes(), encoding="bytes")
    assert written[b"data"].dtype == np.uint8 and written[b"data"].shape == (8, 3072)

    trained = trainer_venv(
        TRAIN_SCRIPT, "--dataset=cifar10", f"--data_dir={volume}", "--model=small-cnn", "--epochs=1"
    )
    assert_trained(trained, epochs=1)
    assert "40 training, 8 validation images of shape (3, 32, 32)" in trained.stdout

    again = prepare("--out", str(volume), "--archive", str(tmp_path / "absent.tar.gz"))
    assert again.returncode == 0 and again.stdout.startswith("already there: "), again.stderr


def test_a_wrong_archive_is_a_one_line_error(tmp_path: Path) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    md5 = synthetic_archive(archive, BATCHES[:-1])  # no test_batch
    out = str(tmp_path / "volume")
    run = prepare("--out", out, "--archive", str(archive))  # the published MD5
    assert run.returncode == 2
    assert f"MD5 {md5} is not the published c58f30108f718f92721af3b95e74349a" in run.stderr
    run = prepare("--out", out, "--archive", str(archive), "--md5", md5)
    assert run.returncode == 2
    assert "has no cifar-10-batches-py/test_batch" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1

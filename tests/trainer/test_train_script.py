"""The MXNet trainer (trainer-image/train.py), run for real as a subprocess.

It runs under .venv-trainer's Python (MXNet 1.9.1 on the CPU, numpy<1.24; `make
trainer-venv`), exactly as the local cluster's node agent runs the trainer image's
entrypoint. Every run is on small data: scikit-learn's digits or a few fake CIFAR-10
batches written in the real python-pickle format.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAINER_PYTHON = ROOT / ".venv-trainer" / "bin" / "python"
TRAIN_SCRIPT = ROOT / "trainer-image" / "train.py"
# The objective regex of the tuning example, used verbatim.
OBJECTIVE_REGEX = r"validation: accuracy=([0-9\.]+)"
EPOCH_LINE = re.compile(
    r"^epoch (\d+) train: loss=(\S+) validation: accuracy=([0-9.]+) images/sec=([0-9.]+)$"
)
# Environment variables through which the trainer takes hyperparameters or data paths;
# a developer's shell must not leak them into a run.
TRAINER_ENV = ("KUBETUNE_HYPERPARAMETERS", "SM_INPUT_CONFIG_DIR", "SM_CHANNEL_TRAINING")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def accuracies(self) -> list[float]:
        return [float(match) for match in re.findall(OBJECTIVE_REGEX, self.stdout)]

    def epoch_lines(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("epoch ")]

    def hyperparameters(self) -> dict[str, str]:
        """The values the trainer says it uses, from its 'hyperparameters: ...' line."""
        line = next(x for x in self.stdout.splitlines() if x.startswith("hyperparameters: "))
        pairs = line.removeprefix("hyperparameters: ").split(" (given:")[0].split()
        return dict(pair.split("=", 1) for pair in pairs)


@pytest.fixture(scope="session")
def trainer_python() -> Path:
    if not TRAINER_PYTHON.exists():
        pytest.fail(f"{TRAINER_PYTHON} is missing: run `make trainer-venv` (part of `make test`)")
    return TRAINER_PYTHON


@pytest.fixture
def run_trainer(trainer_python: Path, tmp_path: Path):
    empty_config = tmp_path / "no-sagemaker-config"
    empty_config.mkdir()

    def run(*args: str, env: dict[str, str] | None = None) -> Run:
        environ = {k: v for k, v in os.environ.items() if k not in TRAINER_ENV}
        # Never read a real /opt/ml/input/config of the machine running the tests.
        environ["SM_INPUT_CONFIG_DIR"] = str(empty_config)
        environ["PYTHONSAFEPATH"] = "1"
        environ.update(env or {})
        done = subprocess.run(
            [str(trainer_python), str(TRAIN_SCRIPT), *args],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run


def assert_trained(run: Run, epochs: int) -> list[float]:
    """The run succeeded and printed `epochs` epoch lines that the objective regex reads."""
    assert run.returncode == 0, run.stderr
    lines = run.epoch_lines()
    assert len(lines) == epochs, run.stdout
    for number, line in enumerate(lines, start=1):
        match = EPOCH_LINE.match(line)
        assert match, f"epoch line has an unexpected format: {line!r}"
        assert int(match.group(1)) == number
        # The objective regex captures exactly the accuracy, not the images/sec after it.
        assert re.search(OBJECTIVE_REGEX, line).group(1) == match.group(3)
    accuracies = run.accuracies()
    assert len(accuracies) == epochs, "a non-epoch line matched the objective regex"
    assert all(0.0 <= a <= 1.0 for a in accuracies)
    return accuracies


# ------------------------------------------------------------------------------- digits


def test_digits_two_epochs_print_parsable_lines_and_learn(run_trainer) -> None:
    run = run_trainer("--dataset=digits", "--epochs=2", "--learning_rate=0.1", "--momentum=0.9")
    accuracies = assert_trained(run, epochs=2)
    assert run.stdout.splitlines()[0].startswith("kubetune trainer: running on ")
    assert "cpu" in run.stdout.splitlines()[0] or "gpu" in run.stdout.splitlines()[0]
    assert accuracies[-1] > 0.3  # 10 classes: chance is 0.1
    # The last line: the run's CPU time, which `make reproduce` records as a metric.
    cpu = re.fullmatch(r"trainer: cpu_seconds=([0-9.]+)", run.stdout.splitlines()[-1])
    assert cpu and float(cpu.group(1)) > 0, run.stdout.splitlines()[-1]


def test_different_hyperparameters_give_different_accuracies(run_trainer) -> None:
    common = ("--dataset=digits", "--epochs=2")
    good = assert_trained(run_trainer(*common, "--learning_rate=0.1", "--momentum=0.9"), 2)
    poor = assert_trained(run_trainer(*common, "--learning_rate=0.0001", "--momentum=0"), 2)
    assert good[-1] > poor[-1] + 0.2, (good, poor)
    assert poor[-1] < 0.3, poor
    # The same hyperparameters and seed give the same result: the differences above come
    # from the hyperparameters, not from noise.
    again = assert_trained(run_trainer(*common, "--learning-rate", "0.1", "--momentum=0.9"), 2)
    assert again == good


def test_cv_folds_scores_every_digit_once_over_k_models(run_trainer) -> None:
    common = ("--dataset=digits", "--model=mlp", "--epochs=2", "--learning_rate=0.3")
    run = run_trainer(*common, "--cv_folds=5")
    accuracies = assert_trained(run, epochs=2)
    assert "5-fold cross-validation" in run.stdout, run.stdout
    assert "1437 training, 360 validation images of shape (1, 8, 8) per fold (5 folds)" in (
        run.stdout
    )
    # The accuracy over all 1797 images: a count of right answers divided by 1797.
    assert abs(accuracies[-1] * 1797 - round(accuracies[-1] * 1797)) < 0.1, accuracies
    assert accuracies[-1] > 0.5
    assert assert_trained(run_trainer(*common, "--cv_folds=5"), 2) == accuracies  # seeded
    # The default is the fixed 80/20 split, scored differently.
    split = run_trainer(*common)
    assert "fixed 80/20 split); 1438 training, 359 validation" in split.stdout, split.stdout
    assert assert_trained(split, 2) != accuracies


def test_a_batch_larger_than_the_data_is_gradient_descent(run_trainer) -> None:
    # `make reproduce`'s task: batch 2048 > a fold's 1,438 images, one step an epoch.
    common = (
        *("--dataset=digits", "--model=mlp", "--epochs=20", "--batch_size=2048"),
        *("--cv_folds=5", "--learning_rate=0.5"),
    )
    accuracies = assert_trained(run_trainer(*common, "--momentum=0.9"), epochs=20)
    assert accuracies[-1] > 0.9, accuracies  # 0.9549 when measured
    # One step an epoch learns slowly: the same step size needs momentum to get far.
    slow = assert_trained(run_trainer(*common, "--momentum=0"), epochs=20)
    assert slow[-1] < accuracies[-1] - 0.05, (slow, accuracies)


def test_cv_folds_is_for_digits_only(run_trainer) -> None:
    run = run_trainer("--dataset=synthetic-cifar", "--cv_folds=5")
    assert_input_error(run, "cv_folds=5", "dataset=digits only", "dataset=synthetic-cifar")
    assert "kubetune trainer: running on" not in run.stdout  # refused before MXNet loads


def test_hyperparameters_from_the_environment_json(run_trainer) -> None:
    env = {
        "KUBETUNE_HYPERPARAMETERS": json.dumps(
            {"dataset": "digits", "epochs": 1, "learning_rate": "0.0003", "momentum": 0.5}
        )
    }
    run = run_trainer(env=env)
    assert_trained(run, epochs=1)
    used = run.hyperparameters()
    assert (used["learning_rate"], used["momentum"], used["dataset"]) == ("0.0003", "0.5", "digits")


def test_hyperparameters_from_the_sagemaker_file(run_trainer, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    # As SageMaker writes it: every value a string, the SDK's JSON-quoted strings, and keys
    # of its own that are not hyperparameters of the script.
    (config / "hyperparameters.json").write_text(
        json.dumps(
            {
                "dataset": '"digits"',
                "epochs": "1",
                "learning_rate": "0.02",
                "sagemaker_program": "train.py",
                "_tuning_objective_metric": "validation:accuracy",
            }
        )
    )
    run = run_trainer(env={"SM_INPUT_CONFIG_DIR": str(config)})
    assert_trained(run, epochs=1)
    assert run.hyperparameters()["learning_rate"] == "0.02"


def test_command_line_beats_environment_json_beats_sagemaker_file(
    run_trainer, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "hyperparameters.json").write_text(
        json.dumps({"dataset": "digits", "epochs": "3", "learning_rate": "0.5", "wd": "0.01"})
    )
    env = {
        "SM_INPUT_CONFIG_DIR": str(config),
        "KUBETUNE_HYPERPARAMETERS": json.dumps({"epochs": 2, "learning_rate": 0.2}),
    }
    run = run_trainer("--epochs=1", "--max_train_samples=256", env=env)
    assert_trained(run, epochs=1)  # the command line's epochs, not 2 or 3
    used = run.hyperparameters()
    assert used["learning_rate"] == "0.2"  # environment over file
    assert used["wd"] == "0.01"  # only the file sets it
    assert used["dataset"] == "digits"


def test_help_states_the_precedence(run_trainer) -> None:
    run = run_trainer("--help")
    assert run.returncode == 0
    text = run.stdout
    order = [
        text.find("--name=value"),
        text.find("$KUBETUNE_HYPERPARAMETERS"),
        text.find("hyperparameters.json"),
    ]
    assert -1 not in order and order == sorted(order), text
    for name in (
        "--learning_rate",
        "--momentum",
        "--wd",
        "--batch_size",
        "--epochs",
        "--dataset",
        "--data_dir",
        "--model",
        "--seed",
        "--num_gpus",
        "--cv_folds",
    ):
        assert name in text


# ------------------------------------------------------------------------------- errors


def assert_input_error(run: Run, *fragments: str) -> None:
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in run.stderr, run.stderr
    assert not run.accuracies()


@pytest.mark.parametrize(
    ("argument", "fragments"),
    [
        ("--learning_rate=-1", ("learning_rate='-1'", "a number > 0")),
        ("--learning_rate=fast", ("learning_rate='fast'", "a number > 0")),
        ("--momentum=1", ("momentum='1'", "[0, 1)")),
        ("--wd=-0.1", ("wd='-0.1'", ">= 0")),
        ("--batch_size=0", ("batch_size='0'", "integer >= 1")),
        ("--epochs=2.5", ("epochs='2.5'", "integer >= 1")),
        ("--dataset=imagenet", ("dataset='imagenet'", "cifar10, digits")),
        ("--cv_folds=1", ("cv_folds='1'", "0 or an integer >= 2")),
        ("--learning_rat=0.1", ("'learning_rat'", "did you mean 'learning_rate'")),
        ("--epochs", ("--epochs", "expected one argument")),
        ("stray", ("'stray'", "--name=value")),
    ],
)
def test_bad_command_line_hyperparameter_is_a_one_line_error(
    run_trainer, argument: str, fragments: tuple[str, ...]
) -> None:
    assert_input_error(run_trainer("--dataset=digits", argument), *fragments)


def test_bad_environment_json_names_the_variable(run_trainer) -> None:
    run = run_trainer(env={"KUBETUNE_HYPERPARAMETERS": "learning_rate=0.1"})
    assert_input_error(run, "KUBETUNE_HYPERPARAMETERS is not valid JSON")
    run = run_trainer(env={"KUBETUNE_HYPERPARAMETERS": '{"dataset": "digits", "lr": 0.1}'})
    assert_input_error(run, "'lr'", "$KUBETUNE_HYPERPARAMETERS")
    run = run_trainer(env={"KUBETUNE_HYPERPARAMETERS": '{"dataset": "digits", "epochs": true}'})
    assert_input_error(run, "epochs=True", "from $KUBETUNE_HYPERPARAMETERS")


def test_unknown_key_in_sagemaker_file_names_the_file(run_trainer, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    path = config / "hyperparameters.json"
    path.write_text(json.dumps({"dataset": "digits", "momentom": "0.9"}))
    run = run_trainer(env={"SM_INPUT_CONFIG_DIR": str(config)})
    assert_input_error(run, "'momentom'", str(path), "did you mean 'momentum'")


def test_model_and_gpu_count_errors_after_mxnet_starts(run_trainer) -> None:
    assert_input_error(run_trainer("--dataset=digits", "--model=resnet999"), "model='resnet999'")
    assert_input_error(run_trainer("--dataset=digits", "--num_gpus=99"), "num_gpus=99")


def test_missing_dataset_directory_is_a_clear_error(run_trainer, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert_input_error(
        run_trainer("--dataset=cifar10", f"--data_dir={missing}"),
        f"dataset directory {missing} does not exist",
        "use dataset=digits",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_input_error(
        run_trainer(f"--data_dir={empty}"),  # cifar10 is the default dataset
        f"dataset directory {empty} has no data_batch_1",
        "mount the CIFAR-10 python batches there",
    )
    write_cifar_batch(empty / "data_batch_1", 8, seed=1)
    assert_input_error(run_trainer(f"--data_dir={empty}"), "has no test_batch")


def test_data_dir_defaults_to_the_sagemaker_channel(run_trainer, tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    run = run_trainer(env={"SM_CHANNEL_TRAINING": str(channel)})
    assert_input_error(run, f"dataset directory {channel} does not exist")


# ------------------------------------------------------------------------------- CIFAR-10


def write_cifar_batch(path: Path, images: int, seed: int) -> None:
    """A batch as CIFAR-10's python version stores it: a pickled dict of bytes keys."""
    rng = np.random.default_rng(seed)
    batch = {
        b"batch_label": path.name.encode(),
        b"labels": rng.integers(0, 10, images).tolist(),
        b"data": rng.integers(0, 256, (images, 3 * 32 * 32), dtype=np.uint8),
        b"filenames": [f"image_{i}.png".encode() for i in range(images)],
    }
    with path.open("wb") as file:
        pickle.dump(batch, file, protocol=2)  # the protocol of the published files


@pytest.fixture
def fake_cifar(tmp_path: Path) -> Path:
    directory = tmp_path / "cifar"
    directory.mkdir()
    write_cifar_batch(directory / "data_batch_1", 48, seed=1)
    write_cifar_batch(directory / "data_batch_2", 48, seed=2)
    write_cifar_batch(directory / "test_batch", 32, seed=3)
    return directory


def test_fake_cifar10_batches_train_resnet34(run_trainer, fake_cifar: Path) -> None:
    run = run_trainer(f"--data_dir={fake_cifar}", "--epochs=1", "--batch_size=16")
    assert_trained(run, epochs=1)
    assert "model resnet34_v1" in run.stdout
    assert "96 training, 32 validation images of shape (3, 32, 32)" in run.stdout


def test_cifar10_in_the_extracted_archive_folder(run_trainer, fake_cifar: Path) -> None:
    # The official archive unpacks into cifar-10-batches-py/; mounting its parent works too.
    parent = fake_cifar.parent / "mounted"
    parent.mkdir()
    fake_cifar.rename(parent / "cifar-10-batches-py")
    run = run_trainer(
        "--dataset=cifar10",
        f"--data_dir={parent}",
        "--model=small-cnn",
        "--epochs=2",
        "--batch_size=32",
    )
    assert_trained(run, epochs=2)


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_in_a_batch_is_refused(run_trainer, fake_cifar: Path) -> None:
    marker = fake_cifar / "pwned"
    exploit = _Exploit()
    exploit.marker = marker
    (fake_cifar / "data_batch_1").write_bytes(pickle.dumps({b"data": exploit}, protocol=2))
    run = run_trainer(f"--data_dir={fake_cifar}", "--model=small-cnn", "--epochs=1")
    assert_input_error(
        run, f"{fake_cifar / 'data_batch_1'} is not a CIFAR-10 python batch", "refusing to load"
    )
    assert not marker.exists()


def test_batch_of_the_wrong_shape_is_refused(run_trainer, fake_cifar: Path) -> None:
    path = fake_cifar / "test_batch"
    with path.open("wb") as file:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, file)
    run = run_trainer(f"--data_dir={fake_cifar}", "--model=small-cnn", "--epochs=1")
    assert_input_error(run, str(path), "uint8 of shape (N, 3072)")

"""The CPU trainer image (trainer-image/cpu.Dockerfile, built by `make images`) started
under podman as a pod's restricted security context would run it: its own non-root user,
read-only root filesystem, no capabilities, no network. One short trial on scikit-learn's
digits must print the epoch lines the tuning example's objective regex reads."""

from __future__ import annotations

import json
import re

import pytest
from support.podman_cli import built_image, podman

# The objective regex of the tuning example, used verbatim.
OBJECTIVE_REGEX = r"validation: accuracy=([0-9\.]+)"
RESTRICTED = ("--network=none", "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges")


@pytest.fixture(scope="module")
def trainer_image() -> str:
    return built_image("kubetune/mxnet-trainer")


def test_image_runs_as_non_root_user_with_the_trainer_entrypoint(trainer_image: str) -> None:
    (config,) = json.loads(podman("image", "inspect", trainer_image).stdout)
    assert config["Config"]["User"] == "1000:1000"
    assert config["Config"]["Entrypoint"] == ["python3", "/opt/kubetune/train.py"]


def test_digits_trial_prints_its_objective(trainer_image: str) -> None:
    done = podman(
        "run", "--rm", *RESTRICTED,
        # Hyperparameters as the operator passes them: appended arguments and the JSON
        # environment variable (the arguments win).
        "--env", 'KUBETUNE_HYPERPARAMETERS={"momentum": 0.9, "learning_rate": 0.01}',
        trainer_image, "--dataset=digits", "--epochs=6", "--learning_rate=0.1",
        timeout=300,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[0].startswith("kubetune trainer: running on cpu"), done.stdout
    hyperparameters = next(x for x in lines if x.startswith("hyperparameters: "))
    assert "learning_rate=0.1 " in hyperparameters and "momentum=0.9 " in hyperparameters
    accuracies = [float(v) for v in re.findall(OBJECTIVE_REGEX, done.stdout)]
    assert len(accuracies) == 6, done.stdout
    # Chance is 0.1; six epochs of the small CNN at 0.1/0.9 reach about 0.9 (README).
    assert 0.5 < accuracies[-1] <= 1.0, done.stdout


def test_bad_hyperparameter_exits_2_naming_it(trainer_image: str) -> None:
    done = podman("run", "--rm", *RESTRICTED, trainer_image, "--momentum=1", check=False)
    assert done.returncode == 2, done
    assert "error: hyperparameter momentum='1'" in done.stderr

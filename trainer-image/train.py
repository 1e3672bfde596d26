"""kubetune's MXNet trainer: one training run of a tuning trial.

Trains an image classifier with Gluon and SGD and prints, once per epoch,

    epoch 3 train: loss=0.4213 validation: accuracy=0.9312 images/sec=1520.3

so a TuningJob's objective regex `validation: accuracy=([0-9\\.]+)` reads the accuracy,
and at the end `trainer: cpu_seconds=12.34` (this process's CPU time, MXNet's start-up and
every thread included), which a metric definition can record beside the objective.

Datasets: `cifar10` (the real workload, python-pickle batches from a mounted directory,
ResNet-34 from the Gluon model zoo as in the seed example), `digits` (scikit-learn's
bundled 8x8 digits, a small CNN: a full run takes seconds on a CPU) and `synthetic-cifar`
(random CIFAR-shaped images, for measuring images/second on a GPU).

Hyperparameters arrive as `--name=value` arguments, as a JSON object in the environment
variable KUBETUNE_HYPERPARAMETERS, or in SageMaker's hyperparameters.json; `--help` lists
them. Input errors end the run with exit status 2 and one line on stderr naming the
hyperparameter or file, the value and what is expected; so does a GPU its MXNet has no
kernels for (Hopper and later, for the GPU image's MXNet 1.9.1).

Runs as `python3 train.py [--name=value ...]`; MXNet is imported only after the
hyperparameters are valid, so a typo fails in milliseconds, not after a GPU warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import difflib
import json
import math
import os
import pickle
import struct
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ENV_HYPERPARAMETERS = "KUBETUNE_HYPERPARAMETERS"
ENV_SAGEMAKER_CONFIG_DIR = "SM_INPUT_CONFIG_DIR"
ENV_SAGEMAKER_TRAINING_CHANNEL = "SM_CHANNEL_TRAINING"
DEFAULT_SAGEMAKER_CONFIG_DIR = "/opt/ml/input/config"
DEFAULT_DATA_DIR = "/opt/ml/input/data/training"
EXIT_INPUT_ERROR = 2

DATASETS = ("cifar10", "digits", "synthetic-cifar")
DEFAULT_MODEL = {"cifar10": "resnet34_v1", "synthetic-cifar": "resnet34_v1", "digits": "small-cnn"}
OWN_MODELS = ("small-cnn", "mlp")
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
# Per-channel mean and standard deviation of the CIFAR-10 training images.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
# The digits split is fixed, whatever the seed, so every trial of a tuning job is scored
# on the same validation images and objectives are comparable.
DIGITS_SPLIT_SEED = 0
DIGITS_VALIDATION_FRACTION = 0.2


class InputError(Exception):
    """A user mistake (hyperparameter, data): reported as one line, exit status 2."""


# --------------------------------------------------------------------------- hyperparameters


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    parse: Callable[[Any], Any]  # raises ValueError when the value has the wrong type
    valid: Callable[[Any], bool]
    expected: str  # completes "must be ..."
    default: Any  # None: decided at run time (see help)
    help: str


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _integer(value: Any) -> int:
    number = _number(value)
    if not number.is_integer():
        raise ValueError("not an integer")
    return int(number)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


HYPERPARAMETERS: dict[str, Hyperparameter] = {
    hp.name: hp
    for hp in (
        Hyperparameter(
            "learning_rate", _number, lambda v: v > 0, "a number > 0", 0.1, "SGD learning rate"
        ),
        Hyperparameter(
            "momentum", _number, lambda v: 0 <= v < 1, "a number in [0, 1)", 0.9, "SGD momentum"
        ),
        Hyperparameter(
            "wd", _number, lambda v: v >= 0, "a number >= 0", 0.0001, "weight decay (L2)"
        ),
        Hyperparameter(
            "batch_size",
            _integer,
            lambda v: v >= 1,
            "an integer >= 1",
            128,
            "images per step, split across the GPUs",
        ),
        Hyperparameter(
            "epochs",
            _integer,
            lambda v: v >= 1,
            "an integer >= 1",
            10,
            "passes over the training images",
        ),
        Hyperparameter(
            "dataset",
            _text,
            lambda v: v in DATASETS,
            "one of " + ", ".join(DATASETS),
            "cifar10",
            "training data",
        ),
        Hyperparameter(
            "data_dir",
            _text,
            lambda v: v != "",
            "a directory path",
            None,
            f"CIFAR-10 python batches (data_batch_1..5, test_batch); default "
            f"${ENV_SAGEMAKER_TRAINING_CHANNEL} or {DEFAULT_DATA_DIR}",
        ),
        Hyperparameter(
            "model",
            _text,
            lambda v: v != "",
            "a Gluon model-zoo name (e.g. resnet34_v1) or one of " + ", ".join(OWN_MODELS),
            None,
            "network; default resnet34_v1 for CIFAR, small-cnn for digits",
        ),
        Hyperparameter(
            "seed",
            _integer,
            lambda v: 0 <= v < 2**31,
            "an integer in [0, 2^31)",
            42,
            "seed of weight initialisation and shuffling",
        ),
        Hyperparameter(
            "num_gpus",
            _integer,
            lambda v: v >= 0,
            "an integer >= 0",
            None,
            "GPUs to use; default all that MXNet sees, 0 forces the CPU",
        ),
        Hyperparameter(
            "max_train_samples",
            _integer,
            lambda v: v >= 0,
            "an integer >= 0",
            0,
            "use only the first N training images (0: all)",
        ),
        Hyperparameter(
            "cv_folds",
            _integer,
            lambda v: v == 0 or v >= 2,
            "0 or an integer >= 2",
            0,
            "dataset=digits only: score by k-fold cross-validation (k models, every image "
            "validated once, the accuracy over all folds); 0: the fixed 80/20 split",
        ),
        Hyperparameter(
            "synthetic_samples",
            _integer,
            lambda v: v >= 1,
            "an integer >= 1",
            4096,
            "training images of dataset=synthetic-cifar",
        ),
    )
}

# Keys that SageMaker and its tuner write into hyperparameters.json for their own use.
SAGEMAKER_RESERVED_PREFIXES = ("sagemaker_", "_")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"command line: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="train.py",
        description="Train an MXNet Gluon image classifier with SGD; print "
        "'epoch N train: loss=L validation: accuracy=A images/sec=R' after every epoch.",
        allow_abbrev=False,  # `--learn=0.1` must be an error, not learning_rate
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""\
where hyperparameters come from, highest precedence first:
  1. --name=value (or --name value) arguments; --name-with-dashes also works
  2. ${ENV_HYPERPARAMETERS}: a JSON object, values strings or numbers,
     e.g. {{"learning_rate": 0.05, "dataset": "digits"}}
  3. SageMaker's hyperparameters.json in ${ENV_SAGEMAKER_CONFIG_DIR}
     (default {DEFAULT_SAGEMAKER_CONFIG_DIR}); keys sagemaker_* and _* are ignored
  4. the defaults above
An unknown hyperparameter name is an error (a typo would otherwise waste a GPU run).

Uses the GPU(s) when MXNet sees one, else the CPU; the first line says which.
Exit status: 0 done, 2 invalid hyperparameter or missing/invalid data (one line on stderr).
""",
    )
    for hp in HYPERPARAMETERS.values():
        # A default of None is decided at run time; its help text says how.
        default = "" if hp.default is None else f" (default: {hp.default})"
        flags = [f"--{hp.name}"]
        if "_" in hp.name:
            flags.append(f"--{hp.name.replace('_', '-')}")
        parser.add_argument(
            *flags,
            dest=hp.name,
            metavar="VALUE",
            default=argparse.SUPPRESS,  # absent flags stay absent, so lower sources apply
            help=f"{hp.help}; {hp.expected}{default}",
        )
    return parser


def _unknown_names_error(names: list[str], source: str) -> InputError:
    hints = []
    for name in names:
        close = difflib.get_close_matches(name, HYPERPARAMETERS, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    known = ", ".join(HYPERPARAMETERS)
    return InputError(f"unknown hyperparameter {', '.join(hints)} in {source}; known: {known}")


def read_sagemaker_file(environ: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    config_dir = environ.get(ENV_SAGEMAKER_CONFIG_DIR) or DEFAULT_SAGEMAKER_CONFIG_DIR
    path = Path(config_dir) / "hyperparameters.json"
    if not path.is_file():
        return {}, str(path)
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not readable JSON ({error}); fix or remove the file") from None
    if not isinstance(values, dict):
        raise InputError(f"{path}: must hold a JSON object of hyperparameters, not {values!r}")
    cleaned = {}
    for key, value in values.items():
        if key.startswith(SAGEMAKER_RESERVED_PREFIXES):
            continue
        # The SageMaker Python SDK JSON-encodes each value, so a string arrives as '"digits"'.
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)  # noqa: PLW2901
        cleaned[key] = value
    return cleaned, str(path)


def read_env_json(environ: Mapping[str, str]) -> dict[str, Any]:
    raw = environ.get(ENV_HYPERPARAMETERS, "").strip()
    if not raw:
        return {}
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{ENV_HYPERPARAMETERS} is not valid JSON ({error}): "
            'expected an object such as {"learning_rate": 0.05}'
        ) from None
    if not isinstance(values, dict):
        raise InputError(
            f"{ENV_HYPERPARAMETERS} must be a JSON object of hyperparameters, not {raw[:80]!r}"
        )
    return values


def resolve_hyperparameters(
    argv: list[str], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge the three sources (argv > env JSON > SageMaker file > defaults) and validate.

    Returns (values, source of each value). Raises InputError naming the first problem.
    """
    parser = build_parser()
    namespace, extra = parser.parse_known_args(argv)
    if extra:
        if not extra[0].startswith("--"):
            raise InputError(
                f"unexpected argument {extra[0]!r}: hyperparameters are given as --name=value"
            )
        names = [arg.lstrip("-").split("=", 1)[0].replace("-", "_") for arg in extra]
        raise _unknown_names_error(names, f"command-line arguments {' '.join(extra)!r}")

    sagemaker_values, sagemaker_path = read_sagemaker_file(environ)
    layers = [
        (sagemaker_values, sagemaker_path),
        (read_env_json(environ), f"${ENV_HYPERPARAMETERS}"),
        (vars(namespace), "the command line"),
    ]
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for values, source in layers:  # lowest precedence first; later layers overwrite
        unknown = sorted(set(values) - set(HYPERPARAMETERS))
        if unknown:
            raise _unknown_names_error(unknown, source)
        for name, value in values.items():
            raw[name] = value
            sources[name] = source

    resolved: dict[str, Any] = {}
    for name, hp in HYPERPARAMETERS.items():
        if name not in raw:
            resolved[name] = hp.default
            sources[name] = "default"
            continue
        value = raw[name]
        try:
            parsed = hp.parse(value)
            ok = hp.valid(parsed)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InputError(
                f"hyperparameter {name}={value!r} (from {sources[name]}) is invalid: "
                f"must be {hp.expected}" + (f", e.g. --{name}={hp.default}" if hp.default else "")
            )
        resolved[name] = parsed

    if resolved["model"] is None:
        resolved["model"] = DEFAULT_MODEL[resolved["dataset"]]
        sources["model"] = f"default for dataset={resolved['dataset']}"
    if resolved["data_dir"] is None:
        resolved["data_dir"] = environ.get(ENV_SAGEMAKER_TRAINING_CHANNEL) or DEFAULT_DATA_DIR
        sources["data_dir"] = "default"
    return resolved, sources


# --------------------------------------------------------------------------- data


@dataclass
class Dataset:
    """Images as uint8 or float32 NCHW arrays (normalised per batch), labels as int32."""

    train_x: Any
    train_y: Any
    valid_x: Any
    valid_y: Any
    description: str


class _CifarUnpickler(pickle.Unpickler):
    """Loads CIFAR-10 batches but refuses any object other than numpy arrays.

    A pickle can run arbitrary code; the batches come from a mounted volume, so only the
    few globals that a pickled numpy array needs are allowed.
    """

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        # numpy 2 writes numpy._core; the trainer's numpy 1.x calls the same module numpy.core.
        if module.startswith("numpy._core"):
            module = "numpy.core" + module[len("numpy._core") :]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[Any, Any]:
    try:
        with path.open("rb") as file:
            batch = _CifarUnpickler(file, encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (
        OSError,
        pickle.UnpicklingError,
        EOFError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        ImportError,
        IndexError,
    ) as error:
        raise InputError(
            f"{path} is not a CIFAR-10 python batch (a pickled dict with b'data' and "
            f"b'labels'): {type(error).__name__}: {error}"
        ) from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise InputError(
            f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise InputError(f"{path}: b'labels' must be {data.shape[0]} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int32)


def cifar_directory(data_dir: str) -> Path:
    """The directory holding the batches: data_dir itself or its cifar-10-batches-py/."""
    root = Path(data_dir)
    fix = (
        "mount the CIFAR-10 python batches there (data_batch_1..5, test_batch) "
        "or use dataset=digits"
    )
    if not root.is_dir():
        raise InputError(f"dataset directory {root} does not exist: {fix}")
    for candidate in (root, root / "cifar-10-batches-py"):
        if (candidate / CIFAR_TRAIN_BATCHES[0]).is_file():
            if not (candidate / CIFAR_TEST_BATCH).is_file():
                raise InputError(f"dataset directory {candidate} has no {CIFAR_TEST_BATCH}: {fix}")
            return candidate
    raise InputError(f"dataset directory {root} has no {CIFAR_TRAIN_BATCHES[0]}: {fix}")


def load_cifar10(data_dir: str) -> Dataset:
    directory = cifar_directory(data_dir)
    parts = [
        _read_cifar_batch(directory / name)
        for name in CIFAR_TRAIN_BATCHES
        if (directory / name).is_file()
    ]
    valid_x, valid_y = _read_cifar_batch(directory / CIFAR_TEST_BATCH)
    train_x = np.concatenate([x for x, _ in parts])
    train_y = np.concatenate([y for _, y in parts])
    return Dataset(
        train_x,
        train_y,
        valid_x,
        valid_y,
        f"CIFAR-10 from {directory} ({len(parts)} of 5 training batches)",
    )


def load_synthetic_cifar(samples: int, seed: int) -> Dataset:
    rng = np.random.RandomState(seed)
    valid = max(samples // 8, 1)
    x = rng.randint(0, 256, size=(samples + valid, 3, 32, 32), dtype=np.uint8)
    y = rng.randint(0, 10, size=samples + valid).astype(np.int32)
    return Dataset(
        x[:samples],
        y[:samples],
        x[samples:],
        y[samples:],
        "synthetic CIFAR-shaped random images (for throughput, not accuracy)",
    )


def _digits_in_fixed_order() -> tuple[Any, Any]:
    """All 1797 digits (images scaled to [0, 1], labels), shuffled by DIGITS_SPLIT_SEED:
    the same order whatever the trainer's seed, so every trial is scored alike."""
    from sklearn.datasets import load_digits  # noqa: PLC0415 (only this dataset needs it)

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int32)
    order = np.random.RandomState(DIGITS_SPLIT_SEED).permutation(len(y))
    return x[order], y[order]


def load_digits_dataset() -> Dataset:
    x, y = _digits_in_fixed_order()
    n_valid = int(len(y) * DIGITS_VALIDATION_FRACTION)
    return Dataset(
        x[n_valid:],
        y[n_valid:],
        x[:n_valid],
        y[:n_valid],
        "scikit-learn digits (8x8 grey, fixed 80/20 split)",
    )


def digits_folds(k: int) -> list[Dataset]:
    """k-fold cross-validation of all 1797 digits: fold i validates the i-th of k parts
    of the fixed order, so every image is validated exactly once."""
    x, y = _digits_in_fixed_order()
    parts = np.array_split(np.arange(len(y)), k)
    description = f"scikit-learn digits (8x8 grey, {k}-fold cross-validation)"
    folds = []
    for i, valid in enumerate(parts):
        train = np.concatenate(parts[:i] + parts[i + 1 :])
        folds.append(Dataset(x[train], y[train], x[valid], y[valid], description))
    return folds


def check_cv_folds(hp: Mapping[str, Any]) -> None:
    if hp["cv_folds"] and hp["dataset"] != "digits":
        raise InputError(
            f"hyperparameter cv_folds={hp['cv_folds']} works with dataset=digits only, "
            f"not dataset={hp['dataset']}: remove cv_folds (or set it to 0)"
        )


def load_datasets(hp: Mapping[str, Any]) -> list[Dataset]:
    """The training/validation splits to score: one, or the k folds of cv_folds=k."""
    if hp["cv_folds"]:
        splits = digits_folds(hp["cv_folds"])
    elif hp["dataset"] == "cifar10":
        splits = [load_cifar10(hp["data_dir"])]
    elif hp["dataset"] == "synthetic-cifar":
        splits = [load_synthetic_cifar(hp["synthetic_samples"], hp["seed"])]
    else:
        splits = [load_digits_dataset()]
    if hp["max_train_samples"]:
        for data in splits:
            data.train_x = data.train_x[: hp["max_train_samples"]]
            data.train_y = data.train_y[: hp["max_train_samples"]]
    return splits


def prepare_images(x: Any, rng: Any | None) -> Any:
    """uint8 CIFAR images -> normalised float32; with rng, also flip and pad-crop (train)."""
    if x.dtype != np.uint8:  # digits: already float32 in [0, 1]
        return x
    images = x.astype(np.float32) / 255.0
    mean = np.array(CIFAR_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(CIFAR_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    images = (images - mean) / std
    if rng is not None:
        flip = rng.rand(len(images)) < 0.5
        images[flip] = images[flip, :, :, ::-1]
        padded = np.pad(images, ((0, 0), (0, 0), (4, 4), (4, 4)))
        dy, dx = rng.randint(0, 9, size=2)  # one random crop offset per batch: cheap
        images = np.ascontiguousarray(padded[:, :, dy : dy + 32, dx : dx + 32])
    return images


def batches(n: int, batch_size: int, order: Any) -> Iterator[Any]:
    """Index arrays of full batches (the remainder is dropped, unless it is everything)."""
    if n <= batch_size:
        yield order
        return
    for start in range(0, n - batch_size + 1, batch_size):
        yield order[start : start + batch_size]


# --------------------------------------------------------------------------- model + loop


def build_network(name: str) -> Any:
    from mxnet.gluon import nn  # noqa: PLC0415 (MXNet loads after validation, see train)
    from mxnet.gluon.model_zoo import vision  # noqa: PLC0415

    if name == "small-cnn":
        net = nn.HybridSequential()
        net.add(
            nn.Conv2D(32, kernel_size=3, padding=1, activation="relu"),
            nn.Conv2D(32, kernel_size=3, padding=1, activation="relu"),
            nn.MaxPool2D(pool_size=2),
            nn.Flatten(),
            nn.Dense(64, activation="relu"),
            nn.Dense(10),
        )
        return net
    if name == "mlp":
        net = nn.HybridSequential()
        net.add(nn.Flatten(), nn.Dense(64, activation="relu"), nn.Dense(10))
        return net
    try:
        return vision.get_model(name, classes=10)
    except ValueError:
        raise InputError(
            f"hyperparameter model={name!r} is not a Gluon model-zoo network nor one of "
            f"{', '.join(OWN_MODELS)}: use e.g. model=resnet34_v1"
        ) from None


# --------------------------------------------------------------------------- GPU kernels
# MXNet's CUDA kernels are compiled ahead of time for some GPU architectures, kept in its
# library's .nv_fatbin section: a GPU of compute capability X.Y runs a cubin built for
# sm_XZ with Z <= Y, or PTX of a version <= XY, which its driver compiles. The GPU image's
# mxnet-cu117 1.9.1 carries cubins for sm_50, 60, 70, 80 and 86 and no PTX, so on Hopper
# (9.0: H100, H200) and later every kernel would fail with "no kernel image is available
# for execution on the device". The trainer says so before training instead.

FATBIN_MAGIC = 0xBA55ED50
FATBIN_PTX, FATBIN_CUBIN = 1, 2
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


def kernel_architectures(library: Path) -> tuple[set[int], set[int]] | None:
    """(cubin SM versions, PTX versions) of the CUDA kernels in a shared library, e.g.
    ({50, 60, 70, 80, 86}, set()); two empty sets without CUDA kernels (a CPU build), None
    where the file cannot be read as a 64-bit ELF library. Reads the headers only (the
    kernels of a CUDA build of MXNet take half a gigabyte)."""
    try:
        with library.open("rb") as file:
            ident = file.read(64)
            if ident[:5] != b"\x7fELF\x02":
                return None
            (shoff,) = struct.unpack_from("<Q", ident, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ident, 0x3A)
            file.seek(shoff)
            table = file.read(shentsize * shnum)
            sections = [struct.unpack_from("<IIQQQQ", table, i * shentsize) for i in range(shnum)]
            _, _, _, _, names_at, names_size = sections[shstrndx]
            file.seek(names_at)
            names = file.read(names_size)
            fatbin = None
            for name_at, _, _, _, offset, size in sections:
                if names[name_at : names.index(b"\0", name_at)] == b".nv_fatbin":
                    fatbin = (offset, size)
            cubins: set[int] = set()
            ptx: set[int] = set()
            if fatbin is None:
                return cubins, ptx
            # The section is a run of fat binaries, each a header and entries (one cubin or
            # PTX each, with a header naming its kind and architecture). Anything else is
            # a format this code does not know: it cannot tell.
            position, end = fatbin[0], fatbin[0] + fatbin[1]
            while position < end:
                file.seek(position)
                magic, _, header_size, size = struct.unpack("<IHHQ", file.read(16))
                if magic != FATBIN_MAGIC:
                    return None
                entry, container_end = position + header_size, position + header_size + size
                while entry < container_end:
                    file.seek(entry)
                    header = file.read(32)
                    kind, _, entry_header_size, payload_size = struct.unpack_from("<HHIQ", header)
                    (sm,) = struct.unpack_from("<I", header, 28)
                    if entry_header_size < len(header):
                        return None
                    if kind == FATBIN_PTX:
                        ptx.add(sm)
                    elif kind == FATBIN_CUBIN:
                        cubins.add(sm)
                    entry += entry_header_size + payload_size
                position = container_end
            return cubins, ptx
    except (OSError, struct.error, ValueError, IndexError):
        return None


def runs_on(capability: tuple[int, int], cubins: set[int], ptx: set[int]) -> bool:
    major, minor = capability
    return any(sm // 10 == major and sm % 10 <= minor for sm in cubins) or any(
        version <= 10 * major + minor for version in ptx
    )


def cuda_devices() -> list[tuple[str, tuple[int, int]]]:
    """Name and compute capability of each GPU the NVIDIA driver shows this process
    (CUDA_VISIBLE_DEVICES applied, in CUDA's order, as MXNet numbers them); empty
    without a driver."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return []
    count = ctypes.c_int()
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return []
    devices = []
    for ordinal in range(count.value):
        device, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        name = ctypes.create_string_buffer(256)
        cuda.cuDeviceGet(ctypes.byref(device), ordinal)
        cuda.cuDeviceGetName(name, len(name), device)
        cuda.cuDeviceGetAttribute(
            ctypes.byref(major), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device
        )
        cuda.cuDeviceGetAttribute(
            ctypes.byref(minor), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device
        )
        devices.append((name.value.decode(errors="replace"), (major.value, minor.value)))
    return devices


def check_kernels_run(library: Path, devices: list[tuple[str, tuple[int, int]]], use: int) -> None:
    """Raises InputError when the library has CUDA kernels but none for one of the first
    ``use`` GPUs. Says nothing where it cannot tell (an unreadable library)."""
    found = kernel_architectures(library)
    if found is None or not any(found):
        return
    cubins, ptx = found
    for index, (name, capability) in enumerate(devices[:use]):
        if runs_on(capability, cubins, ptx):
            continue
        version = ".".join(map(str, capability))
        carried = ", ".join(f"sm_{sm}" for sm in sorted(cubins)) or "no cubins"
        carried += f", PTX {', '.join(map(str, sorted(ptx)))}" if ptx else " and no PTX"
        raise InputError(
            f"GPU {index} ({name}) has compute capability {version}, but {library} has "
            f"CUDA kernels for {carried} (sm_XY runs on compute capability X.Y to X.9): "
            "schedule the trial on such GPUs (e.g. a node affinity on the label "
            "nvidia.com/gpu.compute.major), or use num_gpus=0 to train on the CPU"
        )


def choose_contexts(requested: int | None, mx: Any) -> tuple[list[Any], str]:
    try:
        visible = mx.context.num_gpus()
    except mx.base.MXNetError as error:  # a CUDA build on a node without a usable driver
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "?"
        print(f"MXNet cannot use CUDA here ({first_line}); using the CPU", flush=True)
        visible = 0
    if requested is not None and requested > visible:
        fix = (
            f"request at most {visible} (0: the CPU)"
            if visible
            else "use num_gpus=0 or leave it unset to train on the CPU"
        )
        raise InputError(
            f"hyperparameter num_gpus={requested} but MXNet sees {visible} GPU(s): {fix}, "
            "or give the pod more nvidia.com/gpu (and use the CUDA image)"
        )
    use = visible if requested is None else requested
    if use == 0:
        why = "num_gpus=0" if visible else "MXNet sees no GPU"
        return [mx.cpu()], f"cpu ({why})"
    check_kernels_run(Path(mx.libinfo.find_lib_path()[0]), cuda_devices(), use)
    contexts = [mx.gpu(i) for i in range(use)]
    return contexts, f"gpu: {use} of {visible} visible ({', '.join(map(str, contexts))})"


def train(hp: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Import MXNet, train, print one line per epoch. Raises InputError on bad input."""
    # MXNet takes seconds to import (and to find the GPUs): only after the input is valid.
    import mxnet as mx  # noqa: PLC0415
    from mxnet import autograd, gluon  # noqa: PLC0415

    contexts, device = choose_contexts(hp["num_gpus"], mx)
    print(f"kubetune trainer: running on {device}; MXNet {mx.__version__}", flush=True)
    if hp["batch_size"] < len(contexts):
        raise InputError(
            f"hyperparameter batch_size={hp['batch_size']} is smaller than the "
            f"{len(contexts)} GPUs it is split across: use batch_size >= {len(contexts)}"
        )
    shown = " ".join(f"{name}={'auto' if hp[name] is None else hp[name]}" for name in sorted(hp))
    overridden = sorted(
        name for name, source in sources.items() if not source.startswith("default")
    )
    print(f"hyperparameters: {shown} (given: {', '.join(overridden) or 'none'})", flush=True)

    mx.random.seed(hp["seed"])
    rng = np.random.RandomState(hp["seed"])
    splits = load_datasets(hp)
    first = splits[0]
    print(
        f"data: {first.description}; {len(first.train_y)} training, {len(first.valid_y)} "
        f"validation images of shape {tuple(first.train_x.shape[1:])}"
        + (f" per fold ({len(splits)} folds)" if len(splits) > 1 else "")
        + f"; model {hp['model']}",
        flush=True,
    )
    # One model per split, each initialised from the same seeded stream in turn.
    models = [_Model(hp, contexts, mx, gluon) for _ in splits]
    for epoch in range(1, hp["epochs"] + 1):
        loss_sum, seen, seconds, correct, validated = 0.0, 0, 0.0, 0, 0
        for model, data in zip(models, splits, strict=True):
            fold_loss, fold_seen, fold_seconds = model.train_epoch(data, rng, autograd)
            fold_correct = model.count_correct(data)
            loss_sum, seen, seconds = loss_sum + fold_loss, seen + fold_seen, seconds + fold_seconds
            correct, validated = correct + fold_correct, validated + len(data.valid_y)
        train_loss, accuracy = loss_sum / seen, correct / validated
        print(
            f"epoch {epoch} train: loss={train_loss:.4f} validation: accuracy={accuracy:.4f} "
            f"images/sec={seen / seconds:.1f}",
            flush=True,
        )
        if not math.isfinite(train_loss):
            # The objective has been printed; more epochs of NaN weights only burn the GPU.
            print(
                f"training diverged at epoch {epoch} (loss={train_loss}): "
                "stopping early; try a smaller learning_rate",
                file=sys.stderr,
                flush=True,
            )
            return


class _Model:
    """One network with its SGD trainer, trained and validated on one split."""

    def __init__(self, hp: Mapping[str, Any], contexts: list[Any], mx: Any, gluon: Any):
        self.mx, self.gluon, self.contexts = mx, gluon, contexts
        self.batch_size = hp["batch_size"]
        self.net = build_network(hp["model"])
        self.net.initialize(mx.init.Xavier(magnitude=2.0), ctx=contexts)
        self.net.hybridize(static_alloc=True)
        self.trainer = gluon.Trainer(
            self.net.collect_params(),
            "sgd",
            {"learning_rate": hp["learning_rate"], "momentum": hp["momentum"], "wd": hp["wd"]},
        )
        self.loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    def _split(self, array: Any) -> list[Any]:
        # A last batch smaller than the number of GPUs goes to fewer of them.
        contexts = self.contexts[: len(array)]
        return self.gluon.utils.split_and_load(array, contexts, even_split=False)

    def train_epoch(self, data: Dataset, rng: Any, autograd: Any) -> tuple[float, int, float]:
        """One pass over data's training images: (sum of losses, images, seconds)."""
        mx, started = self.mx, time.perf_counter()
        n_train = len(data.train_y)
        loss_sum, seen = mx.nd.zeros(1, ctx=self.contexts[0]), 0
        for index in batches(n_train, self.batch_size, rng.permutation(n_train)):
            xs = self._split(mx.nd.array(prepare_images(data.train_x[index], rng)))
            ys = self._split(mx.nd.array(data.train_y[index]))
            with autograd.record():
                losses = [self.loss_fn(self.net(x), y) for x, y in zip(xs, ys, strict=True)]
            autograd.backward(losses)
            self.trainer.step(len(index))
            for loss in losses:
                loss_sum += loss.sum().as_in_context(self.contexts[0])
            seen += len(index)
        total = float(loss_sum.asscalar())  # asscalar waits for the GPU to finish
        return total, seen, time.perf_counter() - started

    def count_correct(self, data: Dataset) -> int:
        """How many of data's validation images the network classifies right."""
        correct, n_valid = 0, len(data.valid_y)
        for start in range(0, n_valid, self.batch_size):
            index = np.arange(start, min(start + self.batch_size, n_valid))
            xs = self._split(self.mx.nd.array(prepare_images(data.valid_x[index], None)))
            ys = self._split(self.mx.nd.array(data.valid_y[index]))
            for x, labels in zip(xs, ys, strict=True):
                predicted = self.net(x).argmax(axis=1).astype("int32")
                correct += int((predicted == labels.astype("int32")).sum().asscalar())
        return correct


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    try:
        hp, sources = resolve_hyperparameters(argv, environ)
        if hp["dataset"] == "cifar10":
            cifar_directory(hp["data_dir"])  # fail before the slow MXNet import
        check_cv_folds(hp)
        train(hp, sources)
        # All threads of this process since it started: what a trial cost in CPU.
        print(f"trainer: cpu_seconds={time.process_time():.2f}", flush=True)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return EXIT_INPUT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())

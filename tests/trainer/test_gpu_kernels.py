"""The trainer's check that MXNet carries CUDA kernels for the GPUs it is given
(``check_kernels_run`` in trainer-image/train.py), without a GPU.

The two host objects in data/ were built by nvcc 13.0 from one kernel
(``hack/check_gpu_kernels.py --out``), which also launched each build on an NVIDIA H200
(compute capability 9.0): the sm_80 + sm_86 build failed there with "no kernel image is
available for execution on the device" (cudaError 209), the sm_75 + PTX 7.5 one ran, as
the guard predicts (docs in trainer-image/README.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
CUBINS_80_86 = DATA / "fill-sm_80-sm_86.o"
CUBIN_AND_PTX_75 = DATA / "fill-sm_75-ptx_75.o"
H200 = ("NVIDIA H200", (9, 0))
A100 = ("NVIDIA A100-SXM4-80GB", (8, 0))
L4 = ("NVIDIA L4", (8, 9))
T4 = ("Tesla T4", (7, 5))


@pytest.fixture(scope="module")
def train() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "kubetune_trainer", ROOT / "trainer-image" / "train.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_kernels_nvcc_built_are_read_from_the_object(train: ModuleType) -> None:
    assert train.kernel_architectures(CUBINS_80_86) == ({80, 86}, set())
    assert train.kernel_architectures(CUBIN_AND_PTX_75) == ({75}, {75})


def test_the_cpu_build_of_mxnet_has_no_cuda_kernels(train: ModuleType) -> None:
    (library,) = (ROOT / ".venv-trainer").glob("lib/python3*/site-packages/mxnet/libmxnet.so")
    assert train.kernel_architectures(library) == (set(), set())


def test_a_file_that_is_not_a_library_is_not_judged(train: ModuleType, tmp_path: Path) -> None:
    text = tmp_path / "libmxnet.so"
    text.write_text("not an ELF file\n")
    truncated = tmp_path / "truncated.so"
    truncated.write_bytes(CUBINS_80_86.read_bytes()[:100])
    unknown_format = tmp_path / "unknown.o"  # a .nv_fatbin section that is not a fat binary
    magic = (0xBA55ED50).to_bytes(4, "little")
    unknown_format.write_bytes(CUBINS_80_86.read_bytes().replace(magic, b"\0\0\0\0"))
    assert train.kernel_architectures(text) is None
    assert train.kernel_architectures(truncated) is None
    assert train.kernel_architectures(unknown_format) is None
    assert train.kernel_architectures(tmp_path / "missing.so") is None
    train.check_kernels_run(text, [H200], 1)  # says nothing where it cannot tell


@pytest.mark.parametrize(
    ("capability", "cubins", "ptx", "runs"),
    [
        ((8, 0), {80, 86}, set(), True),
        ((8, 9), {80, 86}, set(), True),  # a cubin runs on later minor versions
        ((8, 6), {86}, set(), True),
        ((8, 0), {86}, set(), False),  # ... not on earlier ones
        ((9, 0), {50, 60, 70, 80, 86}, set(), False),  # mxnet-cu117 1.9.1 on Hopper
        ((9, 0), {75}, {75}, True),  # PTX is compiled for any later GPU
        ((7, 0), set(), {75}, False),  # ... not for an earlier one
        ((10, 0), {90}, set(), False),
        ((10, 0), {100}, set(), True),
    ],
)
def test_which_kernels_run_on_which_gpu(
    train: ModuleType, capability: tuple[int, int], cubins: set[int], ptx: set[int], runs: bool
) -> None:
    assert train.runs_on(capability, cubins, ptx) is runs


def test_a_gpu_without_kernels_is_refused_with_what_to_do(train: ModuleType) -> None:
    train.check_kernels_run(CUBINS_80_86, [A100, L4], 2)
    train.check_kernels_run(CUBINS_80_86, [A100, H200], 1)  # only the GPUs used count
    with pytest.raises(train.InputError) as refused:
        train.check_kernels_run(CUBINS_80_86, [A100, T4], 2)
    message = str(refused.value)
    assert message.startswith("GPU 1 (Tesla T4) has compute capability 7.5, but ")
    assert str(CUBINS_80_86) in message
    assert "CUDA kernels for sm_80, sm_86 and no PTX" in message
    assert "nvidia.com/gpu.compute.major" in message and "num_gpus=0" in message
    train.check_kernels_run(CUBIN_AND_PTX_75, [H200], 1)

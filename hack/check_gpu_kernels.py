"""Checks the trainer's GPU-kernel guard (``check_kernels_run`` in trainer-image/train.py)
against a real GPU and NVIDIA's own compiler: run it on a machine with an NVIDIA GPU and
the CUDA toolkit (nvcc), with any Python 3 (numpy only).

For several target lists, nvcc builds a tiny shared library with one kernel; the guard's
reading of the library (``kernel_architectures``) and its rule (``runs_on``) predict
whether the kernel runs on GPU 0, and a launch through the library says whether it does.
Prints one line per library and exits 1 on any disagreement. With ``--out DIR`` it also
leaves there the host objects of two builds (a few KB, for the trainer's unit tests).

    python3 hack/check_gpu_kernels.py [--out DIR]
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TRAINER = Path(__file__).resolve().parent.parent / "trainer-image" / "train.py"
KERNEL = r"""
#include <cuda_runtime.h>
__global__ void fill(int *out) { out[threadIdx.x] = threadIdx.x; }
extern "C" int launch(void) {
    int *out = 0;
    if (cudaMalloc(&out, 32 * sizeof(int)) != cudaSuccess) return -1;
    fill<<<1, 32>>>(out);
    int launched = cudaGetLastError();
    int finished = cudaDeviceSynchronize();
    cudaFree(out);
    return launched ? launched : finished;
}
"""
# name -> nvcc -gencode arguments
BUILDS = {
    "sm_80": ["arch=compute_80,code=sm_80"],
    "sm_80+sm_86": ["arch=compute_80,code=sm_80", "arch=compute_86,code=sm_86"],
    "sm_89": ["arch=compute_89,code=sm_89"],
    "sm_90": ["arch=compute_90,code=sm_90"],
    "ptx_80": ["arch=compute_80,code=compute_80"],
    "sm_75+ptx_75": ["arch=compute_75,code=sm_75", "arch=compute_75,code=compute_75"],
    "sm_100": ["arch=compute_100,code=sm_100"],
    "ptx_100": ["arch=compute_100,code=compute_100"],
}
FIXTURES = ("sm_80+sm_86", "sm_75+ptx_75")


def load_trainer():
    spec = importlib.util.spec_from_file_location("kubetune_trainer", TRAINER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="keep the fixtures' host objects here")
    parser.add_argument("--devices-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    trainer = load_trainer()
    devices = trainer.cuda_devices()
    if args.devices_only:
        print(devices)
        return 0
    print(f"cuda_devices(): {devices}")
    # With no GPU made visible to it, the process sees none (MXNet's numbering too).
    hidden = subprocess.run(
        [sys.executable, __file__, "--devices-only"],
        env=os.environ | {"CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"cuda_devices() with CUDA_VISIBLE_DEVICES='': {hidden}")
    disagreements = int(hidden != "[]")
    if not devices:
        print("no GPU seen: nothing to check")
        return 1
    capability = devices[0][1]
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "fill.cu"
        source.write_text(KERNEL)
        for name, targets in BUILDS.items():
            library = Path(work) / f"fill-{name}.so"
            gencode = [f"-gencode={target}" for target in targets]
            built = subprocess.run(
                [
                    "nvcc",
                    "-shared",
                    "-Xcompiler",
                    "-fPIC",
                    *gencode,
                    str(source),
                    "-o",
                    str(library),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if built.returncode != 0:
                print(f"{name:14s} nvcc cannot build it: {built.stderr.strip().splitlines()[-1]}")
                continue
            found = trainer.kernel_architectures(library)
            predicted = found is not None and trainer.runs_on(capability, *found)
            status = ctypes.CDLL(str(library)).launch()
            ran = status == 0
            agree = predicted == ran
            disagreements += not agree
            print(
                f"{name:14s} read: cubins {sorted(found[0]) if found else '?'} "
                f"PTX {sorted(found[1]) if found else '?'}; guard: "
                f"{'runs' if predicted else 'refuses'}; launch on {devices[0][0]} "
                f"{'.'.join(map(str, capability))}: status {status} -> "
                f"{'ran' if ran else 'failed'}  {'agree' if agree else 'DISAGREE'}"
            )
            if args.out and name in FIXTURES:
                args.out.mkdir(parents=True, exist_ok=True)
                host_object = args.out / f"fill-{name.replace('+', '-')}.o"
                subprocess.run(
                    ["nvcc", "-c", *gencode, str(source), "-o", str(host_object)], check=True
                )
                print(
                    f"  kept {host_object} ({host_object.stat().st_size} bytes): "
                    f"{trainer.kernel_architectures(host_object)}"
                )
    print(f"{disagreements} disagreement(s)")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())

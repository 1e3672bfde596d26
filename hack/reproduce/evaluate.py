"""The trainer side of hack/reproduce/simulate.py: one process that trains many trials.

Runs with the trainer's venv (MXNet needs numpy<1.24, the optimizer's venv does not allow
it); simulate.py starts it. Each stdin line is a JSON object of the trainer's options as
a trial receives them (text values: the manifest's staticHyperparameters and the tuned
hyperparameters as the operator formats them); each answer is one stdout line, the
validation accuracy after the last epoch. The trainer's own code trains in this process,
so MXNet's start-up is paid once; OMP_NUM_THREADS=1 and MXNET_CPU_WORKER_NTHREADS=1, set by
simulate.py as in the manifest, make a run give the accuracy a trial's process gives.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "trainer-image"))
import train

ACCURACY = re.compile(r"validation: accuracy=([0-9.]+)")


def accuracy(options: dict[str, str]) -> float:
    hp, sources = train.resolve_hyperparameters([f"--{k}={v}" for k, v in options.items()], {})
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        train.train(hp, sources)
    return float(ACCURACY.findall(out.getvalue())[-1])


def main() -> None:
    for line in sys.stdin:
        print(accuracy(json.loads(line)), flush=True)


if __name__ == "__main__":
    main()

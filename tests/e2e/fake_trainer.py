"""A stand-in trainer for the end-to-end tests: instant, and its objective depends on its
hyperparameters, so the tests can check what the operator recorded.

Reads `--name=value` arguments (as the operator appends them) and checks that they agree
with the KUBETUNE_HYPERPARAMETERS environment variable. Prints `epoch <i> loss=<v>` lines
and finally `loss=<objective>` where objective = (x - 0.3)**2 + 0.01 * n (x and n default
to 0). The static hyperparameter `mode` picks a behaviour:

  ok (default), nan (prints loss=nan), silent (prints no metric), fail (exits 3),
  killed (SIGKILLs itself, as the kernel's OOM killer would),
  sleep (sleeps `seconds` first), huge (prints `megabytes` MB of noise before the metric),
  backtrack (prints long lines that make (a+)+$ backtrack catastrophically in a
  backtracking engine), flaky (exits 3 when x > 0.5), curve (a learning curve for early
  stopping: `steps` lines `loss=<objective + 0.1/step>`, step = 1, 2..., one every
  `pause` seconds, and nothing else; with `diverge_above`, a trial whose x is above it
  prints loss=nan from step 2 on, as a diverged model does; with `word_at`, it prints
  loss=n/a at that step instead of a number; with `wait_per_x`, it waits x times that many
  seconds before its first step, so that trials print in the order of their x; with
  `acc` 1, each line also carries a second metric after the loss, `loss=<v> acc=<a>`,
  a = `acc_value`).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time

DIVERGED_FROM = 2
"""The step from which a diverging curve (mode curve, diverge_above) prints nan."""


def objective(x: float, n: int) -> float:
    return (x - 0.3) ** 2 + 0.01 * n


def curve_value(x: float, n: int, step: int) -> float:
    """The loss that mode curve prints at `step` (1-based)."""
    return objective(x, n) + 0.1 / step


def acc_value(x: float, n: int, step: int) -> float:
    """The second metric that mode curve prints at `step` with `acc` 1."""
    return 1.0 - curve_value(x, n, step) / 2


def main() -> int:
    args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    from_env = json.loads(os.environ.get("KUBETUNE_HYPERPARAMETERS", "{}"))
    if from_env != args:
        print(f"argv {args} and KUBETUNE_HYPERPARAMETERS {from_env} differ", file=sys.stderr)
        return 2
    x = float(args.get("x", 0))
    n = int(args.get("n", 0))
    mode = args.get("mode", "ok")
    value = objective(x, n)
    if mode == "curve":
        diverges = x > float(args.get("diverge_above", "inf"))
        time.sleep(x * float(args.get("wait_per_x", "0")))
        for step in range(1, int(args.get("steps", "10")) + 1):
            time.sleep(float(args.get("pause", "0.5")))
            loss = math.nan if diverges and step >= DIVERGED_FROM else curve_value(x, n, step)
            text = "n/a" if args.get("word_at") == str(step) else repr(loss)
            # One line for both: the other metric's value is read with the loss's.
            acc = f" acc={acc_value(x, n, step)!r}" if args.get("acc") == "1" else ""
            print(f"loss={text}{acc}", flush=True)  # seen while running
        return 0
    if mode == "sleep":
        time.sleep(float(args.get("seconds", "30")))
    if mode == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "fail" or (mode == "flaky" and x > 0.5):
        print("training diverged", file=sys.stderr)
        return 3
    if mode == "huge":
        line = "noise " * 20 + "\n"
        block = line * (1024 * 1024 // len(line))
        for _ in range(int(args.get("megabytes", "200"))):
            sys.stdout.write(block)
    if mode == "backtrack":
        for _ in range(int(args.get("lines", "20"))):
            print("a" * 100_000 + "b")
    for epoch in range(3):
        print(f"epoch {epoch} loss={value + 1.0 / (epoch + 1)}")
    if mode == "nan":
        print("loss=nan")
    elif mode != "silent":
        print(f"loss={value!r}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: one real tuning job, end to end, on the local cluster.

Applies the CRDs, starts the operator as a local process and applies a TuningJob manifest
(by default examples/digits-cpu.yaml: the MXNet trainer on scikit-learn's digits). The
rest is the `kubetune` CLI, as a user would run it: `kubetune watch` while it runs, then
`kubetune trials --sort objective`, `kubetune best` and `kubetune plot` (a PNG in out/).
Each command is shown as it can be copied (from the repository root, with .venv activated),
and a closing block says how to look further: the cluster itself is started and stopped by
hack/with-cluster.sh, which stops it at the end unless KEEP_CLUSTER is set or it was
already running (`make cluster-up`).

    .venv/bin/python hack/demo.py --kubeconfig .cluster/kubeconfig [--manifest FILE]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "hack"))  # `cluster`, which PYTHONSAFEPATH=1 keeps off the path
from cluster.cluster import state_dir  # noqa: E402
from cluster.operator_process import OperatorProcess, apply_crds  # noqa: E402

GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuningjobs"
KUBETUNE = REPO / ".venv" / "bin" / "kubetune"


def recreate(api: client.CustomObjectsApi, namespace: str, manifest: dict[str, Any]) -> str:
    """Deletes a TuningJob of the same name left by an earlier demo, then creates it anew."""
    name: str = manifest["metadata"]["name"]
    try:
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as error:
        if error.status != 404:
            raise
    deadline = time.monotonic() + 120
    while True:
        try:
            api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as error:
            if error.status == 404:
                break
            raise
        if time.monotonic() > deadline:
            raise SystemExit(f"TuningJob {namespace}/{name} from an earlier run is not going away")
        time.sleep(0.5)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)
    return name


def shown_path(path: Path) -> str:
    """A path as the user types it from the working directory (make's: the repository)."""
    path = path.resolve()
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def kubetune(kubeconfig: Path, namespace: str, *args: str) -> list[str]:
    """The `kubetune` command line the demo runs (and shows), as a user would type it."""
    return [str(KUBETUNE), "--kubeconfig", shown_path(kubeconfig), "-n", namespace, *args]


def echo(argv: list[str]) -> None:
    """Prints the command as it can be copied: `kubetune` (on PATH once .venv/bin/activate
    has run) with every option the demo gives it."""
    print(f"\n$ {shlex.join(['kubetune', *argv[1:]])}", flush=True)


def show(argv: list[str]) -> int:
    """Runs a kubetune command with its output on the terminal; returns its exit code."""
    echo(argv)
    return subprocess.run(argv, check=False).returncode


def follow(argv: list[str], operator: OperatorProcess, timeout_seconds: float) -> int:
    """`kubetune watch` until the job ends; stops it (and the demo) if the operator dies."""
    echo(argv)
    with subprocess.Popen(argv) as watch:
        deadline = time.monotonic() + timeout_seconds + 30
        while True:
            try:
                return watch.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
            if not operator.alive():
                watch.kill()
                raise SystemExit(f"the operator exited; see its log {operator.log_path}")
            if time.monotonic() > deadline:  # a backstop: watch has its own --timeout
                watch.kill()
                raise SystemExit("kubetune watch did not return")


def look_further(kubeconfig: Path, namespace: str, name: str, cluster_stops: bool) -> str:
    """The closing block: the commands to read the job further, and how to keep or stop
    the cluster they need."""
    shown = shown_path(kubeconfig)  # absolute in KUBECONFIG: it holds in any directory
    export = shlex.quote(shown) if Path(shown).is_absolute() else f'"$PWD"/{shlex.quote(shown)}'
    commands = [
        ". .venv/bin/activate                 # puts kubetune on PATH",
        f"export KUBECONFIG={export}",
        f"kubetune -n {namespace} describe {name}",
        f"kubetune -n {namespace} trials {name} --sort objective",
        f"kubetune -n {namespace} logs {name} 1",
    ]
    if cluster_stops:
        head = (
            "The cluster stops now, with the job. To look further, run\n"
            "`KEEP_CLUSTER=1 make demo`, which leaves it up, then (from this directory):"
        )
        commands.append("make cluster-down                    # stops the cluster")
    else:
        head = "The cluster stays up. To look further (from this directory):"
        commands.append("make cluster-down                    # stops the cluster when done")
    return "\n".join(["", head, *(f"  {c}" for c in commands)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, default=state_dir() / "kubeconfig")
    parser.add_argument("--manifest", type=Path, default=REPO / "examples/digits-cpu.yaml")
    parser.add_argument("--namespace", default="kubetune-demo")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before giving up")
    args = parser.parse_args()

    apply_crds(args.kubeconfig)
    config.load_kube_config(str(args.kubeconfig))  # type: ignore[no-untyped-call]
    core, api = client.CoreV1Api(), client.CustomObjectsApi()
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=args.namespace)))
    except ApiException as error:
        if error.status != 409:
            raise

    log_path = args.kubeconfig.parent / "demo-operator.log"
    with OperatorProcess(args.kubeconfig, [args.namespace], log_path) as operator:
        print(f"operator started (pid {operator.pid}), log: {log_path}", flush=True)
        manifest = yaml.safe_load(args.manifest.read_text())
        name = recreate(api, args.namespace, manifest)
        trials = manifest["spec"].get("limits", {}).get("maxTrials", "?")
        path = args.manifest.resolve()
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        print(f"applied {shown}: TuningJob {args.namespace}/{name}, {trials} trials", flush=True)
        command = kubetune(args.kubeconfig, args.namespace, "watch", name)
        rc = follow([*command, "--timeout", str(args.timeout)], operator, args.timeout)
    show(kubetune(args.kubeconfig, args.namespace, "trials", name, "--sort", "objective"))
    show(kubetune(args.kubeconfig, args.namespace, "best", name))
    png = REPO / "out" / f"demo-{name}.png"
    show(kubetune(args.kubeconfig, args.namespace, "plot", name, "-o", shown_path(png)))
    cluster_stops = os.environ.get("KUBETUNE_CLUSTER_STOPS") == "1"  # set by with-cluster.sh
    print(look_further(args.kubeconfig, args.namespace, name, cluster_stops), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())

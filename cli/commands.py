"""The commands: each reads what it needs through kubetune.analytics, prints, and returns
the exit code. Errors are raised as KubetuneErrors (printed by `main`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kubetune.analytics.cluster import KubeClient, connect
from kubetune.analytics.errors import KubetuneError, NotFoundError
from kubetune.analytics.local import read_directory
from kubetune.analytics.resource import TuningJobView, parse_tuning_job
from kubetune.cli import output, views
from kubetune.cli.main import EXIT_OK, Context


def _kube(ctx: Context) -> KubeClient:
    return connect(ctx.args.kubeconfig, ctx.args.context)


def _namespace(ctx: Context, kube: KubeClient) -> str:
    return str(ctx.args.namespace or kube.namespace)


def load(ctx: Context) -> tuple[KubeClient, TuningJobView]:
    """The client and the TuningJob named on the command line."""
    kube = _kube(ctx)
    return kube, parse_tuning_job(kube.get_tuning_job(_namespace(ctx, kube), ctx.args.name))


def load_view(ctx: Context) -> TuningJobView:
    """The TuningJob named on the command line, or kept in the directory given instead of
    a name (a local run's `--out`)."""
    if Path(ctx.args.name).is_dir():
        return parse_tuning_job(read_directory(ctx.args.name))
    return load(ctx)[1]


def _no_trials(ctx: Context, view: TuningJobView) -> bool:
    """Says so on stderr when the job has no trial yet (not an error: nothing to list)."""
    if view.trials:
        return False
    ctx.err.write(
        f'TuningJob "{view.name}" has no trials yet (phase {view.phase}'
        f"{': ' + view.status.message if view.status.message else ''}).\n"
    )
    return True


def list_command(ctx: Context) -> int:
    kube = _kube(ctx)
    namespace = None if ctx.args.all_namespaces else _namespace(ctx, kube)
    items = kube.list_tuning_jobs(namespace)
    if not items:
        where = "any namespace" if namespace is None else f'namespace "{namespace}"'
        ctx.err.write(f"No TuningJobs in {where}.\n")
        return EXIT_OK
    now = datetime.now(UTC)
    headers = ["NAME", "STRATEGY", "PHASE", "BEST", "TRIALS", "RUNNING", "AGE"]
    rows = []
    for item in sorted(
        items, key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"]["name"])
    ):
        meta, spec, status = item["metadata"], item.get("spec") or {}, item.get("status") or {}
        created = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
        max_trials = (spec.get("limits") or {}).get("maxTrials", "?")
        row = [
            meta["name"],
            str(spec.get("strategy", "Bayesian")),
            str(status.get("phase", "Pending")),
            output.number(status.get("bestObjective")),
            status.get("trialsDone") or f"0/{max_trials}",
            str((status.get("counters") or {}).get("running", 0)),
            output.duration((now - created).total_seconds()),
        ]
        rows.append([meta.get("namespace", ""), *row] if namespace is None else row)
    ctx.out.write(output.table(["NAMESPACE", *headers] if namespace is None else headers, rows))
    return EXIT_OK


def describe_command(ctx: Context) -> int:
    if Path(ctx.args.name).is_dir():  # a local run: it keeps no Events
        view, events = load_view(ctx), None
    else:
        kube, view = load(ctx)
        events = kube.events(view.namespace, view.name, view.uid)
    ctx.out.write(views.describe_text(view, events, datetime.now(UTC)))
    return EXIT_OK


def trials_command(ctx: Context) -> int:
    view = load_view(ctx)
    if _no_trials(ctx, view) and ctx.args.output == "table":
        return EXIT_OK
    args = ctx.args
    ctx.out.write(views.trials_output(view, args.output, datetime.now(UTC), args.sort, args.top))
    return EXIT_OK


def best_command(ctx: Context) -> int:
    view = load_view(ctx)
    ctx.out.write(views.best_output(view, ctx.args.output))
    return EXIT_OK


def plot_command(ctx: Context) -> int:
    view = load_view(ctx)
    try:
        from kubetune.analytics.plots import summary_figure  # noqa: PLC0415 (optional)
    except ImportError:
        raise KubetuneError(
            "kubetune plot needs matplotlib: pip install 'kubetune[analytics]'"
        ) from None
    if not any(t.objective is not None for t in view.trials):
        raise NotFoundError(
            f'TuningJob "{view.name}" has nothing to plot yet: no trial has an objective '
            f"({len(view.trials)} trials, phase {view.phase})."
        )
    path = Path(ctx.args.output or f"{view.name}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    summary_figure(view).savefig(path, dpi=100)
    ctx.out.write(f"{path}\n")
    return EXIT_OK


def _trial_name(view: TuningJobView, given: str) -> str:
    """The trial named `given`, or numbered `given` (7 is the trial ending in -007)."""
    names = [t.name for t in view.trials]
    if given in names:
        return given
    if given.isdigit():
        suffix = f"-{int(given):03d}"
        match = [n for n in names if n.endswith(suffix)]
        if match:
            return match[0]
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    raise NotFoundError(
        f'TuningJob "{view.name}" has no trial "{given}"; its trials are {shown or "none yet"} '
        "(`kubetune trials` lists them; a number such as 7 picks the trial ending in -007)."
    )


def logs_command(ctx: Context) -> int:
    kube, view = load(ctx)
    trial = _trial_name(view, ctx.args.trial)
    pods = kube.trial_pods(view.namespace, trial)
    if not pods:
        phase = next(t.phase for t in view.trials if t.name == trial)
        raise NotFoundError(
            f'trial "{trial}" has no pod (phase {phase}): it has not started yet, or its Job '
            "and pod were deleted."
        )
    pod = pods[-1].metadata.name
    container = view.spec.trial_template.primary_container_name() or ""
    if ctx.args.follow:
        out = ctx.out.buffer if hasattr(ctx.out, "buffer") else None
        for chunk in kube.follow_log(view.namespace, pod, container):
            if out is not None:
                out.write(chunk)
                out.flush()
            else:
                ctx.out.write(chunk.decode(errors="replace"))
        return EXIT_OK
    ctx.out.write(kube.read_log(view.namespace, pod, container))
    return EXIT_OK


def stop_command(ctx: Context) -> int:
    """Sets `spec.stop: true`; the operator stops the running trials and ends the job
    Stopped (reason StoppedByUser), keeping everything recorded."""
    kube, view = load(ctx)
    if view.terminal:
        ctx.out.write(f'TuningJob "{view.name}" has already ended ({view.phase}).\n')
        return EXIT_OK
    kube.patch_spec(view.namespace, view.name, {"stop": True})
    ctx.out.write(
        f'TuningJob "{view.name}" is stopping: spec.stop is true; `kubetune watch '
        f"{view.name}` shows it end.\n"
    )
    return EXIT_OK


def watch_command(ctx: Context) -> int:
    from kubetune.cli.watch import watch  # noqa: PLC0415

    kube = _kube(ctx)
    return watch(ctx, kube, _namespace(ctx, kube), sys.stdout.isatty() and ctx.out is sys.stdout)


def _run_local(ctx: Context) -> int:
    from kubetune.cli.local_run import run_local  # noqa: PLC0415 (imports the operator)

    return run_local(ctx)


COMMANDS: dict[str, Callable[[Context], int]] = {
    "list": list_command,
    "describe": describe_command,
    "trials": trials_command,
    "best": best_command,
    "plot": plot_command,
    "watch": watch_command,
    "logs": logs_command,
    "stop": stop_command,
    "run": _run_local,
}

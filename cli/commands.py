"""The commands: each reads what it needs through kubetune.analytics, prints, and returns
the exit code. Errors are raised as KubetuneErrors (printed by `main`)."""

from __future__ import annotations

import codecs
import contextlib
import os
import shlex
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient
from kubetune.analytics.cluster import KubeClient, cluster_flags, connect, pod_not_started
from kubetune.analytics.errors import (
    ForbiddenError,
    KubetuneError,
    NotFoundError,
    UnreachableError,
)
from kubetune.analytics.local import MANIFEST, as_it_is, parent_directories, read_directory
from kubetune.analytics.resource import TERMINAL_PHASES, TuningJobView, parse_tuning_job
from kubetune.cli import output, serving, views
from kubetune.cli.main import EXIT_OK, Context, ends_with_separator
from kubetune.operator.kube.observe import failed_init_container

CLUSTER_OPTIONS = ("namespace", "context", "kubeconfig")
"""The options that, given, make a bare NAME the TuningJob on the cluster."""


def suggested(ctx: Context) -> str:
    """How a command that a message suggests starts: `kubetune` with the -n, --context and
    --kubeconfig the user gave, so that copied it reads the same TuningJob (without them
    it would look in the context's namespace)."""
    given = {option: getattr(ctx.args, option, None) for option in CLUSTER_OPTIONS}
    namespace = ["-n", shlex.quote(given["namespace"])] if given["namespace"] else []
    flags = cluster_flags(given["context"], given["kubeconfig"])
    return " ".join(["kubetune", *namespace, *flags])


def _kubectl(ctx: Context) -> str:
    """How a kubectl command that a message suggests starts: with the --context and
    --kubeconfig the user gave (`serving.kubectl`)."""
    return serving.kubectl(ctx.args.context, ctx.args.kubeconfig)


def _kube(ctx: Context) -> KubeClient:
    return connect(ctx.args.kubeconfig, ctx.args.context)


def _namespace(ctx: Context, kube: KubeClient) -> str:
    return str(ctx.args.namespace or kube.namespace)


def load(ctx: Context, local_too: bool = True) -> tuple[KubeClient, TuningJobView]:
    """The client and the TuningJob named on the command line, on the cluster; when it is
    not there (or no cluster answers), the error also says that NAME is no local run
    directory where it could have been one (`local_too`: the command reads those)."""
    try:
        kube = _kube(ctx)
        body = kube.get_tuning_job(_namespace(ctx, kube), ctx.args.name)
    except (NotFoundError, UnreachableError) as error:
        raise (also_no_local_run(ctx, error) if local_too else error) from None
    return kube, parse_tuning_job(body)


def also_no_local_run(ctx: Context, error: KubetuneError) -> KubetuneError:
    """`error` (no TuningJob NAME on the cluster, or no cluster) for a bare NAME that a
    local run directory of that name would have stood for: the same error, saying also
    that there is none (a run started a moment later, or a typo). A NAME written as a path
    never gets here, nor one given with a cluster option (the cluster's job was asked
    for). Only on this error path is the directory looked at again."""
    name = ctx.args.name
    if _written_as_path(name) or any(getattr(ctx.args, o, None) for o in CLUSTER_OPTIONS):
        return error
    if Path(name).is_dir():
        there = f"./{name} is a directory, but no local run directory (no {MANIFEST} in it)"
    else:
        there = f"There is no local run directory ./{name} either"
    if ctx.args.command == "watch":  # the path form waits for a run that starts there
        then = f"`kubetune watch ./{name}` waits a moment for a run that starts there"
    else:
        then = f"`kubetune run --local MANIFEST --out {name}` writes one"
    text = str(error)
    stop = "" if text.endswith((".", "?")) else "."
    return type(error)(f"{text}{stop} {there} ({then}).")


def _written_as_path(name: str) -> bool:
    return "/" in name or os.sep in name or name.startswith(".")


def _local_path(ctx: Context) -> Path | None:
    """The local path NAME stands for, or None for the TuningJob on the cluster (the rule
    in `kubetune --help`). `kubetune run --local` writes ./NAME by default, so a bare NAME
    reads that run directory unless a cluster option asks for the cluster; a directory
    without tuningjob.yaml (a source folder named like the job) never hides the job."""
    name = ctx.args.name
    path = Path(name)
    if path.is_file() and (_written_as_path(name) or path.suffix in (".yaml", ".yml", ".json")):
        return path  # a manifest given instead of a name: an error, said as such
    if not (path / MANIFEST).is_file():
        if _written_as_path(name):  # a TuningJob's name has no "/" nor a leading "."
            raise KubetuneError(
                f"{name}: no local run directory there (no {MANIFEST}); `kubetune run "
                "--local MANIFEST --out DIR` writes one, or give a TuningJob's name"
            )
        return None
    if _written_as_path(name) or not any(getattr(ctx.args, o, None) for o in CLUSTER_OPTIONS):
        return path
    return None


def _cluster_instead(name: str) -> str:
    return f"for the TuningJob {name} on the cluster, give -n NAMESPACE, --context or --kubeconfig"


def _local_directory(ctx: Context) -> Path | None:
    """The local run directory NAME stands for, or None for the TuningJob on the cluster
    (a bare NAME read as a directory is said so on stderr)."""
    name, path = ctx.args.name, _local_path(ctx)
    if path is None:
        return None
    if path.is_file():
        raise KubetuneError(
            f"{name} is a file: give the TuningJob's name (`kubectl apply -f {name}` creates "
            f"it), or a local run directory (`kubetune run --local {name}` writes one)."
        )
    if not _written_as_path(name):  # a bare name could also be the cluster's job: say which
        ctx.err.write(f"Reading the local run directory ./{name}; {_cluster_instead(name)}.\n")
    return path


def _read_local(ctx: Context, path: Path) -> TuningJobView:
    body = read_directory(path)
    gone = as_it_is(body, path)  # Running when last written: is its run still alive?
    if gone is not None:
        ctx.err.write(f"{gone}.\n")
    return parse_tuning_job(body, path)


def _read(ctx: Context) -> tuple[KubeClient | None, TuningJobView]:
    """The TuningJob named on the command line, from the cluster (with its client) or from
    the local run directory NAME stands for (client None)."""
    path = _local_directory(ctx)
    return load(ctx) if path is None else (None, _read_local(ctx, path))


def _unserved(kube: KubeClient, view: TuningJobView, now: datetime) -> serving.Unserved | None:
    """That no live operator serves the job's namespace, for a job an operator still has
    to act on (unfinished, or being deleted: its finalizer); None when one does, or when
    the heartbeat Leases cannot be read (nothing is said then)."""
    if not serving.needs_operator(view):
        return None
    leases = kube.heartbeat_leases()
    return None if leases is None else serving.unserved(leases, view.namespace, now)


def _notes(
    ctx: Context,
    kube: KubeClient | None,
    view: TuningJobView,
    now: datetime,
    durations: bool = True,
) -> datetime:
    """Says on stderr that the cluster's job is being deleted, or that no operator serves
    it (and, where the command shows `durations`, the time they are counted to). Returns
    the time its running trials' durations are counted to: `now`, or while no operator
    serves it, `serving.as_of`."""
    if kube is None:  # a local run directory: no operator
        return now
    deleting = serving.deleting_note(view, now)
    if deleting:
        ctx.err.write(deleting)
    absence = _unserved(kube, view, now)
    if absence is None:
        return now
    counted = serving.as_of(view, absence)
    text = serving.unserved_text(absence, now, counted if durations else None, _kubectl(ctx))
    ctx.err.write(f"Note: {text}\n")
    return counted or now


def load_view(ctx: Context) -> TuningJobView:
    """The TuningJob named on the command line, or kept in the local run directory given
    instead of a name (a local run's `--out`)."""
    return _read(ctx)[1]


def _cluster_only(ctx: Context) -> None:
    """stop acts on the cluster: NAME standing for a local path is an error that says so,
    and how a local run stops."""
    name, path = ctx.args.name, _local_path(ctx)
    if path is None:
        return
    command = f"`kubetune {ctx.args.command}` works on TuningJobs on the cluster only"
    if path.is_file():
        raise KubetuneError(f"{name} is a file: {command}, by name.")
    hint = "" if _written_as_path(name) else f" ({_cluster_instead(name)})"
    raise KubetuneError(
        f"{name} is a local run directory: {command}; a local run is stopped with Ctrl-C "
        "in the terminal running it, and the same `kubetune run --local` command "
        f"resumes it{hint}."
    )


def _no_trials(ctx: Context, view: TuningJobView) -> bool:
    """Says so on stderr when the job has no trial (not an error: nothing to list); "yet"
    while it may still launch one, not once it has ended (a warm start that had tried every
    configuration, a spec found invalid)."""
    if view.trials:
        return False
    ctx.err.write(
        f'TuningJob "{view.name}" has no trials{"" if view.terminal else " yet"} (phase '
        f"{view.phase}"
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
    headers = views.LIST_HEADERS
    rows = []
    for item in sorted(
        items, key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"]["name"])
    ):
        row = views.list_row(item, now)
        rows.append([item["metadata"].get("namespace", ""), *row] if namespace is None else row)
    ctx.out.write(output.table(["NAMESPACE", *headers] if namespace is None else headers, rows))
    _list_notes(ctx, kube, items, now)
    return EXIT_OK


def _list_notes(ctx: Context, kube: KubeClient, items: list[dict[str, Any]], now: datetime) -> None:
    """`list`'s lines on stderr: each job being deleted, and each namespace of unfinished
    jobs that no operator serves (one read of the heartbeat Leases)."""
    waiting: dict[str, list[str]] = {}
    for item in items:
        meta, phase = item["metadata"], (item.get("status") or {}).get("phase", "Pending")
        if meta.get("deletionTimestamp"):
            with contextlib.suppress(KubetuneError):  # one this kubetune cannot read: no note
                ctx.err.write(serving.deleting_note(parse_tuning_job(item), now) or "")
        if phase not in {p.value for p in TERMINAL_PHASES} or meta.get("deletionTimestamp"):
            waiting.setdefault(meta.get("namespace", ""), []).append(meta["name"])
    leases = kube.heartbeat_leases() if waiting else None
    if leases is None:
        return
    for namespace, names in sorted(waiting.items()):
        absence = serving.unserved(leases, namespace, now)
        if absence is not None:
            jobs = ", ".join(names)
            text = serving.unserved_text(absence, now, command=_kubectl(ctx))
            ctx.err.write(f"Note ({jobs}): {text}\n")


def describe_command(ctx: Context) -> int:
    path = _local_directory(ctx)
    events, no_events = None, "none kept (a local run)"
    now, operator = datetime.now(UTC), None
    if path is not None:  # a local run: its parents are run directories
        view = _read_local(ctx, path)
        names = view.spec.warm_start.parents if view.spec.warm_start else []
        directories = parent_directories(path, names)
        parents = _parents(
            view,
            lambda name: read_directory(directories[name]),
            lambda name: f"no run found at {directories[name]}",
        )
    else:
        kube, view = load(ctx)
        try:
            events = kube.events(view.namespace, view.name, view.uid)
        except ForbiddenError as error:  # a user's Role may well not grant Events
            no_events = f"not shown: {error}"
        parents = _parents(view, lambda name: kube.get_tuning_job(view.namespace, name))
        absence = _unserved(kube, view, now)
        if absence is not None:
            counted = serving.as_of(view, absence)
            operator = serving.unserved_text(absence, now, counted, _kubectl(ctx))
    target = shlex.quote(ctx.args.name) if path is not None else view.name
    text = views.describe_text(
        view,
        events,
        now,
        no_events,
        parents,
        operator,
        lambda command: f"{suggested(ctx)} {command} {target}",
    )
    ctx.out.write(text)
    return EXIT_OK


def _parents(
    view: TuningJobView,
    read: Callable[[str], dict[str, Any]],
    missing: Callable[[str], str] = lambda _: "not found",
) -> dict[str, int | str]:
    """What the warm start carries of each parent and its best (`views.warm_start_parent`; `read`
    gives the parent of a name: one GET each, or its local run directory), or why it is
    unknown (`missing`: where the parent is not found)."""
    found: dict[str, int | str] = {}
    for name in view.spec.warm_start.parents if view.spec.warm_start else []:
        try:
            found[name] = views.warm_start_parent(view.spec, parse_tuning_job(read(name)))
        except NotFoundError:
            found[name] = missing(name)
        except KubetuneError as error:
            found[name] = f"not read: {error}"
    return found


def trials_command(ctx: Context) -> int:
    kube, view = _read(ctx)
    counted = _notes(ctx, kube, view, datetime.now(UTC))
    if _no_trials(ctx, view) and ctx.args.output == "table":
        return EXIT_OK
    args = ctx.args
    ctx.out.write(views.trials_output(view, args.output, counted, args.sort, args.top))
    return EXIT_OK


def best_command(ctx: Context) -> int:
    kube, view = _read(ctx)
    _notes(ctx, kube, view, datetime.now(UTC))
    try:
        best = views.best_output(view, ctx.args.output)
    except NotFoundError as error:  # no trial succeeded: where to see why
        raise NotFoundError(
            f"{str(error).rstrip('.')}; `{suggested(ctx)} trials {shlex.quote(ctx.args.name)}` "
            "shows each trial's phase and reason."
        ) from None
    ctx.out.write(best)
    caveat = views.best_caveat(view)
    if caveat:
        ctx.err.write(caveat)
    return EXIT_OK


def plot_command(ctx: Context) -> int:
    view = load_view(ctx)
    try:
        from kubetune.analytics.plots import drawn, summary_figure  # noqa: PLC0415 (optional)
    except ImportError:
        raise KubetuneError(
            "kubetune plot needs matplotlib: pip install 'kubetune[analytics]'"
        ) from None
    if not drawn(view).values:  # a Hyperband trial's value at a rung is one to plot
        yet = "" if view.terminal else " yet"
        raise NotFoundError(
            f'TuningJob "{view.name}" has nothing to plot{yet}: no trial has an objective or '
            f"a value at a rung ({output.count(len(view.trials), 'trial')}, phase "
            f"{view.phase}); `{suggested(ctx)} trials {shlex.quote(ctx.args.name)}` shows "
            "each trial's phase and reason."
        )
    path = Path(ctx.args.output or f"{view.name}.png")
    if path.is_dir() or ends_with_separator(ctx.args.output or ""):
        path = path / f"{view.name}.png"
    elif not path.suffix:  # savefig would add .png: the path printed is the file written
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    summary_figure(view).savefig(path, dpi=100)
    ctx.out.write(f"{path}\n")
    return EXIT_OK


def _trial_name(view: TuningJobView, given: str, trials: str) -> str:
    """The trial named `given`, or numbered `given` (7 is the trial ending in -007).
    `trials`: the `kubetune trials` command that lists the job's trials."""
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
        f"(`{trials}` lists them; a number such as 7 picks the trial ending in -007)."
    )


def _no_pod(view: TuningJobView, trial: str, prefix: str) -> NotFoundError:
    found = next(t for t in view.trials if t.name == trial)
    if found.phase in ("EarlyStopped", "Stopped") or found.reason == "ObjectiveNotFinite":
        # The operator stops a trial by deleting its Job, and its pod's log with it.
        return NotFoundError(
            f'trial "{trial}" was stopped ({found.phase}, {found.reason}): its Job and '
            f"pod were deleted with its log, which a cluster does not keep; `{prefix} "
            f"trials {view.name}` shows what was recorded of it (the values read, the "
            "reason)."
        )
    return NotFoundError(
        f'trial "{trial}" has no pod (phase {found.phase}): it has not started yet, or '
        "its Job and pod were deleted."
    )


LOG_WAIT_SECONDS = 2.0
"""How often `kubetune logs -f` looks whether a trial's container has started."""


def _started_pod(ctx: Context, kube: KubeClient, view: TuningJobView, trial: str) -> str:
    """The trial's latest pod, once its container has started (it has a log). Before
    then: an error that says what the trial waits for, or with -f a line on stderr
    saying so (again when that changes) while it waits."""
    container = view.spec.trial_template.primary_container_name() or ""
    said = ""
    while True:
        pods = kube.trial_pods(view.namespace, trial)
        if pods:
            waiting = pod_not_started(pods[-1], container)
            if waiting is None:
                return str(pods[-1].metadata.name)
            # A pod that ended without starting the container never will.
            ended = getattr(pods[-1].status, "phase", None) in ("Succeeded", "Failed")
        else:
            if said:  # waited for a pod: the trial may have ended meanwhile
                view = parse_tuning_job(kube.get_tuning_job(view.namespace, view.name))
            found = next(t for t in view.trials if t.name == trial)
            if found.phase != "Pending":
                raise _no_pod(view, trial, suggested(ctx))
            detail = ": ".join(p for p in (found.reason, found.message) if p)
            waiting, ended = found.phase + (f" ({detail})" if detail else ""), False
        text = f"trial {trial} is {waiting}"
        init = failed_init_container(_as_sent(pods[-1])) if ended else None
        if init is not None:
            name, code = init[0].get("name"), init[1].get("exitCode")
            pod = pods[-1].metadata.name
            command = f"{_kubectl(ctx)} logs -n {shlex.quote(view.namespace)} {pod} -c {name}"
            raise KubetuneError(
                f"{text}: it has no log, as its init container {name} failed (exit code "
                f"{code}); `{command}` shows why."
            )
        if ended or not ctx.args.follow:
            command = f"{suggested(ctx)} logs {view.name} {shlex.quote(ctx.args.trial)} -f"
            wait = "" if ended else f"; `{command}` waits for it to start"
            raise KubetuneError(f"{text}: it has no log yet{wait}.")
        if text != said:
            ctx.err.write(f"{text}: waiting for its container to start (Ctrl-C to stop)\n")
            ctx.err.flush()
            said = text
        time.sleep(LOG_WAIT_SECONDS)


def _as_sent(pod: Any) -> dict[str, Any]:
    """A pod of the client's models as the API server sends it (camelCase), as the
    operator reads pods (`failed_init_container`)."""
    sent: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)  # type: ignore[no-untyped-call]
    return sent


def _log_writer(ctx: Context) -> Callable[[bytes], None]:
    """Writes a log's bytes to stdout as they are (decoded where it takes text only)."""
    out = getattr(ctx.out, "buffer", None)
    if out is not None:

        def write(chunk: bytes) -> None:
            out.write(chunk)
            out.flush()

        return write
    # Incremental: a character may span two chunks.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write_text(chunk: bytes) -> None:
        ctx.out.write(decoder.decode(chunk))
        ctx.out.flush()

    return write_text


def logs_command(ctx: Context) -> int:
    from kubetune.cli.local_follow import (  # noqa: PLC0415
        POLL_SECONDS,
        STARTING_SECONDS,
        print_log,
        wait_for_directory,
    )

    following_a_path = ctx.args.follow and _written_as_path(ctx.args.name)
    if following_a_path and not (Path(ctx.args.name) / MANIFEST).is_file():
        # As watch: the run of a moment ago may not have made its directory yet.
        ctx.err.write(f"{ctx.args.name} holds no run yet: waiting for one (Ctrl-C to stop)\n")
        ctx.err.flush()
        wait_for_directory(Path(ctx.args.name))
    path = _local_directory(ctx)
    if path is not None:
        trials = f"{suggested(ctx)} trials {shlex.quote(ctx.args.name)}"
        deadline = time.monotonic() + (STARTING_SECONDS if following_a_path else 0)
        while True:  # -f of a run starting: its first trials are recorded in a moment
            view = _read_local(ctx, path)
            try:
                trial = _trial_name(view, ctx.args.trial, trials)
                break
            except NotFoundError:
                if view.trials or time.monotonic() >= deadline:
                    raise
            time.sleep(POLL_SECONDS)  # the condition poll of a file another process writes
        return print_log(ctx, path, view, trial, _log_writer(ctx))
    kube, view = load(ctx)
    # A trial's log comes from its pod, operator or not; its phase may be stale then.
    _notes(ctx, kube, view, datetime.now(UTC), durations=False)
    ctx.err.flush()  # before the log, and before -f waits for the trial's container
    trial = _trial_name(view, ctx.args.trial, f"{suggested(ctx)} trials {view.name}")
    pod = _started_pod(ctx, kube, view, trial)
    container = view.spec.trial_template.primary_container_name() or ""
    if ctx.args.follow:
        write = _log_writer(ctx)
        for chunk in kube.follow_log(view.namespace, pod, container):
            write(chunk)
        return EXIT_OK
    ctx.out.write(kube.read_log(view.namespace, pod, container))
    return EXIT_OK


def stop_command(ctx: Context) -> int:
    """Sets `spec.stop: true`; the operator stops the running trials and ends the job
    Stopped (reason StoppedByUser), keeping everything recorded."""
    _cluster_only(ctx)
    kube, view = load(ctx, local_too=False)  # stop reads no local run directory
    if view.terminal:
        ctx.out.write(f'TuningJob "{view.name}" has already ended ({view.phase}).\n')
        return EXIT_OK
    kube.patch_spec(view.namespace, view.name, {"stop": True})
    ctx.out.write(
        f'TuningJob "{view.name}" is stopping: spec.stop is true; `{suggested(ctx)} watch '
        f"{view.name}` shows it end.\n"
    )
    return EXIT_OK


def watch_command(ctx: Context) -> int:
    from kubetune.cli.local_follow import LocalRun, wait_for_directory  # noqa: PLC0415
    from kubetune.cli.watch import follow, watch  # noqa: PLC0415

    terminal = sys.stdout.isatty() and ctx.out is sys.stdout
    if _written_as_path(ctx.args.name) and not Path(ctx.args.name).exists():
        wait_for_directory(Path(ctx.args.name))  # the run of a moment ago may not have made it
    path = _local_directory(ctx)
    if path is not None:
        return follow(ctx, LocalRun(path), terminal)
    try:
        kube = _kube(ctx)
    except UnreachableError as error:
        raise also_no_local_run(ctx, error) from None
    return watch(ctx, kube, _namespace(ctx, kube), terminal, partial(also_no_local_run, ctx))


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

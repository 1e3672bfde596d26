"""`kubetune run --local FILE.yaml`: a TuningJob's trials as local processes, no cluster.

The operator's `reconcile()` runs in a loop against `LocalKube` (its trial Jobs are
processes; see `kubetune.operator.kube.local`), so validation, planning, the optimizer,
stopping criteria and metric reading are the operator's own. The spec is checked before
anything runs, as at admission: the CRD's CEL rules (`cli.admission`), the pydantic models
and `validate_spec` (the checks the operator makes itself).

Ctrl-C stops the running trials (their process groups) and records them as they are:
Pending, reason Interrupted, their attempt ended then (`mark_interrupted`; a trial being
launched at that moment too, its attempt without an end); so does whatever
else ends the run loop (SIGTERM, SIGHUP, a closed stdout, a full disk, a trainer that no
longer starts), each with a one-line message; a SIGKILLed run's trainers die with it (see
`kubetune.operator.kube.local`). The same command on the same DIR resumes: the trials that
were running are started again under the same names, so the run has exactly the trials it
would have had (each starting anew: its start time is the restart's; under Hyperband the
epochs of its attempt cut short are counted in its `epochs`, `count_cut_short`). A resume
past `limits.maxRuntimeSeconds` (the wall clock since the run started, as on a cluster:
the time between runs counts) starts nothing and says so (`check_runtime_left`). Exit
codes: 0 when the run ends Completed or Stopped (or, suspended, has nothing left to run),
1 when it ends Failed or on an error, 2 on a usage error, 130 on Ctrl-C (SIGTERM and
SIGHUP too). The manifest may then change the fields a live TuningJob may change (limits,
suspend, ...), not the immutable ones. With `spec.suspend: true` nothing new is launched:
once no trial runs, the command says so and exits 0, DIR ready to resume. DIR keeps the
`--image` mapping (images.yaml), so a resume runs the trainers the run was started with; an
`--image` given again replaces the saved command of its image, saying so, once a trainer
has started with it (`_image_saver`: one that does not start leaves the saved one). A
command is run and saved with its relative paths made absolute (`anchored`), so that it
runs the same from any directory. A run warm-started from local runs takes, for an image
no `--image` maps, the command a parent saved (`parents_image`), refused naming --image
where its program cannot start here. Ctrl-C, SIGTERM or SIGHUP before any trial has
started (while the manifest is checked) ends the command with a line that says so, 130.

A run that died without recording its end (SIGKILL, a machine that went down) leaves its
trials Running in status.yaml; `kubetune.analytics.local.as_it_is` shows them to the
readers (`kubetune trials`, `describe`, ..., and the notebook API) as what they are,
interrupted, once the run recorded in DIR/.lock (its pid and start time) no longer runs,
without writing anything. From another terminal, `kubetune watch DIR` and `kubetune logs
[-f] DIR TRIAL` follow the run (`kubetune.cli.local_follow`).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml
from kubetune.analytics.errors import KubetuneError
from kubetune.analytics.local import (
    INTERRUPTED,
    LOCK,
    PARENTS,
    interrupt,
    move_counted,
    parent_directories,
    read_directory,
    run_record,
)
from kubetune.analytics.resource import parse_tuning_job
from kubetune.cli import kubectl_yaml, output, views
from kubetune.cli.admission import admission_problems
from kubetune.cli.main import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, Context, on_signals, say
from kubetune.cli.watch import (
    Reading,
    ended_before,
    ended_lines,
    final_line,
    logged_values,
    render,
)
from kubetune.operator.api import (
    API_VERSION,
    KIND,
    SEARCH_SPACE_EXHAUSTED,
    TERMINAL_PHASES,
    Strategy,
    TuningJobSpec,
)
from kubetune.operator.api.naming import trial_job_name
from kubetune.operator.api.schema import immutable_spec_fields
from kubetune.operator.controller import hyperband
from kubetune.operator.kube.client import JobNotStartedError, JobRejectedError
from kubetune.operator.kube.local import (
    MANIFEST,
    STATUS,
    STOP_GRACE_SECONDS,
    LocalKube,
    local_argv,
    local_env,
    primary_container,
    process_start,
    read_run,
    unknown_fields,
    write_atomically,
)
from kubetune.operator.kube.observe import LogSource
from kubetune.operator.kube.reconcile import (
    limit_blas_threads,
    reconcile,
    unknown_fields_message,
)
from kubetune.operator.kube.trial_job import build_trial_job
from kubetune.operator.kube.trial_logs import TrialLogs
from kubetune.operator.kube.validation import check_warm_start_parent, parse_and_validate_spec

NAMESPACE = "local"
WORKDIR = "workdir"
"""DIR/workdir: the directory the run was first started from, where its trials run (a
resume from another directory runs them there too)."""

IMAGES = "images.yaml"
"""DIR/images.yaml: the `--image` mapping (image: command) the run's trainers run with."""
IDLE_SECONDS = 1.0
"""The longest wait between two reconciles when nothing ends (timers: runtime limits)."""
ALIVE_SECONDS = 1.0
"""How often a run touches DIR/.lock: its mtime says when a run killed without a word
(SIGKILL, a machine that went down) was last alive, which ends its interrupted trials
(`as_it_is`; the status and a trainer's log may be older by the length of an epoch)."""


OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
"""A Kubernetes object name (RFC 1123 subdomain), as the API server requires of one."""


def _read_manifest(path: str, parallel: int | None) -> dict[str, Any]:
    """The manifest at `path`, read as kubectl reads it (`kubectl_yaml`): a bare n is a
    boolean there as here."""
    try:
        documents = kubectl_yaml.load_all(Path(path).read_text(), path)
    except (OSError, yaml.YAMLError) as error:
        raise KubetuneError(f"cannot read {path}: {error}") from None
    except KubetuneError as error:
        raise KubetuneError(f"{path}: {error}") from None
    # A file of several objects (as kubectl applies) runs its one TuningJob.
    jobs = [d for d in documents if isinstance(d, dict) and d.get("kind") == KIND]
    if len(jobs) != 1:
        kinds = sorted({str(d.get("kind") or "none") for d in documents if isinstance(d, dict)})
        # tuningjob, Tuningjob: kubectl knows no such kind
        misspelt = [k for k in kinds if k.lower() == KIND.lower() and k != KIND]
        found = ""
        if misspelt:
            found = f"; it has kind: {', '.join(misspelt)}, and kinds are case-sensitive"
        elif not jobs and kinds:
            found = f"; its kind: {', '.join(kinds)}"
        raise KubetuneError(
            f"{path} holds {len(jobs) or 'no'} {KIND} manifest{'s' * (len(jobs) > 1)} "
            f"(kind: {KIND}){found}; `kubetune run --local` runs one: give a file with one"
        )
    body = jobs[0]
    if body.get("apiVersion") != API_VERSION:
        raise KubetuneError(
            f"{path}: apiVersion {body.get('apiVersion')!r} is not served; write "
            f"apiVersion: {API_VERSION}"
        )
    name = (body.get("metadata") or {}).get("name")
    if not name:
        raise KubetuneError(f"{path}: metadata.name is missing")
    if not (isinstance(name, str) and len(name) <= 253 and OBJECT_NAME.fullmatch(name)):
        raise KubetuneError(
            f"{path}: metadata.name {name!r} is not a Kubernetes object name: lowercase "
            "letters, digits, '-' and '.', starting and ending with a letter or digit"
        )
    if parallel is not None:
        # Either way, as the help says; no more than maxTrials, which the spec requires.
        limits = body.setdefault("spec", {}).setdefault("limits", {})
        max_trials = limits.get("maxTrials")
        capped = min(parallel, max_trials) if isinstance(max_trials, int) else parallel
        limits["maxParallelTrials"] = capped
    return body


def check_runnable(body: dict[str, Any], images: dict[str, str]) -> TuningJobSpec:
    """The spec, checked as the API server checks it (its CEL rules) and validated as the
    operator does, and its primary container runnable here."""
    spec = checked_spec(body)
    check_runs_here(body, spec, images)
    return spec


def checked_spec(body: dict[str, Any]) -> TuningJobSpec:
    """The spec, checked as the API server checks it (its CEL rules) and validated as the
    operator does."""
    raw = body.get("spec") or {}
    spec, problems = parse_and_validate_spec(raw)
    admitted = admission_problems(raw)
    # A field the admission checks refuse is named once, in the API server's terms (the
    # models would add their own words for the same value: "Unable to parse input ...").
    named = {problem.split(": ", 1)[0] for problem in admitted}
    problems = [p for p in problems if p.split(": ", 1)[0] not in named]
    problems = list(dict.fromkeys([*admitted, *problems]))
    if spec is None or problems:
        raise KubetuneError("invalid TuningJob:\n  " + "\n  ".join(problems))
    return spec


def _primary_container(body: dict[str, Any], spec: TuningJobSpec) -> dict[str, Any]:
    """The container a trial of `spec` runs, as its Job would have it; refused first for
    fields a Job does not have (misspelt: `comand` made it a container with no command),
    as a cluster's API server refuses them (the operator creates Jobs with
    fieldValidation=Strict). Every local run starts here, so its trial Jobs, built from
    the same template, have none."""
    job = _probe_job(body, spec)
    unknown = unknown_fields(job["spec"], "V1JobSpec", "spec")
    if unknown:
        paths = [field.removeprefix("spec.") for field in unknown]
        raise KubetuneError(unknown_fields_message(paths, " (a cluster's API server refuses it)"))
    try:
        return primary_container(job)
    except JobRejectedError as error:
        raise KubetuneError(str(error)) from None


def _probe_job(body: dict[str, Any], spec: TuningJobSpec) -> dict[str, Any]:
    """A trial Job of `spec`, as the operator would create it."""
    return build_trial_job(
        tuning_job_name=body["metadata"]["name"],
        tuning_job_uid="probe",
        spec=spec,
        trial="probe",
        hyperparameters={},
    )


def check_images_given(body: dict[str, Any], spec: TuningJobSpec, given: Iterable[str]) -> None:
    """Raises KubetuneError for an `--image` whose image is not the one of the container a
    local run runs (the primary one), which it would silently not use: a typo in a tag,
    a missing tag, another container's image. Names the image given and the manifest's."""
    pod = _probe_job(body, spec)["spec"]["template"]["spec"]
    runs = _primary_container(body, spec)
    others = {
        str(c.get("image")): str(c.get("name"))
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
        if c.get("name") != runs.get("name")
    }
    for image in given:
        if image == runs.get("image"):
            continue
        what = (
            f"is the image of container {others[image]!r}, which a local run does not run"
            if image in others
            else "matches no container image of the manifest"
        )
        raise KubetuneError(
            f"--image {image}: {what}; a local run runs container {runs.get('name')!r}, "
            f"image {runs.get('image')}: give --image {runs.get('image')}=CMD"
            + (
                f" (the manifest's other images: {', '.join(sorted(others))})"
                if set(others) - {runs.get("image")}
                else ""
            )
        )


def check_runs_here(body: dict[str, Any], spec: TuningJobSpec, images: dict[str, str]) -> None:
    """Raises KubetuneError unless the primary container of `spec` runs here with
    `images` (the `--image` mapping)."""
    container = _primary_container(body, spec)
    try:
        local_argv(container, images)
        local_env(container)
    except JobRejectedError as error:
        raise KubetuneError(str(error)) from None


def spec_changes(
    stored: dict[str, Any], spec: TuningJobSpec
) -> tuple[TuningJobSpec | None, list[str], list[str]]:
    """How `spec` differs from the `stored` raw spec, each with its defaults filled in as
    the API server would store it (an omitted field equals one given at its default): the
    stored spec parsed (None where it no longer parses), the fields (camelCase) that
    differ, and the paths (`limits.maxTrials`: into objects, down to the values)."""
    parsed, _ = parse_and_validate_spec(stored)
    old, new = (stored if parsed is None else parsed.to_api()), spec.to_api()
    fields = [f for f in sorted(old.keys() | new.keys()) if old.get(f) != new.get(f)]
    return parsed, fields, _differing(old, new, "")


def _differing(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            found
            for key in sorted(old.keys() | new.keys())
            for found in _differing(old.get(key), new.get(key), f"{path}.{key}".lstrip("."))
        ]
    return [] if old == new else [path]


PARALLEL_PATH = "limits.maxParallelTrials"
"""The field `--parallel` sets (`_read_manifest`)."""


def prepare_directory(
    body: dict[str, Any],
    spec: TuningJobSpec,
    directory: Path,
    err: IO[str],
    parallel: int | None = None,
) -> None:
    """DIR/tuningjob.yaml: written on the first run; on a resume, changed as the edited
    manifest (and `parallel`, the --parallel given, which `body` holds) would change a
    TuningJob on a cluster (see `_apply_changes`)."""
    manifest = directory / MANIFEST
    if manifest.is_file():
        _apply_changes(body, spec, directory, err, parallel)
        return
    directory.mkdir(parents=True, exist_ok=True)
    meta = body.setdefault("metadata", {})
    meta.update(
        namespace=NAMESPACE,
        uid=str(uuid.uuid4()),
        generation=1,
        creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    write_atomically(manifest, body)


def _apply_changes(
    body: dict[str, Any],
    spec: TuningJobSpec,
    directory: Path,
    err: IO[str],
    parallel: int | None,
) -> None:
    """A change to an immutable field is refused, naming it; the others take effect (as
    `kubectl apply` of the edited manifest would), but not on a run that has ended: an
    ended TuningJob stays ended. A line names what changed, down to each value (a
    maxParallelTrials that --parallel changed as the option's doing, not the manifest's)."""
    manifest = directory / MANIFEST
    stored = yaml.safe_load(manifest.read_text())
    name, stored_name = body["metadata"]["name"], stored["metadata"]["name"]
    if stored_name != name:
        raise KubetuneError(
            f"{directory} holds the run of TuningJob {stored_name!r}, not {name!r}; give "
            "another --out"
        )
    stored_spec, changed, paths = spec_changes(stored.get("spec") or {}, spec)
    immutable_fields = immutable_spec_fields()
    frozen = [f"spec.{f}" for f in changed if f in immutable_fields]
    if frozen:
        raise KubetuneError(
            f"{directory} holds a run with another value of {', '.join(frozen)}, immutable "
            "on a TuningJob; give another --out to start anew (to go on from its trials, "
            f"warm-start the new run from it: spec.warmStart.parents: [{stored_name}], "
            f"--parent {directory})"
        )
    if not changed:
        return
    by_option = parallel is not None and PARALLEL_PATH in paths
    edited = [f"spec.{p}" for p in paths if not (by_option and p == PARALLEL_PATH)]
    was = "?" if stored_spec is None else stored_spec.limits.max_parallel_trials
    now = spec.limits.max_parallel_trials
    option = f"--parallel {parallel} (spec.{PARALLEL_PATH} {now}, was {was})" if by_option else ""
    by_parallel = [f"spec.{PARALLEL_PATH} (--parallel {parallel})"] if by_option else []
    shown = ", ".join(edited + by_parallel)
    run = read_run(directory)
    status = run.get("status") or {}
    phase = status.get("phase")
    if phase in TERMINAL_PHASES:
        ended = (
            f"{directory} has ended ({phase}) and stays ended, as a TuningJob does: the "
            f"changed {shown} has no effect"
        )
        if status.get("reason") == SEARCH_SPACE_EXHAUSTED:
            # A child with the same space would end at once: say what describe says.
            advice = views.exhausted_advice(parse_tuning_job(run, directory))
            err.write(f"{ended}; {advice} Pass --parent {directory} to the new run.\n")
            return
        err.write(
            f"{ended}. To run more trials, run a new TuningJob warm-started from this one "
            f"(spec.warmStart.parents: [{name}], --parent {directory}).\n"
        )
        return
    stored["spec"] = body["spec"]
    stored["metadata"]["generation"] = stored["metadata"].get("generation", 1) + 1
    write_atomically(manifest, stored)
    applied = [option] if option else []
    if edited:
        applied.append(f"the manifest's changes to {', '.join(edited)}")
    err.write(f"applied {' and '.join(applied)}\n")


def lock_directory(directory: Path) -> IO[str]:
    """DIR/.lock, locked for as long as the returned file stays open: two runs on one
    directory would each run every trial. flock is released by the kernel when the
    process ends, however it ends, so a killed run leaves no stale lock."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = (directory / LOCK).open("a+")
    # A reader asks whether a run of another host holds the lock by taking a shared one
    # for an instant (`kubetune.analytics.local._lock_held`), which a poll repeats: the
    # lock is tried again for half a second before the directory is called in use.
    deadline = time.monotonic() + 0.5
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                lock.seek(0)
                holder = run_record(lock.read()).get("pid", "unknown")
                lock.close()
                raise KubetuneError(
                    f"{directory} is in use by another kubetune run (pid {holder}); wait for "
                    "it to end or stop it first, or give another --out"
                ) from None
        time.sleep(0.02)  # the poll of a lock another process holds
    lock.truncate(0)
    # With its start time the pid names this process, even once the pid is reused.
    pid = os.getpid()
    record = {"pid": pid, "started": process_start(pid), "host": socket.gethostname()}
    lock.write(yaml.safe_dump(record, sort_keys=False))
    lock.flush()
    return lock


def warm_start_parents(spec: TuningJobSpec, directory: Path, given: list[str]) -> dict[str, Path]:
    """The run directory of each `spec.warmStart.parents` name: one given with --parent
    (its tuningjob.yaml names it), else the one DIR/parents.yaml recorded (a resume needs
    no --parent again), else the directory of that name beside `directory` (where
    `kubetune run --local` puts a run by default): `parent_directories`. A KubetuneError
    for a parent not found there, and for one that cannot warm-start `spec` (other
    parameters or objective: `check_warm_start_parent`)."""
    if spec.warm_start is None:
        if given:
            raise KubetuneError("--parent given but the spec has no warmStart.parents")
        return {}
    by_name: dict[str, Path] = {}
    for parent_dir in map(Path, given):
        if not (parent_dir / MANIFEST).is_file():
            raise KubetuneError(f"--parent {parent_dir}: no {MANIFEST}; not a local run directory")
        by_name[read_run(parent_dir)["metadata"]["name"]] = parent_dir
    parents = {}
    known = parent_directories(directory, spec.warm_start.parents)
    for name in spec.warm_start.parents:
        parent_dir = by_name.pop(name, known[name])
        if not (parent_dir / MANIFEST).is_file():
            raise KubetuneError(
                f"spec.warmStart.parents: parent {name!r} has no local run at {parent_dir}; "
                "give its run directory with --parent DIR"
            )
        # Checked here as the operator checks it (`reconcile`), before DIR is written:
        # there the run would be made only to end Failed, and need another --out.
        mismatch = check_warm_start_parent(spec, name, read_run(parent_dir).get("spec") or {})
        if mismatch is not None:
            raise KubetuneError(f"{mismatch} (its run: {parent_dir})")
        parents[name] = parent_dir
    if by_name:
        raise KubetuneError(
            f"--parent: {', '.join(map(repr, by_name))} not in spec.warmStart.parents "
            f"({', '.join(spec.warm_start.parents)})"
        )
    return parents


def _latest_values(kube: LocalKube, view: Any) -> dict[str, Reading]:
    """The latest objective value in each running trial's log (as `kubetune watch`)."""
    return logged_values(kube.logs, view)


def _report(ctx: Context, kube: LocalKube, reported: set[str], drawn: list[int]) -> Any:
    """Progress as `kubetune watch` shows it: the redrawn screen on a terminal, else a
    line per trial that ends."""
    body = kube.get_tuning_job(NAMESPACE, kube.body["metadata"]["name"]) or {}
    view = parse_tuning_job(body, kube.directory)
    if ctx.out.isatty():
        lines = render(view, _latest_values(kube, view), datetime.now(UTC))
        clear = f"\x1b[{drawn[0]}F\x1b[J" if drawn[0] else ""
        ctx.out.write(clear + "\n".join(lines) + "\n")
        drawn[0] = len(lines)
        ctx.out.flush()
        return view
    ctx.out.write("".join(line + "\n" for line in ended_lines(view, reported)))
    ctx.out.flush()
    return view


def run_local(ctx: Context) -> int:
    # SIGTERM and SIGHUP end the run as Ctrl-C does (130, nothing left running), from the
    # start: the checks before the first trial take a second or two.
    with on_signals(_raise_signalled, ["SIGTERM", "SIGHUP"]):
        try:
            lock, kube, name, spec, save = _prepare(ctx)
        except KeyboardInterrupt as error:  # once trials may run, `_run` says it instead
            cause = _cause(error)
            shown = "" if cause == "Ctrl-C" else f" ({cause})"
            say(ctx.err, f"interrupted{shown} before any trial started: nothing ran\n")
            return EXIT_INTERRUPTED
        limit_blas_threads()  # the GP fits share the cores with the trainers
        with lock:
            return _run(ctx, kube, name, spec.judges_running_trials, save)


def _prepare(ctx: Context) -> tuple[IO[str], LocalKube, str, TuningJobSpec, Callable[[], None]]:
    """The checked manifest's run, ready to start: DIR locked (the open lock file), its
    LocalKube, the job's name and spec, and what saves the run's `--image` mapping once a
    trainer has started with it (`_image_saver`)."""
    args = ctx.args
    body = _read_manifest(args.file, args.parallel)
    name = body["metadata"]["name"]
    directory = Path(args.out or name)
    # (NAME, CMD) pairs, checked by the parser; saved and run anchored (`anchored`)
    given = {image: anchored(command) for image, command in args.image}
    saved = saved_images(directory)
    images = {**saved, **given}  # a resume runs the commands its trials ran with
    spec = checked_spec(body)
    parents = warm_start_parents(spec, directory, args.parent)
    inherited = parents_image(_primary_container(body, spec), images, parents)
    if inherited is not None:
        check_inherited_starts(inherited)
        images[inherited.image] = given[inherited.image] = inherited.command
        ctx.err.write(
            f"--image {inherited.image}={shlex.quote(inherited.command)} taken from the "
            f"warm-start parent's {inherited.saved_in}; give --image to run another command\n"
        )
    check_images_given(body, spec, (image for image, _ in args.image))
    check_runs_here(body, spec, images)
    check_holds_no_other_files(directory, default=args.out is None)
    check_runtime_left(directory, spec, args.file)
    try:
        lock = lock_directory(directory)
    except OSError as error:
        raise KubetuneError(_unusable(directory, error)) from None
    try:
        prepare_directory(body, spec, directory, ctx.err, args.parallel)
        save_parents(directory, parents)
        # A damaged status.yaml (not YAML, or not a status) is named before anything runs.
        parse_tuning_job(read_directory(directory), directory)
        kube = LocalKube(directory, images, parents, started_from(directory))
    except BaseException as error:
        lock.close()  # now, not when the exception is freed (in-process runs)
        if isinstance(error, OSError):
            raise KubetuneError(_unusable(directory, error)) from None
        raise
    return lock, kube, name, spec, _image_saver(kube, saved, given, ctx.err)


def check_runtime_left(directory: Path, spec: TuningJobSpec, file: str) -> None:
    """Raises KubetuneError where the run in `directory`, not ended, would resume past its
    `limits.maxRuntimeSeconds` (in `spec`, the manifest given): its interrupted trials would
    start again only to be stopped at once. The runtime is the cluster's, the wall clock
    since the run started (`status.startTime`): the time between two runs counts, as a
    TuningJob's time waiting for its pods does. Nothing is started or written, so that the
    limit, once raised in the manifest, lets the run go on. A manifest that stops the job
    (`spec.stop`) is let through: the resume ends it."""
    limit = spec.limits.max_runtime_seconds
    if limit is None or spec.stop or not (directory / MANIFEST).is_file():
        return
    try:  # a status that cannot be read is named where the run reads it
        status = read_run(directory).get("status") or {}
        started = status["startTime"]
        elapsed = (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds()
    except (OSError, yaml.YAMLError, LookupError, TypeError, ValueError):
        return  # not started yet, or not readable: the run says why
    if status.get("phase") in TERMINAL_PHASES:
        return
    if elapsed >= limit:
        raise KubetuneError(
            f"maxRuntimeSeconds ({limit}) has passed since the run started at "
            f"{started.replace('T', ' ')} ({output.duration(elapsed)} ago; the time between "
            f"its runs counts, as on a cluster): nothing was started again; raise it in "
            f"{file} (spec.limits.maxRuntimeSeconds) and run the same command to go on"
        )


def check_holds_no_other_files(directory: Path, default: bool = False) -> None:
    """Raises KubetuneError where `directory` exists and holds files but no run (no
    tuningjob.yaml; a run interrupted while it started leaves only its .lock): a folder of
    the user's (`--out .`, a source folder named like the job), which a run would fill
    with its own files and logs. Names it and a few of its files, and says to give another
    --out; `default`: the directory is the default --out, the job's name."""
    if (directory / MANIFEST).is_file():
        return
    try:
        found = sorted(entry.name for entry in directory.iterdir() if entry.name != LOCK)
    except OSError:
        return  # no such directory (made when locked), or one that cannot be: named then
    if found:
        shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        which = " (the default --out, the job's name)" if default else ""
        where = f". ({Path.cwd()})" if directory == Path() else _shown(directory)
        raise KubetuneError(
            f"{where}{which} is a directory of other files ({shown}), not a run "
            f"directory (no {MANIFEST}): a run would mix its files and logs with them; give "
            "another --out, a new or empty directory (or a run directory, to resume it)"
        )


def started_from(directory: Path) -> Path:
    """Where the run's trials run: the directory its first start was run from, recorded in
    DIR/workdir (written now on a first run; a run directory of an earlier kubetune has
    none, and takes the current one, as does one copied from a machine where that
    directory was: it is not here)."""
    path = directory / WORKDIR
    here = Path.cwd()
    try:
        recorded = Path(path.read_text().rstrip("\n"))
    except FileNotFoundError:
        pass
    else:
        return recorded if recorded.is_dir() else here
    path.write_text(f"{here}\n")
    return here


def saved_images(directory: Path) -> dict[str, str]:
    """The `--image` mapping saved in DIR ({} where none is)."""
    path = directory / IMAGES
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return {}  # none saved (an --out that cannot be a directory is named when locked)
    except OSError as error:
        raise KubetuneError(_unusable(directory, error)) from None
    with contextlib.suppress(yaml.YAMLError):
        saved = yaml.safe_load(text)
        if isinstance(saved, dict) and all(isinstance(c, str) for c in saved.values()):
            return {str(image): command for image, command in saved.items()}
    raise KubetuneError(f"{path} is not a mapping of image to command; delete it and give --image")


@dataclass(frozen=True)
class InheritedImage:
    """The command of the primary container's image, taken from a warm-start parent's
    saved `--image` mapping (`parents_image`)."""

    image: str
    command: str
    saved_in: Path
    """The parent's images.yaml."""


def parents_image(
    container: Mapping[str, Any], images: Mapping[str, str], parents: Mapping[str, Path]
) -> InheritedImage | None:
    """Where `container` has no command and `images` (the `--image` options, and the
    mapping saved in DIR) has none for its image: the command the first parent (in
    `spec.warmStart.parents` order) whose run directory saved one for that image ran it
    with, so that a run warm-started from it needs no `--image` repeated. None otherwise."""
    image = container.get("image")
    if container.get("command") or not isinstance(image, str) or image in images:
        return None
    for parent_dir in parents.values():
        command = saved_images(parent_dir).get(image)
        if command is not None:
            return InheritedImage(image, command, parent_dir / IMAGES)
    return None


def save_images(
    directory: Path, saved: dict[str, str], given: dict[str, str], err: IO[str]
) -> None:
    """DIR/images.yaml: the saved mapping with the commands given this time (`--image`, or
    taken from a parent), each one that replaces another command for its image said in a
    line."""
    for image, command in given.items():
        if image in saved and saved[image] != command:
            err.write(
                f"--image {image}={shlex.quote(command)} replaces the command saved in "
                f"{directory / IMAGES} ({shlex.quote(saved[image])})\n"
            )
    if {**saved, **given} != saved:
        write_atomically(directory / IMAGES, {**saved, **given})


def _image_saver(
    kube: LocalKube, saved: dict[str, str], given: dict[str, str], err: IO[str]
) -> Callable[[], None]:
    """What saves `given` in DIR/images.yaml (`save_images`) the first time it is called
    after a trainer of this run has started: a command that does not start is not kept
    for the resume (the one that ran stays saved). A run killed before then keeps the
    saved mapping, as if the command had not been given."""
    done = False

    def save_once_started() -> None:
        nonlocal done
        if not done and any(job.process is not None for job in kube.jobs.values()):
            save_images(kube.directory, saved, given, err)
            done = True

    return save_once_started


def anchored(command: str) -> str:
    """`command` with its relative paths made absolute: its program when given as a path
    (`./train.sh`, `.venv/bin/python`) and each other word that names a file or directory
    here (`train.py`, `data`). Saved so, it runs the same from any directory: a resume, or
    a run warm-started from this one, started elsewhere. A program found on PATH, an
    option (`--data=x`) and a module (`-m pkg.train`) stay as they are. `command` itself
    (as written) where nothing changes."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command  # not splittable: refused where it is run, naming it
    absolute = [
        os.path.abspath(word)
        if word
        and not os.path.isabs(word)
        and not word.startswith("-")
        and ("/" in word if i == 0 else os.path.exists(word))
        else word
        for i, word in enumerate(words)
    ]
    return command if absolute == words else shlex.join(absolute)


def check_inherited_starts(inherited: InheritedImage) -> None:
    """Raises KubetuneError, naming --image, where the program of the command taken from a
    parent cannot start here (not found, or not executable): it ran in the parent's run,
    from its directory or before it was moved or deleted."""
    try:
        program = shlex.split(inherited.command)[0]
    except (ValueError, IndexError):
        return  # not a command: refused where it is run, naming it
    if shutil.which(program) is None:
        raise KubetuneError(
            f"the command {inherited.command!r} of image {inherited.image!r}, taken from the "
            f"warm-start parent's {inherited.saved_in}, cannot start here: {program!r} is "
            f"not an executable file here; give the command with --image "
            f"{inherited.image}=CMD"
        )


def save_parents(directory: Path, parents: Mapping[str, Path]) -> None:
    """DIR/parents.yaml: where the warm-start parents were found (absolute), for
    `kubetune describe DIR` to count their trials (`parent_directories`)."""
    where = {name: str(path.absolute()) for name, path in parents.items()}
    known = parent_directories(directory, list(where))  # recorded, or the default place
    if where != {name: str(path) for name, path in known.items()}:
        write_atomically(directory / PARENTS, where)


def _unusable(directory: Path, error: OSError) -> str:
    where = (
        f" ({error.filename})" if error.filename and str(error.filename) != str(directory) else ""
    )
    return (
        f"cannot use {directory} as the run directory: {error.strerror or error}{where}; "
        "give another --out"
    )


def _shown(directory: Path) -> str:
    """`./NAME` for a directory in the current one: the form `kubetune trials` reads as a
    local run whatever the options (a bare NAME may mean the cluster's job)."""
    return str(directory) if directory.parent != Path() else f".{os.sep}{directory}"


class _Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a closed terminal, `timeout`, a cancelled CI job): the run ends
    as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.cause = signal.Signals(signum).name


def _raise_signalled(signum: int, _frame: Any) -> None:
    raise _Signalled(signum)


def _cause(error: KeyboardInterrupt) -> str:
    """What interrupted the run: "Ctrl-C", or the signal's name."""
    return error.cause if isinstance(error, _Signalled) else "Ctrl-C"


def _run(
    ctx: Context,
    kube: LocalKube,
    name: str,
    judges_curves: bool,
    save: Callable[[], None] = lambda: None,
) -> int:
    """The run loop; however it is left other than by the run's end (Ctrl-C, SIGTERM,
    SIGHUP, a closed stdout, an error such as a full disk or a trainer that no longer
    starts), its trainers are stopped and its running trials recorded as interrupted
    (`_interrupted`), then one line says why, and the exit code is not 0. `save` saves the
    `--image` mapping once a trainer has started (`_image_saver`)."""
    directory = kube.directory
    try:
        return _loop(ctx, kube, name, judges_curves, save)
    except KeyboardInterrupt as error:
        return _interrupted(ctx, kube, _cause(error), None)
    except BrokenPipeError:
        if ctx.out is sys.stdout:  # nothing more reaches it, at exit neither
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        problem = "the output was closed (a pipe's reader ended)"
        return _interrupted(ctx, kube, "output closed", problem)
    except JobNotStartedError as error:
        return _interrupted(ctx, kube, "a trainer did not start", str(error))
    except OSError as error:  # a full disk
        where = f" {error.filename}" if error.filename else f" in {directory}"
        problem = f"cannot write{where}: {error.strerror or error}"
        advice = f"fix that and run the same command to resume ({directory} is kept)"
        return _interrupted(ctx, kube, problem, f"{problem}; {advice}")
    except Exception as error:  # a bug: its trainers are stopped all the same
        problem = str(error) if isinstance(error, KubetuneError) else repr(error)
        return _interrupted(ctx, kube, "an error", problem)


def _loop(
    ctx: Context, kube: LocalKube, name: str, judges_curves: bool, save: Callable[[], None]
) -> int:
    directory = kube.directory
    drawn = [0]  # lines of the screen drawn last (terminal only)
    ctx.err.write(f"run directory: {_shown(directory)} (logs in {directory / 'logs'})\n")
    reported, counted = ended_before(parse_tuning_job(kube.body, directory))
    if counted is not None and not ctx.out.isatty():
        ctx.out.write(counted + "\n")
    # A killed run's attempts, counted before their logs begin anew: written with the
    # restarts' start times (`resume`); a restart that fails writes nothing, and its
    # interruption (`mark_interrupted`) counts them from the logs instead.
    count_cut_short(kube, kube.body, _restarting(kube))
    unmark_interrupted(kube)
    try:
        restarted = kube.resume()
        if restarted:
            ctx.err.write(f"resumed; started again: {', '.join(restarted)}\n")
        alive_at = -math.inf
        while True:
            result = reconcile(kube, NAMESPACE, name, curve_read_seconds=0.0)
            save()
            if time.monotonic() - alive_at >= ALIVE_SECONDS:
                alive_at = time.monotonic()
                with contextlib.suppress(OSError):  # a bound lost, no more
                    os.utime(directory / LOCK)
            view = _report(ctx, kube, reported, drawn)
            if result.terminal:
                ctx.out.write(final_line(view) + "\n")
                return EXIT_ERROR if view.phase == "Failed" else EXIT_OK
            if view.spec.suspend and not any(
                t.phase in ("Pending", "Running") for t in view.trials
            ):
                # Nothing runs, nothing will: waiting would hang with no end.
                ctx.err.write(
                    f"spec.suspend is true: no trial is launched ({len(view.trials)} run so "
                    f"far); set it to false in {ctx.args.file} and run the same command to go "
                    "on\n"
                )
                return EXIT_OK
            # Hyperband and the median rule judge trials by the values they print: here the logs
            # are files, read at every reconcile, and a reconcile follows every line a trial
            # writes, so even a trial of a few seconds is stopped where the rule says (on a
            # cluster the operator follows the pods' logs as streams instead).
            kube.wait(
                min(result.requeue_after or IDLE_SECONDS, IDLE_SECONDS),
                on_output=judges_curves,
            )
    finally:
        # However the loop is left, once a trainer has started its command is saved (before
        # `_interrupted` stops it): a resume without --image runs it again.
        with contextlib.suppress(OSError):  # the error that ended the loop says more
            save()


def _interrupted(ctx: Context, kube: LocalKube, cause: str, problem: str | None) -> int:
    """Stop the running trainers (all at once; Ctrl-C, SIGTERM or SIGHUP again kills them
    at once) and record their trials as interrupted; one line says so. 130 for an
    interruption (`problem` None), else 1 with `problem` in the line."""

    def hurry(_signum: int, _frame: Any) -> None:
        kube.hurry = True

    with on_signals(hurry, ["SIGINT", "SIGTERM", "SIGHUP"]):
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        running = kube.running()
        if running:
            # Ctrl-C again is offered to whoever pressed it; a SIGTERM's sender (`timeout`,
            # a CI, systemd) or a closed terminal is told what comes instead.
            then = "; Ctrl-C again to kill them now" if cause == "Ctrl-C" else ", then killed"
            say(
                ctx.err,
                f"stopping {len(running)} running trial{'s' * (len(running) != 1)} (up to "
                f"{STOP_GRACE_SECONDS:g} s{then})\n",
            )
        kube.stop_all()
        unrecorded = ""
        try:
            mark_interrupted(kube, cause)
        except OSError as error:
            unrecorded = (
                f" ({STATUS} could not record them as interrupted: {error.strerror or error})"
            )
    if problem is None:
        say(
            ctx.err,
            f"interrupted{'' if cause == 'Ctrl-C' else f' ({cause})'}: running trials "
            f"stopped{unrecorded}; resume with the same command\n",
        )
        return EXIT_INTERRUPTED
    # A problem that says its own fix says how to go on; to the others (a closed output,
    # an unexpected error) the advice is joined as a sentence of its own, not as a "then".
    advice = "" if "run the same command" in problem else "; run the same command to resume"
    say(
        ctx.err,
        f"error: {problem}{advice} (running trials stopped and recorded as interrupted"
        f"{unrecorded})\n",
    )
    return EXIT_ERROR


def mark_interrupted(kube: LocalKube, cause: str = "Ctrl-C") -> None:
    """After Ctrl-C, the status as it is, not as it was (`interrupt`), written to DIR, with
    the epochs of the attempts cut short counted (`count_cut_short`).
    `unmark_interrupted` undoes the rest before the run resumes, so that the operator's
    reconcile sees the run exactly as it left it."""
    body = read_run(kube.directory)  # the file: the last write is the truth
    status = body.get("status")
    running = [t for t in (status or {}).get("trials") or [] if t.get("phase") == "Running"]
    if status and interrupt(status, cause, datetime.now(UTC)):
        count_cut_short(kube, body, running)
        write_atomically(kube.directory / STATUS, status)


def count_cut_short(kube: LocalKube, body: dict[str, Any], trials: list[dict[str, Any]]) -> None:
    """Hyperband: the epochs of the attempts of `trials` (in `body`'s status) cut short by
    the end of their run, added to each one's `epochs` and to the job's `epochsConsumed`:
    as many as the values of the objective in its log (read as the operator reads a
    running trial's, `TrialLogs.curve`), for a trial not counted before at least the
    epochs of its highest rung (its rung values are then its own), at most maxResource.
    On a cluster an attempt cut short is retried, and counted then
    (`hyperband.count_epochs`); here the same attempt starts again with a new log, which
    loses its values, so they are counted when it is cut short: where its interruption is
    recorded (`mark_interrupted`), or for a run killed before it could record it, before
    its trials start again (`_loop`)."""
    spec, _ = parse_and_validate_spec(body.get("spec") or {})
    status = body.get("status") or {}
    if spec is None or spec.strategy is not Strategy.HYPERBAND or not trials:
        return
    logs, rungs = TrialLogs(kube, NAMESPACE, spec), hyperband.levels(spec)
    for trial in trials:
        job = trial_job_name(trial["name"], trial.get("attempt", 1))
        curve = logs.curve(LogSource(job, spec.trial_template.primary_container_name() or ""))
        counted = len(curve or ())
        reached = len(trial.get("rungValues") or [])
        if trial.get("epochs") is None and reached:
            counted = max(counted, rungs[min(reached, len(rungs)) - 1])
        counted = min(counted, hyperband.max_resource(spec))
        if counted:
            trial["epochs"] = int(trial.get("epochs") or 0) + counted
    status["epochsConsumed"] = sum(int(t.get("epochs") or 0) for t in status.get("trials") or [])


def _restarting(kube: LocalKube) -> list[dict[str, Any]]:
    """The trials recorded Running whose Jobs `kube.resume()` starts again: those of a run
    killed before it could record its interruption (an interrupted run recorded them
    Pending)."""
    trials = (kube.body.get("status") or {}).get("trials") or []
    return [
        t
        for t in trials
        if t.get("phase") == "Running"
        and (job := trial_job_name(t["name"], t.get("attempt", 1))) not in kube.jobs
        and (kube.logs / f"{job}.job.yaml").is_file()
    ]


def unmark_interrupted(kube: LocalKube) -> None:
    """The trials `mark_interrupted` marked as they were when the run was interrupted, in
    `kube` only: Running again those that ran (`interrupt` gave them an end), and Pending
    with no reason those being launched (the reconcile launches them, or `kube.resume()`
    starts the Job one got; Running without a Job would read as a deleted Job).
    `kube.resume()` starts their Jobs again and writes them with their new start. Until
    then DIR keeps them interrupted with their attempt's end, so a restart that fails to
    start (its command no longer starts) leaves each one's duration as it was, not
    counting the time since. The job's reason, message and conditions are the
    reconcile's to rewrite."""
    status = kube.body.get("status") or {}
    trials = [
        t
        for t in status.get("trials") or []
        if t.get("phase") == "Pending" and t.get("reason") == INTERRUPTED
    ]
    ran = 0
    for trial in trials:
        if trial.get("endTime"):
            trial["phase"] = "Running"
            ran += 1
        for key in ("reason", "message", "endTime"):
            trial.pop(key, None)
    move_counted(status, ran, "pending", "running")

"""`kubetune` (and `kubectl tune`): the argument parser and the dispatch to commands.

Exit codes follow convention: 0 done, 1 an error (unknown job, no cluster, no
permission, nothing to show, a job that failed while watched, an output that cannot be
written), 2 a usage error, 130 interrupted.

This module imports only the standard library: the console script imports it before
`main` runs, and everything imported before `main` runs is outside its handling (a
Ctrl-C there is a traceback). The commands, and with them numpy, scipy, pydantic and the
Kubernetes client (a second or more), are imported inside `run`, where an interrupt ends
the command as it does later on.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from mimetypes import MimeTypes

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
TRIAL_FORMATS = ("table", "csv", "json", "yaml")
BEST_FORMATS = ("yaml", "json", "args", "env")


@dataclass
class Context:
    """What every command gets: the parsed options and where to write."""

    args: argparse.Namespace
    out: TextIO
    err: TextIO


def _prog() -> str:
    """`kubectl tune` when run as the kubectl plugin, else `kubetune`."""
    return "kubectl tune" if os.path.basename(sys.argv[0]).startswith("kubectl-") else "kubetune"


def _cluster_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """kubectl's flags. Accepted before and after the command; SUPPRESS on the
    subcommands keeps a flag given before the command from being reset after it.
    (`-A/--all-namespaces` is `list`'s own: the other commands read one TuningJob.)"""
    default = None if defaults else argparse.SUPPRESS
    parser.add_argument(
        "-n", "--namespace", default=default, help="namespace (default: the context's)"
    )
    parser.add_argument("--context", default=default, help="kubeconfig context to use")
    parser.add_argument(
        "--kubeconfig",
        default=default,
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)",
    )


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_: str
) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help_, description=help_)
    _cluster_options(sub, defaults=False)
    return sub


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Watch, analyse, plot and stop kubetune TuningJobs.",
        epilog=NAME_HELP + (PLUGIN_FLAGS_HELP if _prog() == "kubectl tune" else "") + EXIT_HELP,
    )
    parser.add_argument("--version", action=_VersionAction)
    _cluster_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub = _command(commands, "list", "the TuningJobs: phase, best objective, trials done, age")
    sub.add_argument(
        "-A", "--all-namespaces", action="store_true", help="the TuningJobs of every namespace"
    )
    sub = _command(commands, "describe", "a TuningJob in detail, with its recent Events")
    sub.add_argument("name", metavar="NAME", help=NAME_ARG_HELP)
    sub = _command(commands, "trials", "every trial: hyperparameters, metrics, outcome, timing")
    sub.add_argument("name", metavar="NAME", help=NAME_ARG_HELP)
    sub.add_argument(
        "-o", "--output", choices=TRIAL_FORMATS, default="table", help="format (default: table)"
    )
    sub.add_argument(
        "--sort",
        metavar="FIELD",
        help="order by a column (objective and objective@N: best first; -FIELD reverses); "
        "default: launch order",
    )
    sub.add_argument("--top", type=_positive, metavar="N", help="only the first N trials")
    sub = _command(commands, "best", "the best trial's hyperparameters (tuned and static)")
    sub.add_argument("name", metavar="NAME", help=NAME_ARG_HELP)
    sub.add_argument(
        "-o",
        "--output",
        choices=BEST_FORMATS,
        default="yaml",
        help="format (default: yaml; args: --name=value ...; env: KUBETUNE_HYPERPARAMETERS=JSON)",
    )
    sub = _command(commands, "plot", "progress, objective per hyperparameter, scatter matrix")
    sub.add_argument("name", metavar="NAME", help=NAME_ARG_HELP)
    sub.add_argument(
        "-o",
        "--output",
        type=_image_file,
        metavar="FILE",
        help="the image to write: NAME.png by default, in DIR when a directory; a suffix "
        "picks the format (.png, .svg, .pdf, ...); a name without one, or whose suffix names "
        "no file type (run.v2), gets .png added",
    )
    sub = _command(commands, "watch", "follow a TuningJob until it ends")
    sub.add_argument("name", metavar="NAME", help=NAME_ARG_HELP)
    sub.add_argument(
        "--interval",
        type=_positive_float,
        default=2.0,
        metavar="SECONDS",
        help="seconds between reads (default: 2; a local run is also read at each change)",
    )
    sub.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="give up (exit 1) after this many seconds (default: never)",
    )
    sub = _command(commands, "logs", "a trial's log (its latest attempt)")
    sub.add_argument("name", metavar="NAME", help=NAME_ARG_HELP)
    sub.add_argument("trial", metavar="TRIAL", help="trial name, or its number (7 for NAME-007)")
    sub.add_argument("-f", "--follow", action="store_true", help="stream until the trial ends")
    sub = _command(commands, "stop", "stop a TuningJob: sets spec.stop, the operator does the rest")
    sub.add_argument("name", metavar="NAME", help="a TuningJob on the cluster")
    sub = commands.add_parser("run", help=RUN_HELP, description=RUN_HELP)
    sub.add_argument("file", metavar="FILE.yaml", help="a TuningJob manifest")
    sub.add_argument("--local", action="store_true", required=True, help="run on this machine")
    sub.add_argument(
        "--parallel",
        type=_positive,
        metavar="N",
        help="run N trials at once (overrides spec.limits.maxParallelTrials, lower or higher)",
    )
    sub.add_argument("--out", metavar="DIR", help="run directory (default: ./NAME); resumes")
    sub.add_argument(
        "--image",
        action="append",
        type=_image_command,
        default=[],
        metavar="NAME=CMD",
        help="run containers of image NAME without a command as CMD (split like a shell); "
        "saved in DIR: a resume without it runs the same CMD",
    )
    sub.add_argument(
        "--parent",
        action="append",
        default=[],
        metavar="DIR",
        help="run directory of a spec.warmStart parent (default: the directory named after "
        "the parent beside --out)",
    )
    return parser


RUN_HELP = "run a TuningJob's trials as local processes (no cluster)"
NAME_ARG_HELP = "a TuningJob, or a local run directory (see kubetune --help)"
NAME_HELP = (
    "NAME is a TuningJob on the cluster, or a local run directory (one holding "
    "tuningjob.yaml) when written as a path (runs/NAME, ./NAME) or when it is one and no "
    "-n/--context/--kubeconfig is given; stop works on the cluster only (a local run stops "
    "with Ctrl-C)."
)

EXIT_HELP = " Exit codes: 0 ok, 1 error, 2 usage error, 130 interrupted."
PLUGIN_FLAGS_HELP = (
    " As a kubectl plugin, the flags go after `tune` (kubectl tune -n NAMESPACE trials NAME, "
    "or kubectl tune trials NAME -n NAMESPACE): kubectl refuses flags placed before a "
    "plugin's name."
)
"""What `kubectl tune --help` adds: kubectl's rule, which `kubetune` does not have."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 (--version)

    try:
        return version("kubetune")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`: argparse's version action, with the version looked up only when asked
    (importlib.metadata is not needed by the other commands)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_: Any) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version"
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        sys.stdout.write(f"{parser.prog} {_version()}\n")  # where argparse's goes
        parser.exit()


# The type functions below raise ArgumentTypeError, whose message argparse shows after
# "argument --top: " (from a ValueError it would show the function's name).


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _image_command(text: str) -> tuple[str, str]:
    """run's --image NAME=CMD: the image and the command its containers run."""
    image, sep, command = text.partition("=")
    if not sep or not image or not command.strip():
        raise argparse.ArgumentTypeError(
            f"expected NAME=CMD, e.g. trainer:1='python train.py', got {text!r}"
        )
    return image, command


@cache
def _file_types() -> MimeTypes:
    """Python's built-in table of file suffixes (not the system's, which varies)."""
    from mimetypes import MimeTypes  # noqa: PLC0415 (plot -o only)

    return MimeTypes()


def ends_with_separator(text: str) -> bool:
    """`DIR/`: a directory, whether it exists or not (Path drops the separator)."""
    return text.endswith(tuple(s for s in (os.sep, os.altsep, "/") if s))


def _image_file(text: str) -> str:
    """plot's -o: a suffix must name a format matplotlib writes (a usage error here, not a
    traceback after the plot is drawn), or no file type at all: then it is part of the
    name (`run.v2`) and .png is added; a suffix of another type (.html, .csv) is refused.
    A directory or a name without suffix is completed by the command."""
    path = Path(text)
    if path.exists() and not path.is_file() and not path.is_dir():
        # /dev/null, /dev/full, a FIFO: the image would go to PATH.png beside it instead.
        raise argparse.ArgumentTypeError(
            f"{text} is not a regular file or a directory; give the image's file name "
            "(FILE.png, FILE.svg, ...) or a directory to write NAME.png in"
        )
    suffix = path.suffix.lower().removeprefix(".")
    if not suffix or path.is_dir() or ends_with_separator(text):
        return text
    try:
        from matplotlib.backend_bases import FigureCanvasBase  # noqa: PLC0415 (optional)
    except ImportError:  # the command says that plot needs matplotlib
        return text
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix not in formats:
        if _file_types().guess_type(path.name, strict=False)[0] is None:
            return f"{text}.png"
        raise argparse.ArgumentTypeError(
            f"{text}: unsupported image format .{suffix}; use one of "
            f"{', '.join('.' + f for f in sorted(formats))} (no suffix: .png)"
        )
    return text


def _sort_value_attached(argv: Sequence[str]) -> list[str]:
    """`--sort -FIELD` as `--sort=-FIELD`: argparse would take -FIELD for an option."""
    argv = list(argv)
    for i, arg in enumerate(argv[:-1]):
        following = argv[i + 1]
        if arg == "--sort" and following.startswith("-") and not following.startswith("--"):
            argv[i : i + 2] = [f"--sort={following}"]
            break
    return argv


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """Parses `argv` and runs the command; returns the exit code. An interrupt at any
    moment, the imports included, ends it with 130: `run --local` says so in a line (and
    takes SIGTERM and SIGHUP as Ctrl-C from the start, as it does later on); the other
    commands end quietly, as they do once started."""
    command: str | None = None
    started = [False]  # the command itself runs: `run --local` says why it ended
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(_sort_value_attached(argv))
        except SystemExit as exit_:
            return EXIT_OK if exit_.code in (0, None) else EXIT_USAGE
        command = args.command
        with on_signals(_raise_signalled, ["SIGTERM", "SIGHUP"] if command == "run" else []):
            return _dispatch(parser, args, out, err, started)
    except KeyboardInterrupt as error:
        if command == "run" and not started[0]:
            # The line `run --local` says of an interrupt before its first trial.
            cause = error.cause if isinstance(error, _Signalled) else ""
            say(
                err,
                f"interrupted{f' ({cause})' if cause else ''} before any trial "
                "started: nothing ran\n",
            )
        return EXIT_INTERRUPTED


def _dispatch(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    started: list[bool],
) -> int:
    """The parsed command run, its errors made lines: see `run`."""
    from kubetune.analytics.errors import KubetuneError, UsageError  # noqa: PLC0415
    from kubetune.cli import commands  # noqa: PLC0415 (see the module's docstring)

    try:
        started[0] = True
        code = commands.COMMANDS[args.command](Context(args, out, err))
    except UsageError as error:  # an option's value that only the job shows to be wrong
        err.write(f"{parser.prog} {args.command}: error: {error}\n")
        return EXIT_USAGE
    except KubetuneError as error:
        err.write(f"error: {error}\n")
        return EXIT_ERROR
    except OSError as error:
        return _os_error(args.command, error, out, err)
    try:
        out.flush()  # a full disk shows here, not in a traceback at exit
    except OSError as error:
        return _os_error(None, error, out, err)
    return code


OUTPUT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO", "EBADF", "EAGAIN", "EROFS", "EINVAL")
    if hasattr(errno, name)
)
"""What writing to a file, pipe or terminal fails with (and a network call does not)."""


def _os_error(command: str | None, error: OSError, out: TextIO, err: TextIO) -> int:
    """The exit code of a command (None: the flush of its output) that an OSError ended,
    after a line that says what could not be written (or read) and what to do. `plot`
    writes its image (a named path: its -o, or a directory it creates; a full disk names
    none); the other commands read and write files (which name a path), and stdout.
    Anything else is raised again: a bug's traceback."""
    reason = error.strerror or str(error)
    if isinstance(error, BrokenPipeError) and command != "plot":
        _discard(out)  # `kubetune trials x | head`: what head took is what was wanted
        return EXIT_OK
    if command == "plot":
        again = "give another -o (a file in a directory you may write)"
        if error.filename is None:
            problem = f"cannot write the image: {reason}; {again}"
        elif isinstance(error, FileExistsError):  # a directory to create is a file
            problem = f"cannot create the directory {error.filename}: a file is there; {again}"
        else:
            problem = f"cannot write {error.filename}: {reason}; {again}"
    elif error.filename is not None:
        # A file the command reads or writes (a run directory's): which, the OS says.
        problem = f"{error.filename}: {reason}; check that path and its permissions"
    elif error.errno in OUTPUT_ERRNOS:
        _discard(out)
        problem = _output_problem(error)
    else:
        raise error
    say(err, f"error: {problem}\n")
    return EXIT_ERROR


def _output_problem(error: OSError) -> str:
    reason = error.strerror or str(error)
    return (
        f"cannot write the output: {reason}; send it where it can be written (another "
        "file, a disk with room, an open pipe)"
    )


def _discard(out: TextIO) -> None:
    """What is left in stdout's buffer goes to /dev/null: the interpreter's flush at exit
    would fail again and print "Exception ignored ..." (Python's advice for SIGPIPE,
    https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    if out is not sys.stdout:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)


def say(stream: TextIO | IO[str], text: str) -> None:
    """`text` to stream if it can still be written (a closed pipe is no second error)."""
    with contextlib.suppress(OSError, ValueError):
        stream.write(text)
        stream.flush()


class _Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP while `run --local` starts: it ends as on Ctrl-C (`run_local`
    takes them so itself once it runs)."""

    def __init__(self, signum: int) -> None:
        self.cause = signal.Signals(signum).name
        super().__init__(self.cause)


def _raise_signalled(signum: int, _frame: Any) -> None:
    raise _Signalled(signum)


@contextlib.contextmanager
def on_signals(handler: Callable[[int, Any], None], names: list[str]) -> Iterator[None]:
    """`handler` for the named signals while inside (only the main thread may set one;
    elsewhere, as in tests that run the CLI in a thread, nothing changes)."""
    if not names or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in (getattr(signal, n) for n in names if hasattr(signal, n)):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stdout is None:  # started with stdout closed (`>&-`): nothing could be shown
        if sys.stderr is not None:
            say(sys.stderr, "error: cannot write the output: stdout is closed; give one\n")
        return EXIT_ERROR
    return run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr)

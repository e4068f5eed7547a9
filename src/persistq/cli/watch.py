"""``persistq watch PATH --pattern '*.trigger' -- COMMAND...``: the trigger-file runner.

Each trigger file in PATH is claimed through a ReadableFolderQueue and run through
COMMAND, one at a time (or ``--concurrency N``); exit 0 moves it to ``done/``, a
failure retries it with exponential backoff and finally moves it to ``failed/`` with
the command's output beside it. Each job runs in a session of its own and holds locks
that its whole process tree inherits, so a trigger never runs twice at once, even when
the watcher was SIGKILLed and the job lives on (see :mod:`persistq.cli.watch_trigger`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal

from persistq.cli.common import CliError, existing_dir
from persistq.cli.watch_notify import NotifyObserver
from persistq.cli.watch_observer import Observers, WatchObserver
from persistq.cli.watch_runner import Runner
from persistq.cli.watch_trigger import Settings
from persistq.errors import PersistqError
from persistq.folder.names import normalize_extension
from persistq.service.notify import Notifier

EXAMPLES = """\
examples:
  persistq watch /data/triggers --pattern '*.trigger' -- ./load.sh
  persistq watch /data/triggers --pattern '*.trigger' --retries 3 -- psql -f {}
  persistq watch /data/triggers --stdin -- python load.py       # path on stdin
  persistq watch /data/triggers --idle-exit 60 -- ./load.sh      # from cron
  persistq watch /data/triggers --metrics-port 9464 -- ./load.sh # Prometheus

The command gets the path of the claimed trigger file as its last argument (or where
{} appears, or on stdin with --stdin): PATH/.persistq-watch/running/NAME, a link that
keeps its name while the job runs; PERSISTQ_TRIGGER (the trigger's name) and
PERSISTQ_ATTEMPT are in its environment. Drop triggers in atomically: write
elsewhere, then rename into PATH. A job runs in a session of its own; a watcher that
is killed leaves it running, and a restarted watcher waits for it to end (and uses its
exit code) before it runs that trigger, or with --concurrency 1 any trigger.
SIGINT/SIGTERM: finish the running job(s) and stop; a second signal stops them,
gives their triggers back and exits 130. Exit 0, or 1 if a trigger failed for good
(or a producer of the folder failed), 2 if the command cannot be run (exit 126/127:
the trigger is given back as it was). Under a service manager (NOTIFY_SOCKET set,
systemd Type=notify) it sends READY=1 once watching, WATCHDOG=1 pings, STATUS= with
the running triggers, and STOPPING=1.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``watch`` subcommand."""
    parser = sub.add_parser(
        "watch",
        help="run a command for each trigger file, one at a time",
        usage="%(prog)s PATH [OPTIONS] -- COMMAND [ARG...]",
        description="Claim each trigger file that appears in PATH (or is there at start) "
        "and run COMMAND on it; done/ on success, retries with exponential backoff, then "
        "failed/ with the command's output.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="the folder that trigger files appear in")
    parser.add_argument(
        "--pattern", default="*.trigger", help="trigger files, as '*.EXT' (default '*.trigger')"
    )
    parser.add_argument("--retries", type=int, default=0, metavar="N", help="retries (0)")
    parser.add_argument(
        "--backoff", type=float, default=5.0, metavar="SECONDS", help="first retry delay (5)"
    )
    parser.add_argument(
        "--max-backoff", type=float, default=600.0, metavar="SECONDS", help="longest delay (600)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, metavar="N", help="jobs run at once (1)"
    )
    parser.add_argument("--stdin", action="store_true", help="pass the path on stdin")
    parser.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="exit once nothing was there to run for this long (default: run until stopped)",
    )
    parser.add_argument(
        "--metrics-port",
        type=port_number,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (0: a free port, "
        "logged); needs pip install 'persistq[metrics]'",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address to serve metrics on (default 127.0.0.1: this host only)",
    )
    parser.set_defaults(run=run, argv_after_dashes=True)


def port_number(text: str) -> int:
    """A TCP port, 0-65535 (argparse type)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def extension_of_pattern(pattern: str) -> str:
    """The message extension that glob ``pattern`` (``*.EXT``) selects."""
    rest = pattern[1:] if pattern.startswith("*") else ""
    if not rest.startswith(".") or any(c in rest for c in "*?[]"):
        raise CliError(f"--pattern {pattern!r}: must be '*.EXT' (trigger files by extension)")
    try:
        return normalize_extension(rest)
    except ValueError as exc:
        raise CliError(f"--pattern {pattern!r}: {exc}") from None


def check_runnable(command: list[str]) -> None:
    """CliError if COMMAND's program cannot be found or run: a typo must not fail triggers."""
    program = command[0]
    if program != "{}" and shutil.which(program) is None:
        where = "no such executable file" if "/" in program else "not found on PATH"
        raise CliError(f"COMMAND {program!r}: {where}; nothing was claimed")


def settings_of(args: argparse.Namespace) -> Settings:
    """The checked options of ``persistq watch``; CliError naming a bad one."""
    if not args.argv:
        raise CliError("no COMMAND given: persistq watch PATH [OPTIONS] -- COMMAND...")
    for option in ("retries", "concurrency"):
        if getattr(args, option) < (0 if option == "retries" else 1):
            raise CliError(f"--{option}: {getattr(args, option)} is out of range")
    if not args.backoff >= 0 or not args.max_backoff >= 0:
        raise CliError(f"--backoff {args.backoff} / --max-backoff {args.max_backoff}: negative")
    check_runnable(args.argv)
    return Settings(
        command=list(args.argv),
        stdin=args.stdin,
        retries=args.retries,
        backoff=args.backoff,
        max_backoff=args.max_backoff,
        concurrency=args.concurrency,
        idle_exit=args.idle_exit,
    )


def metrics_observer(queue: str, host: str, port: int) -> WatchObserver:
    """The observer that serves the watcher's metrics; CliError when the extra
    ``persistq[metrics]`` is missing or the port cannot be served."""
    try:
        # Imported here: the watcher's core runs without prometheus-client.
        from persistq.cli.watch_metrics import MetricsObserver  # noqa: PLC0415
    except PersistqError as exc:  # persistq.service.metrics names the extra
        raise CliError(f"--metrics-port {port}: {exc}") from None
    return MetricsObserver(queue, host, port)


def run(args: argparse.Namespace) -> int:
    """Run the trigger-file runner."""
    path = existing_dir(args.path)
    extension = extension_of_pattern(args.pattern)
    settings = settings_of(args)
    observers: list[WatchObserver] = [NotifyObserver(path, Notifier())]
    try:
        if args.metrics_port is not None:
            queue = os.path.abspath(path)
            observers.append(metrics_observer(queue, args.metrics_host, args.metrics_port))
        runner = Runner(path, extension, settings, Observers(observers))
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, runner.on_signal)
        return runner.run()
    finally:
        Observers(observers).close()

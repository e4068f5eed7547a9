"""The ``persistq`` command: inspect, repair and run persistq queues.

Exit codes: 0 success (``status``: healthy), 1 ``status`` found stuck or failed work
(or another subcommand could not complete its work), 2 a usage error (the one-line
message names the file or value at fault), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable

from persistq._version import __version__
from persistq.cli import demo, requeue, reset, schedule, status, watch
from persistq.cli.common import EXIT_INTERRUPTED, EXIT_UNHEALTHY, EXIT_USAGE, CliError
from persistq.cli.progress import ProgressAwareHandler
from persistq.errors import PersistqError
from persistq.service.jsonlog import JsonFormatter

Runner = Callable[[argparse.Namespace], int]

EPILOG = """\
exit codes: 0 success / healthy, 1 stuck or failed work found, 2 usage error,
130 interrupted. Run 'persistq SUBCOMMAND --help' for examples.
first try:  persistq demo
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="persistq",
        description="Inspect, repair and run persistq queues after a failed run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"persistq {__version__}")
    add_verbosity(parser, default=False)
    _add_log_format(parser, "text")
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    for module in (status, requeue, reset, watch, schedule, demo):
        module.add_parser(sub)
    for subparser in {id(p): p for p in sub.choices.values()}.values():  # aliases once
        # Also after the subcommand; unset there, so the main parser's value stands.
        add_verbosity(subparser, default=argparse.SUPPRESS)
        _add_log_format(subparser, argparse.SUPPRESS)
    return parser


def add_verbosity(parser: argparse.ArgumentParser, *, default: object) -> None:
    """Add ``-v/--verbose`` and ``-q/--quiet`` to ``parser``."""
    verbosity = parser.add_mutually_exclusive_group()
    for flags, text in (
        (("-v", "--verbose"), "log debug detail"),
        (("-q", "--quiet"), "log warnings only"),
    ):
        verbosity.add_argument(*flags, action="store_true", default=default, help=text)


def _add_log_format(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=default,
        help="log lines as text (default), or one JSON object each (for services)",
    )


def configure_logging(level: int, log_format: str = "text") -> None:
    """Timestamped (UTC) log lines on stderr for the whole process: text, or with
    ``log_format="json"`` one JSON object a line (:mod:`persistq.service.jsonlog`)."""
    handler = ProgressAwareHandler(sys.stderr)
    formatter: logging.Formatter = JsonFormatter()
    if log_format == "text":
        formatter = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%S"
        )
        formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Run the ``persistq`` command with ``argv`` (default: ``sys.argv[1:]``); return
    its exit code."""
    parser = build_parser()
    words = sys.argv[1:] if argv is None else list(argv)
    # Everything after the first "--" is a COMMAND to run (persistq watch), never options.
    after: list[str] | None = None
    if "--" in words:
        at = words.index("--")
        words, after = words[:at], words[at + 1 :]
    args = parser.parse_args(words)
    if after is not None and not getattr(args, "argv_after_dashes", False):
        parser.error(f"{args.subcommand} takes no COMMAND after '--'")
    args.argv = after or []
    configure_logging(
        logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        args.log_format,
    )
    run: Runner = args.run
    try:
        return run(args)
    except BrokenPipeError:
        # The reader of our output went away (``persistq requeue PATH | head``).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_UNHEALTHY
    except (CliError, PersistqError, OSError, ValueError) as exc:
        print(f"persistq {args.subcommand}: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"persistq {args.subcommand}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_USAGE

"""``persistq reset PATH`` and ``persistq purge PATH``: start a queue afresh."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os

from persistq.cli import pickup_view
from persistq.cli.common import EXIT_OK, confirm, existing_dir
from persistq.cli.folder import extension_of, wips
from persistq.folder import WritableFolderQueue
from persistq.folder.names import marker_name

log = logging.getLogger(__name__)

RESET_EXAMPLES = """\
examples:
  persistq reset /data/queue/loads          # asks first
  persistq reset --yes /data/pickup/run-0412

Folder queue: removes every producer marker (helo/done/failed) and takes back every
claimed file -- only when nothing runs. Pickup directory: journals the outstanding
work as completed (in a journal of its own, which you may delete to undo), so that a
run with this previous_pickup_dir requeues nothing.
"""

PURGE_EXAMPLES = """\
examples:
  persistq purge /data/queue/loads          # asks first
  persistq purge --yes /data/pickup/run-0412

Folder queue: deletes every message, claimed file, marker and lease (done/ and
failed/ are kept). Pickup directory: deletes every journal (or one --prefix's).
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``reset`` and ``purge`` subcommands."""
    for name, text, examples, runner in (
        ("reset", "forget markers and claims, or outstanding work", RESET_EXAMPLES, run_reset),
        (
            "purge",
            "delete a queue's messages, or a pickup directory's journals",
            PURGE_EXAMPLES,
            run_purge,
        ),
    ):
        parser = sub.add_parser(
            name,
            help=text,
            description=f"{name.capitalize()}: {text}. Asks for confirmation unless --yes.",
            epilog=examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("path", metavar="PATH", help="queue folder or pickup directory")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--extension", help="folder queue: the message extension")
        parser.add_argument("--prefix", help="pickup directory: only this journal prefix")
        parser.set_defaults(run=runner)


def run_reset(args: argparse.Namespace) -> int:
    """Reset a folder queue or a pickup directory."""
    path = existing_dir(args.path)
    if pickup_view.is_pickup_directory(path):
        return pickup_view.reset(path, args)
    ext = extension_of(path, args.extension)
    confirm(
        f"{path}: remove every producer marker and take back {len(wips(path, ext))} claimed "
        "file(s)? Only if nothing is running",
        yes=args.yes,
    )
    queue = WritableFolderQueue(path, ext)
    queue.purge_control_messages()
    # The CLI is no producer: take back the helo marker that the queue announced.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(path, marker_name(queue.producer, "helo")))
    restored = queue.reset_processing_files()
    print(f"{path}: markers removed, {len(restored)} claimed file(s) taken back")
    return EXIT_OK


def run_purge(args: argparse.Namespace) -> int:
    """Purge a folder queue or a pickup directory."""
    path = existing_dir(args.path)
    if pickup_view.is_pickup_directory(path):
        return pickup_view.purge(path, args)
    ext = extension_of(path, args.extension)
    confirm(f"{path}: delete every *{ext} message, claim and marker?", yes=args.yes)
    WritableFolderQueue(path, ext).purge()
    print(f"{path}: purged")
    return EXIT_OK

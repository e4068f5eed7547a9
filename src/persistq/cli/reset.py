"""``persistq reset PATH`` and ``persistq purge PATH``: start a queue afresh."""

from __future__ import annotations

import argparse
import logging

from persistq.cli import broker, pickup_view
from persistq.cli.common import EXIT_OK, confirm, existing_dir
from persistq.cli.folder import extension_of, refuse_prefix, take_back_claims
from persistq.folder.admin import FolderAdmin

log = logging.getLogger(__name__)

RESET_EXAMPLES = """\
examples:
  persistq reset /data/queue/loads          # asks first
  persistq reset --yes /data/pickup/run-0412

Folder queue: removes every producer marker (helo/done/failed) -- only when no
producer runs -- and takes back the files claimed by dead processes (--all: by live
ones too, after asking). Pickup directory: journals the outstanding
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
        if name == "reset":
            parser.add_argument(
                "--all",
                action="store_true",
                help="folder queue: take back claims of live processes too (asks)",
            )
        parser.set_defaults(run=runner)


def run_reset(args: argparse.Namespace) -> int:
    """Reset a folder queue or a pickup directory."""
    path = existing_dir(args.path)
    if pickup_view.is_pickup_directory(path):
        return pickup_view.reset(path, args)
    ext = extension_of(path, args.extension)
    refuse_prefix(path, args.prefix)
    admin = FolderAdmin(path, ext)  # no producer: a killed reset leaves no marker behind
    dead = sum(c.state == "dead" for c in admin.claims())
    confirm(
        f"{path}: remove every producer marker and take back {dead} file(s) claimed by dead "
        "processes? Only if no producer is running",
        yes=args.yes,
    )
    markers = admin.remove_markers()
    restored = take_back_claims(admin, everything=args.all, yes=args.yes)
    left = len(admin.claims())
    kept = f"; {left} still claimed by live processes (--all takes them too)" if left else ""
    print(f"{path}: {markers} marker(s) removed, {len(restored)} claimed file(s) taken back{kept}")
    return EXIT_OK


def run_purge(args: argparse.Namespace) -> int:
    """Purge a folder queue, a pickup directory or a broker queue."""
    if broker.is_broker_url(args.path):
        return broker.run_purge(args)
    path = existing_dir(args.path)
    if pickup_view.is_pickup_directory(path):
        return pickup_view.purge(path, args)
    ext = extension_of(path, args.extension)
    refuse_prefix(path, args.prefix)
    confirm(f"{path}: delete every *{ext} message, claim and marker?", yes=args.yes)
    purged = FolderAdmin(path, ext).purge()
    print(
        f"{path}: deleted {purged.messages} message(s), {purged.claims} claimed file(s), "
        f"{purged.markers} marker(s) and {purged.leases} lease(s)"
    )
    return EXIT_OK

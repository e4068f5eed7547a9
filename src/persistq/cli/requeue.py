"""``persistq requeue PATH``: take back abandoned work of a folder queue, or write out
the outstanding work of a pickup directory."""

from __future__ import annotations

import argparse
import logging

from persistq.cli import pickup_view
from persistq.cli.common import EXIT_OK, CliError, existing_dir
from persistq.cli.folder import extension_of, refuse_prefix, take_back_claims
from persistq.folder.admin import FolderAdmin

log = logging.getLogger(__name__)

EXAMPLES = """\
examples:
  persistq requeue /data/queue/loads              # take back claims of dead processes
  persistq requeue --all /data/queue/loads        # every claim (asks: is nothing running?)
  persistq requeue --failed /data/queue/loads     # failed/ back into the queue
  persistq requeue --failed /data/queue/loads b.tsv
  persistq requeue /data/pickup/run-0412 > outstanding.tsv
  persistq requeue --prefix items --output items_requested_PID0.tsv /data/pickup/run-0412

For a pickup directory the outstanding records (requested, never completed) are
printed one a line, fields tab-separated and escaped as in journals; --output writes
them as a persistq journal instead, which a later run can requeue from.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``requeue`` subcommand."""
    parser = sub.add_parser(
        "requeue",
        help="take back abandoned work, or write out outstanding work",
        description="Folder queue: move in-progress files of dead owners back to the queue. "
        "Pickup directory: print (or write) the work requested and never completed.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="queue folder or pickup directory")
    parser.add_argument(
        "names", metavar="NAME", nargs="*", help="with --failed: only these failed files"
    )
    parser.add_argument(
        "--failed",
        action="store_true",
        help="folder queue: send the files in failed/ back (attempts reset, history kept)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="folder queue: take back claims of live processes too (asks: is nothing running?)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--extension", help="folder queue: the message extension (default: the one its files use)"
    )
    parser.add_argument("--prefix", help="pickup directory: only this journal prefix")
    parser.add_argument(
        "--output", metavar="FILE", help="pickup directory: write a journal instead of printing"
    )
    parser.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="pickup directory: skip corrupt journal records instead of stopping",
    )
    parser.set_defaults(run=run)




def requeue_folder(path: str, args: argparse.Namespace) -> int:
    """Take back the claims of dead owners (or, with ``--all``, every claim)."""
    ext = extension_of(path, args.extension)
    refuse_prefix(path, args.prefix)
    admin = FolderAdmin(path, ext)
    restored = take_back_claims(admin, everything=args.all, yes=args.yes)
    for name in restored:
        log.info("took back %s", name)
    print(f"{path}: took back {len(restored)} file(s); {len(admin.claims())} still claimed")
    return EXIT_OK


def requeue_failed(path: str, args: argparse.Namespace) -> int:
    """Send the failed files of folder queue ``path`` (or ``args.names``) back."""
    admin = FolderAdmin(path, extension_of(path, args.extension))
    requeued = admin.requeue_failed(args.names)
    left = len(admin.failed_files())
    print(f"{path}: requeued {len(requeued)} failed file(s); {left} left in failed/")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Requeue what ``args.path`` holds."""
    path = existing_dir(args.path)
    if args.failed:
        return requeue_failed(path, args)
    if args.names:
        raise CliError(f"NAME arguments ({' '.join(args.names)}) go with --failed")
    if pickup_view.is_pickup_directory(path):
        return pickup_view.requeue(path, args)
    return requeue_folder(path, args)

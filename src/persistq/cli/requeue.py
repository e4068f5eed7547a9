"""``persistq requeue PATH``: take back abandoned work of a folder queue, or write out
the outstanding work of a pickup directory."""

from __future__ import annotations

import argparse
import logging
import os

from persistq.cli import pickup_view
from persistq.cli.common import EXIT_OK, confirm, existing_dir
from persistq.cli.folder import extension_of, owner_state, wips
from persistq.folder import ReadableFolderQueue
from persistq.folder.files import publish
from persistq.folder.names import parse_wip, queued_name

log = logging.getLogger(__name__)

EXAMPLES = """\
examples:
  persistq requeue /data/queue/loads              # take back claims of dead processes
  persistq requeue --all /data/queue/loads        # every claim (asks: is nothing running?)
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


def restore_all(path: str, extension: str) -> list[str]:
    """Rename every wip file of queue folder ``path`` back to its queued name (as
    ``WritableFolderQueue.reset_processing_files`` does, without announcing a producer)."""
    restored = []
    for name in wips(path, extension):
        wip = parse_wip(name)
        if wip is None:
            continue
        dst = os.path.join(path, queued_name(wip.original, wip.attempt, extension))
        try:
            publish(os.path.join(path, name), dst)
        except FileExistsError:
            log.warning("cannot take back %s: %s exists; left in place", name, dst)
            continue
        except FileNotFoundError:
            continue
        restored.append(dst)
    return restored


def requeue_folder(path: str, args: argparse.Namespace) -> int:
    """Take back the claims of dead owners (or, with ``--all``, every claim)."""
    ext = extension_of(path, args.extension)
    before = wips(path, ext)
    if args.all:
        live = sorted(
            {
                f"{w.owner.host}:{w.owner.pid}"
                for n in before
                if (w := parse_wip(n)) is not None and owner_state(w.owner) != "dead"
            }
        )
        if live:
            confirm(
                f"{path}: take back {len(before)} claimed file(s), some held by processes that "
                f"may still run ({', '.join(live)})? Only if nothing is running",
                yes=args.yes,
            )
        restored = restore_all(path, ext)
    else:
        reader = ReadableFolderQueue(path, ext)  # takes back dead owners' claims
        reader.dispose()
        after = set(wips(path, ext))
        restored = [n for n in before if n not in after]
    for name in restored:
        log.info("took back %s", name)
    left = wips(path, ext)
    print(f"{path}: took back {len(restored)} file(s); {len(left)} still claimed")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Requeue what ``args.path`` holds."""
    path = existing_dir(args.path)
    if pickup_view.is_pickup_directory(path):
        return pickup_view.requeue(path, args)
    return requeue_folder(path, args)

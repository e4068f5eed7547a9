"""``persistq reset PATH`` and ``persistq purge PATH``: start a queue afresh."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os

from persistq.cli import broker
from persistq.cli.common import EXIT_OK, confirm, existing_dir
from persistq.cli.folder import extension_of, wips
from persistq.cli.pickup import JournalReader, group_journals
from persistq.folder import WritableFolderQueue
from persistq.folder.names import marker_name
from persistq.journal.naming import journal_file_name
from persistq.journal.writer import JournalWriter

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


def _prefixes(path: str, args: argparse.Namespace) -> dict[str, list[str]]:
    groups = group_journals(sorted(os.listdir(path)))
    if args.prefix is not None:
        groups = {p: j for p, j in groups.items() if p == args.prefix}
    return {prefix: [j.name for j in journals] for prefix, journals in groups.items()}


def run_reset(args: argparse.Namespace) -> int:
    """Reset a folder queue or a pickup directory."""
    path = existing_dir(args.path)
    names = sorted(os.listdir(path))
    if group_journals(names):
        reader = JournalReader(path, skip_corrupt=False, progress=None)
        groups = group_journals(names)
        works = [reader.work(p, j) for p, j in groups.items() if args.prefix in (None, p)]
        left = sum(len(w.outstanding) for w in works)
        confirm(f"{path}: mark {left} outstanding record(s) as completed?", yes=args.yes)
        for work in works:
            if work.outstanding:
                name = journal_file_name(work.prefix, "completed", os.getpid())
                writer = JournalWriter(os.path.join(path, name), "fsync")
                writer.append_many(work.outstanding)
                writer.close()
                log.info(
                    "%s: %d outstanding records journalled as completed in %s",
                    work.prefix,
                    len(work.outstanding),
                    name,
                )
        print(f"{path}: {left} outstanding record(s) marked completed")
        return EXIT_OK
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
    """Purge a folder queue, a pickup directory or a broker queue."""
    if broker.is_broker_url(args.path):
        return broker.run_purge(args)
    path = existing_dir(args.path)
    names = sorted(os.listdir(path))
    if group_journals(names):
        journals = [n for names_ in _prefixes(path, args).values() for n in names_]
        confirm(f"{path}: delete {len(journals)} journal file(s)?", yes=args.yes)
        for name in journals:
            os.unlink(os.path.join(path, name))
        print(f"{path}: deleted {len(journals)} journal file(s)")
        return EXIT_OK
    ext = extension_of(path, args.extension)
    confirm(f"{path}: delete every *{ext} message, claim and marker?", yes=args.yes)
    WritableFolderQueue(path, ext).purge()
    print(f"{path}: purged")
    return EXIT_OK

"""The ``persistq`` commands on a pickup directory: they render ``pickup.inspect`` and
act on what it reports, and never read journals themselves."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import sys
from typing import Any

from persistq import pickup
from persistq.cli.common import EXIT_OK, CliError, confirm, format_table
from persistq.cli.progress import Progress
from persistq.journal.reader import OnCorrupt
from persistq.pickup import recovery

log = logging.getLogger(__name__)

Report = dict[str, Any]


def is_pickup_directory(path: str) -> bool:
    """Whether ``path`` holds files of a pickup directory (journals, pointers, records)."""
    return bool(pickup.prefixes(os.listdir(path)))


def _inspect(
    path: str, args: argparse.Namespace, on_corrupt: OnCorrupt
) -> list[pickup.PrefixReport]:
    """The reports of ``args.prefix`` (or of every prefix) of ``path``, read once."""
    wanted = getattr(args, "prefix", None)
    known = pickup.prefixes(os.listdir(path))
    if wanted is not None and wanted not in known:
        names = ", ".join(known) or "none"
        raise CliError(f"{path}: no journals with prefix {wanted!r} (prefixes: {names})")
    progress = Progress("reading journals (records)")
    try:
        report = pickup.inspect(path, wanted, on_corrupt=on_corrupt, progress=progress.advance)
    finally:
        progress.close()
    for prefix in report.prefixes:
        for problem in prefix.corrupt:
            log.warning("skipped: %s", problem)
    return list(report.prefixes)


def status(path: str) -> Report:
    """The status of pickup directory ``path``: healthy unless a prefix has outstanding
    work that no run will do (every writer dead, and no later run recovered it) or a
    journal is corrupt."""
    prefixes, problems, notes = [], [], []
    for p in pickup.inspect(path, on_corrupt="skip").prefixes:
        live, unknown = p.writers_that("alive"), p.writers_that("unknown")
        stuck = bool(p.outstanding) and not live and not unknown and p.recovered_by is None
        if stuck:
            problems.append(
                f"{p.prefix}: {len(p.outstanding)} outstanding and no writer alive; "
                f"requeue with previous_pickup_dir={path!r} (see: persistq requeue {path})"
            )
        problems.extend(p.corrupt)
        if p.recovering_from is not None and p.inherited:
            notes.append(
                f"{p.prefix}: died while recovering {p.recovering_from}; "
                f"{p.inherited} of its records are outstanding here"
            )
        if p.recovered_by is not None:
            notes.append(f"{p.prefix}: recovered by {p.recovered_by}, which took its work")
        if unknown:
            notes.append(
                f"{p.prefix}: {len(unknown)} writer(s) of another host or PID "
                "namespace, whose liveness cannot be seen from here"
            )
        if p.compaction is not None:
            notes.append(f"{p.prefix}: a compaction committed, not finished (readers honour it)")
        prefixes.append(
            {
                "prefix": p.prefix,
                "journals": len(p.journals),
                "requested": p.requested,
                "completed": p.completed,
                "outstanding": len(p.outstanding),
                "inherited": p.inherited,
                "writers": [w.pid for w in p.writers],
                "live_writers": [w.pid for w in live],
                "unknown_writers": [w.pid for w in unknown],
                "recovering_from": p.recovering_from,
                "recovered_by": p.recovered_by,
                "stuck": stuck,
            }
        )
    return {
        "kind": "pickup",
        "path": path,
        "healthy": not problems,
        "prefixes": prefixes,
        "problems": problems,
        "notes": notes,
    }


def render_status(report: Report) -> str:
    """The text form of :func:`status` (without its verdict)."""
    rows = []
    for p in report["prefixes"]:
        dead = len(p["writers"]) - len(p["live_writers"]) - len(p["unknown_writers"])
        writers = f"{len(p['live_writers'])} alive, {dead} dead"
        if p["unknown_writers"]:
            writers += f", {len(p['unknown_writers'])} unknown"
        rows.append(
            [p["prefix"], p["journals"], p["requested"], p["completed"], p["outstanding"], writers]
        )
    lines = [
        f"pickup directory {report['path']}",
        format_table(
            ["PREFIX", "JOURNALS", "REQUESTED", "COMPLETED", "OUTSTANDING", "WRITERS"], rows
        ),
    ]
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines)


def requeue(path: str, args: argparse.Namespace) -> int:
    """Print (or write as a journal to ``--output``) the outstanding work of ``path``:
    exactly what ``requeue_unprocessed_work`` would requeue."""
    prefixes = _inspect(path, args, "skip" if args.skip_corrupt else "raise")
    if args.output is None:
        out = sys.stdout.buffer
        for p in prefixes:
            out.writelines(payload + b"\n" for payload in p.outstanding)
        out.flush()
    else:
        if len(prefixes) > 1:
            names = ", ".join(p.prefix for p in prefixes)
            raise CliError(f"{path}: holds prefixes {names}; choose one with --prefix")
        if os.path.lexists(args.output):
            raise CliError(f"{args.output}: already exists; not overwriting it")
        payloads = [x for p in prefixes for x in p.outstanding]
        output = os.path.abspath(args.output)
        recovery.publish_journal(
            os.path.dirname(output), os.path.basename(output), payloads, "fsync"
        )
    for p in prefixes:
        log.info(
            "%s: %d requested, %d completed, %d outstanding%s",
            p.prefix,
            p.requested,
            p.completed,
            len(p.outstanding),
            f" written to {args.output}" if args.output else "",
        )
    return EXIT_OK


def reset(path: str, args: argparse.Namespace) -> int:
    """Journal the outstanding work of ``path`` as completed (a journal of its own)."""
    prefixes = _inspect(path, args, "raise")
    left = sum(len(p.outstanding) for p in prefixes)
    confirm(f"{path}: mark {left} outstanding record(s) as completed?", yes=args.yes)
    written = []
    for p in prefixes:
        if p.outstanding:
            journal = recovery.mark_completed(path, p.prefix, list(p.outstanding), "fsync")
            written.append(journal)
            log.info(
                "%s: %d outstanding records journalled as completed in %s",
                p.prefix,
                len(p.outstanding),
                os.path.basename(journal),
            )
    print(f"{path}: {left} outstanding record(s) marked completed")
    print(reset_undo_text(written))
    return EXIT_OK


def reset_undo_text(written: list[str]) -> str:
    """What ``reset`` of a pickup directory wrote, and how to undo it."""
    if not written:
        return "nothing written: no outstanding work"
    files = " ".join(shlex.quote(w) for w in written)
    return f"wrote {files}\nto undo (the work becomes outstanding again): rm {files}"


def purge(path: str, args: argparse.Namespace) -> int:
    """Delete every file of each prefix (or ``--prefix``) of pickup directory ``path``."""
    files = [name for p in _inspect(path, args, "skip") for name in p.files()]
    confirm(f"{path}: delete {len(files)} journal file(s)?", yes=args.yes)
    for name in files:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(path, name))
    print(f"{path}: deleted {len(files)} journal file(s)")
    return EXIT_OK

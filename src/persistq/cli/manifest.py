"""``persistq status --files PATH``: one line per file of a folder queue (pending, in
progress, failed, done) with its attempts, each attempt's error and time, owner, size
and mtime. Renders :func:`persistq.folder.manifest.read_manifest`."""

from __future__ import annotations

import argparse
import datetime
import json

from persistq.cli.common import EXIT_OK, CliError, existing_dir, format_table
from persistq.cli.folder import extension_of
from persistq.folder.manifest import FileRecord, read_manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--files`` to the ``status`` parser."""
    parser.add_argument(
        "--files",
        action="store_true",
        help="folder queue: every file with its status, attempts, errors, owner, size, mtime",
    )


def _stamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(records: list[FileRecord]) -> str:
    """The records as a table, each failed attempt on a line of its own below its file."""
    if not records:
        return "no files"
    lines = []
    rows = [
        [
            r.name,
            r.status,
            r.attempts,
            f"{r.owner} ({r.owner_state})" if r.owner else "-",
            r.size,
            _stamp(r.mtime),
        ]
        for r in records
    ]
    table = format_table(["NAME", "STATUS", "ATTEMPTS", "OWNER", "SIZE", "MTIME"], rows).split("\n")
    lines.append(table[0])
    for record, row in zip(records, table[1:], strict=True):
        lines.append(row)
        for error in record.errors:
            lines.append(f"    attempt {error.attempt} failed {error.utc}: {error.reason}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the files of folder queue ``args.path`` (one PATH)."""
    if len(args.path) != 1:
        raise CliError("status --files takes one PATH")
    path = existing_dir(args.path[0])
    records = read_manifest(path, extension_of(path, args.extension))
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2))
    else:
        print(render(records))
    return EXIT_OK

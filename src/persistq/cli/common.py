"""Small pieces shared by the subcommands: user errors, confirmation, path checks."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


class CliError(Exception):
    """A user error: printed as one line naming the file or value at fault; exit 2."""


EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def existing_dir(path: str) -> str:
    """Return ``path`` if it is a directory; raise CliError naming it otherwise."""
    if not os.path.exists(path):
        raise CliError(f"{path}: no such directory")
    if not os.path.isdir(path):
        raise CliError(f"{path}: not a directory")
    return path


def confirm(question: str, *, yes: bool) -> None:
    """Go on if ``yes`` or the user answers y on a terminal; raise CliError otherwise."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{question} -- not asking without a terminal; pass --yes to confirm")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CliError("not confirmed; nothing was changed")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """``rows`` under ``headers`` in left-aligned columns, two spaces apart."""
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def format_age(seconds: float) -> str:
    """A short human age: 42s, 5m03s, 2h07m, 3d04h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"

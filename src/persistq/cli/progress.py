"""Progress of long commands: a status line rewritten in place on a terminal, plain
timestamped log lines (at most one every few seconds) when output is not a terminal."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("persistq.cli")

_shown: list[Progress] = []  # status lines on the terminal now


class ProgressAwareHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler that erases a terminal status line before writing a log record
    and draws it again after, so that the two never mix on one line."""

    def emit(self, record: logging.LogRecord) -> None:
        for progress in _shown:
            progress.clear()
        super().emit(record)
        for progress in _shown:
            progress.redraw()


def progress_text(label: str, done: int, total: int | None, detail: str = "") -> str:
    """The one-line description of ``done`` of ``total`` units (total may be unknown)."""
    text = f"{label}: {done}/{total} ({100 * done // total}%)" if total else f"{label}: {done}"
    return f"{text} {detail}".rstrip()


class Progress:
    """Reports the progress of one long step.

    On a terminal (``stream.isatty()``) the line is rewritten in place, at most ten
    times a second; otherwise a log line is written at most every ``interval`` seconds,
    and once more by :meth:`close`.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        interval: float = 5.0,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.detail = ""
        self._stream = sys.stderr if stream is None else stream
        self._tty = self._stream.isatty()
        self._interval = min(interval, 0.1) if self._tty else interval
        self._last = time.monotonic()
        self._width = 0

    def advance(self, n: int = 1, detail: str | None = None) -> None:
        """Count ``n`` more units done (and replace the detail text, if given)."""
        self.update(self.done + n, detail)

    def update(self, done: int, detail: str | None = None) -> None:
        """Set the number of units done (and the detail text, if given)."""
        self.done = done
        if detail is not None:
            self.detail = detail
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._emit()

    def _emit(self) -> None:
        if self._tty:
            if self not in _shown:
                _shown.append(self)
            self.redraw()
        else:
            log.info("%s", progress_text(self.label, self.done, self.total, self.detail))

    def redraw(self) -> None:
        """Draw the terminal status line again."""
        text = progress_text(self.label, self.done, self.total, self.detail)
        pad = max(0, self._width - len(text))
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Erase the terminal status line (before other output is written)."""
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0

    def close(self) -> None:
        """Erase the status line and log the final count."""
        if self in _shown:
            _shown.remove(self)
        self.clear()
        log.info("%s", progress_text(self.label, self.done, self.total, self.detail))

"""Log records as one JSON object per line, for services whose logs a machine reads.

Each object has ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger`` and
``message``; the fields ``queue``, ``file``, ``attempt``, ``schedule`` and ``slot``
appear when the record was logged with them in ``extra=`` (as persistq's own
long-running commands do), and
``error`` holds a formatted exception. Values that JSON cannot hold are written as
their ``str``.
"""

from __future__ import annotations

import datetime
import json
import logging

#: The ``extra=`` keys copied into the object when a record carries them.
CONTEXT_FIELDS = ("queue", "file", "attempt", "schedule", "slot")


class JsonFormatter(logging.Formatter):
    """Formats each record as one line of JSON (no newline inside it)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
        entry: dict[str, object] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)

"""JSON log lines: one object a line, with the context fields a service wants."""

from __future__ import annotations

import json
import logging
import sys

from persistq.service.jsonlog import JsonFormatter


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("persistq.cli.watch", logging.WARNING, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    rec.created = 1764547200.25  # 2025-12-01T00:00:00.250Z
    return rec


def test_a_record_is_one_json_object_with_its_context() -> None:
    line = JsonFormatter().format(
        record(
            "trigger %s failed:\nexit %d", "a.trigger", 3, queue="/q", file="a.trigger", attempt=2
        )
    )
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2025-12-01T00:00:00.250Z",
        "level": "WARNING",
        "logger": "persistq.cli.watch",
        "message": "trigger a.trigger failed:\nexit 3",
        "queue": "/q",
        "file": "a.trigger",
        "attempt": 2,
    }


def test_absent_context_is_left_out_and_exceptions_are_kept() -> None:
    try:
        raise ValueError("bad field")
    except ValueError:
        rec = record("load failed")
        rec.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(rec))
    assert set(entry) == {"time", "level", "logger", "message", "error"}
    assert "ValueError: bad field" in entry["error"]


def test_values_json_cannot_hold_become_text() -> None:
    entry = json.loads(JsonFormatter().format(record("x", file=object.__new__(object))))
    assert entry["file"].startswith("<object object")

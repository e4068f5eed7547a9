"""Progress: a rewritten line on a terminal, log lines otherwise."""

from __future__ import annotations

import io
import logging

import pytest

from persistq.cli.progress import Progress, progress_text


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_text() -> None:
    assert progress_text("loaded", 30, 120) == "loaded: 30/120 (25%)"
    assert progress_text("records", 7, None, "(2 failed)") == "records: 7 (2 failed)"


def test_a_terminal_gets_one_rewritten_line_and_no_log(caplog: pytest.LogCaptureFixture) -> None:
    tty = Terminal()
    progress = Progress("loaded", 10, stream=tty, interval=0)
    with caplog.at_level(logging.INFO, logger="persistq.cli"):
        progress.update(3)
        progress.advance(2)
        assert caplog.messages == []
        progress.close()
    assert tty.getvalue().startswith("\rloaded: 3/10 (30%)\rloaded: 5/10 (50%)")
    assert tty.getvalue().endswith("\r")  # erased before the final log line
    assert caplog.messages == ["loaded: 5/10 (50%)"]


def test_elsewhere_progress_is_logged_at_most_every_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="persistq.cli"):
        progress = Progress("loaded", 10, stream=stream, interval=3600)
        for _ in range(10):
            progress.advance()
        progress.close()
    assert stream.getvalue() == ""
    assert caplog.messages == ["loaded: 10/10 (100%)"]

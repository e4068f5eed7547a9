"""The native watcher on Linux reads inotify in the reader's own thread: it starts no
thread, and reports what a reader needs (names that appear or go, the folder gone)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from persistq.folder import inotify
from persistq.folder.waking import Watcher

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(not inotify.AVAILABLE, reason="inotify is Linux's"),
]


def test_events_arrive_in_the_callers_thread_without_an_observer_thread(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "q"
    folder.mkdir()
    before = threading.active_count()
    watcher = Watcher(str(folder), "native", 0.1)
    assert threading.active_count() == before
    assert watcher.healthy and not watcher.paused
    (outside / "a.tsv").write_text("a")
    (outside / "a.tsv").rename(folder / "a.tsv")  # put: moved in
    assert watcher.wait(5)
    (folder / "a.tsv").rename(folder / "a.wip")  # claimed: moved within
    (folder / "b.tsv").write_text("b")  # written in place: created, closed
    assert watcher.take() == [
        ("a.tsv", True),
        ("a.tsv", False),
        ("a.wip", True),
        ("b.tsv", True),
        ("b.tsv", True),
    ]
    assert watcher.take() == []
    assert not watcher.wait(0.01)
    watcher.stop()
    watcher.stop()
    assert not watcher.healthy


def test_a_paused_watcher_reports_nothing_until_resumed(tmp_path: Path) -> None:
    watcher = Watcher(str(tmp_path), "native", 0.1)
    (tmp_path / "before.tsv").touch()
    watcher.pause()
    assert watcher.paused and watcher.healthy
    (tmp_path / "while-paused.tsv").write_text("x")
    assert watcher.take() == [("before.tsv", True), ("before.tsv", True)]
    assert watcher.take() == []
    watcher.resume()
    assert not watcher.paused
    (tmp_path / "after.tsv").touch()
    assert watcher.wait(5)
    assert ("after.tsv", True) in watcher.take()
    watcher.stop()


def test_a_removed_folder_turns_the_watcher_unhealthy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    watcher = Watcher(str(folder), "native", 0.1)
    shutil.rmtree(folder)
    assert watcher.wait(5)
    watcher.take()
    assert not watcher.healthy
    assert "polling instead" in caplog.text
    watcher.stop()


def test_a_folder_that_cannot_be_watched_is_polled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = Watcher(str(tmp_path / "missing"), "native", 0.1)
    assert not watcher.healthy and not watcher.paused
    assert "cannot watch" in caplog.text
    assert watcher.take() == []
    watcher.stop()

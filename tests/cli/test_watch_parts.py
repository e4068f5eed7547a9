"""The pure and small parts of ``persistq watch``: tree locks, retry delays, results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from persistq.cli.treelock import remove_if_free, try_lock, wait_lock
from persistq.cli.watch_job import file_identity, read_result
from persistq.cli.watch_trigger import Settings


@pytest.mark.timeout(30)
def test_a_tree_lock_is_held_by_the_grandchild_after_its_taker_let_go(tmp_path: Path) -> None:
    path = str(tmp_path / "t.lock")
    fd = try_lock(path)
    assert fd is not None
    # A child that starts a grandchild holding the descriptor, then exits at once.
    code = f"import subprocess, sys; subprocess.Popen(['sleep', '1'], pass_fds=[{fd}])"
    subprocess.run([sys.executable, "-c", code], pass_fds=[fd], check=True)
    os.close(fd)
    assert try_lock(path) is None
    assert remove_if_free(path) is False and os.path.exists(path)
    again = wait_lock(path, give_up=lambda: False)  # once the grandchild has ended
    assert again is not None
    os.close(again)
    assert remove_if_free(path) is True and not os.path.exists(path)


def test_waiting_for_a_lock_stops_when_told(tmp_path: Path) -> None:
    path = str(tmp_path / "t.lock")
    fd = try_lock(path)
    calls: list[str] = []
    assert wait_lock(path, give_up=lambda: bool(calls), on_wait=lambda: calls.append("w")) is None
    assert calls == ["w"]
    assert fd is not None
    os.close(fd)


def test_backoff_options_become_the_readers_retry_delay() -> None:
    def settings(backoff: float, max_backoff: float) -> Settings:
        return Settings(["load"], False, 3, backoff, max_backoff, 1, None)

    assert settings(5.0, 600.0).retry_delays() == (5.0, 600.0)
    assert settings(0.0, 600.0).retry_delays() == (None, None)  # retry at once
    assert settings(5.0, 0.0).retry_delays() == (None, None)


def test_a_result_counts_only_for_the_file_it_was_recorded_for(tmp_path: Path) -> None:
    trigger = tmp_path / "a.trigger"
    trigger.write_text("x")
    result = str(tmp_path / "a.result")
    assert read_result(result, file_identity(str(trigger))) is None
    Path(result).write_text(f"0 {file_identity(str(trigger))}\n")
    assert read_result(result, file_identity(str(trigger))) == 0
    other = tmp_path / "b.trigger"
    other.write_text("y")
    assert read_result(result, file_identity(str(other))) is None

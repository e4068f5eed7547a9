"""``persistq demo``: a real multi-process pipeline, SIGKILLed and recovered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from persistq.cli.demo import Crash, Ledger, account
from tests.cli.helpers import persistq


def count(line: str, text: str) -> int:
    match = re.search(rf"^{line} +(\d+)", text, re.MULTILINE)
    assert match is not None, f"no {line!r} line in:\n{text}"
    return int(match.group(1))


@pytest.mark.timeout(90)
def test_demo_loses_nothing_and_loads_nothing_twice(tmp_path: Path) -> None:
    result = persistq("demo", "--keep", str(tmp_path / "demo"), timeout=80)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert count("items in the source", out) == 300
    assert 0 < count("loaded before the crash", out) < 300
    assert count("requeued by the restart", out) == count("in flight at the SIGKILL", out)
    assert count("produced before the crash", out) + count("produced after the restart", out) == 300
    assert count("loaded in total", out) == 300
    assert count("lost", out) == 0
    assert count("loaded twice", out) == 0
    assert "OK: every item loaded exactly once" in out
    assert "SIGKILLed the pipeline" in result.stderr
    # The killed run's pickup directory is what an operator would find at 3 a.m.: its
    # work is outstanding there, but the restart took it, so nothing is stuck.
    status = persistq("status", str(tmp_path / "demo" / "pickup" / "run1"))
    assert status.returncode == 0, status.stdout
    assert f"recovered by {tmp_path / 'demo' / 'pickup' / 'run2'}" in status.stdout


def test_the_account_fails_on_a_lost_or_doubly_loaded_item() -> None:
    crash = Crash(produced=3, completed=1, outstanding=2, loaded=1, waiting=0, claimed=0)
    restart = {"requeued": 2, "produced": 0}
    ok, text = account(3, crash, restart, Ledger(frozenset({1, 2, 3}), (), 1, 4))
    assert ok and "reprocessed in flight         1" in text
    ok, text = account(3, crash, restart, Ledger(frozenset({1, 3}), (), 0, 2))
    assert not ok and "lost                          1  [2]" in text
    ok, text = account(3, crash, restart, Ledger(frozenset({1, 2, 3}), (2,), 0, 4))
    assert not ok and "loaded twice                  1  [2]" in text

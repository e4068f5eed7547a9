"""The ``hosts`` campaign at CI size: a producer host and 3 consumer hosts (namespaces)
sharing one queue folder; a consumer host killed, one paused past its lease, the
producer host killed; then a clean run. Both with a host name per host and with one
host name for all (only the realm tells them apart)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from tools.faults.hosts import LEASE, PLANS, run_chain, unavailable

REASON = unavailable()
if REASON is not None:
    pytest.skip(REASON, allow_module_level=True)

EVERY_FAULT = list(PLANS)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("same_name", [False, True], ids=["own names", "one host name"])
def test_whole_hosts_killed_and_paused_lose_nothing(tmp_path: Path, same_name: bool) -> None:
    report = run_chain(
        tmp_path, random.Random(15), 0, same_name=same_name, plans=EVERY_FAULT, at_any_time=0
    )
    assert report.violations == []
    assert (report.lost, report.completed_twice) == (0, 0)
    assert report.messages == 4 * 60
    assert report.kills == 2
    assert report.mid_work_kills == 2, "a kill landed when its host had nothing to lose"
    assert report.pid_collisions > 0, "consumers on different hosts never shared a PID"
    # The killed and the paused consumer host held claims; others took them back, each
    # only once its heartbeat was older than the lease (the audit checks every one).
    assert report.taken_back >= 2
    assert min(report.takeback_after) >= LEASE * 2 / 3 - 0.05
    # The paused host came back to claims taken from it: every late task_done refused.
    assert report.pauses == 1
    assert report.late_finishes >= 1
    assert report.reprocessed_in_flight >= report.late_finishes
    # The producer host died putting: every reader of every host got FAILED, after
    # the lease.
    assert len(report.failed_after) == 6
    assert min(report.failed_after) >= LEASE * 2 / 3 - 0.05

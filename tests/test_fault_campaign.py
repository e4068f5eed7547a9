"""The fault campaign: real pipelines SIGKILLed at random, recovered, and audited.

Each family's chains kill a random process of a running pipeline (producer or
consumer, some during start-up and requeue), restart from the killed run's state and
finish with a clean run; the audit then finds every message completed exactly once,
each requeue equal to what its predecessor left outstanding, and a second load only
where the first was in flight at a kill.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tools.faults.__main__ import FAMILIES, campaign
from tools.faults.common import REPO

KILLS = 50
CUTS = 4  # rabbitmq-hosts: each cut waits out a heartbeat timeout (~3 s)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_campaign_of_kills_loses_nothing(tmp_path: Path, family: str) -> None:
    kills = CUTS if family == "rabbitmq-hosts" else KILLS
    reports = campaign(family, kills, seed=7, workdir=tmp_path)
    assert sum(r.kills for r in reports) >= kills
    for report in reports:
        assert report.violations == []
        assert report.lost == 0
        # only a cut-off host's late finish, which its task_done reported (DeliveryLostError)
        assert report.completed_twice == report.late_on_cut_hosts
        assert report.messages > 0
    mid_work = sum(r.mid_work_kills for r in reports)
    assert mid_work >= kills // 2, f"only {mid_work} kills landed while work was in progress"


@pytest.mark.timeout(120)
def test_the_campaign_command_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.faults", "--kills", "2", "--seed", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| family | chains | runs | kills |" in result.stdout
    assert "| OK |" in result.stdout
    assert "FAILED" not in result.stdout

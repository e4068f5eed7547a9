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
from collections import Counter
from pathlib import Path

import pytest
from tools.faults import folder_groups, hosts
from tools.faults.__main__ import FAMILIES, NEEDS_HOSTS, campaign
from tools.faults.common import (
    KILLED_RUN_ERRORS,
    REPO,
    ChainReport,
    audit_loads,
    completions,
    crashes,
)

PER_CHAIN = 4
"""CI size: chains of 4 kills, a whole one per topology, 8 kills per family at least.
The campaigns of docs/reliability.md run the same chains with hundreds of kills."""
MIN_KILLS = 8
CUTS = 4  # rabbitmq-hosts: each cut waits out a heartbeat timeout (~3 s)


def ci_kills(family: str) -> int:
    """Kills (cuts) the CI campaign of ``family`` lands."""
    if family == "rabbitmq-hosts":
        return CUTS
    return max(MIN_KILLS, PER_CHAIN * len(FAMILIES[family]))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("family", sorted(set(FAMILIES) - NEEDS_HOSTS))  # tests/hosts: those
def test_a_campaign_of_kills_loses_nothing(tmp_path: Path, family: str) -> None:
    kills = ci_kills(family)
    reports = campaign(family, kills, 7, tmp_path, PER_CHAIN, every_topology=True)
    assert sum(r.kills for r in reports) >= kills
    assert len({r.family for r in reports}) == len(FAMILIES[family]), "a topology never ran"
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
    # The other families' chains run above; the hosts family (random faults, both
    # tables) only here, where hosts can be built; elsewhere the cheapest family.
    family = "hosts" if hosts.unavailable() is None else "pq"
    result = subprocess.run(
        [sys.executable, "-m", "tools.faults", "--kills", "2", "--seed", "3", "--family", family],
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
    if family == "hosts":
        assert "| family | pauses | late task_done refused |" in result.stdout


def test_the_audit_counts_an_again_file_and_a_redo_in_one_run(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    ledger.write_text("run0 a.dat\nrun1 a.dat\nrun1 b.dat\nrun1 b.dat\n")
    report = ChainReport(family="test")
    done = completions(["a.dat", "a.again2.dat", "b.dat"])  # both a's in run1's done/
    audit_loads(ledger, ["a.dat", "b.dat"], {"run0": Counter(), "run1": done}, report)
    assert (report.lost, report.completed_twice) == (0, 1)
    assert report.reprocessed_in_flight == 2  # a in run0 (killed), b's first load in run1


def test_the_group_audit_flags_a_split_group(tmp_path: Path) -> None:
    claims = tmp_path / "claims.txt"
    claims.write_text("run0 7 g0001_a.dat,g0001_b.dat,g0001_c.dat\nrun0 8 g0002_a.dat\n")
    report = ChainReport(family="test")
    folder_groups._audit_groups(claims, report)
    assert report.violations == ["run0: PID 8 was handed a split group: ['g0002_a.dat']"]


def test_crashes_are_the_error_lines_of_tracebacks(tmp_path: Path) -> None:
    stderr = tmp_path / "err"
    stderr.write_text(
        "Traceback (most recent call last):\nProcess ForkProcess-2:\n  File x\n"
        "persistq.errors.UpstreamFailureError: producer gone\n"
        "FileNotFoundError: [Errno 2] No such file or directory: 'q/a.wip'\n"
    )
    assert crashes(stderr, expected=KILLED_RUN_ERRORS) == [
        "FileNotFoundError: [Errno 2] No such file or directory: 'q/a.wip'"
    ]

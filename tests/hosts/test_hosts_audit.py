"""The hosts campaign's audit (pure): what it accepts and what it reports."""

from __future__ import annotations

from tools.faults.hosts_audit import Entry, Fault, HostsReport, audit

from persistq.folder.names import Owner, wip_name

LEASE = 2.0
PAUSED = Owner("h1", 2, 100, "aa.bb.c1")
ITEM = "item_00000.dat"
CLAIM = wip_name(ITEM, PAUSED, 1)


def entries(*lines: str) -> list[Entry]:
    return [Entry.parse(line) for line in lines]


def check(*lines: str, kind: str = "pause", at: float = 100.0) -> HostsReport:
    report = HostsReport(family="hosts")
    ledger = entries(
        f"worker run0 h1 {PAUSED.token} {PAUSED.realm}",
        f"worker run0 h2 {Owner('h2', 2, 100, 'aa.bb.c2').token} aa.bb.c2",
        *lines,
    )
    fault = Fault("run0", kind, "h1", at, claims=(CLAIM,))
    audit(report, [ITEM], ledger, [ITEM], [fault], LEASE)
    return report


def test_a_refused_late_task_done_is_counted() -> None:
    report = check(
        f"load run0 h1 2 {ITEM} 101.0",
        f"takeback run0 h2 102.0 {CLAIM}",
        f"load run0 h2 2 {ITEM} 102.5",
        f"done run0 h2 2 {ITEM}",
        f"lost run0 h1 2 {ITEM} 104.0",
    )
    assert report.violations == []
    assert (report.late_finishes, report.taken_back, report.reprocessed_in_flight) == (1, 1, 1)
    assert report.takeback_after == [2.0]


def test_a_claim_gone_before_get_returned_is_no_late_finish() -> None:
    report = check(f"takeback run0 h2 102.0 {CLAIM}", f"load run0 h2 2 {ITEM} 102.5")
    assert report.violations == []
    assert (report.late_finishes, report.lost_before_get) == (0, 1)


def test_a_late_task_done_that_went_unseen_is_reported() -> None:
    report = check(
        f"load run0 h1 2 {ITEM} 101.0",
        f"takeback run0 h2 102.0 {CLAIM}",
        f"done run0 h2 2 {ITEM}",
    )
    assert any("went unseen" in v for v in report.violations)


def test_a_take_back_before_the_lease_could_run_out_is_reported() -> None:
    report = check(f"takeback run0 h2 101.0 {CLAIM}", kind="kill")
    assert any("before its lease" in v for v in report.violations)


def test_a_live_hosts_claim_taken_back_is_reported() -> None:
    report = HostsReport(family="hosts")
    ledger = entries(f"worker run0 h1 {PAUSED.token} x", f"takeback run0 h2 9.0 {CLAIM}")
    audit(report, [ITEM], ledger, [ITEM], [], LEASE)
    assert any("took back live" in v for v in report.violations)

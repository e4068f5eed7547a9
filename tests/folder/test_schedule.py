"""The wake schedule decides from its inputs alone: a fake clock and no folder."""

from __future__ import annotations

import attrs
import pytest

from persistq.folder import schedule
from persistq.folder.schedule import (
    Action,
    Deferrals,
    Facts,
    Stability,
    WakeSchedule,
    count_missed,
    retry_wait,
)

IDLE = Facts(
    now=100.0,
    events=True,
    paused=False,
    failed=False,
    all_done=False,
    markers_version=1,
    ready=False,
)


def listed(s: WakeSchedule, facts: Facts, *, missed: int = 0) -> None:
    s.listing_started(facts.all_done, facts.markers_version)
    s.listing_finished(facts.now, facts.events and not facts.paused, missed)


def test_a_new_reader_lists_first_then_waits_on_events_until_the_safety_rescan() -> None:
    s = WakeSchedule()
    assert s.next_step(IDLE).action is Action.LIST
    listed(s, IDLE)
    step = s.next_step(attrs.evolve(IDLE, now=100.5))
    assert (step.action, step.on_events) == (Action.WAIT, True)
    assert step.seconds == pytest.approx(schedule.SAFETY_RESCAN_SECONDS - 0.5)
    later = attrs.evolve(IDLE, now=100 + schedule.SAFETY_RESCAN_SECONDS)
    assert s.next_step(later).action is Action.LIST


def test_failed_wins_over_everything() -> None:
    s = WakeSchedule()
    assert s.next_step(attrs.evolve(IDLE, failed=True, ready=True)).action is Action.FAILED


def test_a_busy_reader_claims_and_still_lists_every_full_rescan() -> None:
    s = WakeSchedule()
    listed(s, IDLE)
    busy = attrs.evolve(IDLE, ready=True, now=100 + schedule.SAFETY_RESCAN_SECONDS + 1)
    assert s.next_step(busy).action is Action.CLAIM
    late = attrs.evolve(busy, now=100 + schedule.FULL_RESCAN_SECONDS)
    assert s.next_step(late).action is Action.LIST


def test_a_claim_holds_until_the_full_rescan_is_due() -> None:
    # The reader claims again without asking for as long as CLAIM holds; by then the
    # schedule answers LIST, so the fast path never skips a due listing.
    s = WakeSchedule()
    listed(s, IDLE)
    step = s.next_step(attrs.evolve(IDLE, ready=True, now=101.0))
    assert step.action is Action.CLAIM
    assert step.holds_for == pytest.approx(schedule.FULL_RESCAN_SECONDS - 1.0)
    due = attrs.evolve(IDLE, ready=True, now=101.0 + step.holds_for)
    assert s.next_step(due).action is Action.LIST


def test_done_needs_a_listing_that_began_after_every_producer_was_known_closed() -> None:
    s = WakeSchedule()
    listed(s, IDLE)  # began before the done marker was seen
    closed = attrs.evolve(IDLE, all_done=True, markers_version=2, now=100.1)
    assert s.next_step(closed).action is Action.LIST
    listed(s, closed)
    assert s.next_step(attrs.evolve(closed, now=100.2)).action is Action.FINISH


def test_a_producer_noticed_during_the_listing_voids_it_for_done() -> None:
    s = WakeSchedule()
    closed = attrs.evolve(IDLE, all_done=True, markers_version=2)
    s.listing_started(True, 2)
    s.listing_finished(100.0, True, 0)
    # That listing read the helo and done of a second producer: version 3.
    assert s.next_step(attrs.evolve(closed, markers_version=3)).action is Action.LIST


def test_no_done_while_a_name_is_held_back() -> None:
    s = WakeSchedule()
    closed = attrs.evolve(IDLE, all_done=True, next_due=101.0)
    listed(s, closed)
    step = s.next_step(closed)
    assert step.action is Action.WAIT
    assert step.seconds == pytest.approx(1.0)


def test_names_set_aside_are_listed_again_before_done() -> None:
    """A reader that jumped ahead after lost races and ran out of names lists the
    folder for the names it set aside; it never answers DONE while they may be there."""
    s = WakeSchedule()
    closed = attrs.evolve(IDLE, all_done=True, set_aside=True)
    listed(s, closed)
    assert s.next_step(attrs.evolve(closed, now=100.1)).action is Action.LIST
    listed(s, attrs.evolve(closed, now=100.1))
    emptied = attrs.evolve(closed, now=100.2, set_aside=False)
    assert s.next_step(emptied).action is Action.FINISH


def test_a_reader_with_names_set_aside_claims_the_others_first() -> None:
    s = WakeSchedule()
    listed(s, IDLE)
    assert s.next_step(attrs.evolve(IDLE, ready=True, set_aside=True)).action is Action.CLAIM
    idle = attrs.evolve(IDLE, set_aside=True, now=100.1)
    assert s.next_step(idle).action is Action.LIST  # not a wait of the safety rescan


def test_missed_events_switch_to_polling_but_not_after_a_gap() -> None:
    s = WakeSchedule()
    listed(s, IDLE, missed=3)  # the first listing proves nothing
    assert not s.degraded
    s.pause_for(schedule.PAUSE_BACKLOG + 1)
    listed(s, IDLE, missed=3)  # events were off: files without events are expected
    assert not s.degraded
    listed(s, IDLE)
    assert s.listing_finished(101.0, True, 1) is True
    assert s.degraded
    step = s.next_step(attrs.evolve(IDLE, now=101.0))
    assert (step.action, step.on_events) == (Action.WAIT, False)
    assert step.seconds == pytest.approx(schedule.FALLBACK_POLL_SECONDS)


def test_polling_interval_and_deadline() -> None:
    s = WakeSchedule()
    facts = attrs.evolve(IDLE, events=False, poll_interval=0.5, deadline=100.2)
    listed(s, facts)
    step = s.next_step(facts)
    assert (step.action, step.on_events) == (Action.WAIT, False)
    assert step.seconds == pytest.approx(0.2)
    assert s.next_step(attrs.evolve(facts, now=100.2)).action is Action.EMPTY


def test_a_paused_reader_with_nothing_to_claim_resumes_events() -> None:
    s = WakeSchedule()
    listed(s, IDLE)
    assert s.next_step(attrs.evolve(IDLE, paused=True)).action is Action.RESUME
    s.list_soon()
    assert s.next_step(IDLE).action is Action.LIST


def test_pause_only_for_a_backlog() -> None:
    s = WakeSchedule()
    assert not s.pause_for(schedule.PAUSE_BACKLOG)
    assert s.pause_for(schedule.PAUSE_BACKLOG + 1)
    assert s.gap


def test_missed_counts_only_files_older_than_the_grace() -> None:
    assert count_missed([0.1, schedule.MISSED_GRACE_SECONDS + 1, 30.0]) == 2


def test_deferrals_come_due_in_time() -> None:
    d = Deferrals()
    d.defer("a", 5.0)
    d.defer("b", 2.0)
    assert d.next_due() == 2.0
    assert d.pop_due(3.0) == ["b"]
    d.keep_only(set())
    assert d.next_due() is None and len(d) == 0


def test_retry_wait_grows_per_attempt() -> None:
    assert retry_wait(1, 2.0) == 0.0
    assert [retry_wait(a, 2.0) for a in (2, 3, 4)] == [2.0, 4.0, 8.0]
    assert retry_wait(5, None) == 0.0


def test_retry_wait_stops_growing_at_its_cap() -> None:
    assert [retry_wait(a, 1.5, cap=10.0) for a in (2, 3, 4, 5, 6)] == [1.5, 3.0, 6.0, 10.0, 10.0]
    assert retry_wait(2, 4.0, cap=1.0) == 1.0  # a cap below the first delay wins


def test_capped_retries_come_due_on_a_fake_clock() -> None:
    now, d = 100.0, Deferrals()
    for attempt in (2, 3, 4, 5):
        d.defer(f"m{attempt}", now + retry_wait(attempt, 1.0, cap=3.0))
    assert d.pop_due(101.0) == ["m2"]
    assert d.pop_due(102.9) == ["m3"]
    assert sorted(d.pop_due(103.0)) == ["m4", "m5"]  # both capped at 3 s
    assert d.next_due() is None


def test_stability_waits_for_an_unchanged_shape() -> None:
    st = Stability(1.0)
    assert st.check("a", (1, 1), 10.0) == 11.0
    assert st.check("a", (2, 2), 10.5) == 11.5  # it changed: the clock starts again
    assert st.check("a", (2, 2), 11.5) is None

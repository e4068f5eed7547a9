"""The broker-free logic of the RabbitMQ queue: control records, decisions, names."""

from __future__ import annotations

import pickle
from concurrent.futures import Future

import pytest

from persistq import DONE, FAILED
from persistq.journal.codec import RecordError
from persistq.rabbitmq import (
    BrokerError,
    BrokerUnavailableError,
    ConsumerTimeoutError,
    DeliveryLostError,
    NotDeliveredError,
    QueueSettingsError,
    UnconfirmedError,
)
from persistq.rabbitmq.backoff import MAX_DELAY_S, reconnect_delay
from persistq.rabbitmq.confirms import ConfirmWindow
from persistq.rabbitmq.control import (
    Absences,
    ControlState,
    conclusion,
    decode_control,
    encode_control,
)
from persistq.rabbitmq.held import Held
from persistq.rabbitmq.retries import dead_letter, next_attempt
from persistq.rabbitmq.subscriptions import timed_out
from persistq.rabbitmq.topology import Topology


def test_control_records_round_trip_with_awkward_producer_names() -> None:
    for producer in ("host:1:ab", "tab\there", "new\nline\\"):
        assert decode_control(encode_control("done", producer)) == ("done", producer)
    with pytest.raises(RecordError):
        decode_control(b"hello")
    with pytest.raises(RecordError):
        decode_control(encode_control("helo", "p") + b"\tthird")


def test_done_needs_every_announced_producer_closed_and_an_empty_queue() -> None:
    state = ControlState()
    assert conclusion(state, 0) is None  # nobody closed yet: wait for producers
    state.apply("helo", "a")
    state.apply("helo", "b")
    state.apply("done", "a")
    assert conclusion(state, 0) is None  # b is still open
    state.apply("done", "b")
    assert conclusion(state, 3) is None  # work is left
    assert conclusion(state, None) is None  # not counted yet
    assert conclusion(state, 0) is DONE


def test_a_replayed_stream_gives_the_same_state() -> None:
    state = ControlState()
    records = [("helo", "a"), ("done", "a"), ("helo", "a"), ("done", "a")]
    for kind, producer in records:
        state.apply(kind, producer)  # type: ignore[arg-type]
    assert state.all_closed  # a helo read again after its done does not reopen a


def test_a_consumers_mark_says_nothing_about_the_producers() -> None:
    state = ControlState()
    state.apply(*decode_control(encode_control("mark", "host:1:ab")))
    assert state == ControlState()


def test_one_failed_producer_fails_everyone_at_once() -> None:
    state = ControlState()
    state.apply("helo", "a")
    state.apply("failed", "b")
    state.apply("failed", "b")
    assert conclusion(state, 5) is FAILED
    assert state.failed == ["b"]


def test_queue_arguments() -> None:
    plain = Topology("loads")
    assert (plain.dead, plain.control) == ("loads.dead", "loads.control")
    assert plain.work_arguments() == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "loads.dead",
    }
    assert Topology("loads", 3).work_arguments()["x-delivery-limit"] == 3
    assert [name for name, _ in plain.declarations()] == ["loads.dead", "loads.control", "loads"]


@pytest.mark.parametrize("name", ["", "amq.x", "x" * 230])
def test_bad_queue_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="queue_name"):
        Topology(name)


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_bad_delivery_limits_are_refused(limit: object) -> None:
    with pytest.raises(ValueError, match="delivery_limit"):
        Topology("q", limit)  # type: ignore[arg-type]


def test_backoff_doubles_up_to_a_cap() -> None:
    delays = [reconnect_delay(n) for n in range(10)]
    assert delays[:4] == [0.0, 0.1, 0.2, 0.4]
    assert delays == sorted(delays)
    assert delays[-1] == MAX_DELAY_S


def test_held_deliveries_come_back_first_in_first_out() -> None:
    held: Held[int] = Held()
    held.add(b"a", 1)
    held.add(b"a", 2)
    held.add(b"b", 3)
    assert len(held) == 3
    assert [held.take(b"a"), held.take(b"a"), held.take(b"a")] == [1, 2, None]
    assert held.take(b"b") == 3


def test_the_broker_text_of_a_consumer_timeout_is_recognised() -> None:
    text = (
        "(406, 'PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. "
        "Timeout value used: 1800000 ms.')"
    )
    assert timed_out(text)
    assert not timed_out("(320, 'CONNECTION_FORCED - broker forced connection closure')")


@pytest.mark.parametrize(
    "error",
    [
        BrokerError,
        BrokerUnavailableError,
        UnconfirmedError,
        ConsumerTimeoutError,
        DeliveryLostError,
        QueueSettingsError,
        NotDeliveredError,
    ],
)
def test_errors_survive_pickling(error: type[BrokerError]) -> None:
    back = pickle.loads(pickle.dumps(error("127.0.0.1:5672/q: what went wrong")))
    assert type(back) is error
    assert str(back) == "127.0.0.1:5672/q: what went wrong"


def test_the_confirm_window_names_every_message_not_confirmed() -> None:
    window = ConfirmWindow(4, "127.0.0.1:5672/q")
    futures: list[Future[None]] = []
    for message in ("a", "b", ("c", 1)):
        window.reserve()
        future: Future[None] = Future()
        window.track(message, future)
        futures.append(future)
    futures[0].set_result(None)
    futures[1].set_exception(UnconfirmedError("nack"))
    futures[2].set_exception(BrokerUnavailableError("late"))
    with pytest.raises(UnconfirmedError, match=r"2 message\(s\).*'b', \('c', 1\)"):
        window.flush(1.0)
    window.flush(1.0)  # reported once; the window is clear again


def test_flush_says_how_many_are_still_in_flight() -> None:
    window = ConfirmWindow(4, "q")
    window.reserve()
    window.track("a", Future())
    with pytest.raises(UnconfirmedError, match="1 message"):
        window.flush(0.05)


def test_a_failed_attempt_goes_back_until_the_delivery_limit() -> None:
    topology = Topology("loads", 3)
    target, headers = next_attempt({}, "timeout", topology)
    assert (target, headers["x-persistq-attempt"]) == ("loads", 2)
    target, headers = next_attempt(headers, "disk full", topology)
    assert (target, headers["x-persistq-attempt"]) == ("loads", 3)
    target, headers = next_attempt(headers, "bad row", topology)
    assert target == "loads.dead"
    assert headers == {
        "x-persistq-attempt": 3,
        "x-persistq-reasons": ["timeout", "disk full", "bad row"],
        "x-persistq-queue": "loads",
    }


def test_without_a_limit_a_failed_attempt_is_dead_lettered_at_once() -> None:
    assert next_attempt({}, "no", Topology("q"))[0] == "q.dead"
    headers = dead_letter({"x-persistq-reasons": [b"earlier"]}, "cannot be read", Topology("q", 5))
    assert headers["x-persistq-reasons"] == ["earlier", "cannot be read"]


def test_a_producer_is_gone_once_absent_for_the_whole_lease() -> None:
    absences = Absences()
    absences.seen("a", False, now=10.0)
    absences.seen("b", False, now=10.0)
    absences.seen("b", True, now=11.0)  # back (reconnected): its absence starts over
    absences.seen("a", False, now=12.0)
    absences.seen("b", False, now=13.0)
    assert absences.expired(now=14.9, lease=5.0) == []
    assert absences.expired(now=15.0, lease=5.0) == ["a"]
    assert absences.expired(now=18.0, lease=5.0) == ["a", "b"]


def test_presence_queue_names_fit_the_broker_limit() -> None:
    topology = Topology("q" * 229)
    name = topology.presence("a-very-long-host-name.example.com:123456:abcdef01" * 3)
    assert len(name.encode()) <= 255
    assert topology.presence("x") != topology.presence("y")

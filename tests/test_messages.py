"""Messages become journal fields and come back exactly, or are refused up front."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from persistq.errors import MessageFormatError, PersistqError
from persistq.messages import MessageCodec
from persistq.sentinels import DONE


def _explode(value: object) -> str:
    raise ZeroDivisionError(value)


def test_a_str_is_one_field() -> None:
    codec = MessageCodec()
    assert codec.to_fields("a\tb") == ("a\tb",)
    assert codec.from_fields(("a\tb",)) == "a\tb"


def test_typed_tuples_keep_their_types() -> None:
    day = datetime.date(2026, 11, 23)
    codec = MessageCodec(
        (str, str, datetime.date.isoformat), (int, str, datetime.date.fromisoformat)
    )
    message = (7, "x\ny", day)
    fields = codec.to_fields(message)
    assert fields == ("7", "x\ny", "2026-11-23")
    assert codec.from_fields(fields) == message


def test_a_list_comes_back_as_a_tuple() -> None:
    codec = MessageCodec()
    assert codec.from_fields(codec.to_fields(["a", "b"])) == ("a", "b")


@pytest.mark.parametrize(
    ("codec", "message", "named"),
    [
        (MessageCodec(), 5, "5"),
        (MessageCodec(), ("a", 5), "('a', 5)"),
        (MessageCodec((str,)), 5, "5"),
        (MessageCodec(), (), "()"),
        (MessageCodec(), ("only",), "('only',)"),
        (MessageCodec((_explode,)), "boom", "'boom'"),
        (MessageCodec(), DONE, "DONE"),
    ],
)
def test_messages_that_would_not_round_trip_are_refused(
    codec: MessageCodec, message: Any, named: str
) -> None:
    with pytest.raises(
        MessageFormatError, match=named.replace("(", r"\(").replace(")", r"\)")
    ) as e:
        codec.to_fields(message)
    assert isinstance(e.value, PersistqError)
    assert isinstance(e.value, ValueError)


def test_scalars_with_a_formatter_and_converter_round_trip() -> None:
    codec = MessageCodec((str,), (int,))
    assert codec.from_fields(codec.to_fields(0)) == 0

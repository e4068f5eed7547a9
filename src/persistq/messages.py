"""Messages to journal fields and back, with the user's formatter and converter lists.

Pure logic, no I/O. A message is a ``str`` (or another scalar) written as one field,
or a tuple/list written as one field per item; field ``i`` is written with
``formatters[i]`` and read back with ``converters[i]`` (the identity where the list
is shorter). One field reads back as a scalar, several as a tuple (the PyMPX rule).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from persistq.errors import MessageFormatError, RecordError
from persistq.journal.codec import decode_payloads, encode_record, encode_text_record
from persistq.sentinels import is_control

Formatter = Callable[[Any], str]
Converter = Callable[[str], Any]


def _identity(value: Any) -> Any:
    return value


@attrs.frozen
class MessageCodec:
    """Turns messages into journal fields and back; refuses what would not round-trip."""

    formatters: tuple[Formatter, ...] = ()
    converters: tuple[Converter, ...] = ()
    identity: bool = attrs.field(init=False, eq=False, repr=False)
    """True without formatters and converters: a str message is its own one field, and
    ``codec.decode_text_record`` of its line gives it back exactly."""

    @identity.default
    def _no_formatting(self) -> bool:
        return not self.formatters and not self.converters

    def record(self, message: object, *, check: bool = True) -> bytes:
        """Return the journal line of ``message`` (``codec.encode_record`` of its
        fields); raise MessageFormatError if it cannot be written, or (with ``check``)
        would not read back equal to itself. Equal messages have equal lines.

        ``check=False`` skips the round-trip check, for a message already checked when it
        was put (``task_done``): each message is checked once."""
        try:
            if type(message) is str and self.identity:
                return encode_text_record(message)  # the identity round-trips a str
            return encode_record(self.to_fields(message) if check else self._fields(message))
        except RecordError as exc:
            raise MessageFormatError(
                f"message {message!r} cannot be journalled: {exc}; journals hold UTF-8 text"
            ) from None

    def from_payloads(self, payloads: Sequence[bytes], source: str) -> list[Any]:
        """The messages that ``payloads`` journal (decoded once, converted once); raise
        MessageFormatError naming ``source`` when one cannot be read."""
        try:
            records = decode_payloads(payloads)
        except RecordError as exc:
            raise MessageFormatError(f"{source}: a journal record cannot be read: {exc}") from exc
        if not self.converters:
            return [fields[0] if len(fields) == 1 else fields for fields in records]
        messages = []
        for fields in records:
            try:
                messages.append(self.from_fields(fields))
            except Exception as exc:
                raise MessageFormatError(
                    f"{source}: converter_list cannot read record {fields!r}: {exc!r}"
                ) from exc
        return messages

    def to_fields(self, message: object) -> tuple[str, ...]:
        """Return the fields that journal ``message``; raise MessageFormatError if the
        message cannot be written or would not read back equal to itself."""
        if type(message) is str and self.identity:
            return (message,)  # the identity round-trips a plain str: nothing to check
        fields = self._fields(message)
        expected = tuple(message) if isinstance(message, list) else message
        try:
            back = self.from_fields(fields)
        except Exception as exc:
            raise MessageFormatError(
                f"message {message!r} cannot be read back from the journal: {exc!r}"
            ) from exc
        if back != expected:
            raise MessageFormatError(
                f"message {message!r} would come back from the journal as {back!r}; "
                "give formatter_list/converter_list that round-trip it"
            )
        return fields

    def _fields(self, message: object) -> tuple[str, ...]:
        if is_control(message):
            raise MessageFormatError(f"{message!r} is a control message, not work")
        items: Sequence[object] = message if isinstance(message, tuple | list) else (message,)
        if not items:
            raise MessageFormatError(f"message {message!r} has no fields to journal")
        return tuple(self._format(i, item, message) for i, item in enumerate(items))

    def from_fields(self, fields: Sequence[str]) -> Any:
        """Return the message that ``fields`` journal (a scalar for one field)."""
        if len(fields) == 1:
            return self._converter(0)(fields[0])
        return tuple(self._converter(i)(field) for i, field in enumerate(fields))

    def _format(self, index: int, item: object, message: object) -> str:
        formatter = self.formatters[index] if index < len(self.formatters) else _identity
        try:
            text = formatter(item)
        except Exception as exc:
            raise MessageFormatError(
                f"field {index} of message {message!r}: formatter raised {exc!r}"
            ) from exc
        if not isinstance(text, str):
            raise MessageFormatError(
                f"field {index} of message {message!r} is {type(text).__name__}, not str; "
                "give a formatter_list that turns it into text"
            )
        return text

    def _converter(self, index: int) -> Converter:
        return self.converters[index] if index < len(self.converters) else _identity

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

from persistq.errors import MessageFormatError
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

    def to_fields(self, message: object) -> tuple[str, ...]:
        """Return the fields that journal ``message``; raise MessageFormatError if the
        message cannot be written or would not read back equal to itself."""
        if type(message) is str and not self.formatters and not self.converters:
            return (message,)  # the identity round-trips a plain str: nothing to check
        if is_control(message):
            raise MessageFormatError(f"{message!r} is a control message, not work")
        items: Sequence[object] = message if isinstance(message, tuple | list) else (message,)
        if not items:
            raise MessageFormatError(f"message {message!r} has no fields to journal")
        fields = tuple(self._format(i, item, message) for i, item in enumerate(items))
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

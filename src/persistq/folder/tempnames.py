"""Names of the queue's own temporary files and records, and the length check that
keeps every name a message gets within ``NAME_MAX`` (see :mod:`persistq.folder.names`)."""

from __future__ import annotations

from persistq.folder.names import (
    MOVE_SUFFIX,
    NAME_MAX,
    REASON_SUFFIX,
    SEP,
    TEMP_SUFFIX,
    UNIQUE_LEN,
    Owner,
    archived_name,
    wip_name,
)

_WIDEST_PID = 4194304
_WIDEST_START = 2**64 - 1
_WIDEST_REALM = "f" * 6 + "." + "f" * 6 + "." + "f" * 16
"""As wide as a realm gets (see ``persistq.folder.owner.current_realm``)."""


def temp_name(final: str, owner: Owner, unique: str) -> str:
    """A temporary name for a file that ``owner`` will rename to ``final``: hidden, never
    read, and removed by the next start over the folder once ``owner`` is dead."""
    return f".{final}{SEP}{owner.token}{SEP}{unique}{TEMP_SUFFIX}"


def temp_owner(name: str) -> Owner | None:
    """The owner of temporary file ``name`` (see :func:`temp_name`); None for another name."""
    parts = _temp_parts(name)
    return None if parts is None else Owner.from_token(SEP.join(parts[1:4]))


def temp_final(name: str) -> str | None:
    """The name that temporary file ``name`` was to be renamed to; None for another name."""
    parts = _temp_parts(name)
    return None if parts is None else parts[0]


def _temp_parts(name: str) -> list[str] | None:
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return None
    parts = name[1 : -len(TEMP_SUFFIX)].rsplit(SEP, 4)
    return parts if len(parts) == 5 and parts[0] else None


def move_record_name(owner: Owner, unique: str) -> str:
    """The name of ``owner``'s record of a move across file systems."""
    return f".{unique}{SEP}{owner.token}{MOVE_SUFFIX}"


def move_record_owner(name: str) -> Owner | None:
    """The owner of move record ``name`` (see :func:`move_record_name`), else None."""
    if not (name.startswith(".") and name.endswith(MOVE_SUFFIX)):
        return None
    unique, _, token = name[1 : -len(MOVE_SUFFIX)].partition(SEP)
    return Owner.from_token(token) if unique else None


def check_name_length(name: str, host: str) -> str:
    """Return message ``name`` if every name it will get fits in ``NAME_MAX`` bytes.

    Its wip names (claimed by a process of ``host``), its temporary copies and its
    ``.againN`` and reason names in a done or failed folder all add to it; ValueError
    names the file, its length and the limit.
    """
    widest = Owner(host, _WIDEST_PID, _WIDEST_START, _WIDEST_REALM)
    archived = archived_name(name, 9999) + REASON_SUFFIX
    derived = (wip_name(name, widest, 9999), temp_name(archived, widest, "u" * UNIQUE_LEN))
    longest = max(len(n.encode()) for n in derived)
    if longest > NAME_MAX:
        room = NAME_MAX - (longest - len(name.encode()))
        raise ValueError(
            f"{name!r} is {len(name.encode())} bytes long: a queue on host {host!r} takes "
            f"names of at most {room} bytes (its claimed and temporary names add to it, and "
            f"file names are limited to {NAME_MAX} bytes); rename the file"
        )
    return name

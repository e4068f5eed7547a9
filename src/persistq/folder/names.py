"""The file-name codec of folder queues: pure functions, no I/O.

Every state of a message is a file name that a person can read with ``ls``:

- ``data.tsv``: a message waiting for its first attempt;
- ``data.retry2.tsv``: the same message waiting for its second attempt;
- ``data.tsv@host@4242@987654@1.wip``: attempt 1 of ``data.tsv``, claimed by process
  4242 (started at tick 987654) on ``host``. The owner fields are parsed from the
  right, and the host is percent-escaped, so any original name maps back exactly;
  the host field may end in ``~<realm>`` (machine, boot, PID namespace of the owner);
- ``<producer>.helo`` / ``.done`` / ``.failed``: a producer's markers (small JSON files);
- ``data.again2.tsv``, in the task-done or failed directory: the second message named
  ``data.tsv`` to end there (the first keeps its name);
- ``<owner>.heartbeat``: a reader's lease, refreshed while it holds claims;
- names starting with ``.`` or ending with ``.pqtmp``: temporary files, never read;
  ``.<final>@<owner>@<unique>.pqtmp`` is one being written by ``owner``, and
  ``.<unique>@<owner>.pqmove`` the record of a move across file systems (see
  :mod:`persistq.folder.moves`).

Anything else is a foreign file: ignored and left untouched.
"""

from __future__ import annotations

import enum
import functools
import re
import string

import attrs

WIP_SUFFIX = ".wip"
TEMP_SUFFIX = ".pqtmp"
MOVE_SUFFIX = ".pqmove"
NAME_MAX = 255
"""The longest file name (in bytes) that Linux file systems accept."""
REASON_SUFFIX = ".reason.json"
"""Beside a file in the failed folder: why it failed."""
UNIQUE_LEN = 12
"""Length of the random part of temporary and record names."""
HEARTBEAT_SUFFIX = ".heartbeat"
MARKER_KINDS = ("helo", "done", "failed")
RESERVED_SUFFIXES = (WIP_SUFFIX, TEMP_SUFFIX, HEARTBEAT_SUFFIX, *(f".{k}" for k in MARKER_KINDS))

SEP = "@"
"""Separates the fields of wip, temporary and record names."""
_HOST_SAFE = frozenset(string.ascii_letters + string.digits + "._-")
_PLAIN_HOST = re.compile(r"[A-Za-z0-9._-]+")
_RETRY = re.compile(r"\.retry([0-9]+)$")
_AGAIN = re.compile(r"\.again([0-9]+)$")
_REALM_SEP = "~"
_REALM = re.compile(r"[a-z0-9.]*")


class Kind(enum.Enum):
    """What a name in a queue folder is."""

    MESSAGE = "message"
    WIP = "wip"
    MARKER = "marker"
    HEARTBEAT = "heartbeat"
    TEMP = "temp"
    FOREIGN = "foreign"


@attrs.frozen
class Owner:
    """A process that can claim messages: host name, PID and process start time.

    ``start`` is the start time in clock ticks after boot (``/proc/<pid>/stat``), so a
    PID reused by a later process is not mistaken for the owner; 0 where unknown.
    ``realm`` says which machine, boot and PID namespace ``pid`` belongs to (see
    ``persistq.folder.owner``), so that two containers with one host name are told
    apart; "" in names written before it existed.
    """

    host: str
    pid: int
    start: int
    realm: str = ""

    @functools.cached_property
    def token(self) -> str:
        """The owner as it appears in file names: ``host[~realm]@pid@start``, host escaped.

        The realm follows a ``~``, which an escaped host never holds (computed once: it
        is in every wip name of its owner)."""
        host = escape_host(self.host) + (_REALM_SEP + self.realm if self.realm else "")
        return SEP.join((host, str(self.pid), str(self.start)))

    @classmethod
    def from_token(cls, token: str) -> Owner | None:
        """The owner that :attr:`token` wrote, or None if ``token`` is not one."""
        parts = token.split(SEP)
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts[1:]):
            return None
        host, _, realm = parts[0].partition(_REALM_SEP)
        if not host or not _REALM.fullmatch(realm):
            return None
        try:
            return cls(unescape_host(host), int(parts[1]), int(parts[2]), realm)
        except ValueError:
            return None


@attrs.frozen
class Wip:
    """A parsed work-in-progress name: the original message name, owner and attempt."""

    original: str
    owner: Owner
    attempt: int


def escape_host(host: str) -> str:
    """Percent-escape every character of ``host`` outside ``[A-Za-z0-9._-]``."""
    return "".join(c if c in _HOST_SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in host)


def unescape_host(text: str) -> str:
    """Invert :func:`escape_host`; raise ValueError naming ``text`` if it is not escaped."""
    if _PLAIN_HOST.fullmatch(text):
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%":
            try:
                out.append(int(text[i + 1 : i + 3], 16))
            except ValueError:
                raise ValueError(f"bad escape in host field {text!r}") from None
            i += 3
        elif c in _HOST_SAFE:
            out += c.encode()
            i += 1
        else:
            raise ValueError(f"unescaped character {c!r} in host field {text!r}")
    return out.decode("utf-8", errors="strict")


def normalize_extension(extension: str) -> str:
    """Return ``extension`` with a leading dot; raise ValueError naming a bad one.

    ``"tsv"`` and ``".tsv"`` both give ``".tsv"``. Extensions used by the queue itself
    (``.wip``, ``.helo``, ...) and ones with separators are rejected.
    """
    ext = extension if extension.startswith(".") else "." + extension
    if len(ext) < 2 or "/" in ext or "\\" in ext or "\0" in ext or SEP in ext:
        raise ValueError(f"invalid message_extension {extension!r}")
    if ext in RESERVED_SUFFIXES:
        raise ValueError(f"message_extension {extension!r} is reserved by the folder queue")
    return ext


def check_base_name(name: str) -> str:
    """Return ``name`` if it is a plain file name; raise ValueError naming it otherwise.

    Rejects empty names, path separators, ``.`` and ``..``, and NUL bytes.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def check_message_name(name: str, extension: str) -> str:
    """Return ``name`` if a producer may publish it as a new message; else ValueError.

    It must be a plain name ending with ``extension``, must not be hidden or temporary,
    and must not look like a retried message (``*.retryN<ext>``).
    """
    check_base_name(name)
    if not name.endswith(extension) or len(name) == len(extension):
        raise ValueError(f"{name!r} does not end with the message extension {extension!r}")
    if name.startswith("."):
        raise ValueError(f"{name!r} is hidden: the folder queue ignores names starting with '.'")
    if _RETRY.search(name[: -len(extension)]):
        raise ValueError(f"{name!r} is reserved for retried messages (*.retryN{extension})")
    return name


def classify(name: str, extension: str) -> Kind:
    """Which kind of entry ``name`` is in a queue folder whose messages end with ``extension``."""
    if name.startswith(".") or name.endswith(TEMP_SUFFIX):
        return Kind.TEMP
    if name.endswith(WIP_SUFFIX):
        wip = parse_wip(name)
        ours = wip is not None and wip.original.endswith(extension)
        return Kind.WIP if ours else Kind.FOREIGN
    if name.endswith(HEARTBEAT_SUFFIX):
        return Kind.HEARTBEAT
    if marker_kind(name) is not None:
        return Kind.MARKER
    if name.endswith(extension) and len(name) > len(extension):
        return Kind.MESSAGE
    return Kind.FOREIGN


def marker_kind(name: str) -> str | None:
    """``"helo"``, ``"done"`` or ``"failed"`` for a marker name, else None."""
    stem, dot, kind = name.rpartition(".")
    if dot and stem and kind in MARKER_KINDS and not name.startswith("."):
        return kind
    return None


def marker_name(producer: str, kind: str) -> str:
    """The file name of ``producer``'s marker of ``kind``."""
    if kind not in MARKER_KINDS:
        raise ValueError(f"unknown marker kind {kind!r}")
    return f"{check_base_name(producer)}.{kind}"


def marker_producer(name: str) -> str:
    """The producer token of marker ``name`` (its name without the kind)."""
    return name.rpartition(".")[0]


def queued_name(original: str, attempt: int, extension: str) -> str:
    """The name a message waits under before ``attempt`` (1: the original name)."""
    if attempt <= 1:
        return original
    return f"{original[: -len(extension)]}.retry{attempt}{extension}"


def archived_name(original: str, occurrence: int) -> str:
    """The name under which the ``occurrence``-th message named ``original`` is kept in
    a task-done or failed directory (1: the original name)."""
    if occurrence <= 1:
        return original
    stem, dot, extension = original.rpartition(".")
    if not stem:
        return f"{original}.again{occurrence}"
    return f"{stem}.again{occurrence}{dot}{extension}"


def parse_archived(name: str) -> tuple[str, int]:
    """``(original, occurrence)`` for the name of a message (which has an extension) in
    a done or failed folder: inverts :func:`archived_name`."""
    stem, dot, extension = name.rpartition(".")
    match = _AGAIN.search(stem)
    if not dot or match is None or int(match.group(1)) < 2:
        return name, 1
    return f"{stem[: match.start()]}.{extension}", int(match.group(1))


def parse_queued(name: str, extension: str) -> tuple[str, int]:
    """``(original, attempt)`` for a message name: inverts :func:`queued_name`."""
    stem = name[: -len(extension)]
    match = _RETRY.search(stem) if ".retry" in stem else None
    if match is None:
        return name, 1
    return stem[: match.start()] + extension, int(match.group(1))


def wip_name(original: str, owner: Owner, attempt: int) -> str:
    """The work-in-progress name of ``original`` claimed by ``owner`` for ``attempt``."""
    check_base_name(original)
    return f"{original}{SEP}{owner.token}{SEP}{attempt}{WIP_SUFFIX}"


def parse_wip(name: str) -> Wip | None:
    """The parsed wip name, or None if ``name`` is not one (it is then a foreign file)."""
    if not name.endswith(WIP_SUFFIX):
        return None
    parts = name[: -len(WIP_SUFFIX)].rsplit(SEP, 4)
    if len(parts) != 5:
        return None
    original, host, pid, start, attempt = parts
    owner = _owner_of(SEP.join((host, pid, start))) if host else None
    if not (original and owner and attempt.isascii() and attempt.isdigit()) or int(attempt) < 1:
        return None
    return Wip(original, owner, int(attempt))


@functools.lru_cache(maxsize=256)
def _owner_of(token: str) -> Owner | None:
    # A process parses its own token in every task_done: parse each one once.
    return Owner.from_token(token)


def heartbeat_name(owner: Owner) -> str:
    """The lease file name of ``owner``."""
    return owner.token + HEARTBEAT_SUFFIX

"""The pure file-name codec: wip names, retries, markers, classification."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persistq.folder import names
from persistq.folder.names import Kind, Owner, archived_name

EXT = ".tsv"

plain_names = st.text(
    alphabet=st.characters(exclude_characters="/\\\0", exclude_categories=["Cs"]),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in (".", ".."))
hosts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30)
owners = st.builds(Owner, hosts, st.integers(1, 2**31), st.integers(0, 2**63))


@given(stem=plain_names, owner=owners, attempt=st.integers(1, 10_000))
def test_wip_name_round_trips_for_any_owner(stem: str, owner: Owner, attempt: int) -> None:
    original = stem.lstrip(".") + "x" + EXT
    wip = names.wip_name(original, owner, attempt)
    parsed = names.parse_wip(wip)
    assert parsed == names.Wip(original, owner, attempt)
    assert wip.startswith(original)
    assert not wip.endswith(EXT)
    assert "/" not in wip
    assert names.classify(wip, EXT) is Kind.WIP


@pytest.mark.parametrize("pid", [7, 4242, 4194304, 2**31 - 1])
def test_wip_maps_back_whatever_the_pid_length(pid: int) -> None:
    owner = Owner("build-01.example_net", pid, 123)
    wip = names.wip_name("2024@01_report.tsv", owner, 1)
    assert names.parse_wip(wip) == names.Wip("2024@01_report.tsv", owner, 1)


@pytest.mark.parametrize("host", ["h", "a~b", "ünï"])
def test_owner_realm_round_trips_and_old_names_have_none(host: str) -> None:
    owner = Owner(host, 42, 7, "1a2b3c.4d5e6f.effffffc")
    wip = names.wip_name("x.tsv", owner, 2)
    assert names.parse_wip(wip) == names.Wip("x.tsv", owner, 2)
    old = names.parse_wip("x.tsv@h@42@7@1.wip")
    assert old is not None and old.owner == Owner("h", 42, 7)


def test_host_escaping_is_unambiguous() -> None:
    for host in ["a@b", "a%40b", "ünï", "x-y.z_w", "%"]:
        assert names.unescape_host(names.escape_host(host)) == host
        assert "@" not in names.escape_host(host)
    assert names.escape_host("a@b") != names.escape_host("a%40b")


@given(stem=plain_names, attempt=st.integers(1, 1000))
def test_retry_names_round_trip(stem: str, attempt: int) -> None:
    original = stem + EXT
    queued = names.queued_name(original, attempt, EXT)
    assert queued.endswith(EXT)
    if names.parse_queued(original, EXT) == (original, 1):
        assert names.parse_queued(queued, EXT) == (original, attempt)


def test_retry_name_is_readable() -> None:
    assert names.queued_name("data.tsv", 1, EXT) == "data.tsv"
    assert names.queued_name("data.tsv", 3, EXT) == "data.retry3.tsv"
    assert names.parse_queued("data.retry3.tsv", EXT) == ("data.tsv", 3)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.tsv", Kind.MESSAGE),
        ("a.retry2.tsv", Kind.MESSAGE),
        ("a.csv", Kind.FOREIGN),
        (".tsv", Kind.TEMP),
        (".a.tsv.1234.pqtmp", Kind.TEMP),
        (".hidden.tsv", Kind.TEMP),
        ("x.pqtmp", Kind.TEMP),
        ("a.tsv@h@1@2@1.wip", Kind.WIP),
        ("a.csv@h@1@2@1.wip", Kind.FOREIGN),
        ("notes.wip", Kind.FOREIGN),
        ("a.tsv@h@x@2@1.wip", Kind.FOREIGN),
        ("p.helo", Kind.MARKER),
        ("p.done", Kind.MARKER),
        ("p.failed", Kind.MARKER),
        ("h@1@2.heartbeat", Kind.HEARTBEAT),
        ("failed", Kind.FOREIGN),
    ],
)
def test_classify(name: str, kind: Kind) -> None:
    assert names.classify(name, EXT) is kind


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b.tsv", "..\\x.tsv", "a\0.tsv"])
def test_base_names_with_separators_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        names.check_base_name(bad)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("a.csv", "does not end with"),
        (".tsv", "does not end with"),
        (".a.tsv", "hidden"),
        ("a.retry2.tsv", "reserved for retried"),
        ("../a.tsv", "not a plain file name"),
    ],
)
def test_message_names_are_checked(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        names.check_message_name(bad, EXT)


def test_extensions() -> None:
    assert names.normalize_extension("tsv") == ".tsv"
    assert names.normalize_extension(".tar.gz") == ".tar.gz"
    for bad in ["", ".", "wip", ".done", "a/b", "x@y"]:
        with pytest.raises(ValueError, match=repr(bad).strip("'") or "message_extension"):
            names.normalize_extension(bad)


def test_markers() -> None:
    assert names.marker_name("p1", "done") == "p1.done"
    assert names.marker_kind("p1.done") == "done"
    assert names.marker_producer("2024@h@1@ab.helo") == "2024@h@1@ab"
    assert names.marker_kind(".p1.done") is None
    with pytest.raises(ValueError, match="unknown marker kind"):
        names.marker_name("p1", "finished")


@pytest.mark.parametrize(
    ("original", "occurrence", "archived"),
    [
        ("a.tsv", 1, "a.tsv"),
        ("a.tsv", 2, "a.again2.tsv"),
        ("x.y.csv", 12, "x.y.again12.csv"),
        ("noext", 3, "noext.again3"),
        (".tsv", 2, ".tsv.again2"),
    ],
)
def test_archived_names_keep_the_extension(original: str, occurrence: int, archived: str) -> None:
    assert archived_name(original, occurrence) == archived

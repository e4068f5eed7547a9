"""Folder queues in one process: put, get, task_done, task_failed, markers, options."""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import threading
from pathlib import Path
from queue import Empty

import pytest
from watchdog.observers.api import BaseObserver

from persistq import (
    DONE,
    FAILED,
    PersistqError,
    ReadableFolderQueue,
    UpstreamFailureError,
    WritableFolderQueue,
)
from persistq.folder import files, schedule
from persistq.folder.names import Kind, classify, parse_wip
from persistq.folder.waking import Watcher

pytestmark = pytest.mark.timeout(30)


def make(folder: Path, name: str, data: str = "payload") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data)
    return path


@pytest.fixture
def qdir(tmp_path: Path) -> Path:
    return tmp_path / "queue"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return tmp_path / "src"


def messages(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if classify(n, ".tsv") is Kind.MESSAGE)


# -- put ---------------------------------------------------------------------------------


def test_folder_is_created_and_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    WritableFolderQueue(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError, match="plain"):
        ReadableFolderQueue(tmp_path / "plain")


def test_put_moves_or_copies_keeping_the_base_name(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    moved = w.put(make(src, "a.tsv", "A"))
    assert moved == str(qdir / "a.tsv")
    assert not (src / "a.tsv").exists()
    copied = w.put(make(src, "b.tsv", "B"), copy=True)
    assert Path(copied).read_text() == "B"
    assert (src / "b.tsv").read_text() == "B"
    assert messages(qdir) == ["a.tsv", "b.tsv"]
    assert not [n for n in os.listdir(qdir) if classify(n, ".tsv") is Kind.TEMP]


def test_put_never_overwrites_and_leaves_the_source(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    w.put(make(src, "a.tsv", "first"))
    second = make(src, "a.tsv", "second")
    for copy in (False, True):
        with pytest.raises(FileExistsError, match=r"a\.tsv"):
            w.put(second, copy=copy)
        assert second.read_text() == "second"
    assert (qdir / "a.tsv").read_text() == "first"


def test_put_of_a_missing_file_names_it(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    with pytest.raises(FileNotFoundError, match="nothere"):
        w.put(src / "nothere.tsv")
    with pytest.raises(ValueError, match=r"x\.csv"):
        w.put(make(src, "x.csv"))
    assert (src / "x.csv").exists()


def test_publish_race_has_exactly_one_winner(tmp_path: Path) -> None:
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    files.publish(str(a), str(tmp_path / "dst"))
    with pytest.raises(FileExistsError, match="dst"):
        files.publish(str(b), str(tmp_path / "dst"))
    assert b.exists()
    assert (tmp_path / "dst").read_text() == "payload"


def test_publish_without_renameat2_uses_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "_renameat2", None)
    a, b = make(tmp_path, "a", "A"), make(tmp_path, "b", "B")
    files.publish(str(a), str(tmp_path / "dst"))
    with pytest.raises(FileExistsError, match="dst"):
        files.publish(str(b), str(tmp_path / "dst"))
    assert (tmp_path / "dst").read_text() == "A"
    assert b.read_text() == "B"
    assert not a.exists()
    # A publisher killed between link and unlink: publishing again completes the move.
    os.link(b, tmp_path / "dst2")
    files.publish(str(b), str(tmp_path / "dst2"))
    assert not b.exists()
    assert (tmp_path / "dst2").read_text() == "B"


def test_put_across_file_systems_via_tmpfs(qdir: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(qdir.parent).st_dev:
        pytest.skip("no second file system mounted at /dev/shm")
    source = shm / f"persistq-test-{os.getpid()}.tsv"
    source.write_text("across")
    try:
        w = WritableFolderQueue(qdir)
        path = w.put(source)
        assert Path(path).read_text() == "across"
        assert not source.exists()
    finally:
        source.unlink(missing_ok=True)


def test_put_across_file_systems_simulated(
    qdir: Path, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link = os.link
    source = make(src, "big.tsv", "x" * 100_000)

    real_rename = files._rename_noreplace

    def link(a: str, b: str, **kw: bool) -> None:
        if os.path.dirname(a) != os.path.dirname(b):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(a, b, **kw)

    def rename(a: str, b: str) -> bool:
        if os.path.dirname(a) != os.path.dirname(b):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(a, b)

    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(files, "_rename_noreplace", rename)
    w = WritableFolderQueue(qdir)
    path = w.put(source)
    assert Path(path).read_text() == "x" * 100_000
    assert not source.exists()
    # A clash on the copy path keeps the source and leaves no temporary file.
    again = make(src, "big.tsv", "again")
    with pytest.raises(FileExistsError):
        w.put(again)
    assert again.read_text() == "again"
    assert os.listdir(qdir) == [n for n in os.listdir(qdir) if not n.startswith(".")]


def test_copy_never_shows_a_half_written_file(
    qdir: Path, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    real_publish = files.publish

    def spy(a: str, b: str) -> None:
        seen.append(messages(qdir))
        real_publish(a, b)

    monkeypatch.setattr("persistq.folder.placement.publish", spy)
    w = WritableFolderQueue(qdir)
    w.put(make(src, "a.tsv"), copy=True)
    assert seen == [[]]
    assert messages(qdir) == ["a.tsv"]


# -- get ---------------------------------------------------------------------------------


def test_get_claims_in_name_order_and_maps_names_back(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    for name in ["c.tsv", "a.tsv", "b.tsv"]:
        w.put(make(src, name))
    r = ReadableFolderQueue(qdir)
    got = [r.get(timeout=1000) for _ in range(3)]
    assert [r.original_filename_from_wip(str(g)) for g in got] == [
        str(qdir / n) for n in ["a.tsv", "b.tsv", "c.tsv"]
    ]
    for g in got:
        assert isinstance(g, str)
        assert os.path.exists(g)
        assert r.wip_filename(r.original_filename_from_wip(g)) == g
    assert messages(qdir) == []


def test_sorting_function_receives_the_base_name(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    for name in ["a_3.tsv", "b_1.tsv", "c_2.tsv"]:
        w.put(make(src, name))
    received: list[str] = []

    def by_number(name: str) -> str:
        received.append(name)
        return name.split("_")[1]

    r = ReadableFolderQueue(qdir, sorting_function=by_number)
    order = [
        os.path.basename(r.original_filename_from_wip(str(r.get(timeout=1000)))) for _ in "abc"
    ]
    assert order == ["b_1.tsv", "c_2.tsv", "a_3.tsv"]
    assert set(received) == {"a_3.tsv", "b_1.tsv", "c_2.tsv"}


def test_get_times_out_with_empty_and_waits_while_no_producer(qdir: Path, src: Path) -> None:
    r = ReadableFolderQueue(qdir)
    with pytest.raises(Empty):
        r.get(timeout=50)
    make(qdir, "manual.tsv")  # no producer announced: messages are still handed out
    assert str(r.get(timeout=1000)).startswith(str(qdir / "manual.tsv@"))
    with pytest.raises(Empty):
        r.get(timeout=0)


def test_done_only_after_every_producer_closed_and_nothing_left(qdir: Path, src: Path) -> None:
    w1, w2 = WritableFolderQueue(qdir), WritableFolderQueue(qdir)
    w1.put(make(src, "a.tsv"))
    r = ReadableFolderQueue(qdir)
    w1.close()
    assert r.get(timeout=1000) != DONE
    with pytest.raises(Empty):
        r.get(timeout=50)
    w2.close()
    assert r.get(timeout=1000) is DONE
    assert r.get(timeout=0) is DONE


def test_failed_wins_over_remaining_messages(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    w.put(make(src, "a.tsv"))
    w.fail()
    r = ReadableFolderQueue(qdir)
    assert r.get(timeout=1000) is FAILED
    assert messages(qdir) == ["a.tsv"]
    with pytest.raises(UpstreamFailureError, match=str(qdir)):
        next(iter(r))


def test_iteration_stops_at_done(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    for i in range(5):
        w.put(make(src, f"{i}.tsv"))
    w.close()
    r = ReadableFolderQueue(qdir)
    got = list(r)
    assert len(got) == 5
    assert all(parse_wip(os.path.basename(g)) is not None for g in got)


def test_mark_all_work_done(qdir: Path, src: Path, tmp_path: Path) -> None:
    w = WritableFolderQueue(qdir)
    for i in range(3):
        w.put(make(src, f"{i}.tsv"))
    w.close()
    ReadableFolderQueue(qdir, task_done_directory=tmp_path / "done").mark_all_work_done()
    assert sorted(os.listdir(tmp_path / "done")) == ["0.tsv", "1.tsv", "2.tsv"]


def test_foreign_and_temporary_files_are_ignored_and_kept(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    foreign = ["notes.csv", "readme", ".a.tsv.x.pqtmp", ".hidden.tsv", "x.tsv.partial", "y.wip"]
    for name in foreign:
        make(qdir, name)
    w.put(make(src, "a.tsv"))
    w.close()
    r = ReadableFolderQueue(qdir)
    got = r.get(timeout=1000)
    assert isinstance(got, str)
    r.task_done(got)
    assert r.get(timeout=1000) is DONE
    w.purge()
    for name in foreign:
        assert (qdir / name).read_text() == "payload"


# -- task_done / task_failed -------------------------------------------------------------


def test_task_done_moves_under_the_original_name(qdir: Path, src: Path, tmp_path: Path) -> None:
    done = tmp_path / "done"
    w = WritableFolderQueue(qdir)
    w.put(make(src, "a.tsv", "A"))
    r = ReadableFolderQueue(qdir, task_done_directory=done)
    wip = r.get(timeout=1000)
    assert isinstance(wip, str)
    assert r.task_done(wip) == str(done / "a.tsv")
    assert (done / "a.tsv").read_text() == "A"
    assert not os.path.exists(wip)


def test_a_later_message_of_a_finished_name_is_kept_beside_it(
    qdir: Path, src: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Daily extracts often reuse one name: a second customers.tsv must neither replace
    # the first in done/ nor fail after it was loaded (its claim would then come back
    # and be loaded again).
    done = tmp_path / "done"
    w = WritableFolderQueue(qdir)
    r = ReadableFolderQueue(qdir, task_done_directory=done)
    finished = []
    for day in ("monday", "tuesday", "wednesday"):
        w.put(make(src, "customers.tsv", day))
        wip = r.get(timeout=1000)
        assert isinstance(wip, str)
        finished.append(r.task_done(wip))
    assert finished == [
        str(done / "customers.tsv"),
        str(done / "customers.again2.tsv"),
        str(done / "customers.again3.tsv"),
    ]
    assert [Path(p).read_text() for p in finished if p] == ["monday", "tuesday", "wednesday"]
    assert "keeping both" in caplog.text
    assert not [n for n in os.listdir(qdir) if n.endswith(".wip")]


def test_task_done_deletes_without_a_directory(qdir: Path, src: Path) -> None:
    WritableFolderQueue(qdir).put(make(src, "a.tsv"))
    r = ReadableFolderQueue(qdir)
    wip = r.get(timeout=1000)
    assert isinstance(wip, str)
    assert r.task_done(wip) is None
    assert not os.path.exists(wip)
    with pytest.raises(ValueError, match="not a work-in-progress"):
        r.task_done(str(qdir / "a.tsv"))


def test_task_failed_retries_then_gives_up_with_a_reason(qdir: Path, src: Path) -> None:
    WritableFolderQueue(qdir).put(make(src, "a.tsv", "A"))
    r = ReadableFolderQueue(qdir, max_attempts=2)
    first = r.get(timeout=1000)
    assert isinstance(first, str)
    retry = r.task_failed(first, "bad row 3")
    assert retry == str(qdir / "a.retry2.tsv")
    second = r.get(timeout=1000)
    assert isinstance(second, str)
    wip = parse_wip(os.path.basename(second))
    assert wip is not None
    assert (wip.original, wip.attempt) == ("a.tsv", 2)
    final = r.task_failed(second, "still bad")
    assert final == str(qdir / "failed" / "a.tsv")
    assert Path(final).read_text() == "A"
    reason = json.loads(Path(final + ".reason.json").read_text())
    assert reason["reason"] == "still bad"
    assert reason["attempts"] == 2
    with pytest.raises(Empty):
        r.get(timeout=50)
    WritableFolderQueue(qdir).put(make(src, "a.tsv", "A again"))
    for _ in range(2):  # its two attempts
        third = r.get(timeout=1000)
        assert isinstance(third, str)
        again = r.task_failed(third, "bad once more")
    assert again == str(qdir / "failed" / "a.again2.tsv")
    assert json.loads(Path(again + ".reason.json").read_text())["reason"] == "bad once more"
    assert Path(final).read_text() == "A"


# -- markers -----------------------------------------------------------------------------


def test_markers_are_json_and_written_atomically(qdir: Path) -> None:
    w = WritableFolderQueue(qdir)
    w.close()
    names = sorted(os.listdir(qdir))
    assert [n.rsplit(".", 1)[1] for n in names] == ["done", "helo"]
    for name in names:
        data = json.loads((qdir / name).read_text())
        assert data["producer"] == w.producer
        assert data["type"] == name.rsplit(".", 1)[1]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"type": "helo"}', "\xff"])
def test_corrupt_marker_raises_naming_the_file(qdir: Path, content: str) -> None:
    make(qdir, "someone.done", content)
    r = ReadableFolderQueue(qdir)
    with pytest.raises(PersistqError, match=r"someone\.done"):
        r.get(timeout=100)


def test_reset_removes_markers_and_restores_wip_files(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    w.put(make(src, "a.tsv"))
    w.put(make(src, "b.tsv"))
    w.close()
    r = ReadableFolderQueue(qdir, max_attempts=3)
    a = r.get(timeout=1000)
    assert isinstance(a, str)
    r.task_failed(a, "once")
    b = r.get(timeout=1000)
    c = r.get(timeout=1000)
    assert isinstance(b, str)
    assert isinstance(c, str)
    restored = w.reset()
    assert sorted(os.path.basename(p) for p in restored) == ["a.retry2.tsv", "b.tsv"]
    assert messages(qdir) == ["a.retry2.tsv", "b.tsv"]
    kinds = sorted(n.rsplit(".", 1)[1] for n in os.listdir(qdir) if not n.startswith("."))
    assert kinds == ["helo", "tsv", "tsv"]  # (.history keeps the failed attempt's reason)


# -- options -----------------------------------------------------------------------------


def test_stable_after_waits_for_files_written_in_place(qdir: Path) -> None:
    WritableFolderQueue(qdir)
    growing = make(qdir, "growing.tsv", "part")
    r = ReadableFolderQueue(qdir, stable_after=1.0)
    with pytest.raises(Empty):
        r.get(timeout=100)
    with growing.open("a") as f:
        f.write("more")
    with pytest.raises(Empty):
        r.get(timeout=100)
    got = r.get(timeout=5000)
    assert isinstance(got, str)
    assert Path(got).read_text() == "partmore"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"stable_after": -1}, "stable_after"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"observer": "magic"}, "magic"),
        ({"durability": "sometimes"}, "sometimes"),
        ({"message_extension": ".wip"}, "wip"),
    ],
)
def test_bad_options_name_the_value(qdir: Path, kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        ReadableFolderQueue(qdir, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"poll_interval": 0.02}, {"observer": "polling"}, {"observer": "native"}]
)
def test_every_waking_mode_delivers(qdir: Path, src: Path, kwargs: dict[str, object]) -> None:
    w = WritableFolderQueue(qdir)
    r = ReadableFolderQueue(qdir, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(Empty):
        r.get(timeout=20)
    w.put(make(src, "late.tsv"))
    assert isinstance(r.get(timeout=10_000), str)
    w.close()
    assert r.get(timeout=10_000) is DONE
    r.dispose()


def watching_reader(qdir: Path) -> tuple[WritableFolderQueue, ReadableFolderQueue, Watcher]:
    """A producer, and a reader that has waited once, so that its watcher runs."""
    w = WritableFolderQueue(qdir)
    r = ReadableFolderQueue(qdir)
    with pytest.raises(Empty):
        r.get(timeout=10)
    assert r._process is not None
    assert r._process.view.watcher is not None
    return w, r, r._process.view.watcher


def test_dead_observer_falls_back_to_polling(
    qdir: Path, src: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, r, watcher = watching_reader(qdir)
    watcher.stop()
    w.put(make(src, "a.tsv"))
    with caplog.at_level(logging.WARNING, logger="persistq"):
        assert isinstance(r.get(timeout=10_000), str)
    assert "observer" in caplog.text


def test_missed_events_are_detected_and_rescans_take_over(
    qdir: Path, src: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule, "MISSED_GRACE_SECONDS", 0.0)
    monkeypatch.setattr(schedule, "SAFETY_RESCAN_SECONDS", 0.05)
    w, r, watcher = watching_reader(qdir)
    monkeypatch.setattr(watcher, "take", list)  # every event is lost, as on overflow
    w.put(make(src, "a.tsv"))
    with caplog.at_level(logging.WARNING, logger="persistq"):
        assert isinstance(r.get(timeout=10_000), str)
    assert "missed" in caplog.text
    assert r._process is not None
    assert r._process.schedule.degraded


def test_fsync_durability_syncs_the_directories_it_changed(
    qdir: Path, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    monkeypatch.setattr(files, "fsync_directory", synced.append)
    done = tmp_path / "done"
    w = WritableFolderQueue(qdir, durability="fsync")
    r = ReadableFolderQueue(qdir, task_done_directory=done, durability="fsync")
    synced.clear()
    w.put(make(src, "a.tsv"))
    assert set(synced) == {str(qdir), str(src)}
    synced.clear()
    wip = r.get(timeout=1000)
    assert synced == [str(qdir)]
    synced.clear()
    assert isinstance(wip, str)
    r.task_done(wip)
    assert set(synced) == {str(qdir), str(done)}


def test_no_fsync_at_all_with_durability_none(
    qdir: Path, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object) -> None:
        raise AssertionError("fsync called")

    monkeypatch.setattr(os, "fsync", forbidden)
    w = WritableFolderQueue(qdir, durability="none")
    r = ReadableFolderQueue(qdir, task_done_directory=tmp_path / "d", durability="none")
    w.put(make(src, "a.tsv"))
    w.put(make(src, "b.tsv"), copy=True)
    w.close()
    for wip in r:
        r.task_done(wip)
    assert sorted(os.listdir(tmp_path / "d")) == ["a.tsv", "b.tsv"]


def test_queues_pickle(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir, ".csv")
    r = ReadableFolderQueue(qdir, ".csv", stable_after=None, max_attempts=2)
    with pytest.raises(Empty):
        r.get(timeout=1)
    w2 = pickle.loads(pickle.dumps(w))
    r2 = pickle.loads(pickle.dumps(r))
    assert (w2.producer, r2.max_attempts, r2.message_extension) == (w.producer, 2, ".csv")
    w2.put(make(src, "x.csv"))
    assert isinstance(r2.get(timeout=1000), str)
    r.dispose()
    r2.dispose()


def test_no_inotify_watches_left_falls_back_to_polling(
    qdir: Path, src: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_watches(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(BaseObserver, "schedule", no_watches)
    w = WritableFolderQueue(qdir)
    r = ReadableFolderQueue(qdir)
    with caplog.at_level(logging.WARNING, logger="persistq"):
        with pytest.raises(Empty):
            r.get(timeout=10)
        w.put(make(src, "a.tsv"))
        assert isinstance(r.get(timeout=10_000), str)
    assert "watch limit" in caplog.text


def test_a_name_still_in_progress_here_is_left_for_later(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    w.put(make(src, "a.tsv", "one"))
    r = ReadableFolderQueue(qdir)
    first = r.get(timeout=1000)
    assert isinstance(first, str)
    w.put(make(src, "a.tsv", "two"))
    with pytest.raises(Empty):
        r.get(timeout=50)
    assert Path(first).read_text() == "one"
    r.task_done(first)
    second = r.get(timeout=10_000)
    assert second == first
    assert Path(second).read_text() == "two"


def test_purge_removes_the_queue_state(qdir: Path, src: Path) -> None:
    w = WritableFolderQueue(qdir)
    w.put(make(src, "a.tsv"))
    w.put(make(src, "b.tsv"))
    r = ReadableFolderQueue(qdir)
    assert isinstance(r.get(timeout=1000), str)
    make(qdir, "keep.csv")
    w.purge()
    assert os.listdir(qdir) == ["keep.csv"]
    w.purge_control_messages()
    assert [n.rsplit(".", 1)[1] for n in os.listdir(qdir) if n != "keep.csv"] == ["helo"]


def test_fsync_put_makes_the_data_durable_before_publishing(
    qdir: Path, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = WritableFolderQueue(qdir, durability="fsync")
    events: list[str] = []
    real_fsync, real_publish = os.fsync, files.publish

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def publish(a: str, b: str) -> None:
        events.append("publish")
        real_publish(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr("persistq.folder.placement.publish", publish)
    w.put(make(src, "a.tsv"))
    assert events[:2] == ["fsync", "publish"]


def test_draining_a_backlog_does_not_list_the_folder_per_get(
    qdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = WritableFolderQueue(qdir)
    for i in range(500):
        make(qdir, f"{i:04d}.tsv")
    w.close()
    r = ReadableFolderQueue(qdir)
    listings = 0
    real_listdir = os.listdir

    def counting_listdir(path: str) -> list[str]:
        nonlocal listings
        listings += 1
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", counting_listdir)
    got = [wip for wip in r]
    assert len(got) == 500
    assert listings < 20


@pytest.mark.timeout(60)
def test_pausing_and_stopping_watches_under_load_logs_no_error(
    qdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # watchdog logs an ERROR when a watch is torn down while events arrive; readers
    # do that as a matter of course, and it must not reach the user's logs as one.
    qdir.mkdir()
    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            path = qdir / f"churn{i}.tmp"
            path.touch()
            path.rename(qdir / f"churn{i}.moved")
            (qdir / f"churn{i}.moved").unlink()
            i += 1

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(30):
                watcher = Watcher(str(qdir), "native", 0.1)
                for _ in range(5):
                    threading.Event().wait(0.005)
                    watcher.pause()
                    threading.Event().wait(0.005)
                    watcher.resume()
                watcher.stop()
            logging.getLogger("watchdog.observers.inotify").error("another error")
    finally:
        stop.set()
        churner.join()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "another error"
    ]

"""The folder protocols on one file system, killed at every crash point (issue 11):
put, claim, task_done (to done/ and deleting), task_failed (queued again, and to
failed/) and the producer markers. At each point nothing acknowledged is lost,
nothing completed comes back, every file is in exactly one place, and
``persistq status --json`` counts what a restarted reader then finds."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from queue import Empty
from typing import Any

import pytest

import persistq
from persistq import DONE, FAILED, ReadableFolderQueue, WritableFolderQueue
from persistq.cli import main
from persistq.folder.names import TEMP_SUFFIX
from tests.crashpoints import (
    COMMIT_SYSCALLS,
    CrashPoint,
    crash_points,
    python_argv,
    require_strace,
)

pytestmark = pytest.mark.timeout(120)

FILES = ("a.tsv", "b.tsv")
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(Path(persistq.__file__).parents[1]), *sys.path]),
}

#: Crash points per protocol, for docs/reliability.md (printed with ``pytest -s``).
COUNTS: dict[str, dict[str, int]] = {}


def syscalls_made(argv: Sequence[str], prepare: Callable[[], None], *extra: str) -> list[str]:
    """Which of ``COMMIT_SYSCALLS`` (and ``extra``) ``argv`` makes, from one ``strace -c``
    run: only those are enumerated (every name a platform may use is asked for, the
    calls it does not make cost nothing), so the campaign stays short."""
    strace = require_strace()
    prepare()
    wanted = [*COMMIT_SYSCALLS, *extra]
    done = subprocess.run(
        [strace, "-f", "-c", "-e", f"trace={','.join(wanted)}", *argv],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=True,
    )
    counted = {line.split()[-1] for line in done.stderr.splitlines() if line[:1] == " "}
    return [s for s in wanted if s in counted]


def campaign(
    protocol: str, code: str, prepare: Callable[[], None], *extra: str
) -> Iterator[CrashPoint]:
    """Every crash point of ``code`` (after ``prepare``), counted per syscall; the
    caller checks each point right after it is yielded (the state is reset next)."""
    argv = python_argv(code)
    counts: dict[str, int] = {}
    for point in crash_points(argv, syscalls_made(argv, prepare, *extra), prepare=prepare, env=ENV):
        counts[point.syscall] = point.n
        yield point
    COUNTS[protocol] = counts
    print(f"\n{protocol}: {sum(counts.values())} crash points {counts}")


def status(queue: Path) -> dict[str, Any]:
    """``persistq status --json QUEUE``, in this process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["status", "--json", str(queue)])
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def counted(report: dict[str, Any]) -> int:
    """Messages the status finds pending or claimed (none in an empty folder: "kind":
    "none", not a queue yet)."""
    claimed = sum(len(o["files"]) for o in report.get("in_progress", []))
    return int(report.get("pending", 0)) + claimed


def restarted_reader(queue: Path, **options: Any) -> list[str]:
    """What a restarted reader hands out (original names, sorted): it takes back the
    dead process's claims, then drains the folder. The killed producer's markers (a
    FAILED for every reader) are removed first, as ``persistq reset`` would."""
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(queue):
            if name.endswith((".helo", ".done", ".failed")):
                os.unlink(queue / name)
    got: list[str] = []
    with ReadableFolderQueue(queue, poll_interval=0.02, **options) as reader:
        reader.recover_abandoned()
        while True:
            try:
                wip = reader.get(timeout=300)
            except Empty:
                break
            if wip is DONE or wip is FAILED:
                break
            assert isinstance(wip, str)
            got.append(os.path.basename(reader.original_filename_from_wip(wip)))
    return sorted(got)


def listing(folder: Path) -> list[str]:
    """The visible files of ``folder`` (not its dot files), or [] if it is missing."""
    if not folder.is_dir():
        return []
    return sorted(n for n in os.listdir(folder) if not n.startswith(".") and (folder / n).is_file())


def temporaries(*folders: Path) -> list[str]:
    return [n for f in folders if f.is_dir() for n in os.listdir(f) if n.endswith(TEMP_SUFFIX)]


def acknowledged(point: CrashPoint, word: str) -> list[str]:
    """The names the killed command printed after ``word`` (calls that returned), on
    whole lines only (a kill may land between the writes of one print)."""
    lines = [line.split() for line in point.stdout.split("\n")[:-1]]
    return [words[1] for words in lines if words[0] == word]


def fresh(*folders: Path) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)


def test_put_on_one_file_system(tmp_path: Path) -> None:
    queue, source = tmp_path / "q", tmp_path / "incoming"

    def prepare() -> None:
        fresh(queue, source)
        for name in FILES:
            (source / name).write_text(name)

    code = (
        "from persistq import WritableFolderQueue\n"
        f"w = WritableFolderQueue({str(queue)!r}, durability='fsync')\n"
        f"for name in {FILES!r}:\n"
        f"    w.put({str(source)!r} + '/' + name)\n"
        "    print('put', name, flush=True)\n"
    )
    for point in campaign("put", code, prepare):
        report = status(queue)
        found = restarted_reader(queue)
        assert counted(report) == len(found), f"{point}: status {report} != reader {found}"
        assert set(acknowledged(point, "put")) <= set(found), f"{point}: a put was lost"
        for name in FILES:  # in the queue or still in the source folder: one place
            assert (name in found) != (source / name).exists(), f"{point}: {name}"
        assert temporaries(queue, source) == [], point


def test_claim(tmp_path: Path) -> None:
    queue = tmp_path / "q"

    def prepare() -> None:
        fresh(queue)
        for name in FILES:
            (queue / name).write_text(name)

    code = (
        "from persistq import ReadableFolderQueue\n"
        f"r = ReadableFolderQueue({str(queue)!r}, durability='fsync', poll_interval=0.02)\n"
        "print('claimed', r.get(timeout=5000), flush=True)\n"
    )
    for point in campaign("claim", code, prepare):
        report = status(queue)
        claimed = acknowledged(point, "claimed")
        assert not claimed or len(report["in_progress"]) == 1, f"{point}: {report}"
        found = restarted_reader(queue)
        assert counted(report) == len(found), f"{point}: status {report} != reader {found}"
        assert found == sorted(FILES), f"{point}: each file back once: {found}"


@pytest.mark.parametrize("into", ["done", "nowhere"])
def test_task_done(tmp_path: Path, into: str) -> None:
    queue = tmp_path / "q"
    done = queue / "done"  # where persistq status looks

    def prepare() -> None:
        fresh(queue)
        (queue / "a.tsv").write_text("a")

    target = repr(str(done)) if into == "done" else "None"
    code = (
        "from persistq import ReadableFolderQueue\n"
        f"r = ReadableFolderQueue({str(queue)!r}, '.tsv', {target}, durability='fsync', "
        "poll_interval=0.02)\n"
        "wip = r.get(timeout=5000)\n"
        "r.task_done(wip)\n"
        "print('done', 'a.tsv', flush=True)\n"
    )
    for point in campaign(f"task_done to {into}", code, prepare):
        report = status(queue)
        finished = listing(done)
        assert report.get("done", 0) == len(finished), f"{point}: {report}"
        found = restarted_reader(queue)
        assert counted(report) == len(found), f"{point}: status {report} != reader {found}"
        if acknowledged(point, "done"):
            assert found == [], f"{point}: a completed file came back"
        if into == "done":  # done or queued again: exactly one place
            assert (finished == ["a.tsv"]) != (found == ["a.tsv"]), f"{point}: {finished} {found}"
        else:  # queued again, or deleted by a task_done that was under way
            assert found in ([], ["a.tsv"]), point
        assert temporaries(queue, done) == [], point


def first_attempt_failed(queue: Path) -> None:
    """Lay out a.tsv after its first attempt failed: a.retry2.tsv and its history."""
    fresh(queue)
    (queue / "a.tsv").write_text("a")
    with ReadableFolderQueue(queue, max_attempts=2, poll_interval=0.02) as reader:
        wip = reader.get(timeout=5000)
        assert isinstance(wip, str)
        reader.task_failed(wip, "first")


@pytest.mark.parametrize("attempt", [1, 2])
def test_task_failed(tmp_path: Path, attempt: int) -> None:
    """Attempt 1 of 2 is queued again as a.retry2.tsv; attempt 2 goes to failed/."""
    queue = tmp_path / "q"
    failed = queue / "failed"

    def prepare() -> None:
        if attempt == 1:
            fresh(queue)
            (queue / "a.tsv").write_text("a")
        else:
            first_attempt_failed(queue)

    code = (
        "from persistq import ReadableFolderQueue\n"
        f"r = ReadableFolderQueue({str(queue)!r}, max_attempts=2, durability='fsync', "
        "poll_interval=0.02)\n"
        "wip = r.get(timeout=5000)\n"
        "print('failed', r.task_failed(wip, 'down'), flush=True)\n"
    )
    protocol = "task_failed, queued again" if attempt == 1 else "task_failed to failed/"
    for point in campaign(protocol, code, prepare, "write"):
        report = status(queue)
        gave_up = listing(failed)
        assert len(report.get("failed", [])) == len([n for n in gave_up if n.endswith(".tsv")])
        found = restarted_reader(queue, max_attempts=2)
        assert counted(report) == len(found), f"{point}: status {report} != reader {found}"
        in_failed = "a.tsv" in gave_up
        assert (found == ["a.tsv"]) != in_failed, f"{point}: {found} {gave_up}"
        if acknowledged(point, "failed"):
            assert in_failed == (attempt == 2), point
            if in_failed:
                assert "a.tsv.reason.json" in gave_up, point
        assert temporaries(queue, failed) == [], point


@pytest.mark.parametrize("end", ["close", "fail"])
def test_producer_markers(tmp_path: Path, end: str) -> None:
    """helo, then done (close) or failed (fail): a restarted reader answers DONE only
    for a producer whose done marker is whole, and status says the same."""
    queue = tmp_path / "q"
    code = (
        "from persistq import WritableFolderQueue\n"
        f"w = WritableFolderQueue({str(queue)!r}, durability='fsync')\n"
        "print('helo', 'written', flush=True)\n"
        f"w.{end}()\n"
        f"print('{end}', 'written', flush=True)\n"
    )
    for point in campaign(f"markers: helo, {end}", code, lambda: fresh(queue), "write"):
        report = status(queue)
        answer: object
        with ReadableFolderQueue(queue, poll_interval=0.02) as reader:
            try:
                answer = reader.get(timeout=300)  # a bad marker would raise here
            except Empty:
                answer = Empty
        producers = report.get("producers", [])
        if not producers:  # killed before its helo marker: no producer was announced
            assert answer is Empty, f"{point}: the reader waits for a producer; {report}"
            continue
        (producer,) = producers
        assert answer is DONE or answer is FAILED, point
        assert (answer is DONE) == (producer["state"] == "done"), f"{point}: {report}"
        assert (answer is DONE) == report["healthy"], f"{point}: {report}"
        if acknowledged(point, end):
            assert answer is (DONE if end == "close" else FAILED), point
        WritableFolderQueue(queue).close()  # a restarted producer clears dead temporaries
        assert temporaries(queue) == [], point

"""At every crash point of recovery, compaction and a journal append, ``persistq requeue``
prints exactly the work the library finds outstanding, and nothing is lost or doubled."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from persistq import PersistentQueue
from persistq.journal.codec import escape_field
from persistq.pickup.layout import read_compaction
from tests.cli.helpers import dead_pid, persistq_here, write_journal
from tests.crashpoints import crash_points, python_argv, require_strace

ITEMS = 40
DONE = 20

#: The interpreter that ``python_argv`` runs is the venv's base: give it this import path.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def library_outstanding(directory: Path) -> list[str]:
    return PersistentQueue("items", None, directory).get_list_of_outstanding_work()


def cli_outstanding(directory: Path) -> list[str]:
    result = persistq_here("requeue", "--prefix", "items", str(directory))
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def crashed_run(directory: Path) -> list[str]:
    """Journals of a run killed after completing half its items; returns what is left."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir()
    items = [(f"item{i}\tx",) for i in range(ITEMS)]
    write_journal(str(directory), "items", "requested", dead_pid(), items)
    write_journal(str(directory), "items", "completed", dead_pid(), items[:DONE])
    return [fields[0] for fields in items[DONE:]]


def prepare_crashed_run(directory: Path) -> None:
    crashed_run(directory)


def check_agreement(directory: Path, expected: list[str], point: object) -> None:
    found = library_outstanding(directory)
    assert found == expected, f"{point}: the library lost or doubled work"
    assert cli_outstanding(directory) == [escape_field(m) for m in found], (
        f"{point}: persistq requeue disagrees with the library"
    )


def check_every_crash_point(tmp_path: Path, code: str, syscalls: tuple[str, ...]) -> int:
    """Kill ``code`` (run on a crashed run's directory, ``DIR``) at every crash point of
    ``syscalls``; at each, the library and the CLI find exactly the work left before."""
    require_strace()
    directory = tmp_path / "run"
    expected = crashed_run(directory)
    argv = python_argv(code.replace("DIR", repr(str(directory))))
    points = 0
    for point in crash_points(
        argv, syscalls, prepare=lambda: prepare_crashed_run(directory), env=ENV
    ):
        points += 1
        check_agreement(directory, expected, point)
        check_restart_leaves_no_temporaries(directory, point)
    return points


def check_restart_leaves_no_temporaries(directory: Path, point: object) -> None:
    """A run started over the killed run's directory removes what it left half written
    (``.part`` journals, ``.pqtmp`` side files) but the journal of a committed
    compaction, which the next recovery links in, and still finds the same work."""
    found = library_outstanding(directory)
    PersistentQueue("items", directory, use_queue=False).close()
    pending = read_compaction(str(directory), "items")
    needed = {pending.temporary} if pending is not None else set()
    left = [n for n in os.listdir(directory) if n.endswith((".part", ".pqtmp"))]
    left = [n for n in left if n not in needed]
    assert left == [], f"{point}: a restart left {left}"
    assert library_outstanding(directory) == found, f"{point}: the restart changed the work"


@pytest.mark.timeout(300)
def test_recovery_in_place_killed_at_every_crash_point(tmp_path: Path) -> None:
    code = (
        "from persistq import PersistentQueue\n"
        "PersistentQueue('items', DIR, DIR, use_queue=False).requeue_unprocessed_work()\n"
    )
    syscalls = ("unlink", "unlinkat", "rename", "link", "linkat", "ftruncate")
    assert check_every_crash_point(tmp_path, code, syscalls) >= 5


@pytest.mark.timeout(300)
def test_compaction_killed_at_every_crash_point(tmp_path: Path) -> None:
    code = "from persistq.pickup import compact\ncompact(DIR, 'items')\n"
    assert check_every_crash_point(tmp_path, code, ("unlink", "rename", "link", "ftruncate")) >= 4


@pytest.mark.timeout(300)
def test_journal_appends_killed_at_every_crash_point(tmp_path: Path) -> None:
    """Each put and task_done that returned is in the journals the CLI and library read."""
    require_strace()
    directory = tmp_path / "run"
    code = (
        "import sys\n"
        "from persistq import PersistentQueue\n"
        f"q = PersistentQueue('items', {str(directory)!r}, use_queue=False, durability='fsync')\n"
        "for i in range(6):\n"
        "    q.put(f'item{i}')\n"
        "    print('put', i, flush=True)\n"
        "    if i % 2:\n"
        "        print('doing', i, flush=True)\n"
        "        q.task_done(f'item{i}')\n"
        "        print('done', i, flush=True)\n"
        "q.dispose()\n"
    )

    def prepare() -> None:
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir()

    points = 0
    for point in crash_points(
        python_argv(code), ("fdatasync", "ftruncate", "pwrite64"), prepare=prepare, env=ENV
    ):
        points += 1
        acknowledged = [line.split() for line in point.stdout.splitlines()]
        put = {int(n) for verb, n in acknowledged if verb == "put"}
        done = {int(n) for verb, n in acknowledged if verb == "done"}
        doing = {int(n) for verb, n in acknowledged if verb == "doing"}
        found = library_outstanding(directory) if os.listdir(directory) else []
        for i in put - doing:
            assert f"item{i}" in found, f"{point}: acknowledged put of item{i} lost"
        for i in done:
            assert f"item{i}" not in found, f"{point}: completed item{i} came back"
        if os.listdir(directory):
            assert cli_outstanding(directory) == found, f"{point}: CLI disagrees"
    assert points >= 6


@pytest.mark.timeout(300)
def test_cli_reset_killed_at_every_crash_point_forgets_all_or_nothing(tmp_path: Path) -> None:
    """``persistq reset`` journals the outstanding work as completed whole: a kill leaves
    every record outstanding or none, never a part (each run ~0.5 s: a few pages)."""
    require_strace()
    directory = tmp_path / "run"
    items = [(f"item{i:05d}\tpayload for a page-crossing journal",) for i in range(400)]

    def prepare() -> None:
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir()
        write_journal(str(directory), "items", "requested", dead_pid(), items)

    argv = [os.path.join(os.path.dirname(sys.executable), "persistq"), "reset", "--yes"]
    points = 0
    for point in crash_points(
        [*argv, str(directory)], ("fdatasync", "link", "unlink"), prepare=prepare, env=ENV
    ):
        points += 1
        left = len(library_outstanding(directory))
        assert left in (0, len(items)), f"{point}: reset left {left} of {len(items)}"
    assert points >= 3


@pytest.mark.timeout(300)
def test_cli_requeue_output_killed_at_every_crash_point_writes_all_or_nothing(
    tmp_path: Path,
) -> None:
    require_strace()
    directory = tmp_path / "run"
    output = tmp_path / "out" / "items_requested_PID1.tsv"
    items = [(f"item{i:05d}\tpayload for a page-crossing journal",) for i in range(400)]

    def prepare() -> None:
        for path in (directory, output.parent):
            if path.exists():
                shutil.rmtree(path)
            path.mkdir()
        write_journal(str(directory), "items", "requested", dead_pid(), items)

    argv = [os.path.join(os.path.dirname(sys.executable), "persistq"), "requeue"]
    argv += ["--prefix", "items", "--output", str(output), str(directory)]
    points = 0
    for point in crash_points(argv, ("fdatasync", "link", "unlink"), prepare=prepare, env=ENV):
        points += 1
        if output.exists():
            assert len(library_outstanding(output.parent)) == len(items), point
        assert library_outstanding(directory) == [f[0] for f in items], point
    assert points >= 3

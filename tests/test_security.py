"""Security invariants: recovery never executes data, files respect the umask."""

from __future__ import annotations

import ast
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from persistq import PersistentQueue, ReadableFolderQueue, WritableFolderQueue
from persistq.folder.names import check_message_name
from persistq.pickup import compact

SOURCE = Path(__file__).resolve().parents[1] / "src" / "persistq"
FORBIDDEN_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "_pickle"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


def python_files() -> Iterator[Path]:
    yield from sorted(SOURCE.rglob("*.py"))


@pytest.mark.parametrize("path", list(python_files()), ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_module_can_deserialise_code(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names = {(node.module or "").split(".")[0]}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{path}:{node.lineno}"
            continue
        else:
            continue
        assert not names & FORBIDDEN_MODULES, f"{path}:{node.lineno} imports {names}"


def test_journals_and_their_companions_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        first = PersistentQueue("jobs", tmp_path / "run1", durability="fsync")
        first.put("a")
        first.put("b")
        first.task_done("a")
        first.dispose()
        second = PersistentQueue("jobs", tmp_path / "run2", tmp_path / "run1")
        second.requeue_unprocessed_work()
        second.dispose()
        compact(tmp_path / "run1", "jobs")
    finally:
        os.umask(old)
    created = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(created) >= 3  # compacted journal, requeued journal, recovery pointer
    for path in created:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_folder_queue_files_respect_the_umask(tmp_path: Path) -> None:
    source, q, done = tmp_path / "source", tmp_path / "q", tmp_path / "done"
    source.mkdir()
    (source / "a.tsv").write_text("a")
    old = os.umask(0o077)
    try:
        writer = WritableFolderQueue(q, durability="fsync")
        writer.put(source / "a.tsv", copy=True)
        writer.close()
        reader = ReadableFolderQueue(q, task_done_directory=done, poll_interval=0.01)
        wip = reader.get(timeout=5000)
        assert isinstance(wip, str)
        reader.task_done(wip)
        reader.dispose()
    finally:
        os.umask(old)
    created = [p for p in [*q.rglob("*"), *done.rglob("*")] if p.is_file()]
    assert len(created) >= 3  # the copy, now in done/, and the helo and done markers
    for path in created:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


@pytest.mark.parametrize("name", ["../escape.tsv", "sub/dir.tsv", "..", "/abs.tsv", "a\x00.tsv"])
def test_names_that_leave_the_folder_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(name))):
        check_message_name(name, ".tsv")

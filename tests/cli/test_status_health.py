"""``persistq status`` exit codes on folders, the truth a cron health check relies on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from persistq.folder import ReadableFolderQueue, WritableFolderQueue
from tests.cli.helpers import persistq, write_journal


def status(path: Path) -> tuple[int, list[str]]:
    done = persistq("status", "--json", str(path))
    return done.returncode, json.loads(done.stdout)["problems"]


def test_an_empty_folder_is_not_a_healthy_queue(tmp_path: Path) -> None:
    code, problems = status(tmp_path)
    assert code == 1 and problems == [
        f"{tmp_path} is empty: not a folder queue or a pickup directory (yet)"
    ]
    assert "PROBLEMS" in persistq("status", str(tmp_path)).stdout


def test_the_parent_of_pickup_directories_is_not_a_queue(tmp_path: Path) -> None:
    run = tmp_path / "run-0001"
    run.mkdir()
    write_journal(str(run), "loads", "requested", 4242, [["a.csv"]])
    code, problems = status(tmp_path)
    assert code == 1 and "is the parent of pickup directories (run-0001)" in problems[0]
    assert f"persistq status {run}" in problems[0]


@pytest.mark.timeout(30)
def test_a_producer_gone_without_close_is_unhealthy(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    code = "import os, sys, persistq; persistq.WritableFolderQueue(sys.argv[1]); os._exit(0)"
    subprocess.run([sys.executable, "-c", code, str(queue)], check=True, timeout=20)
    exit_code, problems = status(queue)
    assert exit_code == 1 and len(problems) == 1, problems
    assert "is gone without close()" in problems[0] and "no longer runs" in problems[0]
    report = json.loads(persistq("status", "--json", str(queue)).stdout)
    assert [p["state"] for p in report["producers"]] == ["gone"]


def test_files_in_failed_make_a_queue_unhealthy(tmp_path: Path) -> None:
    src = tmp_path / "a.tsv"
    src.write_text("x\n")
    producer = WritableFolderQueue(str(tmp_path / "q"))
    producer.put(str(src))
    producer.close()
    reader = ReadableFolderQueue(str(tmp_path / "q"))
    reader.task_failed(str(reader.get(timeout=5000)), "bad input")
    reader.dispose()
    code, problems = status(tmp_path / "q")
    assert code == 1 and problems[0].startswith("1 file(s) in failed/")


def test_a_clean_finished_queue_is_healthy(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    producer = WritableFolderQueue(str(queue))
    for name in ("a.tsv", "b.tsv"):
        (tmp_path / name).write_text("x\n")
        producer.put(str(tmp_path / name))
    producer.close()
    reader = ReadableFolderQueue(str(queue), task_done_directory=str(queue / "done"))
    reader.mark_all_work_done()
    assert status(queue) == (0, [])
    assert persistq("status", str(queue)).stdout.rstrip().endswith("healthy")

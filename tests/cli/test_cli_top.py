"""The ``persistq`` command's top level: version, verbosity anywhere, reset's undo."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import persistq as package
from tests.cli.helpers import persistq, write_journal


def test_version_is_the_package_version() -> None:
    done = persistq("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"persistq {package.__version__}"
    assert package.__version__ == importlib.metadata.version("persistq")


def test_quiet_and_verbose_are_taken_after_the_subcommand_too(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("x\n")
    for argv in (["-q", "status", str(tmp_path)], ["status", "-q", str(tmp_path)]):
        done = persistq(*argv)
        assert done.returncode == 0, done.stderr
    assert persistq("status", str(tmp_path), "--verbose").returncode == 0
    both = persistq("status", "-q", "-v", str(tmp_path))
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_reset_of_a_pickup_directory_says_what_it_wrote_and_how_to_undo(tmp_path: Path) -> None:
    write_journal(str(tmp_path), "loads", "requested", 4242, [["a.csv"], ["b.csv"]])
    done = persistq("reset", "--yes", str(tmp_path))
    assert done.returncode == 0, done.stderr
    wrote = next(line for line in done.stdout.splitlines() if line.startswith("wrote "))
    written = Path(wrote.removeprefix("wrote "))
    assert written.parent == tmp_path and written.exists()
    assert f"to undo (the work becomes outstanding again): rm {written}" in done.stdout
    written.unlink()  # the undo, as printed
    report = json.loads(persistq("status", "--json", str(tmp_path)).stdout)
    assert [p["outstanding"] for p in report["prefixes"]] == [2]

"""Every ```python block of docs/*.md and README.md runs exactly as written, each in a
fresh, empty directory: what a reader copies onto a fresh machine.

A block runs as a script (``__name__ == "__main__"``) in a new temporary directory and
must exit 0 within the timeout; there is no hidden set-up. Only
``<!-- not-run: reason -->`` on the line before the fence marks a block that is
deliberately not runnable (reported as a skip).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TIMEOUT_S = 60
BLOCK = re.compile(
    r"^(?:<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\n)?"
    r"```python\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Example:
    source: Path
    line: int
    code: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.source.relative_to(REPO)}:{self.line}"


def examples(source: Path) -> list[Example]:
    """The fenced python blocks of ``source``, with their not-run reasons."""
    text = source.read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        fence_line = text.count("\n", 0, match.start("code"))  # 1-based line of the fence
        found.append(Example(source, fence_line, match.group("code"), match.group("reason")))
    return found


ALL = [example for source in SOURCES for example in examples(source)]


def test_the_docs_have_examples_and_few_are_not_run() -> None:
    assert len(ALL) >= 10
    assert sum(e.not_run is not None for e in ALL) <= 2


def test_no_example_relies_on_hidden_set_up() -> None:
    for source in SOURCES:
        assert "given-dirs" not in source.read_text(encoding="utf-8"), source


def test_every_python_fence_is_found() -> None:
    # A fence the pattern misses (say, indented) would silently go untested.
    for source in SOURCES:
        fences = source.read_text(encoding="utf-8").count("```python\n")
        assert fences == len(examples(source)), source


@pytest.mark.timeout(TIMEOUT_S + 30)
@pytest.mark.parametrize("example", ALL, ids=lambda e: e.id)
def test_example_runs(example: Example, tmp_path: Path) -> None:
    if example.not_run is not None:
        pytest.skip(f"not run: {example.not_run}")
    script = tmp_path / "example.py"
    script.write_text(example.code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, (
        f"{example.id} exited with {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )

"""Every ```python block of docs/*.md and README.md runs, each in a fresh directory.

A block runs as a script (``__name__ == "__main__"``) in a new temporary directory and
must exit 0 within the timeout. Comments on the line before the fence adjust that:

* ``<!-- not-run: reason -->``: the block is deliberately not runnable (reported as a skip);
* ``<!-- given-dirs: a b/c -->``: these directories exist before the block runs.
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
    r"^(?:<!--\s*(?P<kind>not-run|given-dirs):\s*(?P<arg>.*?)\s*-->\n)?"
    r"```python\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Example:
    source: Path
    line: int
    code: str
    not_run: str | None
    given_dirs: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.source.relative_to(REPO)}:{self.line}"


def examples(source: Path) -> list[Example]:
    """The fenced python blocks of ``source``, with their marker comments."""
    text = source.read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        kind, arg = match.group("kind"), match.group("arg") or ""
        fence_line = text.count("\n", 0, match.start("code"))  # 1-based line of the fence
        found.append(
            Example(
                source,
                fence_line,
                match.group("code"),
                arg if kind == "not-run" else None,
                tuple(arg.split()) if kind == "given-dirs" else (),
            )
        )
    return found


ALL = [example for source in SOURCES for example in examples(source)]


def test_the_docs_have_examples_and_few_are_not_run() -> None:
    assert len(ALL) >= 10
    assert sum(e.not_run is not None for e in ALL) <= 2


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
    for directory in example.given_dirs:
        (tmp_path / directory).mkdir(parents=True)
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

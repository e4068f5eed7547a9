"""The crash-point helper kills before the N-th call, for every N, and stops after the last."""

import os
from pathlib import Path

from tests.crashpoints import crash_points, python_argv


def test_crash_points_kill_before_each_call(tmp_path: Path) -> None:
    def prepare() -> None:
        for name in os.listdir(tmp_path):
            os.unlink(tmp_path / name)
        for name in "abc":
            (tmp_path / name).write_text(name)

    code = "import os\nfor n in 'abc': os.rename(n, n + '1')"
    seen = []
    for point in crash_points(python_argv(code), ("rename",), prepare=prepare, cwd=str(tmp_path)):
        renamed = sorted(n for n in os.listdir(tmp_path) if n.endswith("1"))
        seen.append((point.n, renamed))
    assert seen == [(1, []), (2, ["a1"]), (3, ["a1", "b1"])]

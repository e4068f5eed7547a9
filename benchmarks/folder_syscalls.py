"""System calls the library makes per message of a folder queue ``put`` and of a
consumer's ``get`` + ``task_done`` (no read of the file), counted with ``strace -c -f``
(issue 11: "cut syscalls per message to what the protocol needs").

Run ``.venv/bin/python benchmarks/folder_syscalls.py`` (needs strace; a few seconds).
Each phase runs in a fresh traced process over files created beforehand by an untraced
one: once with N messages and once with 2N, and the difference divided by N is the cost
of one message, free of start-up (imports, the reader's watcher). Prints a Markdown
table of the calls made per message.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from folder_bench import write_message
from harness import markdown_table

from persistq import WritableFolderQueue

PUT = """
import os, sys
from persistq import WritableFolderQueue
queue, staging = sys.argv[1], sys.argv[2]
writer = WritableFolderQueue(queue)
for name in sorted(os.listdir(staging)):
    writer.put(os.path.join(staging, name))
writer.close()
"""
CONSUME = """
import sys
from persistq import ReadableFolderQueue
reader = ReadableFolderQueue(sys.argv[1])
for wip in reader:
    reader.task_done(wip)
"""


def counts(code: str, queue: str, staging: str) -> dict[str, int]:
    """The calls of ``code`` run under ``strace -c -f``, by system call name."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as summary:
        subprocess.run(
            ["strace", "-f", "-c", "-o", summary.name, sys.executable, "-c", code, queue, staging],
            check=True,
        )
        calls: dict[str, int] = {}
        for line in summary.read().splitlines():
            fields = line.split()
            # rows: % time, seconds, usecs/call, calls, [errors], syscall
            if len(fields) >= 5 and fields[3].isdigit() and not line.endswith("total"):
                calls[fields[-1]] = int(fields[3])
        return calls


def phase(root: str, n: int, consume: bool) -> dict[str, int]:
    """The calls of putting (or, with ``consume``, draining) ``n`` messages."""
    directory = tempfile.mkdtemp(dir=root)
    try:
        queue, staging = os.path.join(directory, "q"), os.path.join(directory, "staging")
        os.mkdir(staging)
        writer = WritableFolderQueue(queue)
        for i in range(n):
            write_message(queue if consume else staging, i)
        if consume:
            writer.close()
        return counts(CONSUME if consume else PUT, queue, staging)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def per_message(root: str, n: int, consume: bool) -> dict[str, float]:
    """Calls per message: (calls with 2n - calls with n) / n, the calls that grow."""
    small, large = phase(root, n, consume), phase(root, 2 * n, consume)
    grown = {name: (large.get(name, 0) - small.get(name, 0)) / n for name in large}
    return {name: value for name, value in grown.items() if value >= 0.05}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("-n", type=int, default=2_000, help="messages of the smaller run")
    parser.add_argument("--dir", default=None, help="parent of the temporary directories")
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="folder_syscalls_", dir=args.dir)
    try:
        put = per_message(root, args.n, consume=False)
        consume = per_message(root, args.n, consume=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    names = sorted(set(put) | set(consume), key=lambda s: -(put.get(s, 0) + consume.get(s, 0)))
    rows = [[name, f"{put.get(name, 0):.2f}", f"{consume.get(name, 0):.2f}"] for name in names]
    rows.append(["total", f"{sum(put.values()):.2f}", f"{sum(consume.values()):.2f}"])
    print(f"System calls per message (N={args.n:,} against {2 * args.n:,}, strace -c -f):\n")
    print(markdown_table(["system call", "put", "get + task_done"], rows, "lrr"))


if __name__ == "__main__":
    main()

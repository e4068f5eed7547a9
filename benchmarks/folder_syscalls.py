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

from folder_trials import write_message
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
import multiprocessing, sys
from persistq import ReadableFolderQueue
def drain():
    reader = ReadableFolderQueue(sys.argv[1])
    for wip in reader:
        reader.task_done(wip)
ctx = multiprocessing.get_context("fork")
consumers = [ctx.Process(target=drain) for _ in range(int(sys.argv[3]))]
for p in consumers:
    p.start()
for p in consumers:
    p.join()
"""


def counts(code: str, queue: str, staging: str, consumers: int) -> dict[str, int]:
    """The calls of ``code`` run under ``strace -c -f``, by system call name, and the
    failed ones as ``"<name> (failed)"``."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as summary:
        subprocess.run(
            [
                *("strace", "-f", "-c", "-o", summary.name),
                *(sys.executable, "-c", code, queue, staging, str(consumers)),
            ],
            check=True,
        )
        calls: dict[str, int] = {}
        for line in summary.read().splitlines():
            fields = line.split()
            # rows: % time, seconds, usecs/call, calls, [errors], syscall
            if len(fields) >= 5 and fields[3].isdigit() and not line.endswith("total"):
                calls[fields[-1]] = int(fields[3])
                if len(fields) == 6:
                    calls[f"{fields[-1]} (failed)"] = int(fields[4])
        return calls


def phase(root: str, n: int, consumers: int) -> dict[str, int]:
    """The calls of putting ``n`` messages (``consumers=0``) or of ``consumers``
    processes draining them."""
    consume = consumers > 0
    directory = tempfile.mkdtemp(dir=root)
    try:
        queue, staging = os.path.join(directory, "q"), os.path.join(directory, "staging")
        os.mkdir(staging)
        writer = WritableFolderQueue(queue)
        for i in range(n):
            write_message(queue if consume else staging, i)
        if consume:
            writer.close()
        return counts(CONSUME if consume else PUT, queue, staging, consumers)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def per_message(root: str, n: int, consumers: int) -> dict[str, float]:
    """Calls per message: (calls with 2n - calls with n) / n, the calls that grow."""
    small, large = phase(root, n, consumers), phase(root, 2 * n, consumers)
    grown = {name: (large.get(name, 0) - small.get(name, 0)) / n for name in large}
    return {name: value for name, value in grown.items() if value >= 0.05}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("-n", type=int, default=2_000, help="messages of the smaller run")
    parser.add_argument("--dir", default=None, help="parent of the temporary directories")
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="folder_syscalls_", dir=args.dir)
    try:
        columns = [per_message(root, args.n, consumers) for consumers in (0, 1, 2)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    names = sorted({name for column in columns for name in column})
    names.sort(key=lambda name: -sum(column.get(name, 0) for column in columns))
    rows = [[name, *(f"{column.get(name, 0):.2f}" for column in columns)] for name in names]
    calls = [sum(v for k, v in column.items() if not k.endswith("(failed)")) for column in columns]
    rows.append(["total calls", *(f"{total:.2f}" for total in calls)])
    print(f"System calls per message (N={args.n:,} against {2 * args.n:,}, strace -c -f):\n")
    header = ["system call", "put", "get + task_done, 1 consumer", "the same, 2 consumers"]
    print(markdown_table(header, rows, "lrrr"))


if __name__ == "__main__":
    main()

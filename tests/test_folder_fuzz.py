"""A queue folder full of odd things: readers claim exactly the good messages, leave the
rest untouched and never follow a symlink out of the folder, or raise a PersistqError
that names the file at fault — never another exception, never a lost message."""

from __future__ import annotations

import json
import os
import queue
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from persistq import DONE, PersistqError, ReadableFolderQueue, WritableFolderQueue

ODD_NAMES = st.sampled_from(
    [
        "notes.txt",
        "data.tsv.tmp",
        ".hidden.tsv",
        "x.tsv~",
        "report.TSV",
        "a b.csv",
        "ünïcode.dat",
        "ends-with.tsv.bak",
        "x" * 200 + ".txt",
        "wip.wip",
        "a.tsv@junk@1.wip",
        "producer.helo.txt",
        "z.tsv.part",
    ]
)


@st.composite
def odd_folder(draw: st.DrawFn) -> dict[str, list[str]]:
    return {
        "messages": sorted(
            draw(st.sets(st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True), min_size=1, max_size=8))
        ),
        "foreign": sorted(draw(st.sets(ODD_NAMES, max_size=5))),
        "links": sorted(
            draw(st.sets(st.sampled_from(["out.tsv", "dangling.tsv", "dir.tsv"]), max_size=3))
        ),
        "dirs": sorted(draw(st.sets(st.sampled_from(["folder.tsv", "nested"]), max_size=2))),
        "bad_markers": draw(
            st.lists(st.sampled_from(["truncated", "not-json", "wrong-type"]), max_size=1)
        ),
    }


def build(root: Path, spec: dict[str, list[str]]) -> tuple[Path, Path]:
    q, outside = root / "q", root / "outside"
    q.mkdir()
    outside.mkdir()
    (outside / "secret.tsv").write_text("outside the queue")
    writer = WritableFolderQueue(q)
    for stem in spec["messages"]:
        (root / f"{stem}.tsv").write_text(stem)
        writer.put(root / f"{stem}.tsv")
    writer.close()
    for name in spec["foreign"]:
        (q / name).write_text("foreign")
    for name in spec["links"]:
        target = {
            "out.tsv": outside / "secret.tsv",
            "dangling.tsv": root / "gone",
            "dir.tsv": outside,
        }[name]
        os.symlink(target, q / name)
    for name in spec["dirs"]:
        (q / name).mkdir()
        (q / name / "inner.tsv").write_text("inner")
    for kind in spec["bad_markers"]:
        marker = next(p for p in q.iterdir() if p.name.endswith(".done"))
        text = marker.read_text()
        marker.write_text(
            {
                "truncated": text[: len(text) // 2],
                "not-json": "\x00\x01",
                "wrong-type": json.dumps([1, 2]),
            }[kind]
        )
    return q, outside


@settings(max_examples=40, deadline=None)
@given(odd_folder())
def test_odd_folders_are_drained_exactly_or_the_culprit_is_named(
    spec: dict[str, list[str]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        q, outside = build(root, spec)
        before = {p.name: p.is_symlink() for p in q.iterdir()}
        done = root / "done"
        claimed: list[str] = []
        try:
            reader = ReadableFolderQueue(q, task_done_directory=done, poll_interval=0.01)
            while True:
                try:
                    wip = reader.get(timeout=300)
                except queue.Empty:
                    break
                if wip is DONE:
                    break
                assert isinstance(wip, str)
                assert not os.path.islink(wip), f"claimed a symlink: {wip}"
                assert os.path.isfile(wip), f"claimed something that is not a file: {wip}"
                claimed.append(os.path.basename(reader.original_filename_from_wip(wip)))
                reader.task_done(wip)
            reader.dispose()
        except PersistqError as exc:
            assert spec["bad_markers"], f"unexpected {exc!r}"
            assert ".done" in str(exc), f"the error does not name the marker: {exc}"
            return
        assert sorted(claimed) == [f"{m}.tsv" for m in spec["messages"]]
        assert sorted(os.listdir(done)) == sorted(claimed)
        for name in spec["foreign"] + spec["links"] + spec["dirs"]:
            assert name in before and os.path.lexists(q / name), f"{name} was touched"
        assert (outside / "secret.tsv").read_text() == "outside the queue"

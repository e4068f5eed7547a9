"""DONE and FAILED are identities that survive pickling and processes."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from typing import Any

import pytest

from persistq import DONE, FAILED


@pytest.mark.parametrize("ordinary", [0, -1, "", None, False, "DONE", "FAILED"])
def test_no_ordinary_message_equals_a_sentinel(ordinary: object) -> None:
    assert ordinary != DONE
    assert ordinary != FAILED
    assert ordinary is not DONE


def test_sentinels_are_distinct() -> None:
    assert DONE is not FAILED
    assert DONE != FAILED


def test_identity_survives_pickle_and_copy() -> None:
    for sentinel in (DONE, FAILED):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            assert pickle.loads(pickle.dumps(sentinel, protocol)) is sentinel
        assert copy.copy(sentinel) is sentinel
        assert copy.deepcopy([sentinel])[0] is sentinel


def _identify(q: multiprocessing.Queue[object], out: multiprocessing.Queue[str]) -> None:
    for _ in range(2):
        got = q.get(timeout=20)
        out.put("DONE" if got is DONE else "FAILED" if got is FAILED else repr(got))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_identity_holds_in_a_child_process(method: str) -> None:
    ctx: Any = multiprocessing.get_context(method)
    q: multiprocessing.Queue[object] = ctx.Queue()
    out: multiprocessing.Queue[str] = ctx.Queue()
    child = ctx.Process(target=_identify, args=(q, out))
    child.start()
    q.put(DONE)
    q.put(FAILED)
    assert [out.get(timeout=20), out.get(timeout=20)] == ["DONE", "FAILED"]
    child.join(timeout=20)
    assert child.exitcode == 0

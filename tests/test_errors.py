"""Every error persistq raises survives pickling with its message and attributes (errors
cross process boundaries in the multiprocessing setting the library is made for)."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
from typing import Any

import pytest

import persistq
from persistq.errors import PersistqError

#: Constructor arguments for the errors whose constructor takes more than a message.
ARGUMENTS: dict[str, tuple[Any, ...]] = {
    "JournalCorruptError": ("/p/items_requested_PID1.tsv", [3, 4], "not UTF-8"),
    "NotRegularFileError": ("/p/items_requested_PID1.tsv", "a FIFO"),
    "LiveRunError": ("/p/items_requested_PID1.tsv", 1234, "requeue its work"),
}


def error_classes() -> list[type[PersistqError]]:
    """Every PersistqError subclass defined in any module of the package."""
    found: dict[str, type[PersistqError]] = {}
    for info in pkgutil.walk_packages(persistq.__path__, "persistq."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, PersistqError) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    found["persistq.errors.PersistqError"] = PersistqError
    return [found[name] for name in sorted(found)]


def test_the_package_defines_the_errors_we_know_of() -> None:
    names = {cls.__name__ for cls in error_classes()}
    assert {"JournalCorruptError", "MessageFormatError", "UpstreamFailureError"} <= names


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_round_trips_through_pickle(cls: type[PersistqError]) -> None:
    args = ARGUMENTS.get(cls.__name__, ("/p/x: something is wrong; do this",))
    error = cls(*args)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cls
    assert str(back) == str(error)
    assert back.args == error.args
    assert vars(back) == vars(error)
    assert "/p/" in str(back)  # names the file at fault

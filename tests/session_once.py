"""A fixture's value made once per test session, however many parallel workers need it.

For read-only values that take seconds (a benchmark's quick run, a simulated journal): on
pytest-xdist workers the first worker to ask makes it, holding a lock, and leaves it pickled in
the session's shared temporary folder; the others wait on the lock, then read it. In one
process it is simply made. The tests that read it put the first of them early (a ``slow``
marker with its time) so that the others, handed out later, find it made.
"""

from __future__ import annotations

import fcntl
import pickle
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def once_per_session(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory, name: str,
                     make: Callable[[], T]) -> T:
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None:  # one process: no one to share it with
        return make()
    shared = tmp_path_factory.getbasetemp().parent  # one folder per session, all workers
    saved = shared / f"{name}_{workerinput['testrunuid']}.pickle"
    with open(shared / f"{saved.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not saved.exists():
            saved.write_bytes(pickle.dumps(make()))
        value: T = pickle.loads(saved.read_bytes())
        return value

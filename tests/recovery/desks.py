"""Desk processes for the restart tests to crash (``desk_process.py``): one process imports the
engine once and forks a desk for every crash, so a crash costs only its sending."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from imperium_exec.testing import FakeKiteServer

HERE = Path(__file__).parent


class Desks:
    """Forks fresh desk processes, each of its own, from one that imported the engine."""

    def __init__(self, home: Path) -> None:
        self._home = home
        self._started = 0
        env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]), IMPERIUM_DESK_HOME=str(home),
                   OPENBLAS_NUM_THREADS="1")  # no thread before a fork
        self._forker = subprocess.Popen([sys.executable, str(HERE / "desk_process.py")],
                                        stdin=subprocess.PIPE, text=True, env=env)

    def close(self) -> None:
        self._forker.kill()  # (its desks see it gone and exit)
        self._forker.wait(10)
        if self._forker.stdin is not None:
            self._forker.stdin.close()

    @contextmanager
    def running(self, server: FakeKiteServer, journal_dir: Path,
                requests: list[dict[str, Any]]) -> Iterator[list[str]]:
        """A desk sends ``requests`` against ``server``, journaling in ``journal_dir``; the ids
        it wrote (a basket's own for a basket) once each has an order resting (or an attempt
        being reconciled). The desk is SIGKILLed on leaving: no shutdown, no final rows."""
        self._started += 1
        said = self._home / f"desk_{self._started}.txt"
        assert self._forker.stdin is not None
        self._forker.stdin.write(orjson.dumps({
            "root": server.root, "journal_dir": str(journal_dir), "requests": requests,
            "said": str(said)}).decode() + "\n")
        self._forker.stdin.flush()
        lines = wait_for_lines(said, len(requests) + 2)  # its pid, the ids, "ready"
        pid = int(lines[0].removeprefix("pid "))
        try:
            assert lines[-1] == "ready", lines
            yield lines[1:-1]
        finally:
            kill(pid)


def kill(pid: int) -> None:
    """SIGKILL the desk and wait until it is gone (its parent lets the kernel reap it)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.005)
    raise AssertionError(f"desk {pid} outlived its SIGKILL")


def wait_for_lines(path: Path, count: int, timeout: float = 30.0) -> list[str]:
    """The first ``count`` lines a desk wrote to ``path``, once it has."""
    deadline = time.monotonic() + timeout
    while True:
        lines = (path.read_text() if path.exists() else "").split("\n")[:-1]  # whole lines
        if len(lines) >= count:
            return lines[:count]
        if time.monotonic() > deadline:
            raise AssertionError(f"the desk wrote {lines} in {timeout:g} s")
        time.sleep(0.02)

"""Desk processes for the restart tests to crash (``desk_process.py``), started one ahead: the
next one imports the engine while the current test runs, so a crash costs only the sending."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from imperium_exec.testing import FakeKiteServer

HERE = Path(__file__).parent


class Desks:
    """Hands out fresh desk processes, each waiting for its orders; one is always starting."""

    def __init__(self, home: Path) -> None:
        self._env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]),
                         IMPERIUM_DESK_HOME=str(home))
        self._next: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(HERE / "desk_process.py")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                env=self._env)

    def take(self) -> subprocess.Popen[str]:
        """A desk process of its own for the caller (never used before), and the next one
        started."""
        desk = self._next if self._next is not None else self._start()
        self._next = self._start()
        return desk

    def close(self) -> None:
        if self._next is not None:
            kill(self._next)
            self._next = None

    @contextmanager
    def running(self, server: FakeKiteServer, journal_dir: Path,
                requests: list[dict[str, Any]]) -> Iterator[list[str]]:
        """A desk sends ``requests`` against ``server``, journaling in ``journal_dir``; the ids
        it printed (a basket's own for a basket) once each has an order resting (or an
        attempt being reconciled). The desk is SIGKILLed on leaving: no shutdown, no final
        rows."""
        desk = self.take()
        try:
            assert desk.stdin is not None and desk.stdout is not None
            desk.stdin.write(orjson.dumps({"root": server.root, "journal_dir": str(journal_dir),
                                           "requests": requests}).decode() + "\n")
            desk.stdin.flush()
            ids = [desk.stdout.readline().strip() for _ in requests]
            assert desk.stdout.readline().strip() == "ready"
            yield ids
        finally:
            kill(desk)


def kill(desk: subprocess.Popen[str]) -> None:
    desk.send_signal(signal.SIGKILL)
    desk.wait(10)
    for pipe in (desk.stdin, desk.stdout):
        if pipe is not None:
            pipe.close()

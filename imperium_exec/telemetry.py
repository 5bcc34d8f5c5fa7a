"""The journal: the append-only JSONL file of execution events, its writer and its readers.

One word for one thing: the *journal* is the file (``execution_quality_{live,paper}.jsonl``), an
*event* is one of its rows (:mod:`.events`). :class:`FillQualityTracker` (its v1 name) writes
the journal; :class:`TelemetryTail` and :func:`read_rows` read it.

Writing: one ``os.write`` of one orjson line per row on an ``O_APPEND`` descriptor, under a lock,
so rows from several threads never interleave and a reader in another process sees whole rows as
soon as they are written. The file is created 0600 (it holds order flow). ``sync()`` fsyncs; the
engine calls it when a parent finishes rather than per row (an fsync costs ~150 us).

Rows from schema version 8 on are written compact (:mod:`.events.compact`): the line leaves
out the row's nulls and the fields its reader rebuilds, so a row is about a third of its
whole size. :func:`read_rows` gives the rows back whole, as they were emitted; the tail and
the history give them as the lines have them, for :func:`~.events.read_event` (or
:func:`~.events.compact.full_row`).

Reading: :class:`TelemetryTail` reads only the bytes appended since its last call, keeps a torn
last line until its newline arrives, and starts over when the file is truncated or replaced
(rotation). :class:`JournalHistory` reads what was there before, backwards in chunks, so a
viewer shows the newest rows first however long the journal. :func:`read_rows` reads a whole
file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from .events import EventKind
from .events.compact import compact_row, full_row, is_compact_version

Mode = Literal["live", "paper"]

#: Environment variable that moves the telemetry directory (default ``~/.imperium_desk``).
HOME_ENV = "IMPERIUM_DESK_HOME"


def telemetry_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    if directory is not None:
        return Path(directory)
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else Path.home() / ".imperium_desk"


def telemetry_path(mode: Mode, directory: str | os.PathLike[str] | None = None) -> Path:
    """``execution_quality_live.jsonl`` or ``execution_quality_paper.jsonl`` in the directory."""
    if mode not in ("live", "paper"):
        raise ValueError(f"mode: must be 'live' or 'paper', not {mode!r}")
    return telemetry_dir(directory) / f"execution_quality_{mode}.jsonl"


class FillQualityTracker:
    """Writes the mode's journal: appends event rows. Thread-safe.

    ``durable=False``: a scratch journal, read back at once and thrown away (a simulated
    world's, a what-if replay's): :meth:`sync` and :meth:`close` skip the fsync. Readers in
    this or another process see every row either way (a write is visible once it returns)."""

    def __init__(self, mode: Mode = "paper", directory: str | os.PathLike[str] | None = None,
                 *, path: str | os.PathLike[str] | None = None, durable: bool = True) -> None:
        self.mode: Mode = mode
        self.durable = durable
        self.path = Path(path) if path is not None else telemetry_path(mode, directory)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.chmod(self.path, 0o600)  # also tighten a file an older version created
        self.rows_written = 0

    def append(self, row: dict[str, Any]) -> None:
        """Append the row's line: compact from schema version 8 on, whole before."""
        if is_compact_version(row):
            row = compact_row(row)
        line = orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        with self._lock:
            if self._fd is None:
                raise ValueError(f"journal {self.path} is closed")
            view = memoryview(line)
            while view:  # a regular-file write is whole in practice; loop for correctness
                written = os.write(self._fd, view)
                view = view[written:]
            self.rows_written += 1

    def sync(self) -> None:
        """Flush the rows written so far to stable storage."""
        with self._lock:
            if self._fd is not None and self.durable:
                os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                if self.durable:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> FillQualityTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class TailBatch:
    """What one :meth:`TelemetryTail.read` found."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: int = 0  # complete lines that were not JSON objects (skipped)
    restarted: bool = False  # the file was truncated or replaced: readers should reset


class TelemetryTail:
    """Incremental reader of a journal that another thread or process appends to.

    Never re-reads what it has read; a torn last line waits in a buffer for its newline.
    ``max_bytes`` bounds one read so a huge backlog arrives in chunks (the dock stays live).
    """

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = 8 << 20,
                 offset: int = 0, inode: int | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        #: Where the next read starts; ``offset``/``inode`` start a tail where a
        #: :class:`JournalHistory` of the same file ends (the file's identity at that moment).
        self.offset = offset
        self._partial = b""
        self._inode = inode

    def read(self) -> TailBatch:
        batch = TailBatch()
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return batch
        if (self._inode is not None and stat.st_ino != self._inode) or stat.st_size < self.offset:
            self.offset, self._partial, batch.restarted = 0, b"", True
        self._inode = stat.st_ino
        if stat.st_size == self.offset:
            return batch
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(self.max_bytes)
        self.offset += len(chunk)
        data = self._partial + chunk
        complete, _, self._partial = data.rpartition(b"\n")
        if complete:
            batch.rows, batch.bad_lines = parse_lines(complete)
        return batch

    @property
    def pending(self) -> bool:
        """True when the file holds bytes this tail has not read yet."""
        try:
            return self.path.stat().st_size > self.offset
        except FileNotFoundError:
            return False


class JournalHistory:
    """A journal's rows up to a point, read backwards: the newest chunk first.

    ``end`` is where the history stops (just after a newline: see :func:`history_end`); each
    :meth:`read` returns the complete rows of the next chunk below what was read, in file order,
    so a reader that puts each chunk *before* the previous one rebuilds the file's order. The
    file stays open from the start, so a rotation does not mix two files' rows.
    """

    def __init__(self, path: str | os.PathLike[str], end: int, *,
                 max_bytes: int = 256 << 10) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.start = end  # rows below this are still to read
        self.end = end
        self.bad_lines = 0
        self._carry = b""  # the head of a line that began below ``start``
        self._file = open(self.path, "rb") if end > 0 else None  # noqa: SIM115 (closed on done)

    @property
    def done(self) -> bool:
        return self._file is None

    @property
    def bytes_read(self) -> int:
        return self.end - self.start

    def read(self) -> list[dict[str, Any]]:
        """The complete rows of the next chunk towards the start of the file (file order)."""
        f = self._file
        if f is None:
            return []
        low = max(0, self.start - self.max_bytes)
        f.seek(low)
        data = f.read(self.start - low) + self._carry
        self.start = low
        if low > 0:
            head, newline, complete = data.partition(b"\n")
            if not newline:  # one line longer than a chunk: keep gathering it
                self._carry = head
                return []
            self._carry = head
        else:
            complete, self._carry = data, b""
            self.close()
        rows, bad = parse_lines(complete)
        self.bad_lines += bad
        return rows

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def history_end(path: str | os.PathLike[str]) -> tuple[int, int | None]:
    """(offset just after the file's last complete line, inode), or (0, None) with no file.

    The split between a journal's history (read backwards) and its live tail (read forwards
    from here): a torn last line belongs to the tail, which completes it.
    """
    try:
        with open(path, "rb") as f:
            stat = os.fstat(f.fileno())
            size = stat.st_size
            position = size
            while position > 0:
                low = max(0, position - (64 << 10))
                f.seek(low)
                newline = f.read(position - low).rfind(b"\n")
                if newline >= 0:
                    return low + newline + 1, stat.st_ino
                position = low
            return 0, stat.st_ino
    except FileNotFoundError:
        return 0, None


def parse_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Parse newline-separated JSON rows, as the lines have them (a compact row stays
    compact); returns (rows, number of bad lines skipped)."""
    rows: list[dict[str, Any]] = []
    bad = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if isinstance(value, dict):
            rows.append(value)
        else:
            bad += 1
    return rows, bad


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every complete row of a journal, whole (a compact line's nulls and rebuilt fields
    back: the row as it was emitted); a torn last line is skipped."""
    data = Path(path).read_bytes()
    complete = data if data.endswith(b"\n") else data.rpartition(b"\n")[0]
    return [full_row(row) for row in parse_lines(complete)[0]]


def iter_files(directory: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """The journals present in the directory."""
    base = telemetry_dir(directory)
    yield from sorted(base.glob("execution_quality_*.jsonl"))


def unfinished_parents(rows: list[dict[str, Any]]) -> list[str]:
    """Parents with rows but no ``finished`` row: what was still working when the writer
    stopped (after a crash, these need a look in the broker's order book). Rows of no parent
    (session and basket rows: ``parent_id`` "") are not a parent."""
    seen: dict[str, None] = {}
    finished: set[str] = set()
    for row in rows:
        parent_id = row.get("parent_id")
        if not isinstance(parent_id, str) or not parent_id:
            continue
        seen.setdefault(parent_id)
        if row.get("event") == EventKind.FINISHED:
            finished.add(parent_id)
    return [p for p in seen if p not in finished]

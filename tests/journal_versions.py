"""Journals that mix the schema's versions, made from the engine's own rows.

The engine's rows (a paper run on a virtual clock: 24 parents of every algorithm, then two
parents with markouts) are written twice: *whole*, every row as it was emitted, and *mixed*,
the same rows cycling through the ways a journal holds them (a compact version 8 line, a
whole version 8 line, a version 7 line, a version 6 line). Both start with the older
journals kept in ``tests/data``: the v1 desk's rows (no ``v``) and rows of version 1. The
same events, so every reader must find the same in both.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import FIELDS_SINCE, Event, EventKind, compact_row, read_event
from imperium_exec.request import ExecutionRequest
from imperium_exec.telemetry import FillQualityTracker, read_rows
from imperium_exec.testing.paper_parents import simulate_journal

DATA = Path(__file__).resolve().parent / "data"
#: The older journals: the v1 desk's (no ``v``) and version 1's, every event kind of its day.
OLDER_JOURNALS = ("journal_seed_v1.jsonl", "journal_before_typed_schema.jsonl")


def older_lines() -> list[bytes]:
    return [line for name in OLDER_JOURNALS
            for line in (DATA / name).read_bytes().splitlines() if line.strip()]


def as_version(row: dict[str, Any], version: int) -> dict[str, Any]:
    """The row as a writer of ``version`` put it in the journal: before version 8 whole,
    without the fields added after ``version``; from 8 on compact."""
    if version >= 8:
        return compact_row(row | {"v": version})
    return {k: v for k, v in row.items() if FIELDS_SINCE.get(k, 0) <= version} | {"v": version}


def as_read(event: Event, version: int) -> Event:
    """What a row of ``event`` written as ``version`` reads as: that version, and None in
    the fields added after it."""
    return event._replace(v=version, **{name: None for name, since in FIELDS_SINCE.items()
                                        if since > version})


def whole_line(row: dict[str, Any]) -> dict[str, Any]:
    return row


def compact_line(row: dict[str, Any]) -> dict[str, Any]:
    return compact_row(row)


def version_7_line(row: dict[str, Any]) -> dict[str, Any]:
    return as_version(row, 7)


def version_6_line(row: dict[str, Any]) -> dict[str, Any]:
    return as_version(row, 6)  # version 6 rows have every field (7 added only an event)


#: How the mixed journal holds the engine's rows, in turn: each keeps all of a row.
MIXED_LINES: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (
    compact_line, version_7_line, compact_line, whole_line, version_6_line)


def engine_rows(folder: Path) -> list[dict[str, Any]]:
    """The engine's rows of a paper run, whole (as emitted): 24 parents of the deterministic
    calibration mix (12 bought, then 12 sold on the same markets), then two IMMEDIATE parents
    with their 1 s and 5 s markouts. (The bought and the sold worlds are two journals; their
    rows put together here make one journal of two markets: these tests read one journal two
    ways and compare, they do not judge a fit against the truth.)"""
    folder.mkdir(parents=True, exist_ok=True)
    bought, sold = simulate_journal(24, seed=5, journal=folder / "engine.jsonl", batch=24)
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=8, margin=1e12)
    tracker = FillQualityTracker("paper", path=bought)
    engine = ExecutionEngine(broker, mode="paper", clock=clock, tracker=tracker,
                             config=EngineConfig(id_seed=99, markout_horizons_s=(1.0, 5.0)))
    try:
        chain = broker.option_chain("NIFTY", strikes_each_side=2)
        for side, row in (("BUY", chain.rows[1]), ("SELL", chain.rows[2])):
            quote = row.call
            request = ExecutionRequest.model_validate(dict(
                tradingsymbol=quote.tradingsymbol, exchange="NFO", bid=quote.bid,
                ask=quote.ask, side=side, quantity=130, execution_algo="IMMEDIATE"))
            _, future = engine.submit(request)
            future.result(timeout=60)
        deadline = time.monotonic() + 30  # virtual time runs on while the engine is idle
        while engine.markouts.pending and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        engine.shutdown(10.0)
        tracker.close()
    rows = read_rows(bought) + read_rows(sold)
    assert any(r["event"] == EventKind.MARKOUT for r in rows)
    return rows


@dataclass(frozen=True)
class Journals:
    """The same events in two journals, and the engine's rows they hold (whole)."""

    whole: Path
    mixed: Path
    rows: list[dict[str, Any]]
    #: The written version of each engine row in the mixed journal, in order.
    mixed_versions: list[int]


def write_journals(folder: Path, rows: list[dict[str, Any]],
                   name: str = "execution_quality_paper.jsonl") -> Journals:
    """The older journals' lines and then ``rows``, written whole to ``folder/whole`` and
    mixed to ``folder/mixed`` (both named ``name``)."""
    older = b"".join(line + b"\n" for line in older_lines())
    mixed_rows = [line(row) for row, line in zip(rows, itertools.cycle(MIXED_LINES))]
    paths = []
    for kind, written in (("whole", rows), ("mixed", mixed_rows)):
        path = folder / kind / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(older + b"".join(orjson.dumps(r) + b"\n" for r in written))
        paths.append(path)
    assert {r["v"] for r in mixed_rows} == {6, 7, 8}
    assert sum(len(r) < len(rows[0]) for r in mixed_rows) >= len(rows) * 2 // 5  # compact
    return Journals(paths[0], paths[1], rows, [r["v"] for r in mixed_rows])


def mixed_events(journals: Journals) -> list[Event]:
    """The events the mixed journal holds, in its order: the older journals' as they read on
    their own, then the engine's as the versions they were written in."""
    return [read_event(orjson.loads(line)) for line in older_lines()] + [
        as_read(read_event(row), version)
        for row, version in zip(journals.rows, journals.mixed_versions, strict=True)]

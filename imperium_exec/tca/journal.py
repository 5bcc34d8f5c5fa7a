"""The journals in DuckDB: read once into ``journal``, then the tables every figure reads.

The journals are read once (``read_json`` with every field's type given, so old rows that
lack the newer fields, and compact rows their nulls, read as NULL) into one narrow table,
``journal``, in the session's DuckDB database file (:class:`~.query.TcaQuery`). Everything
else is SQL over that table:

- ``contracts``: the traded contracts' facts (underlying, CE/PE, strike, expiry);
- ``parents``: one row per parent, its fills added up (``filled`` and ``ghost`` rows with a
  fill) and its finished row's implementation shortfall (see ``imperium_exec/costs/shortfall.py``);
- ``parent_costs``: ``parents`` with the costs worked out (bps, arrival slippage, buckets);
- ``fills``: one row per fill with its cost against arrival and against the mid its child was
  priced from.

Sign convention: positive = cost, s = +1 buy / -1 sell.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path

import duckdb

from ..events import FIELD_TYPES, ROW_FIELDS
from ..events.compact import COMPACT_SINCE, IMPLIED_STATUS
from ..events.liquidity import PRICE_TOLERANCE
from ..events.quality import (
    EMPTY_FILE,
    NON_NEGATIVE,
    NOT_JSON,
    ROW_KEY,
    JournalQuality,
    missing,
    negative,
    not_finite,
    unknown_value,
    wrong_type,
)
from ..events.schema import NONE_AS_EMPTY, enum_members
from ..instruments import InstrumentMaster
from .contracts import contract_facts
from .sql import literal, quote_path, scalar_int, struct

#: A callback told the fraction of the journal read so far (0..1).
Progress = Callable[[float], None]

_SQL_TYPES: dict[type, str] = {int: "BIGINT", float: "DOUBLE", bool: "BOOLEAN", str: "VARCHAR"}


def journal_columns() -> dict[str, str]:
    """Every row field with its DuckDB type, from the event schema (enums are text)."""
    return {name: "VARCHAR" if issubclass(FIELD_TYPES[name], StrEnum)
            else _SQL_TYPES[FIELD_TYPES[name]] for name in ROW_FIELDS}


def _read_columns() -> dict[str, str]:
    """How the reading query takes each field: numbers and booleans as JSON (so a value of the
    wrong type, ``NaN`` or an infinity can be named instead of read as NULL), text as text."""
    return {name: "JSON" if kind in ("BIGINT", "DOUBLE", "BOOLEAN") else kind
            for name, kind in journal_columns().items()}


_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE')"


def _typed(name: str) -> str:
    """A field read as JSON, typed as the schema has it (NULL where it does not fit: that row
    is left out with its reason, :func:`_problem`)."""
    kind = journal_columns()[name]
    column = f'"{name}"'
    if kind == "DOUBLE":
        return (f"CASE WHEN json_type({column}) IN {_NUMBER_TYPES} "
                f"THEN CAST({column} AS DOUBLE) END AS {column}")
    if kind == "BIGINT":
        return (f"CASE WHEN json_type({column}) IN {_NUMBER_TYPES} "
                f"THEN try_cast(CAST({column} AS DOUBLE) AS BIGINT) END AS {column}")
    if kind == "BOOLEAN":
        return (f"CASE WHEN json_type({column}) = 'BOOLEAN' "
                f"THEN CAST({column} AS BOOLEAN) END AS {column}")
    return column


def _field_problem(name: str) -> str | None:
    """SQL for why one field does not fit (NULL: it fits), the reasons of
    :func:`imperium_exec.events.quality.row_problem`."""
    kind = journal_columns()[name]
    column = f'"{name}"'
    present = f"{column} IS NOT NULL AND json_type({column}) <> 'NULL'"
    if kind == "DOUBLE":
        return (f"CASE WHEN {present} THEN CASE "
                f"WHEN json_type({column}) NOT IN {_NUMBER_TYPES} THEN {literal(wrong_type(name))} "
                f"WHEN NOT isfinite(CAST({column} AS DOUBLE)) "
                f"THEN {literal(not_finite(name))} END END")
    if kind == "BIGINT":
        whole = (f"isfinite(CAST({column} AS DOUBLE)) "
                 f"AND CAST({column} AS DOUBLE) = floor(CAST({column} AS DOUBLE))")
        below = (f" WHEN CAST({column} AS DOUBLE) < 0 THEN {literal(negative(name))}"
                 if name in NON_NEGATIVE else "")
        return (f"CASE WHEN {present} THEN CASE "
                f"WHEN json_type({column}) NOT IN {_NUMBER_TYPES} OR NOT ({whole}) "
                f"THEN {literal(wrong_type(name))}{below} END END")
    if kind == "BOOLEAN":
        return (f"CASE WHEN {present} AND json_type({column}) <> 'BOOLEAN' "
                f"THEN {literal(wrong_type(name))} END")
    field_kind = FIELD_TYPES[name]
    if issubclass(field_kind, StrEnum):
        members = [*enum_members(field_kind), *([""] if name in NONE_AS_EMPTY else [])]
        allowed = ", ".join(literal(m) for m in members)
        return (f"CASE WHEN {column} IS NOT NULL AND {column} NOT IN ({allowed}) "
                f"THEN {literal(unknown_value(name))} END")
    return None


def _problem() -> str:
    """SQL for why a row is left out (NULL: it fits): the first field that does not fit, in the
    schema's order, as :func:`imperium_exec.events.read_event` finds it."""
    checks = [c for c in map(_field_problem, ROW_FIELDS) if c is not None]
    unreadable = " AND ".join(f'"{n}" IS NULL' for n in ("event", "status", "ts", "v", "parent_id"))
    return (f"CASE WHEN {unreadable} THEN {literal(NOT_JSON)} "
            f"ELSE coalesce({', '.join(checks)}, "
            f"CASE WHEN v IS NOT NULL AND event IS NULL THEN {literal(missing('event'))} END) END")


def _implied_status() -> str:
    """A compact row's status where it leaves it out: the one its event implies."""
    cases = " ".join(f"WHEN {literal(event)} THEN {literal(status)}"
                     for event, status in IMPLIED_STATUS.items())
    return f"CASE event {cases} END"


def _base36(value: str, width: int) -> str:
    """SQL for the last ``width`` base-36 digits of an integer expression (as
    :func:`imperium_exec.events.ids.base36`)."""
    digits = literal(string.digits + string.ascii_uppercase)
    return " || ".join(f"substr({digits}, CAST((({value}) // {36 ** k}) % 36 AS INTEGER) + 1, 1)"
                       for k in reversed(range(width)))


#: A compact row's tag where it leaves it out (:func:`imperium_exec.events.ids.child_tag`).
_REBUILT_TAG = (f"parent_id || {_base36('child_index - 1', 3)} || {_base36('attempt', 2)}")

#: The columns the report reads, as staged (renamed where the schema's name is long). Rows
#: from before ``v`` say what happened only through their status, and have no ``ts``.
#: Compact rows (version 8 on) leave out the fields rebuilt here (``child_id``, ``tag``, a
#: ``status`` its event implies, a parent row's ``quantity`` and ``filled_quantity``: see
#: :mod:`imperium_exec.events.compact`; the others the report does not read); a missing key
#: reads as NULL.
_STAGED = f"""
    coalesce(event, CASE status WHEN 'placed' THEN 'placed' WHEN 'error' THEN 'error' END)
        AS event,
    CASE WHEN v >= {COMPACT_SINCE} THEN coalesce(status, {_implied_status()}) ELSE status END
        AS status,
    coalesce(ts, epoch(try_cast("timestamp" AS TIMESTAMPTZ))) AS ts,
    coalesce(parent_id, '') AS parent_id,
    CASE WHEN v >= {COMPACT_SINCE} AND child_id IS NULL AND child_index IS NOT NULL
         THEN parent_id || '-' || child_index ELSE child_id END AS child_id,
    CASE WHEN v >= {COMPACT_SINCE} AND tag IS NULL AND child_index >= 1 AND attempt >= 1
         THEN {_REBUILT_TAG} ELSE tag END AS tag,
    tradingsymbol,
    execution_algo AS algo, execution_urgency AS urgency, side, mode,
    CASE WHEN v >= {COMPACT_SINCE} AND quantity IS NULL AND event IN ('accepted', 'finished')
         THEN parent_quantity ELSE quantity END AS quantity,
    parent_quantity, arrival_price,
    CASE WHEN v >= {COMPACT_SINCE} AND filled_quantity IS NULL AND event = 'finished'
         THEN parent_filled_quantity ELSE filled_quantity END AS filled_quantity,
    fill_price, mid_at_send, limit_price, touch_at_send,
    queue_priority, expected_cost_bps, prior_impact, latency_ms, error_bucket, fees,
    decision_price, end_price, is_delay, is_spread, is_drift, is_opportunity,
    markout_s, markout_bps, underlying_price, coalesce(v, 0) AS v,
    problem, file, n
"""

#: A row that is a fill: a child's fill increment, or a late order's (ghost) fill.
_IS_FILL = ("event IN ('filled', 'ghost') AND filled_quantity > 0 AND fill_price IS NOT NULL")
_SIGN = "CASE side WHEN 'SELL' THEN -1.0 ELSE 1.0 END"
#: Whether a fill took liquidity or rested, from what happened: its child's price against the
#: far touch when it was sent (a MARKET child takes); without the touch (older rows), a limit
#: on the passive side of its mid rests; else the router's intent. The rule of
#: :func:`imperium_exec.events.liquidity.fill_liquidity` (a test holds the two together).
LIQUIDITY = f"""CASE
    WHEN limit_price IS NULL AND (touch_at_send IS NOT NULL OR mid_at_send IS NOT NULL)
        THEN 'taking'
    WHEN limit_price IS NOT NULL AND touch_at_send IS NOT NULL THEN
        CASE WHEN {_SIGN} * (limit_price - touch_at_send) >= -{PRICE_TOLERANCE!r}
             THEN 'taking' ELSE 'resting' END
    WHEN limit_price IS NOT NULL AND mid_at_send IS NOT NULL
         AND {_SIGN} * (limit_price - mid_at_send) < -{PRICE_TOLERANCE!r} THEN 'resting'
    WHEN queue_priority = 'take' THEN 'taking'
    WHEN queue_priority IN ('join', 'neutral') THEN 'resting' END"""
#: IST is UTC+05:30 all year.
_IST_OFFSET_S = 19800

_PARENTS = f"""
CREATE TABLE parents AS
SELECT parent_id,
    any_value(tradingsymbol) AS tradingsymbol,
    any_value(side) AS side,
    any_value(algo) AS algo,
    any_value(urgency) AS urgency,
    any_value(mode) AS mode,
    min(ts) AS started_ts,
    max(ts) FILTER (event = 'finished') AS finished_ts,
    any_value(status) FILTER (event = 'finished') AS final_status,
    coalesce(max(parent_quantity),
             max(quantity) FILTER (event IN ('accepted', 'finished'))) AS ordered,
    coalesce(max(arrival_price) FILTER (event = 'finished'), max(arrival_price))
        AS arrival_price,
    coalesce(max(underlying_price) FILTER (event = 'accepted'),
             max(underlying_price) FILTER (event = 'finished')) AS underlying_price,
    coalesce(sum(filled_quantity) FILTER ({_IS_FILL}), 0) AS filled,
    coalesce(sum(filled_quantity * fill_price) FILTER ({_IS_FILL}), 0.0) AS filled_value,
    sum(filled_quantity) FILTER ({_IS_FILL} AND expected_cost_bps IS NOT NULL)
        AS estimated_units,
    sum(filled_quantity * expected_cost_bps)
        FILTER ({_IS_FILL} AND expected_cost_bps IS NOT NULL) AS estimated_bps_units,
    max(fees) FILTER (event = 'finished') AS fees,
    max(decision_price) FILTER (event = 'finished') AS decision_price,
    max(end_price) FILTER (event = 'finished') AS end_price,
    max(is_delay) FILTER (event = 'finished') AS is_delay,
    max(is_spread) FILTER (event = 'finished') AS is_spread,
    max(is_drift) FILTER (event = 'finished') AS is_drift,
    max(is_opportunity) FILTER (event = 'finished') AS is_opportunity,
    count(*) FILTER (event = 'placed') AS placements,
    count(*) FILTER (event = 'retry') AS retries,
    count(*) FILTER (event IN ('error', 'rejected')) AS errors
FROM journal
WHERE parent_id <> ''
GROUP BY parent_id
"""

_PARENT_COSTS = f"""
CREATE VIEW parent_costs AS
WITH p AS (
    SELECT *, {_SIGN} AS s,
        ordered * coalesce(decision_price, arrival_price) AS decision_value,
        CASE WHEN filled > 0 THEN filled_value / filled END AS average_price,
        CAST(floor((started_ts + {_IST_OFFSET_S}) / 86400) AS INTEGER) AS ist_day,
        CAST(floor(((started_ts + {_IST_OFFSET_S}) % 86400) / 1800) AS INTEGER) AS half_hour
    FROM parents
)
SELECT p.*,
    DATE '1970-01-01' + ist_day AS trade_date,
    CASE WHEN filled > 0 AND arrival_price > 0
         THEN s * (filled_value - filled * arrival_price) END AS arrival_cost,
    CASE WHEN filled > 0 AND arrival_price > 0
         THEN s * (average_price - arrival_price) / arrival_price * 1e4
         END AS arrival_slippage_bps,
    CASE WHEN estimated_units > 0 THEN estimated_bps_units / estimated_units
         END AS expected_bps,
    is_delay + is_spread + is_drift + is_opportunity + coalesce(fees, 0.0) AS is_total,
    CASE WHEN decision_value > 0 AND is_delay IS NOT NULL THEN
        (is_delay + is_spread + is_drift + is_opportunity + coalesce(fees, 0.0))
        / decision_value * 1e4 END AS is_total_bps,
    printf('%02d:%02d', half_hour // 2, (half_hour % 2) * 30) AS time_of_day,
    c.underlying, c.kind AS option_type, c.strike,
    c.expiry - (DATE '1970-01-01' + ist_day) AS days_to_expiry,
    CASE WHEN underlying_price > 0 THEN CASE c.kind
        WHEN 'CE' THEN (c.strike - underlying_price) / underlying_price * 100
        WHEN 'PE' THEN (underlying_price - c.strike) / underlying_price * 100 END
        END AS moneyness_pct
FROM p LEFT JOIN contracts c USING (tradingsymbol)
"""

_FILLS = f"""
CREATE VIEW fills AS
SELECT parent_id, child_id, ts, tradingsymbol, side, algo, urgency,
    {LIQUIDITY} AS liquidity, queue_priority AS router_intent, limit_price, touch_at_send,
    event = 'ghost' AS late_order, filled_quantity AS units, fill_price, arrival_price,
    mid_at_send, expected_cost_bps, prior_impact, fees,
    CASE WHEN arrival_price > 0
         THEN {_SIGN} * (fill_price - arrival_price) / arrival_price * 1e4 END AS slippage_bps,
    CASE WHEN arrival_price > 0 AND mid_at_send IS NOT NULL
         THEN {_SIGN} * (fill_price - mid_at_send) / arrival_price * 1e4 END AS at_send_bps
FROM journal
WHERE {_IS_FILL}
"""


_EXCLUDED_EVENTS = "('session', 'basket_accepted', 'basket_finished')"


def _typed_problem() -> str:
    """SQL for why a row read by the strict typed reading does not fit (NULL: it fits): what
    that reading lets through, NaN and infinities, negative counts, values no enum has, a
    versioned row without an event; the same reasons as :func:`_problem`."""
    checks: list[str] = []
    for name in ROW_FIELDS:
        kind, column = journal_columns()[name], f'"{name}"'
        if kind == "DOUBLE":
            checks.append(f"CASE WHEN NOT isfinite({column}) "
                          f"THEN {literal(not_finite(name))} END")
        elif kind == "BIGINT" and name in NON_NEGATIVE:
            checks.append(f"CASE WHEN {column} < 0 THEN {literal(negative(name))} END")
        elif issubclass(FIELD_TYPES[name], StrEnum):
            check = _field_problem(name)
            assert check is not None
            checks.append(check)
    checks.append(f"CASE WHEN v IS NOT NULL AND event IS NULL "
                  f"THEN {literal(missing('event'))} END")
    return f"coalesce({', '.join(checks)})"


def _reading(paths: Sequence[Path], *, strict: bool) -> str:
    """SQL reading journal files into the staged columns with ``problem`` (why a row is left
    out), ``file`` and ``n`` (its line). The strict reading takes every field as its type
    and fails on the first line that does not parse or a value that does not convert (fast: a
    clean journal costs what reading it always did; it numbers no lines); the checking
    reading, of one file, takes numbers as JSON, names each problem with its line and goes on
    (about three times slower)."""
    files = "[" + ", ".join(quote_path(p) for p in paths) + "]"
    if strict:
        inner = (f"SELECT *, {_typed_problem()} AS problem, filename AS file, "
                 f"CAST(NULL AS BIGINT) AS n FROM read_json({files}, "
                 f"format = 'newline_delimited', columns = {struct(journal_columns())}, "
                 "filename = true)")
    else:
        (path,) = paths
        # ignore_errors: a line that does not parse reads as a row of NULLs (named).
        typed = ", ".join(_typed(name) for name in ROW_FIELDS)
        inner = (f"SELECT {typed}, {_problem()} AS problem, {quote_path(path)} AS file, "
                 f"ordinality AS n FROM read_json({files}, format = 'newline_delimited', "
                 f"columns = {struct(_read_columns())}, ignore_errors = true) "
                 "WITH ORDINALITY")
    return f"SELECT {_STAGED} FROM ({inner})"


def _file_progress(progress: Progress, start: int, size: int, total: int) -> Progress:
    """One file's reading's progress as the whole's (by bytes)."""
    return lambda fraction: progress((start + fraction * size) / total)


def _read_files(con: duckdb.DuckDBPyConnection, paths: Sequence[Path],
                progress: Progress | None) -> None:
    """Into ``journal``: every file strictly at once; when that fails, file by file, each
    strictly or, refused, checked; a file with a problem the strict reading let through is
    read again checked, for its line numbers."""
    con.execute(f"CREATE TABLE journal AS {_reading(paths[:1], strict=False)} LIMIT 0")
    present = [p for p in paths if p.stat().st_size > 0]
    if not present:
        return
    try:
        _run_with_progress(con, f"INSERT INTO journal {_reading(present, strict=True)}",
                           progress)
        redo = [Path(f) for (f,) in con.execute(
            "SELECT DISTINCT file FROM journal WHERE problem IS NOT NULL").fetchall()]
        if redo:
            con.execute("DELETE FROM journal WHERE list_contains(?, file)",
                        [[str(p) for p in redo]])
    except duckdb.Error:  # a line that does not parse, a value that does not convert
        con.execute("DELETE FROM journal")
        redo = []
        sizes = [p.stat().st_size for p in present]
        total, done = max(1, sum(sizes)), 0
        for path, size in zip(present, sizes, strict=True):
            part = None if progress is None else _file_progress(progress, done, size, total)
            try:
                _run_with_progress(con, f"INSERT INTO journal {_reading([path], strict=True)}",
                                   part)
                if scalar_int(con, "SELECT count(*) FROM journal WHERE problem IS NOT NULL "
                              f"AND file = {quote_path(path)}"):
                    con.execute(f"DELETE FROM journal WHERE file = {quote_path(path)}")
                    redo.append(path)
            except duckdb.Error:
                redo.append(path)
            done += size
    for path in redo:
        con.execute(f"INSERT INTO journal {_reading([path], strict=False)}")
    if progress is not None:
        progress(1.0)


def load_journal(con: duckdb.DuckDBPyConnection, paths: Sequence[Path], *,
                 progress: Progress | None = None, master: InstrumentMaster | None = None,
                 mode: str | None = None) -> JournalQuality:
    """Read the journals into ``journal`` and build ``contracts``, ``parents``,
    ``parent_costs`` and ``fills``; returns what was read and what was left out (the rows
    that do not fit the schema, with their file and line; rows seen twice; the parents of
    rows left out, which are left out whole; empty files), as the one Python reader
    (:func:`imperium_exec.events.quality.read_journal_rows`) counts them. With ``mode``, only
    that mode's rows make the figures.

    The files are read strictly first (:func:`_read_files`); a file the strict reading
    refuses (a torn or garbage line, a value that is not of its field's type) is read again
    by the checking reading, which names every problem. The strict reading converts what it
    can: a number written as text (``"36.65"``) reads as the number there, where the Python
    reader refuses the row."""
    paths = list(dict.fromkeys(p.resolve() for p in paths))  # a file named twice is read once
    _read_files(con, paths, progress)
    quality = _left_out(con, paths)
    con.execute(f"DELETE FROM journal WHERE event IN {_EXCLUDED_EVENTS}"
                + (f" OR mode IS DISTINCT FROM {literal(mode)}" if mode is not None else ""))
    _load_contracts(con, master)
    con.execute(_PARENTS)
    con.execute(_PARENT_COSTS)
    con.execute(_FILLS)
    return quality


def _left_out(con: duckdb.DuckDBPyConnection, paths: Sequence[Path]) -> JournalQuality:
    """Take out of ``journal`` the rows that do not fit, the second copies of rows and the
    flagged parents' rows; say what went."""
    quality = JournalQuality()
    for path in paths:
        if path.stat().st_size == 0 or (path.stat().st_size < 4096
                                        and not path.read_bytes().strip()):
            quality.add(EMPTY_FILE, str(path), None)
    bad = scalar_int(con, "SELECT count(*) FROM journal WHERE problem IS NOT NULL")
    if bad:
        # Each file is read on its own: its rows are numbered from 1, one a line.
        rows = con.execute(
            "SELECT problem, file, n, parent_id FROM journal WHERE problem IS NOT NULL "
            "ORDER BY file, n").fetchall()
        for reason, file, line, parent_id in rows:
            quality.add(str(reason), str(file), int(line), parent_id or None)
        con.execute("DELETE FROM journal WHERE problem IS NOT NULL")
    key = "hash(" + ", ".join(ROW_KEY) + ")"
    twice = scalar_int(con, f"SELECT count(*) - count(DISTINCT {key}) FROM journal")
    if twice:
        # A row is a copy as many times as an earlier file held it (rows alike within one
        # file are each a row of their own: see events.quality).
        copies = con.execute(f"""
            WITH keyed AS (SELECT rowid AS r, file, n, {key} AS key FROM journal),
            per_file AS (SELECT key, file, count(*) AS times FROM keyed GROUP BY key, file),
            held AS (SELECT key, file,
                            max(times) OVER (PARTITION BY key ORDER BY file ROWS BETWEEN
                                             UNBOUNDED PRECEDING AND 1 PRECEDING) AS before,
                            first_value(file) OVER (PARTITION BY key ORDER BY file) AS first
                     FROM per_file)
            SELECT r, file, first FROM (
                SELECT r, file, key,
                       row_number() OVER (PARTITION BY key, file ORDER BY coalesce(n, r))
                           AS nth
                FROM keyed) JOIN held USING (key, file)
            WHERE nth <= coalesce(before, 0)""").fetchall()
        quality.duplicates = len(copies)
        quality.duplicate_files = {str(f) for _, f, _ in copies}
        quality.original_files = {str(f) for _, _, f in copies}
        con.execute("DELETE FROM journal WHERE list_contains(?, rowid)",
                    [[r for r, _, _ in copies]])
    quality.rows = scalar_int(con, "SELECT count(*) FROM journal")
    if quality.flagged_parents:
        con.execute("DELETE FROM journal WHERE list_contains(?, parent_id)",
                    [sorted(quality.flagged_parents)])
    return quality


def _run_with_progress(con: duckdb.DuckDBPyConnection, sql: str,
                       progress: Progress | None) -> None:
    """Run ``sql``, telling ``progress`` DuckDB's own progress of it from a watcher thread."""
    if progress is None:
        con.execute(sql)
        return
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            try:
                fraction = con.query_progress()
            except duckdb.Error:
                continue
            if fraction >= 0:
                progress(min(1.0, fraction / 100.0))

    watcher = threading.Thread(target=poll, name="tca-progress", daemon=True)
    watcher.start()
    try:
        con.execute(sql)
    finally:
        done.set()
        watcher.join()
    progress(1.0)


def _load_contracts(con: duckdb.DuckDBPyConnection, master: InstrumentMaster | None) -> None:
    """A small table of the traded contracts' facts (a few hundred symbols at most)."""
    con.execute("CREATE TABLE contracts (tradingsymbol VARCHAR, underlying VARCHAR, "
                "kind VARCHAR, strike DOUBLE, expiry DATE)")
    symbols = [r[0] for r in con.execute(
        "SELECT DISTINCT tradingsymbol FROM journal "
        "WHERE parent_id <> '' AND tradingsymbol IS NOT NULL").fetchall()]
    facts = [f for f in (contract_facts(s, master) for s in symbols) if f is not None]
    if facts:
        con.executemany("INSERT INTO contracts VALUES (?, ?, ?, ?, ?)",
                        [(f.tradingsymbol, f.underlying, f.kind, f.strike, f.expiry)
                         for f in facts])

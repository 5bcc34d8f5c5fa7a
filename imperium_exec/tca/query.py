"""The SQL of the report: DuckDB over the JSONL journals, straight from the files.

The journals are read once (``read_json`` with every field's type given, so old rows that
lack the newer fields read as NULL) into one narrow table, ``journal``, in a DuckDB database
file in a scratch folder: it is compressed there and spills to disk beyond ``memory_limit``,
so memory stays bounded whatever the journals' size. Everything else is SQL over that table:

- ``parents``: one row per parent, its fills added up (``filled`` and ``ghost`` rows with a
  fill) and its finished row's implementation shortfall (see ``imperium_exec/shortfall.py``);
- ``parent_costs``: ``parents`` with the costs worked out (bps, arrival slippage, buckets);
- ``fills``: one row per fill with its cost against arrival and against the mid its child was
  priced from.

Only small results (aggregates, a few dozen parents) come back to Python, as
:class:`~.figures.TcaFigures`. Sign convention: positive = cost, s = +1 buy / -1 sell.
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb

from ..events import FIELD_TYPES, ROW_FIELDS
from ..instruments import InstrumentMaster
from .contracts import contract_facts
from .figures import (
    Breakdown,
    BreakdownRow,
    ExpectedVsRealized,
    Histogram,
    JournalStats,
    Latency,
    MarkoutPoint,
    Operations,
    ParentCost,
    ShortfallParts,
    TcaFigures,
)
from .sources import JournalFiles

#: A callback told the fraction of the journal read so far (0..1).
Progress = Callable[[float], None]

_SQL_TYPES: dict[type, str] = {int: "BIGINT", float: "DOUBLE", bool: "BOOLEAN", str: "VARCHAR"}


def journal_columns() -> dict[str, str]:
    """Every row field with its DuckDB type, from the event schema (enums are text)."""
    return {name: "VARCHAR" if issubclass(FIELD_TYPES[name], StrEnum)
            else _SQL_TYPES[FIELD_TYPES[name]] for name in ROW_FIELDS}


#: The columns the report reads, as staged (renamed where the schema's name is long). Rows
#: from before ``v`` say what happened only through their status, and have no ``ts``.
_STAGED = """
    coalesce(event, CASE status WHEN 'placed' THEN 'placed' WHEN 'error' THEN 'error' END)
        AS event,
    status,
    coalesce(ts, epoch(try_cast("timestamp" AS TIMESTAMPTZ))) AS ts,
    coalesce(parent_id, '') AS parent_id, child_id, tag, tradingsymbol,
    execution_algo AS algo, execution_urgency AS urgency, side, mode,
    quantity, parent_quantity, arrival_price, filled_quantity, fill_price, mid_at_send,
    queue_priority, expected_cost_bps, prior_impact, latency_ms, error_bucket, fees,
    decision_price, end_price, is_delay, is_spread, is_drift, is_opportunity,
    markout_s, markout_bps, underlying_price, coalesce(v, 0) AS v
"""

#: A row that is a fill: a child's fill increment, or a late order's (ghost) fill.
_IS_FILL = ("event IN ('filled', 'ghost') AND filled_quantity > 0 AND fill_price IS NOT NULL")
_SIGN = "CASE side WHEN 'SELL' THEN -1.0 ELSE 1.0 END"
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
SELECT parent_id, child_id, ts, tradingsymbol, side, algo, urgency, queue_priority,
    event = 'ghost' AS late_order, filled_quantity AS units, fill_price, arrival_price,
    mid_at_send, expected_cost_bps, prior_impact, fees,
    CASE WHEN arrival_price > 0
         THEN {_SIGN} * (fill_price - arrival_price) / arrival_price * 1e4 END AS slippage_bps,
    CASE WHEN arrival_price > 0 AND mid_at_send IS NOT NULL
         THEN {_SIGN} * (fill_price - mid_at_send) / arrival_price * 1e4 END AS at_send_bps
FROM journal
WHERE {_IS_FILL}
"""

#: Below this many mid moves an underlying's volatility is not estimated (no z-scores).
MIN_MOVES_FOR_VOLATILITY = 20

#: Per parent, realized against expected in units of its timing risk (Kissell's validation:
#: z should be about N(0, 1)). The risk is the premium's volatility over the parent's life
#: for a linear schedule, sqrt(sigma^2 * T / 3) bps, T from its first row to its final row (at
#: least 1 s). sigma^2 (bps^2 a second) is estimated per underlying from the journal itself:
#: each fill's mid at send against its parent's arrival price, over the seconds from arrival
#: to that send (its child's last placement: a resting child's fill comes later)
#: (a random walk's variance grows with time; our own earlier fills' impact is in those mids
#: too, which makes the risk a little larger and z a little smaller).
_Z_SCORES = f"""
WITH sends AS (
    SELECT child_id, max(ts) AS sent_ts FROM journal
    WHERE event = 'placed' AND child_id IS NOT NULL GROUP BY child_id
), moves AS (
    SELECT coalesce(pc.underlying, 'unknown') AS underlying,
        coalesce(least(s.sent_ts, f.ts), f.ts) - pc.started_ts AS seconds,
        (f.mid_at_send - f.arrival_price) / f.arrival_price * 1e4 AS move_bps
    FROM fills f JOIN parent_costs pc USING (parent_id) LEFT JOIN sends s USING (child_id)
    WHERE f.mid_at_send IS NOT NULL AND f.arrival_price > 0
        AND coalesce(least(s.sent_ts, f.ts), f.ts) - pc.started_ts > 0.5
), volatility AS (
    SELECT underlying, sum(move_bps * move_bps) / sum(seconds) AS variance_per_s
    FROM moves GROUP BY underlying HAVING count(*) >= {MIN_MOVES_FOR_VOLATILITY}
)
SELECT (pc.arrival_slippage_bps - pc.expected_bps)
    / sqrt(v.variance_per_s * greatest(pc.finished_ts - pc.started_ts, 1.0) / 3.0) AS z
FROM parent_costs pc JOIN volatility v ON coalesce(pc.underlying, 'unknown') = v.underlying
WHERE pc.expected_bps IS NOT NULL AND pc.arrival_slippage_bps IS NOT NULL
    AND pc.finished_ts IS NOT NULL AND v.variance_per_s > 0
"""

#: Buckets of the breakdowns: (title, SQL key, SQL sort, note). Sizes in decision notional.
_SIZE_KEY = """CASE WHEN decision_value < 50000 THEN '< ₹50k'
    WHEN decision_value < 200000 THEN '₹50k–2L' WHEN decision_value < 1000000 THEN '₹2L–10L'
    WHEN decision_value < 5000000 THEN '₹10L–50L' ELSE '≥ ₹50L' END"""
_DTE_KEY = """CASE WHEN days_to_expiry IS NULL THEN 'unknown'
    WHEN days_to_expiry <= 0 THEN '0 (expiry day)' WHEN days_to_expiry = 1 THEN '1'
    WHEN days_to_expiry = 2 THEN '2' WHEN days_to_expiry <= 4 THEN '3–4'
    WHEN days_to_expiry <= 7 THEN '5–7' WHEN days_to_expiry <= 14 THEN '8–14'
    WHEN days_to_expiry <= 30 THEN '15–30' ELSE '> 30' END"""
#: Moneyness: the strike's signed distance from the index level, % of that level, positive =
#: out of the money (calls and puts alike). ATM takes both of its edges.
MONEYNESS_BUCKETS: tuple[str, ...] = ("ITM > 2 %", "ITM 0.5–2 %", "ATM ±0.5 %", "OTM 0.5–2 %",
                                      "OTM 2–5 %", "OTM > 5 %", "unknown")
_MONEYNESS_KEY = f"""CASE WHEN moneyness_pct IS NULL THEN '{MONEYNESS_BUCKETS[6]}'
    WHEN moneyness_pct < -2 THEN '{MONEYNESS_BUCKETS[0]}'
    WHEN moneyness_pct < -0.5 THEN '{MONEYNESS_BUCKETS[1]}'
    WHEN moneyness_pct <= 0.5 THEN '{MONEYNESS_BUCKETS[2]}'
    WHEN moneyness_pct <= 2 THEN '{MONEYNESS_BUCKETS[3]}'
    WHEN moneyness_pct <= 5 THEN '{MONEYNESS_BUCKETS[4]}' ELSE '{MONEYNESS_BUCKETS[5]}' END"""
_BREAKDOWNS: tuple[tuple[str, str, str, str], ...] = (
    ("Mode", "coalesce(mode, 'unknown')", "key", "paper fills are simulated"),
    ("Algorithm", "coalesce(algo, 'unknown')", "sum(decision_value) DESC NULLS LAST", ""),
    ("Urgency", "coalesce(urgency, 'unknown')", "key", ""),
    ("Side", "coalesce(side, 'unknown')", "key", ""),
    ("Underlying", "coalesce(underlying, 'unknown')", "sum(decision_value) DESC NULLS LAST",
     ""),
    ("Option type", "coalesce(option_type, 'unknown')", "key", ""),
    ("Moneyness", _MONEYNESS_KEY, "min(coalesce(moneyness_pct, 1e9))",
     "strike against the index level at acceptance, % of it; positive = out of the money"),
    ("Days to expiry", _DTE_KEY, "min(coalesce(days_to_expiry, 9999))",
     "days from the trade's date (IST) to the contract's expiry"),
    ("Time of day (IST)", "time_of_day", "key", "the parent's first row, by half hour"),
    ("Order size", _SIZE_KEY, "min(decision_value)",
     "ordered quantity at the decision price"),
    ("Symbol", "tradingsymbol", "sum(decision_value) DESC NULLS LAST", ""),
)
#: At most this many rows in a breakdown (symbols: the largest by notional).
_BREAKDOWN_ROWS = 20

#: Placement latency histogram edges, milliseconds.
LATENCY_EDGES_MS: tuple[float, ...] = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000,
                                       5000)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class TcaQuery:
    """A DuckDB session over a set of journals: :meth:`load`, then :meth:`figures`.

    ``memory_limit`` bounds DuckDB's memory (it spills to ``workdir`` beyond it); ``threads``
    defaults to the machine's cores."""

    def __init__(self, *, memory_limit: str = "2GB", threads: int | None = None,
                 workdir: str | os.PathLike[str] | None = None) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="imperium-tca-", dir=workdir)
        scratch = Path(self._scratch.name)
        self.con = duckdb.connect(str(scratch / "tca.duckdb"), config={
            "memory_limit": memory_limit,
            "threads": threads or os.cpu_count() or 1,
            "temp_directory": str(scratch / "spill"),
            "preserve_insertion_order": False,
        })
        self.files: JournalFiles | None = None
        #: Lines of the journals that were not JSON rows (skipped).
        self.unreadable_lines = 0

    def close(self) -> None:
        self.con.close()
        self._scratch.cleanup()

    def __enter__(self) -> TcaQuery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- loading

    def load(self, files: JournalFiles, progress: Progress | None = None,
             master: InstrumentMaster | None = None, mode: str | None = None) -> int:
        """Read the journals into ``journal`` and build the derived tables; returns the
        number of rows read. A line that is not JSON (a torn last line of a journal being
        written, or of a writer that was killed) is skipped and counted
        (:attr:`unreadable_lines`), as the dock and ``calibrate`` do. With ``mode``, only
        that mode's rows are read (paper fills are simulated: they do not belong in a live
        desk's costs)."""
        self.files = files
        paths = "[" + ", ".join(_quote(p) for p in files.paths) + "]"
        # ignore_errors: a line that does not parse reads as a row of NULLs (counted, dropped).
        sql = (f"CREATE TABLE journal AS SELECT {_STAGED} FROM read_json({paths}, "
               f"format = 'newline_delimited', columns = {_struct(journal_columns())}, "
               "ignore_errors = true) "
               "WHERE (event IS NULL OR event NOT IN "
               "('session', 'basket_accepted', 'basket_finished'))"
               + (f" AND (mode = {_literal(mode)} OR (event IS NULL AND status IS NULL "
                  "AND ts IS NULL))" if mode is not None else ""))
        self._run_with_progress(sql, progress)
        unreadable = "event IS NULL AND status IS NULL AND ts IS NULL"
        self.unreadable_lines = self._scalar_int(
            f"SELECT count(*) FROM journal WHERE {unreadable}")
        if self.unreadable_lines:
            self.con.execute(f"DELETE FROM journal WHERE {unreadable}")
        self._load_contracts(master)
        self.con.execute(_PARENTS)
        self.con.execute(_PARENT_COSTS)
        self.con.execute(_FILLS)
        return self._scalar_int("SELECT count(*) FROM journal")

    def _run_with_progress(self, sql: str, progress: Progress | None) -> None:
        if progress is None:
            self.con.execute(sql)
            return
        self.con.execute("SET enable_progress_bar = true")
        self.con.execute("SET enable_progress_bar_print = false")
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.2):
                try:
                    fraction = self.con.query_progress()
                except duckdb.Error:
                    continue
                if fraction >= 0:
                    progress(min(1.0, fraction / 100.0))

        watcher = threading.Thread(target=poll, name="tca-progress", daemon=True)
        watcher.start()
        try:
            self.con.execute(sql)
        finally:
            done.set()
            watcher.join()
        progress(1.0)

    def _load_contracts(self, master: InstrumentMaster | None) -> None:
        """A small table of the traded contracts' facts (a few hundred symbols at most)."""
        self.con.execute("CREATE TABLE contracts (tradingsymbol VARCHAR, underlying VARCHAR, "
                         "kind VARCHAR, strike DOUBLE, expiry DATE)")
        symbols = [r[0] for r in self.con.execute(
            "SELECT DISTINCT tradingsymbol FROM journal "
            "WHERE parent_id <> '' AND tradingsymbol IS NOT NULL").fetchall()]
        facts = [f for f in (contract_facts(s, master) for s in symbols) if f is not None]
        if facts:
            self.con.executemany("INSERT INTO contracts VALUES (?, ?, ?, ?, ?)",
                                 [(f.tradingsymbol, f.underlying, f.kind, f.strike, f.expiry)
                                  for f in facts])

    def _scalar_int(self, sql: str) -> int:
        row = self.con.execute(sql).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    # ---------------------------------------------------------------- output tables

    def write_parquet(self, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
        """``parents.parquet`` (one row per parent, its costs) and ``fills.parquet``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        parents, fills = out / "parents.parquet", out / "fills.parquet"
        self.con.execute(f"COPY (SELECT * EXCLUDE (ist_day, half_hour) FROM parent_costs "
                         f"ORDER BY started_ts) TO {_quote(parents)} (FORMAT parquet)")
        self.con.execute(f"COPY (SELECT * FROM fills ORDER BY ts) TO {_quote(fills)} "
                         "(FORMAT parquet)")
        return parents, fills

    # ---------------------------------------------------------------- figures

    def figures(self, *, outliers: int = 10) -> TcaFigures:
        """Every figure of the report (after :meth:`load`)."""
        counts = self.con.execute(
            "SELECT count(*), count(*) FILTER (filled > 0), "
            "count(*) FILTER (is_total IS NOT NULL) FROM parent_costs").fetchone()
        assert counts is not None
        parents, with_fills, with_shortfall = (int(c) for c in counts)
        by_side = self._shortfall_sums("side")
        total = self._shortfall_sums(None).get("all")
        markouts = self.markouts()
        notes = self._notes(parents, with_shortfall, markouts)
        return TcaFigures(
            journal=self.journal_stats(),
            parents=parents, parents_with_fills=with_fills,
            parents_with_shortfall=with_shortfall,
            total=total, by_side=by_side,
            worst=self.parent_costs(order="DESC", limit=outliers),
            best=self.parent_costs(order="ASC", limit=outliers),
            slippage=self.slippage_histogram(),
            markouts=markouts,
            breakdowns=self.breakdowns(),
            expected=self.expected_vs_realized(),
            operations=self.operations(),
            latency=self.latency(),
            notes=tuple(notes))

    def journal_stats(self) -> JournalStats:
        row = self.con.execute(
            "SELECT count(*), min(ts), max(ts), list(DISTINCT mode) FILTER (mode IS NOT NULL) "
            "FROM journal").fetchone()
        assert row is not None
        versions = dict(self.con.execute(
            "SELECT v, count(*) FROM journal GROUP BY v ORDER BY v").fetchall())
        files = self.files
        return JournalStats(
            files=tuple(str(p) for p in files.paths) if files else (),
            bytes=files.total_bytes if files else 0, rows=int(row[0]),
            first_ts=_float(row[1]), last_ts=_float(row[2]),
            modes=tuple(sorted(row[3] or ())),
            versions={int(k): int(n) for k, n in versions.items()})

    def _shortfall_sums(self, by: str | None) -> dict[str, ShortfallParts]:
        key = f"coalesce({by}, 'unknown')" if by else "'all'"
        rows = self.con.execute(
            f"SELECT {key} AS key, sum(is_delay), sum(is_spread), sum(is_drift), "
            "sum(is_opportunity), sum(coalesce(fees, 0.0)), sum(decision_value) "
            "FROM parent_costs WHERE is_total IS NOT NULL GROUP BY ALL ORDER BY key"
        ).fetchall()
        return {str(r[0]): ShortfallParts(*(float(x) for x in r[1:])) for r in rows
                if r[1] is not None}

    def parent_costs(self, *, order: str = "DESC", limit: int | None = 10,
                     parent_ids: Sequence[str] | None = None) -> tuple[ParentCost, ...]:
        """Parents by cost (IS bps, else arrival slippage bps), costliest first with
        ``order="DESC"``; or the named ones."""
        if order not in ("ASC", "DESC"):
            raise ValueError(f"order: ASC or DESC, not {order!r}")
        where, params = "", []
        if parent_ids is not None:
            where = "WHERE list_contains(?, parent_id)"
            params = [list(parent_ids)]
        else:
            where = "WHERE coalesce(is_total_bps, arrival_slippage_bps) IS NOT NULL"
        sql = (
            "SELECT parent_id, tradingsymbol, side, algo, urgency, final_status, started_ts, "
            "ordered, filled, arrival_price, average_price, arrival_slippage_bps, "
            "expected_bps, is_delay, is_spread, is_drift, is_opportunity, "
            "coalesce(fees, 0.0), decision_value, is_total IS NOT NULL "
            f"FROM parent_costs {where} "
            f"ORDER BY coalesce(is_total_bps, arrival_slippage_bps) {order} NULLS LAST, "
            "parent_id" + (f" LIMIT {int(limit)}" if limit is not None else ""))
        out: list[ParentCost] = []
        for r in self.con.execute(sql, params).fetchall():
            shortfall = ShortfallParts(float(r[13]), float(r[14]), float(r[15]), float(r[16]),
                                       float(r[17]), float(r[18] or 0.0)) if r[19] else None
            out.append(ParentCost(
                parent_id=r[0], tradingsymbol=r[1] or "", side=r[2] or "", algo=r[3],
                urgency=r[4], status=r[5], started_ts=float(r[6] or 0.0),
                ordered=int(r[7] or 0), filled=int(r[8] or 0), arrival_price=_float(r[9]),
                average_price=_float(r[10]), arrival_slippage_bps=_float(r[11]),
                expected_bps=_float(r[12]), shortfall=shortfall))
        return tuple(out)

    def slippage_histogram(self, bins: int = 30) -> Histogram | None:
        """Arrival slippage per parent with fills, bps: the 1st to 99th percentile in equal
        bins (the tails counted apart)."""
        row = self.con.execute(
            "SELECT count(*), avg(x), median(x), quantile_cont(x, 0.01), "
            "quantile_cont(x, 0.99) FROM (SELECT arrival_slippage_bps AS x FROM parent_costs "
            "WHERE arrival_slippage_bps IS NOT NULL)").fetchone()
        if row is None or not row[0]:
            return None
        count, mean, median = int(row[0]), _float(row[1]), _float(row[2])
        low, high = nice_range(float(row[3]), float(row[4]))
        width = (high - low) / bins
        found = dict(self.con.execute(
            "SELECT CAST(least(greatest(floor((arrival_slippage_bps - ?) / ?), -1), ?) "
            "AS INTEGER) AS b, count(*) FROM parent_costs "
            "WHERE arrival_slippage_bps IS NOT NULL GROUP BY b",
            [low, width, bins]).fetchall())
        # A value exactly at the top edge belongs to the last bin, not above it.
        top = self._scalar_int(
            f"SELECT count(*) FROM parent_costs WHERE arrival_slippage_bps = {high!r}")
        counts = [int(found.get(i, 0)) for i in range(bins)]
        counts[-1] += top
        return Histogram(edges=tuple(low + i * width for i in range(bins + 1)),
                         counts=tuple(counts), below=int(found.get(-1, 0)),
                         above=int(found.get(bins, 0)) - top, count=count, mean=mean,
                         median=median)

    def markouts(self) -> tuple[MarkoutPoint, ...]:
        """Mean markout by horizon, for fills that took liquidity (aggressive) and fills that
        rested (passive: joined the touch or sat at the mid), quantity-weighted."""
        rows = self.con.execute(
            "SELECT markout_s, CASE queue_priority WHEN 'take' THEN 'aggressive' "
            "WHEN 'join' THEN 'passive' WHEN 'neutral' THEN 'passive' ELSE 'unknown' END AS "
            "liquidity, count(*), sum(filled_quantity), "
            "sum(filled_quantity * markout_bps) / sum(filled_quantity) "
            "FROM journal WHERE event = 'markout' AND markout_bps IS NOT NULL "
            "AND markout_s IS NOT NULL AND filled_quantity > 0 "
            "GROUP BY ALL ORDER BY markout_s, liquidity").fetchall()
        return tuple(MarkoutPoint(float(r[0]), str(r[1]), int(r[2]), int(r[3]), float(r[4]))
                     for r in rows)

    def breakdowns(self) -> tuple[Breakdown, ...]:
        out: list[Breakdown] = []
        for title, key, sort, note in _BREAKDOWNS:
            distinct = self._scalar_int(f"SELECT count(DISTINCT {key}) FROM parent_costs")
            rows = self.con.execute(
                f"SELECT {key} AS key, count(*), sum(decision_value), sum(ordered), "
                "sum(filled), sum(is_total) / sum(decision_value) "
                "FILTER (is_total IS NOT NULL) * 1e4, "
                "sum(arrival_cost) / sum(filled * arrival_price) "
                "FILTER (arrival_cost IS NOT NULL) * 1e4, "
                "sum(estimated_bps_units) / sum(estimated_units), "
                "sum(is_spread) / sum(decision_value) FILTER (is_total IS NOT NULL) * 1e4 "
                f"FROM parent_costs GROUP BY key ORDER BY {sort}, key "
                f"LIMIT {_BREAKDOWN_ROWS}").fetchall()
            if distinct > _BREAKDOWN_ROWS:
                note = (note + "; " if note else "") + \
                    f"the first {_BREAKDOWN_ROWS} of {distinct}"
            out.append(Breakdown(title, tuple(
                BreakdownRow(key=str(r[0]), parents=int(r[1]), decision_value=float(r[2] or 0),
                             ordered=int(r[3] or 0), filled=int(r[4] or 0),
                             shortfall_bps=_float(r[5]), arrival_bps=_float(r[6]),
                             expected_bps=_float(r[7]), spread_bps=_float(r[8]))
                for r in rows), note))
        return tuple(out)

    def expected_vs_realized(self, max_points: int = 3000) -> ExpectedVsRealized:
        row = self.con.execute(
            "SELECT count(*), sum(units * expected_cost_bps) / sum(units), "
            "sum(units * slippage_bps) / sum(units), "
            "sum(units * (expected_cost_bps - coalesce(prior_impact, 0.0) / arrival_price "
            "* 1e4)) FILTER (at_send_bps IS NOT NULL) "
            "/ sum(units) FILTER (at_send_bps IS NOT NULL), "
            "sum(units * at_send_bps) / sum(units) FILTER (at_send_bps IS NOT NULL), "
            "sum(units * (slippage_bps - at_send_bps)) / sum(units) "
            "FILTER (at_send_bps IS NOT NULL) "
            "FROM fills WHERE expected_cost_bps IS NOT NULL AND slippage_bps IS NOT NULL"
        ).fetchone()
        assert row is not None
        per_parent = self.con.execute(
            "SELECT count(*), avg(arrival_slippage_bps - expected_bps), "
            "stddev_samp(arrival_slippage_bps - expected_bps) FROM parent_costs "
            "WHERE expected_bps IS NOT NULL AND arrival_slippage_bps IS NOT NULL").fetchone()
        assert per_parent is not None
        n = int(per_parent[0])
        sample = f"USING SAMPLE {max_points} ROWS" if n > max_points else ""
        points = self.con.execute(
            "SELECT expected_bps, arrival_slippage_bps FROM (SELECT * FROM parent_costs "
            "WHERE expected_bps IS NOT NULL AND arrival_slippage_bps IS NOT NULL) "
            f"{sample}").fetchall()
        z = self.con.execute(
            f"SELECT count(*), avg(z), stddev_samp(z), avg(CAST(abs(z) > 2 AS DOUBLE)) "
            f"FROM ({_Z_SCORES})").fetchone()
        assert z is not None
        return ExpectedVsRealized(
            fills=int(row[0]), expected_bps=_float(row[1]), realized_bps=_float(row[2]),
            expected_at_send_bps=_float(row[3]), realized_at_send_bps=_float(row[4]),
            mid_move_bps=_float(row[5]), parents=n, difference_mean_bps=_float(per_parent[1]),
            difference_sd_bps=_float(per_parent[2]),
            points=tuple((float(e), float(r)) for e, r in points),
            z_parents=int(z[0]), z_mean=_float(z[1]), z_sd=_float(z[2]),
            z_beyond_2=_float(z[3]))

    def operations(self) -> Operations:
        row = self.con.execute(
            "SELECT count(DISTINCT parent_id) FILTER (parent_id <> ''), "
            "count(DISTINCT child_id), count(DISTINCT tag), "
            "count(*) FILTER (event = 'placed') FROM journal").fetchone()
        assert row is not None
        buckets: dict[str, dict[str, int]] = {"retry": {}, "error": {}, "rejected": {}}
        for event, bucket, n in self.con.execute(
                "SELECT event, coalesce(error_bucket, 'unclassified'), count(*) FROM journal "
                "WHERE event IN ('retry', 'error', 'rejected') GROUP BY ALL ORDER BY ALL"
        ).fetchall():
            buckets[event][bucket] = int(n)
        status = dict(self.con.execute(
            "SELECT coalesce(final_status, 'no finished row'), count(*) FROM parents "
            "GROUP BY ALL ORDER BY 2 DESC").fetchall())
        # Rows before v had no parent_id or tag: count their placements as attempts.
        attempts = max(int(row[2]), int(row[3]))
        return Operations(parents=int(row[0]), children=int(row[1]), attempts=attempts,
                          placements=int(row[3]), retries=buckets["retry"],
                          errors=buckets["error"], rejections=buckets["rejected"],
                          parent_status={str(k): int(v) for k, v in status.items()})

    def latency(self) -> Latency:
        row = self.con.execute(
            "SELECT count(latency_ms), quantile_cont(latency_ms, [0.5, 0.95, 0.99]), "
            "max(latency_ms) FROM journal WHERE event = 'placed' AND latency_ms IS NOT NULL"
        ).fetchone()
        assert row is not None
        count = int(row[0])
        quantiles = [_float(q) for q in row[1]] if count else [None, None, None]
        edges = LATENCY_EDGES_MS
        cases = " ".join(f"WHEN latency_ms < {hi!r} THEN {i}"
                         for i, hi in enumerate(edges[1:]))
        found = dict(self.con.execute(
            f"SELECT CASE {cases} ELSE {len(edges) - 1} END AS b, count(*) FROM journal "
            "WHERE event = 'placed' AND latency_ms IS NOT NULL GROUP BY b").fetchall())
        labels = [f"{_ms(lo)}–{_ms(hi)}" for lo, hi in itertools.pairwise(edges)]
        labels.append(f"≥ {_ms(edges[-1])}")
        return Latency(placements=count, p50_ms=quantiles[0], p95_ms=quantiles[1],
                       p99_ms=quantiles[2], max_ms=_float(row[2]),
                       histogram=tuple((label, int(found.get(i, 0)))
                                       for i, label in enumerate(labels)))

    def _notes(self, parents: int, with_shortfall: int,
               markouts: tuple[MarkoutPoint, ...]) -> list[str]:
        notes: list[str] = []
        if self.unreadable_lines:
            notes.append(f"{self.unreadable_lines:,} unreadable line(s) skipped (not JSON: "
                         "a torn last line of a journal being written, or a damaged one).")
        modes = self.con.execute(
            "SELECT list(DISTINCT mode ORDER BY mode) FROM journal WHERE mode IS NOT NULL"
        ).fetchone()
        if modes is not None and modes[0] and len(modes[0]) > 1:
            notes.append(f"These journals mix modes ({', '.join(modes[0])}): every figure "
                         "adds simulated paper fills to real ones; --mode reads one.")
        notes.append("Expected against realized is a plain difference, not a z-score: the "
                     "rows carry no pre-trade risk figure to divide by.")
        unfinished = self._scalar_int("SELECT count(*) FROM parents WHERE final_status IS NULL")
        if unfinished:
            notes.append(f"{unfinished} parent(s) have no finished row in these journals "
                         "(still working, or the writer stopped): no shortfall for them.")
        missing = parents - with_shortfall - unfinished
        if missing > 0:
            notes.append(f"{missing} finished parent(s) carry no shortfall parts (rows from "
                         "before schema v3, or no price was ever seen): arrival slippage "
                         "only.")
        if not markouts:
            notes.append("No markout rows: journals from before markouts were on by default, "
                         "or EngineConfig.markout_horizons_s set to ().")
        return notes


def nice_range(low: float, high: float) -> tuple[float, float]:
    """[low, high] widened to round numbers (a step of 1, 2 or 5 times a power of ten), and
    never empty."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0, 1.0
    if high <= low:
        low, high = low - 1.0, high + 1.0
    step = nice_step((high - low) / 10)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def nice_step(rough: float) -> float:
    if rough <= 0 or not math.isfinite(rough):
        return 1.0
    power = 10.0 ** math.floor(math.log10(rough))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if rough <= factor * power:
            return factor * power
    return 10.0 * power


def _ms(value: float) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"


__all__ = ["LATENCY_EDGES_MS", "MONEYNESS_BUCKETS", "Progress", "TcaQuery", "journal_columns",
           "nice_range", "nice_step"]

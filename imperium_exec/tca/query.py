"""The report's queries: :class:`TcaQuery`, a DuckDB session over a set of journals.

:meth:`TcaQuery.load` reads the journals once into a DuckDB database file in a scratch folder
(:mod:`.journal`: the ``journal`` table and the ``parents``, ``parent_costs`` and ``fills``
tables over it); there it is compressed and spills to disk beyond ``memory_limit``, so memory
stays bounded whatever the journals' size. :meth:`TcaQuery.figures` then asks every figure of
the report: the journal's stats, shortfall totals, the costliest and cheapest parents, the
slippage histogram and markouts here; the breakdowns (:mod:`.breakdowns`), expected against
realized (:mod:`.expected`), operations and latency (:mod:`.operations`) in their modules.

Only small results (aggregates, a few dozen parents) come back to Python, as
:class:`~.figures.TcaFigures`. Sign convention: positive = cost, s = +1 buy / -1 sell.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

from ..events.quality import JournalQuality
from ..instruments import InstrumentMaster
from .breakdowns import breakdowns
from .expected import expected_vs_realized
from .figures import (
    Breakdown,
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
from .journal import LIQUIDITY, Progress, load_journal
from .operations import latency, operations
from .scales import nice_range
from .sources import JournalFiles
from .sql import finite, quote_path, scalar_int


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
        #: What the reading left out, and why (:class:`JournalQuality`).
        self.quality = JournalQuality()

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
        number of rows read that fit the schema, each once, as ``calibrate`` counts them. A
        row that does not fit (a torn or garbage line, a value of the wrong type, NaN or an
        infinity, a negative count, an unknown event) is left out and counted with its file
        and line, and its parent is left out whole; a row seen twice is read once
        (:attr:`quality`). With ``mode``, only that mode's rows make the figures (paper fills
        are simulated: they do not belong in a live desk's costs)."""
        self.files = files
        self.quality = load_journal(self.con, files.paths, progress=progress,
                                    master=master, mode=mode)
        return self.quality.rows

    # ---------------------------------------------------------------- output tables

    def write_parquet(self, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
        """``parents.parquet`` (one row per parent, its costs) and ``fills.parquet``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        parents, fills = out / "parents.parquet", out / "fills.parquet"
        self.con.execute(f"COPY (SELECT * EXCLUDE (ist_day, half_hour) FROM parent_costs "
                         f"ORDER BY started_ts) TO {quote_path(parents)} (FORMAT parquet)")
        self.con.execute(f"COPY (SELECT * FROM fills ORDER BY ts) TO {quote_path(fills)} "
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
        ranked = scalar_int(self.con, "SELECT count(*) FROM parent_costs WHERE "
                            "coalesce(is_total_bps, arrival_slippage_bps) IS NOT NULL")
        # The costliest and the cheapest lists never share a parent: with fewer ranked
        # parents than twice ``outliers``, each list takes half (the costliest the odd one).
        worst_n = min(outliers, (ranked + 1) // 2)
        best_n = min(outliers, ranked - worst_n)
        return TcaFigures(
            journal=self.journal_stats(),
            parents=parents, parents_with_fills=with_fills,
            parents_with_shortfall=with_shortfall,
            total=total, by_side=by_side,
            worst=self.parent_costs(order="DESC", limit=worst_n),
            best=self.parent_costs(order="ASC", limit=best_n),
            ranked_parents=ranked,
            slippage=self.slippage_histogram(),
            markouts=markouts,
            breakdowns=self.breakdowns(),
            expected=self.expected_vs_realized(),
            operations=self.operations(),
            latency=self.latency(),
            notes=tuple(notes),
            data_quality=tuple(self.quality.lines()))

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
            bytes=files.total_bytes if files else 0, rows=self.quality.rows,
            first_ts=finite(row[1]), last_ts=finite(row[2]),
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
        """Parents by cost (shortfall bps, else arrival slippage bps), costliest first with
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
                ordered=int(r[7] or 0), filled=int(r[8] or 0), arrival_price=finite(r[9]),
                average_price=finite(r[10]), arrival_slippage_bps=finite(r[11]),
                expected_bps=finite(r[12]), shortfall=shortfall))
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
        count, mean, median = int(row[0]), finite(row[1]), finite(row[2])
        low, high = nice_range(float(row[3]), float(row[4]))
        width = (high - low) / bins
        found = dict(self.con.execute(
            "SELECT CAST(least(greatest(floor((arrival_slippage_bps - ?) / ?), -1), ?) "
            "AS INTEGER) AS b, count(*) FROM parent_costs "
            "WHERE arrival_slippage_bps IS NOT NULL GROUP BY b",
            [low, width, bins]).fetchall())
        # A value exactly at the top edge belongs to the last bin, not above it.
        top = scalar_int(
            self.con, f"SELECT count(*) FROM parent_costs WHERE arrival_slippage_bps = {high!r}")
        counts = [int(found.get(i, 0)) for i in range(bins)]
        counts[-1] += top
        return Histogram(edges=tuple(low + i * width for i in range(bins + 1)),
                         counts=tuple(counts), below=int(found.get(-1, 0)),
                         above=int(found.get(bins, 0)) - top, count=count, mean=mean,
                         median=median)

    def markouts(self) -> tuple[MarkoutPoint, ...]:
        """Mean markout by horizon, for fills that took liquidity and fills that rested
        (:data:`~.journal.LIQUIDITY`: from the child's price against the touch when it was
        sent, not the router's intent), quantity-weighted."""
        rows = self.con.execute(
            f"SELECT markout_s, coalesce({LIQUIDITY}, 'unknown') AS "
            "liquidity, count(*), sum(filled_quantity), "
            "sum(filled_quantity * markout_bps) / sum(filled_quantity) "
            "FROM journal WHERE event = 'markout' AND markout_bps IS NOT NULL "
            "AND markout_s IS NOT NULL AND filled_quantity > 0 "
            "GROUP BY ALL ORDER BY markout_s, liquidity").fetchall()
        return tuple(MarkoutPoint(float(r[0]), str(r[1]), int(r[2]), int(r[3]), float(r[4]))
                     for r in rows)

    def breakdowns(self) -> tuple[Breakdown, ...]:
        """Parents bucketed by mode, algorithm, ... symbol (:mod:`.breakdowns`)."""
        return breakdowns(self.con)

    def expected_vs_realized(self, max_points: int = 3000) -> ExpectedVsRealized:
        """The cost model against what was paid (:mod:`.expected`)."""
        return expected_vs_realized(self.con, max_points)

    def operations(self) -> Operations:
        """Attempts, retries, errors and final statuses (:mod:`.operations`)."""
        return operations(self.con)

    def latency(self) -> Latency:
        """Placement latency (:mod:`.operations`)."""
        return latency(self.con)

    def _notes(self, parents: int, with_shortfall: int,
               markouts: tuple[MarkoutPoint, ...]) -> list[str]:
        notes: list[str] = []
        modes = self.con.execute(
            "SELECT list(DISTINCT mode ORDER BY mode) FROM journal WHERE mode IS NOT NULL"
        ).fetchone()
        if modes is not None and modes[0] and len(modes[0]) > 1:
            notes.append(f"These journals mix modes ({', '.join(modes[0])}): every figure "
                         "adds simulated paper fills to real ones; --mode reads one.")
        notes.append("Expected against realized is a plain difference, not a z-score: the "
                     "rows carry no pre-trade risk figure to divide by.")
        unfinished = scalar_int(self.con,
                                "SELECT count(*) FROM parents WHERE final_status IS NULL")
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


__all__ = ["TcaQuery"]

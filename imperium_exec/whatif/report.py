"""The what-if in words and tables: the terminal text, an HTML section, a parquet table, and
which impact the replays used.

Every figure is a cost against the arrival price, positive = a cost (rupees, and bps of the
ordered value at the arrival price), fees apart as a cost of their own; "realized" is the
parent as it ran, each algorithm its replays' mean with their band (the 2.5th to 97.5th
percentile over seeds).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..costs.slippage import SlippageParams
from ..events import EventKind
from .replay import ALGORITHMS, BAND, AlgoOutcome, ParentWhatIf, WhatIfReport


def impact_for(rows: Iterable[Mapping[str, Any]], calibration: Path | None
               ) -> tuple[SlippageParams, str]:
    """The linear impact the replays add for their own fills, and where it came from: the
    calibration file when one is named, the paper exchange's own costs when every parent's
    estimates used them (``slippage_fit`` "broker" on paper rows), else none (the spread and
    the book walk only, said so)."""
    if calibration is not None:
        from ..calibration.slippage_fit import load_calibration
        return load_calibration(calibration), f"fitted impact from {calibration.name}"
    fits = {(row.get("mode"), row.get("slippage_fit")) for row in rows
            if row.get("event") == EventKind.ACCEPTED}
    if fits and fits <= {("paper", "broker")}:
        from ..sim.config import PaperConfig
        from ..sim.costs import paper_slippage_params
        return paper_slippage_params(PaperConfig()), "the paper exchange's own impact"
    return SlippageParams(), ("no fitted impact (give --calibration FILE): replays pay the "
                              "spread and the book walk only")


def _band_text() -> str:
    return f"{BAND[0]:g}th–{BAND[1]:g}th percentile"


def money(value: float) -> str:
    """Rupees with a sign, never "-0"."""
    if math.isnan(value):
        return "—"
    rounded = round(value)
    return f"{rounded:+,.0f}" if rounded != 0 else "0"


def bps(value: float) -> str:
    if math.isnan(value):
        return "—"
    rounded = round(value, 1)
    return f"{rounded:+.1f}" if rounded != 0 else "0.0"


def outcome_cells(p: ParentWhatIf, o: AlgoOutcome) -> tuple[str, str, str, str]:
    """(cost ₹, band ₹, cost bps, fees ₹) of one algorithm's replays, as text."""
    if not o.costs:
        return "—", o.problem or "not replayed", "—", "—"
    low, high = o.band
    return (money(o.mean), f"{money(low)} to {money(high)}",
            f"{bps(p.bps(o.mean))} ({bps(p.bps(low))} to {bps(p.bps(high))})",
            f"{o.mean_fees:,.0f}")


def _line(label: str, cost: str, band: str, in_bps: str, fees: str, mark: str = "") -> str:
    return f"  {label:<11}{cost:>10}  {band:<22}{in_bps:<32}{fees:>8}{mark}"


def render_what_if(report: WhatIfReport) -> str:
    """The terminal text: a block per parent, then the parents in all."""
    lines = [f"What-if: each finished parent replayed under every algorithm on the market its "
             f"journal recorded, {report.seeds} seeds; cost = shortfall against the arrival "
             f"price, positive = a cost, band = {_band_text()} over seeds; fees apart (a "
             f"cost too). Impact: {report.impact}."]
    header = _line("", "cost ₹", "band ₹", "bps (band)", "fees ₹")
    for p in report.parents:
        r = p.parent
        head = (f"{r.parent_id} {r.side.value} {r.quantity} {r.tradingsymbol} {r.algo} "
                f"{r.urgency}, {r.window_s:.0f} s window, arrival {r.arrival_price:,.2f}")
        if p.skipped is not None:
            lines.append(f"{head}: not replayed, too little of its market in the journal: "
                         f"{p.skipped}")
            continue
        lines.append(f"{head} ({p.observed} mids observed)")
        lines.append(header)
        lines.append(_line("realized", money(p.realized), "", bps(p.bps(p.realized)),
                           f"{r.fees:,.0f}"))
        for algo in ALGORITHMS:
            o = p.outcomes.get(algo)
            if o is not None:
                lines.append(_line(algo, *outcome_cells(p, o),
                                   mark=" (its own)" if algo == r.algo else ""))
    replayed = report.replayed
    skipped = len(report.parents) - len(replayed)
    if replayed:
        notional = report.notional_total

        def in_bps(rupees: float) -> str:
            return bps(rupees / notional * 1e4)

        lines.append(f"In all, {len(replayed)} parent(s) replayed ({skipped} not: too little "
                     f"market), ₹{notional:,.0f} at arrival:")
        lines.append(header)
        lines.append(_line("realized", money(report.realized_total), "",
                           in_bps(report.realized_total),
                           f"{sum(p.parent.fees for p in replayed):,.0f}"))
        for algo in ALGORITHMS:
            t = report.totals(algo)
            if t is None:
                continue
            low, high = t.band
            lines.append(_line(algo, money(t.mean), f"{money(low)} to {money(high)}",
                               f"{in_bps(t.mean)} ({in_bps(low)} to {in_bps(high)})",
                               f"{t.mean_fees:,.0f}"))
        checked = [x for x in (p.own_within_band() for p in replayed) if x is not None]
        if checked:
            lines.append(f"  check: {sum(checked)} of {len(checked)} parents' realized cost lies "
                         f"in the band of their own algorithm's replays")
    elif skipped:
        lines.append(f"No parent replayed: the journal holds too little of the market for all "
                     f"{skipped}.")
    return "\n".join(lines)


def render_what_if_html(report: WhatIfReport) -> str:
    """An HTML section (a table per replayed parent, one line per parent not replayed)."""
    e = html.escape
    out = [f"<section id='what-if'><h2>What-if: each parent under every algorithm</h2>"
           f"<p>Replayed on the market its journal recorded, {report.seeds} seeds; cost = "
           f"shortfall against the arrival price, positive = a cost; band = {_band_text()} "
           f"over seeds; fees apart. Impact: {e(report.impact)}.</p>"]
    replayed = report.replayed
    if replayed:
        notional = report.notional_total
        out.append(f"<h3>In all: {len(replayed)} parent(s) replayed, "
                   f"{len(report.parents) - len(replayed)} not (too little market), "
                   f"₹{notional:,.0f} at arrival</h3><table><tr><th></th><th>cost ₹</th>"
                   f"<th>band ₹</th><th>bps (band)</th><th>fees ₹</th></tr>")
        fees = sum(p.parent.fees for p in replayed)
        out.append(f"<tr><td>realized</td><td>{money(report.realized_total)}</td><td></td>"
                   f"<td>{bps(report.realized_total / notional * 1e4)}</td>"
                   f"<td>{fees:,.0f}</td></tr>")
        for algo in ALGORITHMS:
            t = report.totals(algo)
            if t is None:
                continue
            low, high = t.band
            out.append(f"<tr><td>{algo}</td><td>{money(t.mean)}</td><td>{money(low)} to "
                       f"{money(high)}</td><td>{bps(t.mean / notional * 1e4)} "
                       f"({bps(low / notional * 1e4)} to {bps(high / notional * 1e4)})</td>"
                       f"<td>{t.mean_fees:,.0f}</td></tr>")
        out.append("</table>")
    for p in report.parents:
        r = p.parent
        head = e(f"{r.parent_id} {r.side.value} {r.quantity} {r.tradingsymbol} {r.algo} "
                 f"{r.urgency}, {r.window_s:.0f} s window")
        if p.skipped is not None:
            out.append(f"<p><b>{head}</b>: not replayed, too little of its market in the "
                       f"journal: {e(p.skipped)}</p>")
            continue
        out.append(f"<h3>{head}</h3><table><tr><th></th><th>cost ₹</th><th>band ₹</th>"
                   f"<th>bps (band)</th><th>fees ₹</th></tr>")
        out.append(f"<tr><td>realized</td><td>{money(p.realized)}</td><td></td>"
                   f"<td>{bps(p.bps(p.realized))}</td><td>{r.fees:,.0f}</td></tr>")
        for algo in ALGORITHMS:
            o = p.outcomes.get(algo)
            if o is None:
                continue
            cells = "".join(f"<td>{e(c)}</td>" for c in outcome_cells(p, o))
            own = " (its own)" if algo == r.algo else ""
            out.append(f"<tr><td>{algo}{own}</td>{cells}</tr>")
        out.append("</table>")
    out.append("</section>")
    return "\n".join(out)


def what_if_rows(report: WhatIfReport) -> list[dict[str, object]]:
    """One row per parent and algorithm (and its realized line), for a table file;
    ``rested``: the replays' mean share of filled units that rested (none on the realized
    line)."""
    rows: list[dict[str, object]] = []
    for p in report.replayed:
        r = p.parent
        base = dict(parent_id=r.parent_id, tradingsymbol=r.tradingsymbol, side=r.side.value,
                    quantity=r.quantity, parent_algo=r.algo, arrival_price=r.arrival_price)
        rows.append(dict(base, algo="realized", cost=p.realized, cost_bps=p.bps(p.realized),
                         low=None, high=None, fees=r.fees, seeds=0, rested=None))
        for algo, o in p.outcomes.items():
            if not o.costs:
                continue
            low, high = o.band
            rows.append(dict(base, algo=algo, cost=o.mean, cost_bps=p.bps(o.mean), low=low,
                             high=high, fees=o.mean_fees, seeds=len(o.costs),
                             rested=o.rested_share))
    return rows


def write_what_if_parquet(report: WhatIfReport, directory: Path) -> Path:
    """``whatif.parquet`` in ``directory``: :func:`what_if_rows`."""
    import duckdb

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "whatif.parquet"
    columns = ("parent_id", "tradingsymbol", "side", "quantity", "parent_algo",
               "arrival_price", "algo", "cost", "cost_bps", "low", "high", "fees", "seeds",
               "rested")
    types = ("VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "DOUBLE", "VARCHAR",
             "DOUBLE", "DOUBLE", "DOUBLE", "DOUBLE", "DOUBLE", "BIGINT", "DOUBLE")
    with duckdb.connect() as db:
        db.execute("CREATE TABLE whatif (" + ", ".join(
            f"{c} {t}" for c, t in zip(columns, types, strict=True)) + ")")
        rows = what_if_rows(report)
        if rows:
            db.executemany(f"INSERT INTO whatif VALUES ({', '.join('?' * len(columns))})",
                           [[row[c] for c in columns] for row in rows])
        db.execute(f"COPY whatif TO '{path.as_posix()}' (FORMAT PARQUET)")
    return path


__all__ = ["bps", "impact_for", "money", "outcome_cells", "render_what_if",
           "render_what_if_html", "what_if_rows", "write_what_if_parquet"]

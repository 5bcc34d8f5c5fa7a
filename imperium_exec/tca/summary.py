"""The terminal summary: the report's headline figures in a few lines of text."""

from __future__ import annotations

import datetime as dt

from ..timeutil import IST
from .figures import IS_PART_TITLES, IS_PARTS, TcaFigures
from .scales import signed_text


def _bps(value: float | None) -> str:
    return "—" if value is None else f"{signed_text(value, 2, thousands=False)} bps"


def _day(ts: float | None) -> str:
    return "—" if ts is None else dt.datetime.fromtimestamp(ts, IST).strftime("%Y-%m-%d %H:%M")


def render_summary(f: TcaFigures, *, worst: int = 5) -> str:
    """Plain text, positive = cost."""
    j = f.journal
    lines = [f"TCA of {len(j.files)} journal file(s): {j.rows:,} rows, "
             f"{_day(j.first_ts)} to {_day(j.last_ts)} IST",
             f"parents: {f.parents:,} ({f.parents_with_fills:,} with fills, "
             f"{f.parents_with_shortfall:,} with shortfall parts); positive = cost"]
    lines.extend(f"data quality: {n}" for n in f.data_quality)
    t = f.total
    if t is not None:
        lines.append(f"implementation shortfall: ₹{t.total:,.0f} = {_bps(t.total_bps)} of "
                     f"₹{t.decision_value:,.0f} decision notional")
        lines.extend(f"  {IS_PART_TITLES[name]:<15} ₹{t.part(name):>14,.0f}  "
                     f"{_bps(t.bps(t.part(name)))}" for name in IS_PARTS)
    if f.slippage is not None:
        lines.append(f"arrival slippage per parent: median {_bps(f.slippage.median)}, "
                     f"mean {_bps(f.slippage.mean)}")
    e = f.expected
    if e.fills:
        lines.append(f"expected vs realized on {e.fills:,} fills: {_bps(e.expected_bps)} vs "
                     f"{_bps(e.realized_bps)} (at send {_bps(e.expected_at_send_bps)} vs "
                     f"{_bps(e.realized_at_send_bps)})")
        if e.z_parents and e.z_mean is not None:
            sd = f"{e.z_sd:.2f}" if e.z_sd is not None else "-"
            share = f"{100 * e.z_beyond_2:.1f} %" if e.z_beyond_2 is not None else "-"
            lines.append(f"  z (realized - expected over timing risk) on {e.z_parents:,} "
                         f"parents: mean {signed_text(e.z_mean, 2)}, sd {sd}, beyond ±2: {share}")
    if f.markouts:
        by_horizon: dict[float, tuple[float, int]] = {}
        for p in f.markouts:
            total, units = by_horizon.get(p.horizon_s, (0.0, 0))
            by_horizon[p.horizon_s] = (total + p.mean_bps * p.units, units + p.units)
        lines.append("markouts: " + ", ".join(
            f"{h:g} s {_bps(total / units if units else None)}"
            for h, (total, units) in sorted(by_horizon.items())))
    ops, lat = f.operations, f.latency
    if ops.attempts:
        lines.append(f"attempts: {ops.attempts:,}; retries {sum(ops.retries.values()):,}, "
                     f"errors {sum(ops.errors.values()):,}, rejections "
                     f"{sum(ops.rejections.values()):,}")
    if lat.placements:
        lines.append(f"placement latency: p50 {lat.p50_ms:.1f} ms, p95 {lat.p95_ms:.1f} ms, "
                     f"p99 {lat.p99_ms:.1f} ms")
    for parent in f.worst[:worst]:
        sf = parent.shortfall
        cost = sf.total_bps if sf is not None else parent.arrival_slippage_bps
        what = "shortfall" if sf is not None else "arrival slippage"
        algo = f" ({parent.algo})" if parent.algo else ""
        lines.append(f"  costliest: {parent.parent_id} {parent.tradingsymbol} {parent.side}"
                     f"{algo}: {what} {_bps(cost)}")
    return "\n".join(lines)


__all__ = ["render_summary"]

"""The HTML report: one self-contained file (inline CSS and SVG, no scripts, nothing fetched),
made from :class:`~.figures.TcaFigures`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from html import escape

from ..timeutil import IST
from . import svg
from .expected import MIN_MOVES_FOR_VOLATILITY
from .figures import (
    IS_PART_TITLES,
    IS_PARTS,
    Breakdown,
    MarkoutPoint,
    ParentCost,
    ShortfallParts,
    TcaFigures,
)
from .scales import signed_text

_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px auto; max-width: 1180px;
       color: #22272c; background: #f6f7f9; font-size: 14px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 34px;
     border-bottom: 1px solid #d5d9de; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #5b6470; font-size: 12px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.tile { background: white; border: 1px solid #dde1e5; border-radius: 6px; padding: 8px 14px;
        min-width: 150px; }
.tile .v { font-size: 20px; font-weight: bold; } .tile .k { font-size: 11px; color: #5b6470; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.charts svg { border: 1px solid #dde1e5; border-radius: 4px; }
table { border-collapse: collapse; background: white; margin: 8px 0; font-size: 12.5px; }
th, td { border: 1px solid #dde1e5; padding: 3px 8px; text-align: right; }
th { background: #eef0f3; } td.t, th.t { text-align: left; }
.cost { color: #c0392b; } .saving { color: #1e8449; } .none { color: #9aa3ab; }
.note { color: #5b6470; font-size: 12px; } ul.notes li { margin: 3px 0; }
"""


def _ist(ts: float | None) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(ts, IST).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: float | None, digits: int = 1, *, signed: bool = True) -> str:
    """A figure coloured by its sign (positive = cost, red)."""
    if value is None:
        return '<span class="none">—</span>'
    if round(value, digits) == 0:
        value = 0.0  # no "-0.00": what rounds to nothing is neither a cost nor a saving
    text = signed_text(value, digits) if signed else _plain(value, digits)
    css = "cost" if value > 0 else "saving" if value < 0 else ""
    return f'<span class="{css}">{text}</span>' if css and signed else text


def _plain(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{0.0 if round(value, digits) == 0 else value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, text_columns: int = 1) -> str:
    def cell(tag: str, i: int, value: str) -> str:
        css = ' class="t"' if i < text_columns else ""
        return f"<{tag}{css}>{value}</{tag}>"
    out = ["<table><tr>" + "".join(cell("th", i, escape(h)) for i, h in enumerate(head))
           + "</tr>"]
    out.extend("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
               for row in rows)
    return "".join(out) + "</table>"


def _tile(label: str, value: str) -> str:
    return (f'<div class="tile"><div class="v">{value}</div>'
            f'<div class="k">{escape(label)}</div></div>')


#: The parts' names where a chart is narrow.
_SHORT_TITLES = {"delay": "Delay", "spread": "Spread", "drift": "Drift",
                 "opportunity": "Opport.", "fees": "Fees"}


def _waterfall_steps(parts: ShortfallParts, *, bps: bool,
                     short: bool = False) -> list[tuple[str, float]]:
    titles = _SHORT_TITLES if short else IS_PART_TITLES
    return [(titles[name], (parts.bps(parts.part(name)) or 0.0) if bps
             else parts.part(name)) for name in IS_PARTS]


def render_report(figures: TcaFigures, *, title: str = "Execution quality: TCA",
                  waterfalls: int = 6) -> str:
    """The whole HTML page."""
    f = figures
    body: list[str] = [f"<h1>{escape(title)}</h1>", _header(f), _tiles(f)]
    body += _shortfall_section(f)
    body += _slippage_section(f)
    body += _markout_section(f.markouts)
    body += _expected_section(f)
    body += _breakdown_section(f.breakdowns)
    body += _operations_section(f)
    body += _outlier_section(f, waterfalls)
    body += _data_quality_section(f)
    body += _notes_section(f)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def _header(f: TcaFigures) -> str:
    j = f.journal
    files = ", ".join(escape(p) for p in j.files[:5])
    if len(j.files) > 5:
        files += f" and {len(j.files) - 5} more"
    versions = ", ".join(f"v{v}: {n:,}" for v, n in sorted(j.versions.items()))
    generated = dt.datetime.now(IST).strftime("%Y-%m-%d %H:%M IST")
    return (f'<p class="meta">{len(j.files)} journal file(s), {j.bytes / 1e6:,.1f} MB, '
            f"{j.rows:,} rows ({versions}); mode: {escape(', '.join(j.modes) or '—')}; "
            f"from {_ist(j.first_ts)} to {_ist(j.last_ts)} IST. Generated {generated}.<br>"
            f"Files: {files}<br>Positive = a cost, negative = a saving, for buys and sells "
            "alike; bps of the decision notional (ordered quantity × decision price) for "
            "the shortfall, of the arrival price for slippage.</p>")


def _tiles(f: TcaFigures) -> str:
    total = f.total
    ops = f.operations
    tiles = [
        _tile("parents", f"{f.parents:,}"),
        _tile("parents with fills", f"{f.parents_with_fills:,}"),
        _tile("implementation shortfall, bps", _num(total.total_bps if total else None)),
        _tile("implementation shortfall, ₹", _num(total.total if total else None, 0)),
        _tile("arrival slippage per parent, median bps",
              _num(f.slippage.median if f.slippage else None)),
        _tile("expected → realized, bps (fills)",
              f"{_num(f.expected.expected_bps)} → {_num(f.expected.realized_bps)}"),
        _tile("retries per 100 attempts",
              _plain(100 * sum(ops.retries.values()) / ops.attempts if ops.attempts else None)),
        _tile("placement latency p50 / p95, ms",
              f"{_plain(f.latency.p50_ms)} / {_plain(f.latency.p95_ms)}"),
    ]
    return '<div class="tiles">' + "".join(tiles) + "</div>"


def _shortfall_section(f: TcaFigures) -> list[str]:
    out = ["<h2>Implementation shortfall</h2>"]
    if f.total is None:
        return [*out, '<p class="note">No parent in these journals carries the shortfall '
                      "parts (finished rows of schema v3).</p>"]
    total = f.total
    out.append(
        f'<p class="note">{f.parents_with_shortfall:,} finished parent(s) with the parts, '
        f"decision notional ₹{total.decision_value:,.0f}. Delay: decision to arrival on the "
        "filled quantity; spread: fills against the mid their child was priced from; drift "
        "/ impact: those mids against arrival (the market and our own fills); opportunity: "
        "the unfilled quantity to the mid at the end; fees: brokerage, STT, exchange, SEBI, "
        "stamp duty, GST.</p>")
    out.append('<div class="charts">'
               + svg.waterfall(_waterfall_steps(total, bps=False),
                               title="All parents: shortfall by part", unit="₹ (rupees)")
               + svg.waterfall(_waterfall_steps(total, bps=True),
                               title="All parents: shortfall by part", unit="bps")
               + "</div>")
    rows = []
    for name, parts in [("all", total), *sorted(f.by_side.items())]:
        rows.append([escape(name)] + [
            f"{_num(parts.part(p), 0)}<br>{_num(parts.bps(parts.part(p)), 2)}"
            for p in IS_PARTS] + [f"{_num(parts.total, 0)}<br>{_num(parts.total_bps, 2)}",
                                  f"{parts.decision_value:,.0f}"])
    out.append(_table(["parents", *(IS_PART_TITLES[p] for p in IS_PARTS), "Total",
                       "decision notional ₹"], rows))
    out.append('<p class="note">Each cell: ₹ above, bps of the decision notional below.</p>')
    return out


def _slippage_section(f: TcaFigures) -> list[str]:
    out = ["<h2>Arrival slippage per parent</h2>"]
    h = f.slippage
    if h is None:
        return [*out, '<p class="note">No parent with fills and an arrival price.</p>']
    out.append(f'<p class="note">s × (average fill − arrival mid) / arrival mid, in bps, one '
               f"value per parent with fills ({h.count:,}); mean {_num(h.mean, 2)}, median "
               f"{_num(h.median, 2)} bps. Bins cover the 1st to 99th percentile: "
               f"{h.below:,} below and {h.above:,} above are not drawn.</p>")
    out.append('<div class="charts">' + svg.histogram(
        h.edges, h.counts, title="Arrival slippage per parent",
        x_label="arrival slippage, bps (positive = cost)", mark=h.median,
        mark_label=f"median {signed_text(h.median, 1)}" if h.median is not None else "") + "</div>")
    return out


def _markout_section(points: Sequence[MarkoutPoint]) -> list[str]:
    out = ["<h2>Markouts</h2>"]
    if not points:
        return [*out, '<p class="note">No markout rows in these journals.</p>']
    horizons = sorted({p.horizon_s for p in points})
    by = {(p.horizon_s, p.liquidity): p for p in points}
    series: list[tuple[str, list[float | None]]] = []
    overall: list[float | None] = []
    for h in horizons:
        at = [p for p in points if p.horizon_s == h]
        units = sum(p.units for p in at)
        overall.append(sum(p.mean_bps * p.units for p in at) / units if units else None)
    series.append(("all fills", overall))
    for liquidity in ("taking", "resting", "unknown"):
        if any(k[1] == liquidity for k in by):
            series.append((liquidity, [by[(h, liquidity)].mean_bps if (h, liquidity) in by
                                       else None for h in horizons]))
    out.append('<p class="note">s × (fill − mid h seconds later) / fill, bps, '
               "quantity-weighted: positive = the market moved against the fill (a cost; "
               "resting fills that keep costing were picked off). Taking: the child's price "
               "was at or through the far touch when it was sent (or it was a MARKET order); "
               "resting: it was not, whatever the router meant (a take capped at the parent's "
               "limit rests).</p>")
    out.append('<div class="charts">' + svg.line_chart(
        [f"{h:g} s" for h in horizons], series, title="Mean markout by horizon",
        x_label="seconds after the fill", y_label="bps (positive = cost)") + "</div>")
    rows = [[f"{p.horizon_s:g} s", escape(p.liquidity), f"{p.fills:,}", f"{p.units:,}",
             _num(p.mean_bps, 2)] for p in points]
    out.append(_table(["horizon", "liquidity", "fills", "units", "mean bps"], rows,
                      text_columns=2))
    return out


def _expected_section(f: TcaFigures) -> list[str]:
    e = f.expected
    out = ["<h2>Expected against realized</h2>"]
    if not e.fills:
        return [*out, '<p class="note">No fill carries a pre-trade estimate.</p>']
    out.append(f'<p class="note">On the same {e.fills:,} fills (quantity-weighted, bps of '
               "arrival): the estimate each fill's child was sent with, and what the fill "
               "cost. At send: the estimate less the earlier fills' impact already in the mid "
               "(prior_impact), against the fill's cost from that mid; the mid's move from "
               "arrival is the rest.</p>")
    rows = [["whole (against arrival)", _num(e.expected_bps, 2), _num(e.realized_bps, 2),
             _num(None if e.expected_bps is None or e.realized_bps is None
                  else e.realized_bps - e.expected_bps, 2)],
            ["at send (against the child's mid)", _num(e.expected_at_send_bps, 2),
             _num(e.realized_at_send_bps, 2),
             _num(None if e.expected_at_send_bps is None or e.realized_at_send_bps is None
                  else e.realized_at_send_bps - e.expected_at_send_bps, 2)],
            ["mid's move from arrival", "", _num(e.mid_move_bps, 2), ""]]
    out.append(_table(["", "expected bps", "realized bps", "realized − expected"], rows))
    if e.z_parents:
        z_text = (f" In units of each parent's timing risk (the premium's volatility over its "
                  f"life, estimated per underlying from the journal's own mids, for a linear "
                  f"schedule), z on {e.z_parents:,} parents has mean {_plain(e.z_mean, 2)} "
                  f"and standard deviation {_plain(e.z_sd, 2)}, "
                  f"{_plain(None if e.z_beyond_2 is None else 100 * e.z_beyond_2, 1)} % "
                  "beyond ±2: an honest estimate gives about 0, 1 and 5 %.")
    else:
        z_text = (" No z-scores: too few mid moves to estimate the premium's volatility "
                  f"(at least {MIN_MOVES_FOR_VOLATILITY} fills per underlying).")
    out.append(f'<p class="note">Per parent ({e.parents:,}): realized − expected mean '
               f"{_num(e.difference_mean_bps, 2)} bps, standard deviation "
               f"{_plain(e.difference_sd_bps, 2)} bps.{z_text}</p>")
    if e.points:
        sample = f" (a sample of {len(e.points):,})" if len(e.points) < e.parents else ""
        out.append('<div class="charts">' + svg.scatter(
            e.points, title=f"Per parent: expected and realized{sample}",
            x_label="expected, bps of arrival", y_label="realized, bps of arrival")
            + "</div>")
    return out


def _breakdown_section(breakdowns: Sequence[Breakdown]) -> list[str]:
    out = ["<h2>Breakdowns</h2>",
           '<p class="note">IS: shortfall over decision notional (parents with the parts); '
           "arrival: the fills' cost against arrival over their arrival value; expected: "
           "the fills' estimates; all bps, positive = cost.</p>"]
    for b in breakdowns:
        if not b.rows:
            continue
        name = b.dimension[0].lower() + b.dimension[1:]
        out.append(f"<h3>By {escape(name)}</h3>")
        if b.note:
            out.append(f'<p class="note">{escape(b.note)}</p>')
        rows = [[escape(r.key), f"{r.parents:,}", f"{r.decision_value:,.0f}", _pct(r.fill_rate),
                 _num(r.shortfall_bps, 2), _num(r.spread_bps, 2), _num(r.arrival_bps, 2),
                 _num(r.expected_bps, 2)] for r in b.rows]
        use_is = any(r.shortfall_bps is not None for r in b.rows)
        chart = svg.bar_rows(
            [(r.key, r.shortfall_bps if use_is else r.arrival_bps) for r in b.rows],
            title=f"{'Shortfall' if use_is else 'Arrival slippage'} by {name}",
            unit="bps (positive = cost)")
        out.append('<div class="charts">' + _table(
            [b.dimension, "parents", "notional ₹", "filled", "shortfall bps", "spread bps",
             "arrival bps", "expected bps"], rows) + chart + "</div>")
    return out


def _operations_section(f: TcaFigures) -> list[str]:
    ops, lat = f.operations, f.latency
    out = ["<h2>Errors, retries and latency</h2>"]
    out.append(f'<p class="note">{ops.parents:,} parents, {ops.children:,} children, '
               f"{ops.attempts:,} placement attempts (distinct order tags), "
               f"{ops.placements:,} orders placed.</p>")
    buckets = sorted(set(ops.retries) | set(ops.errors) | set(ops.rejections))
    if buckets:
        def rate(n: int) -> str:
            return f"{n:,} ({100 * n / ops.attempts:.2f} %)" if ops.attempts else f"{n:,}"
        rows = [[escape(b), rate(ops.retries.get(b, 0)), rate(ops.errors.get(b, 0)),
                 rate(ops.rejections.get(b, 0))] for b in buckets]
        out.append(_table(["error bucket", "retries", "errors (child ended)", "rejections"],
                          rows))
        out.append('<p class="note">Counts, and per 100 placement attempts.</p>')
    else:
        out.append('<p class="note">No retries, errors or rejections.</p>')
    out.append(_table(["parent status", "parents"],
                      [[escape(k), f"{v:,}"] for k, v in ops.parent_status.items()]))
    if lat.placements:
        out.append(f'<p class="note">Placement round trip ({lat.placements:,} placements): '
                   f"p50 {_plain(lat.p50_ms)} ms, p95 {_plain(lat.p95_ms)} ms, p99 "
                   f"{_plain(lat.p99_ms)} ms, max {_plain(lat.max_ms)} ms.</p>")
        out.append('<div class="charts">' + svg.columns(
            [label for label, _ in lat.histogram], [n for _, n in lat.histogram],
            title="Placement latency", x_label="broker round trip",
            y_label="placements") + "</div>")
    else:
        out.append('<p class="note">No placement latency in these rows.</p>')
    return out


def _parent_rows(parents: Sequence[ParentCost]) -> list[list[str]]:
    rows = []
    for p in parents:
        s = p.shortfall
        rows.append([escape(p.parent_id), escape(p.tradingsymbol), escape(p.side),
                     escape(p.algo or "—"), escape(p.status or "no finished row"),
                     _ist(p.started_ts), f"{p.filled:,} / {p.ordered:,}",
                     _num(p.arrival_slippage_bps, 2), _num(p.expected_bps, 2)]
                    + ([_num(s.bps(s.part(n)), 2) for n in IS_PARTS]
                       + [_num(s.total_bps, 2), _num(s.total, 0)] if s is not None
                       else ['<span class="none">—</span>'] * (len(IS_PARTS) + 2)))
    return rows


def _outlier_section(f: TcaFigures, waterfalls: int) -> list[str]:
    out = ["<h2>Outliers</h2>"]
    if not f.worst:
        return [*out, '<p class="note">No parent with a cost to rank.</p>']
    head = ["parent", "symbol", "side", "algo", "status", "started (IST)", "filled",
            "arrival bps", "expected bps", *(f"{IS_PART_TITLES[n]} bps" for n in IS_PARTS),
            "shortfall bps", "shortfall ₹"]
    split = (f" With {f.ranked_parents:,} parents to rank, the two lists split them: "
             f"{len(f.worst)} and {len(f.best)}, none in both."
             if len(f.worst) + len(f.best) >= f.ranked_parents else "")
    out.append(f'<h3>The {len(f.worst)} costliest parents</h3><p class="note">Ranked by '
               "shortfall in bps of decision notional (arrival slippage where a parent has "
               f"no shortfall parts).{split}</p>")
    out.append(_table(head, _parent_rows(f.worst), text_columns=6))
    charts = [svg.waterfall(_waterfall_steps(p.shortfall, bps=True, short=True),
                            title=f"{p.parent_id} {p.tradingsymbol} {p.side}", unit="bps",
                            width=380, height=250)
              for p in f.worst[:waterfalls] if p.shortfall is not None]
    if charts:
        out.append("<h3>Their waterfalls</h3><div class=\"charts\">" + "".join(charts)
                   + "</div>")
    if f.best:
        out.append(f"<h3>The {len(f.best)} cheapest parents</h3>")
        out.append(_table(head, _parent_rows(f.best), text_columns=6))
    return out


def _data_quality_section(f: TcaFigures) -> list[str]:
    out = ["<h2>Data quality</h2>"]
    if not f.data_quality:
        return [*out, '<p class="note">Every row fit the event schema, and none was seen '
                "twice.</p>"]
    return [*out, '<p class="note">Rows that do not fit the event schema are left out, with '
            "the parent they belong to (so no parent counts short); rows seen twice are read "
            "once.</p><ul class=\"notes\">"
            + "".join(f"<li>{escape(n)}</li>" for n in f.data_quality) + "</ul>"]


def _notes_section(f: TcaFigures) -> list[str]:
    if not f.notes:
        return []
    return ["<h2>Notes</h2><ul class=\"notes\">"
            + "".join(f"<li>{escape(n)}</li>" for n in f.notes) + "</ul>"]


__all__ = ["render_report"]

"""The breakdowns of the report: parents bucketed by mode, algorithm, urgency, side, underlying,
option type, moneyness, days to expiry, time of day, order size and symbol, with their costs.

Each bucket's key is a SQL expression over ``parent_costs`` (:mod:`.journal`).
"""

from __future__ import annotations

import duckdb

from .figures import Breakdown, BreakdownRow
from .sql import finite, scalar_int

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
#: A parent's moneyness bucket, as SQL over ``parent_costs``.
MONEYNESS_KEY = f"""CASE WHEN moneyness_pct IS NULL THEN '{MONEYNESS_BUCKETS[6]}'
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
    ("Moneyness", MONEYNESS_KEY, "min(coalesce(moneyness_pct, 1e9))",
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


def breakdowns(con: duckdb.DuckDBPyConnection) -> tuple[Breakdown, ...]:
    """Every breakdown, in the report's order, at most 20 rows each (the note says so)."""
    out: list[Breakdown] = []
    for title, key, sort, note in _BREAKDOWNS:
        distinct = scalar_int(con, f"SELECT count(DISTINCT {key}) FROM parent_costs")
        rows = con.execute(
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
                         shortfall_bps=finite(r[5]), arrival_bps=finite(r[6]),
                         expected_bps=finite(r[7]), spread_bps=finite(r[8]))
            for r in rows), note))
    return tuple(out)

"""Expected cost against realized: the cost model's check, per fill, per parent and as
z-scores of each parent's difference in units of its timing risk.
"""

from __future__ import annotations

import duckdb

from .figures import ExpectedVsRealized
from .sql import finite

#: Below this many mid moves an underlying's volatility is not estimated (no z-scores).
MIN_MOVES_FOR_VOLATILITY = 20

#: Per parent, realized against expected in units of its timing risk (Kissell's validation:
#: z should be about N(0, 1)). The risk is the premium's volatility over the parent's life
#: for a linear schedule, sqrt(sigma^2 * T / 3) bps, T from its first row to its final row (at
#: least 1 s). sigma^2 (bps^2 a second) is estimated per underlying from the journal itself:
#: each fill's mid at send against its parent's arrival price, over the seconds from arrival
#: to that send (its child's last placement or re-price in place: a resting child's fill comes
#: later)
#: (a random walk's variance grows with time; our own earlier fills' impact is in those mids
#: too, which makes the risk a little larger and z a little smaller).
_Z_SCORES = f"""
WITH sends AS (
    SELECT child_id, max(ts) AS sent_ts FROM journal
    WHERE event IN ('placed', 'modified') AND child_id IS NOT NULL GROUP BY child_id
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


def expected_vs_realized(con: duckdb.DuckDBPyConnection,
                         max_points: int = 3000) -> ExpectedVsRealized:
    """Expected against realized, fill-weighted and per parent, with at most ``max_points``
    parents to plot (a sample beyond) and the z-scores."""
    row = con.execute(
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
    per_parent = con.execute(
        "SELECT count(*), avg(arrival_slippage_bps - expected_bps), "
        "stddev_samp(arrival_slippage_bps - expected_bps) FROM parent_costs "
        "WHERE expected_bps IS NOT NULL AND arrival_slippage_bps IS NOT NULL").fetchone()
    assert per_parent is not None
    n = int(per_parent[0])
    sample = f"USING SAMPLE {max_points} ROWS" if n > max_points else ""
    points = con.execute(
        "SELECT expected_bps, arrival_slippage_bps FROM (SELECT * FROM parent_costs "
        "WHERE expected_bps IS NOT NULL AND arrival_slippage_bps IS NOT NULL) "
        f"{sample}").fetchall()
    z = con.execute(
        f"SELECT count(*), avg(z), stddev_samp(z), avg(CAST(abs(z) > 2 AS DOUBLE)) "
        f"FROM ({_Z_SCORES})").fetchone()
    assert z is not None
    return ExpectedVsRealized(
        fills=int(row[0]), expected_bps=finite(row[1]), realized_bps=finite(row[2]),
        expected_at_send_bps=finite(row[3]), realized_at_send_bps=finite(row[4]),
        mid_move_bps=finite(row[5]), parents=n, difference_mean_bps=finite(per_parent[1]),
        difference_sd_bps=finite(per_parent[2]),
        points=tuple((float(e), float(r)) for e, r in points),
        z_parents=int(z[0]), z_mean=finite(z[1]), z_sd=finite(z[2]),
        z_beyond_2=finite(z[3]))

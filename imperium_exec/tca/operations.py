"""How the desk operated, from the journal: parents, children, attempts, placements, retries,
errors and rejections by bucket, final statuses, and placement latency.
"""

from __future__ import annotations

import itertools

import duckdb

from .figures import Latency, Operations
from .sql import finite

#: Placement latency histogram edges, milliseconds.
LATENCY_EDGES_MS: tuple[float, ...] = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000,
                                       5000)


def operations(con: duckdb.DuckDBPyConnection) -> Operations:
    """Counts of parents, children, attempts and placements; retries, errors and
    rejections by bucket; parents by final status."""
    row = con.execute(
        "SELECT count(DISTINCT parent_id) FILTER (parent_id <> ''), "
        "count(DISTINCT child_id), count(DISTINCT tag), "
        "count(*) FILTER (event = 'placed') FROM journal").fetchone()
    assert row is not None
    buckets: dict[str, dict[str, int]] = {"retry": {}, "error": {}, "rejected": {}}
    for event, bucket, n in con.execute(
            "SELECT event, coalesce(error_bucket, 'unclassified'), count(*) FROM journal "
            "WHERE event IN ('retry', 'error', 'rejected') GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        buckets[event][bucket] = int(n)
    status = dict(con.execute(
        "SELECT coalesce(final_status, 'no finished row'), count(*) FROM parents "
        "GROUP BY ALL ORDER BY 2 DESC").fetchall())
    # Rows before v had no parent_id or tag: count their placements as attempts.
    attempts = max(int(row[2]), int(row[3]))
    return Operations(parents=int(row[0]), children=int(row[1]), attempts=attempts,
                      placements=int(row[3]), retries=buckets["retry"],
                      errors=buckets["error"], rejections=buckets["rejected"],
                      parent_status={str(k): int(v) for k, v in status.items()})


def latency(con: duckdb.DuckDBPyConnection) -> Latency:
    """Placement latency: its quantiles and a histogram over :data:`LATENCY_EDGES_MS`."""
    row = con.execute(
        "SELECT count(latency_ms), quantile_cont(latency_ms, [0.5, 0.95, 0.99]), "
        "max(latency_ms) FROM journal WHERE event = 'placed' AND latency_ms IS NOT NULL"
    ).fetchone()
    assert row is not None
    count = int(row[0])
    quantiles = [finite(q) for q in row[1]] if count else [None, None, None]
    edges = LATENCY_EDGES_MS
    cases = " ".join(f"WHEN latency_ms < {hi!r} THEN {i}"
                     for i, hi in enumerate(edges[1:]))
    found = dict(con.execute(
        f"SELECT CASE {cases} ELSE {len(edges) - 1} END AS b, count(*) FROM journal "
        "WHERE event = 'placed' AND latency_ms IS NOT NULL GROUP BY b").fetchall())
    labels = [f"{_ms(lo)}–{_ms(hi)}" for lo, hi in itertools.pairwise(edges)]
    labels.append(f"≥ {_ms(edges[-1])}")
    return Latency(placements=count, p50_ms=quantiles[0], p95_ms=quantiles[1],
                   p99_ms=quantiles[2], max_ms=finite(row[2]),
                   histogram=tuple((label, int(found.get(i, 0)))
                                   for i, label in enumerate(labels)))


def _ms(value: float) -> str:
    """A latency edge as a label: ms below a second, s from there."""
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"

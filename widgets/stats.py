"""ExecutionStats: the figures behind the dock's tiles and charts, updated batch by batch.

Qt-free and vectorised over :class:`~.rowstore.ColumnBatch`, so a million-row journal adds up in
milliseconds per chunk. Every figure covers every row seen since the last reset (the blotter
may keep fewer rows than that).

Definitions (the tiles' tooltips repeat them):

- *children placed*: ``placed`` events (a child found in the order book after an ambiguous error
  gets a ``reconciled`` row and then its ``placed`` row: it counts once);
- *fill rate*: quantity filled / quantity placed;
- *errors by bucket*: terminal ``error`` and ``rejected`` events per error bucket; *retries*:
  ``retry`` events;
- *latency*: the broker round trip of placements, p50 and p95;
- *expected vs realized slippage*: quantity-weighted means in basis points of the arrival price,
  expected = the pre-trade cost estimate of each placed child, realized = each fill against the
  arrival price. Positive is a cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..events import ErrorBucket, EventKind
from .rowstore import ColumnBatch

FloatArray = npt.NDArray[np.float64]

#: Retry buckets in display order (RetryPolicy's classification).
BUCKETS: tuple[str, ...] = tuple(ErrorBucket)
#: Latency histogram: log-spaced bins from 0.1 ms to 100 s, ten per decade.
LATENCY_EDGES_MS: FloatArray = np.logspace(-1, 5, 61)


@dataclass(frozen=True, slots=True)
class TileFigures:
    children_placed: int
    placed_quantity: int
    filled_quantity: int
    fill_rate: float | None  # 0..1, None before anything was placed
    errors_by_bucket: dict[str, int]
    retries: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    expected_bps: float | None
    realized_bps: float | None

    @property
    def errors(self) -> int:
        return sum(self.errors_by_bucket.values())


class _Growable:
    """An append-only float array (amortised doubling)."""

    def __init__(self) -> None:
        self._data = np.empty(1024, np.float64)
        self.size = 0

    def extend(self, values: FloatArray) -> None:
        need = self.size + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data)), np.float64)
            grown[:self.size] = self._data[:self.size]
            self._data = grown
        self._data[self.size:need] = values
        self.size = need

    @property
    def values(self) -> FloatArray:
        return self._data[:self.size]


class _Ring:
    """The last ``capacity`` points of a time series (for the slippage chart)."""

    def __init__(self, capacity: int, width: int) -> None:
        self._data = np.empty((capacity, width), np.float64)
        self._capacity = capacity
        self._next = 0
        self._full = False

    def extend(self, points: FloatArray) -> None:
        for start in range(0, len(points), self._capacity):
            chunk = points[start:start + self._capacity]
            end = self._next + len(chunk)
            if end <= self._capacity:
                self._data[self._next:end] = chunk
            else:
                first = self._capacity - self._next
                self._data[self._next:] = chunk[:first]
                self._data[:end - self._capacity] = chunk[first:]
            self._full = self._full or end >= self._capacity
            self._next = end % self._capacity

    def array(self) -> FloatArray:
        if not self._full:
            return self._data[:self._next].copy()
        return np.concatenate([self._data[self._next:], self._data[:self._next]])


@dataclass
class SlippageSeries:
    """Points for the slippage-over-time chart: (ts, bps, running quantity-weighted mean)."""

    expected: FloatArray = field(default_factory=lambda: np.empty((0, 3)))
    realized: FloatArray = field(default_factory=lambda: np.empty((0, 3)))


class ExecutionStats:
    """Running execution-quality figures over every child event added."""

    def __init__(self, series_points: int = 2000) -> None:
        self._series_points = series_points
        self.reset()

    def reset(self) -> None:
        self.children_placed = 0
        self.placed_quantity = 0.0
        self.filled_quantity = 0.0
        self.errors_by_bucket: dict[str, int] = dict.fromkeys(BUCKETS, 0)
        self.retries_by_bucket: dict[str, int] = dict.fromkeys(BUCKETS, 0)
        self.latency_counts = np.zeros(len(LATENCY_EDGES_MS) - 1, np.int64)
        self._latencies = _Growable()
        self._percentiles: tuple[float | None, float | None] | None = None
        self._expected_sum = 0.0
        self._expected_weight = 0.0
        self._realized_sum = 0.0
        self._realized_weight = 0.0
        self._expected = _Ring(self._series_points, 3)
        self._realized = _Ring(self._series_points, 3)
        self.version = 0  # bumped by every add() that changed something

    # ---- input
    def add(self, batch: ColumnBatch) -> None:
        if batch.size == 0:
            return
        self.version += 1
        nums = batch.numbers
        # A child found by reconciling gets a reconciled row, then its placed row: only the
        # placed row counts (Event.counts_as_placement).
        placed = batch.where("event", EventKind.PLACED)
        qty = np.nan_to_num(nums["quantity"])
        self.children_placed += int(placed.sum())
        self.placed_quantity += float(qty[placed].sum())

        latency = nums["latency_ms"][placed]
        latency = latency[~np.isnan(latency)]
        if len(latency):
            self._latencies.extend(latency)
            clipped = np.clip(latency, LATENCY_EDGES_MS[0], LATENCY_EDGES_MS[-1] * 0.999)
            self.latency_counts += np.histogram(clipped, LATENCY_EDGES_MS)[0]
            self._percentiles = None

        self._bucket_counts(batch, (EventKind.ERROR, EventKind.REJECTED), self.errors_by_bucket)
        self._bucket_counts(batch, (EventKind.RETRY,), self.retries_by_bucket)

        expected = nums["expected_cost_bps"]
        have = placed & ~np.isnan(expected)
        if have.any():
            self._expected_sum, self._expected_weight = self._series(
                self._expected, nums["ts"][have], expected[have], qty[have],
                self._expected_sum, self._expected_weight)

        filled = batch.where("event", EventKind.FILLED)
        fill_qty = np.nan_to_num(nums["filled_quantity"])
        self.filled_quantity += float(fill_qty[filled].sum())
        realized = nums["realized_slippage_bps"]
        have = filled & ~np.isnan(realized) & (fill_qty > 0)
        if have.any():
            self._realized_sum, self._realized_weight = self._series(
                self._realized, nums["ts"][have], realized[have], fill_qty[have],
                self._realized_sum, self._realized_weight)

    @staticmethod
    def _bucket_counts(batch: ColumnBatch, events: tuple[str, ...],
                       counts: dict[str, int]) -> None:
        mask = batch.where("event", *events)
        if not mask.any():
            return
        buckets = batch.codes["error_bucket"][mask]
        table = batch.tables["error_bucket"]
        codes, numbers = np.unique(buckets, return_counts=True)
        for code, n in zip(codes.tolist(), numbers.tolist(), strict=True):
            name = table.labels[code] or "unclassified"
            counts[name] = counts.get(name, 0) + n

    @staticmethod
    def _series(ring: _Ring, ts: FloatArray, bps: FloatArray, weight: FloatArray,
                total: float, total_weight: float) -> tuple[float, float]:
        running = total + np.cumsum(bps * weight)
        running_weight = total_weight + np.cumsum(weight)
        mean = np.divide(running, running_weight, out=np.full_like(running, np.nan),
                         where=running_weight > 0)
        ring.extend(np.column_stack([ts, bps, mean]))
        return float(running[-1]), float(running_weight[-1])

    # ---- output
    def latency_percentiles(self) -> tuple[float | None, float | None]:
        if self._percentiles is None:
            values = self._latencies.values
            if len(values) == 0:
                self._percentiles = (None, None)
            else:
                p50, p95 = np.percentile(values, [50.0, 95.0])
                self._percentiles = (float(p50), float(p95))
        return self._percentiles

    def figures(self) -> TileFigures:
        p50, p95 = self.latency_percentiles()
        return TileFigures(
            children_placed=self.children_placed,
            placed_quantity=int(self.placed_quantity),
            filled_quantity=int(self.filled_quantity),
            fill_rate=(self.filled_quantity / self.placed_quantity
                       if self.placed_quantity > 0 else None),
            errors_by_bucket=dict(self.errors_by_bucket),
            retries=sum(self.retries_by_bucket.values()),
            latency_p50_ms=p50, latency_p95_ms=p95,
            expected_bps=(self._expected_sum / self._expected_weight
                          if self._expected_weight > 0 else None),
            realized_bps=(self._realized_sum / self._realized_weight
                          if self._realized_weight > 0 else None),
        )

    def slippage_series(self) -> SlippageSeries:
        return SlippageSeries(expected=self._expected.array(), realized=self._realized.array())

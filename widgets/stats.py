"""ExecutionStats: the figures behind the dock's tiles and charts, updated batch by batch.

Qt-free and vectorised over :class:`~.events_model.ColumnBatch`, so a million-row journal adds up in
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
  expected = the pre-trade cost estimate of each placed child, over the units it filled or may
  still fill (a child rejected or cancelled keeps only what it filled: the units the realized
  figures are over; a parent refused before sending placed nothing and is in neither),
  realized = each fill against the arrival price. Positive is a cost. Realized also counts how
  far the mid moved between the parent's arrival and each child's send (the market, and our
  own earlier fills), which the estimate leaves out as timing risk (zero on average, but
  ±50 bps a second on an option premium). So both are also shown *at send*: each fill against
  the mid its child was priced from, and the estimate without the earlier fills' impact
  (already in that mid); the realized tile compares each filled unit with its own child's
  estimate (children still working count in the expected tile only; once every child has
  ended, the expected tile's figure at send is that estimate). Those measure the same thing
  and should agree on any run; the whole figures only over many fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..events import ErrorBucket, EventKind
from .events_model import ColumnBatch

FloatArray = npt.NDArray[np.float64]

#: Retry buckets in display order (RetryPolicy's classification).
BUCKETS: tuple[str, ...] = tuple(ErrorBucket)
#: Latency percentiles are exact up to this many placements (see latency_percentiles).
EXACT_PERCENTILES = 50_000
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
    expected_at_send_bps: float | None = None
    realized_at_send_bps: float | None = None
    mid_move_bps: float | None = None  # the realized fills' mid move, arrival to send
    #: The estimate at send of the filled units (their children's, weighted by fill): what
    #: realized_at_send_bps is compared with.
    fills_expected_at_send_bps: float | None = None

    @property
    def errors(self) -> int:
        return sum(self.errors_by_bucket.values())


class _WeightedMean:
    """A running weighted mean."""

    def __init__(self) -> None:
        self.total = 0.0
        self.weight = 0.0

    def add(self, values: FloatArray, weights: FloatArray) -> None:
        self.total += float((values * weights).sum())
        self.weight += float(weights.sum())

    def mean(self) -> float | None:
        return self.total / self.weight if self.weight > 0 else None


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


class _Newest:
    """The newest ``capacity`` points of a series by time, whatever order they arrive in
    (a journal's history is read newest first while live points keep coming)."""

    def __init__(self, capacity: int, width: int) -> None:
        self._capacity = capacity
        self._points = np.empty((0, width), np.float64)  # column 0 is the time

    def extend(self, points: FloatArray) -> None:
        self._points = np.concatenate([self._points, points])
        if len(self._points) >= 2 * self._capacity:
            self._trim()

    def _trim(self) -> None:
        order = np.argsort(self._points[:, 0], kind="stable")[-self._capacity:]
        self._points = self._points[order]

    def array(self) -> FloatArray:
        """The kept points, oldest first."""
        self._trim()
        return self._points.copy()


#: The slippage chart's mean line: quantity-weighted over this many of the latest points.
ROLLING_POINTS = 50


@dataclass
class SlippageSeries:
    """Points for the slippage-over-time chart, oldest first: (ts, bps, quantity-weighted
    mean of the last :data:`ROLLING_POINTS` points up to this one)."""

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
        self._percentiles_of = 0  # how many latencies the percentiles were computed from
        self._expected_mean = _WeightedMean()
        self._realized_mean = _WeightedMean()
        self._expected_at_send = _WeightedMean()
        self._realized_at_send = _WeightedMean()
        self._mid_move = _WeightedMean()
        self._fills_expected_at_send = _WeightedMean()
        self._expected = _Newest(self._series_points, 3)
        self._realized = _Newest(self._series_points, 3)
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

        self._bucket_counts(batch, (EventKind.ERROR, EventKind.REJECTED), self.errors_by_bucket)
        self._bucket_counts(batch, (EventKind.RETRY,), self.retries_by_bucket)

        expected = nums["expected_cost_bps"]
        have = placed & ~np.isnan(expected)
        if have.any():
            weight = qty[have]
            self._expected_mean.add(expected[have], weight)
            self._expected.extend(np.column_stack([nums["ts"][have], expected[have], weight]))
            self._expected_at_send.add(_estimate_at_send(nums, have), weight)
        # A placed child that ended without filling all of it (rejected, cancelled, its
        # outcome unknown) keeps in the expected figures only the units it filled: those are
        # the units the realized figures are over. Its terminal row carries the estimate and
        # the units filled in all; rows of slices never sent (no order id) had no placed row.
        unfilled = qty - np.nan_to_num(nums["filled_quantity"])
        ended = (batch.where("event", EventKind.REJECTED, EventKind.CANCELLED, EventKind.ERROR)
                 & batch.has_order & ~np.isnan(expected) & (unfilled > 0))
        if ended.any():
            weight = -unfilled[ended]
            self._expected_mean.add(expected[ended], weight)
            self._expected_at_send.add(_estimate_at_send(nums, ended), weight)

        filled = batch.where("event", EventKind.FILLED)
        fill_qty = np.nan_to_num(nums["filled_quantity"])
        self.filled_quantity += float(fill_qty[filled].sum())
        realized = nums["realized_slippage_bps"]
        have = filled & ~np.isnan(realized) & (fill_qty > 0)
        if have.any():
            weight = fill_qty[have]
            self._realized_mean.add(realized[have], weight)
            self._realized.extend(np.column_stack([nums["ts"][have], realized[have], weight]))
            self._add_at_send(batch, have, realized[have], weight)

    def _add_at_send(self, batch: ColumnBatch, fills: npt.NDArray[np.bool_],
                     realized: FloatArray, weight: FloatArray) -> None:
        """Split each fill's cost against arrival into the part against the mid its child
        was priced from and the mid's move from arrival to then."""
        nums = batch.numbers
        mid, arrival = nums["mid_at_send"][fills], nums["arrival_price"][fills]
        known = ~np.isnan(mid) & (arrival > 0)
        if not known.any():
            return
        sign = np.where(batch.where("side", "SELL")[fills], -1.0, 1.0)
        at_send = sign * (nums["fill_price"][fills] - mid) / arrival * 1e4
        self._realized_at_send.add(at_send[known], weight[known])
        self._mid_move.add((realized - at_send)[known], weight[known])
        # The same fills' own estimates (a fill row carries its child's): children that never
        # filled are in the expected tile, not in this comparison.
        estimated = known & ~np.isnan(nums["expected_cost_bps"][fills])
        self._fills_expected_at_send.add(_estimate_at_send(nums, fills)[estimated],
                                         weight[estimated])

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

    # ---- output
    def latency_percentiles(self) -> tuple[float | None, float | None]:
        """p50 and p95 of every placement's latency: exact up to :data:`EXACT_PERCENTILES`
        placements; beyond, recomputed once the count has grown by 1 % (the figures lag at
        most that many placements, and a million-row journal does not cost a full pass at
        every refresh while it loads)."""
        values = self._latencies.values
        n = len(values)
        stale = n != self._percentiles_of and (
            n <= EXACT_PERCENTILES or n >= self._percentiles_of * 1.01)
        if self._percentiles is None or stale:
            self._percentiles_of = n
            if n == 0:
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
            expected_bps=self._expected_mean.mean(),
            realized_bps=self._realized_mean.mean(),
            expected_at_send_bps=self._expected_at_send.mean(),
            realized_at_send_bps=self._realized_at_send.mean(),
            mid_move_bps=self._mid_move.mean(),
            fills_expected_at_send_bps=self._fills_expected_at_send.mean(),
        )

    def slippage_series(self) -> SlippageSeries:
        return SlippageSeries(expected=_with_rolling_mean(self._expected.array()),
                              realized=_with_rolling_mean(self._realized.array()))


def _estimate_at_send(nums: dict[str, FloatArray], rows: npt.NDArray[np.bool_]) -> FloatArray:
    """The rows' cost estimates without the earlier fills' impact (already in the mid each
    child was priced from), bps of arrival."""
    prior = np.nan_to_num(nums["prior_impact"][rows])
    arrival = nums["arrival_price"][rows]
    return nums["expected_cost_bps"][rows] - np.divide(
        prior, arrival, out=np.zeros_like(prior), where=arrival > 0) * 1e4


def _with_rolling_mean(points: FloatArray) -> FloatArray:
    """(ts, bps, weight) rows, oldest first -> (ts, bps, weighted mean of the last
    :data:`ROLLING_POINTS` points up to each)."""
    if len(points) == 0:
        return np.empty((0, 3))
    weighted = np.concatenate([[0.0], np.cumsum(points[:, 1] * points[:, 2])])
    weights = np.concatenate([[0.0], np.cumsum(points[:, 2])])
    upto = np.arange(1, len(points) + 1)
    since = np.maximum(0, upto - ROLLING_POINTS)
    total = weights[upto] - weights[since]
    mean = np.divide(weighted[upto] - weighted[since], total,
                     out=np.full(len(points), np.nan), where=total > 0)
    return np.column_stack([points[:, 0], points[:, 1], mean])

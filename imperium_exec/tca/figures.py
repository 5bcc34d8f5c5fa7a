"""The report's figures: small typed results of the queries (a few hundred rows at most,
whatever the journal's size). Money in rupees, costs in basis points; positive = cost."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The shortfall's parts in waterfall order (the finished row's fields, see shortfall.py).
IS_PARTS: tuple[str, ...] = ("delay", "spread", "drift", "opportunity", "fees")
IS_PART_TITLES: dict[str, str] = {
    "delay": "Delay", "spread": "Spread", "drift": "Drift / impact",
    "opportunity": "Opportunity", "fees": "Fees",
}


@dataclass(frozen=True, slots=True)
class ShortfallParts:
    """Implementation shortfall in rupees, and the decision notional (X * P_d) its bps are
    of."""

    delay: float
    spread: float
    drift: float
    opportunity: float
    fees: float
    decision_value: float

    @property
    def total(self) -> float:
        return self.delay + self.spread + self.drift + self.opportunity + self.fees

    def part(self, name: str) -> float:
        value: float = getattr(self, name)
        return value

    def bps(self, rupees: float) -> float | None:
        return rupees / self.decision_value * 1e4 if self.decision_value > 0 else None

    @property
    def total_bps(self) -> float | None:
        return self.bps(self.total)


@dataclass(frozen=True, slots=True)
class ParentCost:
    """One parent's line: what it was, what filled, and what it cost."""

    parent_id: str
    tradingsymbol: str
    side: str
    algo: str | None
    urgency: str | None
    status: str | None  # the finished row's; None: no finished row in these journals
    started_ts: float
    ordered: int
    filled: int
    arrival_price: float | None
    average_price: float | None
    arrival_slippage_bps: float | None  # s * (avg - arrival) / arrival, on the fills
    expected_bps: float | None  # the fills' children's estimates, fill-weighted
    shortfall: ShortfallParts | None  # None: no shortfall on the finished row (v1/v2, none)


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts over equal bins; values outside [edges[0], edges[-1]] are counted apart."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    below: int
    above: int
    count: int
    mean: float | None
    median: float | None


@dataclass(frozen=True, slots=True)
class MarkoutPoint:
    horizon_s: float
    liquidity: str  # taking, resting (imperium_exec.events.liquidity), unknown
    fills: int
    units: int
    mean_bps: float  # quantity-weighted; positive = the market moved against the fill


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    key: str
    parents: int
    decision_value: float
    ordered: int
    filled: int
    shortfall_bps: float | None  # sum IS / sum decision notional, parents with a shortfall
    arrival_bps: float | None  # sum over fills of cost against arrival / filled arrival value
    expected_bps: float | None  # fill-weighted estimate
    spread_bps: float | None  # the spread part, bps of decision notional

    @property
    def fill_rate(self) -> float | None:
        return self.filled / self.ordered if self.ordered > 0 else None


@dataclass(frozen=True, slots=True)
class Breakdown:
    dimension: str
    rows: tuple[BreakdownRow, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class ExpectedVsRealized:
    """The pre-trade estimate against what the fills cost, on the same filled units
    (fill-weighted, bps of arrival), whole and split at the mid each child was priced from."""

    fills: int
    expected_bps: float | None
    realized_bps: float | None
    expected_at_send_bps: float | None  # the estimate less earlier fills' impact (prior_impact)
    realized_at_send_bps: float | None  # the fills against the mid their child was priced from
    mid_move_bps: float | None  # that mid against arrival
    parents: int  # parents with both an estimate and fills
    difference_mean_bps: float | None  # realized - expected per parent
    difference_sd_bps: float | None
    #: (expected, realized) per parent, at most a few thousand (a sample when more)
    points: tuple[tuple[float, float], ...] = ()
    #: z = (realized - expected) / timing risk per parent (see TcaQuery.z_scores): how many,
    #: their mean and standard deviation (about 0 and 1 when the estimate is honest), and the
    #: share beyond 2 (about 5 %).
    z_parents: int = 0
    z_mean: float | None = None
    z_sd: float | None = None
    z_beyond_2: float | None = None


@dataclass(frozen=True, slots=True)
class Operations:
    parents: int
    children: int
    attempts: int  # distinct order tags: every placement attempt
    placements: int
    retries: dict[str, int] = field(default_factory=dict)  # by error bucket
    errors: dict[str, int] = field(default_factory=dict)  # error rows, by bucket
    rejections: dict[str, int] = field(default_factory=dict)  # rejected rows, by bucket
    parent_status: dict[str, int] = field(default_factory=dict)  # finished rows' status


@dataclass(frozen=True, slots=True)
class Latency:
    placements: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    histogram: tuple[tuple[str, int], ...]  # (bin label, placements)


@dataclass(frozen=True, slots=True)
class JournalStats:
    files: tuple[str, ...]
    bytes: int
    rows: int
    first_ts: float | None
    last_ts: float | None
    modes: tuple[str, ...]
    versions: dict[int, int]  # schema version -> rows (0: rows from before versions)


@dataclass(frozen=True, slots=True)
class TcaFigures:
    journal: JournalStats
    parents: int
    parents_with_fills: int
    parents_with_shortfall: int
    total: ShortfallParts | None  # every parent with a shortfall, added up
    by_side: dict[str, ShortfallParts]
    worst: tuple[ParentCost, ...]  # the costliest parents (bps of decision notional)
    best: tuple[ParentCost, ...]  # the cheapest: never one of ``worst``
    ranked_parents: int
    slippage: Histogram | None  # arrival slippage per parent, bps
    markouts: tuple[MarkoutPoint, ...]
    breakdowns: tuple[Breakdown, ...]
    expected: ExpectedVsRealized
    operations: Operations
    latency: Latency
    notes: tuple[str, ...]  # what the report could not do, and why
    #: What the reading left out and why, a line each (empty: every row fit, each once).
    data_quality: tuple[str, ...] = ()


__all__ = [
    "IS_PARTS", "IS_PART_TITLES", "Breakdown", "BreakdownRow", "ExpectedVsRealized",
    "Histogram", "JournalStats", "Latency", "MarkoutPoint", "Operations", "ParentCost",
    "ShortfallParts", "TcaFigures",
]

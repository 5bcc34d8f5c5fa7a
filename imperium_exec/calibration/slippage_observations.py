"""Reading the slippage fit's observations from the journal (:func:`read_observations`),
by streaming it line by line.

One observation per filled child, read from the journal by streaming it line by line:

- **realized**: what the child's fills cost per unit against the parent's arrival mid,
  ``s * (average fill - arrival)`` (positive = cost; fees are not in it);
- **the estimate's inputs**, from the child's rows (schema version 4): the spread part the
  quote showed (``expected_slippage``: +half-spread taking, -half-spread joining, 0 at the
  mid), the book walk (``book_walk``), the participation and horizon the power law used;
- **the desk's earlier fills on the contract**: units and ages of the fills written before
  this child's first fill, its parent's other children's and other parents' alike, and a
  late order's (its ghost row's) too (they moved the price this child paid), counted as the
  engine's estimate counts them
  (:class:`~..costs.slippage.PriorFill`): another parent's fill before this parent's arrival
  only by its temporary part's decay since the arrival.

A journal is one desk's market (one desk writes it, in one mode): fills are matched to a child
by journal and instrument, so a live journal's fills never count on the paper exchange's
market, nor one simulated world's in another's. Files that share a row are one journal (a
backup copy, or a cut of it), and so are files holding rows of one parent (a journal split
in two); a parent's rows belong to the journal of its first row.

With the index levels on the rows (child and fill rows written from 2026-12-07 on), each
child's cost also carries the market's own move (:mod:`.market_move`), and each child's
pricing is a :class:`MidMove`: the mid it was priced from against the arrival mid, with our
own fills on the contract that moved it.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..costs.slippage import PriorFill
from ..events import EventKind
from ..events.quality import JournalQuality, read_journal_rows
from ..request import Side
from .market_move import OptionPricer, option_pricer
from .slippage_checks import HALF_LIVES_S


@dataclass(frozen=True, slots=True)
class ChildObservation:
    """One filled child, as the calibration sees it (prices in rupees per unit)."""

    parent_id: str
    child_id: str
    tradingsymbol: str
    side_sign: int
    arrival_price: float
    units: int  # filled
    realized: float  # s * (average fill - arrival)
    spread_part: float  # the quote's spread part (expected_slippage)
    book_walk: float
    participation: float
    horizon_s: float | None
    estimated: float  # the journal's own estimate: expected_slippage + impact_estimate
    spread_paid: float  # s * (average fill - mid at send): spread and book walked
    prior_fills: tuple[PriorFill, ...]
    ts: float = 0.0  # the child's first fill, epoch seconds (0: not known)
    #: The market's own move in the premium from the parent's arrival to the child's fills,
    #: per unit, signed like the cost (``s * move``; see :mod:`.market_move`); None where the
    #: rows lack the index levels it needs (written before 2026-12-07, or no index quote).
    market_move: float | None = None

    @property
    def realized_bps(self) -> float:
        return self.realized / self.arrival_price * 1e4

    @property
    def estimated_bps(self) -> float:
        return self.estimated / self.arrival_price * 1e4


@dataclass(frozen=True, slots=True)
class MidMove:
    """One child's pricing as the calibration sees it: the mid it was priced from against its
    parent's arrival mid, with the market's own move over that time taken out, per unit and
    signed like a cost. What is left is the impact of our fills on the instrument (any
    parent's since the arrival and before the pricing, and the decay of those before the
    arrival): the mid's move across our trades, with no spread or fill in it."""

    parent_id: str
    child_id: str
    arrival_price: float
    move: float  # s * (mid_at_send - arrival)
    market_move: float  # s * (the premium's move from arrival to the pricing)
    #: Our fills on the instrument before the pricing (ages before it), signed by the side.
    fills: tuple[PriorFill, ...]
    ts: float = 0.0  # the pricing, epoch seconds

    @property
    def impact(self) -> float:
        """What the fit explains: the mid's move beyond the market's."""
        return self.move - self.market_move


@dataclass
class _Child:
    parent_id: str
    tradingsymbol: str
    side_sign: int
    estimate: dict[str, Any]
    first_fill: int | None = None  # row number of the first fill
    first_fill_ts: float = 0.0
    units: int = 0
    value: float = 0.0
    #: (units, epoch, index level) of each fill whose row has the index level
    fills_at: list[tuple[int, float, float]] = field(default_factory=list)


@dataclass
class JournalReading:
    """What :func:`read_observations` found."""

    observations: list[ChildObservation] = field(default_factory=list)
    #: What the reader left out, and the parents it flagged (left out whole).
    quality: JournalQuality = field(default_factory=JournalQuality)
    #: Filled children whose rows lack the estimate's inputs (written before schema 4).
    without_inputs: int = 0
    modes: set[str] = field(default_factory=set)
    #: The children's pricings with the market's move taken out (:class:`MidMove`).
    mid_moves: list[MidMove] = field(default_factory=list)

    @property
    def market_removed(self) -> int:
        """Filled children whose cost has the market's own move taken out."""
        return sum(o.market_move is not None for o in self.observations)

    @property
    def rows(self) -> int:
        """Rows that fit the schema, each once (``tca`` counts the same)."""
        return self.quality.rows


def iter_journal_rows(paths: Iterable[str | os.PathLike[str]],
                      quality: JournalQuality | None = None) -> Iterator[dict[str, Any]]:
    """Every row of the journals that fits the schema, once, whole (a compact line's left-out
    fields back), through the one reader (:func:`imperium_exec.events.quality.read_journal_rows`):
    what it leaves out, and the parents it flags, go into ``quality``."""
    return read_journal_rows(paths, quality)


_ESTIMATE_FIELDS = ("arrival_price", "mid_at_send", "expected_slippage", "impact_estimate",
                    "participation", "horizon_s", "book_walk", "priced_at")


def read_observations(paths: Iterable[str | os.PathLike[str]],
                      mode: str | None = None) -> JournalReading:
    """One :class:`ChildObservation` per filled child of the journals (streamed; only the
    filled children's few numbers are kept); with ``mode``, only that mode's fills (the
    modes seen are all listed in :attr:`JournalReading.modes`)."""
    reading = JournalReading()
    children: dict[str, _Child] = {}
    #: The desk's fills: (row, ts, units signed + bought, parent, tradingsymbol)
    fills: list[tuple[int, float, int, str, str]] = []
    arrivals: dict[str, tuple[float, float]] = {}  # parent -> (epoch, index level)
    #: parent -> (row, epoch, file) of its first row (its accepted row: its arrival)
    starts: dict[str, tuple[int, float, str]] = {}
    pricings: list[_Pricing] = []
    quality = reading.quality
    spanned: set[tuple[str, str]] = set()  # files holding rows of one parent
    for n, row in enumerate(iter_journal_rows(paths, quality)):
        event = row.get("event")
        wanted = mode is None or row.get("mode") == mode
        if isinstance(row.get("parent_id"), str) and row["parent_id"]:  # (not a session's)
            start = starts.setdefault(row["parent_id"],
                                      (n, float(row.get("ts") or 0.0), quality.current_file))
            if start[2] != quality.current_file:
                spanned.add((quality.current_file, start[2]))
        if event == EventKind.ACCEPTED:
            level = _positive(row.get("underlying_price"))
            if wanted and level is not None and isinstance(row.get("parent_id"), str):
                arrivals.setdefault(row["parent_id"], (float(row.get("ts") or 0.0), level))
            continue
        if event == EventKind.PLACED:
            pricing = _pricing(n, row) if wanted else None
            if pricing is not None:
                pricings.append(pricing)
            continue
        if not row.get("filled_quantity") or not row.get("fill_price") \
                or event not in (EventKind.FILLED, EventKind.GHOST):
            continue
        if event == EventKind.GHOST:  # a late order's fill: on the market, no child's cost
            if wanted and isinstance(row.get("parent_id"), str) and row.get("side"):
                fills.append((n, float(row.get("ts") or 0.0),
                              (1 if row.get("side") == Side.BUY else -1)
                              * int(row["filled_quantity"]), row["parent_id"],
                              str(row.get("tradingsymbol"))))
            continue
        child_id, parent_id = row.get("child_id"), row.get("parent_id")
        if not isinstance(child_id, str) or not isinstance(parent_id, str):
            continue
        if isinstance(row.get("mode"), str):
            reading.modes.add(row["mode"])
        if mode is not None and row.get("mode") != mode:
            continue
        units, price = int(row["filled_quantity"]), float(row["fill_price"])
        child = children.get(child_id)
        if child is None:
            sign = 1 if row.get("side") == Side.BUY else -1
            child = children[child_id] = _Child(
                parent_id, str(row.get("tradingsymbol")), sign,
                {k: row.get(k) for k in _ESTIMATE_FIELDS}, n, float(row.get("ts") or 0.0))
        child.units += units
        child.value += units * price
        level = _positive(row.get("underlying_price"))
        if level is not None:
            child.fills_at.append((units, float(row.get("ts") or 0.0), level))
        fills.append((n, float(row.get("ts") or 0.0), child.side_sign * units, parent_id,
                      child.tradingsymbol))
    journal_of = quality.journal_of(spanned)

    def market(parent_id: str, tradingsymbol: str) -> tuple[str, str]:
        return journal_of(starts[parent_id][2]), tradingsymbol

    by_market: dict[tuple[str, str], list[tuple[float, int, int]]] = {}  # (ts, row, +/-units)
    for n, ts, units, parent_id, tradingsymbol in fills:
        by_market.setdefault(market(parent_id, tradingsymbol), []).append((ts, n, units))
    for market_fills in by_market.values():
        market_fills.sort()
    pricers = _Pricers(arrivals)
    for child_id, child in children.items():
        if child.parent_id in reading.quality.flagged_parents:
            continue  # a row of its parent did not fit: left out whole, not short
        e = child.estimate
        needed = (e["arrival_price"], e["mid_at_send"], e["expected_slippage"],
                  e["impact_estimate"], e["participation"], e["book_walk"])
        if any(v is None for v in needed) or not e["arrival_price"]:
            reading.without_inputs += 1
            continue
        s = child.side_sign
        arrival = float(e["arrival_price"])
        average = child.value / child.units
        accepted_row, arrival_ts, _ = starts[child.parent_id]
        # The fills written before its first fill (those of its taking siblings sent with it
        # too: the engine counts them as on their way to the book), aged from its pricing.
        priced_at = _positive(e["priced_at"]) or child.first_fill_ts
        prior = _desk_fills(by_market[market(child.parent_id, child.tradingsymbol)], s,
                            child.first_fill or 0, child.first_fill_ts, arrival_ts,
                            accepted_row, aged_from=priced_at)
        reading.observations.append(ChildObservation(
            parent_id=child.parent_id, child_id=child_id, tradingsymbol=child.tradingsymbol,
            side_sign=s, arrival_price=arrival, units=child.units,
            realized=s * (average - arrival), spread_part=float(e["expected_slippage"]),
            book_walk=float(e["book_walk"]), participation=float(e["participation"]),
            horizon_s=float(e["horizon_s"]) if e["horizon_s"] is not None else None,
            estimated=float(e["expected_slippage"]) + float(e["impact_estimate"]),
            spread_paid=s * (average - float(e["mid_at_send"])), prior_fills=prior,
            ts=child.first_fill_ts,
            market_move=_fills_market_move(pricers, child, arrival)))
    for pricing in pricings:
        if pricing.parent_id in reading.quality.flagged_parents:
            continue  # a row of its parent did not fit: left out whole
        pricer = pricers.of(pricing.parent_id, pricing.tradingsymbol, pricing.arrival)
        if pricer is None:
            continue
        start_ts, start_level = arrivals[pricing.parent_id]
        s = pricing.side_sign
        reading.mid_moves.append(MidMove(
            parent_id=pricing.parent_id, child_id=pricing.child_id,
            arrival_price=pricing.arrival, move=s * (pricing.mid - pricing.arrival),
            market_move=s * pricer.move(start_level, start_ts, pricing.level, pricing.ts),
            fills=_desk_fills(
                by_market.get(market(pricing.parent_id, pricing.tradingsymbol), []), s,
                pricing.row, pricing.ts, start_ts, starts[pricing.parent_id][0]),
            ts=pricing.ts))
    return reading


#: Our fills on an instrument older than this before a parent's arrival are left out of its
#: mid moves (ten of the longest half-life tried: their temporary part is gone).
DESK_FILLS_WINDOW_S = 10.0 * max(HALF_LIVES_S)


def _desk_fills(fills: list[tuple[float, int, int]], side_sign: int, row: int, at: float,
                arrival_ts: float, accepted_row: int, *,
                aged_from: float | None = None) -> tuple[PriorFill, ...]:
    """Our fills on one market (``fills``: (ts, row, units signed + bought) in time order)
    written before row ``row`` at ``at`` or earlier, from :data:`DESK_FILLS_WINDOW_S` before
    the parent's arrival on, aged from ``aged_from`` (default ``at``; 0 for a fill after it)
    and signed by the parent's side (``side_sign``); those written before the parent's
    accepted row are before its arrival."""
    aged_from = at if aged_from is None else aged_from
    start = bisect.bisect_left(fills, (arrival_ts - DESK_FILLS_WINDOW_S,))
    out = []
    for ts, n, units in fills[start:]:
        if ts > at:
            break
        if n >= row:
            continue
        out.append(PriorFill(age_s=max(0.0, aged_from - ts),
                             arrival_age_s=max(0.0, arrival_ts - ts) if n < accepted_row
                             else None,
                             units=side_sign * units))
    return tuple(out)


def _positive(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 \
        and math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class _Pricing:
    row: int  # the placed row's number: fills written after it came after the pricing
    ts: float  # the pricing (``priced_at``; the placed row's time in rows before it)
    parent_id: str
    child_id: str
    tradingsymbol: str
    side_sign: int
    arrival: float
    mid: float
    level: float  # the index when the child was priced


def _pricing(n: int, row: dict[str, Any]) -> _Pricing | None:
    """A placed row's pricing, when it has the mid, the arrival and the index level. Its time
    is ``priced_at`` (the estimate was made then; the order reached the broker a round trip
    later, the placed row after that): a fill taken in between is not in the mid."""
    arrival, mid = _positive(row.get("arrival_price")), _positive(row.get("mid_at_send"))
    level = _positive(row.get("underlying_price"))
    if arrival is None or mid is None or level is None \
            or not isinstance(row.get("child_id"), str) \
            or not isinstance(row.get("parent_id"), str):
        return None
    priced_at = _positive(row.get("priced_at"))
    return _Pricing(n, priced_at or float(row.get("ts") or 0.0), row["parent_id"],
                    row["child_id"], str(row.get("tradingsymbol")),
                    1 if row.get("side") == Side.BUY else -1, arrival, mid, level)


class _Pricers:
    """Each parent's option pricer, its volatility implied by the arrival mid at the index
    level and moment of the parent's accepted row (made once per parent)."""

    def __init__(self, arrivals: dict[str, tuple[float, float]]) -> None:
        self.arrivals = arrivals
        self._made: dict[str, OptionPricer | None] = {}

    def of(self, parent_id: str, tradingsymbol: str, arrival: float) -> OptionPricer | None:
        if parent_id not in self._made:
            start = self.arrivals.get(parent_id)
            self._made[parent_id] = None if start is None else option_pricer(
                tradingsymbol, arrival, start[1], start[0])
        return self._made[parent_id]


def _fills_market_move(pricers: _Pricers, child: _Child, arrival: float) -> float | None:
    """The premium's move from the parent's arrival to the child's fills (unit-weighted),
    signed like a cost; None unless every fill's row has the index level."""
    if not child.fills_at or sum(u for u, _, _ in child.fills_at) != child.units:
        return None
    pricer = pricers.of(child.parent_id, child.tradingsymbol, arrival)
    if pricer is None:
        return None
    start_ts, start_level = pricers.arrivals[child.parent_id]
    moved = sum(units * pricer.move(start_level, start_ts, level, ts)
                for units, ts, level in child.fills_at)
    return child.side_sign * moved / child.units

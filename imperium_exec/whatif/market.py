"""What a journal holds of each instrument's market, and each finished parent as it ran.

The what-if replays a parent on the market its journal recorded. Each row that carries a
price of the instrument is an observation of its mid at the row's time:

- an ``accepted`` row's arrival price (the mid when the parent arrived),
- a ``placed`` row's ``mid_at_send`` (the mid of the quote the child was priced from, at
  that quote's time; a child priced from its ticket saw no quote),
- a ``markout`` row's ``markout_mid`` (the mid 1, 5 or 60 s after a fill);

(a ``finished`` row's ``end_price`` is the engine's last quote, of an age the row does not
say: it prices the parent's unfilled rest, never the path);

the request on an ``accepted`` row adds the quoted spread (its ``bid`` and ``ask``), a
``placed`` row its quote's (the far touch, ``touch_at_send``, against ``mid_at_send``: twice
that is the spread; rows before the touch was recorded: what a taking fill paid beyond the
mid), and child rows the session's traded volume (``day_volume``, ``session_s``). The
journal's mids carry our own fills' impact; :meth:`SymbolMarket.unimpacted` takes it out
with the fitted linear impact (permanent and decaying temporary, per unit:
:class:`~..costs.slippage.SlippageParams`), so a replay adds only its own.

Rows are read whole through :func:`~..telemetry.read_rows` (compact rows rebuilt).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ..costs.slippage import SlippageParams
from ..events import EventKind, QueuePriority, QuoteSource
from ..request import ExecutionRequest, Side

#: A parent's window needs at least this many observed mids...
MIN_OBSERVATIONS = 3
#: ...and no stretch of it longer than this share of the window (or ``MIN_GAP_S``) without one.
MAX_GAP_FRACTION = 0.5
MIN_GAP_S = 5.0
#: The window given to the scheduled algorithms when the parent had none (an IMMEDIATE one).
DEFAULT_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Fill:
    ts: float
    units: int
    price: float


@dataclass(frozen=True, slots=True)
class ParentRecord:
    """One finished parent as its rows tell it."""

    parent_id: str
    tradingsymbol: str
    exchange: str
    side: Side
    algo: str
    urgency: str
    quantity: int
    arrival_price: float
    start: float  #: its accepted row's time
    end: float  #: its finished row's time
    end_price: float | None
    fills: tuple[Fill, ...]
    fees: float
    request: ExecutionRequest | None

    @property
    def sign(self) -> int:
        return 1 if self.side is Side.BUY else -1

    @property
    def filled(self) -> int:
        return sum(f.units for f in self.fills)

    @property
    def notional(self) -> float:
        """The ordered value at the arrival price: the bps denominator."""
        return self.arrival_price * self.quantity

    @property
    def begin(self) -> float:
        """When its window opened: its request's start time, else when it was accepted."""
        if self.request is not None and self.request.start_at is not None:
            return max(self.start, self.request.start_at.timestamp())
        return self.start

    @property
    def window_s(self) -> float:
        """The window every replay gets: the parent's own horizon, else how long it ran
        (at least :data:`DEFAULT_WINDOW_S`)."""
        if self.request is not None and self.request.horizon_s is not None \
                and self.algo != "IMMEDIATE":
            return float(self.request.horizon_s)
        return max(DEFAULT_WINDOW_S, self.end - self.begin)

    def realized_cost(self) -> float:
        """Its shortfall against the arrival price, rupees (positive = a cost): the fills
        against the arrival mid, and what did not fill against the mid at the end. Fees
        apart."""
        paid = sum(f.units * (f.price - self.arrival_price) for f in self.fills)
        unfilled = self.quantity - self.filled
        missed = 0.0
        if unfilled and self.end_price is not None:
            missed = unfilled * (self.end_price - self.arrival_price)
        return self.sign * (paid + missed)


@dataclass
class SymbolMarket:
    """Everything the journal observed of one instrument, in time order."""

    tradingsymbol: str
    mids: list[tuple[float, float]] = field(default_factory=list)  # (ts, mid)
    spreads: list[float] = field(default_factory=list)  # ask - bid, rupees, each quote seen
    volumes: list[tuple[float, int, float | None]] = field(default_factory=list)
    #: Our fills on it, signed units, by parent: a replayed parent's own moved the mids it
    #: saw (taken out), the other parents' were part of its market (kept).
    ours: list[tuple[float, int, str]] = field(default_factory=list)
    #: Children's book walk per unit and their units (the depth beyond the touch).
    walks: list[tuple[int, float]] = field(default_factory=list)
    #: What taking children paid a unit beyond their quote's mid and their book walk (the
    #: half-spread they met), by parent: rows that do not say their quote's touch.
    takes: list[tuple[float, str]] = field(default_factory=list)

    def half_spreads(self, parent_id: str, tick: float) -> list[float]:
        """The half-spreads the journal saw, but for ``parent_id``'s own fills: the quotes
        (the tickets' and the children's) and the other parents' taking fills (half a tick
        when there is none)."""
        seen = [q / 2.0 for q in self.spreads]
        seen.extend(cost for cost, owner in self.takes if owner != parent_id)
        return seen or [tick / 2.0]

    def finish(self) -> None:
        self.mids = sorted(set(self.mids))
        self.volumes.sort()
        self.ours.sort()

    def impact_at(self, ts: float, params: SlippageParams, parent_id: str) -> float:
        """``parent_id``'s earlier fills' impact on the mid at ``ts``, rupees (signed: buys
        push it up)."""
        rate = math.log(2.0) / params.temporary_half_life_s
        total = 0.0
        for at, units, owner in self.ours:
            if at >= ts:
                break
            if owner == parent_id:
                total += units * (params.permanent_per_unit
                                  + params.temporary_per_unit * math.exp(-rate * (ts - at)))
        return total

    def unimpacted(self, params: SlippageParams, parent_id: str) -> list[tuple[float, float]]:
        """The observed mids with ``parent_id``'s own fills' impact taken out: its market
        without it."""
        return [(ts, mid - self.impact_at(ts, params, parent_id)) for ts, mid in self.mids]

    def walk_per_unit(self) -> float:
        """Walking the book beyond the touch, rupees a unit per unit of the child (a line
        through the origin over the children's recorded book walk; 0 when none walked)."""
        units2 = sum(q * q for q, _ in self.walks)
        return sum(q * w for q, w in self.walks) / units2 if units2 > 0 else 0.0

    def volatility(self, params: SlippageParams, parent_id: str) -> float:
        """The mid's volatility, rupees per second^½, from the increments between
        observations (``parent_id``'s impact taken out)."""
        mids = self.unimpacted(params, parent_id)
        squares = 0.0
        seconds = 0.0
        for (t0, m0), (t1, m1) in pairwise(mids):
            if t1 > t0:
                squares += (m1 - m0) ** 2
                seconds += t1 - t0
        return math.sqrt(squares / seconds) if seconds > 0 else 0.0

    def others_volume(self, parent_id: str) -> list[tuple[float, float]]:
        """(ts, units the rest of the market had traded in the session), from the quotes'
        session volume less ``parent_id``'s own fills before each quote."""
        out: list[tuple[float, float]] = []
        for ts, volume, _session in self.volumes:
            own = sum(abs(u) for at, u, owner in self.ours if at < ts and owner == parent_id)
            out.append((ts, float(volume - own)))
        return out

    def session_at(self, ts: float) -> float:
        """Seconds since the session opened at ``ts``, from the nearest quote that said."""
        known = [(abs(at - ts), s + (ts - at)) for at, _v, s in self.volumes if s is not None]
        return min(known)[1] if known else 0.0

    def coverage(self, start: float, window_s: float) -> tuple[int, float]:
        """Mids observed over ``[start, start + window_s]`` and the longest stretch of it
        without one, seconds."""
        times = [ts for ts, _ in self.mids if start <= ts <= start + window_s]
        edges = [start, *times, start + window_s]
        gap = max(b - a for a, b in pairwise(edges))
        return len(times), gap


def enough_market(market: SymbolMarket, parent: ParentRecord) -> str | None:
    """None when the journal holds enough of the market over the parent's window; otherwise
    why not, in words."""
    window = parent.window_s
    count, gap = market.coverage(parent.begin, window)
    allowed = max(MAX_GAP_FRACTION * window, MIN_GAP_S)
    if count < MIN_OBSERVATIONS or gap > allowed:
        return (f"{count} mid(s) observed over its {window:.0f} s window, the longest stretch "
                f"without one {gap:.0f} s (needs {MIN_OBSERVATIONS} and at most {allowed:.0f} s)")
    return None


def _float(row: Mapping[str, Any], name: str) -> float | None:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _request_of(text: object) -> ExecutionRequest | None:
    if not isinstance(text, str):
        return None
    try:
        return ExecutionRequest.model_validate_json(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class JournalMarkets:
    """A journal's finished parents and its instruments' markets."""

    parents: list[ParentRecord]
    markets: dict[str, SymbolMarket]


def read_markets(rows: Iterable[Mapping[str, Any]]) -> JournalMarkets:
    """The finished parents (newest last) and every instrument's observed market."""
    markets: dict[str, SymbolMarket] = {}
    accepted: dict[str, Mapping[str, Any]] = {}
    finished: dict[str, Mapping[str, Any]] = {}
    fills: dict[str, list[Fill]] = {}
    for row in rows:
        symbol = row.get("tradingsymbol")
        parent_id = row.get("parent_id")
        ts = _float(row, "ts")
        if not isinstance(symbol, str) or not isinstance(parent_id, str) or ts is None:
            continue
        market = markets.setdefault(symbol, SymbolMarket(symbol))
        event = row.get("event")
        sign = 1 if row.get("side") == Side.BUY else -1
        if event == EventKind.ACCEPTED:
            accepted[parent_id] = row
            arrival = _float(row, "arrival_price")
            if arrival is not None and arrival > 0:
                market.mids.append((ts, arrival))
            request = _request_of(row.get("request"))
            if request is not None and request.bid is not None and request.ask is not None \
                    and request.ask > request.bid:
                market.spreads.append(request.ask - request.bid)
        elif event == EventKind.FINISHED:
            finished[parent_id] = row  # its end price: a quote of unknown age, not used
        elif event == EventKind.MARKOUT:
            mid = _float(row, "markout_mid")
            if mid is not None and mid > 0:
                market.mids.append((ts, mid))
        elif event == EventKind.FILLED:
            units = row.get("filled_quantity")
            price = _float(row, "fill_price")
            if isinstance(units, int) and units > 0 and price is not None:
                fills.setdefault(parent_id, []).append(Fill(ts, units, price))
                market.ours.append((ts, sign * units, parent_id))
                sent = _float(row, "mid_at_send")
                if row.get("queue_priority") == QueuePriority.TAKE and sent is not None \
                        and row.get("quote_source") not in (None, QuoteSource.TICKET) \
                        and _float(row, "touch_at_send") is None:
                    walked = _float(row, "book_walk") or 0.0
                    market.takes.append((sign * (price - sent) - walked, parent_id))
        mid = _float(row, "mid_at_send")
        if event == EventKind.PLACED and mid is not None and mid > 0 \
                and row.get("quote_source") not in (None, QuoteSource.TICKET):
            # A quote, as old as it was when the child was priced (a ticket's is not one).
            age = _float(row, "quote_age_ms") or 0.0
            market.mids.append((ts - age / 1000.0, mid))
            touch = _float(row, "touch_at_send")
            if touch is not None and touch > 0:
                market.spreads.append(2.0 * abs(touch - mid))
        walk = _float(row, "book_walk")
        size = row.get("quantity")
        if event == EventKind.PLACED and walk is not None and isinstance(size, int) and size > 0:
            market.walks.append((size, walk))
        volume = row.get("day_volume")
        if event == EventKind.PLACED and isinstance(volume, int) and volume >= 0:
            market.volumes.append((ts, volume, _float(row, "session_s")))
    for market in markets.values():
        market.finish()
    parents = []
    for parent_id, end_row in finished.items():
        start_row = accepted.get(parent_id)
        if start_row is None:
            continue
        parent = _record(parent_id, start_row, end_row, fills.get(parent_id, []))
        if parent is not None:
            parents.append(parent)
    parents.sort(key=lambda p: p.start)
    return JournalMarkets(parents, markets)


def _record(parent_id: str, start: Mapping[str, Any], end: Mapping[str, Any],
            fills: Sequence[Fill]) -> ParentRecord | None:
    arrival = _float(start, "arrival_price")
    quantity = start.get("parent_quantity")
    side = start.get("side")
    if arrival is None or arrival <= 0 or not isinstance(quantity, int) or quantity <= 0 \
            or side not in (Side.BUY, Side.SELL):
        return None
    return ParentRecord(
        parent_id=parent_id, tradingsymbol=str(start["tradingsymbol"]),
        exchange=str(start.get("exchange") or "NFO"), side=Side(side),
        algo=str(start.get("execution_algo") or "IMMEDIATE"),
        urgency=str(start.get("execution_urgency") or "normal"), quantity=quantity,
        arrival_price=arrival, start=float(start["ts"]), end=float(end["ts"]),
        end_price=_float(end, "end_price"), fills=tuple(fills),
        fees=_float(end, "fees") or 0.0, request=_request_of(start.get("request")))


__all__ = ["DEFAULT_WINDOW_S", "MAX_GAP_FRACTION", "MIN_GAP_S", "MIN_OBSERVATIONS", "Fill",
           "JournalMarkets", "ParentRecord", "SymbolMarket", "enough_market",
           "read_markets"]

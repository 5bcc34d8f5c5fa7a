"""The live market: each touched option's book, our impact on it, and what a quote shows.

An :class:`OptionBook` is the seeded series of :mod:`imperium_exec.sim.paths` plus what our own
trades did to it:

- impact: every unit we trade moves the fair price by ``gamma`` for good and by ``eta`` more,
  decaying with a half-life (AC/propagator style, parameters in :class:`ImpactConfig`);
- adverse selection (off by default, :class:`.config.AdverseSelectionConfig`): after each of
  our fills the fair price drifts against the filled side, over a few seconds and for good;
- depleted depth: liquidity we took is missing from the top of that side of the book and
  comes back with the book's resilience half-life, so sweeping a thin book twice costs more.

Books are created when first quoted or ordered and brought forward lazily; a book with resting
orders is stepped one market step at a time so the matcher sees every step's trades.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from ..brokers.base import DepthLevel, Quote
from ..timeutil import SESSION_SECONDS, round_to_tick
from .chain import Chain, Instrument
from .config import PaperConfig
from .orders import BUY, SELL, SimOrder
from .paths import BLOCK, LEVELS, IndexPath, MarketSeries, OptionSeries
from .pricing import FloatArray
from .rules import lpp_band
from .session import MarketTimeline

#: How far a market order may walk: levels beyond the five shown repeat the fifth's size.
MAX_WALK_LEVELS = 200
_LN2 = math.log(2.0)


@dataclass(frozen=True, slots=True)
class PaperQuote(Quote):
    """A Kite-like quote: the engine's :class:`Quote` (five levels of depth filled in) plus the
    last trade's size, the index level and the price band."""

    last_quantity: int = 0
    underlying_price: float | None = None
    #: Limit price protection band: buys above the upper or sells below the lower are refused.
    lower_circuit_limit: float | None = None
    upper_circuit_limit: float | None = None


@dataclass(frozen=True, slots=True)
class Touch:
    """Best bid and ask of one step in ticks (bid 0 means no bid), and the level spacing."""

    bid_t: int
    ask_t: int
    gap: int


class OptionBook:
    """One option's market as our orders see it."""

    def __init__(self, series: MarketSeries, cfg: PaperConfig, k: int) -> None:
        self.series = series
        self.inst: Instrument = series.inst
        self.tick = self.inst.tick_size
        self.lot = self.inst.lot_size
        self._decimals = max(0, -math.floor(math.log10(self.tick)) + 1)
        self.step_s = cfg.market.step_s
        self.gamma = cfg.impact.gamma
        self.eta = cfg.impact.eta
        self._temp_rate = _LN2 / cfg.impact.temporary_half_life_s
        self._book_rate = _LN2 / cfg.market.book_resilience_s
        self.permanent = 0.0
        self._temporary = 0.0
        self._temporary_m = 0.0
        adverse = cfg.adverse_selection
        self._drift_fraction = adverse.post_fill_drift_bps / 1e4
        self._drift_s = adverse.post_fill_drift_s
        self._drift_settled = 0.0  # drift whose ramp is over
        self._drifts: list[tuple[float, float]] = []  # (start second, amount) still ramping
        self._taken = {BUY: 0.0, SELL: 0.0}  # lots missing from the asks (BUY) or bids (SELL)
        self._taken_m = {BUY: 0.0, SELL: 0.0}
        #: Orders resting on this book, in time priority (owned by the matcher).
        self.resting: list[SimOrder] = []
        self.k_done = k
        self.day = self._day_of(k)
        first = self._first_step(self.day)
        self.market_volume = series.volume_between(first - 1, k)
        self.own_volume = 0
        # Until the first trade, the last price is the fair price on the tick grid (a close).
        self.ltp = self.price(round(self.fair(k, k * self.step_s) / self.tick))
        self.ltp_m = -math.inf
        self.last_quantity = 0
        last = series.last_trade_step(first - 1, k)
        if last is not None:
            self._set_market_ltp(last)

    # ---------------------------------------------------------------- time and prices

    def _day_of(self, k: int) -> int:
        return int(k * self.step_s // SESSION_SECONDS)

    def _first_step(self, day: int) -> int:
        return math.ceil(day * SESSION_SECONDS / self.step_s - 1e-9)

    def temporary_at(self, m: float) -> float:
        if not self._temporary:
            return 0.0
        return self._temporary * math.exp(-self._temp_rate * max(0.0, m - self._temporary_m))

    def drift_at(self, m: float) -> float:
        """The post-fill drift (adverse selection) in the fair price at market second ``m``."""
        if not self._drifts:
            return self._drift_settled
        ramp = self._drift_s
        return self._drift_settled + sum(
            amount * min(1.0, max(0.0, (m - start) / ramp)) for start, amount in self._drifts)

    def fair(self, k: int, m: float) -> float:
        """Fair price: Black-76 value of step ``k`` plus our impact at market second ``m``."""
        b, i = divmod(k, BLOCK)
        return (self.series.block(b).fair_list[i] + self.permanent + self.temporary_at(m)
                + self.drift_at(m))

    def touch(self, k: int, m: float) -> Touch:
        """The market's own best bid/ask (before depletion by our orders)."""
        b, i = divmod(k, BLOCK)
        blk = self.series.block(b)
        half = blk.half_spread[i]
        f = (blk.fair_list[i] + self.permanent + self.temporary_at(m)
             + self.drift_at(m)) / self.tick
        # Each side rounds to the nearest tick, so the bid only moves when the fair price does.
        bid_t = math.floor(f - half + 0.5)
        ask_t = max(math.floor(f + half + 0.5), bid_t + 1, 1)
        return Touch(max(bid_t, 0), ask_t, max(1, int(2.0 * half) // 3))

    def price(self, ticks: int) -> float:
        """A price in ticks as rupees, formatted cleanly (0.3, never 0.30000000000000004)."""
        return round(ticks * self.tick, self._decimals)

    # ---------------------------------------------------------------- depth

    def taken_at(self, side: int, m: float) -> float:
        """Lots of ``side``'s liquidity still missing (BUY: asks taken, SELL: bids taken)."""
        if not self._taken[side]:
            return 0.0
        elapsed = max(0.0, m - self._taken_m[side])
        return self._taken[side] * math.exp(-self._book_rate * elapsed)

    def levels(self, side: int, k: int, m: float,
               touch: Touch | None = None) -> Iterator[tuple[int, int]]:
        """(price in ticks, lots) a ``side`` order can take, best first, after depletion."""
        b, i = divmod(k, BLOCK)
        blk = self.series.block(b)
        lots = (blk.ask_lots if side == BUY else blk.bid_lots)[i].tolist()
        if touch is None:
            touch = self.touch(k, m)
        skip = math.floor(self.taken_at(side, m) + 0.5)  # whole lots still missing
        price_t, step = (touch.ask_t, touch.gap) if side == BUY else (touch.bid_t, -touch.gap)
        last = lots[-1]
        for level in range(MAX_WALK_LEVELS):
            if price_t < 1:
                return
            size = lots[level] if level < LEVELS else last
            if skip >= size:
                skip -= size
            else:
                yield price_t, size - skip
                skip = 0
            price_t += step

    def take(self, side: int, lots: int, limit_t: int, k: int, m: float) -> list[tuple[int, int]]:
        """Walk the book for up to ``lots`` at prices no worse than ``limit_t``."""
        fills: list[tuple[int, int]] = []
        wanted = lots
        for price_t, available in self.levels(side, k, m):
            if wanted <= 0 or (price_t > limit_t if side == BUY else price_t < limit_t):
                break
            n = min(wanted, available)
            fills.append((price_t, n))
            wanted -= n
        taken = lots - wanted
        if taken:
            self._taken[side] = self.taken_at(side, m) + taken
            self._taken_m[side] = m
        return fills

    def queue_at(self, side: int, price_t: int, k: int, m: float) -> int:
        """Units resting at ``price_t`` on our own side, ahead of an order joining there."""
        for level_t, lots in self.levels(-side, k, m):
            if level_t == price_t:
                return lots * self.lot
            if (level_t < price_t) if side == BUY else (level_t > price_t):
                return 0
        return 0

    def depth(self, side: int, k: int, m: float,
              touch: Touch | None = None) -> tuple[DepthLevel, ...]:
        """Five levels a ``side`` order would take (BUY: the asks), Kite's depth format."""
        out: list[DepthLevel] = []
        tick, decimals, lot = self.tick, self._decimals, self.lot
        for price_t, lots in self.levels(side, k, m, touch):
            out.append(DepthLevel(round(price_t * tick, decimals), lots * lot, 1 + lots // 4))
            if len(out) == LEVELS:
                break
        return tuple(out)

    # ---------------------------------------------------------------- our trades

    def on_fill(self, side: int, units: int, price: float, m: float, *, counts: bool) -> None:
        """Apply our fill: impact, last price, and (when ``counts``) session volume."""
        if self.gamma:
            self.permanent += side * self.gamma * units
        if self.eta:
            self._temporary = self.temporary_at(m) + side * self.eta * units
            self._temporary_m = m
        if self._drift_fraction:
            over = [(start, amount) for start, amount in self._drifts
                    if m - start >= self._drift_s]
            self._drift_settled += sum(amount for _, amount in over)
            self._drifts = [d for d in self._drifts if m - d[0] < self._drift_s]
            self._drifts.append((m, -side * price * self._drift_fraction))
        self.ltp, self.ltp_m, self.last_quantity = price, m, units
        if counts:
            self.own_volume += units

    # ---------------------------------------------------------------- bookkeeping

    def settle(self, k: int) -> None:
        """Bring volume and last price forward to step ``k`` (matching is done by then)."""
        if k <= self.k_done:
            return
        day = self._day_of(k)
        since = self.k_done
        if day != self.day:
            self.day, self.own_volume = day, 0
            since = self._first_step(day) - 1
            self.market_volume = 0
        self.market_volume += self.series.volume_between(since, k)
        last = self.series.last_trade_step(max(since, self.k_done), k)
        if last is not None and last * self.step_s > self.ltp_m:
            self._set_market_ltp(last)
        self.k_done = k
        self.series.forget_before(k // BLOCK)

    def _set_market_ltp(self, k: int) -> None:
        m = k * self.step_s
        touch = self.touch(k, m)
        b, i = divmod(k, BLOCK)
        at_ask = self.series.block(b).last_at_ask[i] or touch.bid_t < 1
        self.ltp = self.price(touch.ask_t if at_ask else touch.bid_t)
        self.ltp_m = m
        self.last_quantity = self.lot

    @property
    def volume(self) -> int:
        return self.market_volume + self.own_volume


StepHook = Callable[[OptionBook, int], None]


class Market:
    """Every index walk and every touched option book, advanced lazily to a market second.

    Each option's series is generated from the seed (:class:`~.paths.OptionSeries`) unless
    ``series`` holds one for it, by (exchange, tradingsymbol): a replay's market.
    """

    def __init__(self, cfg: PaperConfig, chain: Chain, timeline: MarketTimeline,
                 bin_shares: FloatArray,
                 series: Mapping[tuple[str, str], MarketSeries] | None = None) -> None:
        self.cfg = cfg
        self.chain = chain
        self.timeline = timeline
        self.step_s = cfg.market.step_s
        self._shares = bin_shares
        self.bin_shares = bin_shares  # the intraday volume profile it trades
        self._indices: dict[str, IndexPath] = {}
        self._given = dict(series or {})
        self.books: dict[tuple[str, str], OptionBook] = {}

    def step_of(self, m: float) -> int:
        return math.floor(m / self.step_s + 1e-9)

    def index_path(self, underlying: str) -> IndexPath:
        path = self._indices.get(underlying)
        if path is None:
            market = self.cfg.market.underlyings[underlying]
            key = self.chain.index(underlying).stream_key
            path = self._indices[underlying] = IndexPath(self.cfg.seed, key, market, self.step_s)
        return path

    def spot(self, underlying: str, m: float) -> float:
        return self.index_path(underlying).at(self.step_of(m))

    def book(self, inst: Instrument, m: float, hook: StepHook | None = None) -> OptionBook:
        """The option's book brought forward to ``m`` (created on first touch)."""
        key = (inst.exchange, inst.tradingsymbol)
        book = self.books.get(key)
        k = self.step_of(m)
        if book is None:
            series = self._given.get(key)
            if series is None:
                series = OptionSeries(self.cfg.seed, inst, self.index_path(inst.name),
                                      self.cfg.market.underlyings[inst.name], self.cfg.market,
                                      self.timeline, self._shares)
            book = self.books[key] = OptionBook(series, self.cfg, k)
        else:
            self.advance_book(book, k, hook)
        return book

    def advance_book(self, book: OptionBook, k: int, hook: StepHook | None) -> None:
        """Step a book with resting orders through every step up to ``k``; settle the rest."""
        if k <= book.k_done:
            return
        if book.resting and hook is not None:
            for step in range(book.k_done + 1, k + 1):
                hook(book, step)
                if not book.resting:
                    break
        book.settle(k)

    def advance(self, m: float, hook: StepHook) -> None:
        """Bring every book with resting orders forward to ``m``."""
        k = self.step_of(m)
        for book in list(self.books.values()):
            if book.resting:
                self.advance_book(book, k, hook)

    def quote(self, inst: Instrument, m: float, epoch: float, hook: StepHook | None) -> PaperQuote:
        """A Kite-like snapshot of the option's book at ``m``."""
        book = self.book(inst, m, hook)
        k = self.step_of(m)
        touch = book.touch(k, m)
        asks = book.depth(BUY, k, m, touch)
        bids = book.depth(SELL, k, m, touch)
        lower, upper = lpp_band(book.ltp, self.cfg.rules, book.tick)
        return PaperQuote(
            tradingsymbol=inst.tradingsymbol, timestamp=epoch,
            bid=bids[0].price if bids else None, ask=asks[0].price if asks else None,
            ltp=book.ltp,
            volume=book.volume,
            bid_quantity=bids[0].quantity if bids else 0,
            ask_quantity=asks[0].quantity if asks else 0,
            depth_buy=bids, depth_sell=asks, last_quantity=book.last_quantity,
            underlying_price=round(self.spot(inst.name, m), 2),
            lower_circuit_limit=lower, upper_circuit_limit=upper,
        )

    def index_quote(self, inst: Instrument, m: float, epoch: float) -> PaperQuote:
        spot = round_to_tick(self.spot(inst.name, m), inst.tick_size)
        return PaperQuote(tradingsymbol=inst.tradingsymbol, timestamp=epoch, bid=None, ask=None,
                          ltp=spot, volume=0, underlying_price=spot)

"""PaperBroker: the simulated NSE index-options exchange behind the :class:`Broker` protocol.

``PaperBroker()`` is the desk's default: an always-open NIFTY (plus BANKNIFTY and SENSEX) market
on the real clock, no faults, a five-crore demo margin. Tests and benchmarks pass
``clock=VirtualClock()`` and a seed; the market then moves only as virtual time does, and the
same calls at the same virtual times always see the same market, fills and faults.

Threading: one lock around the exchange; the engine may call from any worker thread. On a real
clock, latency and timeouts block the calling thread (outside the lock) as a real client would;
on any other clock nothing sleeps: latency delays when the order reaches the matching engine.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Literal

from ...clock import Clock, RealClock
from ...engine.rate_budget import AccountRateLimits
from ...instruments import default_instrument_master
from ...sim.chain import Chain, Instrument
from ...sim.config import (
    FaultConfig,
    ImpactConfig,
    MarketConfig,
    PaperConfig,
)
from ...sim.costs import paper_slippage_params
from ...sim.exchange import PaperExchange, Trade
from ...sim.market import PaperQuote
from ...sim.paths import MarketSeries
from ...sim.pricing import FloatArray
from ...timeutil import IST, SESSION_SECONDS
from ...volume_curve import VolumeCurve
from ..base import (
    BrokerCapabilities,
    BrokerOrder,
    BrokerPosition,
    MarginCheck,
    MarginLeg,
    OptionChain,
    OrderInstruction,
)
from ..errors import BrokerTimeout, InputException
from ..kite.errors import KITE_ERRORS


class PaperBroker:
    """A simulated exchange and broker account that the engine drives like Kite."""

    name = "paper"

    def __init__(self, config: PaperConfig | None = None, *, clock: Clock | None = None,
                 seed: int | None = None, margin: float | None = None,
                 hours: Literal["always_open", "nse"] | None = None,
                 latency_ms: float | None = None, faults: FaultConfig | None = None,
                 impact: ImpactConfig | bool | None = None, market: MarketConfig | None = None,
                 instruments_csv: str | None = None,
                 volume_shares: FloatArray | None = None, chain: Chain | None = None,
                 series: Mapping[tuple[str, str], MarketSeries] | None = None,
                 opened_at: float | None = None) -> None:
        """``chain`` lists these instruments instead of the configured chain; ``series`` gives
        options' markets instead of generating them (by exchange and tradingsymbol); an
        always-open session opened at ``opened_at`` (default: now). A replay
        (:mod:`imperium_exec.whatif.paper`) uses the three."""
        cfg = config if config is not None else PaperConfig()
        cfg = _override(cfg, seed=seed, margin=margin, hours=hours, latency_ms=latency_ms,
                        faults=faults, impact=impact, market=market)
        self.config = cfg
        self.clock: Clock = clock if clock is not None else RealClock()
        self._sleeps = isinstance(self.clock, RealClock)
        self._lock = threading.RLock()
        start = self.clock.now() if opened_at is None else opened_at
        if instruments_csv is not None:
            on = dt.datetime.fromtimestamp(start, IST)
            chain = Chain.from_kite_csv(instruments_csv, default_instrument_master().underlyings,
                                        on.date())
        self.exchange = PaperExchange(cfg, start, chain=chain, shares_override=volume_shares,
                                      series=series)
        rules = cfg.rules
        #: The exchange's order-write limits, so the engine's budget keeps to them as at Kite;
        #: the simulated book is read for free.
        self.rate_limits = AccountRateLimits(
            writes_per_second=rules.orders_per_second,
            writes_per_minute=rules.orders_per_minute, writes_per_day=rules.orders_per_day,
            quotes_per_second=None, reads_per_second=None)
        #: This exchange's true costs as the slippage model's parameters: the engine estimates
        #: its children with them (instead of the live defaults), so the dock's expected cost
        #: is what the paper exchange really charges.
        self.slippage_params = paper_slippage_params(cfg)
        shares = self.exchange.market.bin_shares
        #: The intraday volume curve this exchange trades every session (expiry day or not):
        #: the planner plans with it, as the slippage model takes the true costs above.
        self.volume_curve = VolumeCurve(
            shares, bin_seconds=SESSION_SECONDS / len(shares), name="paper exchange")
        #: The book is in this process: the engine reads it as a pushed stream, never over
        #: REST. The exchange plays a Kite account: its errors read in Kite's dialect.
        self.capabilities = BrokerCapabilities(
            rate_limits=self.rate_limits, errors=KITE_ERRORS, local_market_data=True,
            quotes=self.quotes, lists=self.lists, basket_margin=self.basket_margin,
            positions=self.positions, clock=self.clock, volume_curve=self.volume_curve,
            slippage_params=self.slippage_params,
            late_order_window_s=late_order_window_s(cfg))

    # ---------------------------------------------------------------- Broker protocol

    def place_order(self, order: OrderInstruction) -> str:
        with self._lock:
            plan = self.exchange.faults.plan()
        if self._sleeps and plan.latency_s > 0:
            time.sleep(plan.latency_s)
            plan = replace(plan, latency_s=0.0)
        try:
            with self._lock:
                return self.exchange.place(order, self.clock.now(), plan)
        except BrokerTimeout:
            if self._sleeps:
                time.sleep(self.config.faults.client_timeout_s)
            raise

    def cancel_order(self, order_id: str) -> None:
        with self._lock:
            latency = self.exchange.faults.latency_s()
        if self._sleeps and latency > 0:
            time.sleep(latency)
            latency = 0.0
        with self._lock:
            self.exchange.cancel(order_id, self.clock.now(), latency)

    def orders(self) -> list[BrokerOrder]:
        with self._lock:
            return self.exchange.orders(self.clock.now())

    def quote(self, tradingsymbol: str, exchange: str | None = None) -> PaperQuote | None:
        """Best bid/ask, LTP, session volume and five levels of depth; None if not listed."""
        with self._lock:
            return self.exchange.quote(tradingsymbol, exchange, self.clock.now())

    def quotes(self, keys: list[str]) -> dict[str, PaperQuote]:
        """Quotes of ``"EXCHANGE:SYMBOL"`` keys; unlisted instruments are left out."""
        out: dict[str, PaperQuote] = {}
        with self._lock:
            now = self.clock.now()
            for key in keys:
                exchange, _, symbol = key.partition(":")
                quote = self.exchange.quote(symbol, exchange or None, now)
                if quote is not None:
                    out[key] = quote
        return out

    def session_seconds(self, epoch: float) -> float:
        return self.exchange.timeline.session_seconds(epoch)

    def basket_margin(self, legs: list[MarginLeg]) -> MarginCheck:
        """The margin ``legs`` need once all of them filled, on top of the positions held and
        with the hedge benefit (SPAN-like, :mod:`imperium_exec.costs.margin`), against the margin
        available now; ``required_without_hedge``: the legs margined one by one."""
        with self._lock:
            return self.exchange.basket_margin(list(legs), self.clock.now())

    def positions(self) -> list[BrokerPosition]:
        """The account's net positions per instrument and product (Kite's ``net`` list):
        net units, the average price they were acquired at, the last price and the P&L at it;
        instruments traded and closed show flat. Whoever placed the orders: a session before
        this one on the same broker included."""
        with self._lock:
            return self.exchange.positions(self.clock.now())

    # ---------------------------------------------------------------- desk and benchmarks

    def lists(self, tradingsymbol: str, exchange: str) -> bool:
        """Whether the paper exchange lists the instrument."""
        with self._lock:
            return self.exchange.instrument(tradingsymbol, exchange) is not None

    def instruments(self, underlying: str | None = None) -> list[Instrument]:
        """Everything listed (indices and options), or one underlying's."""
        rows = self.exchange.chain.all()
        return [i for i in rows if underlying is None or i.name == underlying]

    def instruments_csv(self) -> str:
        """The listed instruments as a Kite ``instruments`` CSV dump."""
        return self.exchange.chain.to_kite_csv()

    def option_chain(self, underlying: str = "NIFTY", expiry: dt.date | None = None,
                     strikes_each_side: int = 10) -> OptionChain:
        with self._lock:
            return self.exchange.option_chain(underlying, expiry, strikes_each_side,
                                              self.clock.now())

    def spot(self, underlying: str = "NIFTY") -> float:
        with self._lock:
            return self.exchange.spot(underlying, self.clock.now())

    def fair_price(self, tradingsymbol: str, exchange: str | None = None) -> float:
        """True fair price of an option now (Black-76 plus our impact), for benchmarks."""
        with self._lock:
            inst = self.exchange.instrument(tradingsymbol, exchange)
            if inst is None or not inst.is_option:
                raise InputException(f"{tradingsymbol!r} is not an option listed here.")
            return self.exchange.fair_price(inst, self.clock.now())

    def trades(self) -> list[Trade]:
        with self._lock:
            self.exchange.advance(self.clock.now())
            return list(self.exchange.trades)

    def margins(self) -> dict[str, float]:
        """Kite-like summary of the account: net available, utilised, and the configured total."""
        with self._lock:
            self.exchange.advance(self.clock.now())
            account = self.exchange.account
            return {"net": account.available, "utilised": account.utilised,
                    "opening_balance": self.config.account.margin}


#: Beyond the exchange's own delays, time for the engine's book reads to see an order.
LATE_ORDER_READS_S = 5.0


def late_order_window_s(cfg: PaperConfig) -> float:
    """How late an order sent to this exchange can show in its book: a delayed order's
    delay, and the request's way there and back at the latency's cap, and the reads'."""
    faults = cfg.faults
    return faults.delayed_order_s + 2.0 * faults.latency.max_ms / 1e3 + LATE_ORDER_READS_S


def _override(cfg: PaperConfig, *, seed: int | None, margin: float | None,
              hours: Literal["always_open", "nse"] | None, latency_ms: float | None,
              faults: FaultConfig | None, impact: ImpactConfig | bool | None,
              market: MarketConfig | None) -> PaperConfig:
    """Apply the keyword shortcuts of :class:`PaperBroker` on top of a config."""
    updates: dict[str, object] = {}
    if seed is not None:
        updates["seed"] = int(seed)
    if margin is not None:
        updates["account"] = cfg.account.model_copy(update={"margin": float(margin)})
    if hours is not None:
        updates["session"] = cfg.session.model_copy(update={"hours": hours})
    chosen = faults if faults is not None else cfg.faults
    if latency_ms is not None:
        latency = chosen.latency.model_copy(update={"median_ms": float(latency_ms)})
        chosen = chosen.model_copy(update={"latency": latency})
    updates["faults"] = chosen
    if isinstance(impact, bool):
        updates["impact"] = cfg.impact.model_copy(update={"enabled": impact})
    elif impact is not None:
        updates["impact"] = impact
    if market is not None:
        updates["market"] = market
    return cfg.model_copy(update=updates)

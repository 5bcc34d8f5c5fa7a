"""Simulated markets whose cheapest execution is known, for scoring the production algorithms.

Two worlds (``../shared/reference/execution-quality.md`` §1, §5, §6), each a broker the real
:class:`~imperium_exec.engine.execution_engine.ExecutionEngine` drives on a virtual clock, so a
parent goes through the production planner, router, engine and telemetry, and its fills are
read back from the journal:

- **The Almgren–Chriss world** (:class:`AcWorld`): an arithmetic Brownian mid, linear permanent
  impact ``gamma`` and linear temporary impact ``eta`` on the trading rate, a half-spread
  ``epsilon``, every order filled at once. The window is cut into ``N`` intervals of ``tau``;
  a child sent in interval ``k`` trades at the mid as the interval opened, plus the spread and
  the temporary impact of everything the parent traded in that interval. Its optimum is the AC
  trajectory for the risk aversion (TWAP at λ = 0).
- **The volume world** (:class:`VolumeWorld`): the market trades a known intraday curve with a
  day-level and an interval-level lognormal noise; a child's temporary impact is
  ``eta * sigma_p * (n_k / V_k) ** beta`` per unit, ``n_k`` what the parent traded in its
  interval and ``V_k`` what the rest of the market traded there. With interval noise
  independent of the past, the cheapest schedule that does not see the future is constant
  expected participation: ``n_k = X * w_k`` with ``w_k`` the curve's share of interval ``k``.

Both keep the price noise they drew (``noise``), so a benchmark can take it out of each
parent's shortfall: ``IS_adj = IS - sum_k sigma sqrt(tau) xi_k x_k`` for a buy (``x_k``
the quantity still to buy after interval ``k``), exact for any schedule chosen before the
noise it meets, and the same paths serve every algorithm (common random numbers).
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..algos.plan import PlannerParams
from ..algos.planner import ExecutionAlgoPlanner
from ..brokers.base import BrokerCapabilities, BrokerOrder, OrderInstruction, OrderStatus, Quote
from ..brokers.kite.errors import KITE_ERRORS
from ..clock import VirtualClock
from ..engine.config import EngineConfig
from ..engine.execution_engine import ExecutionEngine
from ..request import ExecutionRequest, Side
from ..risk import RiskLimits
from ..telemetry import FillQualityTracker, read_rows
from ..volume_curve import VolumeCurve

FloatArray = npt.NDArray[np.float64]


# ---------------------------------------------------------------------- one symbol's market


class IntervalMarket(Protocol):
    """One instrument's market on the world's interval grid."""

    def mid(self, k: int) -> float:
        """The mid while interval ``k`` (0-based) runs."""
        ...

    def trade(self, k: int, units: int) -> float:
        """Buy ``units`` in interval ``k``: their average price (recorded)."""
        ...

    def market_volume(self, position: float) -> float:
        """Units the rest of the market traded by ``position`` intervals from the start."""
        ...


@dataclass
class _Traded:
    """What the parent bought in each interval so far."""

    by_interval: dict[int, int] = field(default_factory=dict)

    def before(self, k: int) -> int:
        return self.by_interval.get(k, 0)

    def add(self, k: int, units: int) -> None:
        self.by_interval[k] = self.by_interval.get(k, 0) + units

    def through(self, k: int) -> int:
        """Units bought in intervals before ``k``."""
        return sum(q for j, q in self.by_interval.items() if j < k)


# ---------------------------------------------------------------------- the AC world


@dataclass(frozen=True)
class AcWorld:
    """The Almgren–Chriss world's parameters, in its own time unit (``T`` units long).

    The defaults are the AC paper's example (X = 10^6 shares over 5 days in 5 intervals,
    sigma 0.95 per day^½, eta 2.5e-6, gamma 2.5e-7, epsilon 1/16): the reference's worked check.
    """

    lots: int = 20_000
    lot_size: int = 50
    T: float = 5.0
    N: int = 5
    S0: float = 50.0
    sigma: float = 0.95
    eta: float = 2.5e-6
    gamma: float = 2.5e-7
    #: Half the spread: a spread of one tick, so the router takes liquidity.
    epsilon: float = 0.0625
    #: Engine seconds per unit of the world's time (a "day" of the example is a minute).
    seconds_per_unit: float = 60.0

    @property
    def X(self) -> int:
        return self.lots * self.lot_size

    @property
    def tau(self) -> float:
        return self.T / self.N

    @property
    def tick(self) -> float:
        return 2.0 * self.epsilon

    @property
    def horizon_s(self) -> float:
        return self.T * self.seconds_per_unit


class AcMarket:
    """One parent's AC market: the mid moves by ``sigma sqrt(tau) xi_k`` and by ``gamma``
    per unit bought in interval ``k`` when the interval closes."""

    def __init__(self, world: AcWorld, xi: FloatArray) -> None:
        self.world = world
        self.xi = xi
        self._traded = _Traded()

    def mid(self, k: int) -> float:
        w = self.world
        k = max(0, min(k, w.N))
        noise = w.sigma * math.sqrt(w.tau) * float(self.xi[:k].sum())
        return w.S0 + noise + w.gamma * self._traded.through(k)

    def trade(self, k: int, units: int) -> float:
        w = self.world
        before = self._traded.before(k)
        # Temporary impact eta * v on the interval's whole rate: the interval's n costs
        # eta n^2 / tau, so units from `before` to `before + units` cost the difference.
        temporary = w.eta * ((before + units) ** 2 - before ** 2) / w.tau / units
        self._traded.add(k, units)
        return self.mid(k) + w.epsilon + temporary

    def market_volume(self, position: float) -> float:
        return 0.0


# ---------------------------------------------------------------------- the volume world


@dataclass(frozen=True)
class VolumeWorld:
    """The volume world's parameters: a whole session in ``N`` intervals, times in seconds."""

    curve: VolumeCurve
    lots: int = 400
    lot_size: int = 65
    N: int = 75
    S0: float = 100.0
    #: Premium volatility, rupees per second^½ (taken out of the shortfall as noise).
    sigma: float = 0.01
    #: Temporary impact: eta * sigma_p * participation ** beta, in rupees per unit.
    eta: float = 0.5
    sigma_p: float = 10.0
    beta: float = 0.6
    epsilon: float = 0.025
    #: Expected market volume over the session, units, and its lognormal noise (sd of the log).
    day_volume: float = 2_600_000.0
    day_noise: float = 0.30
    interval_noise: float = 0.20

    @property
    def X(self) -> int:
        return self.lots * self.lot_size

    @property
    def horizon_s(self) -> float:
        return self.curve.session_length_s

    @property
    def tau_s(self) -> float:
        return self.horizon_s / self.N

    @property
    def tick(self) -> float:
        return 2.0 * self.epsilon

    def interval_shares(self, curve: VolumeCurve | None = None) -> FloatArray:
        """``curve``'s (the world's own by default) share of each interval."""
        c = curve or self.curve
        edges = np.linspace(0.0, self.horizon_s, self.N + 1)
        return np.array([c.fraction(float(edges[k]), float(edges[k + 1]))
                         for k in range(self.N)])

    def draw_volumes(self, rng: np.random.Generator) -> FloatArray:
        """One day's market volume in each interval (the rest of the market's)."""
        day = math.exp(rng.normal(-0.5 * self.day_noise ** 2, self.day_noise))
        noise = np.exp(rng.normal(-0.5 * self.interval_noise ** 2, self.interval_noise,
                                  size=self.N))
        volumes: FloatArray = self.day_volume * day * self.interval_shares() * noise
        return volumes

    def impact_cost(self, schedule: FloatArray, volumes: FloatArray) -> float:
        """The temporary impact of a schedule (units per interval) on a day's volumes, rupees."""
        n = np.asarray(schedule, dtype=np.float64)
        return float(self.eta * self.sigma_p
                     * np.sum(n ** (1.0 + self.beta) / volumes ** self.beta))


class VolumeMarket:
    """One parent's volume-world market: its day's volumes, its price noise."""

    def __init__(self, world: VolumeWorld, volumes: FloatArray, xi: FloatArray) -> None:
        self.world = world
        self.volumes = volumes
        self.xi = xi
        self._cumulative = np.concatenate(([0.0], np.cumsum(volumes)))
        self._traded = _Traded()

    def mid(self, k: int) -> float:
        w = self.world
        k = max(0, min(k, w.N))
        return w.S0 + w.sigma * math.sqrt(w.tau_s) * float(self.xi[:k].sum())

    def trade(self, k: int, units: int) -> float:
        w = self.world
        k = min(k, w.N - 1)
        before = self._traded.before(k)
        v = float(self.volumes[k])
        b = w.beta
        temporary = float(w.eta * w.sigma_p * ((before + units) ** (1 + b) - before ** (1 + b))
                          / v ** b / units)
        self._traded.add(k, units)
        return self.mid(k) + w.epsilon + temporary

    def market_volume(self, position: float) -> float:
        position = min(max(position, 0.0), float(self.world.N))
        return float(np.interp(position, np.arange(self.world.N + 1), self._cumulative))


# ---------------------------------------------------------------------- the broker


class WorldBroker:
    """A broker over one :class:`IntervalMarket` per instrument: every order fills at once, in
    full, at the market's price for the interval it arrives in. Quotes show the mid, a spread
    of one tick and the session's volume (the market's and ours, as an exchange counts it)."""

    name = "world"

    def __init__(self, clock: VirtualClock, markets: dict[str, IntervalMarket], *,
                 start: float, interval_s: float, tick: float,
                 counts_own_volume: bool = True) -> None:
        self.clock = clock
        self.markets = markets
        self.start = start
        self.interval_s = interval_s
        self.tick = tick
        self.counts_own_volume = counts_own_volume
        self._orders: dict[str, BrokerOrder] = {}
        self._own: dict[str, int] = {}
        self._ids = 300_000_000_000_000
        self._lock = threading.Lock()
        self.capabilities = BrokerCapabilities(errors=KITE_ERRORS, local_market_data=True,
                                               clock=clock)

    def position(self, epoch: float) -> float:
        """Intervals from the start to ``epoch``."""
        return (epoch - self.start) / self.interval_s

    def interval(self, epoch: float) -> int:
        # A slice sent at an interval's boundary belongs to the interval it opens.
        return max(0, math.floor(self.position(epoch) + 1e-9))

    def place_order(self, order: OrderInstruction) -> str:
        if order.side is not Side.BUY:
            raise ValueError("the worlds trade buys (sells are their mirror image)")
        with self._lock:
            market = self.markets[order.tradingsymbol]
            price = market.trade(self.interval(self.clock.now()), order.quantity)
            self._own[order.tradingsymbol] = self._own.get(order.tradingsymbol, 0) \
                + order.quantity
            self._ids += 1
            order_id = str(self._ids)
            self._orders[order_id] = BrokerOrder(
                order_id=order_id, tag=order.tag, tradingsymbol=order.tradingsymbol,
                exchange=order.exchange, side=order.side, quantity=order.quantity,
                filled_quantity=order.quantity, average_price=price,
                status=OrderStatus.COMPLETE, pending_quantity=0,
                exchange_timestamp=self.clock.now())
        return order_id

    def cancel_order(self, order_id: str) -> None:
        raise ValueError(f"order {order_id} is already complete")

    def orders(self) -> list[BrokerOrder]:
        with self._lock:
            return list(self._orders.values())

    def quote(self, tradingsymbol: str, exchange: str) -> Quote | None:
        market = self.markets.get(tradingsymbol)
        if market is None:
            return None
        now = self.clock.now()
        with self._lock:  # orders go in on the engine's worker threads
            mid = market.mid(self.interval(now))
            volume = market.market_volume(self.position(now))
            if self.counts_own_volume:
                volume += self._own.get(tradingsymbol, 0)
        half = self.tick / 2.0
        return Quote(tradingsymbol=tradingsymbol, timestamp=now, bid=mid - half,
                     ask=mid + half, ltp=mid, volume=int(volume), bid_quantity=10 ** 9,
                     ask_quantity=10 ** 9)

    def session_seconds(self, epoch: float) -> float:
        return epoch - self.start


# ---------------------------------------------------------------------- running parents


#: No pre-trade limit stands between a benchmark parent and the engine.
NO_LIMITS = RiskLimits(max_freezes_per_parent=None, max_premium_per_parent=None,
                       max_orders_per_parent=None, max_through_touch=None, price_band=False,
                       max_working_parents=None, check_margin=False,
                       check_margin_of_buys_above=None)


@dataclass(frozen=True)
class Fill:
    """One fill increment as the journal has it."""

    ts: float
    quantity: int
    price: float


@dataclass(frozen=True)
class ParentRun:
    """One parent's outcome, from its journal rows."""

    symbol: str
    quantity: int
    start: float  #: when it was accepted (epoch seconds)
    fills: tuple[Fill, ...]
    children: int

    @property
    def filled(self) -> int:
        return sum(f.quantity for f in self.fills)

    @property
    def paid(self) -> float:
        return sum(f.quantity * f.price for f in self.fills)


def symbol_for(i: int) -> str:
    """A distinct NIFTY-style contract per simulated parent."""
    return f"NIFTY26D01{10_000 + 50 * i}CE"


def buy_request(symbol: str, quote: Quote, *, quantity: int, lot_size: int, tick: float,
                algo: str, slices: int, horizon_s: float, participation_rate: float | None = None,
                randomize: bool = False) -> ExecutionRequest:
    """A desk-style MARKET buy: the production defaults but for the slice randomisation (off
    unless ``randomize``: the benchmark scores the schedule itself; with it, the plan's seed is
    the symbol's, so a run repeats)."""
    fields: dict[str, object] = dict(
        tradingsymbol=symbol, exchange="NFO", side="BUY", quantity=quantity,
        order_type="MARKET", lot_size=lot_size, tick_size=tick,
        freeze_quantity=quantity + lot_size, bid=quote.bid, ask=quote.ask, ltp=quote.ltp,
        execution_algo=algo, randomize_slices=randomize, seed=zlib.crc32(symbol.encode()))
    if algo != "IMMEDIATE":
        fields.update(max_child_orders=slices, horizon_s=horizon_s)
    if participation_rate is not None:
        fields.update(participation_rate=participation_rate)
    return ExecutionRequest.model_validate(fields)


def run_world(markets: Sequence[IntervalMarket], *, interval_s: float, tick: float,
              planner: ExecutionAlgoPlanner, journal: Path,
              make_request: RequestMaker, counts_own_volume: bool = True,
              timeout_s: float = 600.0) -> list[ParentRun]:
    """One parent per market, all submitted at one virtual instant to one real engine over a
    :class:`WorldBroker`, journalled to ``journal``; their outcomes read back from it."""
    clock = VirtualClock(auto_advance=False)
    start = clock.now()
    symbols = [symbol_for(i) for i in range(len(markets))]
    broker = WorldBroker(clock, dict(zip(symbols, markets, strict=True)), start=start,
                         interval_s=interval_s, tick=tick, counts_own_volume=counts_own_volume)
    # Read back at once (and thrown away by the what-if): no fsync as each parent finishes.
    tracker = FillQualityTracker("paper", path=journal, durable=False)
    engine = ExecutionEngine(broker, mode="paper", clock=clock, tracker=tracker, planner=planner,
                             config=EngineConfig(id_seed=7, markout_horizons_s=(),
                                                 risk_limits=NO_LIMITS))
    try:
        futures = []
        for symbol in symbols:
            quote = broker.quote(symbol, "NFO")
            assert quote is not None
            futures.append(engine.submit(make_request(symbol, quote))[1])
        clock.run_freely()
        for future in futures:
            future.result(timeout=timeout_s)
    finally:
        engine.shutdown(10.0)
        tracker.close()
    return read_runs(journal)


class RequestMaker(Protocol):
    def __call__(self, symbol: str, quote: Quote) -> ExecutionRequest: ...


def read_runs(journal: Path) -> list[ParentRun]:
    """Each parent's fills from the journal (its ``filled`` rows), in submission order."""
    rows = read_rows(journal)
    order: list[str] = []
    symbol: dict[str, str] = {}
    quantity: dict[str, int] = {}
    start: dict[str, float] = {}
    fills: dict[str, list[Fill]] = {}
    children: dict[str, set[str]] = {}
    placed_at: dict[str, float] = {}  # child id -> when its order went out
    for row in rows:
        parent = row.get("parent_id")
        if not isinstance(parent, str) or not parent:
            continue
        if row.get("event") == "accepted":
            order.append(parent)
            symbol[parent] = str(row["tradingsymbol"])
            quantity[parent] = int(row["parent_quantity"])
            start[parent] = float(row["ts"])
        elif row.get("event") == "placed":
            placed_at.setdefault(str(row.get("child_id")), float(row["ts"]))
        elif row.get("event") == "filled" and row.get("filled_quantity"):
            # The fill's time is its order's: the engine may read the fill a poll later.
            child = str(row.get("child_id"))
            fills.setdefault(parent, []).append(
                Fill(placed_at.get(child, float(row["ts"])), int(row["filled_quantity"]),
                     float(row["fill_price"])))
            children.setdefault(parent, set()).add(str(row.get("child_id")))
    return [ParentRun(symbol[p], quantity[p], start[p], tuple(fills.get(p, ())),
                      len(children.get(p, ()))) for p in order]


def bought_by_interval(run: ParentRun, *, interval_s: float, N: int) -> FloatArray:
    """Units bought in each of the ``N`` intervals from the parent's start."""
    bought = np.zeros(N, dtype=np.float64)
    for f in run.fills:
        k = min(N - 1, max(0, math.floor((f.ts - run.start) / interval_s + 1e-9)))
        bought[k] += f.quantity
    return bought


def holdings_after(run: ParentRun, *, interval_s: float, N: int) -> FloatArray:
    """``x_k``, k = 1..N: what was still to buy after each interval."""
    x: FloatArray = run.quantity - np.cumsum(bought_by_interval(run, interval_s=interval_s, N=N))
    return x


def ac_planner(kappa_t: float, *, time_jitter: float | None = None) -> ExecutionAlgoPlanner:
    """The production planner with its IS urgency set to ``kappa_t`` (κT) at every urgency
    (and its send-time jitter, when given)."""
    base = PlannerParams()
    params = replace(base, is_kappa_t={u: kappa_t for u in base.is_kappa_t},
                     time_jitter=base.time_jitter if time_jitter is None else time_jitter)
    return ExecutionAlgoPlanner(params=params)


__all__ = [
    "NO_LIMITS", "AcMarket", "AcWorld", "Fill", "IntervalMarket", "ParentRun", "RequestMaker",
    "VolumeMarket", "VolumeWorld", "WorldBroker", "ac_planner", "bought_by_interval",
    "buy_request",
    "holdings_after", "read_runs", "run_world", "symbol_for",
]

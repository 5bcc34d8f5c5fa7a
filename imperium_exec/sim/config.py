"""Configuration of the paper exchange: one pydantic model, every knob with a unit in its name.

Benchmarks read the true impact parameters from here, tests switch faults on from here, and the
desk's ``PaperBroker()`` uses the defaults: an always-open NIFTY/BANKNIFTY/SENSEX market with no
faults, no latency and a demo margin of five crore rupees.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class UnderlyingMarket(_Frozen):
    """Where an index starts and how it moves."""

    spot: Positive
    #: Annualised volatility of the index random walk (252 sessions of 375 minutes a year).
    annual_vol: Positive = 0.14
    #: Flat (smile-free) implied volatility used to price its options with Black-76.
    implied_vol: Positive = 0.14
    #: How many expiries to list (weekly where the index has weeklies, else monthly).
    expiries: Annotated[int, Field(ge=1, le=8)] = 2
    #: Strikes listed on each side of the at-the-money strike.
    strikes_each_side: Annotated[int, Field(ge=1, le=200)] = 20


def _default_underlyings() -> dict[str, UnderlyingMarket]:
    return {
        "NIFTY": UnderlyingMarket(spot=26_000.0, annual_vol=0.13, implied_vol=0.13),
        "BANKNIFTY": UnderlyingMarket(spot=59_000.0, annual_vol=0.15, implied_vol=0.15,
                                      expiries=2),
        "SENSEX": UnderlyingMarket(spot=85_000.0, annual_vol=0.13, implied_vol=0.13),
    }


class MarketConfig(_Frozen):
    """The simulated market: prices, spreads, depth and traded volume."""

    underlyings: dict[str, UnderlyingMarket] = Field(default_factory=_default_underlyings)
    #: Market time step. The market moves in whole steps; orders act at their own instant.
    step_s: Annotated[float, Field(ge=0.05, le=60.0)] = 1.0
    #: Risk-free rate for Black-76 discounting.
    rate: float = 0.065
    #: Full bid/ask spread as a fraction of the premium, before widening (8 bps of premium).
    spread_fraction: NonNegative = 0.0008
    #: Minimum full spread in ticks.
    min_spread_ticks: Annotated[int, Field(ge=1)] = 1
    #: Spread multiplier per standard deviation of moneyness: far strikes quote wider.
    spread_widening: NonNegative = 0.35
    #: Lots at the best level of an at-the-money book.
    depth_lots: Positive = 40.0
    #: Multipliers of ``depth_lots`` for levels 1..5 (levels further out repeat the last).
    level_shape: tuple[float, ...] = (1.0, 1.4, 1.8, 2.2, 2.6)
    #: Depth shrinks by exp(-depth_decay * |moneyness in sd|): thin books far from the money.
    depth_decay: NonNegative = 0.6
    #: Lognormal noise (sigma) on each level's size each step.
    depth_noise: NonNegative = 0.35
    #: Packaged intraday volume profile (:meth:`imperium_exec.volume_curve.VolumeCurve.load`).
    volume_profile: str = "normal"
    #: Lots an at-the-money option trades in a full session.
    daily_volume_lots: Positive = 150_000.0
    #: Volume shrinks by exp(-volume_decay * |moneyness in sd|).
    volume_decay: NonNegative = 0.9
    #: Lognormal noise (sigma) on the whole day's volume, and on each step's volume.
    day_volume_noise: NonNegative = 0.2
    step_volume_noise: NonNegative = 0.6
    #: Standard deviation of the buy-initiated share of each step's volume around one half.
    flow_imbalance: Annotated[float, Field(ge=0.0, le=0.5)] = 0.15
    #: Half-life of the book's recovery after our own orders took liquidity from it.
    book_resilience_s: Positive = 5.0
    #: A floor on time to expiry, so an always-open desk left running past an expiry still
    #: prices that contract as if it had this long to live.
    min_time_to_expiry_s: Positive = 1800.0


class ImpactConfig(_Frozen):
    """Our own trades move the option's fair price (AC-style, in rupees per unit traded).

    Every filled unit moves the fair price by ``permanent_per_unit`` for good and by
    ``temporary_per_unit`` more, which decays with ``temporary_half_life_s``: a buy of q units
    lifts the fair price by ``(permanent + temporary) * q`` at once and by ``permanent * q`` once
    the temporary part has decayed. Walking a thin book is a separate, always-on cost.
    """

    enabled: bool = True
    permanent_per_unit: NonNegative = 5e-5
    temporary_per_unit: NonNegative = 2e-4
    temporary_half_life_s: Positive = 30.0

    @property
    def gamma(self) -> float:
        """Permanent impact coefficient in effect (0 when impact is off)."""
        return self.permanent_per_unit if self.enabled else 0.0

    @property
    def eta(self) -> float:
        """Temporary impact coefficient in effect (0 when impact is off)."""
        return self.temporary_per_unit if self.enabled else 0.0


class AdverseSelectionConfig(_Frozen):
    """The market moves against each of our fills after it happens (adverse selection).

    After every fill of ours (each price level an order fills at is one fill), the fair price
    moves ``post_fill_drift_bps`` of the fill price against the filled side (down after a buy,
    up after a sale), linearly over ``post_fill_drift_s`` and for good after that. It costs the
    fill nothing at the time; the fill's markouts show it (at +5 s all of it, with the default
    two-second ramp). Off by default: for known-answer tests of the markouts.
    """

    post_fill_drift_bps: NonNegative = 0.0
    post_fill_drift_s: Positive = 2.0


class FaultKind(StrEnum):
    """What can go wrong with one order request."""

    NONE = "none"
    #: Connection never established: ``BrokerTimeout(sent=False)``, nothing recorded.
    TIMEOUT_BEFORE_SEND = "timeout_before_send"
    #: Read timeout after the broker recorded the order: ``BrokerTimeout(sent=True)``.
    GHOST = "ghost"
    #: OMS failure: ``NetworkException`` 503, nothing recorded.
    SERVER_ERROR = "server_error"
    #: Gateway HTML page: ``DataException`` 502, nothing recorded.
    GATEWAY_ERROR = "gateway_error"
    #: HTTP 400 "Order request timed out..." and the order appears ``delayed_order_s`` later.
    DELAYED_ORDER = "delayed_order"
    #: Accepted, but stuck in OPEN PENDING for ``stuck_pending_s`` before reaching the exchange.
    STUCK_PENDING = "stuck_pending"


class LatencyConfig(_Frozen):
    """One-way latency to the exchange, lognormal. Zero median means instantaneous."""

    median_ms: NonNegative = 0.0
    sigma: NonNegative = 0.5
    max_ms: NonNegative = 2_000.0


class FaultConfig(_Frozen):
    """Seeded fault injection for ``place_order``; rates are per request."""

    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    timeout_before_send_rate: Probability = 0.0
    ghost_rate: Probability = 0.0
    server_error_rate: Probability = 0.0
    gateway_error_rate: Probability = 0.0
    delayed_order_rate: Probability = 0.0
    stuck_pending_rate: Probability = 0.0
    #: When a "timed out" order shows up in the order book (Kite was seen at about 8 s).
    delayed_order_s: NonNegative = 8.0
    #: How long a stuck order stays pending (Kite was seen at up to 1.5 min).
    stuck_pending_s: NonNegative = 90.0
    #: The client's timeout: how long a timed-out call blocks on a real clock.
    client_timeout_s: NonNegative = 2.0
    #: Faults for the next requests, in order, before the rates apply (tests and demos).
    script: tuple[FaultKind, ...] = ()

    @model_validator(mode="after")
    def _rates_sum(self) -> FaultConfig:
        if sum(self.rates().values()) > 1.0 + 1e-12:
            raise ValueError("fault rates add up to more than 1")
        return self

    def rates(self) -> dict[FaultKind, float]:
        return {
            FaultKind.TIMEOUT_BEFORE_SEND: self.timeout_before_send_rate,
            FaultKind.GHOST: self.ghost_rate,
            FaultKind.SERVER_ERROR: self.server_error_rate,
            FaultKind.GATEWAY_ERROR: self.gateway_error_rate,
            FaultKind.DELAYED_ORDER: self.delayed_order_rate,
            FaultKind.STUCK_PENDING: self.stuck_pending_rate,
        }


class AccountConfig(_Frozen):
    """The trading account: margin available and how a shortfall is reported."""

    #: Available margin in rupees (demo: five crore).
    margin: NonNegative = 5e7
    #: "async": accepted, then REJECTED with Kite's RMS message (Kite's usual behaviour);
    #: "sync": refused at once with GeneralException 400 (Kite's MarginException).
    margin_rejection: Literal["async", "sync"] = "async"
    #: Margin blocked for a naked short option unit, as a fraction of the underlying notional
    #: (a short that a filled long of the same underlying, expiry and type covers needs only
    #: the spread's maximum loss: :mod:`imperium_exec.costs.margin`).
    short_margin_fraction: NonNegative = 0.12


class RulesConfig(_Frozen):
    """Exchange and broker limits on order requests."""

    orders_per_second: Annotated[int, Field(ge=1)] = 10
    orders_per_minute: Annotated[int, Field(ge=1)] = 400
    orders_per_day: Annotated[int, Field(ge=1)] = 5_000
    #: Limit price protection (NSE LPP): above this premium, +/- a fraction of the reference...
    lpp_threshold: Positive = 50.0
    lpp_fraction: Positive = 0.40
    #: ...and at or below it, +/- an absolute amount in rupees.
    lpp_absolute: Positive = 20.0
    #: Automatic market protection (market_protection=-1): (up to LTP, percent) tiers.
    auto_protection: tuple[tuple[float, float], ...] = (
        (10.0, 5.0), (100.0, 3.0), (500.0, 2.0), (float("inf"), 1.0),
    )
    max_tag_length: Annotated[int, Field(ge=1)] = 20

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=True)


class SessionConfig(_Frozen):
    """When the market is open.

    ``always_open``: the session opens when the broker starts and runs for ever, each 375
    minutes a new intraday volume day. ``nse``: 09:15-15:30 IST on every calendar day (holidays
    and weekends are not modelled); orders outside those hours are refused.
    """

    hours: Literal["always_open", "nse"] = "always_open"


class PaperConfig(_Frozen):
    """Everything the paper exchange needs; deterministic for a seed."""

    seed: int = 20_261_124
    market: MarketConfig = Field(default_factory=MarketConfig)
    impact: ImpactConfig = Field(default_factory=ImpactConfig)
    adverse_selection: AdverseSelectionConfig = Field(default_factory=AdverseSelectionConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)
    account: AccountConfig = Field(default_factory=AccountConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    session: SessionConfig = Field(default_factory=SessionConfig)

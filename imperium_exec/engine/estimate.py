"""The pre-trade estimate each child is sent with: what its row says it should cost.

:class:`ChildEstimator` prices a routed child with the slippage model
(:mod:`..costs.slippage`): the spread it pays or earns, walking the displayed depth, the power
law on participation, and the linear impact of the desk's earlier fills on the contract (its
parent's, and other parents' from :mod:`.desk_fills`); and it records on the child what the
estimate was made from (the mid and far touch, the quote's source and age, the traded volume),
so calibration and TCA can check it against the fills.
"""

from __future__ import annotations

from ..brokers.base import Broker, Quote
from ..clock import Clock
from ..costs.slippage import PriorFill, SlippageModel
from ..events import ChildStatus, QueuePriority, QuoteSource
from ..request import Side
from ..router import RouteDecision
from .desk_fills import DeskFills
from .market_data import MarketDataService, MarketQuote, instrument_key
from .state import ChildState, ParentState


class ChildEstimator:
    def __init__(self, *, slippage: SlippageModel, market_data: MarketDataService,
                 broker: Broker, clock: Clock, desk_fills: DeskFills | None = None) -> None:
        self.slippage = slippage
        self.market_data = market_data
        self.broker = broker
        self.clock = clock
        #: Every parent's fills per instrument, for the estimate's linear impact.
        self.desk_fills = DeskFills() if desk_fills is None else desk_fills

    def estimate(self, parent: ParentState, child: ChildState, decision: RouteDecision,
                 market: MarketQuote | None) -> None:
        """Price ``child`` as routed by ``decision`` against ``market``: its estimate and what
        it was made from, on the child (its rows carry them)."""
        req = parent.request
        window = max(0.0, parent.plan.end_at - parent.plan.start_at)
        horizon = window / max(1, parent.plan.slice_count) if window else None
        # An unscheduled child keeps the request's participation as the power law's hint. Its
        # size against the market is costed where it matters, by walking the displayed depth
        # (``displayed_depth``): a child sent all at once pays the levels it takes, not a share
        # of the day's volume. (Deriving a participation from depth or volume instead made no
        # difference on the paper exchange, whose impact is not volatility-scaled: see
        # ``imperium_exec.sim.costs``.)
        participation = req.participation_rate
        forecast = parent.plan.expected_market_volume
        if forecast and window:
            participation = min(1.0, child.quantity / max(forecast * (horizon or window) / window,
                                                           1.0))
        quote = market.quote if market is not None else None
        prior_fills, ahead = self.prior_fills(parent, child,
                                               market.seq if market is not None else None)
        estimate = self.slippage.estimate(
            reference_price=parent.arrival_price, bid=decision.bid, ask=decision.ask,
            queue_priority=decision.queue_priority, participation=participation,
            horizon_s=horizon, quantity=child.quantity, depth=displayed_depth(quote, req.side),
            taken_ahead=ahead, prior_fills=prior_fills)
        child.decision = decision
        child.mid_at_send = decision.mid
        child.priced_at = self.clock.now()
        child.underlying_at_send = self.market_data.price_at_hand(parent.underlying_key) \
            if parent.underlying_key is not None else None
        child.expected_slippage = estimate.expected_slippage
        child.impact_estimate = estimate.impact_estimate
        # Fills that already happened are in the mid the child was priced from (the market
        # moved); the orders on their way to the book (the last entry) are still ahead of it.
        filled_before = prior_fills[:-1] if ahead else prior_fills
        child.prior_impact = self.slippage.linear_impact(filled_before)
        child.expected_cost_bps = estimate.expected_cost_bps
        child.participation = participation
        child.horizon_s = horizon
        child.book_walk = estimate.book_walk
        if market is not None:
            child.quote_source = market.source
            child.quote_age_ms = self.market_data.age(market) * 1e3
            child.day_volume, child.session_s = traded_volume(market.quote, self.broker)
        else:
            has_ticket = req.bid is not None and req.ask is not None
            child.quote_source = QuoteSource.TICKET if has_ticket else None
            child.quote_age_ms = None
            child.day_volume = child.session_s = None


    def prior_fills(self, parent: ParentState, child: ChildState,
                     quote_seq: int | None = None) -> tuple[list[PriorFill], int]:
        """The parent's fills before ``child`` (aged from when their orders were accepted: a
        taking child fills then, a resting one later, so its impact is taken as older than it
        is), other parents' fills on the instrument (:meth:`_others_fills`), and last the units
        of its taking children on their way to the book right now (sent together, e.g. an
        order split at the freeze quantity): they fill first, against the same book this child
        was priced from, so they count as fills of age 0 and as depth already taken. A taking
        child the broker accepted before the quote (number ``quote_seq``) arrived is already
        in that quote (its take, its impact): it counts as filled then, not as ahead."""
        now = self.clock.now()
        fills: list[PriorFill] = self._others_fills(parent, now)
        ahead = 0
        for other in parent.children:
            if other is child:
                continue
            if other.filled and other.placed_at is not None:
                fills.append(PriorFill(age_s=now - other.placed_at, units=other.filled))
            taking = other.decision is not None \
                and other.decision.queue_priority is QueuePriority.TAKE
            if not (taking and other.leaves > 0 and (
                    other.in_flight or other.status is ChildStatus.WORKING)):
                continue
            in_quote = quote_seq is not None and not other.in_flight \
                and other.placed_seq is not None and other.placed_seq < quote_seq \
                and other.placed_at is not None
            if in_quote:
                assert other.placed_at is not None
                fills.append(PriorFill(age_s=now - other.placed_at, units=other.leaves))
            else:
                ahead += other.leaves
        if ahead:
            fills.append(PriorFill(age_s=0.0, units=ahead))
        return fills, ahead

    def _others_fills(self, parent: ParentState, now: float) -> list[PriorFill]:
        """Other parents' fills on the parent's instrument, signed by its side: since its
        arrival, and in the ten half-lives before it (their temporary impact still decaying).
        None without an arrival, or when the model has no linear impact."""
        arrived = parent.arrived_at
        if arrived is None or not self.slippage.models_linear_impact:
            return []
        req = parent.request
        since = arrived - 10.0 * self.slippage.params.temporary_half_life_s
        sign = req.side.sign
        before = parent.fills_before_arrival
        # Before the arrival by time; at the arrival's own clock time, by the order taken in
        # (a restart's fills, seeded from the journal, may be numbered after a parent that
        # arrived while the journal was read).
        return [PriorFill(age_s=max(0.0, now - f.at), units=sign * f.units,
                          arrival_age_s=max(0.0, arrived - f.at)
                          if f.at < arrived or (f.at == arrived and f.number < before)
                          else None)
                for f in self.desk_fills.others_since(
                    instrument_key(req.exchange, req.tradingsymbol), parent.parent_id, since)]


def put_back_pricing(child: ChildState, before: ChildState) -> None:
    """What :meth:`ChildEstimator.estimate` set on ``child``, as it was in ``before`` (a modify that
    was refused changed nothing at the broker)."""
    child.decision, child.mid_at_send = before.decision, before.mid_at_send
    child.expected_slippage, child.impact_estimate = (before.expected_slippage,
                                                      before.impact_estimate)
    child.prior_impact, child.expected_cost_bps = before.prior_impact, before.expected_cost_bps
    child.participation, child.horizon_s = before.participation, before.horizon_s
    child.book_walk, child.quote_source = before.book_walk, before.quote_source
    child.quote_age_ms, child.day_volume = before.quote_age_ms, before.day_volume
    child.session_s, child.underlying_at_send = before.session_s, before.underlying_at_send
    child.priced_at = before.priced_at


def traded_volume(quote: Quote, broker: Broker) -> tuple[int | None, float | None]:
    """The session's traded volume a quote shows, and when, in the broker's session seconds
    (the volume curve's time): what a child row records so the curve can be fitted. None for
    both when the quote carries no volume (an index, or a feed without it)."""
    if quote.volume <= 0:
        return None, None
    return int(quote.volume), float(broker.session_seconds(quote.timestamp))


def displayed_depth(quote: Quote | None, side: Side) -> tuple[tuple[float, int], ...]:
    """The levels a taking ``side`` order fills against, best first, as (price, units), when
    the quote shows depth (the paper exchange's quotes and Kite's full-mode ticks do); empty
    when it shows only the touch."""
    if quote is None:
        return ()
    levels = quote.depth_sell if side is Side.BUY else quote.depth_buy
    return tuple((float(level.price), int(level.quantity)) for level in levels
                 if level.price and level.quantity)


__all__ = ["ChildEstimator", "displayed_depth", "put_back_pricing", "traded_volume"]

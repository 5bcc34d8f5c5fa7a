"""Option baskets on the paper exchange, in virtual time: hedge first, balanced, stopped and
unwound cleanly. Checked from the exchange's own trade list, after every fill."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from imperium_exec.baskets.legging import LeggingRules, LegRole
from imperium_exec.baskets.request import BasketRequest
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import ParentStatus
from imperium_exec.instruments import parse_contract
from imperium_exec.request import Side
from imperium_exec.sim.exchange import Trade

SEED = 5
#: (side, strike offset from the money in strikes, CE/PE, lots)
STRUCTURES: dict[str, list[tuple[str, int, str, int]]] = {
    "iron condor": [("BUY", -4, "PE", 10), ("SELL", -2, "PE", 10),
                    ("SELL", 2, "CE", 10), ("BUY", 4, "CE", 10)],
    "strangle with hedges": [("SELL", -2, "PE", 10), ("SELL", 2, "CE", 10),
                             ("BUY", -5, "PE", 10), ("BUY", 5, "CE", 10)],
    "bull call spread": [("BUY", 0, "CE", 10), ("SELL", 3, "CE", 10)],
    "1x2 ratio spread": [("BUY", 0, "CE", 10), ("SELL", 3, "CE", 20)],
}


@pytest.fixture
def paper() -> Iterator[tuple[PaperBroker, ExecutionEngine, list[dict[str, Any]]]]:
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=SEED, margin=1e10)
    engine = ExecutionEngine(broker, mode="paper", clock=clock,
                             config=EngineConfig(id_seed=7))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    yield broker, engine, rows
    engine.shutdown(10.0)


def reversed_basket(entry: BasketRequest) -> BasketRequest:
    """The exit: every leg of ``entry`` the other way, same instruments and slicing."""
    return BasketRequest(legs=tuple(
        leg.model_copy(update={"side": Side.SELL if leg.side is Side.BUY else Side.BUY})
        for leg in entry.legs))


def payloads(broker: PaperBroker, legs: list[tuple[str, int, str, int]], *,
             flip: bool = False) -> list[dict[str, Any]]:
    # The week after the nearest expiry: the virtual day is an expiry day, when the wings'
    # premia are paise and their books too thin for the exit's market orders.
    nearest = broker.option_chain("NIFTY", strikes_each_side=1).expiry
    chain = broker.option_chain("NIFTY", nearest + dt.timedelta(days=7), strikes_each_side=6)
    atm = [row.strike for row in chain.rows].index(chain.atm_strike)
    out = []
    for side, offset, kind, lots in legs:
        row = chain.rows[atm + offset]
        symbol = (row.call if kind == "CE" else row.put).tradingsymbol
        if flip:
            side = "SELL" if side == "BUY" else "BUY"
        out.append(dict(tradingsymbol=symbol, exchange="NFO", transaction_type=side,
                        quantity=lots * chain.lot_size, order_type="MARKET",
                        execution_algo="TWAP", max_child_orders=10, execution_horizon_s=60.0,
                        execution_seed=SEED))
    return out


def check_trades(trades: list[Trade], rules: LeggingRules, *, exit_of: LeggingRules | None
                 = None) -> None:
    """Replay the exchange's trades in order: after every fill, the short units uncovered by
    filled longs of the same underlying, expiry and type never exceed what the finished
    structure leaves uncovered (and the extra only once the group's hedges all filled)."""
    final = rules.final_uncovered()
    position: dict[str, int] = {}
    for trade in sorted(trades, key=lambda t: (t.epoch, t.trade_id)):
        position[trade.tradingsymbol] = position.get(trade.tradingsymbol, 0) + (
            trade.quantity if trade.side == "BUY" else -trade.quantity)
        for key, uncovered in uncovered_by_group(position).items():
            allowed = final.get(key, 0)
            if exit_of is not None:  # an exit: what the entry left, at most
                allowed = max(allowed, exit_of.final_uncovered().get(key, 0))
            assert uncovered <= allowed, (trade, position)


def check_balance(trades: list[Trade], basket: BasketRequest, rows: list[dict[str, Any]],
                  parent_ids: list[str]) -> None:
    """After every trade, no leg but a hedge (which may lead its shorts) has filled more than
    one of its own children ahead of the slowest leg (the basket's balance_slices is 1)."""
    roles = basket.legging_rules().roles
    biggest = [max(r["quantity"] for r in rows if r["event"] == "placed"
                   and r["parent_id"] == parent_id) for parent_id in parent_ids]
    leg_of = {leg.tradingsymbol: i for i, leg in enumerate(basket.legs)}
    filled = [0] * len(basket.legs)
    for trade in sorted(trades, key=lambda t: (t.epoch, t.trade_id)):
        if trade.tradingsymbol not in leg_of:
            continue
        filled[leg_of[trade.tradingsymbol]] += trade.quantity
        pace = min(f / leg.quantity for f, leg in zip(filled, basket.legs, strict=True))
        for i, leg in enumerate(basket.legs):
            if roles[i] is not LegRole.HEDGE:
                assert filled[i] / leg.quantity <= pace + biggest[i] / leg.quantity + 1e-9, \
                    (leg.tradingsymbol, filled, pace)


def uncovered_by_group(position: dict[str, int]) -> dict[tuple[str, str, str], int]:
    longs: dict[tuple[str, str, str], int] = {}
    shorts: dict[tuple[str, str, str], int] = {}
    for symbol, units in position.items():
        c = parse_contract(symbol)
        key = (c.underlying, c.expiry, c.kind)
        if units > 0:
            longs[key] = longs.get(key, 0) + units
        else:
            shorts[key] = shorts.get(key, 0) - units
    return {key: max(0, short - longs.get(key, 0)) for key, short in shorts.items()}


def filled_per_child(rows: list[dict[str, Any]]) -> int:
    return len({r["child_id"] for r in rows if r["event"] == "filled"})


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_a_structure_enters_hedge_first_and_exits_shorts_first(
        paper: tuple[PaperBroker, ExecutionEngine, list[dict[str, Any]]], name: str) -> None:
    broker, engine, rows = paper
    entry = BasketRequest.from_payloads(payloads(broker, STRUCTURES[name]))
    basket_id, parent_ids, future = engine.submit_basket(entry)
    result = future.result(timeout=120)
    assert result.status is ParentStatus.FILLED, result.message
    assert result.filled == tuple(leg.quantity for leg in entry.legs)
    trades = broker.trades()
    rules = entry.legging_rules()
    check_trades(trades, rules)
    check_balance(trades, entry, rows, parent_ids)
    assert filled_per_child(rows) >= 10 * len(entry.legs) // 2  # sliced (held slices merge)
    # Every leg row carries the basket and its role.
    leg_rows = [r for r in rows if r["parent_id"] in parent_ids]
    assert leg_rows and all(r["basket_id"] == basket_id for r in leg_rows)
    assert {r["leg_role"] for r in leg_rows} == {"hedge", "covered"}
    events = [r["event"] for r in rows if r["basket_id"] == basket_id and not r["parent_id"]]
    assert events == ["basket_accepted", "basket_finished"]

    exit_basket = reversed_basket(entry)
    _, exit_ids, exit_future = engine.submit_basket(exit_basket)
    exit_result = exit_future.result(timeout=120)
    assert exit_result.status is ParentStatus.FILLED, exit_result.message
    check_trades(broker.trades(), exit_basket.legging_rules(), exit_of=rules)
    check_balance(broker.trades()[len(trades):], exit_basket, rows, exit_ids)
    flat = {}
    for t in broker.trades():
        flat[t.tradingsymbol] = flat.get(t.tradingsymbol, 0) + (t.quantity if t.side == "BUY"
                                                                else -t.quantity)
    assert set(flat.values()) == {0}


def net_positions(trades: list[Trade]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trades:
        out[t.tradingsymbol] = out.get(t.tradingsymbol, 0) + (t.quantity if t.side == "BUY"
                                                              else -t.quantity)
    return out


def test_a_stalled_leg_stops_the_basket_and_unwind_leaves_the_account_flat(
        paper: tuple[PaperBroker, ExecutionEngine, list[dict[str, Any]]]) -> None:
    """The put wing bids far below the market and never fills: the put short waits for it,
    the call side may run one slice ahead and then waits too; after the stall timeout the
    basket stops, the report says exactly what filled and what is left, and unwinding trades
    back every filled unit without ever leaving a short uncovered."""
    broker, engine, _ = paper
    legs = payloads(broker, STRUCTURES["iron condor"])
    legs[0] |= {"order_type": "LIMIT", "price": 0.05, "execution_algo": "IMMEDIATE",
                "max_child_orders": 1}  # the PE wing: a bid nobody sells to
    entry = BasketRequest.from_payloads(legs, stall_timeout_s=5.0)
    _, _, future = engine.submit_basket(entry)
    result = future.result(timeout=120)
    assert result.status is ParentStatus.PARTIAL
    assert result.message.startswith("stopped: ")
    assert "held for 5 s" in result.message
    filled = result.filled
    assert filled[0] == 0 and filled[1] == 0  # the put side never started
    assert filled[3] > 0 and filled[2] <= filled[3]  # the call side: hedge, then its short
    for leg, got in zip(entry.legs, filled, strict=True):
        assert f"{leg.side.value} {leg.tradingsymbol}: filled {got} of {leg.quantity}, " \
               f"{leg.quantity - got} left" in result.message
    assert "short uncovered: none" in result.message
    check_trades(broker.trades(), entry.legging_rules())
    assert all(r.status is ParentStatus.CANCELLED or r.filled_quantity == r.quantity
               or r.status is ParentStatus.PARTIAL for r in result.legs)

    unwind = result.unwind()
    assert unwind is not None
    _, _, unwind_future = engine.submit_basket(unwind)
    assert unwind_future.result(timeout=120).status is ParentStatus.FILLED
    check_trades(broker.trades(), entry.legging_rules())
    assert set(net_positions(broker.trades()).values()) == {0}


def test_a_rejected_short_stops_the_basket_with_the_rms_reason(
        paper: tuple[PaperBroker, ExecutionEngine, list[dict[str, Any]]]) -> None:
    """A small account: a long call's premium fits, a naked put's margin does not (nothing of
    its group hedges it). The exchange rejects the put; the basket stops at once, cancels the
    call and says why."""
    broker = paper[0]
    small = PaperBroker(clock=broker.clock, seed=SEED, margin=60_000.0)
    small_engine = ExecutionEngine(small, mode="paper", clock=broker.clock,
                                   config=EngineConfig(id_seed=9))
    seen: list[dict[str, Any]] = []
    small_engine.add_listener(seen.append)
    try:
        entry = BasketRequest.from_payloads(
            payloads(small, [("BUY", 0, "CE", 10), ("SELL", -2, "PE", 10)]),
            check_margin=False)  # the exchange's own check, not the pre-check, refuses it
        _, _, future = small_engine.submit_basket(entry)
        result = future.result(timeout=120)
    finally:
        small_engine.shutdown(10.0)
    assert result.status in (ParentStatus.PARTIAL, ParentStatus.CANCELLED)
    first = result.message.splitlines()[0]
    assert first.startswith("stopped: SELL") and "ended failed" in first
    rejected = [r for r in seen if r["event"] in ("rejected", "error")]
    assert rejected and rejected[0]["error_bucket"] == "risk"
    assert result.filled[1] == 0 and result.legs[0].status is not ParentStatus.FILLED
    check_trades(small.trades(), entry.legging_rules())


def test_complete_sends_the_rest_of_a_stopped_basket_as_a_fresh_request(
        paper: tuple[PaperBroker, ExecutionEngine, list[dict[str, Any]]]) -> None:
    """After a stop, Complete is the rest of every leg, validated again: an absolute window
    that has passed is dropped, slices are capped at what is left."""
    broker, engine, _ = paper
    legs = payloads(broker, STRUCTURES["bull call spread"])
    now = dt.datetime.fromtimestamp(broker.clock.now(), dt.UTC)
    for leg in legs:
        leg.pop("execution_horizon_s")
        leg |= {"execution_start_at": now, "execution_end_at": now + dt.timedelta(seconds=60)}
    legs[0] |= {"order_type": "LIMIT", "price": 0.05}  # the hedge never fills: a stall
    entry = BasketRequest.from_payloads(legs, stall_timeout_s=5.0)
    _, _, future = engine.submit_basket(entry)
    stopped = future.result(timeout=120)
    assert stopped.status is ParentStatus.CANCELLED and stopped.filled == (0, 0)
    rest = stopped.completion()
    assert rest is not None
    assert [leg.quantity for leg in rest.legs] == [leg.quantity for leg in entry.legs]
    assert all(leg.start_at is None and leg.end_at is None for leg in rest.legs)
    unwind = stopped.unwind()
    assert unwind is None  # nothing filled, nothing to trade back


def test_the_engine_refuses_a_naked_strangle_up_front_and_sends_it_with_its_wings() -> None:
    """On a 100,000 account the naked short strangle's margin does not fit: the basket is
    refused before anything is sent, in the risk bucket, with required and available margin;
    the same strangle with its wings (an iron condor) fits and fills, wings first."""
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=SEED, margin=100_000.0)
    engine = ExecutionEngine(broker, mode="paper", clock=clock, config=EngineConfig(id_seed=3))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    strangle = [("SELL", -2, "PE", 1), ("SELL", 2, "CE", 1)]
    wings = [("BUY", -4, "PE", 1), ("BUY", 4, "CE", 1)]
    try:
        naked = BasketRequest.from_payloads(payloads(broker, strangle))
        _, _, future = engine.submit_basket(naked)
        refused = future.result(timeout=60)
        assert refused.status is ParentStatus.FAILED and refused.filled == (0, 0)
        assert "margin: the basket needs" in refused.message and "available" in refused.message
        (row,) = [r for r in rows if r["event"] == "basket_finished"]
        assert (row["status"], row["error_bucket"]) == ("failed", "risk")
        assert broker.orders() == []  # nothing reached the exchange

        condor = BasketRequest.from_payloads(payloads(broker, wings + strangle))
        _, _, future = engine.submit_basket(condor)
        result = future.result(timeout=120)
    finally:
        engine.shutdown(10.0)
    assert result.status is ParentStatus.FILLED, result.message
    check_trades(broker.trades(), condor.legging_rules())


def test_every_fill_row_carries_its_charges_at_the_dated_rates(
        paper: tuple[PaperBroker, ExecutionEngine, list[dict[str, Any]]]) -> None:
    """A fill row's ``fees`` is the schedule's charges for that fill on its IST day:
    brokerage with each order's first fill, STT on sales, stamp duty on buys, and the rest."""
    from imperium_exec.costs.charges import default_charges

    broker, engine, rows = paper
    entry = BasketRequest.from_payloads(payloads(broker, STRUCTURES["bull call spread"]))
    _, _, future = engine.submit_basket(entry)
    assert future.result(timeout=120).status is ParentStatus.FILLED
    fills = [r for r in rows if r["event"] == "filled"]
    assert fills and all(r["fees"] is not None and r["fees"] > 0 for r in fills)
    schedule = default_charges()
    seen_orders: set[str] = set()
    for r in fills:
        day = dt.datetime.fromisoformat(r["timestamp"]).date()
        expected = schedule.fill(day=day, exchange=r["exchange"], side=Side(r["side"]),
                                 units=r["filled_quantity"], price=r["fill_price"],
                                 first_fill_of_order=r["order_id"] not in seen_orders)
        seen_orders.add(r["order_id"])
        assert r["fees"] == pytest.approx(expected.total)
    sells = [r for r in fills if r["side"] == "SELL"]
    buys = [r for r in fills if r["side"] == "BUY"]
    # Per rupee of premium a sale (STT) costs more than a purchase (stamp duty).
    assert sum(r["fees"] for r in sells) / sum(r["filled_quantity"] * r["fill_price"]
                                               for r in sells) > \
        sum(r["fees"] for r in buys) / sum(r["filled_quantity"] * r["fill_price"] for r in buys)

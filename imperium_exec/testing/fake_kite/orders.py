"""The order routes: place (``POST /orders/{variety}``), modify (``PUT``) and cancel
(``DELETE``), with Kite's checks.

Validation answers 400 ``InputException``: lot multiple, freeze quantity, tick, market protection
(required for MARKET, 0 refused), tag of at most 20 characters. The freeze and tick texts are
Kite's, as is the circuit (LPP) text for a limit outside the day's range (placed or modified
to); the others are ours (Kite's exact wording is not documented). Regular and amo varieties,
MARKET, LIMIT, SL and SL-M, DAY and IOC only; no autoslice. The extra form fields the client sends
(``variety``, ``order_id``) are ignored.

Modify (kiteconnect's ``modify_order``: ``quantity``, ``price``, ``order_type``, ``validity``,
``market_protection``; the fields it leaves out keep their values; ``trigger_price`` and
``disclosed_quantity`` are accepted and ignored): only an ``OPEN`` order, else Kite's 400
``InputException`` "Order cannot be modified as it is being processed. Try later." (what Kite
answers for a finished order as for one still changing); at most ``max_modifications`` (25, as
Kite) accepted per order, then Kite's ``NetworkException`` "Maximum allowed order modifications
exceeded." (HTTP 400 here: Kite's status for it is not documented). The new quantity is the
order's total: a lot multiple, within the freeze quantity, above what has filled. The order
keeps its id and tag. The read routes (``GET /orders``, history, trades) are here too;
:class:`~.exchange.Exchange` carries the orders out.
"""

from __future__ import annotations

import math
from typing import Any

from ...instruments import price_band
from ...sim.config import RulesConfig
from ...timeutil import is_on_tick
from .errors import (
    MARKET_PROTECTION_REQUIRED,
    MODIFICATIONS_EXCEEDED,
    MODIFY_BEING_PROCESSED,
    OUTSIDE_CIRCUIT,
    UNKNOWN_INSTRUMENT,
    KiteError,
    input_error,
)
from .exchange import Exchange
from .faults import Fault
from .instruments import FakeInstrument
from .market_data import circuit_limits
from .records import Book, Order

#: The form fields every order must carry.
ORDER_FIELDS = ("exchange", "tradingsymbol", "transaction_type", "quantity", "product",
                "order_type")
_RULES = RulesConfig()


def place(ex: Exchange, variety: str, form: dict[str, str], now: float,
          fault: Fault | None) -> dict[str, str]:
    """``POST /orders/{variety}``: validate, record (a fault may hide, hold or doom the
    order), and carry out what is due."""
    order = validate(ex, variety, form, now)
    if fault is not None:
        order.visible_at = now + fault.appear_after_s
        order.arrive_at = order.visible_at + fault.pending_s
        order.pre_status = fault.pending_status or order.pre_status
        order.reject_with = fault.reject_with
    if variety == "amo":  # an after-market order waits for the market to open
        order.pre_status, order.arrive_at = "AMO REQ RECEIVED", math.inf
    ex.orders[order.order_id] = order
    ex.snapshot(order)  # PUT ORDER REQ RECEIVED
    ex.set_status(order, "VALIDATION PENDING", now)
    if order.pre_status != "VALIDATION PENDING":
        ex.set_status(order, order.pre_status, now)
    ex.advance(now)
    return {"order_id": order.order_id}


def validate(ex: Exchange, variety: str, form: dict[str, str], now: float) -> Order:
    """Kite's pre-trade checks; every refusal is a 400 InputException."""
    if variety not in ("regular", "amo"):
        raise input_error(f"Invalid `variety` {variety!r}: the fake Kite server takes "
                          "regular and amo orders only.")
    for name in ORDER_FIELDS:
        if not form.get(name):
            raise input_error(f"Missing `{name}`.")
    inst = ex.instruments.get(f"{form['exchange']}:{form['tradingsymbol']}")
    if inst is None:
        raise input_error(UNKNOWN_INSTRUMENT)
    side = form["transaction_type"]
    if side not in ("BUY", "SELL"):
        raise input_error("Invalid `transaction_type`.")
    order_type = form["order_type"]
    if order_type not in ("MARKET", "LIMIT", "SL", "SL-M"):
        raise input_error(f"Invalid `order_type` {order_type!r}.")
    if form["product"] not in ("NRML", "MIS"):
        raise input_error("Invalid `product`.")
    validity = form.get("validity") or "DAY"
    if validity not in ("DAY", "IOC"):
        raise input_error("Invalid `validity`.")
    if form.get("autoslice"):
        raise input_error("Autoslice is not supported by the fake Kite server.")
    quantity = _quantity(form["quantity"])
    lot = inst.lot_size
    if quantity % lot:
        raise input_error(f"Order quantity {quantity} is not a multiple of the lot size "
                          f"{lot}.")
    max_qty = inst.max_order_quantity
    if quantity > max_qty:
        raise input_error(
            f"The order quantity {quantity} ({quantity // lot} lots) is higher than the "
            f"maximum quantity of {max_qty} ({max_qty // lot} lots) allowed by the "
            "exchanges. Please reduce the order quantity or use iceberg orders.")
    tag = form.get("tag") or None
    if tag is not None and len(tag) > _RULES.max_tag_length:
        raise input_error(f"Tag length cannot be more than {_RULES.max_tag_length} "
                          "characters.")
    price = 0.0
    protection = 0
    if order_type in ("LIMIT", "SL"):
        price = _within_circuit(ex, inst, side, _limit_price(form.get("price") or "0",
                                                              inst.tick_size))
    else:
        protection = _protection(form.get("market_protection"))
    trigger = _trigger(ex, inst, side, order_type, price, form) \
        if order_type in ("SL", "SL-M") else 0.0
    return Order(order_id=ex.next_order_id(), inst=inst, variety=variety, side=side,
                 order_type=order_type, product=form["product"], validity=validity,
                 quantity=quantity, price=price, market_protection=protection, tag=tag,
                 placed_at=now, visible_at=now, arrive_at=now, trigger_price=trigger)


def _trigger(ex: Exchange, inst: FakeInstrument, side: str, order_type: str, price: float,
             form: dict[str, str]) -> float:
    """A stop order's trigger, with Kite's checks: a buy stop above the last price (and at
    most its limit), a sell stop below it (and at least its limit)."""
    trigger = _limit_price(form.get("trigger_price") or "0", inst.tick_size)
    book = ex.books.get(inst.key)
    ltp = book.ltp if book is not None else 0.0
    if side == "BUY":
        if ltp > 0 and trigger <= ltp:
            raise input_error("Trigger price for stoploss buy orders should be higher than "
                              "the last traded price.")
        if order_type == "SL" and trigger > price:
            raise input_error("Trigger price should be less than or equal to the price for "
                              "a stoploss buy order.")
    else:
        if ltp > 0 and trigger >= ltp:
            raise input_error("Trigger price for stoploss sell orders should be lower than "
                              "the last traded price.")
        if order_type == "SL" and trigger < price:
            raise input_error("Trigger price should be greater than or equal to the price "
                              "for a stoploss sell order.")
    return trigger


def modify(ex: Exchange, order_id: str, form: dict[str, str], now: float) -> dict[str, str]:
    """``PUT /orders/{variety}/{id}``: Kite's rules (see the module docstring), then the
    exchange's ``MODIFY ...`` states."""
    order = ex.visible_order(order_id, now)
    if order.status != "OPEN" or order.pending_change is not None:
        raise input_error(MODIFY_BEING_PROCESSED)
    if order.modifications >= ex.max_modifications:
        raise KiteError(400, "NetworkException", MODIFICATIONS_EXCEEDED)
    change: dict[str, Any] = {}
    order_type = form.get("order_type") or order.order_type
    if order_type not in ("MARKET", "LIMIT"):
        raise input_error(f"Invalid `order_type` {order_type!r}: the fake Kite server "
                          "takes MARKET and LIMIT.")
    change["order_type"] = order_type
    if form.get("quantity"):
        quantity = _quantity(form["quantity"])
        lot, max_qty = order.inst.lot_size, order.inst.max_order_quantity
        if quantity % lot:
            raise input_error(f"Order quantity {quantity} is not a multiple of the lot size "
                              f"{lot}.")
        if quantity > max_qty:
            raise input_error(
                f"The order quantity {quantity} ({quantity // lot} lots) is higher than the "
                f"maximum quantity of {max_qty} ({max_qty // lot} lots) allowed by the "
                "exchanges. Please reduce the order quantity or use iceberg orders.")
        if quantity <= order.filled:
            raise input_error(f"Quantity should be more than the filled quantity "
                              f"{order.filled}.")
        change["quantity"] = quantity
    if order_type == "LIMIT":
        raw = form.get("price")
        if raw:
            change["price"] = _within_circuit(ex, order.inst, order.side,
                                              _limit_price(raw, order.inst.tick_size))
        elif order.order_type != "LIMIT":
            raise input_error("Invalid `price`.")
    elif form.get("market_protection") or order.order_type != "MARKET":
        change["market_protection"] = _protection(form.get("market_protection"))
    validity = form.get("validity")
    if validity:
        if validity not in ("DAY", "IOC"):
            raise input_error("Invalid `validity`.")
        change["validity"] = validity
    ex.modify(order, change, now)
    return {"order_id": order_id}


def _within_circuit(ex: Exchange, inst: FakeInstrument, side: str, price: float) -> float:
    """``price``, unless outside the instrument's daily range or, on its aggressive side,
    NSE's limit price protection band around the last price (a buy above it, a sell below):
    Kite refuses both with its circuit text (a sell at 100 on an option last traded at 217 is
    refused though the day's range shown is 0.05-785), as the paper exchange does."""
    book = ex.books.get(inst.key, Book())
    lower, upper = circuit_limits(inst, book)
    if upper and not lower <= price <= upper:
        raise input_error(OUTSIDE_CIRCUIT)
    reference = book.ltp or ((book.bid + book.ask) / 2 if book.bid and book.ask else 0.0)
    if reference:
        low, high = price_band(reference, inst.tick_size)
        if (price > high + 1e-9) if side == "BUY" else (price < low - 1e-9):
            raise input_error(OUTSIDE_CIRCUIT)
    return price


def _quantity(raw: str) -> int:
    try:
        quantity = int(raw)
    except ValueError:
        raise input_error("Invalid `quantity`.") from None
    if quantity <= 0:
        raise input_error("Invalid `quantity`.")
    return quantity


def _limit_price(raw: str, tick: float) -> float:
    try:
        price = float(raw)
    except ValueError:
        raise input_error("Invalid `price`.") from None
    if price <= 0 or not math.isfinite(price):
        raise input_error("Invalid `price`.")
    if not is_on_tick(price, tick):
        raise input_error(f"Tick size for this script is {tick:g}. Kindly enter price in the "
                          "multiple of tick size for this script")
    return price


def _protection(raw: str | None) -> int:
    try:
        protection = int(raw or 0)
    except ValueError:
        raise input_error(MARKET_PROTECTION_REQUIRED) from None
    if protection != -1 and not 1 <= protection <= 100:
        raise input_error(MARKET_PROTECTION_REQUIRED)
    return protection


def cancel(ex: Exchange, order_id: str, now: float) -> dict[str, str]:
    """``DELETE /orders/{variety}/{id}``: cancelled at once, or after ``cancel_pending_s`` in
    ``CANCEL PENDING`` once the order is at the exchange."""
    order = ex.visible_order(order_id, now)
    if order.terminal:
        raise KiteError(400, "OrderException", f"Order cannot be cancelled as it is "
                                               f"{order.status.lower()}.")
    if order.status == "CANCEL PENDING":
        return {"order_id": order_id}
    if ex.cancel_pending_s > 0 and order.arrived:
        order.cancel_at = now + ex.cancel_pending_s
        ex.set_status(order, "CANCEL PENDING", now)
    else:
        ex.finish_cancel(order, now)
    return {"order_id": order_id}


def order_book(ex: Exchange, now: float) -> list[dict[str, Any]]:
    """``GET /orders``: every order visible at ``now``."""
    return [ex.order_dict(o) for o in ex.visible(now)]


def order_history(ex: Exchange, order_id: str, now: float) -> list[dict[str, Any]]:
    """``GET /orders/{id}``: the order at each of its states."""
    return list(ex.visible_order(order_id, now).history)


def order_trades(ex: Exchange, order_id: str, now: float) -> list[dict[str, Any]]:
    """``GET /orders/{id}/trades``: the order's fills."""
    order = ex.visible_order(order_id, now)
    return [t for t in ex.trades if t["order_id"] == order.order_id]


def trades(ex: Exchange) -> list[dict[str, Any]]:
    """``GET /trades``: every fill of the day."""
    return list(ex.trades)

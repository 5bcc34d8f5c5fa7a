"""The order routes: place (``POST /orders/{variety}``) and cancel (``DELETE``), with Kite's checks.

Validation answers 400 ``InputException``: lot multiple, freeze quantity, tick, market protection
(required for MARKET, 0 refused), tag of at most 20 characters. The freeze and tick texts are
Kite's; the others are ours (Kite's exact wording is not documented). Regular variety, MARKET and
LIMIT, DAY and IOC only; no modify, no autoslice, no LPP band. The extra form fields the client
sends (``variety``, ``order_id``) are ignored. The read routes (``GET /orders``, history, trades)
are here too; :class:`~.exchange.Exchange` carries the orders out.
"""

from __future__ import annotations

import math
from typing import Any

from ...sim.config import RulesConfig
from ...timeutil import is_on_tick
from .errors import MARKET_PROTECTION_REQUIRED, UNKNOWN_INSTRUMENT, KiteError, input_error
from .exchange import Exchange
from .faults import Fault
from .records import Order

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
    ex.orders[order.order_id] = order
    ex.snapshot(order)  # PUT ORDER REQ RECEIVED
    ex.set_status(order, "VALIDATION PENDING", now)
    if order.pre_status != "VALIDATION PENDING":
        ex.set_status(order, order.pre_status, now)
    ex.advance(now)
    return {"order_id": order.order_id}


def validate(ex: Exchange, variety: str, form: dict[str, str], now: float) -> Order:
    """Kite's pre-trade checks; every refusal is a 400 InputException."""
    if variety != "regular":
        raise input_error(f"Invalid `variety` {variety!r}: the fake Kite server takes "
                          "regular orders only.")
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
    if order_type not in ("MARKET", "LIMIT"):
        raise input_error(f"Invalid `order_type` {order_type!r}: the fake Kite server "
                          "takes MARKET and LIMIT.")
    if form["product"] not in ("NRML", "MIS"):
        raise input_error("Invalid `product`.")
    validity = form.get("validity") or "DAY"
    if validity not in ("DAY", "IOC"):
        raise input_error("Invalid `validity`.")
    if form.get("autoslice"):
        raise input_error("Autoslice is not supported by the fake Kite server.")
    try:
        quantity = int(form["quantity"])
    except ValueError:
        raise input_error("Invalid `quantity`.") from None
    if quantity <= 0:
        raise input_error("Invalid `quantity`.")
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
    if order_type == "LIMIT":
        try:
            price = float(form.get("price") or 0)
        except ValueError:
            raise input_error("Invalid `price`.") from None
        if price <= 0 or not math.isfinite(price):
            raise input_error("Invalid `price`.")
        if not is_on_tick(price, inst.tick_size):
            raise input_error(f"Tick size for this script is {inst.tick_size:g}. Kindly "
                              "enter price in the multiple of tick size for this script")
    else:
        try:
            protection = int(form.get("market_protection") or 0)
        except ValueError:
            raise input_error(MARKET_PROTECTION_REQUIRED) from None
        if protection != -1 and not 1 <= protection <= 100:
            raise input_error(MARKET_PROTECTION_REQUIRED)
    return Order(order_id=ex.next_order_id(), inst=inst, variety=variety, side=side,
                 order_type=order_type, product=form["product"], validity=validity,
                 quantity=quantity, price=price, market_protection=protection, tag=tag,
                 placed_at=now, visible_at=now, arrive_at=now)


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

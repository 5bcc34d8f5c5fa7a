"""The margin routes: ``GET /user/margins[/{segment}]``, ``POST /margins/orders`` and
``POST /margins/basket``.

The rule is the paper exchange's SPAN-like one (:mod:`imperium_exec.costs.margin`): buys need their
premium, shorts the naked ``short_margin_fraction x spot`` unless longs of the same underlying,
expiry and type cover them (then the spread's maximum loss); the spots are set per underlying
(``spots``, :meth:`FakeKiteServer.set_spot`). ``GET /user/margins`` reports it: ``net`` is the
margin less the premium paid net of premium received, less the funds open buys hold, less the
short margin of the positions (``utilised.span``). ``POST /margins/basket`` answers in Kite's
shape: ``orders`` each leg alone, ``initial`` their sum, ``final`` what the basket adds once all
of it filled, with the hedge benefit and, with ``consider_positions=true``, on top of the
positions held. ``POST /margins/orders`` (kiteconnect's ``order_margins``) answers a list, one
block per order, each as the basket's ``orders`` block of it alone. Simplified: ``mode=compact``
is answered in full; charges are zeros; an order's margin does not look at the positions or
the open orders.
"""

from __future__ import annotations

from typing import Any

from ...costs.margin import BookMargin, OptionLeg, basket_margin
from .errors import UNKNOWN_INSTRUMENT, input_error
from .exchange import Exchange, option_leg
from .instruments import FakeInstrument
from .records import Book

#: The fields of a basket-margin order the fake reads (the client sends these and more).
MARGIN_FIELDS = ("exchange", "tradingsymbol", "transaction_type", "quantity")


def user_margins(ex: Exchange, segment: str | None) -> dict[str, Any]:
    """``GET /user/margins[/{segment}]``: the account's funds, equity and commodity."""
    span, blocked = ex.short_margin(), ex.blocked()
    net = ex.margin + ex.cash - blocked - span
    available = {"adhoc_margin": 0.0, "cash": ex.margin, "opening_balance": ex.margin,
                 "live_balance": round(net, 2), "collateral": 0.0, "intraday_payin": 0.0}
    utilised = {"debits": round(max(0.0, -ex.cash) + blocked + span, 2), "exposure": 0.0,
                "m2m_realised": 0.0, "m2m_unrealised": 0.0,
                "option_premium": round(-ex.cash, 2), "payout": 0.0,
                "span": round(span, 2),
                "holding_sales": 0.0, "turnover": 0.0, "liquid_collateral": 0.0,
                "stock_collateral": 0.0, "delivery": 0.0}
    equity = {"enabled": True, "net": round(net, 2), "available": available,
              "utilised": utilised}
    commodity = {"enabled": True, "net": 0.0,
                 "available": dict.fromkeys(available, 0.0),
                 "utilised": dict.fromkeys(utilised, 0.0)}
    if segment is None:
        return {"equity": equity, "commodity": commodity}
    if segment == "equity":
        return equity
    if segment == "commodity":
        return commodity
    raise input_error(f"Invalid segment `{segment}`.")


def order_margins(ex: Exchange, body: Any) -> list[dict[str, Any]]:
    """``POST /margins/orders``: each order's margin on its own, in Kite's block shape."""
    if not isinstance(body, list) or not body:
        raise input_error("Invalid or empty list of orders.")
    legs = [margin_leg(ex, raw) for raw in body]
    margin = basket_margin([leg for _, leg in legs], ex.spots_for([leg for _, leg in legs]),
                           ex.short_margin_fraction)
    return [margin_dict(alone, inst, leverage=1)
            for alone, (inst, _) in zip(margin.legs_alone, legs, strict=True)]


def basket_margins(ex: Exchange, body: Any, *, consider_positions: bool) -> dict[str, Any]:
    """``POST /margins/basket``: Kite's initial / final / orders answer."""
    if not isinstance(body, list) or not body:
        raise input_error("Invalid or empty list of orders.")
    legs: list[OptionLeg] = []
    keys: list[FakeInstrument] = []
    for raw in body:
        inst, leg = margin_leg(ex, raw)
        keys.append(inst)
        legs.append(leg)
    held = ex.held_legs() if consider_positions else []
    margin = basket_margin(legs, ex.spots_for([*held, *legs]), ex.short_margin_fraction,
                           held=held)
    orders = [margin_dict(alone, inst, leverage=1)
              for alone, inst in zip(margin.legs_alone, keys, strict=True)]
    final = BookMargin(premium=margin.premium, span=margin.required - margin.premium)
    return {"initial": margin_dict(BookMargin(
                premium=sum(m.premium for m in margin.legs_alone),
                span=sum(m.span for m in margin.legs_alone))),
            "final": margin_dict(final),
            "orders": orders,
            "charges": charges()}


def margin_leg(ex: Exchange, raw: Any) -> tuple[FakeInstrument, OptionLeg]:
    """One order of a basket-margin request as a margin leg, priced at its limit, else
    at the touch it would take."""
    if not isinstance(raw, dict) or any(raw.get(name) in (None, "") for name in
                                        MARGIN_FIELDS):
        raise input_error("Invalid order: exchange, tradingsymbol, transaction_type and "
                          "quantity are required.")
    inst = ex.instruments.get(f"{raw['exchange']}:{raw['tradingsymbol']}")
    if inst is None:
        raise input_error(UNKNOWN_INSTRUMENT)
    side = str(raw["transaction_type"]).upper()
    if side not in ("BUY", "SELL"):
        raise input_error("Invalid `transaction_type`.")
    try:
        quantity = int(raw["quantity"])
        price = float(raw.get("price") or 0.0)
    except (TypeError, ValueError):
        raise input_error("Invalid `quantity` or `price`.") from None
    if quantity <= 0:
        raise input_error("Invalid `quantity`.")
    if price <= 0 or str(raw.get("order_type") or "MARKET").upper() != "LIMIT":
        book = ex.books.get(inst.key, Book())
        price = (book.ask if side == "BUY" else book.bid) or book.ltp
    leg = option_leg(inst, quantity if side == "BUY" else -quantity,
                     price if side == "BUY" else 0.0)
    if leg is None:
        raise input_error(f"{inst.key} is not an option: the fake Kite server margins "
                          "options only.")
    return inst, leg


def charges() -> dict[str, Any]:
    """Kite's charges block; the fake charges nothing."""
    return {"transaction_tax": 0.0, "transaction_tax_type": "", "exchange_turnover_charge": 0.0,
            "sebi_turnover_charge": 0.0, "brokerage": 0.0, "stamp_duty": 0.0,
            "gst": {"igst": 0.0, "cgst": 0.0, "sgst": 0.0, "total": 0.0}, "total": 0.0}


def margin_dict(margin: BookMargin, inst: FakeInstrument | None = None, *,
                leverage: int = 0) -> dict[str, Any]:
    """One margin block in Kite's shape: a basket total (no instrument) or one order's."""
    return {"type": "equity" if inst is not None else "",
            "tradingsymbol": inst.tradingsymbol if inst is not None else "",
            "exchange": inst.exchange if inst is not None else "",
            "span": round(margin.span, 2), "exposure": 0.0,
            "option_premium": round(margin.premium, 2), "additional": 0.0, "bo": 0.0,
            "cash": 0.0, "var": 0.0, "pnl": {"realised": 0.0, "unrealised": 0.0},
            "leverage": leverage, "charges": charges(), "total": round(margin.total, 2)}

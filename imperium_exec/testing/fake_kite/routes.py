"""Kite's routes: which path goes to which route, how each is rate limited, and the route
functions that answer them (:mod:`.orders`, :mod:`.market_data`, :mod:`.margins`,
:mod:`.portfolio`).

``POST /orders/{variety}``, ``PUT /orders/{variety}/{id}`` (modify),
``DELETE /orders/{variety}/{id}``, ``GET /orders``, ``GET /orders/{id}`` (history),
``GET /orders/{id}/trades``, ``GET /trades``, ``GET /quote`` (+ ``/ltp``, ``/ohlc``),
``GET /instruments[/{exchange}]``, ``GET /user/margins[/{segment}]``, ``POST /margins/orders``
and ``POST /margins/basket`` (JSON bodies), ``GET /portfolio/positions``.
"""

from __future__ import annotations

import re
from typing import Any

from . import margins, market_data, orders, portfolio
from .errors import KiteError
from .exchange import Exchange
from .faults import Fault
from .http_server import Reply, ok

#: (method, path pattern, route name), tried in order.
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"^/orders/(?P<variety>[a-z]+)$"), "place"),
    ("DELETE", re.compile(r"^/orders/(?P<variety>[a-z]+)/(?P<order_id>\d+)$"), "cancel"),
    ("PUT", re.compile(r"^/orders/(?P<variety>[a-z]+)/(?P<order_id>\d+)$"), "modify"),
    ("GET", re.compile(r"^/orders$"), "orders"),
    ("GET", re.compile(r"^/orders/(?P<order_id>\d+)$"), "order_history"),
    ("GET", re.compile(r"^/orders/(?P<order_id>\d+)/trades$"), "order_trades"),
    ("GET", re.compile(r"^/trades$"), "trades"),
    ("GET", re.compile(r"^/quote(?:/(?P<mode>ltp|ohlc))?$"), "quote"),
    ("GET", re.compile(r"^/instruments(?:/(?P<exchange>[A-Z]+))?$"), "instruments"),
    ("GET", re.compile(r"^/user/margins(?:/(?P<segment>[a-z]+))?$"), "margins"),
    ("POST", re.compile(r"^/margins/orders$"), "order_margins"),
    ("POST", re.compile(r"^/margins/basket$"), "basket_margins"),
    ("GET", re.compile(r"^/portfolio/positions$"), "positions"),
)
#: Route -> its rate-limit bucket (:class:`~.limits.RateCounter`); the rest are "read". A
#: modify is an order write of the second and the minute, not an order of the day.
BUCKETS = {"place": "write", "cancel": "write", "modify": "modify", "quote": "quote"}


def match_route(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    """The route a request goes to and the path's arguments; None when there is none."""
    for verb, pattern, route in ROUTES:
        if verb == method:
            found = pattern.match(path)
            if found is not None:
                return route, {k: v for k, v in found.groupdict().items() if v is not None}
    return None, {}


def dispatch(ex: Exchange, route: str, args: dict[str, str], query: dict[str, list[str]],
             form: dict[str, str], now: float, fault: Fault | None,
             body: Any = None) -> Reply:
    """Answer one admitted request on ``route``; a refusal raises :class:`~.errors.KiteError`."""
    if route == "place":
        return ok(orders.place(ex, args["variety"], form, now, fault))
    if route == "cancel":
        return ok(orders.cancel(ex, args["order_id"], now))
    if route == "modify":
        return ok(orders.modify(ex, args["order_id"], form, now))
    if route == "orders":
        return ok(orders.order_book(ex, now))
    if route == "order_history":
        return ok(orders.order_history(ex, args["order_id"], now))
    if route == "order_trades":
        return ok(orders.order_trades(ex, args["order_id"], now))
    if route == "trades":
        return ok(orders.trades(ex))
    if route == "quote":
        return ok(market_data.quotes(ex, query.get("i", []), args.get("mode"), now))
    if route == "instruments":
        dump = market_data.instruments_csv(ex, args.get("exchange"))
        return Reply(200, dump.encode(), "text/csv")
    if route == "margins":
        return ok(margins.user_margins(ex, args.get("segment")))
    if route == "order_margins":
        return ok(margins.order_margins(ex, body))
    if route == "basket_margins":
        considered = (query.get("consider_positions") or ["false"])[-1].lower() == "true"
        return ok(margins.basket_margins(ex, body, consider_positions=considered))
    if route == "positions":
        return ok(portfolio.positions(ex))
    raise KiteError(404, "GeneralException", "Route not found")

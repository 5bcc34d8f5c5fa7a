"""Live mode's option chain from Kite Connect, on a fake client (no network, no credentials)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from imperium_exec.timeutil import IST
from imperium_exec.widgets.desk.live import KiteChain
from imperium_exec.widgets.desk.tickets import BasketLeg, ExecutionPolicy, fetch_snapshot


class FakeKite:
    def __init__(self) -> None:
        today = dt.datetime.now(IST).date()
        self.near, self.far = today + dt.timedelta(days=2), today + dt.timedelta(days=9)
        self.quote_calls: list[list[str]] = []
        self.instruments_calls = 0

    def instruments(self, exchange: str) -> list[dict[str, Any]]:
        self.instruments_calls += 1
        rows = []
        for expiry in (self.near, self.far, dt.date(2000, 1, 1)):
            for strike in range(25_500, 26_550, 50):
                for kind in ("CE", "PE"):
                    rows.append({"name": "NIFTY", "instrument_type": kind, "expiry": expiry,
                                 "strike": float(strike), "lot_size": 65,
                                 "tradingsymbol": f"NIFTY{expiry:%y%m%d}{strike}{kind}"})
        rows.append({"name": "BANKNIFTY", "instrument_type": "CE", "expiry": self.near,
                     "strike": 50_000.0, "lot_size": 30, "tradingsymbol": "BANKNIFTYX"})
        return rows

    def quote(self, keys: list[str]) -> dict[str, Any]:
        self.quote_calls.append(keys)
        if keys == ["NSE:NIFTY 50"]:
            return {"NSE:NIFTY 50": {"last_price": 26_012.4}}
        return {key: {"last_price": 100.0 + i,
                      "depth": {"buy": [{"price": 99.5 + i, "quantity": 650, "orders": 3}],
                                "sell": [{"price": 100.5 + i, "quantity": 325, "orders": 2}]},
                      "volume": 1000 * i}
                for i, key in enumerate(keys)}


def test_the_live_chain_is_the_nearest_expiry_around_the_money() -> None:
    kite = FakeKite()
    chain = KiteChain(kite)
    view = chain.option_chain("NIFTY", strikes_each_side=2)
    assert view.expiry == kite.near and view.spot == 26_012.4 and view.atm_strike == 26_000
    assert [row.strike for row in view.rows] == [25_900, 25_950, 26_000, 26_050, 26_100]
    atm = view.rows[2]
    assert atm.call.tradingsymbol.endswith("26000CE") and atm.put.tradingsymbol.endswith("PE")
    assert (atm.call.bid, atm.call.ask, atm.call.bid_quantity) == (103.5, 104.5, 650)
    assert len(kite.quote_calls[-1]) == 10  # one quote call for every strike on the screen
    chain.option_chain("NIFTY", strikes_each_side=2)
    assert kite.instruments_calls == 1  # the instrument dump is loaded once


def test_the_desk_prices_live_tickets_like_paper_ones() -> None:
    snapshot = fetch_snapshot(KiteChain(FakeKite()), "NIFTY", 2, {})
    assert snapshot.lot_size == 65
    payload = snapshot.payload(BasketLeg(25_900.0, "PE", 2), "SELL", ExecutionPolicy())
    assert payload["quantity"] == 130 and payload["transaction_type"] == "SELL"
    assert payload["tradingsymbol"].endswith("25900PE") and payload["exchange"] == "NFO"
    assert payload["bid"] == 100.5 and payload["ask"] == 101.5

"""Instruments of the paper exchange: tradingsymbols, expiries, dated lots, Kite CSV in and out."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from imperium_exec.instruments import load_exchange_config
from imperium_exec.sim.chain import (
    KITE_CSV_COLUMNS,
    Chain,
    build_chain,
    expiries_from,
    option_tradingsymbol,
)
from imperium_exec.sim.config import MarketConfig, UnderlyingMarket

CONFIGS = load_exchange_config()
TUESDAY = dt.date(2026, 11, 24)  # the last Tuesday of November 2026: a NIFTY monthly expiry


@pytest.mark.parametrize(("name", "expiry", "strike", "kind", "symbol"), [
    ("NIFTY", dt.date(2025, 8, 7), 24400, "CE", "NIFTY2580724400CE"),  # weekly, Kite's mock
    ("SENSEX", dt.date(2026, 4, 9), 77100, "CE", "SENSEX2640977100CE"),  # weekly on BFO
    ("NIFTY", dt.date(2024, 12, 26), 24000, "CE", "NIFTY24DEC24000CE"),  # the month's last
    ("BANKNIFTY", dt.date(2020, 10, 15), 24000, "PE", "BANKNIFTY20O1524000PE"),  # O for October
    ("NIFTY", dt.date(2026, 12, 1), 26000, "PE", "NIFTY26D0126000PE"),  # D for December
])
def test_tradingsymbols_follow_kites_weekly_and_monthly_forms(
        name: str, expiry: dt.date, strike: int, kind: str, symbol: str) -> None:
    assert option_tradingsymbol(name, expiry, strike, kind) == symbol


def test_expiries_follow_the_dated_weekday_rules() -> None:
    assert expiries_from(CONFIGS["NIFTY"], TUESDAY, 3) == [
        dt.date(2026, 11, 24), dt.date(2026, 12, 1), dt.date(2026, 12, 8)]
    # BANKNIFTY has monthlies only: the last Tuesday of each month.
    assert expiries_from(CONFIGS["BANKNIFTY"], dt.date(2026, 11, 25), 2) == [
        dt.date(2026, 12, 29), dt.date(2027, 1, 26)]
    # SENSEX weeklies are on Thursday.
    assert expiries_from(CONFIGS["SENSEX"], TUESDAY, 2) == [
        dt.date(2026, 11, 26), dt.date(2026, 12, 3)]


def _default_chain(on: dt.date = TUESDAY) -> Chain:
    return build_chain(MarketConfig().underlyings, CONFIGS, on)


def test_chain_takes_lot_freeze_and_tick_from_the_dated_configuration() -> None:
    chain = _default_chain()
    nifty = chain.get("NIFTY26NOV26000CE")
    assert nifty is not None
    assert (nifty.exchange, nifty.lot_size, nifty.freeze_quantity, nifty.tick_size) == \
        ("NFO", 65, 1800, 0.05)
    banknifty = chain.get("BANKNIFTY26NOV59000PE")
    assert banknifty is not None and (banknifty.lot_size, banknifty.freeze_quantity) == (30, 600)
    sensex = chain.get("SENSEX26NOV85000CE", "BFO")
    assert sensex is not None and (sensex.lot_size, sensex.freeze_quantity) == (20, 1000)
    # Before the January 2026 lot revision a NIFTY lot was 75.
    old = build_chain({"NIFTY": UnderlyingMarket(spot=24_000.0)}, CONFIGS, dt.date(2025, 11, 4))
    assert {i.lot_size for i in old.options("NIFTY")} == {75}


def test_chain_lists_strikes_around_the_spot_for_each_expiry() -> None:
    markets = {"NIFTY": UnderlyingMarket(spot=26_010.0, strikes_each_side=3, expiries=2)}
    chain = build_chain(markets, CONFIGS, TUESDAY)
    assert chain.expiries("NIFTY") == [dt.date(2026, 11, 24), dt.date(2026, 12, 1)]
    strikes = sorted({i.strike for i in chain.options("NIFTY", dt.date(2026, 12, 1))})
    assert strikes == [25_850.0, 25_900.0, 25_950.0, 26_000.0, 26_050.0, 26_100.0, 26_150.0]
    assert chain.index("NIFTY").tradingsymbol == "NIFTY 50"
    assert len({i.instrument_token for i in chain.all()}) == len(chain)


def test_chain_round_trips_through_a_kite_instruments_csv() -> None:
    chain = _default_chain()
    text = chain.to_kite_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0].keys()) == KITE_CSV_COLUMNS
    option = next(r for r in rows if r["tradingsymbol"] == "NIFTY26D0126000CE")
    assert option == {
        "instrument_token": option["instrument_token"], "exchange_token": option["exchange_token"],
        "tradingsymbol": "NIFTY26D0126000CE", "name": "NIFTY", "last_price": "0.0",
        "expiry": "2026-12-01", "strike": "26000.0", "tick_size": "0.05", "lot_size": "65",
        "instrument_type": "CE", "segment": "NFO-OPT", "exchange": "NFO",
    }
    again = Chain.from_kite_csv(text, CONFIGS, TUESDAY)
    assert sorted(again.all(), key=lambda i: i.instrument_token) == \
        sorted(chain.all(), key=lambda i: i.instrument_token)


def test_a_kite_dump_keeps_its_own_lots_and_skips_other_segments() -> None:
    header = ",".join(KITE_CSV_COLUMNS)
    text = "\n".join([
        header,
        "256265,1001,NIFTY 50,NIFTY 50,25990.5,,0.0,0.05,0,EQ,INDICES,NSE",
        "408065,1594,INFY,INFOSYS,1500.0,,0.0,0.05,1,EQ,NSE,NSE",
        "13238786,51714,NIFTY26DECFUT,NIFTY,0.0,2026-12-29,0.0,0.1,65,FUT,NFO-FUT,NFO",
        "10923010,42668,NIFTY26D0126000CE,NIFTY,0.0,2026-12-01,26000.0,0.05,75,CE,NFO-OPT,NFO",
        "10923266,42669,NIFTY26D0126000PE,NIFTY,0.0,2026-12-01,26000.0,0.05,75,PE,NFO-OPT,NFO",
    ])
    chain = Chain.from_kite_csv(text, CONFIGS, TUESDAY)
    assert sorted(i.tradingsymbol for i in chain.all()) == \
        ["NIFTY 50", "NIFTY26D0126000CE", "NIFTY26D0126000PE"]
    call = chain.get("NIFTY26D0126000CE")
    assert call is not None
    assert (call.lot_size, call.freeze_quantity, call.instrument_token) == (75, 1800, 10923010)
    assert chain.index("NIFTY").last_price == 25990.5

"""Indian F&O charges on option fills, from the dated configuration."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imperium_exec.costs.charges import ChargeSchedule, default_charges
from imperium_exec.request import Side

SCHEDULE = default_charges()


def test_a_sale_pays_stt_and_a_purchase_stamp_duty_at_the_rates_of_its_day() -> None:
    """65 units at Rs 100 (Rs 6,500 of premium) on NSE, 2 Dec 2026: STT 0.15 %, exchange
    0.03503 %, IPFT Rs 50 per crore, SEBI Rs 10 per crore, stamp 0.003 % (buys), GST 18 % on
    brokerage + exchange + IPFT + SEBI, Rs 20 brokerage with the order's first fill."""
    day = dt.date(2026, 12, 2)
    sell = SCHEDULE.fill(day=day, exchange="NFO", side=Side.SELL, units=65, price=100.0,
                         first_fill_of_order=True)
    assert sell.stt == pytest.approx(6500 * 0.0015)
    assert sell.exchange == pytest.approx(6500 * 0.0003503)
    assert sell.ipft == pytest.approx(6500 * 50 / 1e7)
    assert sell.sebi == pytest.approx(6500 * 10 / 1e7)
    assert sell.stamp == 0.0 and sell.brokerage == 20.0
    assert sell.gst == pytest.approx(0.18 * (20 + 6500 * 0.0003503 + 6500 * 5e-6 + 6500 * 1e-6))
    assert sell.total == pytest.approx(sell.brokerage + sell.stt + sell.exchange + sell.ipft
                                       + sell.sebi + sell.gst)
    buy = SCHEDULE.fill(day=day, exchange="NFO", side=Side.BUY, units=65, price=100.0,
                        first_fill_of_order=False)
    assert buy.stt == 0.0 and buy.brokerage == 0.0  # brokerage went with the first fill
    assert buy.stamp == pytest.approx(6500 * 0.00003)


def test_the_row_in_force_is_the_latest_that_started_on_or_before_the_day() -> None:
    stt = {day: SCHEDULE.rates_on(day).stt_sell_pct for day in (
        dt.date(2024, 9, 30), dt.date(2024, 10, 1), dt.date(2026, 3, 31), dt.date(2026, 4, 1))}
    assert list(stt.values()) == [0.0625, 0.1, 0.1, 0.15]
    assert SCHEDULE.rates_on(dt.date(2024, 10, 1)).exchange_pct["BFO"] == 0.0325


def test_an_unknown_exchange_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="exchange: no transaction charges for 'MCX'"):
        SCHEDULE.fill(day=dt.date(2026, 12, 2), exchange="MCX", side=Side.BUY, units=1,
                      price=1.0, first_fill_of_order=True)


def test_a_schedule_file_with_a_bad_row_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "charges.json"
    path.write_text(json.dumps({"rows": [{"from": "2026-01-01", "stt_sell_pct": -1,
                                          "exchange_pct": {}, "sebi_per_crore": 10,
                                          "stamp_buy_pct": 0, "gst_pct": 18,
                                          "brokerage_per_order": 20}]}))
    with pytest.raises(ValueError, match="stt_sell_pct"):
        ChargeSchedule.load(path)


@given(units=st.integers(1, 36_000), price=st.floats(0.05, 5_000), split=st.integers(1, 10))
def test_charges_other_than_brokerage_are_proportional_to_premium(
        units: int, price: float, split: int) -> None:
    """Filling an order in parts costs what filling it at once does (brokerage once)."""
    day = dt.date(2026, 12, 2)
    whole = SCHEDULE.fill(day=day, exchange="BFO", side=Side.SELL, units=units, price=price,
                          first_fill_of_order=True)
    parts = [units // split + (1 if i < units % split else 0) for i in range(split)]
    pieces = [SCHEDULE.fill(day=day, exchange="BFO", side=Side.SELL, units=n, price=price,
                            first_fill_of_order=i == 0) for i, n in enumerate(parts) if n]
    assert sum(p.total for p in pieces) == pytest.approx(whole.total, rel=1e-9)


def test_nse_options_pay_ipft_so_the_exchange_side_is_the_brokers_0_03553_percent() -> None:
    """Zerodha's charges page lists NSE options at 0.03553 % of premium: the exchange's
    0.03503 % and NSE's IPFT of Rs 50 per crore (0.0005 %). BSE charges no IPFT."""
    day = dt.date(2026, 12, 2)
    rupees = {exchange: SCHEDULE.fill(day=day, exchange=exchange, side=Side.BUY, units=1,
                                      price=1e7, first_fill_of_order=False)
              for exchange in ("NFO", "BFO")}
    assert rupees["NFO"].exchange + rupees["NFO"].ipft == pytest.approx(1e7 * 0.0003553)
    assert rupees["BFO"].ipft == 0.0 and rupees["BFO"].exchange == pytest.approx(1e7 * 0.000325)
    assert SCHEDULE.rates_on(dt.date(2024, 9, 30)).ipft_per_crore == {}  # none known then

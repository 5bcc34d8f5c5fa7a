"""The volume curve fitted from the journal's traded volume (calibration/volume_fit.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from imperium_exec.algos.planner import ExecutionAlgoPlanner
from imperium_exec.calibration.volume_fit import (
    fit_shares,
    fit_volume_curves,
    load_volume_curves,
    read_volume_days,
    volume_curves_for,
    write_volume_curves,
)
from imperium_exec.cli import main
from imperium_exec.events import Event, EventKind, Status
from imperium_exec.request import ExecutionRequest
from imperium_exec.sim.config import PaperConfig
from imperium_exec.sim.exchange import PaperExchange
from imperium_exec.timeutil import IST, epoch_to_iso
from imperium_exec.volume_curve import VolumeCurve

#: A curve unlike both packaged profiles: volume rising through the day, 2 % to 6 % a bin.
RISING = np.linspace(1.0, 3.0, 25) / np.linspace(1.0, 3.0, 25).sum()
#: An expiry-day shape: flat, then the last hour four times as busy.
EXPIRY = np.array([1.0] * 21 + [4.0] * 4) / 37.0
WEDNESDAY = dt.date(2026, 12, 2)  # NIFTY's weekly expiry is a Tuesday
TUESDAYS = [dt.date(2026, 12, 1), dt.date(2026, 12, 8), dt.date(2026, 12, 15)]


def open_epoch(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(9, 15), IST).timestamp()


def child_row(symbol: str, epoch: float, session_s: float | None,
              day_volume: int | None) -> dict[str, Any]:
    """A placed child's row in the journal's own format."""
    epoch = float(epoch)
    return Event(timestamp=epoch_to_iso(epoch), ts=epoch, event=EventKind.PLACED, mode="paper",
                 parent_id="P", child_id="P-1", tradingsymbol=symbol, exchange="NFO",
                 status=Status.PLACED, day_volume=day_volume, session_s=session_s).to_row()


def write_journal(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def paper_journal(path: Path, days: int = 6, per_day: int = 40) -> Path:
    """Child rows priced from the paper exchange's quotes over ``days`` sessions (NSE hours)
    of a market whose traded volume follows :data:`RISING`: four NIFTY options, ``per_day``
    quotes each at seeded random times of each session."""
    base = PaperConfig()
    cfg = base.model_copy(update={
        "session": base.session.model_copy(update={"hours": "nse"}),
        # every strike trades at the same rate: the curve alone shapes the day
        "market": base.market.model_copy(update={"volume_decay": 0.0, "step_s": 5.0})})
    exchange = PaperExchange(cfg, open_epoch(WEDNESDAY), shares_override=RISING)
    options = exchange.chain.options("NIFTY")[:4]
    rng = np.random.default_rng(7)
    rows = []
    for d in range(days):  # Wednesday to Monday: no NIFTY expiry among them
        day_open = open_epoch(WEDNESDAY + dt.timedelta(days=d))
        for k, t in enumerate(np.sort(rng.uniform(0.0, 22_500.0, per_day * len(options)))):
            inst = options[k % len(options)]
            epoch = day_open + float(t)
            quote = exchange.quote(inst.tradingsymbol, inst.exchange, epoch)
            assert quote is not None
            rows.append(child_row(inst.tradingsymbol, epoch,
                                  exchange.timeline.session_seconds(epoch), int(quote.volume)))
    return write_journal(path, rows)


def curve_rows(symbols: list[str], days: list[dt.date], shares: np.ndarray,
               per_day: int = 20, total: float = 1e6) -> list[dict[str, Any]]:
    """Rows whose day volume is exactly ``total`` times the curve's cumulative share, at
    seeded random times of each session (between 09:20 and 15:25)."""
    curve = VolumeCurve(shares)
    rng = np.random.default_rng(11)
    rows = []
    for day in days:
        for symbol in symbols:
            for t in np.sort(rng.uniform(300.0, 22_200.0, per_day)):
                rows.append(child_row(symbol, open_epoch(day) + t, float(t),
                                      round(total * curve.cumulative(float(t)))))
    return rows


def test_the_fit_recovers_the_paper_exchanges_volume_curve(tmp_path: Path) -> None:
    reading = read_volume_days([paper_journal(tmp_path / "j.jsonl")])
    assert len(reading.days) == 24 and {d.kind for d in reading.days} == {"normal"}
    assert sum(d.session_s.size for d in reading.days) == 960
    # Unshrunk, every bin's share within 4 % of the truth (2.3 % at worst in this run).
    exact = fit_shares(reading.days, VolumeCurve.load("normal"), prior_instrument_days=0.0)
    np.testing.assert_allclose(exact.shares, RISING, rtol=0.04)
    # Shrunk toward the packaged profile with the weight of 2 instrument-days against 24:
    # each share within 0.1 percentage point, plus a tenth of its gap to the packaged one, of
    # the truth.
    [curve] = fit_volume_curves(reading.days)
    assert (curve.underlying, curve.kind, curve.instrument_days) == ("NIFTY", "normal", 24)
    assert curve.shares is not None
    packaged = VolumeCurve.load("normal").bin_shares
    assert np.all(np.abs(curve.shares - RISING) <= 0.001 + 0.10 * np.abs(packaged - RISING))
    # Held out, the fitted curve predicts the days' cumulative volume far better.
    assert curve.error_fitted_pp < 2.0 < 8.0 < curve.error_packaged_pp


def test_expiry_day_rows_go_to_the_expiry_curve_and_too_little_data_is_refused(
        tmp_path: Path) -> None:
    symbols = ["NIFTY26D1525000CE", "NIFTY26D1525000PE"]
    rows = curve_rows(symbols, TUESDAYS, EXPIRY) + curve_rows(symbols, [WEDNESDAY], RISING)
    reading = read_volume_days([write_journal(tmp_path / "j.jsonl", rows)])
    kinds = {(d.day, d.kind) for d in reading.days}
    assert kinds == {(day, "expiry") for day in TUESDAYS} | {(WEDNESDAY, "normal")}
    curves = {c.kind: c for c in fit_volume_curves(reading.days, prior_instrument_days=0.0)}
    expiry, normal = curves["expiry"], curves["normal"]
    assert (expiry.sessions, expiry.instrument_days, expiry.observations) == (3, 6, 120)
    assert expiry.shares is not None
    # the last hour is found four times as busy, every bin within 2 % (the first 5 minutes
    # and the last 5 are never observed: the shape inside those bins is partly the prior's)
    np.testing.assert_allclose(expiry.shares[1:-1] / expiry.shares[1], EXPIRY[1:-1] / EXPIRY[1],
                               rtol=0.02)
    assert normal.shares is None and normal.refused is not None
    assert "too few" in normal.refused and "packaged 'normal' profile stays" in normal.refused

    out = tmp_path / "calibration"
    path = write_volume_curves(list(curves.values()), mode="paper", journals=["j"],
                               directory=out, on=dt.date(2026, 12, 16))
    assert path is not None and path.name == "volume_curves_paper_2026-12-16.json"
    book = load_volume_curves(path)
    assert set(book.fitted) == {("NIFTY", "expiry")}  # the refused one is not written


def test_too_little_data_writes_no_curve_and_says_so(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    rows = curve_rows(["NIFTY26D1525000CE"], [WEDNESDAY], RISING, per_day=30)
    journal = write_journal(tmp_path / "j.jsonl", rows)
    out = tmp_path / "calibration"
    assert main(["calibrate", str(journal), "--calibration-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "NIFTY normal: 1 session(s), 1 instrument-day(s), 30 observation(s): too few" in err
    assert not list(out.glob("volume_curves_*")) if out.exists() else True
    book = volume_curves_for("paper", calibration_dir=out)
    assert book.fitted == {}
    assert book.curve_for("NIFTY26D1525000CE", WEDNESDAY).name == "packaged normal"


def test_rows_without_the_traded_volume_are_skipped_not_failed(tmp_path: Path) -> None:
    older = child_row("NIFTY26D1525000CE", open_epoch(WEDNESDAY) + 60, None, None)
    v3 = {k: v for k, v in older.items() if k not in ("day_volume", "session_s")} | {"v": 3}
    parent = Event(ts=open_epoch(WEDNESDAY), event=EventKind.ACCEPTED, mode="paper",
                   parent_id="P").to_row()
    rows = [older, v3, parent, *curve_rows(["NIFTY26D1525000CE"], [WEDNESDAY], RISING, 5)]
    journal = write_journal(tmp_path / "j.jsonl", rows)
    with journal.open("ab") as handle:
        handle.write(b'{"torn": ')
    reading = read_volume_days([journal])
    # The torn line is left out (the reader counts it), not a row.
    assert reading.without_volume == 2 and reading.rows == 8
    assert [d.session_s.size for d in reading.days] == [5]


def test_one_modes_volume_is_read_apart_from_the_others(tmp_path: Path) -> None:
    """A paper market's traded volume says nothing of the exchange's: with a mode, only its
    rows count (the modes seen are still listed)."""
    paper = curve_rows(["NIFTY26D1525000CE"], [WEDNESDAY], RISING, 5)
    live = [dict(r, mode="live") for r in curve_rows(["NIFTY26D1525100CE"], [WEDNESDAY],
                                                     RISING, 7)]
    journal = write_journal(tmp_path / "both.jsonl", paper + live)
    both = read_volume_days([journal])
    only_live = read_volume_days([journal], mode="live")
    assert both.modes == only_live.modes == {"paper", "live"}
    assert sorted(d.session_s.size for d in both.days) == [5, 7]
    assert [d.session_s.size for d in only_live.days] == [7]


def test_the_planner_plans_with_the_fitted_curve_of_its_underlying_and_day_kind(
        tmp_path: Path) -> None:
    symbols = ["NIFTY26D1525000CE", "NIFTY26D1525000PE"]
    rows = curve_rows(symbols, TUESDAYS, EXPIRY)
    reading = read_volume_days([write_journal(tmp_path / "j.jsonl", rows)])
    write_volume_curves(fit_volume_curves(reading.days), mode="live", journals=["j"],
                        directory=tmp_path, on=dt.date(2026, 11, 29))
    planner = ExecutionAlgoPlanner(volume_curves=volume_curves_for("live",
                                                                   calibration_dir=tmp_path))

    def request(symbol: str, day: dt.date) -> ExecutionRequest:
        return ExecutionRequest.model_validate(dict(
            tradingsymbol=symbol, exchange="NFO", side="BUY", quantity=65 * 1000,
            lot_size=65, tick_size=0.05, freeze_quantity=10**6, execution_algo="VWAP",
            max_child_orders=25, horizon_s=22_500, randomize_slices=False,
            start_at=dt.datetime.combine(day, dt.time(9, 15), IST)))

    tuesday = dt.date(2026, 12, 22)
    plan = planner.plan(request("NIFTY26D2225000CE", tuesday), now=open_epoch(tuesday) - 60,
                        seed=1)
    assert plan.volume_curve is not None
    assert plan.volume_curve.name == "fitted NIFTY expiry 2026-11-29"
    lots = np.array([c.quantity for c in plan.children]) / 65
    np.testing.assert_allclose(lots / 1000, plan.volume_curve.bin_shares, atol=1e-3)
    assert lots[-1] > 3 * lots[10]  # the fitted expiry afternoon, not the packaged one
    # Not an expiry day of NIFTY: the packaged normal profile (none was fitted).
    wednesday = dt.date(2026, 12, 23)
    plan = planner.plan(request("NIFTY26D2925000CE", wednesday),
                        now=open_epoch(wednesday) - 60, seed=1)
    assert plan.volume_curve is not None and plan.volume_curve.name == "packaged normal"
    # BANKNIFTY expires monthly: 22 Dec is no expiry of it, 29 Dec (the last Tuesday) is.
    plan = planner.plan(request("BANKNIFTY26DEC50000CE", tuesday),
                        now=open_epoch(tuesday) - 60, seed=1)
    assert plan.volume_curve is not None and plan.volume_curve.name == "packaged normal"
    last = dt.date(2026, 12, 29)
    plan = planner.plan(request("BANKNIFTY26DEC50000CE", last), now=open_epoch(last) - 60,
                        seed=1)
    assert plan.volume_curve is not None and plan.volume_curve.name == "packaged expiry"

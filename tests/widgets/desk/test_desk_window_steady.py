"""What the trader saw in the window (issue 19, part 4), in the assembled desk on the paper
exchange at the demo's default size: the panels keep their width as rows and log lines
arrive, and the dock's expected and realized slippage tiles are over the same units."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.paper import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.config import EngineConfig
from imperium_exec.risk import RiskLimits
from imperium_exec.stack import ExecutionStack
from imperium_exec.widgets.desk.app import DemoOptions
from imperium_exec.widgets.desk.basket_confirm import BasketChoice
from imperium_exec.widgets.desk.basket_panel import BasketModel
from imperium_exec.widgets.desk.tickets import ExecutionPolicy
from imperium_exec.widgets.desk.window import DeskWindow
from imperium_exec.widgets.fonts import desk_font

LOT = 65


@dataclass
class Desk:
    window: DeskWindow
    stack: ExecutionStack
    clock: VirtualClock
    rows: list[dict[str, Any]]

    def until(self, done: Callable[[], bool]) -> Callable[[], bool]:
        """``done``, asked after moving virtual time a quarter second."""
        def check() -> bool:
            self.clock.advance(0.25)
            return done()
        return check

    def finished(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["event"] == "finished"]


def open_desk(qtbot: QtBot, tmp_path: Path, settings: QSettings, *,
              margin: float | None = None, limits: RiskLimits | None = None) -> Desk:
    clock = VirtualClock(auto_advance=False)
    broker = PaperBroker(clock=clock, seed=11, margin=margin)
    stack = ExecutionStack(broker, "paper", clock=clock, telemetry_dir=tmp_path,
                           config=EngineConfig(id_seed=5, markout_horizons_s=(),
                                               risk_limits=limits or RiskLimits()))
    window = DeskWindow(stack, settings=settings, poll_ms=100, dock_interval_ms=20,
                        confirm=lambda _parent, _text: True,
                        confirm_basket=lambda _parent, _text: BasketChoice(),
                        confirm_order=lambda _parent, _text, _margin: True)
    qtbot.addWidget(window)
    window.setFont(desk_font(9))
    options = DemoOptions()
    window.resize(options.width, options.height)  # the demo's default window
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=5000)
    rows: list[dict[str, Any]] = []
    stack.telemetry_row.connect(rows.append)
    return Desk(window, stack, clock, rows)


@pytest.fixture
def desk(qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> Iterator[Desk]:
    opened = open_desk(qtbot, tmp_path, qsettings)
    yield opened
    close(opened)


def close(desk: Desk) -> None:
    desk.window.close()
    desk.clock.run_freely()  # cancels at shutdown need time to reach the exchange
    desk.stack.shutdown()


def quick_order(w: DeskWindow, offset: int, kind: str, side: str, lots: int,
                policy: ExecutionPolicy) -> None:
    """A single-strike order through the panel, ``offset`` strikes from the money."""
    snapshot = w.snapshot
    assert snapshot is not None
    strikes = snapshot.strikes
    atm = strikes.index(snapshot.view.atm_strike)
    w.quick.select(strikes[atm + offset], "CE" if kind == "CE" else "PE")
    w.quick.lots.setValue(lots)
    w.quick.policy_form.set_policy(policy)
    (w.quick.buy_button if side == "BUY" else w.quick.sell_button).click()


def layout(w: DeskWindow) -> dict[str, int]:
    """The widths that must not move, and where the basket's LTP column ends."""
    table = w.basket.table
    header = table.horizontalHeader()
    ltp = BasketModel.LTP
    widths = {name: widget.width() for name, widget in (
        ("dock", w.dock), ("central", w.centralWidget()), ("basket", w.basket),
        ("legs", table.viewport()), ("log", w.confirmations))}
    return widths | {"ltp_end": header.sectionViewportPosition(ltp) + header.sectionSize(ltp)}


@pytest.mark.timing
def test_the_panels_keep_their_width_as_orders_rows_and_log_lines_arrive(
        qtbot: QtBot, desk: Desk) -> None:
    """The dock used to follow its contents' size hint (the filter lists learning algorithms
    and statuses, the tiles' longer figures): seconds after start it widened and took the
    width from the basket's LTP column and the confirmation lines."""
    w = desk.window
    qtbot.wait(100)
    before = layout(w)
    assert before["ltp_end"] <= before["legs"]  # the LTP column shows whole
    assert w.basket.table.horizontalHeader().sectionSize(BasketModel.LTP) >= \
        w.basket.table.fontMetrics().horizontalAdvance("26,000.00")
    slow = ExecutionPolicy(algo="TWAP", slices=2, horizon_s=1800.0)  # still working at the end
    sent: list[str] = []
    w.order_submitted.connect(lambda parent_id, _payload: sent.append(parent_id))
    for offset, kind, side, lots, policy in (
            (0, "CE", "BUY", 2, ExecutionPolicy()),
            (1, "PE", "SELL", 1, ExecutionPolicy(algo="IS", urgency="high", slices=3,
                                                 horizon_s=30.0)),
            (-1, "CE", "BUY", 3, ExecutionPolicy(algo="POV", participation=0.2, slices=4,
                                                 horizon_s=120.0)),
            (2, "PE", "BUY", 6, slow),
            (-2, "PE", "SELL", 2, ExecutionPolicy(algo="VWAP", slices=2, horizon_s=60.0))):
        quick_order(w, offset, kind, side, lots, policy)
    twap = sent[3]
    strikes = w.snapshot.strikes  # type: ignore[union-attr]
    atm = strikes.index(w.snapshot.view.atm_strike)  # type: ignore[union-attr]
    for offset, kind, side in ((2, "CE", "SELL"), (4, "CE", "BUY"), (-2, "PE", "SELL"),
                               (-4, "PE", "BUY")):  # an iron condor, a line of legs each
        w.basket.add(strikes[atm + offset], "CE" if kind == "CE" else "PE", 1,
                     "SELL" if side == "SELL" else "BUY")
    w.basket.policy_form.set_policy(slow)
    w.basket.buy_all_button.click()
    (basket_id,) = w.baskets
    qtbot.waitUntil(desk.until(lambda: len(desk.finished()) >= 2 and any(
        r["event"] == "filled" and r["basket_id"] == basket_id for r in desk.rows)),
        timeout=10_000)
    w.stack.cancel(twap)  # a cancelled child and parent
    w.stack.cancel_basket(basket_id)  # stopped short: its report, Complete and Unwind
    panel = w.dock.parents_panel
    qtbot.waitUntil(desk.until(lambda: basket_id in panel.basket_rows
                               and panel.basket_rows[basket_id].unwind_button.isVisible()),
                    timeout=10_000)
    for i in range(300):  # long lines, as a basket's report or a refusal writes them
        w.confirmations.refuse(f"line {i}: " + "NIFTY26NOV2626000CE: short by 1,234,567 · " * 3)
    statuses = w.dock.blotter.status_filter
    qtbot.waitUntil(lambda: statuses.findText("cancelled") > 0
                    and w.dock.orders.model.rowCount() >= 10, timeout=5000)
    w.dock.refresh_now()
    qtbot.wait(100)  # every relayout the rows caused has run
    after = layout(w)
    assert after == before
    area = panel.scroll_area  # the working parents' list fits its panel: no control cut off
    assert area.widget().width() <= area.viewport().width()
    assert not w.dock.orders.table.horizontalScrollBar().isVisible()  # its columns fit
    assert w.dock.tiles.text("placed").value != "0"
    assert not w.basket.table.horizontalScrollBar().isVisible()


def weighted(rows: list[dict[str, Any]], field: str) -> float:
    """``field`` of the fill rows, weighted by the units each filled."""
    units = sum(r["filled_quantity"] for r in rows)
    return sum(r[field] * r["filled_quantity"] for r in rows) / units


def test_a_refused_sell_and_rejected_children_stay_out_of_the_expected_slippage_tile(
        qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> None:
    """On a small paper account: two small orders fill; a 200-lot sell is refused at the
    margin check (nothing sent); a 200-lot buy runs out of funds part way, its later children
    placed and then rejected by the RMS. The expected tile used to average every placed
    child's estimate (those rejected children's hundreds of bps among them) against realized
    fills: it must be over the units that filled, as the realized tile is."""
    # (big buys are not margin-checked up front here: the buy must reach the RMS part way)
    desk = open_desk(qtbot, tmp_path, qsettings, margin=300_000.0,
                     limits=RiskLimits(check_margin_of_buys_above=None))
    try:
        w = desk.window
        at_once = ExecutionPolicy()
        quick_order(w, 0, "CE", "BUY", 2, at_once)
        quick_order(w, -2, "PE", "SELL", 1, at_once)
        quick_order(w, 1, "PE", "SELL", 200, at_once)
        quick_order(w, 0, "PE", "BUY", 200, at_once)
        qtbot.waitUntil(desk.until(lambda: len(desk.finished()) == 4), timeout=20_000)
        rows = desk.rows
        refused, big_buy = (next(r for r in desk.finished() if r["side"] == side
                                 and r["parent_quantity"] == 200 * LOT)
                            for side in ("SELL", "BUY"))
        assert (refused["status"], refused["error_bucket"]) == ("failed", "risk")
        assert "margin" in refused["message"] and "nothing was sent" in refused["message"]
        assert not [r for r in rows if r["parent_id"] == refused["parent_id"]
                    and r["event"] == "placed"]
        rejected = [r for r in rows if r["parent_id"] == big_buy["parent_id"]
                    and r["event"] == "rejected"]
        assert rejected and all(r["error_bucket"] == "risk" for r in rejected)
        assert 0 < big_buy["filled_quantity"] < 200 * LOT
        fills = [r for r in rows if r["event"] == "filled" and r["filled_quantity"]]
        estimate, realized = weighted(fills, "expected_cost_bps"), \
            weighted(fills, "realized_slippage_bps")
        assert estimate < max(r["expected_cost_bps"] for r in rejected)  # they weighed in
        tiles = w.dock.tiles

        def shown() -> bool:
            w.dock.refresh_now()
            return tiles.text("realized_bps").value == f"{realized:+.1f} bps"

        qtbot.waitUntil(shown, timeout=5000)
        assert tiles.text("expected_bps").value == f"{estimate:+.1f} bps"
        at_send = tiles.text("expected_bps").detail.splitlines()[0]  # "at send +x"
        assert f"est. {at_send.removeprefix('at send ')}" in tiles.text("realized_bps").detail
    finally:
        close(desk)

"""The live desk after a lost session, against the fake Kite server: File > Log in again… (and
the button beside the dock's re-login banner) takes a new access token, logs in off the GUI
thread, says the outcome, and the halted parents come back in the orphans panel to cancel or
adopt; nothing is sent before the trader chooses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kiteconnect import KiteConnect
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from imperium_exec.brokers import KiteBroker
from imperium_exec.engine.config import EngineConfig
from imperium_exec.request import ExecutionRequest
from imperium_exec.stack import ExecutionStack
from imperium_exec.testing import FakeInstrument, FakeKiteServer, nifty_strip
from imperium_exec.timeutil import IST
from imperium_exec.widgets.desk.live import KiteChain
from imperium_exec.widgets.desk.window import DeskWindow

NIFTY_50 = FakeInstrument(tradingsymbol="NIFTY 50", exchange="NSE", name="NIFTY 50",
                          instrument_token=256_265, lot_size=1, freeze_quantity=1,
                          tick_size=0.05, instrument_type="EQ")


@dataclass
class LiveDesk:
    server: FakeKiteServer
    stack: ExecutionStack
    window: DeskWindow
    symbol: str

    def orders(self, prefix: str) -> list[dict[str, Any]]:
        return [o for o in self.server.recorded_orders()
                if (o.get("tag") or "").startswith(prefix)]


@pytest.fixture
def live_desk(qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> Iterator[LiveDesk]:
    expiry = dt.datetime.now(IST).date() + dt.timedelta(days=4)
    strip = nifty_strip(6, expiry=expiry.isoformat())
    server = FakeKiteServer(instruments=(*strip, NIFTY_50)).start()
    for inst in strip:
        server.set_quote(inst.tradingsymbol, bid=100.0, ask=100.5)
    server.set_quote("NIFTY 50", bid=0.0, ask=0.0, ltp=24_512.3, exchange="NSE")
    kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2)
    stack = ExecutionStack(KiteBroker(kite, ticker_root=None), "live", telemetry_dir=tmp_path,
                           config=EngineConfig(poll_interval_s=0.2))
    chain = KiteChain(quotes=stack)
    window = DeskWindow(stack, chain_broker=chain, settings=qsettings, poll_ms=1000,
                        dock_interval_ms=20)
    window.dock.orphans_panel.confirm_adopt = lambda _parent, _text: True
    qtbot.addWidget(window)
    window.resize(1500, 950)
    window.show()
    qtbot.waitExposed(window)
    try:
        yield LiveDesk(server, stack, window, strip[0].tradingsymbol)
    finally:
        window.close()
        chain.close()
        stack.shutdown(10.0)
        server.stop()


def resting_twap(desk: LiveDesk) -> str:
    """A 2-lot TWAP whose first child rests (a buy at 90 under a 100 bid)."""
    handle = desk.stack.execute(ExecutionRequest.model_validate(dict(
        tradingsymbol=desk.symbol, exchange="NFO", side="BUY", quantity=130, lot_size=65,
        tick_size=0.05, freeze_quantity=1800, order_type="LIMIT", limit_price=90.0,
        execution_algo="TWAP", max_child_orders=2, horizon_s=600, randomize_slices=False)))
    return handle.parent_id


def test_log_in_again_reports_the_halted_parents_in_the_orphans_panel(
        qtbot: QtBot, live_desk: LiveDesk, screenshot_dir: Path) -> None:
    desk, window = live_desk, live_desk.window
    login = window.login
    assert login is not None and not login.action.isEnabled()
    file_menu = window.menuBar().actions()[0].menu()
    assert login.action in file_menu.actions()
    parent_id = resting_twap(desk)
    qtbot.waitUntil(lambda: len(desk.orders(parent_id)) == 1, timeout=10_000)
    (first,) = desk.orders(parent_id)

    with qtbot.waitSignal(desk.stack.session_expired, timeout=10_000):
        desk.server.expire_session()
    assert login.action.isEnabled()
    dock = window.dock
    qtbot.waitUntil(dock.session_banner.isVisible, timeout=5000)
    assert dock.session_button.isVisible() and dock.session_button.text() == "Log in again…"
    desk.server.fill(first["order_id"], 65)  # while the desk cannot see

    qtbot.mouseClick(dock.session_button, Qt.MouseButton.LeftButton)
    dialog = login.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.token.echoMode() is QLineEdit.EchoMode.Password
    # A token the broker refuses (the server takes only a new login's "t"): the outcome says
    # so, the banner stays, and the trader may try again
    desk.server.restore_session()
    qtbot.keyClicks(dialog.token, "stale-token")
    qtbot.keyClick(dialog.token, Qt.Key.Key_Return)
    assert dialog.status.text() == "Logging in and reading the order book…"
    assert dialog.token.text() == "" and not dialog.login_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.login_button.isEnabled(), timeout=15_000)
    assert dialog.status.text().startswith("Login not confirmed: the broker's order book "
                                           "could not be read")
    assert login.action.isEnabled() and dock.session_banner.isVisible()

    assert "Incorrect `api_key` or `access_token`" in dialog.status.text()
    dialog.grab().save(str(screenshot_dir / "login_refused.png"))
    qtbot.keyClicks(dialog.token, "t")
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Logged in. "), timeout=15_000)
    assert "1 parent halted by the lost session" in dialog.status.text()
    assert not login.action.isEnabled()
    qtbot.waitUntil(lambda: not dock.session_banner.isVisible(), timeout=5000)
    assert not dock.session_button.isVisible()
    panel = dock.orphans_panel
    qtbot.waitUntil(lambda: parent_id in panel.rows, timeout=5000)
    row = panel.rows[parent_id]
    assert row.detail.text() == f"{parent_id} · filled 65 of 130 · 65 while the desk was down"
    assert row.adopt_button.isEnabled()
    said = window.confirmations.lines()
    assert sum("Login not confirmed" in line for line in said) == 1
    assert sum("Logged in again: 1 parent" in line for line in said) == 1
    dialog.close()
    qtbot.wait(50)
    window.grab().save(str(screenshot_dir / "desk_relogin.png"))
    places = len(desk.server.requests_to("place"))
    qtbot.wait(500)
    assert len(desk.server.requests_to("place")) == places  # held: nothing sent

    # Adopt sends the rest (65 units) as a new parent
    qtbot.mouseClick(row.adopt_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: parent_id not in panel.rows, timeout=15_000)
    new_id = next(line.split(" adopted as ")[1].split(" ")[0]
                  for line in dock.orphan_book.outcomes if " adopted as " in line)
    qtbot.waitUntil(lambda: bool(desk.orders(new_id)), timeout=10_000)
    assert sum(o["quantity"] for o in desk.orders(new_id)) <= 65

"""The live desk's option chain end to end: the chain poller on its worker thread, KiteChain
reading the quotes of a real ExecutionStack on a real KiteBroker (the real kiteconnect client)
against the fake Kite server, with and without its ticker WebSocket.

What this guards: the chain refreshes with live prices while no more than one GET /quote a
calendar second reaches Kite, every one of them the engine's, and nothing is refused with 429;
what scrolls off the screen is unsubscribed.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from kiteconnect import KiteConnect
from pytestqt.qtbot import QtBot

from imperium_exec.brokers import KiteBroker
from imperium_exec.stack import ExecutionStack
from imperium_exec.testing import FakeInstrument, FakeKiteServer, nifty_strip
from imperium_exec.timeutil import IST
from imperium_exec.widgets.desk.chain import ChainPoller
from imperium_exec.widgets.desk.live import KiteChain
from imperium_exec.widgets.desk.tickets import ChainSnapshot

T = TypeVar("T")

NIFTY_50 = FakeInstrument(tradingsymbol="NIFTY 50", exchange="NSE", name="NIFTY 50",
                          instrument_token=256_265, lot_size=1, freeze_quantity=1,
                          tick_size=0.05, instrument_type="EQ")
STRIKES_EACH_SIDE = 3


def max_per_calendar_second(stamps: list[float]) -> int:
    counts: dict[int, int] = {}
    for at in stamps:
        counts[math.floor(at)] = counts.get(math.floor(at), 0) + 1
    return max(counts.values(), default=0)


def on_loop(stack: ExecutionStack, fn: Callable[[], T]) -> T:
    """``fn()`` on the engine's loop thread (the service's state belongs to it)."""
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(fn())
        except Exception as exc:  # pragma: no cover - surfaced by result()
            done.set_exception(exc)

    stack.engine.loop.call_soon_threadsafe(run)
    return done.result(5.0)


def fully_priced(snapshot: ChainSnapshot, atm: float) -> bool:
    view = snapshot.view
    return view.atm_strike == atm and len(view.rows) == 2 * STRIKES_EACH_SIDE + 1 and all(
        q.bid is not None and q.ask is not None for row in view.rows for q in (row.call, row.put))


def ticker_tokens(server: FakeKiteServer) -> set[int]:
    """The tokens the ticker client is subscribed to now, from the messages it sent."""
    tokens: set[int] = set()
    for message in server.ticker_messages:
        if isinstance(message, dict) and message.get("a") == "subscribe":
            tokens.update(message["v"])
        elif isinstance(message, dict) and message.get("a") == "unsubscribe":
            tokens.difference_update(message["v"])
    return tokens


@pytest.mark.slow(seconds=4)
@pytest.mark.parametrize("stream", [True, False], ids=["ticker", "rest-only"])
def test_the_live_chain_refreshes_from_the_engine_within_kites_quote_limit(
        qtbot: QtBot, tmp_path: Path, stream: bool) -> None:
    expiry = dt.datetime.now(IST).date() + dt.timedelta(days=4)
    strip = nifty_strip(40, expiry=expiry.isoformat())  # 24,000 .. 24,950, calls and puts
    by_key = {inst.key: inst for inst in (*strip, NIFTY_50)}
    server = FakeKiteServer(instruments=by_key.values(), ticker_heartbeat_s=0.25)
    server.start()
    for i, inst in enumerate(strip):
        server.set_quote(inst.tradingsymbol, bid=100.0 + i, ask=100.5 + i)
    server.set_quote("NIFTY 50", bid=0.0, ask=0.0, ltp=24_512.3, exchange="NSE")
    kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2)
    broker = KiteBroker(kite, ticker_root=server.ticker_root if stream else None,
                        ticker_silence_s=1.0)
    stack = ExecutionStack(broker, "live", telemetry_dir=tmp_path)
    chain = KiteChain(quotes=stack)
    poller = ChainPoller(chain, "NIFTY", STRIKES_EACH_SIDE, interval_ms=250)
    snapshots: list[ChainSnapshot] = []
    failures: list[str] = []
    poller.snapshot_ready.connect(snapshots.append)
    poller.failed.connect(failures.append)
    started = time.time()
    try:
        poller.start()
        # The first refreshes show empty cells (nothing held yet); then the chain is priced
        # around the spot from what the engine's service keeps fresh. (Until the index's
        # quote comes the chain is centred on its middle strike, also 24,500 here: on a busy
        # machine the options' quotes can come first, so the wait is for the spot too.)
        qtbot.waitUntil(lambda: bool(snapshots) and fully_priced(snapshots[-1], 24_500)
                        and not math.isnan(snapshots[-1].view.spot), timeout=10_000)
        assert snapshots[-1].view.spot == pytest.approx(24_512.3)
        atm_call = snapshots[-1].view.rows[STRIKES_EACH_SIDE].call
        assert atm_call.tradingsymbol.endswith("24500CE")

        # A new price on the exchange reaches the screen.
        server.set_quote(atm_call.tradingsymbol, bid=150.0, ask=151.0)
        qtbot.waitUntil(lambda: snapshots[-1].view.rows[STRIKES_EACH_SIDE].call.bid == 150.0,
                        timeout=5_000)

        # The money moves four strikes up: the chain follows, what scrolled off is unwatched.
        server.set_quote("NIFTY 50", bid=0.0, ask=0.0, ltp=24_708.0, exchange="NSE")
        qtbot.waitUntil(lambda: fully_priced(snapshots[-1], 24_700), timeout=10_000)
        on_screen = {f"NFO:{q.tradingsymbol}" for row in snapshots[-1].view.rows
                     for q in (row.call, row.put)}
        assert chain.watched == on_screen | {"NSE:NIFTY 50"}

        def service_matches() -> bool:
            return on_loop(stack, stack.engine.market_data.subscribed) == chain.watched

        qtbot.waitUntil(service_matches, timeout=5_000)
        if stream:
            wanted = {by_key[k].instrument_token for k in chain.watched}
            qtbot.waitUntil(lambda: ticker_tokens(server) == wanted, timeout=5_000)

        # Keep refreshing (four more fetches of the chain, eight in all; without the ticker,
        # two more quote calls of the engine's): the rate stays where it is.
        fetches, calls = max(poller.fetches + 4, 8), stack.engine.market_data.rest_calls
        qtbot.waitUntil(lambda: poller.fetches >= fetches and (
            stream or stack.engine.market_data.rest_calls >= calls + 2), timeout=5_000)
        refreshes = poller.fetches
        poller.stop()
        chain.close()
        qtbot.waitUntil(lambda: not on_loop(stack, stack.engine.market_data.subscribed),
                        timeout=5_000)
    finally:
        poller.stop()
        stack.shutdown()
        server.stop()
    elapsed = time.time() - started

    quote_calls = [r.at for r in server.requests_to("quote")]
    assert not failures
    assert refreshes >= 8
    assert max_per_calendar_second(quote_calls) <= 1
    assert server.throttled == 0
    # Every GET /quote that reached Kite was the engine's one coalesced call.
    assert len(quote_calls) == stack.engine.market_data.rest_calls
    if not stream:
        assert len(quote_calls) >= 3  # the desk's instruments were refreshed by REST
    print(f"\n[{'ticker' if stream else 'rest-only'}] {refreshes} chain refreshes in "
          f"{elapsed:.1f} s; {len(quote_calls)} GET /quote ({len(quote_calls) / elapsed:.2f}/s, "
          f"at most {max_per_calendar_second(quote_calls)} in a calendar second); "
          f"{server.throttled} replies 429")


# The live desk as `imperium-exec demo --mode live` builds it (app.py's wiring), against the fake
# server (no ticker: its root is not Zerodha's), in a child process: the demo owns its
# QApplication's palette and fonts.
LIVE_DEMO = """
import json, sys
import kiteconnect
from imperium_exec import cli
from imperium_exec.testing import FakeInstrument, FakeKiteServer, nifty_strip

strip = nifty_strip(40, expiry=sys.argv[1])
index = FakeInstrument("NIFTY 50", "NSE", "NIFTY 50", 256265, 1, 1, instrument_type="EQ")
throttled = []

class Server(FakeKiteServer):
    def handle(self, *args, **kwargs):
        reply = super().handle(*args, **kwargs)
        if reply.status == 429:
            throttled.append(args[1])
        return reply

server = Server(instruments=(*strip, index)).start()
for i, inst in enumerate(strip):
    server.set_quote(inst.tradingsymbol, bid=100.0 + i, ask=100.5 + i)
server.set_quote("NIFTY 50", bid=0.0, ask=0.0, ltp=24512.3, exchange="NSE")
Real = kiteconnect.KiteConnect

class ToTheFake(Real):
    def __init__(self, api_key, **kw):
        super().__init__(api_key, root=server.root, **kw)

kiteconnect.KiteConnect = ToTheFake
code = cli.main(["demo", "--mode", "live", "--no-script", "--headless", "--run-for", "3",
                 "--screenshot", sys.argv[2], "--telemetry-dir", sys.argv[3],
                 "--api-key", "k", "--access-token", "t"])
quotes = [[r.at, r.query.get("i", [])] for r in server.requests_to("quote")]
server.stop()
print("RESULT " + json.dumps({"code": code, "quotes": quotes, "throttled": throttled}))
"""


@pytest.mark.slow(seconds=5)
def test_the_live_demo_prices_its_chain_through_the_engine(tmp_path: Path,
                                                            screenshot_dir: Path) -> None:
    expiry = dt.datetime.now(IST).date() + dt.timedelta(days=4)
    picture = tmp_path / "desk_live.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", LIVE_DEMO, expiry.isoformat(), str(picture),
                           str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["code"] == 0 and result["throttled"] == []
    assert picture.stat().st_size > 50_000
    shutil.copy(picture, screenshot_dir / "desk_live.png")
    stamps = [at for at, _ in result["quotes"]]
    asked = {key for _, keys in result["quotes"] for key in keys}
    assert max_per_calendar_second(stamps) <= 1
    # The chain's strikes around the money (24,512.3) and the index rode the engine's calls.
    assert "NSE:NIFTY 50" in asked
    assert {f"NFO:NIFTY{expiry:%y}D{expiry:%d}24500{kind}" for kind in ("CE", "PE")} <= asked

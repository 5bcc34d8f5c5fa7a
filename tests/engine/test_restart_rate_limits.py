"""A desk restarted after a crash keeps to Kite's limits in the seconds the crashed desk left
behind: the requests it had in flight when it died reached Kite but left no journal row."""

from __future__ import annotations

import math

from kiteconnect import KiteConnect

from imperium_exec.brokers.kite import KiteBroker
from imperium_exec.clock import DEFAULT_VIRTUAL_START, VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import ParentStatus
from imperium_exec.recovery.journal import JournalDay
from imperium_exec.request import ExecutionRequest
from imperium_exec.testing.fake_kite import FakeKiteServer, nifty_strip

BID, ASK = 100.0, 100.05


def test_a_restart_sends_nothing_into_the_second_the_crashed_desks_unanswered_writes_filled(
        ) -> None:
    """The crashed desk's last ten placements reached the fake in one second (they have no
    row: no answer came before the SIGKILL). The restarted desk, on a clock held still in that
    second, recovers and places one order: it goes out in a later second, and no 429 comes."""
    clock = VirtualClock(DEFAULT_VIRTUAL_START + 0.1, auto_advance=False)
    instruments = nifty_strip(11)
    with FakeKiteServer(instruments=instruments, clock=clock.now) as server:
        for inst in instruments:
            server.set_quote(inst.tradingsymbol, bid=BID, ask=ASK)
        crashed = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=5)
        for inst in instruments[1:]:
            crashed.place_order(variety="regular", exchange="NFO",
                                tradingsymbol=inst.tradingsymbol, transaction_type="BUY",
                                quantity=65, product="NRML", order_type="LIMIT", price=90.0)
        kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=5)
        engine = ExecutionEngine(KiteBroker(kite, ticker_root=None), mode="live", clock=clock,
                                 config=EngineConfig(markout_horizons_s=()))
        try:
            # The journal had rows today (the crashed desk's), none for those ten.
            recovered = engine.recover(JournalDay((), frozenset(), 40, 0), None)
            _, future = engine.submit(ExecutionRequest.model_validate(dict(
                tradingsymbol=instruments[0].tradingsymbol, exchange="NFO", side="BUY",
                quantity=65, lot_size=65, tick_size=0.05, freeze_quantity=1800, bid=BID,
                ask=ASK)))
            clock.run_freely()
            assert not recovered.result(30).orphans
            result = future.result(30)
        finally:
            engine.shutdown(10.0)
    placed = [r.at for r in server.requests if r.route == "place"]
    assert result.status is ParentStatus.FILLED
    assert server.throttled == 0, f"placements at {[round(at % 60, 3) for at in placed]}"
    assert len(placed) == 11 and math.floor(placed[-1]) > math.floor(placed[0])

"""``underlying_price``: an option parent's index level when it was accepted, on its accepted
and finished rows (a child's rows: when it was priced; fill rows: when the fill was taken
in). The paper exchange's own index at that moment; on the live path the index's
LTP, riding along in the coalesced REST quote calls (never a call of its own); null when no
index quote is at hand, without waiting for one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_support import make_request, make_rig
from kiteconnect import KiteConnect

from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import RealClock, VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import ParentStatus
from imperium_exec.instruments import parse_contract, underlying_index_key
from imperium_exec.request import ExecutionRequest
from imperium_exec.testing import FakeKiteServer, nifty_strip
from imperium_exec.timeutil import round_to_tick

INDEX = "NSE:NIFTY 50"


def parent_rows(rows: list[dict[str, Any]], event: str) -> dict[str, dict[str, Any]]:
    return {r["parent_id"]: r for r in rows if r["event"] == event}


def test_index_keys_of_options_and_none_for_anything_else() -> None:
    assert underlying_index_key("NIFTY26D0126000CE") == INDEX
    assert underlying_index_key("BANKNIFTY26DEC56000PE") == "NSE:NIFTY BANK"
    assert underlying_index_key("FINNIFTY26DEC27000CE") == "NSE:NIFTY FIN SERVICE"
    assert underlying_index_key("MIDCPNIFTY26DEC13000PE") == "NSE:NIFTY MID SELECT"
    assert underlying_index_key("SENSEX26D0385000CE") == "BSE:SENSEX"
    assert underlying_index_key("NIFTY26DECFUT") is None
    assert underlying_index_key("RELIANCE") is None


def test_the_paper_engine_writes_the_sims_index_level_at_acceptance() -> None:
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=5, margin=1e10)
    engine = ExecutionEngine(broker, mode="paper", clock=clock, config=EngineConfig(id_seed=3))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    try:
        for underlying, exchange, kind in (("NIFTY", "NFO", "call"), ("SENSEX", "BFO", "put"),
                                           ("NIFTY", "NFO", "put")):
            chain = broker.option_chain(underlying, strikes_each_side=2)
            quote = getattr(chain.rows[len(chain.rows) // 2], kind)
            _, future = engine.submit(ExecutionRequest.model_validate(dict(
                tradingsymbol=quote.tradingsymbol, exchange=exchange, side="BUY",
                quantity=broker.exchange.instrument(quote.tradingsymbol, exchange).lot_size,
                bid=quote.bid, ask=quote.ask, execution_algo="TWAP", max_child_orders=2,
                horizon_s=20.0)))
            assert future.result(timeout=60).status is ParentStatus.FILLED  # 20 s later
    finally:
        engine.shutdown(10.0)
    accepted, finished = parent_rows(rows, "accepted"), parent_rows(rows, "finished")
    assert len(accepted) == 3
    levels = []
    exchange = broker.exchange
    for parent_id, row in accepted.items():
        underlying = parse_contract(row["tradingsymbol"]).underlying
        index = exchange.chain.index(underlying)
        at = exchange.timeline.market_seconds(row["ts"])
        expected = round_to_tick(exchange.market.spot(underlying, at), index.tick_size)
        assert row["underlying_price"] == expected
        assert finished[parent_id]["underlying_price"] == expected
        levels.append(expected)
    assert len(set(levels)) == 3  # not a constant: the level at each parent's acceptance
    # A child's rows carry the index when it was priced, a fill row the index when the fill
    # was taken in: the sim's level at each row's moment (calibration takes the market's own
    # move between them out of the child's cost).
    child_rows = [r for r in rows if r["event"] in ("placed", "filled")]
    assert {r["event"] for r in child_rows} == {"placed", "filled"}
    for row in child_rows:
        underlying = parse_contract(row["tradingsymbol"]).underlying
        index = exchange.chain.index(underlying)
        at = exchange.timeline.market_seconds(row["ts"])
        assert row["underlying_price"] == round_to_tick(exchange.market.spot(underlying, at),
                                                        index.tick_size)


def test_no_index_quote_writes_null_without_waiting_for_one(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)  # the in-memory broker quotes options, never an index
    try:
        started = rig.clock.now()
        _, future = rig.engine.submit(make_request())
        _, fut_future = rig.engine.submit(make_request(tradingsymbol="NIFTY26DECFUT"))
        future.result(timeout=10)
        fut_future.result(timeout=10)
    finally:
        rig.close()
    accepted = parent_rows(rig.snapshot(), "accepted")
    finished = parent_rows(rig.snapshot(), "finished")
    assert len(accepted) == 2
    for parent_id, row in accepted.items():
        assert row["underlying_price"] is None
        assert finished[parent_id]["underlying_price"] is None
        assert row["ts"] == started  # virtual time: nothing waited before accepting


def start_rest_only(**server_kw: Any) -> tuple[FakeKiteServer, ExecutionEngine,
                                                list[dict[str, Any]]]:
    """The real kiteconnect client against the fake Kite, no ticker: quotes by REST only."""
    instruments = nifty_strip(6)
    server = FakeKiteServer(instruments=instruments, **server_kw).start()
    for inst in instruments:
        server.set_quote(inst.tradingsymbol, bid=100.0, ask=100.5)
    broker = KiteBroker(KiteConnect(api_key="k", access_token="t", root=server.root,
                                    timeout=2), ticker_root=None)
    engine = ExecutionEngine(broker, mode="live", clock=RealClock(), config=EngineConfig())
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    return server, engine, rows


def submit_all(engine: ExecutionEngine, symbols: list[str]) -> None:
    futures = [engine.submit(ExecutionRequest.model_validate(dict(
        tradingsymbol=s, exchange="NFO", side="BUY", quantity=65, lot_size=65, tick_size=0.05,
        freeze_quantity=1800, bid=100.0, ask=100.5)))[1] for s in symbols]
    for future in futures:
        assert future.result(timeout=30).status is ParentStatus.FILLED


def test_live_path_the_index_rides_along_in_the_coalesced_quote_calls() -> None:
    server, engine, rows = start_rest_only(spots={"NIFTY": 26_012.35})
    try:
        submit_all(engine, [i.tradingsymbol for i in nifty_strip(6)])
        rest_calls = engine.market_data.rest_calls
    finally:
        engine.shutdown(10.0)
        server.stop()
    accepted, finished = parent_rows(rows, "accepted"), parent_rows(rows, "finished")
    assert len(accepted) == 6
    assert {r["underlying_price"] for r in accepted.values()} == {26_012.35}
    assert {r["underlying_price"] for r in finished.values()} == {26_012.35}
    calls = server.requests_to("quote")
    assert len(calls) == rest_calls  # every quote call is the market data service's
    with_index = [c for c in calls if INDEX in c.query.get("i", [])]
    assert with_index  # it was asked for, and only ever beside an option
    assert all(len(c.query["i"]) >= 2 for c in with_index)
    per_second: dict[int, int] = {}
    for c in calls:
        per_second[int(c.at)] = per_second.get(int(c.at), 0) + 1
    assert max(per_second.values()) <= 1 and server.throttled == 0


def test_live_path_without_an_index_quote_accepts_at_once_with_null() -> None:
    server, engine, rows = start_rest_only(spots={})  # Kite answers no index quote
    try:
        submit_all(engine, ["NIFTY26D0124000CE"])
    finally:
        engine.shutdown(10.0)
        server.stop()
    (row,) = parent_rows(rows, "accepted").values()
    assert row["underlying_price"] is None
    assert parent_rows(rows, "finished")[row["parent_id"]]["underlying_price"] is None
    calls = server.requests_to("quote")
    before = [c for c in calls if c.at <= row["ts"]]
    assert len(before) == 1 and INDEX in before[0].query["i"]  # asked once, with the option
    assert row["ts"] - before[0].at < 0.5  # accepted on that answer: no second call awaited


def test_the_fake_kite_quotes_an_index_at_its_spot() -> None:
    now = [1_795_491_900.0]
    server = FakeKiteServer(spots={"NIFTY": 25_500.0}, clock=lambda: now[0]).start()
    try:
        kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2)
        quotes = KiteBroker(kite, ticker_root=None).quotes([INDEX, "NSE:NIFTY BANK"])
        assert quotes[INDEX].ltp == 25_500.0 and quotes[INDEX].bid is None
        assert "NSE:NIFTY BANK" not in quotes  # no spot: left out, as Kite leaves the unknown
        now[0] += 1.0  # one quote call a second
        assert kite.ltp([INDEX])[INDEX]["last_price"] == 25_500.0
        server.set_spot("NIFTY", 25_600.0)
        now[0] += 1.0
        assert kite.quote([INDEX])[INDEX]["last_price"] == 25_600.0
    finally:
        server.stop()

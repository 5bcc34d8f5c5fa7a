"""Taking and resting from what happened: the child's price against the far touch when it was
sent, not the router's intent (decided before the price was capped at the parent's limit)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tca_support import paper_journal, read_journal, write_rows

from imperium_exec.costs.shortfall import Fill, implementation_shortfall
from imperium_exec.events import Event, EventKind, QueuePriority, Status, read_event
from imperium_exec.events.liquidity import Liquidity, fill_liquidity
from imperium_exec.request import ExecutionAlgo, OrderType, Side, Urgency
from imperium_exec.tca.journal import LIQUIDITY
from imperium_exec.tca.query import TcaQuery
from imperium_exec.tca.sources import resolve_journals
from imperium_exec.widgets.tca_model import TcaBook

_TS = 1_795_491_900.0


def _capped_buy_that_rested(parent_id: str = "P000000001") -> list[dict[str, Any]]:
    """The issue's case: a BUY limit at 65.70 sent with the mid at 67.625 and the ask at
    67.70 (the router meant to take; the parent's limit capped the price), rested 2.7 s,
    then filled at its limit as the market fell; markouts at 1 and 5 s."""
    base: dict[str, Any] = dict(
        parent_id=parent_id, tradingsymbol="NIFTY26D0126000CE", exchange="NFO", side=Side.BUY,
        order_type=OrderType.LIMIT, execution_algo=ExecutionAlgo.IMMEDIATE,
        execution_urgency=Urgency.NORMAL, parent_quantity=65, arrival_price=67.625,
        route="memory")
    child: dict[str, Any] = dict(child_id=f"{parent_id}-1", child_index=1, quantity=65,
                                 attempt=1, limit_price=65.70, mid_at_send=67.625,
                                 touch_at_send=67.70, queue_priority=QueuePriority.TAKE)
    rows = [Event(**base, ts=_TS, event=EventKind.ACCEPTED, status=Status.WORKING,
                  quantity=65).to_row(),
            Event(**base, **child, ts=_TS + 0.1, event=EventKind.PLACED,
                  status=Status.PLACED, latency_ms=20.0).to_row(),
            Event(**base, **child, ts=_TS + 2.8, event=EventKind.FILLED, status=Status.FILLED,
                  filled_quantity=65, fill_price=65.70).to_row()]
    for horizon, mid in ((1.0, 65.0), (5.0, 64.0)):
        rows.append(Event(**base, **child, ts=_TS + 2.8 + horizon, event=EventKind.MARKOUT,
                          status=Status.FILLED, filled_quantity=65, fill_price=65.70,
                          markout_s=horizon, markout_mid=mid,
                          markout_bps=(65.70 - mid) / 65.70 * 1e4).to_row())
    return rows


def test_a_capped_buy_below_the_ask_that_rested_and_filled_counts_as_resting(
        tmp_path: Path) -> None:
    rows = _capped_buy_that_rested()
    journal = write_rows(tmp_path / "j.jsonl", rows)
    with TcaQuery(memory_limit="256MB", threads=1) as query:
        query.load(resolve_journals([journal]))
        (fill,) = query.con.execute(
            "SELECT liquidity, router_intent FROM fills").fetchall()
        points = {(p.horizon_s, p.liquidity): p for p in query.markouts()}
    assert fill == ("resting", "take")
    assert set(points) == {(1.0, "resting"), (5.0, "resting")}
    assert points[(5.0, "resting")].mean_bps == pytest.approx((65.70 - 64.0) / 65.70 * 1e4)

    book = TcaBook()
    book.add([read_event(r) for r in rows])
    today = book.today()
    assert today.markouts["resting"].fills(5.0) == 65
    assert today.markouts["taking"].fills(5.0) == 0


def test_a_resting_fill_crosses_no_spread_in_the_shortfall() -> None:
    """The −1.925 a unit the capped BUY's fill sits below its mid at send is the market
    falling while it rested: drift, not spread. The whole is the same either way."""
    fill = dict(units=65, price=65.70, mid_at_send=67.625)
    taking = implementation_shortfall(side=Side.BUY, ordered=65, decision_price=67.625,
                                      arrival_price=67.625, end_price=None, fills=[Fill(**fill)])
    resting = implementation_shortfall(side=Side.BUY, ordered=65, decision_price=67.625,
                                       arrival_price=67.625, end_price=None,
                                       fills=[Fill(**fill, resting=True)])
    assert taking is not None and resting is not None
    assert taking.spread == pytest.approx(65 * (65.70 - 67.625))
    assert resting.spread == 0.0
    assert resting.drift == pytest.approx(65 * (65.70 - 67.625))
    assert resting.total == pytest.approx(taking.total)


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_tca_sql_and_the_python_rule_tell_every_case_alike(side: Side) -> None:
    """Limits below, at and above the touch and the mid, a MARKET child, rows without the touch
    (older journals), without anything but the intent: one answer from both."""
    prices = (None, 99.0, 99.95, 100.0, 100.05, 101.0)
    cases = list(itertools.product(prices, (None, 100.05, 99.95), (None, 100.0),
                                   (None, "take", "join", "neutral")))
    con = duckdb.connect()
    for limit, touch, mid, intent in cases:
        python = fill_liquidity(side, limit, touch, mid, intent)
        (sql,) = con.execute(
            f"SELECT {LIQUIDITY} FROM (SELECT ?::VARCHAR AS side, ?::DOUBLE AS limit_price, "
            "?::DOUBLE AS touch_at_send, ?::DOUBLE AS mid_at_send, "
            "?::VARCHAR AS queue_priority)", [side.value, limit, touch, mid, intent]
        ).fetchone() or (None,)
        assert sql == (python.value if python is not None else None), \
            (limit, touch, mid, intent)
    # And the rule itself on the plain cases.
    s = 1 if side is Side.BUY else -1
    touch = 100.0 + s * 0.05
    assert fill_liquidity(side, touch, touch, 100.0, "join") is Liquidity.TAKING
    assert fill_liquidity(side, 100.0, touch, 100.0, "take") is Liquidity.RESTING
    assert fill_liquidity(side, None, touch, 100.0, "join") is Liquidity.TAKING  # MARKET
    assert fill_liquidity(side, 100.0 - s, None, 100.0, "take") is Liquidity.RESTING
    assert fill_liquidity(side, None, None, None, "take") is Liquidity.TAKING
    assert fill_liquidity(side, None, None, None, None) is None


def test_the_engine_records_the_far_touch_each_child_was_priced_against(
        tmp_path: Path) -> None:
    """Placed, filled and markout rows carry the ask (a BUY) or the bid (a SELL) the child was
    priced against, on the far side of its mid; a markout row the same as its fill's row."""
    rows = read_journal(paper_journal(tmp_path / "j.jsonl", parents=4))
    placed = [r for r in rows if r["event"] == "placed"]
    assert placed and all(r["touch_at_send"] is not None for r in placed)
    for r in placed:
        s = 1 if r["side"] == "BUY" else -1
        assert s * (r["touch_at_send"] - r["mid_at_send"]) > 0
    fills = {(r["child_id"], r["fill_price"]): r for r in rows if r["event"] == "filled"}
    markouts = [r for r in rows if r["event"] == "markout"]
    assert markouts
    for m in markouts:
        fill = fills[(m["child_id"], m["fill_price"])]
        assert (m["limit_price"], m["touch_at_send"]) == \
            (fill["limit_price"], fill["touch_at_send"])

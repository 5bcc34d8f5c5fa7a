"""Implementation shortfall and its parts: known answers, the identity, mirrored paths."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from imperium_exec.costs.shortfall import Fill, implementation_shortfall
from imperium_exec.request import Side


def test_a_known_buy_splits_into_delay_spread_drift_opportunity_and_fees() -> None:
    """Decided at 100, arrived at 101, two children priced from mids 101 and 102 fill 65
    each at +0.5 over their mid; 65 left unfilled with the mid at 104 at the end; Rs 30 of
    charges."""
    fills = [Fill(65, 101.5, 101.0), Fill(65, 102.5, 102.0)]
    sf = implementation_shortfall(side=Side.BUY, ordered=195, decision_price=100.0,
                                  arrival_price=101.0, end_price=104.0, fills=fills, fees=30.0)
    assert sf is not None
    assert sf.delay == pytest.approx(130 * 1.0)
    assert sf.spread == pytest.approx(130 * 0.5)
    assert sf.drift == pytest.approx(65 * 1.0)
    assert sf.opportunity == pytest.approx(65 * 4.0)
    assert sf.total == pytest.approx(130 + 65 + 65 + 260 + 30)
    assert sf.total_bps == pytest.approx(sf.total / (195 * 100.0) * 1e4)


def test_without_a_ticket_the_decision_is_the_arrival_and_without_a_mid_nothing_is_measured(
        ) -> None:
    sf = implementation_shortfall(side=Side.SELL, ordered=65, decision_price=None,
                                  arrival_price=50.0, end_price=None,
                                  fills=[Fill(65, 49.9, None)])
    assert sf is not None and sf.delay == 0.0 and sf.drift == 0.0
    assert sf.spread == pytest.approx(65 * 0.1)  # a sale below the mid is a cost
    assert implementation_shortfall(side=Side.BUY, ordered=65, decision_price=100.0,
                                    arrival_price=None, end_price=None, fills=[]) is None


prices = st.floats(1.0, 1000.0)
fills_strategy = st.lists(st.tuples(st.integers(1, 20), prices, prices), max_size=8)


@given(side=st.sampled_from([Side.BUY, Side.SELL]), extra=st.integers(0, 40),
       decision=prices, arrival=prices, end=prices, fills=fills_strategy,
       fees=st.floats(0, 500))
def test_the_parts_add_up_to_the_whole(side: Side, extra: int, decision: float,
                                       arrival: float, end: float,
                                       fills: list[tuple[int, float, float]],
                                       fees: float) -> None:
    lots = [Fill(n * 65, p, m) for n, p, m in fills]
    ordered = sum(f.units for f in lots) + extra * 65
    sf = implementation_shortfall(side=side, ordered=ordered or 65, decision_price=decision,
                                  arrival_price=arrival, end_price=end, fills=lots, fees=fees)
    assert sf is not None
    s = side.sign
    filled = sum(f.units for f in lots)
    whole = s * (sum(f.units * f.price for f in lots) - filled * decision) \
        + s * ((ordered or 65) - filled) * (end - decision) + fees
    assert sf.total == pytest.approx(whole, rel=1e-6, abs=1e-6)


@given(fills=fills_strategy, decision=prices, arrival=prices, end=prices,
       extra=st.integers(0, 10))
def test_a_mirrored_buy_and_sell_on_the_same_path_give_the_same_bps(
        fills: list[tuple[int, float, float]], decision: float, arrival: float, end: float,
        extra: int) -> None:
    """A sale on the buy's path mirrored about the decision price (every price p becomes
    2 P_d - p) costs the same, part by part and in bps."""
    def mirror(x: float) -> float:
        return 2 * decision - x

    assume(all(mirror(x) > 0 for x in (arrival, end, *(v for _, p, m in fills for v in (p, m)))))
    buys = [Fill(n * 65, p, m) for n, p, m in fills]
    sells = [Fill(n * 65, mirror(p), mirror(m)) for n, p, m in fills]
    ordered = sum(f.units for f in buys) + extra * 65 or 65
    buy = implementation_shortfall(side=Side.BUY, ordered=ordered, decision_price=decision,
                                   arrival_price=arrival, end_price=end, fills=buys)
    sell = implementation_shortfall(side=Side.SELL, ordered=ordered, decision_price=decision,
                                    arrival_price=mirror(arrival), end_price=mirror(end),
                                    fills=sells)
    assert buy is not None and sell is not None
    for part in ("delay", "spread", "drift", "opportunity", "total_bps"):
        assert getattr(sell, part) == pytest.approx(getattr(buy, part), rel=1e-9, abs=1e-6)

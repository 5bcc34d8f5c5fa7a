"""The SPAN-like margin with the hedge benefit (imperium_exec.costs.margin), shared by the paper
exchange and the fake Kite server: the figures of the classic option structures, and the rules
that must hold for every book (checked with hypothesis, the pairing against an exhaustive
search of all pairings)."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imperium_exec.costs.margin import (
    CALL,
    PUT,
    OptionLeg,
    basket_margin,
    book_margin,
    group_short_margin,
    naked_short_margin,
    short_margin,
)

EXPIRY = dt.date(2026, 12, 1)
SPOT = 26_000.0
SPOTS = {"NIFTY": SPOT, "BANKNIFTY": 59_000.0}
FRACTION = 0.12
LOT = 65
NAKED_LOT = FRACTION * SPOT * LOT  # 202,800 rupees a naked lot


def leg(kind: str, strike: float, quantity: int, premium: float = 0.0, *,
        underlying: str = "NIFTY", expiry: dt.date = EXPIRY) -> OptionLeg:
    return OptionLeg(underlying, expiry, kind, strike, quantity, premium)


def span(*legs: OptionLeg) -> float:
    return short_margin(legs, SPOTS, FRACTION)


# ---------------------------------------------------------------------------- structures


def test_a_naked_short_needs_the_fraction_of_the_underlying_notional_per_unit() -> None:
    assert naked_short_margin(LOT, SPOT, FRACTION) == pytest.approx(NAKED_LOT)
    assert span(leg(CALL, 26_500, -LOT)) == pytest.approx(NAKED_LOT)
    assert span(leg(PUT, 25_000, -3 * LOT)) == pytest.approx(3 * NAKED_LOT)
    assert book_margin([leg(CALL, 26_500, -LOT, premium=80.0)], SPOTS, FRACTION).total == \
        pytest.approx(NAKED_LOT)  # a sale's premium is not counted either way


def test_a_long_needs_its_premium_and_no_short_margin() -> None:
    margin = book_margin([leg(CALL, 26_000, 2 * LOT, premium=120.0)], SPOTS, FRACTION)
    assert (margin.premium, margin.span) == (pytest.approx(2 * LOT * 120.0), 0.0)


def test_debit_spreads_need_no_short_margin_their_loss_is_the_premium_they_pay() -> None:
    # Bull call spread: long the lower call; bear put spread: long the higher put. At expiry
    # neither can lose more than what was paid for it.
    bull_call = [leg(CALL, 26_000, LOT, premium=150.0), leg(CALL, 26_200, -LOT, premium=60.0)]
    bear_put = [leg(PUT, 26_000, LOT, premium=140.0), leg(PUT, 25_800, -LOT, premium=55.0)]
    for spread in (bull_call, bear_put):
        margin = book_margin(spread, SPOTS, FRACTION)
        assert margin.span == 0.0
        assert margin.total == pytest.approx(spread[0].premium * LOT)


def test_credit_spreads_need_their_strike_width_the_most_they_can_lose_at_expiry() -> None:
    bear_call = (leg(CALL, 26_200, -LOT), leg(CALL, 26_400, LOT))
    bull_put = (leg(PUT, 25_800, -LOT), leg(PUT, 25_500, LOT))
    assert span(*bear_call) == pytest.approx(200 * LOT)
    assert span(*bull_put) == pytest.approx(300 * LOT)


def test_an_iron_condor_needs_at_most_the_max_loss_of_its_two_spreads() -> None:
    condor = (leg(PUT, 25_500, 2 * LOT), leg(PUT, 25_700, -2 * LOT),
              leg(CALL, 26_300, -2 * LOT), leg(CALL, 26_600, 2 * LOT))
    assert span(*condor) == pytest.approx((200 + 300) * 2 * LOT)
    assert span(*condor) < 0.1 * span(*[x for x in condor if x.quantity < 0])


def test_adding_the_hedge_leg_to_a_naked_short_basket_lowers_what_it_requires() -> None:
    strangle = [leg(CALL, 26_300, -LOT), leg(PUT, 25_700, -LOT)]
    wings = [leg(CALL, 26_500, LOT, premium=20.0), leg(PUT, 25_500, LOT, premium=18.0)]
    naked = basket_margin(strangle, SPOTS, FRACTION)
    hedged = basket_margin([*wings, *strangle], SPOTS, FRACTION)
    assert naked.required == pytest.approx(2 * NAKED_LOT)
    assert hedged.required == pytest.approx((20.0 + 18.0) * LOT + 2 * 200 * LOT)
    assert hedged.required < naked.required
    assert hedged.without_hedge == pytest.approx(2 * NAKED_LOT + (20.0 + 18.0) * LOT)


def test_a_ratio_spreads_extra_short_is_naked() -> None:
    ratio = (leg(CALL, 26_000, LOT), leg(CALL, 26_200, -2 * LOT))
    assert span(*ratio) == pytest.approx(NAKED_LOT)  # one short covered free, one naked


def test_a_wing_wider_than_the_naked_figure_hedges_nothing() -> None:
    naked_points = FRACTION * SPOT  # 3,120 points
    assert span(leg(CALL, 26_000, -LOT), leg(CALL, 26_000 + naked_points + 50, LOT)) == \
        pytest.approx(NAKED_LOT)


def test_longs_hedge_only_their_own_underlying_expiry_and_type() -> None:
    short = leg(CALL, 26_200, -LOT)
    for other in (leg(PUT, 26_400, LOT), leg(CALL, 26_400, LOT, expiry=dt.date(2026, 12, 8)),
                  leg(CALL, 26_400, LOT, underlying="BANKNIFTY")):
        assert span(short, other) == pytest.approx(NAKED_LOT)


def test_each_short_takes_the_long_that_makes_the_group_cheapest() -> None:
    # The 26,100 short could take the 26,050 long for free, but then the 26,000 short would pay
    # 400 points against the 26,400 long; the cheapest pairing pays 50 + 300.
    book = (leg(CALL, 26_000, -LOT), leg(CALL, 26_050, LOT), leg(CALL, 26_100, -LOT),
            leg(CALL, 26_400, LOT))
    assert span(*book) == pytest.approx((50 + 300) * LOT)


def test_positions_held_hedge_a_basket_and_a_basket_may_free_margin() -> None:
    held = [leg(CALL, 26_300, -LOT)]
    wing = [leg(CALL, 26_500, LOT, premium=20.0)]
    margin = basket_margin(wing, SPOTS, FRACTION, held=held)
    assert margin.span == pytest.approx(200 * LOT - NAKED_LOT)  # the held short's margin falls
    assert margin.required == 0.0  # it frees more than its premium
    assert margin.without_hedge == pytest.approx(20.0 * LOT)
    more_shorts = [leg(CALL, 26_300, -LOT)]  # a second short beside the one held: naked
    assert basket_margin(more_shorts, SPOTS, FRACTION, held=held).required == \
        pytest.approx(NAKED_LOT)
    closing = [leg(CALL, 26_300, LOT, premium=40.0)]  # buys the held short back
    assert basket_margin(closing, SPOTS, FRACTION, held=held).required == 0.0


def test_a_short_needs_the_spot_of_its_underlying() -> None:
    with pytest.raises(KeyError, match="FINNIFTY"):
        short_margin([leg(CALL, 27_000, -60, underlying="FINNIFTY")], SPOTS, FRACTION)
    assert short_margin([leg(CALL, 27_000, 60, underlying="FINNIFTY")], SPOTS, FRACTION) == 0.0


def test_an_option_leg_is_a_call_or_a_put() -> None:
    with pytest.raises(ValueError, match="CE or PE"):
        leg("FUT", 26_000, LOT)


# ---------------------------------------------------------------------------- properties


STRIKES = st.integers(0, 12).map(lambda k: 25_700.0 + 50.0 * k)
GROUP_LEGS = st.lists(st.tuples(st.integers(0, 7).map(lambda k: 25_800.0 + 50.0 * k),
                                st.sampled_from([-2, -1, 1, 2])), min_size=1, max_size=7)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(kind=st.sampled_from([CALL, PUT]), raw=GROUP_LEGS,
       naked=st.sampled_from([0.0, 25.0, 120.0, 3_120.0]))
def test_the_pairing_is_the_cheapest_of_all_pairings(kind: str, raw: list[tuple[float, int]],
                                                     naked: float) -> None:
    longs: dict[float, int] = {}
    shorts: dict[float, int] = {}
    for strike, quantity in raw:
        side = longs if quantity > 0 else shorts
        side[strike] = side.get(strike, 0) + abs(quantity)
    sign = 1 if kind == CALL else -1
    flat_longs = [sign * k for k, n in longs.items() for _ in range(n)]
    flat_shorts = [sign * k for k, n in shorts.items() for _ in range(n)]

    @functools.cache
    def cheapest(i: int, used: int) -> float:
        if i == len(flat_shorts):
            return 0.0
        best = naked + cheapest(i + 1, used)
        for j, x in enumerate(flat_longs):
            if not used >> j & 1:
                best = min(best, min(naked, max(0.0, x - flat_shorts[i]))
                           + cheapest(i + 1, used | 1 << j))
        return best

    assert group_short_margin(longs, shorts, kind, naked) == pytest.approx(cheapest(0, 0))


BOOK_LEGS = st.lists(st.builds(
    leg, kind=st.sampled_from([CALL, PUT]), strike=STRIKES,
    quantity=st.integers(-4, 4).filter(bool).map(lambda n: n * LOT),
    premium=st.sampled_from([0.05, 12.0, 180.0]),
    expiry=st.sampled_from([EXPIRY, dt.date(2026, 12, 8)])), max_size=8)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(basket=BOOK_LEGS, held=BOOK_LEGS)
def test_the_hedge_never_costs_more_than_the_legs_alone_and_margin_is_never_negative(
        basket: list[OptionLeg], held: list[OptionLeg]) -> None:
    margin = basket_margin(basket, SPOTS, FRACTION, held=held)
    alone = basket_margin(basket, SPOTS, FRACTION)
    assert margin.required >= 0.0
    assert 0.0 <= alone.required <= alone.without_hedge + 1e-6
    assert span(*basket) <= sum(span(x) for x in basket) + 1e-6
    assert all(x.total >= 0.0 for x in margin.legs_alone)
    assert margin.without_hedge == pytest.approx(alone.without_hedge)
    assert basket_margin(basket[::-1], SPOTS, FRACTION, held=held).required == \
        pytest.approx(margin.required)  # the legs' order does not matter


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(book=BOOK_LEGS)
def test_the_covered_part_is_bounded_by_the_strike_width_times_the_units(
        book: list[OptionLeg]) -> None:
    for kind in (CALL, PUT):
        for expiry in {x.expiry for x in book}:
            group = [x for x in book if x.kind == kind and x.expiry == expiry]
            shorts = sum(-x.quantity for x in group if x.quantity < 0)
            longs = sum(x.quantity for x in group if x.quantity > 0)
            covered = min(shorts, longs)
            strikes = [x.strike for x in group] or [0.0]
            width = max(strikes) - min(strikes)
            bound = FRACTION * SPOT * (shorts - covered) + min(width, FRACTION * SPOT) * covered
            assert 0.0 <= span(*group) <= bound + 1e-6


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(book=BOOK_LEGS)
def test_calls_and_puts_mirror_each_other_about_the_spot(book: list[OptionLeg]) -> None:
    mirrored = [leg(PUT if x.kind == CALL else CALL, 2 * SPOT - x.strike, x.quantity,
                    x.premium, expiry=x.expiry) for x in book]
    assert span(*mirrored) == pytest.approx(span(*book))
    assert book_margin(mirrored, SPOTS, FRACTION).total == \
        pytest.approx(book_margin(book, SPOTS, FRACTION).total)

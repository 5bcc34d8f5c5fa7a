"""Option margin, SPAN-like, with the hedge benefit of spreads: one rule for the paper exchange
and the fake Kite server.

The figure for a book of option legs (units held, or about to be traded):

- Longs need their premium, paid once when bought (legs already held carry no premium: it was
  paid).
- Shorts need a SPAN-like margin, computed per **hedge group**: the legs of one underlying, one
  expiry and one option type (CE or PE). Groups never offset each other (NSE's SPAN gives some
  benefit across calls and puts, to a short strangle or an iron condor; this model does not).
- In a group, a short unit may be covered by one long unit. A covered short needs the
  spread's maximum loss at expiry: **nothing** when the long is at least as deep in the money as
  the short (a call struck at or below it, a put struck at or above it: a debit spread, whose
  loss is the premium already paid), else the **strike width** (a credit spread). Never more
  than the naked figure.
- A short unit left uncovered needs the **naked** figure: ``short_fraction x spot``.

Pairing: the longs cover the shorts that make the group's margin smallest. In call terms (a
put is the mirror image, its strikes negated), covering a higher short is never dearer than
covering a lower one, so shorts are taken greedily from the highest strike down, and each unit
is covered while its cost is below the naked figure. That cost is the width of every gap between
strikes above it that the longs below the gap cannot bridge (they are spoken for by the shorts
already covered), so it only grows as the sweep goes down. This greedy is exact: it is checked
against an exhaustive search of pairings in ``tests/core/test_margin.py``.

Pure and Qt-free: no I/O, no clock, no state.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: The option types, CE (call) and PE (put).
CALL, PUT = "CE", "PE"

HedgeGroup = tuple[str, dt.date, str]


@dataclass(frozen=True, slots=True)
class OptionLeg:
    """Units of one option contract: long (``quantity > 0``) or short (``quantity < 0``)."""

    underlying: str
    expiry: dt.date
    kind: str  # CE or PE
    strike: float
    quantity: int  # signed units
    #: Rupees a unit the leg pays if it is a buy (0 for a leg already held: it was paid).
    premium: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in (CALL, PUT):
            raise ValueError(f"kind: {self.kind!r} is not an option type (CE or PE)")

    @property
    def hedge_group(self) -> HedgeGroup:
        return (self.underlying, self.expiry, self.kind)


@dataclass(frozen=True, slots=True)
class BookMargin:
    """What a book of legs needs, in rupees."""

    premium: float  # the premium its longs pay
    span: float  # the SPAN-like margin of its shorts, with the hedge benefit

    @property
    def total(self) -> float:
        return self.premium + self.span


@dataclass(frozen=True, slots=True)
class BasketMargin:
    """What a basket adds to a book once all of it has filled (Kite's basket margins with
    ``consider_positions``), and what its legs would need one by one."""

    premium: float  # premium the basket's buys pay
    span: float  # change of the book's short margin (negative when the basket hedges it)
    legs_alone: tuple[BookMargin, ...]  # each leg margined alone, in the basket's order

    @property
    def required(self) -> float:
        """Margin the basket blocks: its premium plus the change of short margin, never
        below zero (a basket that closes or hedges shorts frees more than it needs)."""
        return max(0.0, self.premium + self.span)

    @property
    def without_hedge(self) -> float:
        """The legs one by one, without any hedge benefit."""
        return sum(leg.total for leg in self.legs_alone)


def naked_short_margin(units: int, spot: float, short_fraction: float) -> float:
    """Margin of ``units`` uncovered short option units: a fraction of the underlying notional."""
    return max(0, units) * spot * short_fraction


def premium_paid(legs: Iterable[OptionLeg]) -> float:
    """Premium the long legs pay (sales receive premium, but it is not counted towards
    margin)."""
    return float(sum(leg.quantity * leg.premium for leg in legs if leg.quantity > 0))


def short_margin(legs: Iterable[OptionLeg], spots: Mapping[str, float],
                 short_fraction: float) -> float:
    """The SPAN-like margin of the legs' shorts, hedge group by hedge group, with the benefit
    of the longs that cover them (see the module's docstring). ``spots`` maps each underlying
    with a short leg to its price."""
    longs: dict[HedgeGroup, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    shorts: dict[HedgeGroup, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    for leg in legs:
        if leg.quantity > 0:
            longs[leg.hedge_group][leg.strike] += leg.quantity
        elif leg.quantity < 0:
            shorts[leg.hedge_group][leg.strike] -= leg.quantity
    total = 0.0
    for group, short_units in shorts.items():
        underlying, _, kind = group
        if underlying not in spots:
            raise KeyError(f"no spot price for {underlying!r}")
        naked = naked_short_margin(1, spots[underlying], short_fraction)
        total += group_short_margin(longs.get(group, {}), short_units, kind, naked)
    return total


def group_short_margin(longs: Mapping[float, int], shorts: Mapping[float, int], kind: str,
                       naked_per_unit: float) -> float:
    """The short margin of one hedge group: long and short units by strike, each uncovered
    short unit at ``naked_per_unit``, each covered one at its spread's maximum loss."""
    # On a call's axis a long at x covers a short at y for max(0, x - y) a unit; a put is the
    # mirror image (strikes negated). Covering the highest shorts is never dearer than covering
    # lower ones, and the cost of covering k of them is the sum over the gaps between strikes of
    # the gap's width times the covered shorts below it that the longs below it cannot cover.
    sign = 1.0 if kind == CALL else -1.0
    long_at = {sign * k: n for k, n in longs.items() if n > 0}
    short_at = {sign * k: n for k, n in shorts.items() if n > 0}
    points = sorted(set(long_at) | set(short_at))
    widths = [high - low for low, high in itertools.pairwise(points)]
    # slack[i]: longs below gap i (between points i and i+1) not yet spoken for by the
    # covered shorts below it.
    slack = list(itertools.accumulate(long_at.get(x, 0) for x in points[:-1]))
    free_longs = sum(long_at.values())
    margin = 0.0
    naked_units = 0
    for index in range(len(points) - 1, -1, -1):
        units = short_at.get(points[index], 0)
        while units and free_longs:
            above = range(index, len(widths))
            unit_cost = sum(widths[i] for i in above if slack[i] <= 0)
            if unit_cost >= naked_per_unit:
                break
            step = min([units, free_longs, *(slack[i] for i in above if slack[i] > 0)])
            margin += unit_cost * step
            units -= step
            free_longs -= step
            for i in above:
                slack[i] -= step
        naked_units += units
    return margin + naked_per_unit * naked_units


def book_margin(legs: Sequence[OptionLeg], spots: Mapping[str, float],
                short_fraction: float) -> BookMargin:
    """Premium of the longs plus the hedged short margin of a book of legs."""
    return BookMargin(premium=premium_paid(legs),
                      span=short_margin(legs, spots, short_fraction))


def basket_margin(basket: Sequence[OptionLeg], spots: Mapping[str, float],
                  short_fraction: float, *, held: Sequence[OptionLeg] = ()) -> BasketMargin:
    """What ``basket`` adds to the margin of the positions ``held`` once all of it has filled:
    the premium of its buys and the change of the book's short margin (a short covered by a
    long already held, or by a long of the basket, needs only the spread's maximum loss)."""
    before = short_margin(held, spots, short_fraction)
    after = short_margin([*held, *basket], spots, short_fraction)
    return BasketMargin(premium=premium_paid(basket), span=after - before,
                        legs_alone=tuple(book_margin([leg], spots, short_fraction)
                                         for leg in basket))


__all__ = [
    "CALL",
    "PUT",
    "BasketMargin",
    "BookMargin",
    "HedgeGroup",
    "OptionLeg",
    "basket_margin",
    "book_margin",
    "group_short_margin",
    "naked_short_margin",
    "premium_paid",
    "short_margin",
]

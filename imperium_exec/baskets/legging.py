"""Legging rules for an option basket: which leg may send how much, and when. Pure, Qt-free.

A basket's legs fall into **hedge groups**: the same underlying, expiry and type (CE, PE or
FUT). Within a group, long units limit what short units can lose, so shorts are *covered* as
far as longs of their group have **filled** (not merely been acknowledged: NSE gives the hedge
benefit only once the long leg exists). Roles follow from the legs alone:

- **hedge**: a BUY in a group that also sells. It goes first. On entry it is the protective
  wing; on exit it is the short being bought back, which must go before the long it protects
  is sold.
- **covered**: a SELL in a group that also buys. Its units may be out (sent and able to fill)
  only as far as the group's hedges have filled; a ratio spread's extra short (more units sold
  than bought) goes only once every hedge of its group has filled.
- **outright**: a leg whose group has no other side (a straddle, a naked strangle).

The rule, for every group at every instant::

    sold(filled) + sold(open) <= bought(filled) + (extra if every hedge has filled else 0)

where *open* counts every unit sent and not yet known dead (working, in flight, reconciling,
or unknown), so that it holds whatever fills next, and *extra* is the group's final uncovered
short (``max(0, sold - bought)`` over the whole basket). Since buys never uncover anything,
the short units uncovered at any instant are at most what the finished basket leaves uncovered.

**Balance**: legs advance in proportion. A leg may put out its next child only if, with it, the
leg's filled-plus-open fraction stays within ``balance_slices`` of its own slices of the
*pace*, the smallest filled fraction among the legs. Two exceptions keep the basket moving: a
hedge leg may run further ahead when a covered leg of its group waits for more hedge fills than
are open (a 1x2 ratio needs two lots of hedge for each two-lot short child); and the slowest leg
with nothing open may always send (a catch-up child may be bigger than a slice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..request import Side


class LegRole(StrEnum):
    HEDGE = "hedge"
    COVERED = "covered"
    OUTRIGHT = "outright"


#: (underlying, expiry code, CE/PE/FUT): long units of a group cover its short units.
GroupKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class LegFacts:
    """What the rules need to know about one leg."""

    name: str  # e.g. the tradingsymbol, for messages
    side: Side
    quantity: int  # units
    group: GroupKey
    slice_quantity: int  # the leg's largest planned child, units (one slice)
    strike: float | None = None


@dataclass(frozen=True, slots=True)
class LegProgress:
    """One leg's units now: filled, open (sent and possibly still filling), those of the
    child it holds back (waiting for its turn; 0: none), and those of attempts whose outcome
    is unknown (not found in the order book, still watched for a late order: most likely
    never placed, but they may yet fill)."""

    filled: int = 0
    open: int = 0
    waiting: int = 0
    unknown: int = 0

    @property
    def committed(self) -> int:
        """Units that are or may be traded: what a short's cover must allow for."""
        return self.filled + self.open + self.unknown

    @property
    def paced(self) -> int:
        """Units that count for the legs' pace: filled and open, not the unknown (a leg whose
        attempt's outcome is unknown re-sends it; held for its own unknown units it would wait
        on itself, and a basket waiting for it would stall)."""
        return self.filled + self.open


#: How a held child's row begins (the basket's warning row), and how a hold for the hedge's
#: fills reads: the dock tells a leg's wait from them.
HELD_PREFIX = "held: "
WAITS_FOR_HEDGE = "waits for its hedge"
#: ... and how a hold reads when every hedge is bought but the sells already out (working, or
#: of unknown outcome) leave no room: it waits for one of them to end.
WAITS_FOR_OPEN_SELLS = "waits for open sells to end"


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a leg's child may not go out yet."""

    kind: str  # "hedge" or "balance"
    reason: str

    @property
    def message(self) -> str:
        """The held child's warning row."""
        return HELD_PREFIX + self.reason


@dataclass(frozen=True, slots=True)
class _Group:
    key: GroupKey
    buys: tuple[int, ...]
    sells: tuple[int, ...]
    bought: int  # units the basket buys in this group
    sold: int

    @property
    def extra_short(self) -> int:
        """Short units the finished basket leaves uncovered in this group."""
        return max(0, self.sold - self.bought)


class LeggingRules:
    """The sequencing and balancing rules of one basket (see the module's text)."""

    def __init__(self, legs: Sequence[LegFacts], *, hedge_first: bool = True,
                 balance_slices: float | None = 1.0) -> None:
        if not legs:
            raise ValueError("legs: a basket needs at least one leg")
        self.legs = tuple(legs)
        self.hedge_first = hedge_first
        self.balance_slices = balance_slices
        groups: dict[GroupKey, tuple[list[int], list[int]]] = {}
        for i, leg in enumerate(self.legs):
            buys, sells = groups.setdefault(leg.group, ([], []))
            (buys if leg.side is Side.BUY else sells).append(i)
        self.groups = {
            key: _Group(key, tuple(b), tuple(s), sum(self.legs[i].quantity for i in b),
                        sum(self.legs[i].quantity for i in s))
            for key, (b, s) in groups.items()}
        self.roles = tuple(self._role(leg) for leg in self.legs)

    def _role(self, leg: LegFacts) -> LegRole:
        group = self.groups[leg.group]
        if not (group.buys and group.sells):
            return LegRole.OUTRIGHT
        return LegRole.HEDGE if leg.side is Side.BUY else LegRole.COVERED

    # ------------------------------------------------------------------ the rules

    def hold(self, leg: int, units: int, progress: Sequence[LegProgress]) -> Hold | None:
        """Why leg ``leg`` may not put out a child of ``units`` now, or None: it may."""
        hedge = self._hedge_hold(leg, units, progress)
        return hedge if hedge is not None else self._balance_hold(leg, units, progress)

    def _hedge_hold(self, leg: int, units: int,
                    progress: Sequence[LegProgress]) -> Hold | None:
        if not self.hedge_first or self.roles[leg] is not LegRole.COVERED:
            return None
        group = self.groups[self.legs[leg].group]
        allowed = self.short_allowance(group.key, progress)
        out = sum(progress[i].committed for i in group.sells)
        if out + units <= allowed:
            return None
        bought = sum(progress[i].filled for i in group.buys)
        hedges = ", ".join(self.legs[i].name for i in group.buys)
        short = out + units - allowed
        if bought < group.bought:
            return Hold("hedge", f"{WAITS_FOR_HEDGE} ({hedges}) to fill: {bought} of "
                                 f"{group.bought} bought, {out} sold or out; selling {units} "
                                 f"more needs {short} more bought")
        # Every hedge is bought: what is out includes sells not yet ended (working, or an
        # attempt whose outcome is unknown and is still being looked for).
        return Hold("hedge", f"{WAITS_FOR_OPEN_SELLS}: {bought} bought ({hedges}), {out} sold "
                             f"or out, counting orders whose outcome is not known yet; "
                             f"selling {units} more now could leave {short} uncovered")

    def short_allowance(self, key: GroupKey, progress: Sequence[LegProgress]) -> int:
        """Short units the group may have sold or out now."""
        group = self.groups[key]
        bought = sum(progress[i].filled for i in group.buys)
        hedged = all(progress[i].filled >= self.legs[i].quantity for i in group.buys)
        return bought + (group.extra_short if hedged else 0)

    def hedge_wanted(self, key: GroupKey, progress: Sequence[LegProgress]) -> int:
        """Units the group's hedges must still put out (beyond those open) so that the next
        child of each covered leg (the one it holds back, else a slice) may go: as many as it
        would have out, or every hedge unit when it reaches into the extra short."""
        group = self.groups[key]
        bought = sum(progress[i].filled for i in group.buys)
        out = sum(progress[i].committed for i in group.sells)
        need = 0
        for i in group.sells:
            left = self.legs[i].quantity - progress[i].committed
            if left > 0:
                units = progress[i].waiting or min(left, self.legs[i].slice_quantity)
                need = max(need, min(out + units, group.bought) - bought)
        return max(0, need - sum(progress[i].open for i in group.buys))

    def _balance_hold(self, leg: int, units: int,
                      progress: Sequence[LegProgress]) -> Hold | None:
        if self.balance_slices is None or len(self.legs) == 1:
            return None
        facts, mine = self.legs[leg], progress[leg]
        pace = self.pace(progress)
        slack = self.balance_slices * facts.slice_quantity / facts.quantity
        if (mine.paced + units) / facts.quantity <= pace + slack + 1e-9:
            return None
        if mine.open == 0 and mine.filled / facts.quantity <= pace + 1e-9:
            return None  # the slowest leg catching up
        if self.roles[leg] is LegRole.HEDGE and self.hedge_wanted(facts.group, progress) > 0:
            return None  # a covered leg of its group waits for this hedge
        slowest = min(range(len(self.legs)),
                      key=lambda i: progress[i].filled / self.legs[i].quantity)
        return Hold("balance", f"{mine.paced + units} of {facts.quantity} would run more "
                               f"than {self.balance_slices:g} slice(s) ahead of "
                               f"{self.legs[slowest].name} ({pace:.0%} filled)")

    def pace(self, progress: Sequence[LegProgress]) -> float:
        """The smallest filled fraction among the legs."""
        return min(p.filled / leg.quantity for leg, p in zip(self.legs, progress, strict=True))

    # ------------------------------------------------------------------ checks and words

    def uncovered(self, filled: Sequence[int]) -> dict[GroupKey, int]:
        """Short units not covered by filled longs of their group, for filled units per leg
        (what the account is exposed to if nothing more fills)."""
        out: dict[GroupKey, int] = {}
        for key, group in self.groups.items():
            sold = sum(filled[i] for i in group.sells)
            bought = sum(filled[i] for i in group.buys)
            out[key] = max(0, sold - bought)
        return out

    def final_uncovered(self) -> dict[GroupKey, int]:
        return {key: group.extra_short for key, group in self.groups.items()}

    def sequence_text(self) -> list[str]:
        """The derived order and its reasons, one line per group, for the confirmation."""
        lines: list[str] = []
        for key, group in self.groups.items():
            name = f"{key[0]} {key[1]} {key[2]}"
            buys = ", ".join(self.legs[i].name for i in group.buys)
            sells = ", ".join(self.legs[i].name for i in group.sells)
            if not (group.buys and group.sells) or not self.hedge_first:
                what = "bought" if group.buys else "sold"
                legs = buys or sells
                suffix = "" if self.hedge_first else " (hedge-first off: legging risk)"
                lines.append(f"{name}: {legs} {what} alongside the other legs{suffix}")
                continue
            line = (f"{name}: BUY {buys} first; SELL {sells} only as far as it has filled "
                    f"(the short is never uncovered)")
            if group.extra_short:
                line += (f"; the {group.extra_short} units sold beyond the hedge go last, "
                         f"once it has filled in full")
            lines.append(line)
        return lines


__all__ = ["HELD_PREFIX", "WAITS_FOR_HEDGE", "WAITS_FOR_OPEN_SELLS", "GroupKey", "Hold",
           "LegFacts", "LegProgress", "LegRole", "LeggingRules"]

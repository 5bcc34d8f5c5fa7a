"""Indian F&O charges on option trades, as dated configuration (``resources/charges.json``).

What a fill of ``units`` at ``price`` costs besides the price itself, in rupees, on the date it
traded (IST), from the row in force that day:

- **brokerage**: flat per executed order (Zerodha: Rs 20 for options), charged once per
  order, with its first fill;
- **STT**: on the premium of a sale only;
- **exchange transaction charges**: on the premium, by exchange (NFO, BFO);
- **IPFT**: NSE's Investor Protection Fund Trust charge, per crore of premium, by exchange
  (contract notes fold it into the exchange charges; kept apart here so each has its source);
- **SEBI fee**: per crore of premium;
- **stamp duty**: on the premium of a purchase only;
- **GST**: on brokerage + exchange charges + IPFT + SEBI fee.

Brokers and contract notes round some of these per order or per day (STT to the rupee, for
one); these are the unrounded rates, so TCA sees what a trade costs in proportion to its size.
Rates change by circular and budget: a new row with its ``from`` date, never an edit in code.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ..request import Side

NonNegative = Annotated[float, Field(ge=0)]
CRORE = 1e7


class ChargeRates(BaseModel):
    """One dated row: the rates in force from ``from_`` until the next row's date."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: dt.date = Field(alias="from")
    stt_sell_pct: NonNegative  # % of premium, sales only
    exchange_pct: dict[str, NonNegative]  # % of premium, by exchange (NFO, BFO)
    #: Rupees per crore of premium, by exchange; an exchange not listed charges none.
    ipft_per_crore: dict[str, NonNegative] = Field(default_factory=dict)
    sebi_per_crore: NonNegative
    stamp_buy_pct: NonNegative  # % of premium, purchases only
    gst_pct: NonNegative  # % of brokerage + exchange charges + IPFT + SEBI fee
    brokerage_per_order: NonNegative
    source: str = ""


@dataclass(frozen=True, slots=True)
class Charges:
    """What one fill cost besides its price, in rupees."""

    brokerage: float = 0.0
    stt: float = 0.0
    exchange: float = 0.0
    ipft: float = 0.0
    sebi: float = 0.0
    stamp: float = 0.0
    gst: float = 0.0

    @property
    def total(self) -> float:
        return (self.brokerage + self.stt + self.exchange + self.ipft + self.sebi + self.stamp
                + self.gst)


class ChargeSchedule:
    """The dated rows, and the charges of a fill on a given day."""

    def __init__(self, rows: list[ChargeRates]) -> None:
        if not rows:
            raise ValueError("rows: a charge schedule needs at least one dated row")
        self.rows = sorted(rows, key=lambda r: r.from_)
        self._starts = [r.from_ for r in self.rows]

    @classmethod
    def load(cls, path: Path | None = None) -> ChargeSchedule:
        """The packaged schedule, or the one at ``path``."""
        if path is None:
            text = resources.files("imperium_exec.resources").joinpath("charges.json") \
                .read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return cls([ChargeRates.model_validate(row) for row in json.loads(text)["rows"]])

    def rates_on(self, day: dt.date) -> ChargeRates:
        """The row in force on ``day``; before the first row, the first row (said in its
        ``source``: the schedule does not go back further)."""
        at = bisect.bisect_right(self._starts, day) - 1
        return self.rows[max(0, at)]

    def fill(self, *, day: dt.date, exchange: str, side: Side, units: int, price: float,
             first_fill_of_order: bool) -> Charges:
        """The charges of one fill; brokerage only with the first fill of its order."""
        rates = self.rates_on(day)
        premium = units * price
        exchange_pct = rates.exchange_pct.get(exchange)
        if exchange_pct is None:
            raise ValueError(f"exchange: no transaction charges for {exchange!r} "
                             f"(known: {', '.join(sorted(rates.exchange_pct))})")
        brokerage = rates.brokerage_per_order if first_fill_of_order else 0.0
        exchange_charge = premium * exchange_pct / 100
        ipft = premium * rates.ipft_per_crore.get(exchange, 0.0) / CRORE
        sebi = premium * rates.sebi_per_crore / CRORE
        return Charges(
            brokerage=brokerage,
            stt=premium * rates.stt_sell_pct / 100 if side is Side.SELL else 0.0,
            exchange=exchange_charge,
            ipft=ipft,
            sebi=sebi,
            stamp=premium * rates.stamp_buy_pct / 100 if side is Side.BUY else 0.0,
            gst=(brokerage + exchange_charge + ipft + sebi) * rates.gst_pct / 100,
        )


@lru_cache(maxsize=1)
def default_charges() -> ChargeSchedule:
    """The packaged schedule, loaded once per process."""
    return ChargeSchedule.load()


__all__ = ["CRORE", "ChargeRates", "ChargeSchedule", "Charges", "default_charges"]

"""Expiry dates of the traded contracts, for the days-to-expiry breakdown.

A tradingsymbol's expiry code (:func:`imperium_exec.instruments.parse_contract`) is a date for
weekly contracts (``26D01``: 1 December 2026) and a month for monthly ones (``26DEC``: the
last expiry weekday of December, from the underlying's dated configuration). The weekday is
the configuration's current one: monthly contracts from before an exchange moved its expiry
day (NSE: Thursday to Tuesday, September 2025) come out on the wrong day of that week.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from ..instruments import (
    InstrumentMaster,
    UnknownInstrumentError,
    default_instrument_master,
    parse_contract,
)

_WEEKLY_MONTHS = {str(m): m for m in range(1, 10)} | {"O": 10, "N": 11, "D": 12}
_MONTHS = {calendar.month_abbr[m].upper(): m for m in range(1, 13)}


@dataclass(frozen=True, slots=True)
class ContractFacts:
    tradingsymbol: str
    underlying: str
    kind: str  # CE, PE or FUT
    strike: float | None
    expiry: dt.date | None


def contract_facts(tradingsymbol: str,
                   master: InstrumentMaster | None = None) -> ContractFacts | None:
    """What the symbol says, with its expiry date; None for a symbol that is no F&O
    contract of a configured underlying."""
    master = master or default_instrument_master()
    try:
        contract = parse_contract(tradingsymbol, master)
    except UnknownInstrumentError:
        return None
    return ContractFacts(tradingsymbol, contract.underlying, contract.kind, contract.strike,
                         expiry_date(contract.expiry, contract.underlying, master))


def expiry_date(code: str, underlying: str, master: InstrumentMaster) -> dt.date | None:
    """``26D01`` -> 2026-12-01; ``26DEC`` -> the last expiry weekday of December 2026."""
    try:
        year = 2000 + int(code[:2])
        rest = code[2:]
        if rest in _MONTHS:
            weekday = master.underlyings[underlying].expiry_weekday
            month = _MONTHS[rest]
            last = dt.date(year, month, calendar.monthrange(year, month)[1])
            return last - dt.timedelta(days=(last.weekday() - weekday) % 7)
        return dt.date(year, _WEEKLY_MONTHS[rest[0]], int(rest[1:]))
    except (KeyError, ValueError):
        return None


__all__ = ["ContractFacts", "contract_facts", "expiry_date"]

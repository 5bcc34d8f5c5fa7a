"""Instrument facts: lot size, tick size and freeze quantity, from dated exchange configuration.

Lot sizes and freeze quantities change on exchange circulars, so they live in
``resources/exchange_config.json`` as dated rows, never in code. A Kite instruments dump
(``instruments.csv``) can override lot and tick per tradingsymbol; the freeze quantity has no
API and always comes from the dated configuration.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .timeutil import IST, round_to_tick


class UnknownInstrumentError(LookupError):
    """The instrument master has no facts for this tradingsymbol."""


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """What the exchange requires of an order in one instrument."""

    tradingsymbol: str
    exchange: str
    underlying: str
    lot_size: int
    tick_size: float
    freeze_quantity: int

    @property
    def max_order_quantity(self) -> int:
        """Largest lot multiple not above the freeze quantity (NIFTY 1800 -> 1755 = 27 x 65)."""
        return max(self.lot_size, (self.freeze_quantity // self.lot_size) * self.lot_size)


@dataclass(frozen=True, slots=True)
class _Dated:
    start: dt.date
    value: int


@dataclass(frozen=True, slots=True)
class UnderlyingConfig:
    name: str
    exchange: str
    tick_size: float
    strike_step: int
    weekly_expiry: bool
    expiry_weekday: int  # Monday = 0
    lot_sizes: tuple[_Dated, ...]
    freeze_quantities: tuple[_Dated, ...]

    def lot_size_on(self, day: dt.date) -> int:
        return _value_on(self.lot_sizes, day, f"{self.name} lot_size")

    def freeze_quantity_on(self, day: dt.date) -> int:
        return _value_on(self.freeze_quantities, day, f"{self.name} freeze_quantity")

    def is_scheduled_expiry(self, day: dt.date) -> bool:
        """Whether ``day`` is one of the underlying's scheduled expiries: its expiry weekday
        (weekly), or the last such weekday of the month (monthly). Holiday shifts are not
        known here (a contract's own symbol says where its expiry moved:
        :func:`contract_expiry`)."""
        if day.weekday() != self.expiry_weekday:
            return False
        return self.weekly_expiry or (day + dt.timedelta(days=7)).month != day.month


_WEEKDAYS = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4}


def _value_on(rows: tuple[_Dated, ...], day: dt.date, what: str) -> int:
    applicable = [row for row in rows if row.start <= day]
    if not applicable:
        raise UnknownInstrumentError(f"no {what} configured on or before {day.isoformat()}")
    return applicable[-1].value


def _parse_underlying(name: str, raw: dict[str, Any]) -> UnderlyingConfig:
    def dated(key: str) -> tuple[_Dated, ...]:
        rows = [_Dated(dt.date.fromisoformat(r["from"]), int(r["value"])) for r in raw[key]]
        return tuple(sorted(rows, key=lambda r: r.start))

    return UnderlyingConfig(
        name=name,
        exchange=str(raw["exchange"]),
        tick_size=float(raw["tick_size"]),
        strike_step=int(raw["strike_step"]),
        weekly_expiry=bool(raw["expiry"]["weekly"]),
        expiry_weekday=_WEEKDAYS[raw["expiry"]["weekday"]],
        lot_sizes=dated("lot_size"),
        freeze_quantities=dated("freeze_quantity"),
    )


def load_exchange_config(path: Path | None = None) -> dict[str, UnderlyingConfig]:
    """Read the dated configuration (the packaged one unless ``path`` is given)."""
    if path is None:
        text = resources.files("imperium_exec.resources").joinpath("exchange_config.json")
        raw = json.loads(text.read_text(encoding="utf-8"))
    else:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: _parse_underlying(name, cfg) for name, cfg in raw["underlyings"].items()}


class InstrumentMaster:
    """Resolves a tradingsymbol to its lot size, tick size and freeze quantity on a date.

    Symbols are matched to an underlying by their longest known name prefix
    (``BANKNIFTY25DEC...`` is BANKNIFTY, ``NIFTY2612...`` is NIFTY). Rows loaded from a Kite
    instruments CSV take precedence for lot and tick.
    """

    def __init__(self, underlyings: dict[str, UnderlyingConfig] | None = None) -> None:
        self.underlyings = underlyings if underlyings is not None else load_exchange_config()
        self._by_length = sorted(self.underlyings, key=len, reverse=True)
        self._dump: dict[tuple[str, str], tuple[str, int, float]] = {}

    def load_kite_instruments_csv(self, text: str) -> int:
        """Load a Kite ``instruments`` CSV dump; returns the number of option/future rows kept."""
        kept = 0
        for row in csv.DictReader(io.StringIO(text)):
            if row.get("segment", "").endswith(("-OPT", "-FUT")):
                key = (row["exchange"], row["tradingsymbol"])
                lot, tick = int(float(row["lot_size"])), float(row["tick_size"])
                self._dump[key] = (row["name"], lot, tick)
                kept += 1
        return kept

    def underlying_of(self, tradingsymbol: str) -> str:
        for name in self._by_length:
            if tradingsymbol.upper().startswith(name):
                return name
        raise UnknownInstrumentError(
            f"tradingsymbol {tradingsymbol!r} matches no configured underlying "
            f"({', '.join(sorted(self.underlyings))})"
        )

    def resolve(self, tradingsymbol: str, exchange: str | None = None,
                on: dt.date | None = None) -> InstrumentSpec:
        day = on if on is not None else dt.datetime.now(IST).date()
        underlying = self.underlying_of(tradingsymbol)
        cfg = self.underlyings[underlying]
        exch = exchange or cfg.exchange
        lot, tick = cfg.lot_size_on(day), cfg.tick_size
        dumped = self._dump.get((exch, tradingsymbol))
        if dumped is not None:
            _, lot, tick = dumped
        return InstrumentSpec(
            tradingsymbol=tradingsymbol,
            exchange=exch,
            underlying=underlying,
            lot_size=lot,
            tick_size=tick,
            freeze_quantity=cfg.freeze_quantity_on(day),
        )


#: What follows the underlying's name in an F&O tradingsymbol: the expiry (``26D01`` weekly:
#: year, month 1-9/O/N/D, day; ``26DEC`` monthly), then ``FUT``, or a strike and CE/PE.
_CONTRACT = re.compile(r"^(?P<expiry>\d\d(?:[1-9OND]\d\d|[A-Z]{3}))"
                       r"(?:(?P<future>FUT)|(?P<strike>\d+(?:\.\d+)?)(?P<kind>CE|PE))$")


@dataclass(frozen=True, slots=True)
class ContractSymbol:
    """What an F&O tradingsymbol says: ``NIFTY26D0126000CE`` is NIFTY, expiry ``26D01``,
    strike 26000, a call."""

    underlying: str
    expiry: str  # the symbol's expiry code: equal codes, same expiry
    kind: str  # "CE", "PE" or "FUT"
    strike: float | None  # None for a future


def parse_contract(tradingsymbol: str, master: InstrumentMaster | None = None) -> ContractSymbol:
    """Read an option or future symbol; raises ``UnknownInstrumentError`` naming what does not
    fit (an unknown underlying, or no expiry/strike/type after it)."""
    master = master or default_instrument_master()
    symbol = tradingsymbol.upper()
    underlying = master.underlying_of(symbol)
    match = _CONTRACT.match(symbol[len(underlying):])
    if match is None:
        raise UnknownInstrumentError(
            f"tradingsymbol {tradingsymbol!r} is not an option or future of {underlying} "
            f"(expected e.g. {underlying}26D0126000CE or {underlying}26DECFUT)")
    strike = match["strike"]
    return ContractSymbol(underlying=underlying, expiry=match["expiry"],
                          kind="FUT" if match["future"] else match["kind"],
                          strike=float(strike) if strike is not None else None)


#: Underlying -> Kite's quote key of its index (the underlying price of its options).
INDEX_QUOTE_KEYS: dict[str, str] = {
    "NIFTY": "NSE:NIFTY 50",
    "BANKNIFTY": "NSE:NIFTY BANK",
    "FINNIFTY": "NSE:NIFTY FIN SERVICE",
    "MIDCPNIFTY": "NSE:NIFTY MID SELECT",
    "SENSEX": "BSE:SENSEX",
    "BANKEX": "BSE:BANKEX",
}


def underlying_index_key(tradingsymbol: str, master: InstrumentMaster | None = None, *,
                         index_keys: Mapping[str, str] = INDEX_QUOTE_KEYS) -> str | None:
    """The quote key of the index under an option (``NIFTY26D0126000CE`` ->
    ``"NSE:NIFTY 50"``, from ``index_keys``: a broker's own, Kite's by default); None for a
    future, or a symbol that is no option of a configured underlying with a known index."""
    try:
        contract = parse_contract(tradingsymbol, master)
    except UnknownInstrumentError:
        return None
    if contract.kind not in ("CE", "PE"):
        return None
    return index_keys.get(contract.underlying)


@lru_cache(maxsize=1)
def default_instrument_master() -> InstrumentMaster:
    """The packaged configuration, loaded once per process."""
    return InstrumentMaster()


#: The month character of a weekly expiry code (``26D01``: December).
_WEEKLY_MONTHS = {**{str(m): m for m in range(1, 10)}, "O": 10, "N": 11, "D": 12}
_MONTHS = {name: m for m, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}


def contract_expiry(contract: ContractSymbol, master: InstrumentMaster | None = None
                    ) -> dt.date | None:
    """The date a contract expires, from its symbol's expiry code: ``26D01`` is 1 Dec 2026; a
    monthly ``26DEC`` is the last expiry weekday of December 2026 in the underlying's dated
    configuration. None when the code does not read as a date."""
    code = contract.expiry
    year = 2000 + int(code[:2])
    try:
        if code[2:] in _MONTHS:
            cfg = (master or default_instrument_master()).underlyings[contract.underlying]
            last = dt.date(year + (_MONTHS[code[2:]] == 12), _MONTHS[code[2:]] % 12 + 1, 1) \
                - dt.timedelta(days=1)
            return last - dt.timedelta(days=(last.weekday() - cfg.expiry_weekday) % 7)
        return dt.date(year, _WEEKLY_MONTHS[code[2]], int(code[3:5]))
    except (KeyError, ValueError):
        return None


def is_expiry_day(tradingsymbol: str, day: dt.date, master: InstrumentMaster | None = None
                  ) -> bool:
    """Whether ``day`` is an expiry day for the underlying of ``tradingsymbol``: one of the
    underlying's scheduled expiries, or the day this contract itself expires. False for a
    symbol that does not read as a contract."""
    master = master or default_instrument_master()
    try:
        contract = parse_contract(tradingsymbol, master)
    except UnknownInstrumentError:
        return False
    if master.underlyings[contract.underlying].is_scheduled_expiry(day):
        return True
    return contract_expiry(contract, master) == day


def price_band(reference: float, tick: float, *, threshold: float = 50.0,
               absolute: float = 20.0, fraction: float = 0.40) -> tuple[float, float]:
    """NSE's limit price protection for index options around a reference price, as (lowest
    sell, highest buy) on the tick grid: at most ``threshold`` rupees, +/- ``absolute``;
    above, +/- ``fraction`` of the reference (BSE: 40 %, at least ₹20)."""
    if reference > threshold:
        low, high = reference * (1.0 - fraction), reference * (1.0 + fraction)
    else:
        low, high = reference - absolute, reference + absolute
    return max(tick, round_to_tick(low, tick, "up")), round_to_tick(high, tick, "down")

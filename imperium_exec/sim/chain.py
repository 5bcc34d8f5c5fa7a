"""The instruments the paper exchange lists: index option chains with Kite's tradingsymbols.

Lot sizes and freeze quantities come from the dated exchange configuration for the session's
date, expiry weekdays too (NIFTY weekly on Tuesday, SENSEX weekly on Thursday, BANKNIFTY monthly
only). Tradingsymbols follow Kite's rule: the month's last expiry is a monthly
(``NIFTY26NOV26000CE``), others are weeklies (``NIFTY26D0126000CE``, month as 1-9/O/N/D). The
chain can be written to, and read from, a Kite instruments CSV with the same columns.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from ..instruments import UnderlyingConfig, UnknownInstrumentError
from .config import UnderlyingMarket

KITE_CSV_COLUMNS = ("instrument_token", "exchange_token", "tradingsymbol", "name", "last_price",
                    "expiry", "strike", "tick_size", "lot_size", "instrument_type", "segment",
                    "exchange")

#: Underlying -> (exchange, Kite tradingsymbol of the index, Kite instrument token).
INDEX_SYMBOLS: dict[str, tuple[str, str, int]] = {
    "NIFTY": ("NSE", "NIFTY 50", 256265),
    "BANKNIFTY": ("NSE", "NIFTY BANK", 260105),
    "FINNIFTY": ("NSE", "NIFTY FIN SERVICE", 257801),
    "MIDCPNIFTY": ("NSE", "NIFTY MID SELECT", 288009),
    "SENSEX": ("BSE", "SENSEX", 265),
}
_EXCHANGE_CODES = {"NSE": 1, "NFO": 2, "BSE": 4, "BFO": 5}
_WEEKLY_MONTH = "123456789OND"


@dataclass(frozen=True, slots=True)
class Instrument:
    """One listed contract (an option) or an index, as a Kite instruments row describes it."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str  # the underlying, e.g. NIFTY
    exchange: str  # NFO, BFO, or NSE/BSE for an index
    segment: str  # NFO-OPT, BFO-OPT or INDICES
    instrument_type: str  # CE, PE, or EQ for an index
    expiry: dt.date | None
    strike: float
    lot_size: int
    tick_size: float
    freeze_quantity: int
    last_price: float = 0.0

    @property
    def is_option(self) -> bool:
        return self.instrument_type in ("CE", "PE")

    @property
    def is_call(self) -> bool:
        return self.instrument_type == "CE"

    @property
    def stream_key(self) -> int:
        """Stable id for this contract's random streams: its path never depends on listing order."""
        return zlib.crc32(f"{self.exchange}:{self.tradingsymbol}".encode())


def expiries_from(cfg: UnderlyingConfig, on: dt.date, count: int) -> list[dt.date]:
    """The next ``count`` expiries on or after ``on`` (weekly or last-weekday-of-month)."""
    if cfg.weekly_expiry:
        first = on + dt.timedelta(days=(cfg.expiry_weekday - on.weekday()) % 7)
        return [first + dt.timedelta(weeks=i) for i in range(count)]
    out: list[dt.date] = []
    year, month = on.year, on.month
    while len(out) < count:
        day = last_weekday_of_month(year, month, cfg.expiry_weekday)
        if day >= on:
            out.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def last_weekday_of_month(year: int, month: int, weekday: int) -> dt.date:
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def is_monthly_expiry(day: dt.date) -> bool:
    """Kite's rule: the last expiry of the month uses the monthly symbol form."""
    return (day + dt.timedelta(days=7)).month != day.month


def option_tradingsymbol(name: str, expiry: dt.date, strike: float, kind: str) -> str:
    """``NIFTY26NOV26000CE`` (monthly) or ``NIFTY26D0126000CE`` (weekly)."""
    strike_text = str(int(strike)) if float(strike).is_integer() else f"{strike:g}"
    yy = expiry.strftime("%y")
    if is_monthly_expiry(expiry):
        return f"{name}{yy}{expiry.strftime('%b').upper()}{strike_text}{kind}"
    return f"{name}{yy}{_WEEKLY_MONTH[expiry.month - 1]}{expiry.day:02d}{strike_text}{kind}"


class Chain:
    """Every instrument the exchange lists, by tradingsymbol and by underlying and expiry."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._by_symbol: dict[str, Instrument] = {}
        self._by_key: dict[tuple[str, str], Instrument] = {}
        self._indices: dict[str, Instrument] = {}
        for inst in instruments:
            self._by_symbol.setdefault(inst.tradingsymbol, inst)
            self._by_key[(inst.exchange, inst.tradingsymbol)] = inst
            if not inst.is_option:
                self._indices[inst.name] = inst

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_key.values())

    def all(self) -> list[Instrument]:
        return list(self._by_key.values())

    def get(self, tradingsymbol: str, exchange: str | None = None) -> Instrument | None:
        symbol = tradingsymbol.strip()
        if exchange is not None:
            return self._by_key.get((exchange.strip().upper(), symbol))
        return self._by_symbol.get(symbol)

    def underlyings(self) -> list[str]:
        return list(self._indices)

    def index(self, underlying: str) -> Instrument:
        try:
            return self._indices[underlying]
        except KeyError:
            raise UnknownInstrumentError(f"no index listed for {underlying!r}") from None

    def options(self, underlying: str, expiry: dt.date | None = None) -> list[Instrument]:
        rows = [i for i in self._by_key.values() if i.is_option and i.name == underlying
                and (expiry is None or i.expiry == expiry)]
        return sorted(rows, key=lambda i: (i.expiry or dt.date.min, i.strike, i.instrument_type))

    def expiries(self, underlying: str) -> list[dt.date]:
        return sorted({i.expiry for i in self.options(underlying) if i.expiry is not None})

    def to_kite_csv(self) -> str:
        """The chain as a Kite ``instruments`` CSV dump (same columns, same value formats)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(KITE_CSV_COLUMNS)
        for i in self._by_key.values():
            writer.writerow([
                i.instrument_token, i.exchange_token, i.tradingsymbol, i.name,
                f"{i.last_price:g}" if not i.is_option else "0.0",
                i.expiry.isoformat() if i.expiry else "", f"{i.strike:.1f}", f"{i.tick_size:g}",
                i.lot_size, i.instrument_type, i.segment, i.exchange,
            ])
        return out.getvalue()

    @classmethod
    def from_kite_csv(cls, text: str, configs: Mapping[str, UnderlyingConfig],
                      on: dt.date) -> Chain:
        """Read a Kite instruments CSV: index options of configured underlyings, and indices.

        Lot and tick come from the dump; the freeze quantity (which has no API) comes from the
        dated configuration for ``on``. Other rows (equities, futures) are skipped.
        """
        index_names = {sym: name for name, (_, sym, _) in INDEX_SYMBOLS.items()}
        rows: list[Instrument] = []
        for row in csv.DictReader(io.StringIO(text)):
            segment = row["segment"]
            if segment.endswith("-OPT") and row["name"] in configs:
                name = row["name"]
                expiry = dt.date.fromisoformat(row["expiry"])
            elif segment == "INDICES" and row["tradingsymbol"] in index_names:
                name = index_names[row["tradingsymbol"]]
                expiry = None
            else:
                continue
            if name not in configs:
                continue
            cfg = configs[name]
            rows.append(Instrument(
                instrument_token=int(row["instrument_token"]),
                exchange_token=int(row["exchange_token"]),
                tradingsymbol=row["tradingsymbol"], name=name, exchange=row["exchange"],
                segment=segment, instrument_type=row["instrument_type"], expiry=expiry,
                strike=float(row["strike"] or 0.0), lot_size=int(float(row["lot_size"])),
                tick_size=float(row["tick_size"]),
                freeze_quantity=cfg.freeze_quantity_on(on) if expiry is not None else 0,
                last_price=float(row["last_price"] or 0.0),
            ))
        return cls(rows)


def build_chain(markets: Mapping[str, UnderlyingMarket], configs: Mapping[str, UnderlyingConfig],
                on: dt.date, first_expiry: dt.date | None = None) -> Chain:
    """List each underlying's index and its option chain around its spot, for date ``on``.

    Lot and freeze quantities are those in force on ``on``; expiries start at ``first_expiry``
    (default ``on``).
    """
    rows: list[Instrument] = []
    next_token = {code: 10_000 for code in _EXCHANGE_CODES}
    for name, market in markets.items():
        if name not in configs:
            raise UnknownInstrumentError(f"{name!r} has no entry in the exchange configuration")
        if name not in INDEX_SYMBOLS:
            raise UnknownInstrumentError(f"{name!r} has no known index tradingsymbol")
        cfg = configs[name]
        index_exchange, index_symbol, index_token = INDEX_SYMBOLS[name]
        rows.append(Instrument(
            instrument_token=index_token, exchange_token=index_token // 256,
            tradingsymbol=index_symbol, name=name, exchange=index_exchange, segment="INDICES",
            instrument_type="EQ", expiry=None, strike=0.0, lot_size=1, tick_size=cfg.tick_size,
            freeze_quantity=0, last_price=market.spot,
        ))
        atm = round(market.spot / cfg.strike_step) * cfg.strike_step
        strikes = [atm + k * cfg.strike_step
                   for k in range(-market.strikes_each_side, market.strikes_each_side + 1)]
        lot, freeze = cfg.lot_size_on(on), cfg.freeze_quantity_on(on)
        for expiry in expiries_from(cfg, first_expiry or on, market.expiries):
            for strike in strikes:
                for kind in ("CE", "PE"):
                    code = _EXCHANGE_CODES[cfg.exchange]
                    exchange_token = next_token[cfg.exchange]
                    next_token[cfg.exchange] += 1
                    rows.append(Instrument(
                        instrument_token=exchange_token * 256 + code,
                        exchange_token=exchange_token,
                        tradingsymbol=option_tradingsymbol(name, expiry, strike, kind),
                        name=name, exchange=cfg.exchange, segment=f"{cfg.exchange}-OPT",
                        instrument_type=kind, expiry=expiry, strike=float(strike),
                        lot_size=lot, tick_size=cfg.tick_size, freeze_quantity=freeze,
                    ))
    return Chain(rows)

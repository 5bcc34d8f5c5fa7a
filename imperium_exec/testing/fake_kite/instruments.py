"""The fake's instruments: :class:`FakeInstrument` rows, the default chain and their spots."""

from __future__ import annotations

from dataclasses import dataclass

#: Where the default instruments' underlyings stand (their strikes are at the money).
DEFAULT_SPOTS: dict[str, float] = {"NIFTY": 25_000.0, "BANKNIFTY": 56_000.0, "SENSEX": 85_000.0}


@dataclass(frozen=True, slots=True)
class FakeInstrument:
    """One row of the instruments dump, plus the freeze quantity Kite has no API for."""

    tradingsymbol: str
    exchange: str
    name: str
    instrument_token: int
    lot_size: int
    freeze_quantity: int
    tick_size: float = 0.05
    strike: float = 0.0
    expiry: str = ""  # YYYY-MM-DD
    instrument_type: str = "CE"

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def segment(self) -> str:
        kind = "OPT" if self.instrument_type in ("CE", "PE") else "FUT"
        return f"{self.exchange}-{kind}"

    @property
    def max_order_quantity(self) -> int:
        """Largest lot multiple not above the freeze quantity (NIFTY 1800 -> 1755)."""
        return max(self.lot_size, self.freeze_quantity // self.lot_size * self.lot_size)


#: A small Dec-2026 chain: NIFTY weekly, BANKNIFTY monthly, SENSEX weekly (BFO).
DEFAULT_INSTRUMENTS: tuple[FakeInstrument, ...] = (
    FakeInstrument("NIFTY26D0125000CE", "NFO", "NIFTY", 12_501_762, 65, 1800, 0.05, 25000.0,
                   "2026-12-01", "CE"),
    FakeInstrument("NIFTY26D0125000PE", "NFO", "NIFTY", 12_502_018, 65, 1800, 0.05, 25000.0,
                   "2026-12-01", "PE"),
    FakeInstrument("BANKNIFTY26DEC56000CE", "NFO", "BANKNIFTY", 12_610_050, 30, 600, 0.05,
                   56000.0, "2026-12-29", "CE"),
    FakeInstrument("SENSEX26D0385000CE", "BFO", "SENSEX", 284_001_797, 20, 1000, 0.05, 85000.0,
                   "2026-12-03", "CE"),
)


def nifty_strip(count: int, *, first_strike: int = 24_000, step: int = 50,
                expiry: str = "2026-12-01") -> tuple[FakeInstrument, ...]:
    """``count`` NIFTY weekly options (calls, then puts once the calls run out of room): many
    distinct instruments, for load tests against Kite's limits. Tokens end in NFO's segment."""
    out = []
    for i in range(count):
        kind = "CE" if i % 2 == 0 else "PE"
        strike = first_strike + step * (i // 2)
        code = expiry[2:4] + "D" + expiry[8:10]  # 2026-12-01 -> 26D01 (weekly form)
        out.append(FakeInstrument(f"NIFTY{code}{strike}{kind}", "NFO", "NIFTY",
                                  (200_000 + i) * 256 + 2, 65, 1800, 0.05, float(strike),
                                  expiry, kind))
    return tuple(out)

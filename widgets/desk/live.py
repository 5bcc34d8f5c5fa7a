"""Live mode: the option chain from Kite Connect, for a desk whose stack runs on KiteBroker.

Only used with explicit credentials (``imperium-exec demo --mode live``). The chain is built from
the NFO instrument dump (loaded once) and one ``quote`` call for the strikes around the money;
like every broker call it runs on the chain poller's worker thread.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ...brokers.base import Quote
from ...brokers.kite import KiteBroker
from ...timeutil import IST

#: Underlying -> (Kite quote key of the index, options exchange).
INDEX_QUOTE_KEYS = {"NIFTY": ("NSE:NIFTY 50", "NFO"), "BANKNIFTY": ("NSE:NIFTY BANK", "NFO"),
                    "SENSEX": ("BSE:SENSEX", "BFO")}


@dataclass(frozen=True, slots=True)
class LiveChainRow:
    strike: float
    call: Quote
    put: Quote


@dataclass(frozen=True, slots=True)
class LiveChainView:
    underlying: str
    expiry: dt.date
    spot: float
    atm_strike: float
    rows: tuple[LiveChainRow, ...]


@dataclass(frozen=True, slots=True)
class OptionLot:
    lot_size: int
    is_option: bool = True


class KiteChain:
    """``option_chain`` / ``instruments`` for the desk, on a ``KiteConnect`` client."""

    def __init__(self, kite: Any) -> None:
        self.kite = kite
        self._options: dict[str, list[dict[str, Any]]] = {}

    def _load(self, underlying: str) -> list[dict[str, Any]]:
        if underlying not in self._options:
            exchange = INDEX_QUOTE_KEYS[underlying][1]
            today = dt.datetime.now(IST).date()
            self._options[underlying] = [
                i for i in self.kite.instruments(exchange)
                if i.get("name") == underlying and i.get("instrument_type") in ("CE", "PE")
                and isinstance(i.get("expiry"), dt.date) and i["expiry"] >= today]
        return self._options[underlying]

    def instruments(self, underlying: str) -> list[OptionLot]:
        """Enough of the instrument list for the desk: the options' lot size."""
        return [OptionLot(int(i["lot_size"])) for i in self._load(underlying)[:1]]

    def option_chain(self, underlying: str = "NIFTY",
                     strikes_each_side: int = 10) -> LiveChainView:
        options = self._load(underlying)
        if not options:
            raise ValueError(f"no {underlying} options in the instrument dump")
        expiry = min(i["expiry"] for i in options)
        by_strike: dict[float, dict[str, dict[str, Any]]] = {}
        for i in options:
            if i["expiry"] == expiry:
                by_strike.setdefault(float(i["strike"]), {})[i["instrument_type"]] = i
        index_key, exchange = INDEX_QUOTE_KEYS[underlying]
        spot = float(self.kite.quote([index_key])[index_key]["last_price"])
        strikes = sorted(s for s, pair in by_strike.items() if len(pair) == 2)
        atm = min(strikes, key=lambda s: abs(s - spot))
        centre = strikes.index(atm)
        chosen = strikes[max(0, centre - strikes_each_side):centre + strikes_each_side + 1]
        keys = [f"{exchange}:{by_strike[s][t]['tradingsymbol']}" for s in chosen
                for t in ("CE", "PE")]
        raw = self.kite.quote(keys)
        rows = []
        for s in chosen:
            quotes = {}
            for t in ("CE", "PE"):
                symbol = by_strike[s][t]["tradingsymbol"]
                quotes[t] = KiteBroker.to_quote(symbol, raw.get(f"{exchange}:{symbol}", {}))
            rows.append(LiveChainRow(s, quotes["CE"], quotes["PE"]))
        return LiveChainView(underlying, expiry, spot, atm, tuple(rows))

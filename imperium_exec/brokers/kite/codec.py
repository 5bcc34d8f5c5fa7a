"""Kite's ticker wire format: the binary frames, the text messages, and the protocol's limits.

A binary frame (reference ``kite-connect.md`` §9) is a big-endian uint16 packet count, then per
packet a uint16 length and the packet. Packets of 8 (ltp), 28/32 (index quote/full), 44 (quote)
and 184 bytes (full, 5+5 depth levels) become :class:`Tick`; other lengths are skipped. The
layouts below are the single definition of the format: the fake server's encoder
(``imperium_exec.testing.fake_ticker``) packs with them. Timestamps stay epoch seconds
(kiteconnect turns them into naive host-local datetimes). Prices are read as signed int32 and
quantities as unsigned (kiteconnect reads everything unsigned; the two agree on every
non-negative price). Text frames are JSON with a ``type`` (order updates, errors, messages).
Pure Python; no I/O.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from typing import Any, Final

from ..base import DepthLevel

log = logging.getLogger(__name__)

#: Streaming modes, least to most data.
MODES: Final = ("ltp", "quote", "full")
#: Kite's limits (reference §9): instruments per connection, connections per API key.
MAX_TOKENS_PER_CONNECTION: Final = 3_000
MAX_CONNECTIONS_PER_API_KEY: Final = 3

# Segment codes in the low byte of an instrument token (kiteconnect's EXCHANGE_MAP).
SEGMENT_CDS: Final = 3
SEGMENT_BCD: Final = 6
SEGMENT_INDICES: Final = 9
SEGMENT_NCO: Final = 12

# ---------------------------------------------------------------------------- binary layouts
# Shared with the fake server's encoder: one definition of the wire format.

#: Frame header and per-packet length prefix.
FRAME_COUNT: Final = struct.Struct(">H")
#: ltp (8): token, last_price.
LTP_LAYOUT: Final = struct.Struct(">Ii")
#: Index quote (28): token, last_price, high, low, open, close, change (price units; unused).
INDEX_QUOTE_LAYOUT: Final = struct.Struct(">Iiiiiii")
#: Index full (32): the index quote, then exchange_timestamp.
INDEX_FULL_LAYOUT: Final = struct.Struct(">IiiiiiiI")
#: quote (44): token, last_price, last_quantity, average_price, volume, buy_quantity,
#: sell_quantity, open, high, low, close.
QUOTE_LAYOUT: Final = struct.Struct(">IiIiIIIiiii")
#: Head of a full packet (64): the quote, then last_trade_time, oi, oi_day_high, oi_day_low,
#: exchange_timestamp.
FULL_HEAD_LAYOUT: Final = struct.Struct(">IiIiIIIiiiiIIIII")
#: One depth level (12): quantity, price, orders, 2 padding bytes. Five buy, then five sell.
DEPTH_LEVEL_LAYOUT: Final = struct.Struct(">IiH2x")
DEPTH_LEVELS: Final = 5
FULL_PACKET_SIZE: Final = FULL_HEAD_LAYOUT.size + 2 * DEPTH_LEVELS * DEPTH_LEVEL_LAYOUT.size

assert LTP_LAYOUT.size == 8 and INDEX_QUOTE_LAYOUT.size == 28 and INDEX_FULL_LAYOUT.size == 32
assert QUOTE_LAYOUT.size == 44 and FULL_HEAD_LAYOUT.size == 64 and FULL_PACKET_SIZE == 184


def segment_of(instrument_token: int) -> int:
    """The exchange segment code Kite keeps in a token's low byte."""
    return instrument_token & 0xFF


def price_divisor(instrument_token: int) -> float:
    """What a packet's integer prices are divided by: paise (100) except currency segments
    (CDS 1e7; BCD and NCO 1e4), as kiteconnect does."""
    segment = segment_of(instrument_token)
    if segment == SEGMENT_CDS:
        return 10_000_000.0
    if segment in (SEGMENT_BCD, SEGMENT_NCO):
        return 10_000.0
    return 100.0


# ---------------------------------------------------------------------------- ticks


# A depth level is the engine's own (brokers.base.DepthLevel); an empty level is all zeros,
# as Kite sends it.


@dataclass(frozen=True, slots=True)
class Tick:
    """One instrument's packet. Fields a mode does not carry are None (depth: empty).

    ``last_trade_time`` and ``exchange_timestamp`` are epoch seconds (None when the packet
    carries 0, i.e. no trade yet). ``buy_quantity`` / ``sell_quantity`` are the total pending
    quantities on each side.
    """

    instrument_token: int
    mode: str
    tradable: bool
    last_price: float
    last_quantity: int | None = None
    average_price: float | None = None
    volume: int | None = None
    buy_quantity: int | None = None
    sell_quantity: int | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    last_trade_time: float | None = None
    oi: int | None = None
    exchange_timestamp: float | None = None
    depth_buy: tuple[DepthLevel, ...] = ()
    depth_sell: tuple[DepthLevel, ...] = ()

    @property
    def bid(self) -> float | None:
        """Best bid price (full mode), None when the level is empty."""
        return _touch_price(self.depth_buy)

    @property
    def ask(self) -> float | None:
        """Best ask price (full mode), None when the level is empty."""
        return _touch_price(self.depth_sell)

    @property
    def bid_quantity(self) -> int:
        """Quantity at the best bid, 0 when the level is empty."""
        return _touch_quantity(self.depth_buy)

    @property
    def ask_quantity(self) -> int:
        """Quantity at the best ask, 0 when the level is empty."""
        return _touch_quantity(self.depth_sell)


def _touch_price(levels: tuple[DepthLevel, ...]) -> float | None:
    if not levels or levels[0].price == 0 or levels[0].quantity == 0:
        return None
    return levels[0].price


def _touch_quantity(levels: tuple[DepthLevel, ...]) -> int:
    if not levels or levels[0].price == 0 or levels[0].quantity == 0:
        return 0
    return levels[0].quantity


def _epoch(seconds: int) -> float | None:
    return float(seconds) if seconds > 0 else None


def parse_packet(packet: bytes) -> Tick | None:
    """One packet to a :class:`Tick`; None for a length Kite's format does not define."""
    size = len(packet)
    if size < LTP_LAYOUT.size:
        return None
    token = int.from_bytes(packet[:4], "big")
    div = price_divisor(token)
    tradable = segment_of(token) != SEGMENT_INDICES
    if size == LTP_LAYOUT.size:
        _, ltp = LTP_LAYOUT.unpack(packet)
        return Tick(token, "ltp", tradable, ltp / div)
    if size in (INDEX_QUOTE_LAYOUT.size, INDEX_FULL_LAYOUT.size):
        _, ltp, high, low, open_, close, _change = INDEX_QUOTE_LAYOUT.unpack_from(packet)
        stamp = None
        if size == INDEX_FULL_LAYOUT.size:
            stamp = _epoch(INDEX_FULL_LAYOUT.unpack(packet)[-1])
        mode = "full" if size == INDEX_FULL_LAYOUT.size else "quote"
        return Tick(token, mode, tradable, ltp / div, open=open_ / div, high=high / div,
                    low=low / div, close=close / div, exchange_timestamp=stamp)
    if size in (QUOTE_LAYOUT.size, FULL_PACKET_SIZE):
        full = size == FULL_PACKET_SIZE
        fields = (FULL_HEAD_LAYOUT if full else QUOTE_LAYOUT).unpack_from(packet)
        _, ltp, ltq, atp, volume, buy_qty, sell_qty, open_, high, low, close = fields[:11]
        levels = tuple(
            DepthLevel(price / div, quantity, orders)
            for quantity, price, orders in DEPTH_LEVEL_LAYOUT.iter_unpack(
                packet[FULL_HEAD_LAYOUT.size:])) if full else ()
        return Tick(token, "full" if full else "quote", tradable, ltp / div,
                    last_quantity=ltq, average_price=atp / div, volume=volume,
                    buy_quantity=buy_qty, sell_quantity=sell_qty, open=open_ / div,
                    high=high / div, low=low / div, close=close / div,
                    last_trade_time=_epoch(fields[11]) if full else None,
                    oi=fields[12] if full else None,
                    exchange_timestamp=_epoch(fields[15]) if full else None,
                    depth_buy=levels[:DEPTH_LEVELS], depth_sell=levels[DEPTH_LEVELS:])
    return None


def parse_frame(data: bytes) -> list[Tick]:
    """A binary frame to its ticks. A 1-byte frame is Kite's heartbeat: ``[]``.

    Unknown packet lengths are skipped; a frame cut short yields the packets before the cut
    (logged), never an exception: one bad frame must not stop the feed.
    """
    if len(data) < FRAME_COUNT.size:
        return []
    (count,) = FRAME_COUNT.unpack_from(data)
    ticks: list[Tick] = []
    offset = FRAME_COUNT.size
    for _ in range(count):
        if offset + FRAME_COUNT.size > len(data):
            log.warning("ticker frame truncated: %d of %d packets read", len(ticks), count)
            break
        (length,) = FRAME_COUNT.unpack_from(data, offset)
        offset += FRAME_COUNT.size
        packet = data[offset:offset + length]
        offset += length
        if len(packet) < length:
            log.warning("ticker frame truncated inside a %d-byte packet", length)
            break
        tick = parse_packet(packet)
        if tick is None:
            log.debug("skipped a ticker packet of unknown length %d", length)
        else:
            ticks.append(tick)
    return ticks


def parse_text(message: str) -> tuple[str, Any]:
    """A text frame to ``(type, data)``: ``("order", {order dict as in GET /orders})``,
    ``("error", "...")``, ``("message", ...)``. Not JSON: ``("invalid", message)``; JSON
    without a type: ``("unknown", payload)``."""
    try:
        payload = json.loads(message)
    except ValueError:
        return "invalid", message
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return "unknown", payload
    return payload["type"], payload.get("data")


__all__ = [
    "DEPTH_LEVELS",
    "DEPTH_LEVEL_LAYOUT",
    "FRAME_COUNT",
    "FULL_HEAD_LAYOUT",
    "FULL_PACKET_SIZE",
    "INDEX_FULL_LAYOUT",
    "INDEX_QUOTE_LAYOUT",
    "LTP_LAYOUT",
    "MAX_CONNECTIONS_PER_API_KEY",
    "MAX_TOKENS_PER_CONNECTION",
    "MODES",
    "QUOTE_LAYOUT",
    "SEGMENT_BCD",
    "SEGMENT_CDS",
    "SEGMENT_INDICES",
    "SEGMENT_NCO",
    "DepthLevel",
    "Tick",
    "parse_frame",
    "parse_packet",
    "parse_text",
    "price_divisor",
    "segment_of",
]

"""Seeded market paths, generated in blocks of steps: the index walk and each option's series.

Every random number is drawn from a stream keyed by (seed, contract, purpose, block), so a
contract's path is the same whatever else is traded, whenever it is first looked at, and
whatever our own orders do (common random numbers across algorithms). Our orders only add
offsets on top (impact, depleted depth), kept by :mod:`imperium_exec.sim.market`.

Blocks are vectorised with numpy: a full 375-minute session is a few dozen blocks per contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..timeutil import SESSION_SECONDS
from .chain import Instrument
from .config import MarketConfig, UnderlyingMarket
from .pricing import YEAR_S, FloatArray, black76, moneyness_sd
from .session import MarketTimeline, close_epoch

IntArray = npt.NDArray[np.int64]

#: Steps per block.
BLOCK = 512
#: Seconds in a trading year for the index walk: 252 sessions of 375 minutes.
TRADING_YEAR_S = 252.0 * SESSION_SECONDS
#: Visible depth levels per side.
LEVELS = 5

_WALK, _FLOW, _DAY, _DEPTH = 1, 2, 3, 4


def _rng(seed: int, key: int, purpose: int, block: int) -> np.random.Generator:
    return np.random.default_rng([seed, key, purpose, block])


class IndexPath:
    """Geometric random walk of an index, one value per market step (step 0 is the spot)."""

    def __init__(self, seed: int, key: int, market: UnderlyingMarket, step_s: float) -> None:
        self._seed, self._key = seed, key
        self._spot = market.spot
        self._sd = market.annual_vol * math.sqrt(step_s / TRADING_YEAR_S)
        self._blocks: list[FloatArray] = []

    def block(self, b: int) -> FloatArray:
        while len(self._blocks) <= b:
            n = len(self._blocks)
            z = _rng(self._seed, self._key, _WALK, n).standard_normal(BLOCK)
            steps = self._sd * z - 0.5 * self._sd * self._sd
            if n == 0:
                steps[0] = 0.0
            start = self._spot if n == 0 else float(self._blocks[-1][-1])
            self._blocks.append(start * np.exp(np.cumsum(steps)))
        return self._blocks[b]

    def at(self, k: int) -> float:
        return float(self.block(k // BLOCK)[k % BLOCK])


@dataclass(frozen=True, slots=True)
class SeriesBlock:
    """One block of an option's market, before our own orders touch it.

    ``fair`` is the Black-76 premium, ``half_spread`` the quoted half-spread in ticks (the
    quoted spread is one tick more or less as the fair price crosses the tick grid); depth is lots
    per level (5 levels each side); volumes are units traded by the rest of the market, split
    into buyer-initiated (lifting the ask) and seller-initiated (hitting the bid).
    """

    fair: FloatArray
    half_spread: list[float]
    bid_lots: IntArray  # (BLOCK, LEVELS)
    ask_lots: IntArray
    buy_volume: list[int]
    sell_volume: list[int]
    last_at_ask: list[bool]  # the step's last trade lifted the ask
    fair_list: list[float]
    volume_cum: IntArray  # cumulative (buy + sell) units within the block, inclusive
    last_trade: list[int]  # index of the last step <= i with trades, -1 if none yet


class MarketSeries(Protocol):
    """What an option's book reads of its market: :class:`OptionSeries` generates it from the
    seed; a replay hands the exchange one made from a journal instead
    (``PaperExchange(series=...)``)."""

    @property
    def inst(self) -> Instrument: ...

    def block(self, b: int) -> SeriesBlock:
        """Steps ``b * BLOCK`` to ``(b + 1) * BLOCK - 1``."""
        ...

    def volume_between(self, k0: int, k1: int) -> int:
        """Units the market traded in steps ``k0 < k <= k1``."""
        ...

    def last_trade_step(self, k0: int, k1: int) -> int | None:
        """The last step in ``k0 < k <= k1`` with market trades, if any."""
        ...

    def forget_before(self, b: int) -> None:
        """Blocks before ``b`` will not be asked for again (a cache may drop them)."""
        ...


class OptionSeries:
    """Lazily generated blocks of one option contract's market."""

    def __init__(self, seed: int, inst: Instrument, index: IndexPath, underlying: UnderlyingMarket,
                 cfg: MarketConfig, timeline: MarketTimeline, bin_shares: FloatArray) -> None:
        if inst.expiry is None:
            raise ValueError(f"{inst.tradingsymbol} is not an option")
        self.inst = inst
        self._seed, self._key = seed, inst.stream_key
        self._index, self._und, self._cfg = index, underlying, cfg
        self._timeline = timeline
        self._expiry_epoch = close_epoch(inst.expiry)
        self._shares = np.asarray(bin_shares, dtype=np.float64)
        self._blocks: dict[int, SeriesBlock] = {}
        self._volumes: dict[int, tuple[IntArray, list[int]]] = {}
        self._day_factor: dict[int, float] = {}

    def block(self, b: int) -> SeriesBlock:
        blk = self._blocks.get(b)
        if blk is None:
            blk = self._blocks[b] = self._generate(b)
        return blk

    def forget_before(self, b: int) -> None:
        """Drop blocks before ``b`` (they are regenerated identically if asked for again)."""
        for old in [k for k in self._blocks if k < b]:
            del self._blocks[old]
        self._volumes.clear()

    def _volumes_of(self, b: int) -> tuple[IntArray, list[int]]:
        blk = self._blocks.get(b)
        return (blk.volume_cum, blk.last_trade) if blk is not None else self._volume_only(b)

    def volume_between(self, k0: int, k1: int) -> int:
        """Units the market traded in steps ``k0 < k <= k1``."""
        total = 0
        k = k0 + 1
        while k <= k1:
            b, i = divmod(k, BLOCK)
            j = min(BLOCK - 1, k1 - b * BLOCK)
            cum = self._volumes_of(b)[0]
            total += int(cum[j]) - (int(cum[i - 1]) if i else 0)
            k = (b + 1) * BLOCK
        return total

    def last_trade_step(self, k0: int, k1: int) -> int | None:
        """The last step in ``k0 < k <= k1`` with market trades, if any."""
        k = k1
        while k > k0:
            b, j = divmod(k, BLOCK)
            i = self._volumes_of(b)[1][j]
            if i >= 0:
                step = b * BLOCK + i
                return step if step > k0 else None
            k = b * BLOCK - 1
        return None

    # ---------------------------------------------------------------- generation

    def _day(self, day: int) -> float:
        factor = self._day_factor.get(day)
        if factor is None:
            sigma = self._cfg.day_volume_noise
            z = float(_rng(self._seed, self._key, _DAY, day).standard_normal())
            factor = self._day_factor[day] = math.exp(sigma * z - 0.5 * sigma * sigma)
        return factor

    def _inputs(self, b: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Market seconds, forward, years to expiry and moneyness (in sd) of block ``b``."""
        cfg = self._cfg
        market_s = np.arange(b * BLOCK, (b + 1) * BLOCK, dtype=np.float64) * cfg.step_s
        epochs = self._timeline.epochs(market_s)
        years = np.maximum(self._expiry_epoch - epochs, cfg.min_time_to_expiry_s) / YEAR_S
        forward = self._index.block(b) * np.exp(cfg.rate * years)
        x = moneyness_sd(forward, self.inst.strike, years, self._und.implied_vol)
        return market_s, forward, years, x

    def _lots(self, rng: np.random.Generator, market_s: FloatArray, x: FloatArray) -> IntArray:
        """Lots the rest of the market trades each step: the U-shaped curve, the day's and the
        step's noise. The first draws of the block's flow stream."""
        cfg = self._cfg
        session_s = np.mod(market_s, SESSION_SECONDS)
        bins = np.minimum((session_s // 900).astype(np.int64), self._shares.size - 1)
        days = (market_s // SESSION_SECONDS).astype(np.int64)
        first, last = int(days[0]), int(days[-1])
        day_factor = np.array([self._day(d) for d in range(first, last + 1)])[days - first]
        sv = cfg.step_volume_noise
        step_noise = np.exp(sv * rng.standard_normal(BLOCK) - 0.5 * sv * sv)
        lots_rate = (cfg.daily_volume_lots * np.exp(-cfg.volume_decay * x) * day_factor
                     * self._shares[bins] / 900.0 * cfg.step_s * step_noise)
        return np.asarray(rng.poisson(lots_rate), dtype=np.int64)

    def _volume_arrays(self, lots: IntArray) -> tuple[IntArray, list[int]]:
        traded = np.where(lots > 0, np.arange(BLOCK), -1)
        cum = np.cumsum(lots * self.inst.lot_size).astype(np.int64)
        return cum, np.maximum.accumulate(traded).tolist()

    def _volume_only(self, b: int) -> tuple[IntArray, list[int]]:
        """Just the traded volume of block ``b``: the same draws as :meth:`_generate`, without
        pricing, books or the buy/sell split (catching up a contract first looked at late)."""
        cached = self._volumes.get(b)
        if cached is None:
            market_s, _, _, x = self._inputs(b)
            lots = self._lots(_rng(self._seed, self._key, _FLOW, b), market_s, x)
            cached = self._volumes[b] = self._volume_arrays(lots)
        return cached

    def _generate(self, b: int) -> SeriesBlock:
        cfg, inst = self._cfg, self.inst
        market_s, forward, years, x = self._inputs(b)
        fair = black76(forward, inst.strike, years, self._und.implied_vol, cfg.rate,
                       inst.is_call)
        widen = 1.0 + cfg.spread_widening * x
        half = np.maximum(cfg.min_spread_ticks,
                          cfg.spread_fraction * fair / inst.tick_size) * widen / 2.0

        shape = np.array([cfg.level_shape[min(i, len(cfg.level_shape) - 1)]
                          for i in range(LEVELS)])
        base = cfg.depth_lots * np.exp(-cfg.depth_decay * x)[:, None] * shape[None, :]
        sd = cfg.depth_noise
        depth_rng = _rng(self._seed, self._key, _DEPTH, b)
        noise = np.exp(sd * depth_rng.standard_normal((2, BLOCK, LEVELS)) - 0.5 * sd * sd)
        bid_lots = np.maximum(1, np.rint(base * noise[0])).astype(np.int64)
        ask_lots = np.maximum(1, np.rint(base * noise[1])).astype(np.int64)

        rng = _rng(self._seed, self._key, _FLOW, b)
        lots = self._lots(rng, market_s, x)
        buy_share = np.clip(0.5 + cfg.flow_imbalance * rng.standard_normal(BLOCK), 0.02, 0.98)
        buy_lots = rng.binomial(lots, buy_share).astype(np.int64)
        last_at_ask = rng.random(BLOCK) < buy_share
        lot = inst.lot_size
        volume_cum, last_trade = self._volume_arrays(lots)
        return SeriesBlock(
            fair=fair, half_spread=half.tolist(), bid_lots=bid_lots, ask_lots=ask_lots,
            buy_volume=(buy_lots * lot).tolist(), sell_volume=((lots - buy_lots) * lot).tolist(),
            last_at_ask=last_at_ask.tolist(), fair_list=fair.tolist(),
            volume_cum=volume_cum, last_trade=last_trade,
        )

"""The simulated worlds the execution-quality benchmark scores algorithms in: each charges what
its model says, so a schedule's cost there is the closed form's."""

from __future__ import annotations

import numpy as np
import pytest

from imperium_exec.costs import almgren_chriss as ac
from imperium_exec.testing.quality_worlds import AcMarket, AcWorld, VolumeMarket, VolumeWorld
from imperium_exec.volume_curve import VolumeCurve


def _buy(market: AcMarket | VolumeMarket, schedule: list[list[int]]) -> float:
    """Pay for ``schedule`` (the orders of each interval), return the rupees paid."""
    return sum(units * market.trade(k, units)
               for k, orders in enumerate(schedule) for units in orders)


def test_ac_market_charges_the_almgren_chriss_expected_cost_of_a_schedule() -> None:
    world = AcWorld(N=5)
    trades = [300_000, 250_000, 200_000, 150_000, 100_000]
    market = AcMarket(world, np.zeros(world.N))  # no price noise: the cost is E itself
    paid = _buy(market, [[n] for n in trades])
    expected, _ = ac.schedule_cost(np.array(trades, dtype=float), world.X, world.T,
                                   world.sigma, world.eta, world.gamma, world.epsilon)
    assert paid - world.X * world.S0 == pytest.approx(expected, rel=1e-12)


def test_ac_market_charges_an_interval_split_into_orders_as_one_trade() -> None:
    """A slice split at the freeze quantity costs what the slice costs in one order."""
    world = AcWorld(N=2, lots=4, lot_size=50)
    whole = _buy(AcMarket(world, np.zeros(2)), [[150], [50]])
    split = _buy(AcMarket(world, np.zeros(2)), [[100, 50], [50]])
    assert split == pytest.approx(whole, rel=1e-12)


def test_ac_market_moves_the_mid_by_the_noise_it_was_given() -> None:
    world = AcWorld(N=3)
    xi = np.array([1.0, -2.0, 0.5])
    market = AcMarket(world, xi)
    step = world.sigma * np.sqrt(world.tau)
    assert market.mid(0) == world.S0
    assert market.mid(2) == pytest.approx(world.S0 + step * (1.0 - 2.0))


def test_volume_market_charges_participation_impact_on_the_interval_volume() -> None:
    world = VolumeWorld(curve=VolumeCurve.load("expiry"), N=25, epsilon=0.0)
    volumes = np.full(world.N, 100_000.0)
    schedule = np.full(world.N, 1_040.0)  # 16 lots of 65 an interval
    market = VolumeMarket(world, volumes, np.zeros(world.N))
    paid = _buy(market, [[int(n)] for n in schedule])
    assert paid - schedule.sum() * world.S0 == pytest.approx(
        world.impact_cost(schedule, volumes), rel=1e-12)


def test_constant_participation_is_cheaper_than_any_other_split_of_a_day() -> None:
    world = VolumeWorld(curve=VolumeCurve.load("expiry"), N=25)
    volumes = world.draw_volumes(np.random.default_rng(3))
    even = world.X * volumes / volumes.sum()
    rng = np.random.default_rng(4)
    for _ in range(20):
        other = even * np.exp(rng.normal(0.0, 0.1, size=world.N))
        other *= world.X / other.sum()
        assert world.impact_cost(other, volumes) > world.impact_cost(even, volumes)

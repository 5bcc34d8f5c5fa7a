"""The NSE intraday volume curve: packaged profiles, fractions, session mapping."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources

import numpy as np
import pytest

from imperium_exec.timeutil import IST, SESSION_SECONDS
from imperium_exec.volume_curve import CURVE_RESOURCE, VolumeCurve, nse_session_seconds

BIN = 900.0


@pytest.fixture(scope="module")
def normal() -> VolumeCurve:
    return VolumeCurve.load("normal")


@pytest.fixture(scope="module")
def expiry() -> VolumeCurve:
    return VolumeCurve.load("expiry")


def test_packaged_profiles_cover_the_nse_session_in_25_bins(normal: VolumeCurve,
                                                             expiry: VolumeCurve) -> None:
    assert VolumeCurve.profiles() == ("expiry", "normal")
    for curve in (normal, expiry):
        assert curve.n_bins == 25
        assert curve.bin_seconds == BIN
        assert curve.session_length_s == SESSION_SECONDS == 22_500
        assert curve.bin_shares.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(curve.bin_shares > 0)


def test_json_documents_its_source() -> None:
    text = resources.files("imperium_exec.resources").joinpath(CURVE_RESOURCE).read_text()
    comment = json.loads(text)["_comment"]
    assert "SEBI" in comment and "30 Jul 2024" in comment
    assert "stylised" in comment  # honest that it is not fitted to tick data


def test_normal_profile_is_u_shaped(normal: VolumeCurve) -> None:
    shares = normal.bin_shares
    trough = int(np.argmin(shares))
    assert 8 <= trough <= 16  # the minimum is around midday
    assert shares[0] > 2.5 * shares[trough]
    assert shares[-1] > 2 * shares[trough]
    # monotone down into the trough and up out of it
    assert np.all(np.diff(shares[: trough + 1]) <= 0)
    assert np.all(np.diff(shares[trough:]) >= 0)


def test_expiry_profile_matches_sebi_nifty_tail(expiry: VolumeCurve, normal: VolumeCurve) -> None:
    last_30 = expiry.fraction(SESSION_SECONDS - 1800, SESSION_SECONDS)
    last_60 = expiry.fraction(SESSION_SECONDS - 3600, SESSION_SECONDS)
    assert last_30 == pytest.approx(0.16, abs=0.005)
    assert last_60 == pytest.approx(0.28, abs=0.005)
    assert normal.fraction(SESSION_SECONDS - 1800, SESSION_SECONDS) < last_30


def test_fraction_is_bin_share_on_bin_edges_and_linear_inside(normal: VolumeCurve) -> None:
    shares = normal.bin_shares
    assert normal.fraction(0, SESSION_SECONDS) == pytest.approx(1.0)
    assert normal.fraction(0, BIN) == pytest.approx(shares[0])
    assert normal.fraction(3 * BIN, 5 * BIN) == pytest.approx(shares[3] + shares[4])
    assert normal.fraction(0, BIN / 2) == pytest.approx(shares[0] / 2)
    assert normal.fraction(BIN / 2, BIN + BIN / 4) == pytest.approx(shares[0] / 2 + shares[1] / 4)


def test_fraction_clamps_to_the_session(normal: VolumeCurve) -> None:
    assert normal.fraction(-600, 0) == 0.0
    assert normal.fraction(SESSION_SECONDS, SESSION_SECONDS + 600) == 0.0
    assert normal.fraction(-600, BIN) == pytest.approx(normal.bin_shares[0])
    assert normal.fraction(-1e6, 1e6) == pytest.approx(1.0)
    assert normal.fraction(BIN, BIN) == 0.0
    assert normal.fraction(2 * BIN, BIN) == 0.0  # reversed


def test_extended_fraction_uses_edge_rates_outside_the_session(normal: VolumeCurve) -> None:
    first_rate = normal.bin_shares[0] / BIN
    last_rate = normal.bin_shares[-1] / BIN
    assert normal.extended_fraction(-300, 0) == pytest.approx(300 * first_rate)
    assert normal.extended_fraction(-300, BIN) == pytest.approx(
        300 * first_rate + normal.bin_shares[0])
    assert normal.extended_fraction(SESSION_SECONDS + 100, SESSION_SECONDS + 400) == \
        pytest.approx(300 * last_rate)
    # inside the session it is the plain fraction
    assert normal.extended_fraction(1000, 5000) == pytest.approx(normal.fraction(1000, 5000))
    assert normal.extended_fraction(10, 5) == 0.0


def test_custom_shares_are_normalised_and_read_only() -> None:
    curve = VolumeCurve([2.0, 1.0, 1.0], bin_seconds=60.0, name="toy")
    np.testing.assert_allclose(curve.bin_shares, [0.5, 0.25, 0.25])
    assert curve.session_length_s == 180.0
    assert curve.cumulative(90.0) == pytest.approx(0.625)
    assert curve.cumulative(-5.0) == 0.0 and curve.cumulative(500.0) == 1.0
    with pytest.raises(ValueError):
        curve.bin_shares[0] = 1.0
    assert "toy" in repr(curve)


@pytest.mark.parametrize("shares", [[], [0.0, 0.0], [0.5, -0.1], [1.0, float("nan")]])
def test_invalid_shares_are_refused(shares: list[float]) -> None:
    with pytest.raises(ValueError, match="bin_shares"):
        VolumeCurve(shares)


def test_invalid_bin_seconds_and_unknown_profile_are_refused() -> None:
    with pytest.raises(ValueError, match="bin_seconds"):
        VolumeCurve([1.0], bin_seconds=0.0)
    with pytest.raises(ValueError, match="profile: 'monthly'"):
        VolumeCurve.load("monthly")


@pytest.mark.parametrize(("hh", "mm", "expected"), [
    (9, 15, 0.0), (9, 0, -900.0), (12, 0, 9_900.0), (15, 30, 22_500.0), (20, 0, 38_700.0),
])
def test_nse_session_seconds_uses_ist_wall_clock(hh: int, mm: int, expected: float) -> None:
    epoch = dt.datetime(2026, 3, 10, hh, mm, tzinfo=IST).timestamp()
    assert nse_session_seconds(epoch) == expected
    # the same instant expressed in UTC maps identically
    utc = dt.datetime.fromtimestamp(epoch, dt.UTC)
    assert nse_session_seconds(utc.timestamp()) == expected

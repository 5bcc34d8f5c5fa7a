"""RetryPolicy: each Kite failure lands in its bucket, ambiguity is flagged, backoff grows."""

from __future__ import annotations

import random

import kiteconnect.exceptions as kex
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from imperium_exec.brokers import errors as ours
from imperium_exec.events import ErrorBucket
from imperium_exec.retry import RetryPolicy

POLICY = RetryPolicy()


@pytest.mark.parametrize(("exc", "bucket", "ambiguous"), [
    (kex.NetworkException("Too many requests", code=429), ErrorBucket.THROTTLE, False),
    (ours.NetworkException("Too many requests", code=429), ErrorBucket.THROTTLE, False),
    (kex.NetworkException("Request failed (kitetrade-oms)", code=503), ErrorBucket.TRANSIENT,
     True),
    (kex.NetworkException("Maximum allowed order requests exceeded", code=429),
     ErrorBucket.FATAL, False),  # the daily cap, whatever its status code
    (requests.exceptions.ConnectionError(
        "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded (Caused by "
        "NewConnectionError('Failed to establish a new connection: [Errno 111] Connection "
        "refused'))"), ErrorBucket.TRANSIENT, False),
    (kex.DataException("Unknown Content-Type (text/html) with response: (<html>502)", code=502),
     ErrorBucket.TRANSIENT, True),
    (requests.exceptions.ReadTimeout("read timed out"), ErrorBucket.TRANSIENT, True),
    (requests.exceptions.ConnectTimeout("connect timed out"), ErrorBucket.TRANSIENT, False),
    (requests.exceptions.ConnectionError("connection reset"), ErrorBucket.TRANSIENT, True),
    (ours.BrokerTimeout("no answer", sent=True), ErrorBucket.TRANSIENT, True),
    (ours.BrokerTimeout("connect failed", sent=False), ErrorBucket.TRANSIENT, False),
    (kex.InputException("Order request timed out. Please check the order book and confirm "
                        "before placing again.", code=400), ErrorBucket.TRANSIENT, True),
    (kex.GeneralException("Insufficient funds. Required margin is 95417.84 but available "
                          "margin is 74251.80. Check the orderbook for open orders.",
                          code=400), ErrorBucket.RISK, False),
    (kex.InputException("The order quantity 6300 (21 lots) is higher than the maximum quantity "
                        "of 6000 (20 lots) allowed by the exchanges.", code=400),
     ErrorBucket.RISK, False),
    (kex.InputException("Price exceeds circuit limits for the instrument.", code=400),
     ErrorBucket.RISK, False),
    (kex.TokenException("Incorrect `api_key` or `access_token`.", code=403), ErrorBucket.FATAL,
     False),
    (kex.PermissionException("Insufficient permission for that call.", code=403),
     ErrorBucket.FATAL, False),
    (kex.InputException("Invalid `tag`: must be at most 20 characters", code=400),
     ErrorBucket.FATAL, False),
    (kex.GeneralException("Internal server error", code=500), ErrorBucket.TRANSIENT, True),
    # Any 5xx may have placed the order, whatever its type.
    (kex.OrderException("Order cannot be modified as it is being processed", code=500),
     ErrorBucket.TRANSIENT, True),
    (ValueError("bug"), ErrorBucket.FATAL, False),
])
def test_errors_classify_into_buckets(exc: BaseException, bucket: ErrorBucket,
                                      ambiguous: bool) -> None:
    result = POLICY.classify(exc)
    assert (result.bucket, result.ambiguous) == (bucket, ambiguous)


def test_daily_limit_is_fatal_not_throttle() -> None:
    exc = kex.NetworkException("Maximum allowed order requests exceeded", code=400)
    assert POLICY.classify(exc).bucket is ErrorBucket.FATAL


def test_risk_and_fatal_never_retry_transient_and_throttle_do_then_stop() -> None:
    by_bucket = {bucket: POLICY.classify(exc) for bucket, exc in [
        (ErrorBucket.RISK, kex.GeneralException("Insufficient funds", code=400)),
        (ErrorBucket.FATAL, kex.TokenException("expired", code=403)),
        (ErrorBucket.TRANSIENT, kex.NetworkException("oms down", code=503)),
        (ErrorBucket.THROTTLE, kex.NetworkException("Too many requests", code=429)),
    ]}
    assert not POLICY.allows_retry(by_bucket[ErrorBucket.RISK], 0)
    assert not POLICY.allows_retry(by_bucket[ErrorBucket.FATAL], 0)
    assert POLICY.allows_retry(by_bucket[ErrorBucket.TRANSIENT], 2)
    assert not POLICY.allows_retry(by_bucket[ErrorBucket.TRANSIENT], 3)
    assert POLICY.allows_retry(by_bucket[ErrorBucket.THROTTLE], 4)
    assert not POLICY.allows_retry(by_bucket[ErrorBucket.THROTTLE], 5)


def test_backoff_grows_is_capped_and_throttle_waits_at_least_most_of_a_second() -> None:
    policy = RetryPolicy(jitter=0.0)
    transient = [policy.backoff_s(ErrorBucket.TRANSIENT, n) for n in range(6)]
    assert transient == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    jittered = RetryPolicy(jitter=0.25)
    throttle = [jittered.backoff_s(ErrorBucket.THROTTLE, 0) for _ in range(200)]
    assert min(throttle) >= 0.75 and max(throttle) <= 1.25
    assert len(set(throttle)) > 100  # jitter really varies the delay


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_a_general_exception_from_500_up_is_an_ambiguous_server_error(code: int) -> None:
    result = POLICY.classify(kex.GeneralException("Something went wrong", code=code))
    assert (result.bucket, result.ambiguous) == (ErrorBucket.TRANSIENT, True)


def test_a_general_exception_below_500_is_refused_not_retried() -> None:
    result = POLICY.classify(kex.GeneralException("Something went wrong", code=499))
    assert (result.bucket, result.ambiguous) == (ErrorBucket.FATAL, False)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.sampled_from(list(ErrorBucket)), st.integers(0, 60), st.floats(0.0, 0.9),
       st.integers(0, 2**32))
def test_backoff_never_exceeds_its_buckets_cap_however_many_retries(
        bucket: ErrorBucket, retries: int, jitter: float, seed: int) -> None:
    policy = RetryPolicy(jitter=jitter, rng=random.Random(seed))
    cap = policy.policies[bucket].max_delay_s
    delay = policy.backoff_s(bucket, retries)
    assert 0.0 <= delay <= cap * (1 + jitter) + 1e-12


def test_async_rejections_classify_by_rms_text() -> None:
    text = ("RMS:Margin Exceeds,Required:95417.84, Available:74251.80 for entity account-XXXXX "
            "across exchange across segment across product ")
    assert POLICY.classify_rejection(text).bucket is ErrorBucket.RISK
    assert POLICY.classify_rejection("Order rejected by exchange").bucket is ErrorBucket.FATAL

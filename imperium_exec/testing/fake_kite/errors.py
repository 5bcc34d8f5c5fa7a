"""Kite's error texts and the exception a route raises to answer with a Kite JSON error."""

from __future__ import annotations

# Kite's texts (reference §3, §5).
ORDER_TIMED_OUT = ("Order request timed out. Please check the order book and confirm before "
                   "placing again.")
TOO_MANY_REQUESTS = "Too many requests"
DAILY_ORDER_CAP = "Maximum allowed order requests exceeded."
OMS_DOWN = "Request failed (kitetrade-oms)"
BAD_SESSION = "Incorrect `api_key` or `access_token`."
#: Kite's answer to a modification of an order that is not OPEN: finished, or still being
#: placed, modified or cancelled (InputException 400; Kite's forum).
MODIFY_BEING_PROCESSED = "Order cannot be modified as it is being processed. Try later."
#: Kite's NetworkException once an order was modified 25 times (Kite's forum: "A maximum of
#: 25 modification requests can be sent per order"); its HTTP status is not documented.
MODIFICATIONS_EXCEEDED = "Maximum allowed order modifications exceeded."
# Ours, in Kite's register (the exact wording is not documented).
UNKNOWN_INSTRUMENT = ("The instrument you are placing an order for has either expired or does "
                      "not exist.")
UNKNOWN_ORDER = "Couldn't find that `order_id`."
#: Kite's LPP / circuit refusal of a limit outside the day's range (reported by traders, 2026).
OUTSIDE_CIRCUIT = ("Price exceeds circuit limits for the instrument. Place an order within the "
                   "daily range.")
MARKET_PROTECTION_REQUIRED = ("Market orders need market protection: set `market_protection` to "
                              "-1 (automatic) or a percentage from 1 to 100.")


def margin_message(required: float, available: float) -> str:
    """Kite's RMS margin rejection text (status_message)."""
    return (f"Insufficient funds. Required margin is {required:.2f} but available margin is "
            f"{max(0.0, available):.2f}. Check the orderbook for open orders.")


def margin_raw(required: float, available: float) -> str:
    """Kite's RMS margin rejection text (status_message_raw)."""
    return (f"RMS:Margin Exceeds,Required:{required:.2f}, Available:{max(0.0, available):.2f} "
            "for entity account-XXXXX across exchange across segment across product ")


class KiteError(Exception):
    """A refusal a route raises; the server answers it as Kite's JSON error envelope."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def input_error(message: str) -> KiteError:
    """Kite's 400 ``InputException``, the answer to every request that fails validation."""
    return KiteError(400, "InputException", message)

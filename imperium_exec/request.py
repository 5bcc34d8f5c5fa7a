"""ExecutionRequest: the canonical, validated execution intent for one parent order.

Everything that can be checked without a clock or a broker is checked here, so bad input is
refused before any order can reach a broker: :meth:`ExecutionRequest.from_payload` raises a
:class:`RequestError` (a ``ValueError``), one line per problem named by the payload key; building
the model directly raises pydantic's ``ValidationError`` (also a ``ValueError``). Checks that need
the clock (a window already over) happen in the planner, again before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# ExecutionAlgo is re-exported: ``from imperium_exec.request import ExecutionAlgo`` is public.
from .algos.names import AlgoName, algorithm_name, runs_a_schedule
from .algos.names import ExecutionAlgo as ExecutionAlgo
from .instruments import InstrumentMaster, UnknownInstrumentError, default_instrument_master
from .timeutil import IST, is_on_tick


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: costs are ``sign * (price - benchmark)``."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class Urgency(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


#: Horizon a scheduled algorithm gets when the request names neither a horizon nor a window.
DEFAULT_HORIZON_S = 300.0
#: Slices closer than this cannot be told apart by the broker's rate limits and book updates.
MIN_SLICE_INTERVAL_S = 1.0
#: Kite allows 400 order requests a minute per account; one parent never plans more than this.
MAX_ORDERS_PER_PARENT = 400
MAX_CHILD_ORDERS = 200

PositivePrice = Annotated[float, Field(gt=0)]


class ExecutionRequest(BaseModel):
    """One parent order and the policy to execute it with.

    Instrument facts (``lot_size``, ``tick_size``, ``freeze_quantity``) may be omitted; they then
    come from the dated exchange configuration for today's date in IST.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False,
                              use_enum_values=False, validate_default=True)

    # order
    tradingsymbol: Annotated[str, Field(min_length=1, max_length=40)]
    exchange: Annotated[str, Field(min_length=2, max_length=8)]
    side: Side
    quantity: Annotated[int, Field(gt=0)]
    order_type: OrderType = OrderType.MARKET
    limit_price: PositivePrice | None = None
    product: Literal["NRML", "MIS", "CNC"] = "NRML"
    validity: Literal["DAY", "IOC"] = "DAY"
    #: Kite market protection for MARKET children: -1 = broker's automatic band, 1..100 percent.
    market_protection: int = -1

    # book context at decision time
    ltp: PositivePrice | None = None
    bid: PositivePrice | None = None
    ask: PositivePrice | None = None

    # instrument facts
    lot_size: Annotated[int, Field(gt=0)]
    tick_size: Annotated[float, Field(gt=0)]
    freeze_quantity: Annotated[int, Field(gt=0)]

    # policy (v1 names and defaults)
    execution_algo: AlgoName = ExecutionAlgo.IMMEDIATE
    execution_urgency: Urgency = Urgency.NORMAL
    max_child_orders: Annotated[int, Field(ge=1, le=MAX_CHILD_ORDERS)] = 1
    participation_rate: Annotated[float, Field(gt=0, le=1)] = 0.15
    randomize_slices: bool = True

    # schedule
    horizon_s: Annotated[float, Field(gt=0, le=7 * 3600)] | None = None
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    #: Seed for slice randomisation; None draws one from the parent id.
    seed: int | None = None
    #: POV clips, in units (lot multiples). None: one lot / the freeze-limited maximum.
    min_child_quantity: Annotated[int, Field(gt=0)] | None = None
    max_child_quantity: Annotated[int, Field(gt=0)] | None = None

    # ------------------------------------------------------------------ validation

    @model_validator(mode="before")
    @classmethod
    def _fill_instrument_facts(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        missing = [k for k in ("lot_size", "tick_size", "freeze_quantity", "exchange")
                   if data.get(k) is None]
        symbol = data.get("tradingsymbol")
        if not missing or not isinstance(symbol, str) or not symbol:
            return data
        context = info.context or {}
        master: InstrumentMaster = context.get("instrument_master") or default_instrument_master()
        on: dt.date | None = context.get("on_date")
        try:
            spec = master.resolve(symbol, data.get("exchange"), on)
        except UnknownInstrumentError as exc:
            raise ValueError(
                f"tradingsymbol: {exc}, or pass lot_size, tick_size and freeze_quantity explicitly"
            ) from exc
        filled = dict(data)
        for key in missing:
            filled[key] = getattr(spec, key)
        return filled

    @field_validator("quantity", "max_child_orders", "lot_size", "freeze_quantity",
                     mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a whole number, not a boolean")
        return value

    @field_validator("side", "order_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("execution_algo", mode="before")
    @classmethod
    def _known_algorithm(cls, value: Any) -> Any:
        """A built-in name becomes its :class:`ExecutionAlgo`; a registered one stays a str."""
        return algorithm_name(value) if isinstance(value, str) else value

    @field_validator("execution_urgency", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("tradingsymbol", "exchange", mode="before")
    @classmethod
    def _strip_upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("start_at", "end_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        """Naive datetimes are IST wall-clock times, like every timestamp Kite sends."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=IST)
        return value

    @field_validator("market_protection")
    @classmethod
    def _protection(cls, value: int) -> int:
        if value != -1 and not 1 <= value <= 100:
            raise ValueError("must be -1 (automatic) or a percentage from 1 to 100; "
                             "0 is rejected by Kite for API orders")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        errors: list[str] = []
        if self.quantity % self.lot_size:
            errors.append(f"quantity: {self.quantity} is not a multiple of the lot size "
                          f"{self.lot_size}")
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            errors.append("limit_price: required for a LIMIT order")
        if self.order_type is OrderType.MARKET and self.limit_price is not None:
            errors.append("limit_price: a MARKET order has no limit price (use LIMIT to cap it)")
        if self.limit_price is not None and not is_on_tick(self.limit_price, self.tick_size):
            errors.append(f"limit_price: {self.limit_price} is not a multiple of the tick size "
                          f"{self.tick_size}")
        if self.bid is not None and self.ask is not None and self.bid > self.ask:
            errors.append(f"bid: {self.bid} is above the ask {self.ask} (crossed book)")
        if self.freeze_quantity < self.lot_size:
            errors.append(f"freeze_quantity: {self.freeze_quantity} is below the lot size "
                          f"{self.lot_size}")
        if self.end_at is not None and self.horizon_s is not None:
            errors.append("horizon_s: give either horizon_s or end_at, not both")
        if self.start_at is not None and self.end_at is not None and self.end_at <= self.start_at:
            errors.append(f"end_at: {self.end_at.isoformat()} is not after start_at "
                          f"{self.start_at.isoformat()}")
        if (self.min_child_quantity is not None and self.max_child_quantity is not None
                and self.min_child_quantity > self.max_child_quantity):
            errors.append("min_child_quantity: above max_child_quantity")
        for name in ("min_child_quantity", "max_child_quantity"):
            clip = getattr(self, name)
            if clip is not None and clip % self.lot_size:
                errors.append(f"{name}: {clip} is not a multiple of the lot size {self.lot_size}")
        orders_needed = math.ceil(self.quantity / self.max_order_quantity)
        if orders_needed > MAX_ORDERS_PER_PARENT:
            errors.append(f"quantity: {self.quantity} needs {orders_needed} orders at the freeze "
                          f"limit {self.max_order_quantity}, more than the "
                          f"{MAX_ORDERS_PER_PARENT} a parent may send")
        window = self.window_seconds
        if (window is not None and self.max_child_orders > 1
                and self.lots > 0  # (below one lot is refused above)
                and runs_a_schedule(self.execution_algo)
                and window / min(self.max_child_orders, self.lots) < MIN_SLICE_INTERVAL_S):
            errors.append(f"max_child_orders: {self.max_child_orders} slices cannot fit in "
                          f"{window:g} s (slices must be at least {MIN_SLICE_INTERVAL_S:g} s "
                          "apart)")
        if errors:
            raise ValueError(_PROBLEM_SEPARATOR.join(errors))
        return self

    # ------------------------------------------------------------------ derived facts

    @property
    def lots(self) -> int:
        return self.quantity // self.lot_size

    @property
    def max_order_quantity(self) -> int:
        """Largest lot multiple not above the freeze quantity."""
        return max(self.lot_size, (self.freeze_quantity // self.lot_size) * self.lot_size)

    @property
    def mid(self) -> float | None:
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2.0
        return self.ltp

    @property
    def window_seconds(self) -> float | None:
        """Length of the execution window when the request fixes it, else None."""
        if self.start_at is not None and self.end_at is not None:
            return (self.end_at - self.start_at).total_seconds()
        return self.horizon_s

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_payload(cls, payload: dict[str, Any], *,
                     instrument_master: InstrumentMaster | None = None,
                     on_date: dt.date | None = None) -> ExecutionRequest:
        """Build a request from the desk's Kite-style order payload.

        Kite keys map as ``transaction_type -> side`` and ``price -> limit_price`` (a MARKET
        payload's ``price`` is ignored, as Kite ignores it). Optional ``execution_*`` keys
        carry the policy; omitted keys give the v1 defaults, i.e. a plain immediate order.
        Kite keys the stack does not use (``variety``, ``tag``, ``disclosed_quantity``...) are
        ignored; an unknown ``execution_*`` key is an error, so a typo cannot silently change
        policy.
        """
        try:
            return cls.model_validate(
                payload_to_fields(payload),
                context={"instrument_master": instrument_master, "on_date": on_date},
            )
        except ValidationError as exc:
            raise RequestError.from_validation(exc, payload) from None


#: How the consistency check joins its "field: reason" problems (RequestError splits them).
_PROBLEM_SEPARATOR = "; "


class RequestError(ValueError):
    """An order payload that cannot be executed: one line per problem, each named by the key
    the desk sent (``price``, not ``limit_price``), with the reason and, where it helps, the fix.
    Nothing reaches a broker."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{key}: {reason}" for key, reason in problems))

    @classmethod
    def from_validation(cls, exc: ValidationError, payload: dict[str, Any]) -> RequestError:
        problems: list[tuple[str, str]] = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            if not field:  # the consistency checks: "field: reason; field: reason"
                for part in message.split(_PROBLEM_SEPARATOR):
                    name, _, reason = part.partition(": ")
                    problems.append((name, reason))
                continue
            if error["type"] == "missing":
                reason = "required"
            else:
                reason = f"{error['input']!r} is not allowed: {message[:1].lower()}{message[1:]}"
            problems.append((field, reason + _HINTS.get(field, "")))
        if any(f == "tradingsymbol" for f, _ in problems):  # the facts it would have given
            problems = [(f, r) for f, r in problems
                        if not (f in _INSTRUMENT_FACTS and r == "required")]
        return cls([(_payload_key(field, payload), reason) for field, reason in problems])


def _payload_key(field: str, payload: dict[str, Any]) -> str:
    """The key the desk used for ``field``."""
    for key, name in _PAYLOAD_ALIASES.items():
        if name == field and key in payload:
            return key
    return field


_INSTRUMENT_FACTS = frozenset({"lot_size", "tick_size", "freeze_quantity", "exchange"})
_HINTS = {
    "participation_rate": " (a fraction in (0, 1]: 0.15 for 15 %)",
}

#: Payload key -> request field. Keys not listed and not request fields are ignored.
_PAYLOAD_ALIASES = {
    "transaction_type": "side",
    "price": "limit_price",
    "last_price": "ltp",
    "execution_horizon_s": "horizon_s",
    "execution_start_at": "start_at",
    "execution_end_at": "end_at",
    "execution_seed": "seed",
}
_EXECUTION_KEYS = {"execution_algo", "execution_urgency"} | {
    k for k in _PAYLOAD_ALIASES if k.startswith("execution_")
}
_UNSUPPORTED_ORDER_TYPES = {"SL", "SL-M"}


def payload_to_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """Translate a Kite-style payload into ExecutionRequest field names (no validation)."""
    fields_ = set(ExecutionRequest.model_fields)
    unknown_policy = sorted(k for k in payload
                            if k.startswith("execution_") and k not in _EXECUTION_KEYS)
    if unknown_policy:
        raise RequestError([(unknown_policy[0], "unknown execution key (known: "
                                                f"{', '.join(sorted(_EXECUTION_KEYS))})")])
    order_type = str(payload.get("order_type", "MARKET")).upper()
    if order_type in _UNSUPPORTED_ORDER_TYPES:
        raise RequestError([("order_type", f"{order_type} is not supported by the execution "
                                            "stack (MARKET and LIMIT only)")])
    out: dict[str, Any] = {}
    conflicts = [(key, name) for key, name in _PAYLOAD_ALIASES.items()
                 if payload.get(key) is not None and payload.get(name) is not None
                 and payload[key] != payload[name]]
    if conflicts:
        raise RequestError([(key, f"{payload[key]!r} contradicts {name}={payload[name]!r}: "
                                  "send one of them") for key, name in conflicts])
    for key, value in payload.items():
        name = _PAYLOAD_ALIASES.get(key, key)
        if name in fields_ and value is not None:
            out[name] = value
    if order_type == "MARKET":
        out.pop("limit_price", None)  # Kite ignores a MARKET order's price; so do we
    return out

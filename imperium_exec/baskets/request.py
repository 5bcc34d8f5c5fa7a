"""BasketRequest: several legs (each an :class:`ExecutionRequest`) executed as one unit, and
the basket's policy. Validated like a single request: a :class:`RequestError` with one line per
problem, named ``legs[i].key`` by the payload key the desk sent; nothing reaches a broker."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..algos.plan import ExecutionPlan
from ..instruments import (
    ContractSymbol,
    InstrumentMaster,
    UnknownInstrumentError,
    parse_contract,
)
from ..request import ExecutionRequest, RequestError
from .legging import LegFacts, LeggingRules

MAX_LEGS = 20


class BasketPolicy(BaseModel):
    """How the legs are sequenced and kept together."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    #: Shorts go out only as far as the longs of their group (same underlying, expiry and
    #: type) have filled; on exit, shorts are bought back before longs are sold.
    hedge_first: bool = True
    #: Turning hedge-first off sends every leg at once: the trader must say they accept that a
    #: short may fill before its hedge (legging risk).
    acknowledge_legging_risk: bool = False
    #: How many of its own slices a leg may run ahead of the slowest leg (None: no balancing).
    balance_slices: Annotated[float, Field(gt=0, le=100)] | None = 1.0
    #: A child held (by its hedge or by balance) this long, with nothing moving in the basket
    #: and nothing of it on its way to the market, stops the basket with a report.
    stall_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    #: A short's attempt of unknown outcome (an ambiguous answer, its tag not found by the
    #: reconcile) counts against its group's cover until the order book, read at least this
    #: long after, still does not show its tag: then it is taken as never placed and its units
    #: may go again (the tag stays watched: a late order is cancelled, its fills reported;
    #: one that turns up later than this and fills first sells the short twice). Unknown
    #: units hold the stall clock for this plus ``stall_timeout_s`` at most.
    unknown_wait_s: Annotated[float, Field(gt=0, le=900)] = 60.0
    #: Hedge children always take liquidity (their fills are what let the shorts go; a hedge
    #: resting at the mid holds the whole basket): at the touch (a MARKET leg at the market),
    #: or with a limit this many ticks through it.
    pay_up_ticks: Annotated[int, Field(ge=0, le=50)] = 0
    #: Ask the broker for the basket's margin (hedge benefit included) before sending.
    check_margin: bool = True

    @model_validator(mode="after")
    def _legging_risk_acknowledged(self) -> Self:
        if not self.hedge_first and not self.acknowledge_legging_risk:
            raise ValueError("hedge_first: off sends shorts before their hedges have filled "
                             "(set acknowledge_legging_risk=True to accept that)")
        return self


class BasketRequest(BaseModel):
    """The legs and the policy. A one-leg basket executes exactly like its request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    legs: Annotated[tuple[ExecutionRequest, ...], Field(min_length=1, max_length=MAX_LEGS)]
    policy: BasketPolicy = BasketPolicy()

    @model_validator(mode="after")
    def _legs_fit_together(self) -> Self:
        if len(self.legs) == 1:
            return self
        problems: list[str] = []
        seen: dict[tuple[str, str], int] = {}
        for i, leg in enumerate(self.legs):
            try:
                parse_contract(leg.tradingsymbol)
            except UnknownInstrumentError as exc:
                problems.append(f"legs[{i}].tradingsymbol: {exc}")
            key = (leg.exchange, leg.tradingsymbol)
            if key in seen and self.legs[seen[key]].side is not leg.side:
                problems.append(f"legs[{i}].tradingsymbol: {leg.tradingsymbol} is bought and "
                                f"sold in one basket (legs[{seen[key]}]): net them into one leg")
            seen.setdefault(key, i)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def from_payloads(cls, payloads: list[dict[str, Any]], *,
                      instrument_master: InstrumentMaster | None = None,
                      on_date: dt.date | None = None, **policy: Any) -> BasketRequest:
        """Legs from the desk's Kite-style payloads (as :meth:`ExecutionRequest.from_payload`
        reads them), policy from keywords. Problems of every leg are reported at once."""
        if not payloads:
            raise RequestError([("legs", "a basket needs at least one leg")])
        legs: list[ExecutionRequest] = []
        problems: list[tuple[str, str]] = []
        for i, payload in enumerate(payloads):
            try:
                legs.append(ExecutionRequest.from_payload(
                    payload, instrument_master=instrument_master, on_date=on_date))
            except RequestError as exc:
                problems += [(f"legs[{i}].{key}", reason) for key, reason in exc.problems]
        try:
            basket_policy = BasketPolicy.model_validate(policy)
        except ValidationError as exc:
            problems += _problems(exc)
        if problems:
            raise RequestError(problems)
        try:
            return cls(legs=tuple(legs), policy=basket_policy)
        except ValidationError as exc:
            raise RequestError(_problems(exc)) from None

    def contracts(self) -> list[ContractSymbol | None]:
        """Each leg's contract (None for a one-leg basket's symbol that is not F&O)."""
        out: list[ContractSymbol | None] = []
        for leg in self.legs:
            try:
                out.append(parse_contract(leg.tradingsymbol))
            except UnknownInstrumentError:
                out.append(None)
        return out

    def legging_rules(self, plans: list[ExecutionPlan] | None = None) -> LeggingRules:
        """The basket's rules; a leg's slice is its largest planned child (the whole leg
        without ``plans``)."""
        facts: list[LegFacts] = []
        for i, (leg, contract) in enumerate(zip(self.legs, self.contracts(), strict=True)):
            group = (contract.underlying, contract.expiry, contract.kind) if contract \
                else (leg.tradingsymbol, "", "")
            largest = max((c.quantity for c in plans[i].children), default=leg.quantity) \
                if plans else leg.quantity
            facts.append(LegFacts(leg.tradingsymbol, leg.side,
                                  leg.quantity, group, slice_quantity=largest,
                                  strike=contract.strike if contract else None))
        policy = self.policy
        return LeggingRules(facts, hedge_first=policy.hedge_first,
                            balance_slices=policy.balance_slices)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if not field:
            for part in message.split("; "):
                name, _, reason = part.partition(": ")
                problems.append((name, reason))
        else:
            problems.append((field, f"{error['input']!r} is not allowed: {message}"))
    return problems


__all__ = ["MAX_LEGS", "BasketPolicy", "BasketRequest"]

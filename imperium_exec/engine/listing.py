"""Which instruments the broker lists, as far as the engine has learned: read on any thread with
no broker call, asked of the broker only from the engine's loop.

A broker declares ``BrokerCapabilities.lists``; answering may take its lock (the paper
exchange's) or worse, so the caller's thread (the desk's GUI thread) never calls it. The
desk's calls read the answers held here instead: a symbol known not to be listed is refused at
once, naming ``tradingsymbol``; a symbol not known yet is checked on the loop before anything
of its parent (or of its basket) is sent, the broker asked in a worker thread so the loop does
not wait on it either. Definite answers are kept for the engine's life (an exchange's listing
does not change within a session); "cannot tell" (None: Kite before its instruments dump came)
is asked again next time. :meth:`InstrumentListing.learn` asks ahead, off the caller's thread,
for the instruments the desk is about to trade (its chain's, a confirmation's).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterable

from ..request import ExecutionRequest, RequestError

log = logging.getLogger(__name__)

Lists = Callable[[str, str], "bool | None"]
Key = tuple[str, str]  # (tradingsymbol, exchange)


class InstrumentListing:
    """The broker's answers to "is ``(tradingsymbol, exchange)`` listed?", learned on the loop."""

    def __init__(self, lists: Lists | None, broker_name: str) -> None:
        self._lists = lists
        self.broker_name = broker_name
        self._answers: dict[Key, bool] = {}
        self._lock = threading.Lock()
        self._asking: dict[Key, asyncio.Future[bool | None]] = {}  # the loop's only

    # ------------------------------------------------------------------ any thread

    def known(self, tradingsymbol: str, exchange: str) -> bool | None:
        """The answer held: True (listed), False (not listed), None (not learned yet, or the
        broker cannot tell). Never calls the broker."""
        with self._lock:
            return self._answers.get((tradingsymbol, exchange))

    def refusal_now(self, request: ExecutionRequest) -> str | None:
        """Why ``request``'s instrument is refused from what is known now (no broker call), or
        None (listed, or not known yet: the loop checks it)."""
        if self.known(request.tradingsymbol, request.exchange) is False:
            return self.reason(request)
        return None

    def check_now(self, request: ExecutionRequest) -> None:
        """Raise ``RequestError`` naming ``tradingsymbol`` for an instrument known not to be
        listed (no broker call: one not known yet is checked on the loop before its first
        child, :meth:`parent_refusal`)."""
        reason = self.refusal_now(request)
        if reason is not None:
            raise RequestError([("tradingsymbol", reason)])

    def reason(self, request: ExecutionRequest) -> str:
        return (f"{request.tradingsymbol} is not listed on {request.exchange} "
                f"({self.broker_name})")

    def learn(self, loop: asyncio.AbstractEventLoop,
              keys: Iterable[Key]) -> concurrent.futures.Future[None]:
        """Ask the broker about ``keys`` not known yet, on ``loop`` (any thread; returns at
        once). The future is done when every answer came."""
        wanted = [key for key in dict.fromkeys(keys) if self.known(*key) is None]
        if not wanted or self._lists is None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        return asyncio.run_coroutine_threadsafe(self._learn(wanted), loop)

    # ------------------------------------------------------------------ the loop

    async def check(self, tradingsymbol: str, exchange: str) -> bool | None:
        """The answer held, else the broker's (in a worker thread; one question at a time per
        instrument). A definite answer is kept. A failing check cannot tell (None), as for a
        broker without a list: the broker itself refuses an unknown instrument then."""
        key = (tradingsymbol, exchange)
        held = self.known(*key)
        if held is not None or self._lists is None:
            return held
        asking = self._asking.get(key)
        if asking is None:
            loop = asyncio.get_running_loop()
            asking = loop.run_in_executor(None, self._ask, key)
            self._asking[key] = asking
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        return await asyncio.shield(asking)

    async def refusal(self, request: ExecutionRequest) -> str | None:
        """Why ``request``'s instrument is refused (the broker says it is not listed), or
        None."""
        if await self.check(request.tradingsymbol, request.exchange) is False:
            return self.reason(request)
        return None

    async def parent_refusal(self, request: ExecutionRequest) -> str | None:
        """On the loop, before anything of a parent is sent: why its instrument is refused
        (the broker does not list it), as its ``finished`` row says it, or None."""
        reason = await self.refusal(request)
        return None if reason is None else f"tradingsymbol: {reason}; nothing was sent"

    async def basket_refusal(self, requests: list[ExecutionRequest]) -> str | None:
        """:meth:`parent_refusal` for every leg of a basket (``legs[i]``), before any leg
        starts."""
        reasons = await asyncio.gather(*(self.refusal(r) for r in requests))
        refused = [f"legs[{i}].tradingsymbol: {reason}"
                   for i, reason in enumerate(reasons) if reason is not None]
        return "; ".join(refused) + "; nothing was sent" if refused else None

    async def _learn(self, keys: list[Key]) -> None:
        await asyncio.gather(*(self.check(*key) for key in keys))

    def _ask(self, key: Key) -> bool | None:
        """The broker's answer (a worker thread)."""
        assert self._lists is not None
        try:
            answer = self._lists(*key)
        except Exception:
            log.warning("instrument check of %s:%s failed; it goes unchecked", key[1], key[0],
                        exc_info=True)
            return None
        if answer is None:
            return None
        with self._lock:
            self._answers[key] = bool(answer)
        return bool(answer)

"""The engine: runs parents on its own asyncio loop and thread, with no Qt.

``execution_engine`` is the parents' lifecycle (submit, controls, the session, shutdown);
``schedule`` one parent's slices; ``placement`` one child (price, slot, brake, reconcile, retry);
``cancelling`` working children cancelled and confirmed; ``finishing`` final rows and the result;
``order_tracker`` stream updates and the shared order book; ``market_data`` quotes with source
and age; ``rate_budget`` and ``gateway`` the account's one request budget; ``markouts``;
``event_factory`` (engine state to event rows); ``state`` (parents and children); ``runtime``
(the thread, the loop and the services on it).

May import: the public top level, ``algos``, ``costs``, ``brokers.base`` / ``brokers.errors``,
``baskets``. Nothing here imports a broker's own folder, ``sim``, Qt or the widgets.
"""

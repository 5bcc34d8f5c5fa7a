"""After a crash: what the journal says was still working, matched with the broker's order book.

- :mod:`.journal`: the day's parents with no ``finished`` row, their children's orders and what
  was journaled as filled on each (read backwards from the journal's end, today's rows only);
- :mod:`.report`: :class:`~.report.RecoveryReport`, what a restart found (each orphan parent, its
  open orders, the fills made while the desk was down), for the trader to decide on.

The engine acts on it (``engine.recovering``): it never sends anything until the trader cancels
the orphans or adopts one.
"""

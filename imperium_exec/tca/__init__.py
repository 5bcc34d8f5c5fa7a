"""Transaction-cost analysis of the journals: ``imperium-exec tca FILES...``.

Reads one or many JSONL journals with DuckDB straight from the files (no rows in Python
lists), works out each parent's cost against its arrival and decision prices, and writes a
self-contained HTML report (charts are inline SVG drawn here: no scripts, nothing fetched)
and a terminal summary. Positive is a cost throughout, for buys and sells alike; the sign
convention and the definitions are those of ``imperium_exec/costs/shortfall.py``.

- :mod:`.sources`: which files a command line names (globs, folders), with a clear error;
- :mod:`.query`: :class:`~.query.TcaQuery`, the DuckDB session: load the journals, then ask
  every figure of the report, as small typed results (:class:`.figures.TcaFigures`);
- :mod:`.journal`: the journal staged once and the per-parent and per-fill tables over it;
- :mod:`.breakdowns`, :mod:`.expected`, :mod:`.operations`: the breakdowns, expected against
  realized, and operations and latency queries; :mod:`.sql`, :mod:`.scales`: SQL quoting and
  round numbers for bins and axes;
- :mod:`.figures`: those results;
- :mod:`.svg`: the charts; :mod:`.report`: the HTML page; :mod:`.summary`: the terminal text;
- :mod:`.progress`: a progress bar on stderr while the journal is read;
- :mod:`.command`: the ``tca`` subcommand.

No Qt here: the report is plain text built in Python.
"""

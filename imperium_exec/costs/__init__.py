"""Cost and impact models: the slippage estimate (``slippage``), the Almgren-Chriss schedule
and impact (``almgren_chriss``), Zerodha's option charges (``charges``), option margin with the
hedge benefit (``margin``) and the implementation shortfall's parts (``shortfall``).

Pure functions and small value types; imports only the public top level (request, events,
timeutil).
"""

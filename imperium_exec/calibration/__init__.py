"""``imperium-exec calibrate``: fits from the journal's own fills. ``slippage_fit`` fits the
slippage model's impact coefficients; ``volume_fit`` the intraday volume curve per underlying
and day kind. Imports the public top level and ``costs``.
"""

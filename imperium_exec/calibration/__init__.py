"""``imperium-exec calibrate``: fits from the journal's own fills. ``slippage_fit`` fits the
slippage model's impact coefficients (it names every public part; the parts live in
``slippage_observations``, ``market_move``, ``slippage_regression``, ``slippage_calibrate``,
``slippage_held_out``, ``slippage_checks``, ``slippage_files`` and ``slippage_choice``);
``volume_fit`` the intraday volume curve per underlying and day kind. Imports the public top
level and ``costs``.
"""

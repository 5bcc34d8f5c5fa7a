"""Data files shipped with imperium-exec: dated exchange configuration, volume curves, fonts.

Load them with ``importlib.resources.files("imperium_exec.resources")``.
"""

"""The desk demo: a main window wired like ImperiumMainWindow, its panels, and the scripted
headless session behind ``imperium-exec demo``."""

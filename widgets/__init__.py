"""Qt widgets shipped as ``imperium_exec.widgets``: the execution dock and the desk demo."""

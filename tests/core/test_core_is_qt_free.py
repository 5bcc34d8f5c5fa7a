"""The core is Qt-free: importing every module of ``imperium_exec`` (but the stack facade and
the widgets) loads no PySide6, shiboken6, pyqtgraph or qasync. Checked in a fresh interpreter,
since this test process has Qt loaded already."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import imperium_exec

QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "qasync")
#: The only core module allowed Qt (the facade the desk embeds), and the Qt views.
QT_ALLOWED = ("imperium_exec.stack", "imperium_exec.widgets")


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(imperium_exec.__path__, "imperium_exec.")]
    return sorted(n for n in names if not n.startswith(QT_ALLOWED))


def test_every_core_module_imports_without_qt() -> None:
    modules = core_modules()
    assert "imperium_exec.engine.execution_engine" in modules
    assert "imperium_exec.brokers.kite.stream" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(','.join(loaded))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd="/")
    assert out.stdout.strip() == "", f"the core loaded {out.stdout.strip()}"

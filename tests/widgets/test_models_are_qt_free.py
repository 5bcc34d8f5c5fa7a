"""The dock's file names tell Qt-free from Qt: every ``widgets/<part>_model.py`` imports without
loading PySide6, shiboken6, pyqtgraph or qasync (its ``<part>_view.py`` is the Qt half).

Checked in a fresh interpreter that skips ``widgets/__init__.py`` (it imports the dock, which is
Qt), since this test process has Qt loaded already."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imperium_exec.widgets

QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "qasync")


def model_modules() -> list[str]:
    folders = [Path(p) for p in imperium_exec.widgets.__path__]
    return sorted(f"imperium_exec.widgets.{f.stem}" for folder in folders
                  for f in folder.glob("*_model.py"))


def test_every_model_module_of_the_dock_imports_without_qt() -> None:
    modules = model_modules()
    assert {f"imperium_exec.widgets.{part}_model"
            for part in ("events", "orders", "parents", "tca", "table")} <= set(modules)
    script = (
        "import importlib, sys, types\n"
        "import imperium_exec\n"
        "package = types.ModuleType('imperium_exec.widgets')\n"
        f"package.__path__ = {list(imperium_exec.widgets.__path__)!r}\n"
        "sys.modules['imperium_exec.widgets'] = package\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(','.join(loaded))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd="/")
    assert out.stdout.strip() == "", f"a model module loaded {out.stdout.strip()}"

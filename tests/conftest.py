"""Test-wide setup: Qt renders offscreen (no display on CI), telemetry goes to a temp dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before any Qt import: without a display the default xcb platform aborts the interpreter.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")  # qasync picks its binding from this


@pytest.fixture(autouse=True)
def _telemetry_home(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test writes to the real ~/.imperium_desk."""
    home = tmp_path_factory.mktemp("imperium_desk")
    monkeypatch.setenv("IMPERIUM_DESK_HOME", str(home))
    yield home

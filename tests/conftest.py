"""Test-wide setup: Qt renders offscreen (no display on CI), telemetry goes to a temp dir."""

from __future__ import annotations

import gc
import itertools
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


# ---------------------------------------------------------------------------- dock and desk
# Fixtures for the widget tests (tests/test_dock_*.py, test_events_view.py, test_desk_*.py).

@pytest.fixture(autouse=True, scope="session")
def _qsettings_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test writes the real ~/.config (the dock keeps its column layout in QSettings)."""
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("qsettings")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture
def qsettings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A QSettings of the test's own (an INI file in tmp_path)."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "desk.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where widget tests save screenshots: $IMPERIUM_SCREENSHOT_DIR (to look at them) or
    the test's tmp_path."""
    wanted = os.environ.get("IMPERIUM_SCREENSHOT_DIR")
    folder = Path(wanted) if wanted else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True, scope="session")
def _no_collection_off_the_gui_thread() -> Iterator[None]:
    """Cyclic garbage is collected only on the main thread, after each test (below). Left to
    the collector, a QObject a test left in a reference cycle is freed on whichever thread
    next allocates enough, often an engine thread; a QTimer destroyed off its thread stays
    registered, and the main loop later fires it at freed memory (a segfault in
    QTimerInfoList::activateTimers, seen in about one full run in three). The shipped widgets
    and the stack are freed by their last reference and need no collector."""
    gc.disable()
    yield
    gc.enable()


_tests_run = itertools.count(1)


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread() -> Iterator[None]:
    """The young generations after every test (what the test made: milliseconds), everything
    every 50 tests (a full pass costs ~80 ms in this process)."""
    yield
    gc.collect(1 if next(_tests_run) % 50 else 2)


# ------------------------------------------------------------------- journals of many versions

@pytest.fixture(scope="session")
def engine_journal_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    """The engine's own rows of a paper run, whole (see tests/journal_versions.py); made once
    a session, for the tests that read them as every version of the schema."""
    from journal_versions import engine_rows

    return engine_rows(tmp_path_factory.mktemp("engine_journal"))


# ---------------------------------------------------------------------------- order
# `./dev test` runs the suite on parallel workers (pytest-xdist), handing tests out one at a
# time; the long scenarios go first so that they start at once on different workers instead
# of one of them being handed a 30 s soak at the end.

def _expected_seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("slow")
    if marker is None:
        return 0.0
    return float(marker.kwargs.get("seconds", 1.0))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow first, the longest (by their ``seconds``) first; the rest keep their
    order."""
    items.sort(key=lambda item: -_expected_seconds(item))

"""Fixtures of the dock tests: a journal writer and the stack double that sends its rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dock_support import StackDouble

from imperium_exec.telemetry import FillQualityTracker


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[FillQualityTracker]:
    with FillQualityTracker("paper", tmp_path) as t:
        yield t


@pytest.fixture
def stack(tracker: FillQualityTracker) -> StackDouble:
    return StackDouble(tracker)

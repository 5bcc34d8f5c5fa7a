"""The restart tests' desk processes (see desks.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .desks import Desks


@pytest.fixture(scope="session")
def desks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desks]:
    started = Desks(tmp_path_factory.mktemp("desk_home"))
    yield started
    started.close()

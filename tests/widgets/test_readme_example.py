"""The README's embedding example, run exactly as printed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

README = Path(__file__).resolve().parents[2] / "README.md"


def embedding_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (example,) = [b for b in blocks if "class ImperiumMainWindow" in b]
    return example


def test_the_readme_embedding_example_runs_as_printed(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPERIUM_DESK_HOME", str(tmp_path))  # its journal goes here
    namespace: dict[str, Any] = {}
    exec(compile(embedding_example(), str(README), "exec"), namespace)
    window = namespace["ImperiumMainWindow"]()
    qtbot.addWidget(window)
    window.show()
    chain = window.stack.broker.option_chain("NIFTY", strikes_each_side=1)  # listed today
    symbol = chain.rows[0].call.tradingsymbol
    payload = {"tradingsymbol": symbol, "exchange": "NFO", "transaction_type": "BUY",
               "quantity": chain.lot_size, "order_type": "LIMIT", "price": -5, "product": "NRML"}
    window._execute_single_strike_order(payload)  # refused: says why, by the desk's key
    assert window.statusBar().currentMessage() == (
        "Refused: price: -5 is not allowed: input should be greater than 0")
    shown: list[str] = []
    window.statusBar().messageChanged.connect(shown.append)
    with qtbot.waitSignal(window.stack.parent_finished, timeout=20_000):
        window._execute_orders([dict(payload, order_type="MARKET", price=None)])
    assert shown[0] == f"accepted: {symbol} working"  # its slots ran on its rows
    assert shown[-1].startswith(f"finished: {symbol} ")
    window.close()  # its closeEvent shuts the stack down
    assert (tmp_path / "execution_quality_paper.jsonl").exists()

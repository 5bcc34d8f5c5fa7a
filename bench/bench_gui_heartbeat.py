"""GUI responsiveness: a 1 ms QTimer heartbeat while a slow broker (200 ms per call) works.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_gui_heartbeat.py``. Measures the
heartbeat's gaps side by side: idle, then while 20 parents go through a broker that blocks each
call for 200 ms. If a broker call ran on the GUI thread the gap would be >= 200 ms.
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication

from imperium_exec import ExecutionRequest, ExecutionStack
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import RealClock
from imperium_exec.engine.execution_engine import EngineConfig


def heartbeat_gaps(app: QApplication, seconds: float, work: object = None) -> list[int]:
    gaps: list[int] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def beat() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now
        if now > seconds * 1000:
            app.quit()

    timer = QTimer()
    timer.setInterval(1)
    timer.timeout.connect(beat)
    timer.start()
    if callable(work):
        QTimer.singleShot(0, work)
    app.exec()
    timer.stop()
    return gaps


def summary(gaps: list[int]) -> str:
    ordered = sorted(gaps)
    return (f"{len(gaps)} beats, p50 {ordered[len(ordered) // 2]} ms, "
            f"p99 {ordered[int(len(ordered) * 0.99)]} ms, max {ordered[-1]} ms")


def main() -> int:
    app = QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as tmp:
        broker = InMemoryBroker(clock=RealClock(), latency_s=0.2)
        stack = ExecutionStack(broker, "paper", clock=RealClock(), telemetry_dir=tmp,
                               config=EngineConfig(poll_interval_s=0.1))
        request = ExecutionRequest.model_validate(dict(
            tradingsymbol="NIFTY26D0125000CE", exchange="NFO", side="BUY", quantity=130,
            lot_size=65, tick_size=0.05, freeze_quantity=1800, bid=100.0, ask=100.5))
        idle = heartbeat_gaps(app, 2.0)
        busy = heartbeat_gaps(app, 3.0, lambda: [stack.execute(request) for _ in range(20)])
        calls = broker.place_calls
        stack.shutdown()
    print("| heartbeat (1 ms timer) | gaps |\n|---|---|")
    print(f"| idle | {summary(idle)} |")
    print(f"| 20 parents, broker blocking 200 ms per call ({calls} placements) | "
          f"{summary(busy)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

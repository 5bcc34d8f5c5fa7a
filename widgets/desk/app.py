"""``imperium-exec demo``: the desk on the paper exchange (or Kite, with credentials).

Headless (``--headless --run-for 10 --screenshot desk.png``): renders offscreen, drives a
scripted session through both panels, saves a picture of the window and exits.
"""

from __future__ import annotations

import ctypes.util
import gc
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...brokers.kite.broker import KiteBroker
    from ...stack import ExecutionStack
    from .live import KiteChain


@dataclass(frozen=True)
class DemoOptions:
    headless: bool = False
    run_for: float | None = None  # seconds, then exit (with a screenshot when asked)
    screenshot: Path | None = None
    script: bool | None = None  # None: scripted when headless
    pace_s: float = 0.7  # between the scripted session's steps
    mode: str = "paper"
    seed: int = 7
    telemetry_dir: Path | None = None
    faults: bool = True  # paper: occasional 503s and realistic latency
    api_key: str | None = None
    access_token: str | None = None
    width: int = 1760
    height: int = 1040


class DemoError(RuntimeError):
    """The demo cannot start (e.g. live mode without credentials)."""


def paper_broker(seed: int, faults: bool) -> Any:
    from ...brokers.paper.broker import PaperBroker
    from ...sim.config import FaultConfig, FaultKind

    if not faults:
        return PaperBroker(seed=seed)
    # So the dock shows both within seconds: the second placement times out before it is sent
    # (a retry row, then the order), the third times out after (a reconciling row while its
    # tag is looked up, then found: a reconciled row, never placed twice). Then a few percent
    # of placements hit a 503 or a gateway page, about 20 ms to the exchange.
    return PaperBroker(seed=seed, latency_ms=18.0, faults=FaultConfig(
        server_error_rate=0.04, gateway_error_rate=0.01,
        script=(FaultKind.NONE, FaultKind.TIMEOUT_BEFORE_SEND, FaultKind.GHOST)))


def live_broker(options: DemoOptions) -> KiteBroker:
    """KiteBroker from explicit credentials (refuses before any window opens)."""
    api_key = options.api_key or os.environ.get("KITE_API_KEY")
    token = options.access_token or os.environ.get("KITE_ACCESS_TOKEN")
    if not api_key or not token:
        raise DemoError("live mode needs explicit Kite credentials: --api-key and "
                        "--access-token (or KITE_API_KEY and KITE_ACCESS_TOKEN)")
    from kiteconnect import KiteConnect

    from ...brokers.kite.broker import KiteBroker

    kite = KiteConnect(api_key=api_key)
    kite.set_access_token(token)
    return KiteBroker(kite)


def live_chain(stack: ExecutionStack) -> KiteChain:
    """The live option chain, all from the stack: the instruments dump (shared with the
    engine's ticker) and the market-data service's quotes (Kite allows one quote call a second
    per account: the chain never makes its own)."""
    from .live import KiteChain

    return KiteChain(quotes=stack)


def run_demo(options: DemoOptions) -> int:
    scripted = options.script if options.script is not None else options.headless
    if options.mode == "live" and scripted:
        raise DemoError("the scripted session never runs in live mode (use --no-script)")
    if options.mode == "live":
        broker = live_broker(options)  # refuses before any window opens
    else:
        broker = paper_broker(options.seed, options.faults)
    if options.headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif not (os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY")
              or os.environ.get("WAYLAND_DISPLAY")):
        # Qt would abort the interpreter; say what to do instead.
        raise DemoError("no display found (DISPLAY and WAYLAND_DISPLAY are unset): run "
                        "'imperium-exec demo --headless --run-for 10 --screenshot desk.png', "
                        "or start it from a desktop session")
    else:
        check_window_libraries()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ...stack import ExecutionStack
    from ..fonts import desk_font
    from ..theme import dark_palette
    from .script import DemoScript
    from .window import DeskWindow

    app = QApplication.instance() or QApplication([sys.argv[0], "-platform", "offscreen"]
                                                  if options.headless else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Imperium Desk")
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setFont(desk_font(9))

    stack = ExecutionStack(broker, "live" if options.mode == "live" else "paper",
                           telemetry_dir=options.telemetry_dir)
    # Live: the chain reads the stack's quotes, so it is built once the stack exists.
    chain_source = live_chain(stack) if options.mode == "live" else None
    window = DeskWindow(stack, chain_broker=chain_source,
                        poll_ms=3000 if options.mode == "live" else 1000)
    screen = app.primaryScreen()
    room = screen.availableGeometry() if screen is not None and not options.headless else None
    # A window never larger than the screen it opens on (Cancel all stays in sight).
    window.resize(min(options.width, room.width()) if room else options.width,
                  min(options.height, room.height()) if room else options.height)
    window.show()
    print(f"journal: {stack.tracker.path}", flush=True)
    # Everything built so far lives as long as the window: keep it out of the garbage
    # collector's full passes, which otherwise walk it every time and stall the GUI for
    # 20-40 ms on this machine (CPython's gc.freeze, meant for long-lived processes).
    gc.freeze()

    if scripted:
        DemoScript(window, pace_ms=round(options.pace_s * 1000)).start()

    outcome = {"saved": True}
    if options.run_for is not None:
        def finish() -> None:
            if options.screenshot is not None:
                window.dock.refresh_now()
                outcome["saved"] = save_screenshot(window, options.screenshot)
            window.close()
            app.quit()

        QTimer.singleShot(round(options.run_for * 1000), finish)
    try:
        code = app.exec()
    finally:
        if chain_source is not None:
            window.poller.stop()  # no refresh after this one: it would watch again
            chain_source.close()
        stack.shutdown()
    if not outcome["saved"]:
        print(f"imperium-exec demo: could not write {options.screenshot}", file=sys.stderr)
        return 1
    if options.screenshot is not None:
        print(f"screenshot: {options.screenshot}")
    return code


def check_window_libraries() -> None:
    """On X11, Qt's xcb platform needs libxcb-cursor0, which minimal systems lack (Qt would
    abort with a cryptic message): say how to get it before any window is tried."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if sys.platform != "linux" or platform not in ("", "xcb") \
            or os.environ.get("WAYLAND_DISPLAY") or not os.environ.get("DISPLAY"):
        return
    if ctypes.util.find_library("xcb-cursor") is None:
        raise DemoError("the window needs the system library libxcb-cursor0 (Debian/Ubuntu: "
                        "sudo apt-get install libxcb-cursor0; './dev demo' installs it and "
                        "the rest of Qt's X11 libraries), or run it --headless")


def save_screenshot(window: Any, path: Path) -> bool:
    """Render the whole window (dock included) to a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return bool(window.grab().save(str(path)))

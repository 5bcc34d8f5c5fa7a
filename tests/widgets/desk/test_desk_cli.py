"""``imperium-exec demo``: arguments, refusals, and the headless run that saves a picture."""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imperium_exec import cli
from imperium_exec.telemetry import read_rows


def test_help_lists_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    out = capsys.readouterr().out
    for option in ("--headless", "--run-for", "--screenshot", "--pace", "--mode",
                   "--telemetry-dir"):
        assert option in out


def test_a_screenshot_needs_a_run_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--headless", "--screenshot", "x.png"]) == 2
    assert "--screenshot needs --run-for" in capsys.readouterr().err


def test_the_scripts_pace_must_be_above_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--headless", "--pace", "0"]) == 2
    assert "--pace must be above 0 seconds" in capsys.readouterr().err


def test_live_mode_needs_explicit_credentials(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITE_API_KEY", raising=False)
    monkeypatch.delenv("KITE_ACCESS_TOKEN", raising=False)
    assert cli.main(["demo", "--mode", "live", "--no-script"]) == 2
    assert "live mode needs explicit Kite credentials" in capsys.readouterr().err
    assert cli.main(["demo", "--mode", "live", "--headless"]) == 2
    assert "never runs in live mode" in capsys.readouterr().err


def test_subcommands_are_pluggable() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["demo", "--headless", "--run-for", "2", "--size", "800x600"])
    assert args.run is cli.run_demo_command and args.run_for == 2.0


@pytest.mark.slow(seconds=7)
def test_headless_demo_trades_through_both_panels_and_saves_a_picture(
        tmp_path: Path, screenshot_dir: Path) -> None:
    command = shutil.which("imperium-exec", path=str(Path(sys.executable).parent))
    assert command is not None
    picture = tmp_path / "desk.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    # The script's steps 0.2 s apart (not 0.7): its exit has filled about 2.2 s after its
    # first step, the faults' retry and reconciled rows (each after the client's 2 s timeout)
    # about 2.5 s; the 5 s leave as much again for a loaded machine.
    done = subprocess.run([command, "demo", "--headless", "--pace", "0.2", "--run-for", "5",
                           "--screenshot", str(picture), "--telemetry-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert f"screenshot: {picture}" in done.stdout
    assert f"journal: {tmp_path / 'execution_quality_paper.jsonl'}" in done.stdout
    assert picture.stat().st_size > 50_000
    shutil.copy(picture, screenshot_dir / "desk_cli.png")
    rows = read_rows(tmp_path / "execution_quality_paper.jsonl")
    algos = {r["execution_algo"] for r in rows if r["event"] == "accepted"}
    assert {"IMMEDIATE", "TWAP"} <= algos
    events = [r["event"] for r in rows]
    assert "basket_accepted" in events  # the Buy/Exit panel's baskets ran too
    assert {r["leg_role"] for r in rows if r["event"] == "accepted"} >= {"hedge", "covered"}
    assert "retry" in events and "reconciled" in events  # what the demo says it shows
    # The wait on the order book is written when it starts: the reconciled child's row before.
    found = next(r for r in rows if r["event"] == "reconciled")
    waited = [r for r in rows[:rows.index(found)]
              if r["event"] == "reconciling" and r["child_id"] == found["child_id"]]
    assert [r["tag"] for r in waited] == [found["tag"]]
    # The iron condor went in and out (its last step): every leg it exited ends flat, the
    # entry's and the exit's fills netting to zero per symbol.
    legs: dict[str, set[str]] = {}
    net: dict[str, int] = {}
    for r in rows:
        if r["event"] == "finished" and r["basket_id"] is not None:
            legs.setdefault(r["tradingsymbol"], set()).add(r["basket_id"])
            sign = 1 if r["side"] == "BUY" else -1
            net[r["tradingsymbol"]] = net.get(r["tradingsymbol"], 0) \
                + sign * r["parent_filled_quantity"]
    exited = [symbol for symbol, baskets in legs.items() if len(baskets) > 1]
    assert exited, "the demo's exit did not run"
    assert {symbol: net[symbol] for symbol in exited} == dict.fromkeys(exited, 0)


def test_a_window_without_a_display_is_refused_with_advice_not_a_crash(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["demo", "--no-script"]) == 2
    err = capsys.readouterr().err
    assert "no display found" in err and "--headless" in err


def test_a_window_on_x11_without_libxcb_cursor_is_refused_saying_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(ctypes.util, "find_library",
                        lambda name: None if name == "xcb-cursor" else f"lib{name}.so")
    assert cli.main(["demo", "--no-script"]) == 2
    err = capsys.readouterr().err
    assert "libxcb-cursor0" in err and "./dev demo" in err and "--headless" in err

"""The benchmark command's harness (``bench/run.py``): what it writes, not how fast anything is.

Its quick mode on a cheap section, a section that raises and one that is not in the tree; each
section runs in a child process, as ``./dev bench`` runs it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def _load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run() -> ModuleType:
    return _load_run()


def test_quick_run_writes_the_header_and_every_chosen_section(run: ModuleType,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    code = run.main(["--quick", "--only", "telemetry", "suite", "--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert code == 0
    for field in ("date", "command", "commit", "CPU", "cores", "memory", "OS", "Python",
                  "kiteconnect", "orjson", "pydantic", "numpy", "duckdb", "pyqtgraph", "qasync",
                  "imperium-exec"):
        assert f"| {field} |" in text, field
    assert "| PySide6" in text
    assert "### Telemetry write path" in text
    assert "| FillQualityTracker |" in text
    assert "### Test suite wall time\n\nskipped in --quick." in text
    assert "| ok |" in text and "failed" not in text and "FAILED" not in text
    assert text.count("*Section wall time:") == 2


def test_a_section_that_raises_is_reported_with_its_traceback_and_the_others_still_run(
        run: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bench_boom.py").write_text(
        "def results(quick: bool) -> str:\n    return str(1 / 0)\n", encoding="utf-8")
    (tmp_path / "bench_fine.py").write_text(
        "def results(quick: bool) -> str:\n    return f'### Fine\\n\\nquick={quick}\\n'\n",
        encoding="utf-8")
    monkeypatch.setattr(run, "SECTIONS", (
        run.Section("boom", "bench_boom", "Boom", tmp_path),
        run.Section("fine", "bench_fine", "Fine", tmp_path)))
    out = tmp_path / "RESULTS.md"
    code = run.main(["--quick", "--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert code == 1
    assert "### Boom\n\n**FAILED** (exit code 3)." in text
    assert "ZeroDivisionError: division by zero" in text
    assert "### Fine\n\nquick=True" in text
    assert "| [Boom](#boom) (`boom`) | failed |" in text


def test_a_section_not_in_the_tree_is_reported_as_absent_not_failed(
        run: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "SECTIONS", (
        run.Section("later", "bench_not_merged_yet", "Later", tmp_path),))
    out = tmp_path / "RESULTS.md"
    code = run.main(["--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert code == 0
    assert "section not present in this tree (`bench/bench_not_merged_yet.py`)" in text
    assert "| not present |" in text


def test_an_unknown_section_name_is_refused_before_anything_runs(
        run: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    assert run.main(["--quick", "--only", "no_such_section", "--out", str(out)]) == 2
    assert not out.exists()


def test_keep_carries_the_other_sections_over_marked_with_the_run_that_measured_them(
        run: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("first", "second"):
        (tmp_path / f"bench_{name}.py").write_text(
            f"import os\n\ndef results(quick: bool) -> str:\n"
            f"    label = os.environ['RUN_LABEL']\n"
            f"    return '### {name.title()}\\n\\nmeasured by ' + label + '\\n'\n",
            encoding="utf-8")
    monkeypatch.setattr(run, "SECTIONS", (
        run.Section("first", "bench_first", "First", tmp_path),
        run.Section("second", "bench_second", "Second", tmp_path)))
    out = tmp_path / "RESULTS.md"
    monkeypatch.setenv("RUN_LABEL", "run one")
    assert run.main(["--quick", "--out", str(out)]) == 0
    monkeypatch.setenv("RUN_LABEL", "run two")
    assert run.main(["--quick", "--only", "second", "--keep", "--out", str(out)]) == 0
    monkeypatch.setenv("RUN_LABEL", "run three")
    assert run.main(["--quick", "--only", "first", "--keep", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "### First\n\nmeasured by run three" in text
    assert "### Second\n\nmeasured by run two" in text
    assert text.index("### First") < text.index("### Second")
    assert "| [Second](#second) (`second`) | ok |" in text
    assert "| this run |" in text and "kept from the run of" in text
    assert text.count("*Section wall time:") == 2

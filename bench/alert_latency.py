"""Append-to-alert latency while records arrive at 2,000 per second.

Records are real GDELT 2.0 events (resampled, see _data.py) arriving on a fixed schedule; each
append commits whatever has arrived (group commit, SQLite with fsync on every commit). A simple
detector — a material-conflict event (QuadClass 4) within 500 miles of Beirut — runs in the
engine on every append. Reported: the engine's own measure (commit of the triggering record to
commit of its alert) and the end-to-end one (arrival to alert commit).

Baseline, same stream in the same run: the same rule run by a poller once a second over the
records appended since its last look, the way a periodic query or cron-driven rule works.
Goal: p99 at most 50 ms.

    python bench/alert_latency.py [--rate 2000] [--seconds 15]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import sitroom
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.domain.geo import Point, haversine_m
from sitroom.domain.projection import AlertDraft
from sitroom.domain.records import Record, RecordBatch

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)
from _data import pct, resampled_v2

BEIRUT = Point(33.89, 35.50)
RADIUS_M = 500 * 1609.344


def matches(batch: RecordBatch) -> list[str]:
    """Ids of material-conflict events within 500 miles of Beirut (vectorised)."""
    events = batch.of_kinds(["gdelt.event"])
    if not len(events):
        return []
    df = pl.DataFrame(
        [
            pl.from_arrow(events.column("id")).alias("id"),
            events.payload_field("event.quad_class", pl.Int8).alias("q"),
            events.payload_field("action_geo.lat", pl.Float64).alias("lat"),
            events.payload_field("action_geo.lon", pl.Float64).alias("lon"),
        ]
    ).filter((pl.col("q") == 4) & pl.col("lat").is_not_null())
    if not df.height:
        return []
    d = haversine_m(df["lat"].to_numpy(), df["lon"].to_numpy(), BEIRUT)
    return df.filter(pl.Series(d <= RADIUS_M))["id"].to_list()


class ConflictNearBeirut:
    name = "bench-conflict-near-beirut"
    reads = ("summary",)

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]:
        return [
            AlertDraft(self.name, i, f"material conflict near Beirut: {i}", "warning", [i], [i])
            for i in matches(batch)
        ]

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        return []

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        return None


def stream(rows: int) -> RecordBatch:
    lookups = load_lookups()
    (inp,) = gdelt.open_inputs(str(resampled_v2(rows, seed=3)))
    return RecordBatch.concat([c.records for c in gdelt.chunks(inp, lookups)])


def run(
    records: RecordBatch, rate: float, work: Path, mode: str
) -> tuple[list[float], list[float], int]:
    ws = sitroom.init(work / mode)
    engine = ws.engine
    if mode == "engine":
        engine.detectors.append(ConflictNearBeirut())
    n = len(records)
    arrival = np.arange(n) / rate
    commit_to_alert: list[float] = []
    arrival_to_alert: list[float] = []
    pending: list[tuple[str, float, float]] = []  # baseline: (id, arrival, commit) not yet polled
    last_poll = 0.0
    start = time.perf_counter()
    i = 0
    while i < n:
        now = time.perf_counter() - start
        if arrival[i] > now:
            time.sleep(min(arrival[i] - now, 0.0005))
            continue
        j = int(np.searchsorted(arrival, now, side="right"))
        batch = records.slice(i, j - i)
        out = engine.append(batch)
        committed = time.perf_counter() - start
        if mode == "engine":
            done = time.perf_counter() - start
            index = {rid: k for k, rid in enumerate(batch.column("id").to_pylist())}
            for a in out.alerts:
                k = i + index[a.payload["triggered_by"][0]]
                arrival_to_alert.append((done - arrival[k]) * 1000)
        else:
            hits = set(matches(batch))
            ids = batch.column("id").to_pylist()
            pending += [
                (rid, arrival[i + k], committed) for k, rid in enumerate(ids) if rid in hits
            ]
            if committed - last_poll >= 1.0:
                last_poll = committed
                engine.append(
                    [
                        Record(
                            id=f"alert:poll:{rid}",
                            kind="alert",
                            kind_version=1,
                            source="poller",
                            payload={"title": f"near Beirut: {rid}"},
                        )
                        for rid, _, _ in pending
                    ]
                )
                done = time.perf_counter() - start
                commit_to_alert += [(done - c) * 1000 for _, _, c in pending]
                arrival_to_alert += [(done - a) * 1000 for _, a, _ in pending]
                pending.clear()
        i = j
    if pending:  # the poller's last look, after the stream ends
        done = time.perf_counter() - start
        commit_to_alert += [(done - c) * 1000 for _, _, c in pending]
    if mode == "engine":
        commit_to_alert = list(engine.metrics.alert_latency_ms)
    alerts = len(commit_to_alert)
    ws.close()
    return commit_to_alert, arrival_to_alert, alerts


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=2000)
    ap.add_argument("--seconds", type=float, default=15)
    args = ap.parse_args()
    records = stream(int(args.rate * args.seconds))
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        e_commit, e_arrival, e_n = run(records, args.rate, work, "engine")
        b_commit, _, b_n = run(records, args.rate, work, "poll")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{len(records):,} real GDELT events at {args.rate:,.0f}/s; rule: QuadClass 4 within "
        f"500 mi of Beirut ({e_n} alerts)"
    )
    print(
        f"sitroom engine, commit -> alert:  p50 {pct(e_commit, 50):.1f} ms, "
        f"p99 {pct(e_commit, 99):.1f} ms   [goal p99 <= 50 ms]"
    )
    print(
        f"sitroom engine, arrival -> alert: p50 {pct(e_arrival, 50):.1f} ms, "
        f"p99 {pct(e_arrival, 99):.1f} ms"
    )
    print(
        f"baseline 1 s poller, commit -> alert: p50 {pct(b_commit, 50):.1f} ms, "
        f"p99 {pct(b_commit, 99):.1f} ms ({b_n} alerts)"
    )
    print(
        "ratio p99 baseline / sitroom (commit -> alert): "
        f"{pct(b_commit, 99) / pct(e_commit, 99):.0f}x"
    )


if __name__ == "__main__":
    main()

"""Backtest throughput on the real data: forecasts per second, leaks, and the scores.

The workspace holds the real UCDP GED sample and the real GDELT 2.0 and 1.0 files shipped in
the package (sitroom.testing.samples), ingested through the connectors as `sitroom ingest` does.
sitroom's backtest (application.backtest.run) asks, at every 90-day window of the past and for
every known place (sitroom.domain.places), "at least T conflict events within 500 miles in the
next 90 days?" for T in (1, 3); it folds the events as they became known into a risk state
(spatial index, incremental) and forecasts each question with the live forecaster's members (base
rate, event count, nearby conflicts) and their aggregate, plus the climatology and last-value
baselines, then scores every forecaster (Brier, log, CRPS; skill against climatology). Leaks —
evidence used before it was known — must be 0.

Baseline, same forecast times, places and thresholds in the same run: the naive backtest. At
each forecast time it reads the events known by then from the log, counts each place's past
windows with a brute-force haversine (no index, no incremental fold), reads the next window's
events for the outcome, and forecasts with climatology and last value only. It computes less
per forecast than sitroom (two simple forecasters; no members, no aggregate), so the ratio
understates sitroom; its forecasts and outcomes are checked against sitroom's. Neither side's
forecasts/s includes scoring (sitroom's scoring time is printed apart).

    python bench/risk_backtest.py [--places 26] [--window 90d] [--thresholds 1 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import sitroom
from sitroom.adapters import ucdp
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.inputs import open_input
from sitroom.application import backtest
from sitroom.application.engine import Engine
from sitroom.application.ingest import IngestReport, declare, ingest
from sitroom.application.risk import Risk
from sitroom.application.session import Session
from sitroom.domain.events import EVENT_KINDS
from sitroom.domain.geo import haversine_m, parse_radius
from sitroom.domain.records import RecordBatch
from sitroom.domain.risk.evidence import conflict_events
from sitroom.domain.risk.members import clip, nb_tail
from sitroom.domain.timeutil import parse_duration
from sitroom.testing import samples

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)


def load(engine: Engine) -> list[IngestReport]:
    """UCDP GED, GDELT 2.0 and GDELT 1.0 files, as `sitroom ingest ucdp|gdelt` would."""
    lookups = load_lookups()
    declare(engine, [*gdelt.declarations(), ucdp.declaration()])
    reports = []
    for f in (*samples.GDELT_V2_FILES, *samples.GDELT_V1_FILES):
        for inp in gdelt.open_inputs(str(f)):
            reports.append(ingest(engine, inp.label, gdelt.chunks(inp, lookups)))
    sample = open_input(str(samples.UCDP_FILE))
    reports.append(ingest(engine, sample.label, ucdp.chunks(sample)))
    return reports


def events_between(engine: Engine, lo: int | None, hi: int) -> pl.DataFrame:
    """Conflict events valid in [lo, hi), read from the log."""
    frames = [
        conflict_events(b)
        for b in engine.log.read(kinds=list(EVENT_KINDS), valid_overlaps=(lo, hi))
    ]
    ev = pl.concat(frames) if frames else conflict_events(RecordBatch.empty())
    t = pl.col("valid_from")
    return ev.filter((t < hi) if lo is None else ((t >= lo) & (t < hi)))


def naive(engine: Engine, spec: backtest.Spec, times: list[int]) -> list[dict[str, Any]]:
    """Climatology and last value at each time, from the log, by brute force."""
    w, radius = spec.window_ms, spec.radius.meters
    quads = list(spec.quad_classes)
    rows = []
    for t in times:
        known = events_between(engine, None, t + 1)  # known = valid time (lag 0)
        first = known["valid_from"].min()
        n = int((t - first) // w) if first is not None and first < t else 0  # type: ignore[operator]
        past_ev = known.filter(pl.col("quad_class").is_in(quads))
        later = events_between(engine, t, t + w).filter(pl.col("quad_class").is_in(quads))
        vt = past_ev["valid_from"].to_numpy()
        lat, lon = past_ev["lat"].to_numpy(), past_ev["lon"].to_numpy()
        for place in spec.places:
            sel = (haversine_m(lat, lon, place.point) <= radius) & (vt >= t - n * w) & (vt < t)
            k = (t - 1 - vt[sel]) // w
            past = np.bincount(k.astype(np.int64), minlength=n)[:n][::-1]
            d = haversine_m(later["lat"].to_numpy(), later["lon"].to_numpy(), place.point)
            truth = int((d <= radius).sum())
            last = float(past[-1]) if n else 0.0
            for threshold in spec.thresholds:
                rows.append(
                    {
                        "place": place.name,
                        "t": t,
                        "threshold": threshold,
                        "count": truth,
                        "climatology": clip((float((past >= threshold).sum()) + 0.5) / (n + 1)),
                        "last value": clip(nb_tail(threshold, last, None)),
                    }
                )
    return rows


def agreement(fast: Sequence[backtest.Row], slow: list[dict[str, Any]]) -> tuple[int, float, int]:
    """Rows compared, the largest probability difference, outcomes that differ."""
    by_key = {(r.place, r.t, r.threshold): r for r in fast}
    worst, wrong = 0.0, 0
    for r in slow:
        f = by_key[(r["place"], r["t"], r["threshold"])]
        wrong += f.count != r["count"]
        for name in ("climatology", "last value"):
            worst = max(worst, abs(f.p[name] - r[name]))
    return len(slow), worst, wrong


def skill(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:+.1f}%"


def table(result: backtest.Backtested) -> list[str]:
    head = ("Brier", "skill", "log", "skill", "CRPS", "skill")
    lines = [f"  {'forecaster':<18}" + "".join(f"{h:>9}" for h in head)]
    for sc in result.scores:
        cells = []
        for v, sk, digits in (
            (sc.brier, sc.brier_skill, 4),
            (sc.log_score, sc.log_skill, 4),
            (sc.crps, sc.crps_skill, 3),
        ):
            cells += ["—" if v is None else f"{v:.{digits}f}", skill(sk)]
        lines.append(f"  {sc.forecaster:<18}" + "".join(f"{c:>9}" for c in cells))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--places", type=int, default=None, help="the first N default places")
    ap.add_argument("--window", default="90d")
    ap.add_argument("--thresholds", type=int, nargs="+", default=[1, 3])
    args = ap.parse_args()
    places = backtest.default_places()
    spec = backtest.Spec(
        places=places[: args.places] if args.places else places,
        radius=parse_radius("500mi"),
        window_ms=parse_duration(args.window),
        thresholds=tuple(args.thresholds),
        known="valid",  # what the naive baseline can do: the speed and agreement checks
    )
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        with sitroom.init(work / "ws") as ws:
            reports = load(ws.engine)
            started = time.perf_counter()
            result = Risk(Session.site(ws.engine)).backtest(spec)
            wall = time.perf_counter() - started
            times = sorted({r.t for r in result.rows})
            started = time.perf_counter()
            slow = naive(ws.engine, spec, times)
            slow_s = time.perf_counter() - started
            # The default: each event known when its source published it.
            published = Risk(Session.site(ws.engine)).backtest(replace(spec, known="published"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fast_rate = result.forecasts / result.seconds
    slow_rate = len(slow) / slow_s
    compared, worst, wrong = agreement(result.rows, slow)
    s = result.covered
    print(
        f"workspace: {sum(r.accepted for r in reports):,} records from {len(reports)} real files "
        f"(GDELT 2.0, GDELT 1.0, UCDP GED sample); {result.events:,} conflict events"
    )
    print(
        f"backtest: {len(s.places)} places x thresholds {list(s.thresholds)}, "
        f"{s.window_days:g}-day windows within {s.radius}, {(s.since or '')[:10]} to "
        f"{(s.until or '')[:10]}, known = {s.known}"
    )
    print(
        f"sitroom: {result.forecasts:,} forecasts at {result.forecast_times} forecast times "
        f"in {result.seconds:.2f} s = {fast_rate:,.0f} forecasts/s; leaks {result.leaks}"
        f"{'' if result.leaks == 0 else '  <-- MUST BE 0'}; base rate of yes "
        f"{100 * (result.base_rate or 0):.1f}%"
    )
    print(f"  scoring them took {wall - result.seconds:.2f} s more (not in forecasts/s)")
    print("scores (mean; lower is better; skill against climatology):")
    for line in table(result):
        print(line)
    print(
        f"baseline (naive: log read + brute-force haversine per time, climatology and last "
        f"value only): {len(slow):,} forecasts in {slow_s:.2f} s = {slow_rate:,.0f} forecasts/s"
    )
    print(
        f"baseline and sitroom agree: {compared:,} questions, max probability difference "
        f"{worst:.2g}, {wrong} outcomes differ"
    )
    print(
        "scores with each event known when its source published it (the default: GDELT's "
        "DATEADDED, UCDP a year late, ACLED a week), leaks "
        f"{published.leaks}; base rate of yes {100 * (published.base_rate or 0):.1f}%:"
    )
    for line in table(published):
        print(line)
    print(f"ratio forecasts/s sitroom / baseline: {fast_rate / slow_rate:.2f}x")
    if result.leaks or published.leaks:
        raise SystemExit(f"{result.leaks} leaks: evidence used before it was known")


if __name__ == "__main__":
    main()

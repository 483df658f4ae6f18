"""Re-forecast latency: one conflict event appended while 50 questions are open.

The workspace (SQLite, default durability: fsync on every commit) holds a background of real
conflict events: 200,000 GDELT 2.0 rows resampled from the real files (_data.py) and the real
UCDP GED sample. The clock stands just after the newest GDELT event, so the background's last
weeks are inside every question's look-back (a count question reads 12 past windows of its
length, the nearby-conflicts member 30 days); UCDP events dated after that are not yet valid
and no member reads them. 50 open questions at real places (sitroom.domain.places), 500 miles:
half "at least T conflict events in the next 7 days" count questions, half meeting questions
with a venue and a party's capital. T is set above the number of appended events, so no
question resolves during the run and all 50 stay open.

Then N single events are appended one at a time, each a real GDELT row (QuadClass 4) moved to
within 100 km of a random question's venue, valid now, the clock moving a few ms each time.
Measured: the wall time of ``engine.append`` — committing the event, folding it, re-forecasting
every question it touches (the Forecaster reactor) and committing those forecasts. Every append
must produce at least one forecast record, or the run fails.

Baseline, same events in the same run, on a copy of the workspace whose engine has no reactors:
append the event, then re-forecast every open question from the log — for each of the 50, read
the events of its look-back from the log (``log.read(kinds, valid_overlaps)``), keep those
within the radius by haversine, and compute the same members and aggregate with the same pure
functions (no reactor targeting, no indexed event store; the forecasts are computed, not
committed, which favours the baseline). Its forecasts are checked against sitroom's.
Goal: p99 at most 100 ms.

Both engines run as a long-running sitroom process does (``sitroom channel run``, ``ingest
--follow``): after loading, ``sitroom.room.settle()`` freezes the heap, so a full garbage
collection does not walk every loaded library mid-append. ``--no-settle`` shows the run without
it (full collections then add 40–100 ms to a few appends).

    python bench/risk_reforecast.py [--events 200000] [--questions 50] [--appends 200]
        [--baseline-appends 20]
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import sitroom
from sitroom.adapters import ucdp
from sitroom.adapters.clock import ManualClock
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.inputs import open_input
from sitroom.adapters.keystore import KEYS_DIR, KeyStore
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.engine import Engine
from sitroom.application.ingest import declare, ingest
from sitroom.application.ports import Chunk
from sitroom.application.risk import Risk
from sitroom.application.session import Session
from sitroom.domain.events import EVENT_KINDS
from sitroom.domain.geo import destination, haversine_m, parse_radius
from sitroom.domain.kinds import GDELT_EVENT
from sitroom.domain.places import PLACES
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.risk import members as m
from sitroom.domain.risk.ensemble import aggregate
from sitroom.domain.risk.evidence import Found, conflict_events
from sitroom.domain.risk.forecast import EVIDENCE_KEPT, NEARBY_MS, PAST_WINDOWS
from sitroom.domain.risk.questions import (
    COUNT,
    FORECAST,
    QUESTION_RESOLVED,
    Place,
    Question,
    Reference,
)
from sitroom.domain.timeutil import MS_PER_DAY, human_age, iso
from sitroom.room import LOG_FILE, default_detectors, default_projections, settle, snapshot_seal
from sitroom.settings import Settings, key_files
from sitroom.testing.samples import UCDP_FILE

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)
from _data import pct, resampled_v2

RADIUS = parse_radius("500mi")
NEAR_VENUE_M = 100_000
SETTLE = True


def places() -> list[Place]:
    return [Place(name.title(), p.lat, p.lon) for name, p in sorted(PLACES.items())]


# -- the workspace ----------------------------------------------------------------------------


def gdelt_batches(rows: int, seed: int) -> list[RecordBatch]:
    lookups = load_lookups()
    (inp,) = gdelt.open_inputs(str(resampled_v2(rows, seed=seed)))
    return [c.records for c in gdelt.chunks(inp, lookups) if len(c.records)]


def questions(n: int, now: int, appends: int, rng: random.Random) -> list[Question]:
    """Half count questions, half meeting questions, cycling over the known places."""
    where = places()
    rng.shuffle(where)
    out = []
    for i in range(n):
        venue = where[i % len(where)]
        if i % 2 == 0:
            # Above the number of appended events: the question stays open all run.
            threshold = max(appends + 1, rng.choice((250, 500, 1000)))
            out.append(
                Question(
                    id=f"count-{i:02d}",
                    text=f"At least {threshold} conflict events within 500 mi of {venue.name} "
                    "in the next 7 days?",
                    shape=COUNT,
                    rule="events",
                    window_from_ms=now,
                    deadline_ms=now + 7 * MS_PER_DAY,
                    threshold=threshold,
                    places=(venue,),
                    radius_m=RADIUS.meters,
                    radius_text=RADIUS.text,
                )
            )
        else:
            party = where[(i * 7 + 3) % len(where)]
            if party == venue:
                party = where[(i + 1) % len(where)]
            out.append(
                Question(
                    id=f"meeting-{i:02d}",
                    text=f"Will the talks in {venue.name} take place within 30 days?",
                    rule="meeting",
                    track=f"track-{i:02d}",
                    deadline_ms=now + 30 * MS_PER_DAY,
                    places=(venue, party),
                    radius_m=RADIUS.meters,
                    radius_text=RADIUS.text,
                    reference=Reference("announced rounds that met", 6, 10),
                )
            )
    return out


def build(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The workspace with its background and questions, closed; what the runs need."""
    background = gdelt_batches(args.events, seed=7)
    newest = max(int(b.column("valid_to").to_numpy().max()) for b in background)
    now = newest + 1  # just after the newest GDELT event's valid time (a day: its date)
    clock = ManualClock(now)
    ws = sitroom.init(work, clock=clock)
    engine = ws.engine
    declare(engine, [*gdelt.declarations(), ucdp.declaration()])
    started = time.perf_counter()
    g = ingest(engine, "resampled GDELT 2.0", (Chunk(b, len(b)) for b in background))
    sample = open_input(str(UCDP_FILE))
    u = ingest(engine, sample.label, ucdp.chunks(sample))
    loaded = time.perf_counter() - started
    rng = random.Random(19)
    qs = questions(args.questions, now, args.appends, rng)
    risk = Risk(Session.site(engine))
    for q in qs:
        made = risk.ask(q)
        if made.forecast is None:
            raise SystemExit(f"question {q.id} got no first forecast")
    indexed = len(engine.states["risk"].events)
    first_ms = engine.states["risk"].events.first_ms
    ws.close()
    return {
        "now": now,
        "questions": qs,
        "gdelt": g.accepted,
        "ucdp": u.accepted,
        "indexed": indexed,
        "first_ms": first_ms,
        "load_s": loaded,
    }


def incoming(n: int, qs: list[Question], rng: random.Random) -> list[tuple[Record, str]]:
    """Real GDELT rows with an action place (QuadClass 4), each moved to within 100 km of a
    random question's venue: (record without its valid time, the question aimed at)."""
    rows = [
        r
        for b in gdelt_batches(max(4 * n, 2000), seed=23)
        for r in b.rows()
        if r.payload.get("action_geo") and r.payload["event"]["quad_class"] == 4
    ]
    out = []
    for i in range(n):
        r = rows[i % len(rows)]
        q = rng.choice(qs)
        venue = q.places[0]
        at = destination(venue.point, rng.uniform(0, 360), NEAR_VENUE_M * math.sqrt(rng.random()))
        payload = dict(r.payload)
        payload["global_event_id"] = 3_000_000_000 + i
        payload["action_geo"] = {**payload["action_geo"], "lat": at.lat, "lon": at.lon}
        payload["event"] = {
            **payload["event"],
            "quad_class": 4,
            "quad_class_name": "Material Conflict",
        }
        record = Record(
            id=f"gdelt-v2:{3_000_000_000 + i}",
            kind=GDELT_EVENT,
            kind_version=r.kind_version,
            source=r.source,
            payload=payload,
        )
        out.append((record, q.id))
    return out


def at_time(r: Record, t: int) -> Record:
    return Record(
        id=r.id,
        kind=r.kind,
        kind_version=r.kind_version,
        source=r.source,
        payload=r.payload,
        valid_from=t,
        valid_to=t,
    )


# -- sitroom ----------------------------------------------------------------------------------


def run_sitroom(
    work: Path, setup: dict[str, Any], events: list[tuple[Record, str]], steps: list[int]
) -> tuple[list[float], list[int], dict[int, dict[str, dict[str, float]]]]:
    clock = ManualClock(setup["now"])
    ws = sitroom.open(work, clock=clock)
    engine = ws.engine
    if SETTLE:
        settle()
    latency, touched = [], []
    made: dict[int, dict[str, dict[str, float]]] = {}  # append -> question -> member p's
    for i, ((record, aimed), step) in enumerate(zip(events, steps, strict=True)):
        clock.advance(step)
        rec = at_time(record, clock.now_ms())
        started = time.perf_counter()
        out = engine.append([rec])
        latency.append((time.perf_counter() - started) * 1000)
        forecasts = [r for r in out.derived if r.kind == FORECAST]
        resolved = [r for r in out.derived if r.kind == QUESTION_RESOLVED]
        if not forecasts:
            raise SystemExit(
                f"append {i} ({rec.id}, aimed at {aimed}) produced no forecast record: "
                f"{len(out.derived)} derived records"
            )
        if resolved:
            raise SystemExit(f"append {i} resolved {[r.payload['question'] for r in resolved]}")
        touched.append(len(forecasts))
        made[i] = {r.payload["question"]: _ps(r.payload) for r in forecasts}
    ws.close()
    return latency, touched, made


def _ps(payload: dict[str, Any]) -> dict[str, float]:
    return {x["name"]: x["p"] for x in payload["members"]} | {
        "aggregate": payload["aggregate"]["p"]
    }


# -- baseline ---------------------------------------------------------------------------------


def plain_engine(work: Path, clock: ManualClock) -> tuple[Engine, SqliteLog]:
    """The workspace's engine with its projections and detectors but no reactors."""
    s = Settings.load(work)
    log = SqliteLog(work / LOG_FILE, durability=s.durability)
    engine = Engine(
        log,
        clock,
        site=s.site,
        projections=default_projections(),
        detectors=default_detectors(s),
        reactors=[],
        snapshot_every=s.snapshot_every,
        # the room's own seal: its snapshots are signed, and read only if they verify
        seal=snapshot_seal(log, KeyStore(work / KEYS_DIR, key_files(work)), s.site),
    )
    return engine, log


def region(engine: Engine, q: Question, lo: int, hi: int) -> pl.DataFrame:
    """The question's conflict events valid in [lo, hi), read from the log, with the distance
    to the nearest of its places (brute-force haversine) and that place's name."""
    frames = [
        conflict_events(b)
        for b in engine.log.read(kinds=list(EVENT_KINDS), valid_overlaps=(lo, hi))
    ]
    ev = pl.concat(frames) if frames else conflict_events(RecordBatch.empty())
    ev = ev.filter(
        pl.col("quad_class").is_in(list(q.quad_classes))
        & (pl.col("valid_from") >= lo)
        & (pl.col("valid_from") < hi)
    )
    lat, lon = ev["lat"].to_numpy(), ev["lon"].to_numpy()
    dists = np.vstack([haversine_m(lat, lon, p.point) for p in q.places])
    ev = ev.with_columns(
        pl.Series("dist_m", dists.min(axis=0)),
        pl.Series("near", [q.places[k].name for k in dists.argmin(axis=0)], pl.Utf8),
    )
    return ev.filter(pl.col("dist_m") <= q.radius_m)


def naive_forecast(engine: Engine, q: Question, now: int, first_ms: int) -> dict[str, float]:
    """The members the forecaster computes, from one read of the log over the look-back.
    ``first_ms``, the first conflict event's time (it sets how many past windows there are),
    does not change during the run and is taken from the setup."""
    known = now + 1
    if q.shape != COUNT:
        ref = q.reference
        base = (
            m.base_rate(ref.hits, ref.of, q.prior, ref.name)
            if ref is not None
            else m.base_rate(0, 0, q.prior, "no reference class named")
        )
        recent = Found.from_frame(region(engine, q, known - NEARBY_MS, known))
        found = m.conflicts(recent, q.radius_m)
        evidence = recent.newest_ids(EVIDENCE_KEPT)
        members = [base, m.nearby_meeting(found, base.p, q.radius_text, evidence)]
        return {x.name: x.p for x in members} | {"aggregate": aggregate(members)["p"]}
    assert q.window_from_ms is not None and q.deadline_ms is not None and q.threshold is not None
    start, end, threshold = q.window_from_ms, q.deadline_ms, q.threshold
    length = end - start
    base_t = min(known, start)
    n_bins = int(min(PAST_WINDOWS, max(0, (base_t - first_ms) // length)))
    lo = min(base_t - n_bins * length, known - NEARBY_MS)
    ev = region(engine, q, lo, known)
    t = pl.col("valid_from")
    inside = ev.filter((t >= start) & (t < min(known, end)))
    hist = ev.filter((t >= base_t - n_bins * length) & (t < base_t))
    recent = ev.filter((t >= known - NEARBY_MS) & (t < known))
    so_far = inside.height
    left_ms = max(0, end - max(known, start))
    k = (base_t - 1 - hist["valid_from"].to_numpy()) // length
    bins = np.bincount(k.astype(np.int64), minlength=n_bins)[:n_bins][::-1]
    region_text = f"within {q.radius_text} of {q.places[0].name}"
    recent = Found.from_frame(recent)
    ids = [
        *Found.from_frame(inside).newest_ids(EVIDENCE_KEPT),
        *Found.from_frame(hist).newest_ids(EVIDENCE_KEPT),
    ]
    members = [
        m.base_rate(
            int((bins >= threshold).sum()),
            n_bins,
            q.prior,
            f"the past windows of {human_age(length)} {region_text}",
        ),
        m.event_count(
            bins.tolist(),
            fraction_left=left_ms / length,
            so_far=so_far,
            threshold=threshold,
            evidence=ids,
            region=region_text,
        ),
        m.nearby_count(
            m.conflicts(recent, q.radius_m),
            span_ms=NEARBY_MS,
            length_ms=length,
            left_ms=left_ms,
            so_far=so_far,
            threshold=threshold,
            radius=q.radius_text,
            evidence=recent.newest_ids(EVIDENCE_KEPT),
        ),
    ]
    return {x.name: x.p for x in members} | {"aggregate": aggregate(members)["p"]}


def run_baseline(
    work: Path, setup: dict[str, Any], events: list[tuple[Record, str]], steps: list[int]
) -> tuple[list[float], list[float], list[dict[str, dict[str, float]]]]:
    clock = ManualClock(setup["now"])
    engine, log = plain_engine(work, clock)
    if SETTLE:
        settle()
    total, recompute, made = [], [], []
    for (record, _), step in zip(events, steps, strict=True):
        clock.advance(step)
        now = clock.now_ms()
        started = time.perf_counter()
        engine.append([at_time(record, now)])
        appended = time.perf_counter()
        made.append(
            {q.id: naive_forecast(engine, q, now, setup["first_ms"]) for q in setup["questions"]}
        )
        done = time.perf_counter()
        total.append((done - started) * 1000)
        recompute.append((done - appended) * 1000)
    log.close()
    return total, recompute, made


# -- report -----------------------------------------------------------------------------------


def figures(ms: list[float]) -> str:
    return (
        f"p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
        f"max {max(ms):.1f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=200_000, help="background GDELT rows")
    ap.add_argument("--questions", type=int, default=50)
    ap.add_argument("--appends", type=int, default=200)
    ap.add_argument("--baseline-appends", type=int, default=20)
    ap.add_argument("--no-settle", action="store_true", help="leave the heap unfrozen")
    args = ap.parse_args()
    global SETTLE
    SETTLE = not args.no_settle
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        setup = build(work / "sitroom", args)
        shutil.copytree(work / "sitroom", work / "baseline")
        rng = random.Random(29)
        events = incoming(args.appends, setup["questions"], rng)
        steps = [rng.randint(1, 5) for _ in events]
        latency, touched, made = run_sitroom(work / "sitroom", setup, events, steps)
        k = min(args.baseline_appends, args.appends)
        b_total, b_recompute, b_made = run_baseline(work / "baseline", setup, events[:k], steps[:k])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    compared, worst = 0, 0.0
    for i, by_question in enumerate(b_made):
        for qid, ps in made[i].items():
            for name, p in ps.items():
                compared += 1
                worst = max(worst, abs(p - by_question[qid][name]))
    n_count = sum(1 for q in setup["questions"] if q.shape == COUNT)
    print(
        f"background: {setup['gdelt']:,} resampled GDELT 2.0 events + {setup['ucdp']:,} UCDP GED "
        f"events ({setup['indexed']:,} conflict events indexed, loaded in "
        f"{setup['load_s']:.0f} s); now {iso(setup['now'])}"
    )
    print(
        f"{len(setup['questions'])} open questions ({n_count} count, "
        f"{len(setup['questions']) - n_count} meeting) at {len(PLACES)} places, radius "
        f"{RADIUS.text}; {args.appends} appends of one QuadClass 4 event within "
        f"{NEAR_VENUE_M // 1000} km of a venue"
    )
    print(
        f"sitroom engine.append (commit, fold, re-forecast touched, commit forecasts): "
        f"{figures(latency)}   [goal p99 <= 100 ms]" + ("" if SETTLE else "  (heap not settled)")
    )
    print(
        f"questions re-forecast per append: mean {statistics.mean(touched):.1f} "
        f"(min {min(touched)}, max {max(touched)}); {sum(touched):,} forecast records, "
        "every append made at least one"
    )
    note = f" (first {k} appends only: it is slow)" if k < args.appends else ""
    print(
        f"baseline, re-forecast all {len(setup['questions'])} from the log after each append"
        f"{note}: {figures(b_total)}"
    )
    print(f"  of which the recompute: {figures(b_recompute)}")
    print(
        f"baseline and sitroom forecasts agree on the questions sitroom re-forecast: "
        f"{compared:,} member probabilities compared, max difference {worst:.2g}"
    )
    print(f"ratio p99 baseline / sitroom: {pct(b_total, 99) / pct(latency, 99):.0f}x")


if __name__ == "__main__":
    main()

"""Backtests: count questions asked at every window of the past, forecast with only what was
known then, and scored against what happened.

How "known then" is kept. Every conflict event in the log gets a time at which it became known:

- ``known="published"`` (the default): when its source published it. GDELT says so itself
  (DATEADDED: 4.6% of the sample's conflict events were added more than 90 days after they
  happened); UCDP GED and ACLED do not, so their events count as known
  :data:`PUBLICATION_LAG_MS` after they happened (GED is released once a year, ACLED weekly).
- ``known="valid"``: the valid time plus ``lag_ms`` (the kinder, older default);
- ``known="recorded"``: its recorded time, right for a log that was fed live. An archive loaded
  in one go knows nothing until the load and then everything: refused, with the reason.

``lag_ms`` is added to every event's time in each mode. Events are folded into a fresh risk
state in that order; at each forecast time the state holds exactly the events known by then,
and the forecast is made by the same function the live forecaster uses. The run checks itself:
every evidence id of every forecast is looked up, and ``leaks`` counts those that became known
after their forecast (it must be 0).

Questions: for each place, threshold and forecast time t, "at least T conflict events within
the radius in [t, t + window)". Outcomes come from all the events in the log (final knowledge).
Baselines, from the same as-known counts: **climatology** (the share of every past window that
reached T, and their counts as the distribution), **recent** (the same over the last
:data:`RECENT_WINDOWS` windows only: the region as it has been lately, not over forty years)
and **last value** (a Poisson with the last window's count as its mean: for 90-day windows,
the last 90 days).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from sitroom.application.results import INTERNAL, Progress, Result
from sitroom.application.session import Session
from sitroom.domain import hlc
from sitroom.domain.events import EVENT_KINDS
from sitroom.domain.geo import Radius
from sitroom.domain.places import PLACES
from sitroom.domain.records import RecordBatch
from sitroom.domain.risk import scoring
from sitroom.domain.risk.ensemble import aggregate
from sitroom.domain.risk.evidence import ConflictEvents, conflict_events
from sitroom.domain.risk.forecast import count_members
from sitroom.domain.risk.members import Member, clip, nb_tail
from sitroom.domain.risk.questions import COUNT, Place, Question
from sitroom.domain.risk.state import RiskState
from sitroom.domain.timeutil import MS_PER_DAY, human_age, iso
from sitroom.errors import UserInputError

KNOWN = ("published", "valid", "recorded")
BASELINES = ("climatology", "recent", "last value")
# When a source without a publication time of its own makes its events known, after they
# happen: judgments, named to be read and changed. GED is released yearly (events of year Y
# by mid Y+1: half a year to eighteen months, a year on average); ACLED weekly.
PUBLICATION_LAG_MS = {"ucdp.event": 365 * MS_PER_DAY, "acled.event": 7 * MS_PER_DAY}
RECENT_WINDOWS = 8  # two years of 90-day windows
# A log whose events were all recorded within this span, over years of valid time, was loaded
# as an archive: what it "knew" at each moment is not in it.
ARCHIVE_SPAN_MS = MS_PER_DAY


@dataclass(frozen=True)
class Spec:
    """What to backtest: count questions at ``places``, ``radius``, windows of ``window_ms``."""

    places: tuple[Place, ...]
    radius: Radius
    window_ms: int
    thresholds: tuple[int, ...] = (1,)
    start_ms: int | None = None  # first forecast time; default a year after the first event
    until_ms: int | None = None  # the last window ends by then; default the last event
    known: str = "published"
    lag_ms: int = 0
    quad_classes: tuple[int, ...] = (4,)


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Row:
    """One backtest question: where, when, its threshold, the count that came, and every
    forecaster's probability (members, aggregate, baselines). For Python callers (the
    benchmark checks them against a naive backtest); not in the JSON."""

    place: str
    t: int
    threshold: int
    count: int
    y: int
    p: Mapping[str, float]
    dist: Mapping[str, Mapping[str, Any]]
    past: tuple[int, ...]
    last: float


@dataclass(frozen=True, kw_only=True)
class Covered(Result):
    """What a backtest covered."""

    places: tuple[str, ...]
    radius: str
    window_days: float
    thresholds: tuple[int, ...]
    since: str | None
    until: str | None
    known: str  # recorded, or valid + a lag


@dataclass(frozen=True, kw_only=True)
class Sharpness(Result):
    """How far probabilities stray from 50%: ``sharpness`` (0 at 50%, 1 at 0% or 100%), their
    standard deviation, and the share below 20% or above 80%."""

    sharpness: float
    std: float
    outside_20_80: float


@dataclass(frozen=True, kw_only=True)
class ForecasterScore(Result):
    """One forecaster's mean scores (lower is better) and its skill against climatology
    (1 - score / climatology's: above 0 is better than climatology)."""

    forecaster: str
    brier: float | None
    log_score: float | None
    crps: float | None
    brier_skill: float | None
    log_skill: float | None
    crps_skill: float | None
    sharpness: Sharpness | None
    # A count distribution's calibration: the randomised PIT's histogram (10 shares, flat when
    # calibrated), and how often the count fell in its central 50% and 90% intervals.
    pit: tuple[float, ...] | None = None
    coverage_50: float | None = None
    coverage_90: float | None = None


@dataclass(frozen=True, kw_only=True)
class ReliabilityTable(Result):
    """A forecaster's reliability: per bin of forecast probability, how many forecasts, their
    mean, the observed frequency and its Wilson 95% interval (None in empty bins)."""

    forecaster: str
    n: int
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    count: tuple[int, ...]
    mean_forecast: tuple[float | None, ...]
    observed: tuple[float | None, ...]
    low: tuple[float | None, ...]
    high: tuple[float | None, ...]
    reliability: float | None
    resolution: float | None
    uncertainty: float | None


@dataclass(frozen=True, kw_only=True)
class Backtested(Result):
    covered: Covered
    forecasts: int
    forecast_times: int
    events: int
    leaks: int  # evidence used before it was known: must be 0
    seconds: float  # forecasting, not scoring
    forecasts_per_second: float | None
    base_rate: float | None
    scores: tuple[ForecasterScore, ...]
    reliability: tuple[ReliabilityTable, ...]
    plots: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # why these scores may flatter the forecasters
    rows: tuple[Row, ...] = field(default=(), metadata=INTERNAL, repr=False)
    curves: Mapping[str, scoring.Reliability] = field(
        default_factory=dict, metadata=INTERNAL, repr=False
    )

    def score(self, forecaster: str) -> ForecasterScore:
        return next(s for s in self.scores if s.forecaster == forecaster)


def default_places() -> tuple[Place, ...]:
    return tuple(Place(name.title(), p.lat, p.lon) for name, p in sorted(PLACES.items()))


def known_events(session: Session, spec: Spec) -> pl.DataFrame:
    """Every conflict event the session sees, with the time it became known (``known_ms``),
    in that order."""
    frames = []
    for batch in session.read(kinds=list(EVENT_KINDS)):
        ev = conflict_events(batch)
        if spec.known == "recorded":
            known = pl.DataFrame(
                {
                    "id": batch.column("id").to_numpy(),
                    "known_ms": batch.column("recorded_time").to_numpy() >> hlc.COUNTER_BITS,
                }
            )
            frames.append(ev.join(known, on="id", how="left"))
        elif spec.known == "published":
            frames.append(ev.join(_published(batch), on="id", how="left"))
        else:
            frames.append(ev.with_columns(pl.col("valid_from").alias("known_ms")))
    if not frames:
        empty = conflict_events(RecordBatch.empty())
        return empty.with_columns(pl.lit(0, pl.Int64).alias("known_ms"))
    out = pl.concat(frames).with_columns(
        (pl.max_horizontal("known_ms", "valid_from") + spec.lag_ms).alias("known_ms")
    )
    return out.sort("known_ms", maintain_order=True)


def _published(batch: RecordBatch) -> pl.DataFrame:
    """(id, known_ms) of a batch's events: GDELT's DATEADDED, else the valid time plus the
    source's publication lag."""
    lag = pl.col("kind").replace_strict(PUBLICATION_LAG_MS, default=0, return_dtype=pl.Int64)
    frame = pl.DataFrame(
        {
            "id": batch.column("id").to_numpy(),
            "kind": batch.column("kind").to_numpy(),
            "valid_from": batch.column("valid_from").to_numpy(),
        }
    ).with_columns((pl.col("valid_from") + lag).alias("known_ms"))
    gdelt = batch.of_kinds(["gdelt.event"])
    if len(gdelt):
        added = pl.DataFrame(
            {
                "id": gdelt.column("id").to_numpy(),
                "added": gdelt.payload_field("date_added", pl.Utf8)
                .str.replace("Z$", "")
                .str.to_datetime(strict=False, time_unit="ms")
                .dt.epoch("ms"),
            }
        )
        frame = frame.join(added, on="id", how="left").with_columns(
            pl.coalesce("added", "known_ms").alias("known_ms")
        )
    return frame.select("id", "known_ms")


def _archive_warning(events: pl.DataFrame) -> str | None:
    """What is wrong with --known recorded on an archive: its forecasts are made with nothing
    until the load, and scored as if that were knowledge."""
    span = int(np.ptp(events["known_ms"].to_numpy()))
    covered = int(np.ptp(events["valid_from"].to_numpy()))
    if span < ARCHIVE_SPAN_MS and covered > 30 * ARCHIVE_SPAN_MS:
        return (
            f"known = recorded, but every event was recorded within {human_age(span)}, over "
            f"{human_age(covered)} of events (an archive loaded at once): what was known at "
            "each moment is not in the log, so these scores mean little; use --known published"
        )
    return None


def run(session: Session, spec: Spec, progress: Progress | None = None) -> Backtested:
    """Forecast every question of ``spec`` with what was known at its time, and score them.
    ``progress`` is called with (forecast times done, forecast times in all)."""
    if spec.known not in KNOWN:
        raise UserInputError(f"known is published, valid or recorded, not {spec.known!r}")
    if spec.window_ms < MS_PER_DAY:
        raise UserInputError("a backtest window shorter than a day has too few events to score")
    if not spec.places:
        raise UserInputError("a backtest needs at least one place")
    nb_tail(1, 1.0, None)  # loads the models' SciPy (on first use) before the clock starts
    started = time.perf_counter()
    events = known_events(session, spec)
    if not events.height:
        raise UserInputError("the log holds no conflict events: ingest GDELT or UCDP files first")
    warning = _archive_warning(events) if spec.known == "recorded" else None
    first, last = int(events["valid_from"].min()), int(events["valid_from"].max())  # type: ignore[arg-type]
    start = spec.start_ms if spec.start_ms is not None else first + 365 * MS_PER_DAY
    until = spec.until_ms if spec.until_ms is not None else last + 1
    times = list(range(start, until - spec.window_ms + 1, spec.window_ms))
    if not times:
        raise UserInputError(
            f"no whole window of {spec.window_ms // MS_PER_DAY}d fits between {iso(start)} "
            f"and {iso(until)}"
        )
    everything = ConflictEvents(events.drop("known_ms"))
    state = RiskState()
    known_at = dict(zip(events["id"], events["known_ms"], strict=True))
    known_col = events["known_ms"].to_numpy()
    rows: list[Row] = []
    folded = 0
    leaks = 0
    for n, t in enumerate(times):
        upto = int(np.searchsorted(known_col, t, side="right"))
        if upto > folded:
            state.events.add(events.slice(folded, upto - folded).drop("known_ms"))
            folded = upto
        for place in spec.places:
            past = _past_counts(state.events, place, spec, t)
            truth = _count(everything, place, spec, t, t + spec.window_ms)
            for threshold in spec.thresholds:
                q = _question(place, spec, t, threshold)
                members = count_members(q, state, t)
                leaks += sum(1 for m in members for i in m.evidence if known_at[i] > t)
                rows.append(_row(q, members, past, truth, t))
        if progress:
            progress(n + 1, len(times))
    seconds = time.perf_counter() - started
    scored = score(rows)
    return Backtested(
        covered=Covered(
            places=tuple(p.name for p in spec.places),
            radius=spec.radius.text,
            window_days=spec.window_ms / MS_PER_DAY,
            thresholds=tuple(spec.thresholds),
            since=iso(start),
            until=iso(times[-1] + spec.window_ms),
            known=spec.known + (f" + {spec.lag_ms}ms" if spec.lag_ms else ""),
        ),
        forecasts=len(rows),
        forecast_times=len(times),
        events=events.height,
        leaks=leaks,
        seconds=round(seconds, 3),
        forecasts_per_second=round(len(rows) / seconds, 1) if seconds else None,
        base_rate=scored.base_rate,
        scores=scored.scores,
        reliability=scored.tables,
        warnings=(warning,) if warning else (),
        rows=tuple(rows),
        curves=scored.curves,
    )


def _question(place: Place, spec: Spec, t: int, threshold: int) -> Question:
    return Question(
        id=f"bt-{t}",
        text=f"At least {threshold} events within {spec.radius.text} of {place.name}",
        shape=COUNT,
        rule="events",
        deadline_ms=t + spec.window_ms,
        places=(place,),
        radius_m=spec.radius.meters,
        radius_text=spec.radius.text,
        window_from_ms=t,
        threshold=threshold,
        quad_classes=spec.quad_classes,
    )


def _count(store: ConflictEvents, place: Place, spec: Spec, lo: int, hi: int) -> int:
    return len(store.near((place,), spec.radius.meters, lo, hi).of_quads(spec.quad_classes))


def _past_counts(store: ConflictEvents, place: Place, spec: Spec, t: int) -> np.ndarray:
    """As known at t: the count of every whole window before t since the first known event,
    oldest first."""
    if store.first_ms is None or store.first_ms >= t:
        return np.zeros(0, dtype=np.int64)
    n = int((t - store.first_ms) // spec.window_ms)
    found = store.near((place,), spec.radius.meters, t - n * spec.window_ms, t)
    k = (t - 1 - found.of_quads(spec.quad_classes).valid_from) // spec.window_ms
    counts: np.ndarray = np.bincount(k.astype(np.int64), minlength=n)[:n][::-1]
    return counts


def _row(q: Question, members: list[Member], past: np.ndarray, truth: int, t: int) -> Row:
    T = q.threshold or 1
    clim_p = (float((past >= T).sum()) + 0.5) / (len(past) + 1)  # add-half: never 0 or 1
    lately = past[-RECENT_WINDOWS:]
    recent_p = (float((lately >= T).sum()) + 0.5) / (len(lately) + 1)
    last = float(past[-1]) if len(past) else 0.0
    return Row(
        place=q.places[0].name,
        t=t,
        threshold=T,
        count=truth,
        y=int(truth >= T),
        p={m.name: m.p for m in members}
        | {
            "aggregate": aggregate(members)["p"],
            "climatology": clip(clim_p),
            "recent": clip(recent_p),
            "last value": clip(nb_tail(T, last, None)),
        },
        dist={m.name: dict(m.dist) for m in members if m.dist},
        past=tuple(past.tolist()),
        last=last,
    )


def _pmf(dist: Mapping[str, Any], k: int) -> np.ndarray:
    pmf = scoring.nb_pmf([dist["mean"]], dist["dispersion"], k)[0]
    return np.concatenate([np.zeros(int(dist["offset"])), pmf])


@dataclass(frozen=True)
class Scored:
    base_rate: float | None
    scores: tuple[ForecasterScore, ...]
    tables: tuple[ReliabilityTable, ...]
    curves: Mapping[str, scoring.Reliability]


def score(rows: Sequence[Row]) -> Scored:
    """Brier and log per member, the aggregate and the baselines; CRPS of every count
    distribution (the aggregate's is the equal-weight pool of the count members')."""
    if not rows:
        return Scored(None, (), (), {})
    y = np.array([r.y for r in rows])
    counts = np.array([r.count for r in rows])
    names = list(rows[0].p)
    out: dict[str, dict[str, float]] = {}
    rel = {}
    sharp = {}
    for name in names:
        p = np.array([r.p[name] for r in rows])
        out[name] = {
            "brier": float(scoring.brier(p, y).mean()),
            "log": float(scoring.log_score(p, y).mean()),
        }
        rel[name] = scoring.reliability(p, y)
        sharp[name] = scoring.sharpness(p)
    k = int(max(counts.max(), max(_top(r) for r in rows))) + 2
    pmfs: dict[str, list[np.ndarray]] = {}
    for r in rows:
        member = {name: _pmf(d, k) for name, d in r.dist.items()}
        for name, pmf in member.items():
            pmfs.setdefault(name, []).append(_pad(pmf, k))
        pmfs.setdefault("aggregate", []).append(_pad(np.mean(list(member.values()), axis=0), k))
        past = np.asarray(r.past, dtype=np.int64)
        clim = np.bincount(np.minimum(past, k - 1), minlength=k) / len(past) if len(past) else None
        pmfs.setdefault("climatology", []).append(
            _pad(clim if clim is not None else _point(0, k), k)
        )
        pmfs.setdefault("last value", []).append(_pad(scoring.nb_pmf([r.last], None, k)[0], k))
    calibration = {}
    for name, rowsp in pmfs.items():
        stacked = np.vstack(rowsp)
        out.setdefault(name, {})["crps"] = float(scoring.crps_pmf(stacked, counts).mean())
        calibration[name] = scoring.count_calibration(stacked, counts)
    base = out.get("climatology", {})

    def skill(name: str, metric: str) -> float | None:
        v, b = out[name].get(metric), base.get(metric)
        return None if v is None or not b else 1 - v / b

    scores = tuple(
        ForecasterScore(
            forecaster=name,
            brier=s.get("brier"),
            log_score=s.get("log"),
            crps=s.get("crps"),
            brier_skill=skill(name, "brier"),
            log_skill=skill(name, "log"),
            crps_skill=skill(name, "crps"),
            sharpness=Sharpness(**sharp[name]) if name in sharp else None,
            pit=calibration[name][0] if name in calibration else None,
            coverage_50=calibration[name][1] if name in calibration else None,
            coverage_90=calibration[name][2] if name in calibration else None,
        )
        for name, s in out.items()
    )
    return Scored(
        float(y.mean()), scores, tuple(_table(n, r) for n, r in rel.items()), _ordered(rel)
    )


def _table(name: str, r: scoring.Reliability) -> ReliabilityTable:
    def clean(values: np.ndarray) -> tuple[float | None, ...]:
        return tuple(None if math.isnan(v) else float(v) for v in values.tolist())

    def scalar(v: float) -> float | None:
        return None if math.isnan(v) else v

    return ReliabilityTable(
        forecaster=name,
        n=r.n,
        lo=tuple(r.lo.tolist()),
        hi=tuple(r.hi.tolist()),
        count=tuple(int(c) for c in r.count.tolist()),
        mean_forecast=clean(r.mean_forecast),
        observed=clean(r.observed),
        low=clean(r.low),
        high=clean(r.high),
        reliability=scalar(r.reliability_term),
        resolution=scalar(r.resolution_term),
        uncertainty=scalar(r.uncertainty_term),
    )


def _top(r: Row) -> int:
    tops = [
        scoring.support_for([d["mean"]], d["dispersion"], 1e-9) + int(d["offset"])
        for d in r.dist.values()
    ]
    return int(max([*tops, *r.past, int(r.last) * 3 + 10]))


def _pad(pmf: np.ndarray, k: int) -> np.ndarray:
    """A pmf on exactly 0..k-1, what lies beyond folded into the last cell, renormalised."""
    if len(pmf) >= k:
        out = pmf[:k].copy()
        out[-1] += pmf[k:].sum()
    else:
        out = np.concatenate([pmf, np.zeros(k - len(pmf))])
    total = out.sum()
    return out / total if total > 0 else _point(0, k)


def _point(x: int, k: int) -> np.ndarray:
    out = np.zeros(k)
    out[min(x, k - 1)] = 1.0
    return out


def _ordered(rel: Mapping[str, scoring.Reliability]) -> dict[str, scoring.Reliability]:
    """The reliability curves to plot: the aggregate first, then the baselines, then members."""
    order = ["aggregate", *BASELINES]
    return {n: rel[n] for n in [*order, *(x for x in rel if x not in order)] if n in rel}


def title(result: Backtested) -> str:
    """A plot's title: what the backtest covered."""
    c = result.covered
    return (
        f"{result.forecasts:,} forecasts, {c.window_days:g}-day windows within "
        f"{c.radius}, {(c.since or '')[:10]} to {(c.until or '')[:10]}"
    )

"""Backtests on the real UCDP and GDELT data: only what was known at each forecast time."""

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.inputs import open_input
from sitroom.adapters.log_memory import MemoryLog
from sitroom.adapters.ucdp import chunks as ucdp_chunks
from sitroom.application import backtest as bt
from sitroom.application.engine import Engine
from sitroom.application.ingest import ingest
from sitroom.application.risk import Risk
from sitroom.application.session import Session
from sitroom.domain.geo import haversine_m, parse_radius
from sitroom.domain.records import RecordBatch
from sitroom.domain.risk.evidence import conflict_events
from sitroom.domain.risk.questions import Place
from sitroom.domain.risk.scoring import Reliability
from sitroom.domain.timeutil import MS_PER_DAY, parse_time
from sitroom.errors import UserInputError
from sitroom.room import default_detectors, default_projections, default_reactors
from sitroom.settings import Settings

from conftest import UCDP_FILE, V2_FILES

PLACES = (
    Place("Damascus", 33.5138, 36.2765),
    Place("Baghdad", 33.3152, 44.3661),
    Place("Beirut", 33.8938, 35.5018),
)


def engine(now_ms: int = 0) -> Engine:
    s = Settings(site="bt")
    return Engine(
        MemoryLog(),
        ManualClock(now_ms),
        site="bt",
        projections=default_projections(),
        detectors=default_detectors(s),
        reactors=default_reactors(s),
    )


@pytest.fixture(scope="module")
def ucdp_batch() -> RecordBatch:
    inp = open_input(str(UCDP_FILE))
    return RecordBatch.concat([c.records for c in ucdp_chunks(inp)])


def spec(**kw: object) -> bt.Spec:
    base: dict[str, object] = {
        "places": PLACES,
        "radius": parse_radius("500mi"),
        "window_ms": 90 * MS_PER_DAY,
        "thresholds": (1, 3),
        "start_ms": parse_time("2012-01-01", now_ms=0),
        "until_ms": parse_time("2018-01-01", now_ms=0),
    }
    return bt.Spec(**{**base, **kw})  # type: ignore[arg-type]


def run(e: Engine, s: bt.Spec, **kw: object) -> bt.Backtested:
    return Risk(Session.site(e)).backtest(s, **kw)  # type: ignore[arg-type]


def test_backtest_on_real_ucdp_and_gdelt_scores_members_and_baselines(
    ucdp_batch: RecordBatch,
) -> None:
    e = engine()
    e.append(ucdp_batch)
    for f in V2_FILES:
        ingest(e, f.name, gdelt.chunks(open_input(str(f)), load_lookups()))
    steps: list[tuple[int, int | None]] = []
    result = run(
        e,
        spec(
            start_ms=parse_time("2010-01-01", now_ms=0), until_ms=parse_time("2020-01-01", now_ms=0)
        ),
        progress=lambda done, total: steps.append((done, total)),
    )
    assert result.leaks == 0
    assert result.forecasts == result.forecast_times * len(PLACES) * 2 == len(result.rows)
    # Progress: once per forecast time, out of all of them.
    assert steps == [(n, result.forecast_times) for n in range(1, result.forecast_times + 1)]
    names = {s.forecaster for s in result.scores}
    assert {"aggregate", "climatology", "last value", "base rate", "event count"} <= names
    assert result.score("aggregate").crps is not None
    assert result.score("climatology").crps is not None
    assert result.score("climatology").brier_skill == 0
    # Each outcome is the brute-force count over every event in the log.
    read = e.read(kinds=["ucdp.event", "gdelt.event"])
    events = pl.concat([conflict_events(b) for b in read])
    events = events.filter(pl.col("quad_class") == 4)
    for row in result.rows[:: max(1, len(result.rows) // 25)]:
        place = next(p for p in PLACES if p.name == row.place)
        d = haversine_m(events["lat"].to_numpy(), events["lon"].to_numpy(), place.point)
        t = events["valid_from"].to_numpy()
        inside = (d <= 500 * 1609.344) & (t >= row.t) & (t < row.t + 90 * MS_PER_DAY)
        assert row.count == int(inside.sum())
    assert result.base_rate is not None and 0 < result.base_rate < 1
    # The JSON: what was covered, every forecaster's scores and reliability; no rows.
    body = result.to_json()
    assert body["covered"]["places"] == ["Damascus", "Baghdad", "Beirut"]
    assert body["covered"]["thresholds"] == [1, 3]
    assert {s["forecaster"] for s in body["scores"]} == names
    table = next(t for t in body["reliability"] if t["forecaster"] == "aggregate")
    assert table["n"] == result.forecasts and sum(table["count"]) == result.forecasts
    assert "rows" not in body and "curves" not in body and body["plots"] == []


def test_plots_are_drawn_through_the_injected_adapter(
    ucdp_batch: RecordBatch, tmp_path: Path
) -> None:
    e = engine()
    e.append(ucdp_batch)
    drawn: list[tuple[list[str], Path, str]] = []

    def plot(curves: Mapping[str, Reliability], path: Path, title: str) -> Path:
        drawn.append((list(curves), path, title))
        return path

    risk = Risk(Session.site(e), plot=plot)
    result = risk.backtest(spec(places=PLACES[:1], thresholds=(1,)), plot_dir=tmp_path)
    [(names, path, title)] = drawn
    assert names[:4] == ["aggregate", "climatology", "recent", "last value"]
    assert path == tmp_path / "reliability.png" and result.plots == (str(path),)
    assert f"{result.forecasts} forecasts" in title
    with pytest.raises(UserInputError, match="plot"):
        Risk(Session.site(e)).backtest(spec(), plot_dir=tmp_path)


def test_a_record_known_after_a_forecast_time_is_not_used(ucdp_batch: RecordBatch) -> None:
    """The same archive, but some events before 2014 only arrive in 2019 (recorded time): every
    forecast made before 2019 must equal one from a log that never held them."""
    cutoff = parse_time("2014-01-01", now_ms=0)
    valid = ucdp_batch.column("valid_from").to_numpy()
    early = np.flatnonzero(valid < cutoff)
    late_ids = set(early[::3].tolist())  # a third of the early events arrive late
    on_time_mask = np.array([(v < cutoff and i not in late_ids) for i, v in enumerate(valid)])
    on_time = ucdp_batch.filter(on_time_mask)
    late = ucdp_batch.filter(~on_time_mask)

    full = engine(parse_time("2014-01-01", now_ms=0))
    full.append(on_time)
    assert isinstance(full.clock, ManualClock)
    full.clock.set(parse_time("2019-06-01", now_ms=0))
    full.append(late)

    partial = engine(parse_time("2014-01-01", now_ms=0))
    partial.append(on_time)

    s = spec(known="recorded", start_ms=cutoff, until_ms=parse_time("2019-01-01", now_ms=0))
    with_late = run(full, s)
    without = run(partial, s)
    assert with_late.leaks == 0
    assert [r.p for r in with_late.rows] == [r.p for r in without.rows]
    # ... and the late events do matter once known: valid-time mode uses them.
    assert [r.p for r in run(full, spec(start_ms=cutoff)).rows] != [r.p for r in without.rows]


def test_a_backtest_with_no_events_or_no_window_is_a_clear_error() -> None:
    with pytest.raises(UserInputError, match="no conflict events"):
        run(engine(), spec())
    with pytest.raises(UserInputError, match="known is published, valid or recorded"):
        run(engine(), spec(known="sometime"))


def test_by_default_an_event_is_known_when_its_source_published_it(
    ucdp_batch: RecordBatch,
) -> None:
    """The default knew every event at its event date; GDELT adds some months later and GED is
    released yearly. Now GDELT's DATEADDED and UCDP's publication lag decide."""
    e = engine()
    e.append(ucdp_batch)
    published = bt.known_events(Session.site(e), spec())
    valid = bt.known_events(Session.site(e), spec(known="valid"))
    lag = (published["known_ms"] - published["valid_from"]).unique().to_list()
    assert lag == [bt.PUBLICATION_LAG_MS["ucdp.event"]]  # a year after, every UCDP event
    assert (valid["known_ms"] == valid["valid_from"]).all()
    result = run(e, spec())
    assert result.leaks == 0 and result.covered.known == "published"
    assert [r.p for r in result.rows] != [r.p for r in run(e, spec(known="valid")).rows]
    names = {s.forecaster for s in result.scores}
    assert {"climatology", "recent", "last value"} <= names  # the recent-history baseline
    counted = result.score("event count")  # a count distribution: its calibration
    assert counted.pit is not None and len(counted.pit) == 10
    assert sum(counted.pit) == pytest.approx(1.0)
    assert counted.coverage_50 is not None and 0 <= counted.coverage_50 <= counted.coverage_90  # type: ignore[operator]
    assert result.score("base rate").pit is None  # a probability, no distribution


def test_a_gdelt_event_is_known_at_its_dateadded() -> None:
    e = engine()
    for f in V2_FILES:
        ingest(e, f.name, gdelt.chunks(open_input(str(f)), load_lookups()))
    events = bt.known_events(Session.site(e), spec())
    read = e.read(kinds=["gdelt.event"])
    added = {
        r.id: parse_time(str(r.payload["date_added"]), now_ms=0) for b in read for r in b.rows()
    }
    for row in events.head(50).iter_rows(named=True):
        assert row["known_ms"] == max(added[row["id"]], row["valid_from"])


def test_known_recorded_on_an_archive_says_what_its_scores_are_worth(
    ucdp_batch: RecordBatch,
) -> None:
    """--known recorded on an archive loaded at once reported +56% skill with no knowledge."""
    e = engine(parse_time("2024-01-01", now_ms=0))
    e.append(ucdp_batch)  # every event recorded the same day
    (warning,) = run(e, spec(known="recorded")).warnings
    assert "an archive loaded at once" in warning and "--known published" in warning
    assert run(e, spec()).warnings == ()

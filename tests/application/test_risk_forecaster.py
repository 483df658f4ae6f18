"""Risk on the spine: forecasts re-made by the records that touch them, alerts, resolutions,
as-of, and the projection's snapshots."""

import pytest

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.log_memory import MemoryLog
from sitroom.application import risk
from sitroom.application.engine import Engine
from sitroom.domain.geo import Point, destination, haversine_m
from sitroom.domain.kinds import CHANNEL, CHANNEL_STATE, CURRENT_VERSION, TRACK_STATUS, UCDP_EVENT
from sitroom.domain.records import Record
from sitroom.domain.risk.questions import COUNT, Place, Question, Reference
from sitroom.domain.timeutil import MS_PER_DAY, MS_PER_H, parse_time
from sitroom.settings import Settings
from sitroom.workspace import default_detectors, default_projections, default_reactors

NOW = parse_time("2026-11-20", now_ms=0)
BEIRUT = Place("Beirut", 33.8938, 35.5018)
MILE = 1609.344


def engine(snapshot_every: int = 10_000) -> Engine:
    s = Settings(site="test")
    return Engine(
        MemoryLog(),
        ManualClock(NOW),
        site="test",
        projections=default_projections(),
        detectors=default_detectors(s),
        reactors=default_reactors(s),
        snapshot_every=snapshot_every,
    )


def event(
    eid: str, at: Point, t: int, *, conflict: str = "Israel - Hezbollah", deaths: int = 2
) -> Record:
    return Record(
        id=eid,
        kind=UCDP_EVENT,
        kind_version=CURRENT_VERSION[UCDP_EVENT],
        source="ucdp",
        valid_from=t,
        valid_to=t,
        payload={
            "location": {"lat": at.lat, "lon": at.lon, "country_iso": "LBN", "country": "Lebanon"},
            "conflict": {"id": 1, "name": conflict},
            "side_a": {"name": "Government of Israel"},
            "side_b": {"name": "Hezbollah"},
            "fatalities": {"best": deaths},
        },
    )


def talks(**kw: object) -> Question:
    base: dict[str, object] = {
        "id": "talks",
        "text": "Will the US–Iran meeting take place by 15 December?",
        "deadline_ms": NOW + 25 * MS_PER_DAY,
        "places": (BEIRUT,),
        "reference": Reference("announced rounds that met", 6, 10),
    }
    return Question(**{**base, **kw})


def test_an_event_within_500_miles_moves_the_nearby_member_and_is_named() -> None:
    e = engine()
    first = risk.add_question(e, talks())["forecast"]
    assert first is not None
    before = next(m for m in first["members"] if m["name"] == "nearby conflicts")
    near = destination(BEIRUT.point, 90, 450 * MILE)
    assert haversine_m([near.lat], [near.lon], BEIRUT.point)[0] < 500 * MILE
    e.clock.advance(1000)
    out = e.append([event("ucdp:near", near, NOW)])
    forecasts = [r for r in out.derived if r.kind == "forecast"]
    assert len(forecasts) == 1
    f = forecasts[0].payload
    after = next(m for m in f["members"] if m["name"] == "nearby conflicts")
    assert after["p"] < before["p"]
    assert "ucdp:near" in after["evidence"]
    moved = {c["member"]: c["moved_by"] for c in f["changes"]}
    assert moved["nearby conflicts"] == ["ucdp:near"]
    assert f["triggered_by"] == ["ucdp:near"]
    listed = after["detail"]["conflicts"]
    assert listed[0]["conflict"] == "Israel - Hezbollah" and "ucdp:near" in listed[0]["ids"]


def test_an_event_800_miles_away_changes_nothing() -> None:
    e = engine()
    risk.add_question(e, talks())
    far = destination(BEIRUT.point, 90, 800 * MILE)
    e.clock.advance(1000)
    out = e.append([event("ucdp:far", far, NOW)])
    assert [r for r in out.derived if r.kind == "forecast"] == []
    # Forecast again anyway (a judgment touches the question): the nearby member still sees
    # no conflict, and the far event is nowhere in its evidence.
    made = risk.judge(e, "talks", 0.5, analyst="ana", rationale="")["forecast"]
    nearby = next(m for m in made["members"] if m["name"] == "nearby conflicts")
    assert nearby["detail"]["conflicts"] == [] and "ucdp:far" not in nearby["evidence"]


def test_disagreement_alert_names_both_sides_at_90_and_30_and_not_at_60_and_70() -> None:
    e = engine()
    # Base rate: 29.5 / 100 = 29.5% (29 of 99 with a Jeffreys prior).
    risk.add_question(e, talks(places=(), reference=Reference("class", 29, 99)))
    made = risk.judge(e, "talks", 0.9, analyst="hawk", rationale="both sides confirmed dates")
    assert len(made["alerts"]) == 1
    title = made["alerts"][0]
    assert "analyst hawk at 90%" in title and "base rate at 30%" in title
    alerts = [r for b in e.log.read(kinds=["alert"]) for r in b.rows()]
    detail = alerts[0].payload["detail"]
    assert detail["high"][0]["drivers"] == "both sides confirmed dates"
    assert detail["low"][0]["member"] == "base rate"

    e2 = engine()
    risk.add_question(e2, talks(places=(), reference=Reference("class", 69, 99)))  # 69.5%
    calm = risk.judge(e2, "talks", 0.6, analyst="dove", rationale="")
    assert calm["alerts"] == [] and calm["forecast"]["disagreement"] is None


def test_disagreement_is_raised_once_per_episode() -> None:
    e = engine()
    risk.add_question(e, talks(places=(), reference=Reference("class", 29, 99)))
    assert len(risk.judge(e, "talks", 0.9, analyst="hawk", rationale="")["alerts"]) == 1
    e.clock.advance(1)
    assert risk.judge(e, "talks", 0.92, analyst="hawk", rationale="")["alerts"] == []
    e.clock.advance(1)
    assert risk.judge(e, "talks", 0.4, analyst="hawk", rationale="")["alerts"] == []
    e.clock.advance(1)
    assert len(risk.judge(e, "talks", 0.95, analyst="hawk", rationale="")["alerts"]) == 1


def count_question(threshold: int = 3) -> Question:
    return Question(
        id="beirut-7d",
        text="At least 3 conflict events within 500 miles of Beirut in the next 7 days?",
        shape=COUNT,
        rule="events",
        window_from_ms=NOW,
        deadline_ms=NOW + 7 * MS_PER_DAY,
        threshold=threshold,
        places=(BEIRUT,),
    )


def test_a_count_question_resolves_yes_when_its_window_reaches_the_threshold() -> None:
    e = engine()
    risk.add_question(e, count_question())
    near = destination(BEIRUT.point, 10, 100 * MILE)
    for i in range(3):
        e.clock.advance(MS_PER_H)
        out = e.append([event(f"ucdp:{i}", near, e.clock.now_ms())])
    resolved = [r for r in out.derived if r.kind == "question.resolved"]
    assert [r.payload["outcome"] for r in resolved] == ["yes"]
    assert resolved[0].payload["count"] == 3
    score = risk.score_of(e.states["risk"], "beirut-7d")
    assert score is not None and "crps" in score["members"]["event count"]


def test_a_count_question_resolves_no_when_its_window_closes_short() -> None:
    e = engine()
    risk.add_question(e, count_question())
    assert e.next_due(NOW) == NOW + 7 * MS_PER_DAY
    made = e.tick(NOW + 7 * MS_PER_DAY)
    assert [(r.kind, r.payload["outcome"]) for r in made] == [("question.resolved", "no")]
    assert e.next_due(NOW + 7 * MS_PER_DAY) is None


def test_a_conditional_question_is_void_when_its_condition_resolves_no() -> None:
    e = engine()
    risk.add_question(e, count_question())
    risk.add_question(e, talks(id="talks-given", given="beirut-7d"))
    made = e.tick(NOW + 7 * MS_PER_DAY)
    assert {(r.payload["question"], r.payload["outcome"]) for r in made} == {
        ("beirut-7d", "no"),
        ("talks-given", "void"),
    }
    scores = risk.scores(e).value
    assert scores["void"] == 1 and "talks-given" not in scores["questions"]


def test_a_meeting_question_resolves_on_its_track_status() -> None:
    e = engine()
    risk.add_question(e, talks(track="us-iran", rule="meeting"))
    out = e.append(
        [
            Record(
                id="st1",
                kind=TRACK_STATUS,
                kind_version=1,
                source="analyst",
                valid_from=NOW,
                payload={"track": "us-iran", "status": "met"},
            )
        ]
    )
    assert [r.payload["outcome"] for r in out.derived if r.kind == "question.resolved"] == ["yes"]


def test_a_silent_counterpart_lowers_the_channel_member() -> None:
    e = engine()
    e.append(
        [
            Record(
                id="ch",
                kind=CHANNEL,
                kind_version=1,
                source="analyst",
                valid_from=NOW,
                payload={"id": "direct", "name": "Direct link", "counterpart": "Tehran desk"},
            )
        ]
    )
    first = risk.add_question(e, talks(places=(), channels=("direct",)))["forecast"]
    healthy = next(m for m in first["members"] if m["name"] == "channel health")
    out = e.append(
        [
            Record(
                id="silent",
                kind=CHANNEL_STATE,
                kind_version=1,
                source="sitroom",
                valid_from=NOW + 1,
                payload={
                    "channel": "direct",
                    "aspect": "liveness",
                    "old": "alive",
                    "new": "suspect_peer",
                    "reason": "no heartbeat for 30s",
                },
            )
        ]
    )
    f = next(r.payload for r in out.derived if r.kind == "forecast")
    silent = next(m for m in f["members"] if m["name"] == "channel health")
    assert silent["p"] < healthy["p"]
    assert "silent" in silent["evidence"]
    assert next(c for c in f["changes"] if c["member"] == "channel health")["moved_by"] == [
        "silent"
    ]


def test_forecasts_as_of_a_time_and_analyst_weights_after_resolution() -> None:
    e = engine()
    risk.add_question(e, talks(places=()))
    e.clock.advance(MS_PER_H)
    risk.judge(e, "talks", 0.95, analyst="ana", rationale="")
    then = risk.forecasts(e, "talks", as_of_ms=NOW + MS_PER_H // 2).value[0]["forecast"]
    now = risk.forecasts(e, "talks").value[0]["forecast"]
    assert [m["name"] for m in then["members"]] == ["base rate"]
    assert [m["name"] for m in now["members"]] == ["base rate", "analyst ana"]
    risk.add_question(e, talks(id="other", places=()))
    risk.judge(e, "other", 0.9, analyst="ana", rationale="")
    e.clock.advance(MS_PER_H)
    done = risk.resolve(e, "talks", "yes", by="chair")
    # Ana was right: her weight on the other question rises, and it was re-forecast.
    assert done["reforecast"] == ["other"]
    other = risk.forecasts(e, "other").value[0]["forecast"]
    ana = next(m for m in other["members"] if m["name"] == "analyst ana")
    assert ana["weight"] > 1.0
    assert done["score"]["members"]["analyst ana"]["brier"] == pytest.approx((1 - 0.95) ** 2)


def test_resolving_twice_or_an_unknown_question_is_a_clear_error() -> None:
    from sitroom.errors import UserInputError

    e = engine()
    risk.add_question(e, talks(places=()))
    risk.resolve(e, "talks", "no", by="chair")
    with pytest.raises(UserInputError, match="already resolved no"):
        risk.resolve(e, "talks", "yes", by="chair")
    with pytest.raises(UserInputError, match="no question 'nope'"):
        risk.judge(e, "nope", 0.5, analyst="a", rationale="")


def test_snapshots_rebuild_the_same_risk_state() -> None:
    e = engine(snapshot_every=4)
    risk.add_question(e, count_question())
    near = destination(BEIRUT.point, 200, 300 * MILE)
    for i in range(9):
        e.clock.advance(MS_PER_H)
        e.append([event(f"ucdp:s{i}", near, NOW - i * MS_PER_DAY)])
    live = e.states["risk"]
    rebuilt = e.rebuild("risk", e.log.last_seq())
    assert rebuilt.questions == live.questions
    assert rebuilt.forecasts == live.forecasts
    assert rebuilt.events.frame().equals(live.events.frame())
    assert len(e.log.load_snapshot("risk", 1, e.log.last_seq()).data) > 0

"""Risk on the spine, through the room's Risk service: forecasts re-made by the records that
touch them, alerts, resolutions, as-of, the projection's snapshots, and judgments written at
an older version of their kind."""

from pathlib import Path

import pytest

import sitroom
from sitroom.adapters.clock import ManualClock
from sitroom.adapters.log_memory import MemoryLog
from sitroom.application.engine import Engine
from sitroom.application.risk import Asked, Risk, score_of
from sitroom.application.session import Session
from sitroom.domain.geo import Point, destination, haversine_m
from sitroom.domain.kinds import CHANNEL, CHANNEL_STATE, JUDGMENT, TRACK, TRACK_STATUS, UCDP_EVENT
from sitroom.domain.records import Record
from sitroom.domain.risk.questions import COUNT, Place, Question, Reference
from sitroom.domain.timeutil import MS_PER_DAY, MS_PER_H, parse_time
from sitroom.errors import NotFound, UserInputError
from sitroom.room import default_detectors, default_projections, default_reactors
from sitroom.settings import Settings

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


def risk(e: Engine, user: str | None = None) -> Risk:
    """The risk service as the site (no one in particular) or as ``user``."""
    return Risk(Session.site(e) if user is None else Session.of(e, user))


def clock(e: Engine) -> ManualClock:
    assert isinstance(e.clock, ManualClock)
    return e.clock


def event(
    eid: str, at: Point, t: int, *, conflict: str = "Israel - Hezbollah", deaths: int = 2
) -> Record:
    return UCDP_EVENT.record(
        {
            "location": {"lat": at.lat, "lon": at.lon, "country_iso": "LBN", "country": "Lebanon"},
            "conflict": {"id": 1, "name": conflict},
            "side_a": {"name": "Government of Israel"},
            "side_b": {"name": "Hezbollah"},
            "fatalities": {"best": deaths},
        },
        id=eid,
        source="ucdp",
        valid_from=t,
        valid_to=t,
    )


def talks(**kw: object) -> Question:
    base: dict[str, object] = {
        "id": "talks",
        "text": "Will the US–Iran meeting take place by 15 December?",
        "deadline_ms": NOW + 25 * MS_PER_DAY,
        "places": (BEIRUT,),
        "reference": Reference("announced rounds that met", 6, 10),
    }
    return Question(**{**base, **kw})  # type: ignore[arg-type]


def test_an_event_within_500_miles_moves_the_nearby_member_and_is_named() -> None:
    e = engine()
    first = risk(e).ask(talks()).forecast
    assert first is not None
    before = first.member("nearby conflicts")
    near = destination(BEIRUT.point, 90, 450 * MILE)
    assert haversine_m([near.lat], [near.lon], BEIRUT.point)[0] < 500 * MILE
    clock(e).advance(1000)
    out = e.append([event("ucdp:near", near, NOW)])
    forecasts = [r for r in out.derived if r.kind == "forecast"]
    assert len(forecasts) == 1
    f = forecasts[0].payload
    after = next(m for m in f["members"] if m["name"] == "nearby conflicts")
    assert after["p"] < before.p
    assert "ucdp:near" in after["evidence"]
    moved = {c["member"]: c["moved_by"] for c in f["changes"]}
    assert moved["nearby conflicts"] == ["ucdp:near"]
    assert f["triggered_by"] == ["ucdp:near"]
    listed = after["detail"]["conflicts"]
    assert listed[0]["conflict"] == "Israel - Hezbollah" and "ucdp:near" in listed[0]["ids"]
    # The service reads the same forecast back, typed, with the change that moved it.
    shown = risk(e).forecast("talks").forecasts[0].forecast
    assert shown is not None and shown.triggered_by == ("ucdp:near",)
    assert {c.member: c.moved_by for c in shown.changes}["nearby conflicts"] == ("ucdp:near",)


def test_an_event_800_miles_away_changes_nothing() -> None:
    e = engine()
    risk(e).ask(talks())
    far = destination(BEIRUT.point, 90, 800 * MILE)
    clock(e).advance(1000)
    out = e.append([event("ucdp:far", far, NOW)])
    assert [r for r in out.derived if r.kind == "forecast"] == []
    # Forecast again anyway (a judgment touches the question): the nearby member still sees
    # no conflict, and the far event is nowhere in its evidence.
    made = risk(e, "ana").judge("talks", 0.5).forecast
    assert made is not None
    nearby = made.member("nearby conflicts")
    assert nearby.detail["conflicts"] == [] and "ucdp:far" not in nearby.evidence


def test_disagreement_alert_names_both_sides_at_90_and_30_and_not_at_60_and_70() -> None:
    e = engine()
    # Base rate: 29.5 / 100 = 29.5% (29 of 99 with a Jeffreys prior).
    risk(e).ask(talks(places=(), reference=Reference("class", 29, 99)))
    made = risk(e, "hawk").judge("talks", 0.9, rationale="both sides confirmed dates")
    assert made.by == "hawk" and len(made.alerts) == 1
    title = made.alerts[0].title
    assert "analyst hawk at 90%" in title and "base rate at 30%" in title
    assert made.forecast is not None and made.forecast.disagreement is not None
    split = made.forecast.disagreement
    assert [s.member for s in split.high] == ["analyst hawk"]
    assert [s.member for s in split.low] == ["base rate"]
    assert "disagreement" in made.forecast.flags
    alerts = [r for b in e.read(kinds=["alert"]) for r in b.rows()]
    detail = alerts[0].payload["detail"]
    assert detail["high"][0]["drivers"] == "both sides confirmed dates"
    assert detail["low"][0]["member"] == "base rate"

    e2 = engine()
    risk(e2).ask(talks(places=(), reference=Reference("class", 69, 99)))  # 69.5%
    calm = risk(e2, "dove").judge("talks", 0.6)
    assert calm.alerts == () and calm.forecast is not None and calm.forecast.disagreement is None


def test_disagreement_is_raised_once_per_episode() -> None:
    e = engine()
    risk(e).ask(talks(places=(), reference=Reference("class", 29, 99)))
    hawk = risk(e, "hawk")
    assert len(hawk.judge("talks", 0.9).alerts) == 1
    clock(e).advance(1)
    assert hawk.judge("talks", 0.92).alerts == ()
    clock(e).advance(1)
    assert hawk.judge("talks", 0.4).alerts == ()
    clock(e).advance(1)
    assert len(hawk.judge("talks", 0.95).alerts) == 1


def test_a_judgment_needs_someone_to_judge() -> None:
    e = engine()
    risk(e).ask(talks(places=()))
    with pytest.raises(UserInputError, match="-u NAME"):
        risk(e).judge("talks", 0.5)


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
    risk(e).ask(count_question())
    near = destination(BEIRUT.point, 10, 100 * MILE)
    for i in range(3):
        clock(e).advance(MS_PER_H)
        out = e.append([event(f"ucdp:{i}", near, clock(e).now_ms())])
    resolved = [r for r in out.derived if r.kind == "question.resolved"]
    assert [r.payload["outcome"] for r in resolved] == ["yes"]
    assert resolved[0].payload["count"] == 3
    score = score_of(e.states["risk"], "beirut-7d")
    assert score is not None and score.member("event count").crps is not None
    with pytest.raises(NotFound) as missing:
        score.member("oracle")
    assert missing.value.what == "member" and "event count" in missing.value.known


def test_a_count_question_resolves_no_when_its_window_closes_short() -> None:
    e = engine()
    risk(e).ask(count_question())
    assert e.next_due(NOW) == NOW + 7 * MS_PER_DAY
    made = e.tick(NOW + 7 * MS_PER_DAY).derived
    assert [(r.kind, r.payload["outcome"]) for r in made] == [("question.resolved", "no")]
    assert e.next_due(NOW + 7 * MS_PER_DAY) is None


def test_a_conditional_question_is_void_when_its_condition_resolves_no() -> None:
    e = engine()
    risk(e).ask(count_question())
    risk(e).ask(talks(id="talks-given", given="beirut-7d"))
    made = e.tick(NOW + 7 * MS_PER_DAY).derived
    assert {(r.payload["question"], r.payload["outcome"]) for r in made} == {
        ("beirut-7d", "no"),
        ("talks-given", "void"),
    }
    scores = risk(e).scores()
    assert scores.void == 1 and "talks-given" not in {q.question for q in scores.questions}


def test_a_link_to_an_unknown_question_is_not_found() -> None:
    e = engine()
    with pytest.raises(NotFound) as missing:
        risk(e).ask(talks(given="nope"))
    assert (missing.value.what, missing.value.id) == ("question", "nope")


def test_a_meeting_question_resolves_on_its_track_status() -> None:
    e = engine()
    track = {"id": "us-iran", "name": "US–Iran", "parties": ["US", "Iran"], "status": "planned"}
    e.append([TRACK.record(track, id="t1", source="analyst", valid_from=NOW)])  # type: ignore[arg-type]
    asked = risk(e).add_question(
        "Will the US–Iran meeting take place?", id="talks", until_ms=NOW + MS_PER_DAY,
        track="us-iran", places=(BEIRUT,),
    )  # fmt: skip
    assert asked.question.rule == "meeting" and asked.question.compartment == "us-iran"
    status = {"track": "us-iran", "status": "met"}
    out = e.append(
        [TRACK_STATUS.record(status, id="st1", source="analyst", valid_from=NOW)]  # type: ignore[arg-type]
    )
    assert [r.payload["outcome"] for r in out.derived if r.kind == "question.resolved"] == ["yes"]
    with pytest.raises(NotFound) as missing:
        risk(e).add_question("Talks?", until_ms=NOW + MS_PER_DAY, track="nope")
    assert missing.value.what == "track" and missing.value.known == ("us-iran",)


def test_a_silent_counterpart_lowers_the_channel_member() -> None:
    e = engine()
    channel = {"id": "direct", "name": "Direct link", "counterpart": "Tehran desk"}
    e.append([CHANNEL.record(channel, id="ch", source="analyst", valid_from=NOW)])  # type: ignore[arg-type]
    first = risk(e).add_question(
        "Will the talks take place?", id="talks", until_ms=NOW + 25 * MS_PER_DAY,
        channels=("direct",),
    ).forecast  # fmt: skip
    assert first is not None
    healthy = first.member("channel health")
    with pytest.raises(NotFound, match="no channel 'backchannel'"):
        risk(e).add_question("Talks?", until_ms=NOW + MS_PER_DAY, channels=("backchannel",))
    state = {
        "channel": "direct",
        "aspect": "liveness",
        "old": "alive",
        "new": "suspect_peer",
        "reason": "no heartbeat for 30s",
    }
    out = e.append([CHANNEL_STATE.record(state, id="silent", source="sitroom", valid_from=NOW + 1)])
    f = next(r.payload for r in out.derived if r.kind == "forecast")
    silent = next(m for m in f["members"] if m["name"] == "channel health")
    assert silent["p"] < healthy.p
    assert "silent" in silent["evidence"]
    assert next(c for c in f["changes"] if c["member"] == "channel health")["moved_by"] == [
        "silent"
    ]


def test_forecasts_as_of_a_time_and_analyst_weights_after_resolution() -> None:
    e = engine()
    risk(e).ask(talks(places=()))
    clock(e).advance(MS_PER_H)
    ana = risk(e, "ana")
    ana.judge("talks", 0.95)
    then = risk(e).forecast("talks", as_of_ms=NOW + MS_PER_H // 2).forecasts[0]
    now = risk(e).forecast("talks").forecasts[0]
    assert then.forecast is not None and now.forecast is not None
    assert [m.name for m in then.forecast.members] == ["base rate"]
    assert [m.name for m in now.forecast.members] == ["base rate", "analyst ana"]
    assert now.forecast.member("analyst ana").detail["by"] == "ana"
    assert [h.p for h in now.history] == [then.forecast.aggregate.p, now.forecast.aggregate.p]
    risk(e).ask(talks(id="other", places=()))
    ana.judge("other", 0.9)
    clock(e).advance(MS_PER_H)
    done = risk(e, "chair").resolve("talks", "yes")
    # Ana was right: her weight on the other question rises, and it was re-forecast.
    assert done.by == "chair" and done.reforecast == ("other",)
    other = risk(e).forecast("other").forecasts[0].forecast
    assert other is not None and other.member("analyst ana").weight > 1.0
    assert done.score is not None
    assert done.score.member("analyst ana").brier == pytest.approx((1 - 0.95) ** 2)
    resolved = risk(e).forecast("talks").forecasts[0].question.resolution
    assert resolved is not None and (resolved.outcome, resolved.by) == ("yes", "chair")


def test_resolving_twice_or_an_unknown_question_is_a_clear_error() -> None:
    e = engine()
    risk(e).ask(talks(places=()))
    risk(e, "chair").resolve("talks", "no")
    with pytest.raises(UserInputError, match="already resolved no"):
        risk(e, "chair").resolve("talks", "yes")
    with pytest.raises(NotFound) as missing:
        risk(e, "a").judge("nope", 0.5)
    assert (missing.value.what, missing.value.id, missing.value.known) == (
        "question",
        "nope",
        ("talks",),
    )
    with pytest.raises(NotFound):
        risk(e).forecast("nope")


def test_snapshots_rebuild_the_same_risk_state() -> None:
    e = engine(snapshot_every=4)
    risk(e).ask(count_question())
    near = destination(BEIRUT.point, 200, 300 * MILE)
    for i in range(9):
        clock(e).advance(MS_PER_H)
        e.append([event(f"ucdp:s{i}", near, NOW - i * MS_PER_DAY)])
    live = e.states["risk"]
    rebuilt = e.rebuild("risk", e.log.last_seq())
    assert rebuilt.questions == live.questions
    assert rebuilt.forecasts == live.forecasts
    assert rebuilt.events.frame().equals(live.events.frame())
    snap = e.log.load_snapshot("risk", e.projections["risk"].version, e.log.last_seq())
    assert snap is not None and len(snap.data) > 0


# results ----------------------------------------------------------------------------------
def test_a_question_added_shows_itself_and_its_first_forecast_as_json() -> None:
    e = engine()
    asked = risk(e).add_question(
        "Will the talks in Beirut take place?", until_ms=NOW + 25 * MS_PER_DAY, places=(BEIRUT,),
        reference="announced rounds that met", hits=6, of=10,
    )  # fmt: skip
    assert isinstance(asked, Asked) and asked.new
    body = asked.to_json()
    q = body["question"]
    assert q["id"] == "will-the-talks-in-beirut-take-place"
    assert q["text"] == "Will the talks in Beirut take place?"
    assert q["shape"] == "binary" and q["deadline"] == "2026-12-15T00:00:00Z"
    assert q["places"] == [{"name": "Beirut", "lat": 33.8938, "lon": 35.5018}]
    assert q["reference"] == {"name": "announced rounds that met", "hits": 6, "of": 10}
    f = body["forecast"]
    assert [m["name"] for m in f["members"]] == ["base rate", "nearby conflicts"]
    assert f["spread"]["low"] <= f["aggregate"]["p"] <= f["spread"]["high"]
    again = risk(e).add_question(
        "Will the talks in Beirut take place?", until_ms=NOW + 25 * MS_PER_DAY, places=(BEIRUT,),
        reference="announced rounds that met", hits=6, of=10,
    )  # fmt: skip
    assert not again.new and again.forecast is None


# kinds written at an older version --------------------------------------------------------
def test_a_v1_judgment_is_upcast_on_read_and_shows_in_the_forecast(tmp_path: Path) -> None:
    """A judgment written at kind_version 1 named its person ``analyst``; v2 says ``by``. The
    log keeps it as written; the risk projection reads it through the upcaster, live, after a
    reopening and when rebuilt from the log as of a past moment."""
    time = ManualClock(NOW)
    room = sitroom.init(tmp_path / "room", clock=time)
    room.risk.ask(talks(places=()))
    time.advance(1000)
    old = Record(
        id="judgment:talks:old-hand:v1",
        kind="judgment",
        kind_version=1,
        source="analyst:old-hand",
        valid_from=NOW,
        payload={"question": "talks", "analyst": "old-hand", "p": 0.85, "rationale": "v1 era"},
    )
    assert JUDGMENT.version == 2
    room._engine.append([old])  # as an older sitroom wrote it
    judged_at = time.now_ms()
    # The log keeps it as written...
    [stored] = [r for b in room._log.read(kinds=["judgment"]) for r in b.rows()]
    assert stored.kind_version == 1 and "analyst" in stored.payload
    # ... and the risk projection reads it as v2: the member is the person who judged.
    assert room.session.state("risk").judgments["talks"]["old-hand"]["by"] == "old-hand"
    f = room.risk.forecast("talks").forecasts[0].forecast
    assert f is not None
    member = f.member("analyst old-hand")
    assert member.p == pytest.approx(0.85) and member.detail["by"] == "old-hand"
    assert member.drivers == "v1 era"
    time.advance(1000)
    room.risk.ask(talks(id="later", places=()))  # the log moves on past the judgment
    room.close()

    reopened = sitroom.open(tmp_path / "room", clock=ManualClock(NOW + MS_PER_H))
    try:
        [read] = reopened.session.records(kinds=["judgment"])
        assert read.kind_version == 2 and read.payload["by"] == "old-hand"
        assert "analyst" not in read.payload
        # As of the judgment, the state is folded again from the log, through the upcaster.
        then = reopened.risk.forecast("talks", as_of_ms=judged_at)
        assert [q.question.id for q in then.forecasts] == ["talks"]
        shown = then.forecasts[0].forecast
        assert shown is not None and shown.member("analyst old-hand").detail["by"] == "old-hand"
        assert [a.by for a in reopened.risk.scores().analysts] == ["old-hand"]
    finally:
        reopened.close()


def test_a_question_past_its_deadline_is_shown_resolved_without_waiting_for_a_tick() -> None:
    """It showed "open" until something else ticked the clock."""
    e = engine()
    risk(e).ask(count_question())
    clock(e).set(NOW + 8 * MS_PER_DAY)
    (row,) = risk(e).questions().questions
    assert row.status == "no"
    assert risk(e).forecast().forecasts == ()  # no open question left to forecast


def test_a_binary_question_whose_deadline_passed_is_refused() -> None:
    e = engine()
    with pytest.raises(UserInputError, match="has passed"):
        risk(e).add_question("Talks by yesterday?", until_ms=NOW - MS_PER_DAY, places=(BEIRUT,))
    assert e.log.last_seq() == 0


def test_a_count_question_scores_its_aggregate_by_crps_even_when_resolved_by_hand() -> None:
    """Count questions had no aggregate CRPS, and one resolved by hand had none at all."""
    from sitroom.application.risk import crps_of, crps_of_pool

    e = engine()
    risk(e).ask(count_question(threshold=5))
    near = destination(BEIRUT.point, 10, 100 * MILE)
    for i in range(2):
        clock(e).advance(MS_PER_H)
        e.append([event(f"ucdp:{i}", near, clock(e).now_ms())])
    settled = risk(e, "chair").resolve("beirut-7d", "no", reason="the window is called early")
    assert settled.score is not None
    resolved = e.states["risk"].questions["beirut-7d"]["resolution"]
    assert resolved["count"] == 2 and len(resolved["evidence"]) == 2  # the count it scores
    pooled = settled.score.member("aggregate").crps
    counted = [settled.score.member(n).crps for n in ("event count", "nearby conflicts")]
    assert pooled is not None and None not in counted
    # A pool of the members' distributions (equal weights here): CRPS is convex, so it scores
    # no worse than their mean score.
    assert pooled <= sum(counted) / 2 + 1e-12  # type: ignore[arg-type]
    one = {"mean": 2.0, "dispersion": None, "offset": 0}
    assert crps_of_pool([{"dist": one, "weight": 1.0}], 2) == pytest.approx(crps_of(one, 2))


def test_a_question_is_scored_over_its_life_and_analysts_against_its_difficulty() -> None:
    """Only the final forecast was scored, and analysts were weighted by raw Brier across
    questions of different difficulty."""
    e = engine()
    risk(e).ask(talks())  # the models say about 60% from the base rate
    risk(e, "dana").judge("talks", 0.05)  # wrong for most of its life ...
    clock(e).advance(20 * MS_PER_DAY)
    risk(e, "dana").judge("talks", 0.95)  # ... right at the end
    clock(e).advance(MS_PER_DAY)
    settled = risk(e, "chair").resolve("talks", "yes", reason="they met")
    assert settled.score is not None
    dana = settled.score.member("analyst dana")
    assert dana.brier == pytest.approx((0.95 - 1) ** 2)
    assert dana.brier_life is not None and dana.brier_life > 0.5  # 20 of its 21 days at 5%
    assert settled.score.member("aggregate").brier_life is not None
    scores = risk(e).scores()
    (record,) = scores.analysts
    (ratio,) = record.relative  # her last judgment against the models' on the same question
    models = [m for m in settled.score.members if m.member not in ("aggregate", "analyst dana")]
    yardstick = sum(m.brier for m in models) / len(models)
    assert ratio == pytest.approx(max((0.95 - 1) ** 2, 0.001) / max(yardstick, 0.01), abs=1e-4)
    assert record.weight > 1.0  # better than the models on this question
    assert record.calibration == ((1, 0.95, 1.0),)
    means = {m.member: m for m in scores.means}
    assert means["analysts"].brier_life == pytest.approx(dana.brier_life)

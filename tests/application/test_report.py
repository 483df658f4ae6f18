"""The after-action report's contents, gathered through a user's session: each section holds what
the log says (an alert's evidence and how long after it the alert fired, a forecast's members,
a track's status history in order), the window is of recorded time, a reader not cleared for a
track gets nothing of it, and long sections are capped with a count of the rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

import sitroom
from sitroom.application import report as report_module
from sitroom.application.report import AfterAction
from sitroom.domain.timeutil import MS_PER_H, parse_time
from sitroom.errors import UserInputError
from sitroom.room import Room
from sitroom.testing import ManualClock

from helpers import PASS, crisis_room

T0 = parse_time("2026-11-25", now_ms=0)  # the crisis room's clock starts here


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return crisis_room(tmp_path_factory.mktemp("aar") / "room")


def opened(path: Path, user: str) -> Room:
    return sitroom.open(path, user=user, proof=PASS, clock=ManualClock(T0 + 10 * MS_PER_H))


@pytest.fixture
def alice(built: Path) -> Iterator[AfterAction]:
    with opened(built, "alice") as r:
        yield r.reports.build()


def test_every_alert_comes_with_its_evidence_and_how_long_after_it_the_alert_fired(
    alice: AfterAction,
) -> None:
    by_title = {a.title.split(":")[0]: a for a in alice.alerts}
    assert set(by_title) == {
        "Over-booked",
        "Deadlock",
        "Reply overdue from Tehran to m-1",
        "Deadlock cleared",
        "direct breaker opened",
    }
    late = by_title["Reply overdue from Tehran to m-1"]
    assert [e.id for e in late.evidence] == ["send:m-1"]
    assert "m-1 sent on direct to Tehran" in late.evidence[0].words
    assert late.evidence[0].recorded_ms == T0 + MS_PER_H  # sent at 01:00...
    assert late.entry.recorded_ms == T0 + 7 * MS_PER_H  # ... overdue raised at 07:00
    assert late.after_newest_ms == 6 * MS_PER_H
    assert late.detect_ms is not None and late.detect_ms >= 0
    # A deadlock names tracks and a resource: each stands for the record that declared it.
    deadlock = by_title["Deadlock"]
    assert {e.id for e in deadlock.evidence} == {
        "resource:nsc-me",
        "track:ceasefire",
        "track:us-iran",
    }
    assert all(e.recorded_ms == T0 for e in deadlock.evidence)
    assert deadlock.after_newest_ms == 0
    cleared = by_title["Deadlock cleared"]
    assert cleared.evidence[0].id == deadlock.entry.id
    assert cleared.after_newest_ms == 7 * MS_PER_H
    assert alice.alerts_withheld == 0 and alice.alerts_total == 5


def test_a_forecast_lists_its_members_and_each_forecast_its_aggregate_and_range(
    alice: AfterAction,
) -> None:
    (talks,) = alice.questions
    assert talks.id == "talks" and talks.track == "us-iran"
    assert talks.text.startswith("Will the <script>")  # as written: the renderers escape it
    assert "analyst alice" in talks.members and "base rate" in talks.members
    first, last = talks.points[0], talks.points[-1]
    assert first.recorded_ms < last.recorded_ms
    judged = {m.name: m.p for m in last.members}
    assert judged["analyst alice"] == pytest.approx(0.9)
    assert last.high == pytest.approx(0.9)
    assert last.low is not None and last.low <= (last.aggregate or 0) <= last.high


def test_each_track_has_its_status_history_in_the_order_recorded(alice: AfterAction) -> None:
    history = {t.id: [c.status for c in t.changes] for t in alice.tracks}
    assert history == {"ceasefire": ["negotiating", "agreed"], "us-iran": ["planned", "postponed"]}
    us_iran = next(t for t in alice.tracks if t.id == "us-iran")
    assert us_iran.name == "US–Iran talks"
    stamps = [c.recorded_ms for c in us_iran.changes]
    assert stamps == [T0, T0 + 9 * MS_PER_H]
    assert {p.kind for p in us_iran.plans} == {"holding"}


def test_decisions_channel_events_and_overdue_replies(alice: AfterAction) -> None:
    kinds = [e.kind for e in alice.agreements]
    assert kinds == [
        "agreement.proposed",
        "agreement.signed",
        "agreement.signed",
        "agreement.agreed",
    ]
    assert [e.kind for e in alice.channel_events] == [
        "channel.send",
        "channel.ack",
        "channel.state",
    ]
    (late,) = alice.overdue
    assert (late.message, late.counterpart, late.answered_ms) == ("m-1", "Tehran", None)


def test_the_timeline_groups_records_with_valid_and_recorded_time(alice: AfterAction) -> None:
    groups = {g.name: g for g in alice.timeline}
    assert [e.words for e in groups["status"].entries] == [
        "ceasefire → agreed",
        "us-iran → postponed",
    ]
    holding = next(e for e in groups["tracks"].entries if e.kind == "holding")
    # Held from 2026-11-20, known here on the 25th: five days late.
    assert holding.valid_from == parse_time("2026-11-20", now_ms=0)
    assert holding.known_after_ms == 5 * 24 * MS_PER_H
    assert alice.bookkeeping.get("identity", 0) >= 3  # counted, not listed
    assert alice.window.after_seq == 0 and alice.window.upto_seq == alice.last_seq


def test_only_what_was_recorded_in_the_window_is_in_it(built: Path) -> None:
    with opened(built, "alice") as r:
        part = r.reports.build(T0 + 5 * MS_PER_H, T0 + 8 * MS_PER_H + 30 * 60_000)
    ids = {e.id for g in part.timeline for e in g.entries}
    assert "alert:channels:overdue:m-1" in ids  # 07:00
    assert not any(i.startswith(("track:", "holding:")) for i in ids)  # 00:00
    assert not any(i.startswith("question:") for i in ids)  # 02:00
    assert [t.id for t in part.tracks if t.changes] == ["ceasefire"]
    us_iran = next(t for t in part.tracks if t.id == "us-iran")
    assert us_iran.before is not None and us_iran.before.status == "planned"
    assert us_iran.changes == ()  # postponed at 09:00: after the window
    assert {a.title.split(":")[0] for a in part.alerts} == {
        "Reply overdue from Tehran to m-1",
        "Deadlock cleared",
        "direct breaker opened",
    }


def test_a_reader_not_cleared_for_a_track_gets_nothing_of_it(built: Path) -> None:
    with opened(built, "dana") as r:
        dana = r.reports.build()
    text = orjson.dumps(dana.to_json()).decode()
    for word in ("us-iran", "US–Iran", "Tehran", "talks", "m-1", "direct"):
        assert word not in text, word
    # The alerts about us-iran are in its compartment or a joint one (a deadlock, an
    # over-booking, its channel): none is general, so none is even to withhold.
    assert dana.alerts == () and dana.alerts_withheld == 0
    assert [t.id for t in dana.tracks] == ["ceasefire"]
    assert dana.hidden > 0
    assert [e.kind for e in dana.agreements][-1] == "agreement.agreed"  # ceasefire's: hers


def test_a_window_that_ends_before_it_starts_is_refused(built: Path) -> None:
    with opened(built, "alice") as r, pytest.raises(UserInputError, match="before it starts"):
        r.reports.build(T0 + 2 * MS_PER_H, T0 + MS_PER_H)


def test_long_sections_keep_their_first_entries_and_count_the_rest(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "TIMELINE_CAP", 2)
    monkeypatch.setattr(report_module, "EVENTS_CAP", 1)
    with opened(built, "alice") as r:
        capped = r.reports.build()
    tracks = next(g for g in capped.timeline if g.name == "tracks")
    assert len(tracks.entries) == 2 and tracks.total == 7
    assert len(capped.channel_events) == 1 and capped.channel_events_total == 3


def test_a_general_alert_naming_a_track_as_older_logs_hold_is_withheld(
    built: Path, tmp_path: Path
) -> None:
    """Before joint compartments, a deadlock or a channel's alert was general and named the
    tracks: a report still withholds such a one from a reader not cleared for them."""
    import shutil

    from sitroom.domain.kinds import ALERT

    room = Path(shutil.copytree(built, tmp_path / "room"))
    with sitroom.open(room, as_site=True, clock=ManualClock(T0 + 9 * MS_PER_H)) as r:
        now = r.session.now_ms()
        old = {
            "detector": "tracks",
            "key": "deadlock:old#1",
            "severity": "critical",
            "title": "Deadlock: us-iran waits on ceasefire, which waits on us-iran",
            "evidence": ["track:us-iran", "track:ceasefire"],
            "triggered_by": [],
            "detail": {},
            "detect_ms": 0.0,
        }
        r.engine.append([ALERT.record(old, id="alert:old", source="sitroom", valid_from=now)])
    with opened(room, "dana") as r:
        dana = r.reports.build()
    assert dana.alerts == () and dana.alerts_withheld == 1
    assert "waits on" not in orjson.dumps(dana.to_json()).decode()

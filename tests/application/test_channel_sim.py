"""The channel simulator: real traces (read by the trace adapter), on a virtual clock, through the
courier and the detectors; its report as JSON and for people."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from rich.console import Console

import sitroom
from sitroom.adapters.clock import ManualClock
from sitroom.adapters.log_memory import MemoryLog
from sitroom.adapters.trace import load_trace, parse_trace, trace_from_dict
from sitroom.application.channels import simulate_scratch
from sitroom.application.engine import Engine
from sitroom.application.netsim import Trace, simulate
from sitroom.application.netsim_report import SimReport
from sitroom.application.session import Session
from sitroom.cli.render.channels import simulation
from sitroom.domain.channels.ledger import ChannelDetector, ChannelsProjection
from sitroom.domain.kinds import ALERT, CHANNEL_REPLY
from sitroom.domain.timeutil import MS_PER_H, MS_PER_MIN, MS_PER_S, parse_duration, to_ms
from sitroom.errors import SourceError, UserInputError
from sitroom.room import scratch_engine

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "channels"
TEHRAN = ZoneInfo("Asia/Tehran")


def scratch(clock: ManualClock) -> Session:
    engine = scratch_engine(site="sim")
    engine.clock = clock
    return Session.site(engine)


def sim(trace: Trace) -> SimReport:
    return simulate_scratch(trace, scratch)


def engine_with(*, detect: bool = True) -> tuple[Engine, ManualClock]:
    """A small engine (the channel projection, and its detector if ``detect``) on a manual
    clock, for the simulation to run on."""
    clock = ManualClock(0)
    engine = Engine(
        MemoryLog(),
        clock,
        site="s1",
        projections=[ChannelsProjection()],
        detectors=[ChannelDetector()] if detect else [],
    )
    return engine, clock


def play(trace: Trace | str, engine: Engine, clock: ManualClock) -> SimReport:
    parsed = parse_trace(trace) if isinstance(trace, str) else trace
    return simulate(parsed, Session.site(engine), clock)


@cache
def run(name: str) -> SimReport:
    return sim(load_trace(TRACES / f"{name}.yaml"))


def after(r: SimReport, ms: int) -> int:
    return r.start_ms + ms


def tehran(*args: int) -> int:
    return to_ms(datetime(*args, tzinfo=TEHRAN))


# -- failover, copies, waiting for one's own channel ----------------------------------------


def test_an_urgent_message_sent_in_an_outage_fails_over_keeping_its_id() -> None:
    r = run("outage")
    moves = [f for f in r.failovers if f.message == "m-urgent"]
    assert len(moves) == 1
    f = moves[0]
    assert (f.from_channel, f.to_channel, f.at_ms) == (
        "direct",
        "muscat",
        after(r, 2 * MS_PER_H + 10 * MS_PER_MIN),
    )
    assert f.path == ("Direct secure link", "Backchannel", "via Muscat")
    got = r.delivery("m-urgent")
    assert got is not None
    assert (got.channel, got.copies) == ("muscat", 1)
    assert "m-urgent" not in r.unacknowledged
    # One alert for the outage's IMMEDIATE failovers, raised with the first (m-edge): m-urgent
    # went the same way in the same outage, and raised no second one.
    (alert,) = [a for a in r.alerts if a.key.startswith("failover:")]
    (edge,) = [x for x in r.failovers if x.message == "m-edge"]
    assert alert.at_ms == edge.at_ms < f.at_ms
    assert alert.key.startswith("failover:direct:muscat:IMMEDIATE:liveness:direct:")
    assert "message m-edge escalated from Direct secure link to Backchannel" in alert.title


def test_the_failover_alert_in_the_log_carries_the_escalation_path() -> None:
    engine, clock = engine_with()
    r = play(load_trace(TRACES / "outage.yaml"), engine, clock)
    alerts = {a.id: a for b in engine.log.read(kinds=[ALERT]) for a in b.rows()}
    (a,) = [a for a in alerts.values() if a.payload["key"].startswith("failover:")]
    assert a.payload["detail"]["messages"] == ["m-edge"]
    assert a.payload["detail"]["escalation"] == "Direct secure link → Backchannel → via Muscat"
    (edge,) = [x for x in r.failovers if x.message == "m-edge"]
    assert a.valid_from == edge.at_ms  # on the virtual clock
    assert len(alerts) == len(r.alerts)
    # the projection saw the same story as the report
    m = engine.states["channels"]["messages"]["m-urgent"]
    assert (m["status"], m["channels"]) == ("acked", ["direct", "muscat"])


def test_a_copy_sent_again_after_a_lost_ack_is_received_once() -> None:
    r = run("outage")
    got = r.delivery("m-edge")
    assert got is not None
    # It reached Tehran on the direct link just before the outage; the ack was lost in it.
    assert got.channel == "direct" and got.at_ms < after(r, 2 * MS_PER_H)
    assert got.copies == 2  # once more through Muscat, after the direct link fell silent
    assert [(f.from_channel, f.to_channel) for f in r.failovers if f.message == "m-edge"] == [
        ("direct", "muscat")
    ]
    assert r.copies_received == r.received_once + 1
    assert r.stats("IMMEDIATE").acked == r.stats("IMMEDIATE").sent


def test_a_routine_message_waits_for_its_own_channel_and_goes_after_the_outage() -> None:
    r = run("outage")
    assert not [f for f in r.failovers if f.message == "m-routine"]
    got = r.delivery("m-routine")
    assert got is not None
    assert got.channel == "direct" and got.copies == 1
    assert got.at_ms >= after(r, 2 * MS_PER_H + 30 * MS_PER_MIN)
    # its missing acks opened the direct breaker; the probe after the cool-down was it
    breaker = [(s.old, s.new) for s in r.states if s.channel == "direct" and s.aspect == "breaker"]
    assert breaker == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_the_silence_is_detected_within_four_heartbeats_of_the_outage() -> None:
    """The interval, the pause a channel allows for a lost heartbeat (1.5 intervals), and the
    jitter phi has learned."""
    r = run("outage")
    outage = after(r, 2 * MS_PER_H)
    first = next(
        s
        for s in r.states
        if s.channel == "direct" and s.aspect == "liveness" and s.at_ms >= outage
    )
    assert first.new == "suspect_path"  # Muscat still hears Tehran: the path, not the peer
    assert 2 * MS_PER_S < first.at_ms - outage <= 4 * MS_PER_S
    alert = next(a for a in r.alerts if a.at_ms == first.at_ms and a.key.startswith("liveness:"))
    assert "the path is suspect, not Tehran desk" in alert.title
    back = next(
        s
        for s in r.states
        if s.channel == "direct" and s.aspect == "liveness" and s.at_ms > first.at_ms
    )
    assert back.new == "alive" and back.at_ms - after(r, 150 * MS_PER_MIN) < MS_PER_S


def test_a_silent_counterpart_is_told_from_a_broken_path() -> None:
    r = run("peer_down")
    live = [s for s in r.states if s.channel == "direct" and s.aspect == "liveness"]
    down, back = after(r, 20 * MS_PER_MIN), after(r, 40 * MS_PER_MIN)
    peer = next(s for s in live if s.new == "suspect_peer")
    assert down < peer.at_ms <= down + 5 * MS_PER_S
    critical = next(a for a in r.alerts if a.at_ms == peer.at_ms)
    assert critical.severity == "critical"
    assert "Muscat has not heard Tehran desk either" in critical.title
    # later only the direct path breaks: Muscat vouches for Tehran
    path = next(s for s in live if s.at_ms >= after(r, 60 * MS_PER_MIN))
    assert path.new == "suspect_path"
    # the message sent while Tehran was down reaches it once it is back, once
    got = r.delivery("m-peer")
    assert got is not None and got.at_ms > back and got.copies == 1
    assert r.unacknowledged == ()


# -- the counterpart's habits, in their working week ------------------------------------------


def test_a_quiet_counterpart_is_flagged_once_its_learned_bound_passes() -> None:
    r = run("habits")
    overdue = {a.key: a for a in r.alerts if a.key.startswith("overdue:")}
    assert set(overdue) == {"overdue:m-thu", "overdue:m-sat"}  # never the answered ones
    a = overdue["overdue:m-sat"]
    # sent Saturday 09:00 in Tehran; its replies took at most 4 working hours
    assert a.at_ms == tehran(2026, 12, 5, 13, 0) + 1
    assert "usually replies within 4.0 working hours (95th percentile of 5 replies)" in a.title
    assert r.replies == 5


def test_a_thursday_evening_message_is_not_flagged_before_saturday_working_hours() -> None:
    r = run("habits")
    a = next(a for a in r.alerts if a.key == "overdue:m-thu")
    saturday_morning = tehran(2026, 12, 5, 8, 0)
    assert a.at_ms > saturday_morning  # Thursday and Friday are Tehran's weekend
    assert a.at_ms == saturday_morning + 4 * MS_PER_H + 1


# -- storms, loss, and the books -------------------------------------------------------------


def test_a_storm_drops_routine_messages_only() -> None:
    r = run("storm")
    routine = r.stats("ROUTINE")
    assert routine.dropped > 2000 and routine.acked > 0
    for p in ("FLASH", "IMMEDIATE", "PRIORITY"):
        s = r.stats(p)
        assert s.dropped == 0 and s.acked == s.sent > 0, p
    flash = r.stats("FLASH")
    assert flash.delivery_p99_ms is not None and flash.delivery_p99_ms < 200
    assert r.backpressure["reject"] > 0 and r.backpressure["slow_down"] > 0
    assert not [a for a in r.alerts if a.key.startswith("drop:")]  # ROUTINE drops do not alert


def test_lost_acks_bring_copies_that_count_once() -> None:
    r = run("lossy")
    assert r.retries > 0
    assert r.copies_received > r.received_once == r.sent == r.acked == 200


@pytest.mark.parametrize("name", ["outage", "peer_down", "habits", "storm", "lossy"])
def test_every_message_is_accounted_for(name: str) -> None:
    r = run(name)
    for p in r.priorities:
        assert p.sent == p.acked + p.dropped + p.unacknowledged, p
    assert r.lost == 0 and r.balanced
    assert r.sent == sum(p.sent for p in r.priorities) > 0
    assert r.anomalies == ()


def test_messages_still_waiting_at_the_end_are_reported() -> None:
    r = sim(
        parse_trace(
            """
start: 2026-11-30T06:00:00Z
until: 30m
counterpart_down: [[5m, 2h]]
channels: [{id: cable, counterpart: Embassy, ack_timeout: 10s}]
events:
  - {at: 1m, send: {id: early, channel: cable, priority: PRIORITY}}
  - {at: 10m, send: {id: late, channel: cable, priority: PRIORITY}}
""",
            name="waiting",
        )
    )
    assert r.unacknowledged == ("late",)
    assert r.stats("PRIORITY").unacknowledged == 1 and r.balanced
    assert r.to_json()["messages"] == {
        "sent": 2,
        "acked": 1,
        "dropped": 0,
        "unacknowledged": 1,
        "lost": 0,
        "balanced": True,
        "retries": r.retries,
        "replies": 0,
    }


def test_every_heartbeat_is_simulated() -> None:
    r = run("outage")
    # two channels at 1 s for 4 h, less the direct link's 30 minutes down
    assert abs(r.heartbeats - (2 * 4 * 3600 - 30 * 60)) <= 2


# -- determinism, output ----------------------------------------------------------------------


def test_the_same_trace_and_seed_give_the_same_report() -> None:
    trace = load_trace(TRACES / "outage.yaml")
    assert sim(trace) == run("outage")
    other = load_trace_with(TRACES / "outage.yaml", seed=8)
    assert sim(other).to_json()["priorities"] != run("outage").to_json()["priorities"]


def load_trace_with(path: Path, **changes: Any) -> Any:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    return trace_from_dict(data, name=path.name)


def test_the_report_is_json() -> None:
    r = run("outage")
    d = json.loads(json.dumps(r.to_json()))
    assert d["start"] == "2026-11-30T06:00:00Z" and d["duration_ms"] == 4 * MS_PER_H
    assert d["messages"]["balanced"] is True
    assert d["received"] == {"once": r.received_once, "copies": r.copies_received}
    f = next(f for f in d["failovers"] if f["message"] == "m-urgent")
    assert f["at"] == "2026-11-30T08:10:00Z" and f["from"] == "direct" and f["to"] == "muscat"
    assert all(a["at"].endswith("Z") and a["detector"] == "channels" for a in d["alerts"])
    assert set(d["priorities"]) == {"FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE"}
    # Per message: when it reached the far end, and on which channel (it had no times).
    urgent = next(x for x in d["deliveries"] if x["message"] == "m-urgent")
    got = r.delivery("m-urgent")
    assert got is not None and urgent["after_start_ms"] == got.at_ms - r.start_ms
    assert urgent["channel"] == got.channel and d["deliveries_not_shown"] == 0
    assert len(d["deliveries"]) == len(r.deliveries)


def test_render_for_people() -> None:
    console = Console(record=True, width=200)
    simulation(console, run("outage"))
    text = console.export_text()
    assert "Channel simulation outage.yaml" in text
    assert "Accounted for: 505 sent = 505 acked + 0 dropped + 0 waiting" in text
    assert "Direct secure link → Backchannel → via Muscat" in text
    assert "escalated from Direct secure link to Backchannel" in text


# -- the trace format -------------------------------------------------------------------------


def test_durations_compound() -> None:
    assert parse_duration("2h30m") == 150 * MS_PER_MIN
    assert parse_duration("1d 2h") == 26 * MS_PER_H
    assert parse_duration("7199.9s") == 7_199_900
    with pytest.raises(UserInputError):
        parse_duration("2h soon")


def test_repeats_replies_and_counterparts_by_name() -> None:
    t = trace_from_dict(
        {
            "start": "2026-11-30T06:00:00Z",
            "until": "2d",
            "channels": [
                {"id": "a", "counterpart": "Oman", "heartbeat": "1m"},
                {"id": "b", "counterpart": "Qatar", "heartbeat": "1m"},
            ],
            "counterpart_down": {"Qatar": [["1h", "2h"]]},
            "events": [
                {
                    "at": "1h",
                    "repeat": {"count": 3, "every": "1d"},
                    "send": {"id": "d", "channel": "a", "reply_after": "30m", "reply_within": "4h"},
                },
                {"at": "5m", "storm": {"channel": "b", "count": 4, "over": "4s"}},
            ],
        }
    )
    sends = [(e.at_ms - t.start_ms, e.send.id) for e in t.events if e.send is not None]
    assert sends == [
        (300_000, "storm1-1"),
        (301_000, "storm1-2"),
        (302_000, "storm1-3"),
        (303_000, "storm1-4"),
        (MS_PER_H, "d-1"),
        (25 * MS_PER_H, "d-2"),
    ]  # d-3 would come after `until`
    replies = [(e.at_ms - t.start_ms, e.reply) for e in t.events if e.reply is not None]
    assert replies == [(90 * MS_PER_MIN, "d-1"), (25 * MS_PER_H + 30 * MS_PER_MIN, "d-2")]
    d1 = next(e.send for e in t.events if e.send is not None and e.send.id == "d-1")
    assert d1.reply_by_ms == t.start_ms + 5 * MS_PER_H
    assert t.counterpart_down == {"Qatar": ((t.start_ms + MS_PER_H, t.start_ms + 2 * MS_PER_H),)}
    r = sim(t)
    assert r.replies == 2 and r.balanced


def test_replies_are_recorded_at_their_time() -> None:
    engine, clock = engine_with(detect=False)
    r = play(load_trace(TRACES / "habits.yaml"), engine, clock)
    replies = [x for b in engine.log.read(kinds=[CHANNEL_REPLY]) for x in b.rows()]
    assert [(x.id, x.valid_from - r.start_ms) for x in replies][:2] == [
        ("reply:learn-1", 2 * MS_PER_H),
        ("reply:learn-2", 27 * MS_PER_H),
    ]
    assert (
        engine.states["channels"]["messages"]["learn-3"]["replied_ms"] == r.start_ms + 52 * MS_PER_H
    )


BASE = yaml.safe_load((TRACES / "outage.yaml").read_text())


def _set(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node: Any = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return dict(data)


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("until", _DELETE, "until: is required"),
        ("start", "yesterday", "start: cannot read time 'yesterday'"),
        ("events.0.send.priority", "URGENT", "events[0].send.priority: unknown priority 'URGENT'"),
        ("channels.0.heartbeat", "soon", "channels[0].heartbeat: cannot read duration 'soon'"),
        ("channels.0.heartbeet", "1s", "channels[0]: unknown field 'heartbeet'"),
        ("channels.1.fallback", "nowhere", "channels[1].fallback: no channel 'nowhere'"),
        ("channels.0.timezone", "Mars/Olympus", "channels[0] (direct): unknown time zone"),
        ("network.cable", {"delay": "1s"}, "network: unknown field 'cable'"),
        ("network.direct.down", [["2h"]], "network.direct.down[0]: expected a [from, to] pair"),
        ("network.direct.down", [["2h", "1h"]], "network.direct.down[0]: the window must end"),
        ("network.direct.loss", 2, "network.direct.loss: expected a number from 0 to 1"),
        ("events.1.storm.channel", "telex", "events[1].storm.channel: no channel 'telex'"),
        ("events.2", {"at": "1h", "reply": "m-nope"}, "events[2].reply: no message 'm-nope'"),
        ("events.3.send.id", "m-open", "events[3].send.id: message id 'm-open' is used twice"),
        ("events.0.at", 5, "events[0].at: expected a duration"),
    ],
)
def test_a_malformed_trace_names_the_field(path: str, value: Any, expected: str) -> None:
    with pytest.raises(UserInputError) as e:
        trace_from_dict(_set(path, value), name="bad.yaml")
    message = str(e.value)
    assert message.startswith("trace bad.yaml: ") and "\n" not in message
    assert expected in message


def test_unreadable_traces() -> None:
    with pytest.raises(UserInputError, match=r"trace t: not valid YAML at line 3"):
        parse_trace("start: 2026-11-30\nuntil: [1d\n", name="t")
    with pytest.raises(UserInputError, match=r"trace t: the trace: expected a mapping"):
        parse_trace("- 1\n- 2\n", name="t")
    with pytest.raises(SourceError, match="cannot read trace"):
        load_trace(TRACES / "no-such-trace.yaml")


def test_a_second_run_on_the_same_log_says_what_it_could_not_record() -> None:
    engine, clock = engine_with()
    trace = load_trace(TRACES / "peer_down.yaml")
    assert play(trace, engine, clock).anomalies == ()
    again = play(trace, engine, clock)
    assert again.balanced  # the report counts what the courier did, whatever the log kept
    assert again.anomalies and all("already in the log" in a for a in again.anomalies)


def test_a_reply_in_the_same_instant_as_its_message_still_counts() -> None:
    engine, clock = engine_with(detect=False)
    trace = """
start: 2026-11-30T06:00:00Z
until: 1m
channels: [{id: cable, counterpart: Embassy}]
events:
  - {at: 10s, send: {id: m, channel: cable, await_reply: true, reply_after: 0s}}
"""
    r = play(trace, engine, clock)
    assert engine.states["channels"]["messages"]["m"]["replied_ms"] == r.start_ms + 10 * MS_PER_S


def test_progress_is_told_the_virtual_time_played() -> None:
    seen: list[tuple[int, int | None]] = []
    r = simulate_scratch(
        load_trace(TRACES / "outage.yaml"), scratch, progress=lambda d, t: seen.append((d, t))
    )
    assert len(seen) > 3  # a report every few thousand events, and one at the end
    assert seen[-1] == (r.duration_ms, r.duration_ms)
    done = [d for d, _ in seen]
    assert done == sorted(done) and all(t == r.duration_ms for _, t in seen)


def test_a_recorded_simulation_runs_on_the_virtual_clock_and_gives_the_room_its_own(
    tmp_path: Path,
) -> None:
    now = to_ms(datetime(2027, 1, 4, 12, 0, tzinfo=ZoneInfo("UTC")))
    clock = ManualClock(now)
    with sitroom.init(tmp_path / "room", clock=clock) as room:
        r = room.channels.simulate(TRACES / "outage.yaml", record=True)
        assert room.session.now_ms() == now  # given back after the run
        listed = room.channels.list()
        assert {c.id for c in listed.channels} == {"direct", "muscat"}
        alerts = room.world.alerts(as_of_ms=None).alerts
        failover = next(a for a in alerts if a.key.startswith("failover:"))
        assert failover.detail["escalation"] == "Direct secure link → Backchannel → via Muscat"
        assert r.balanced and r.anomalies == ()
        # the scratch run of the same trace tells the same story, and leaves the room alone
        records = room.session.count()
        assert room.channels.simulate(TRACES / "outage.yaml") == r
        assert room.session.count() == records


def test_a_flash_goes_within_seconds_of_the_path_coming_back() -> None:
    """A 3-minute cut opened the breaker, and the FLASH waited out its 30-minute cool-down
    although heartbeats showed the peer back (live: 20 s down, the FLASH acked 30 min later)."""
    r = sim(load_trace(TRACES.parents[2] / "examples" / "flash-after-outage.yaml"))
    back = after(r, 13 * MS_PER_MIN)
    got = r.delivery("flash")
    assert got is not None and back < got.at_ms <= back + 10 * MS_PER_S
    breaker = [s for s in r.states if s.channel == "direct" and s.aspect == "breaker"]
    assert [s.new for s in breaker][:3] == ["open", "half_open", "closed"]
    assert "heartbeat" in breaker[1].reason
    assert r.unacknowledged == ()


def test_a_storm_of_failovers_in_one_outage_is_one_alert_per_priority() -> None:
    """Each failover raised its own alert: a storm sent hundreds."""
    r = play(
        """
start: 2026-11-30T06:00:00Z
until: 30m
channels:
  - {id: direct, counterpart: T, fallback: muscat, heartbeat: 1s, ack_timeout: 5s}
  - {id: muscat, counterpart: T, via: Muscat, heartbeat: 1s, ack_timeout: 20s}
network:
  direct: {delay: 50ms, down: [[5m, 20m]]}
events:
  - {at: 6m, storm: {channel: direct, priority: IMMEDIATE, count: 40, over: 20s}}
  - {at: 7m, storm: {channel: direct, priority: FLASH, count: 10, over: 5s}}
""",
        *engine_with(),
    )
    moved = {f.message for f in r.failovers}
    assert len(moved) == 50  # every urgent message went via Muscat ...
    failovers = [a for a in r.alerts if a.key.startswith("failover:")]
    assert len(failovers) == 2  # ... and the room was told twice, once per priority
    assert {a.key.split(":")[3] for a in failovers} == {"IMMEDIATE", "FLASH"}
    assert r.unacknowledged == ()


def test_an_expired_message_is_void_not_delivered_late() -> None:
    r = play(
        """
start: 2026-11-30T06:00:00Z
until: 1h
channels:
  - {id: direct, counterpart: T, heartbeat: 1s, ack_timeout: 5s}
network:
  direct: {delay: 50ms, down: [[5m, 30m]]}
events:
  - {at: 6m, send: {id: hold, channel: direct, priority: IMMEDIATE, body: "hold until noon",
                    expires_within: 10m}}
  - {at: 6m, send: {id: keep, channel: direct, priority: IMMEDIATE, body: "stands"}}
""",
        *engine_with(),
    )
    assert r.delivery("hold") is None  # void by 16m, the path back at 30m
    assert r.delivery("keep") is not None
    (alert,) = [a for a in r.alerts if a.key == "drop:hold"]
    assert "void if not delivered by 2026-11-30T06:16:00Z" in alert.title

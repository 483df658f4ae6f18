"""The channels service on a room: typed results, errors with their fields, messages between
two rooms over an in-memory wire, and a track's sealed messages read by those cleared for it —
and refused, on the record, to those who are not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import sitroom
from sitroom.adapters.clock import ManualClock
from sitroom.adapters.trackfile import parse_track_file
from sitroom.application.channels import Channels, parse_listen, priority_of
from sitroom.application.desk import Desk
from sitroom.domain.channels.priority import Priority
from sitroom.domain.kinds import ACCESS_DENIED, CHANNEL
from sitroom.domain.timeutil import parse_time
from sitroom.errors import AccessDenied, NotFound, UserInputError
from sitroom.room import Room
from sitroom.testing import MemoryWire

T0 = parse_time("2026-12-01T08:00:00Z", now_ms=0)
TRACKS = "tracks:\n  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva}\n"
PASSPHRASE = "correct horse battery"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def room(tmp_path: Path, clock: ManualClock) -> Iterator[Room]:
    with sitroom.init(tmp_path / "room", site="washington", clock=clock) as r:
        yield r


def test_a_channel_declared_is_listed_with_its_health_as_json(room: Room) -> None:
    declared = room.channels.add(
        "direct", counterpart="Tehran desk", name="Direct secure link", ack_timeout_ms=5_000,
        timezone="Asia/Tehran", hours="08:00-16:00", days="Sat-Wed",
    )  # fmt: skip
    body = declared.to_json()
    assert (body["id"], body["counterpart"], body["track"], body["new"]) == (
        "direct",
        "Tehran desk",
        None,
        True,
    )
    assert body["payload"]["ack_timeout_ms"] == 5_000 and body["payload"]["week"]["days"]
    assert room.channels.add("direct", counterpart="Tehran desk", name="Direct secure link",
                             ack_timeout_ms=5_000, timezone="Asia/Tehran", hours="08:00-16:00",
                             days="Sat-Wed").new is False  # fmt: skip
    listed = room.channels.list().to_json()
    assert list(listed) == ["channels", "provenance"]  # provenance last
    (row,) = listed["channels"]
    assert (row["id"], row["breaker"], row["liveness"], row["pending"]) == (
        "direct",
        "closed",
        "unknown",
        0,
    )
    assert row["reply_bound_learned"] is False and "(Asia/Tehran)" in row["working_week"]
    assert listed["provenance"]["hidden"] == 0
    # As of before it was declared, there was no channel.
    assert room.channels.list(as_of_ms=T0 - 1).channels == ()


def test_mistakes_carry_their_fields(room: Room) -> None:
    with pytest.raises(NotFound) as e:
        room.channels.add("direct", counterpart="X", fallback="spare")
    assert (e.value.what, e.value.id, e.value.known) == ("channel", "spare", ())
    assert "no channel 'spare' to fail over to" in str(e.value)
    room.channels.add("spare", counterpart="X")
    with pytest.raises(NotFound) as e:
        room.channels.send("telex", "x")
    assert (e.value.what, e.value.id, e.value.known) == ("channel", "telex", ("spare",))
    with pytest.raises(NotFound) as e:
        room.channels.reply("m-9")
    assert (e.value.what, e.value.id) == ("message", "m-9")
    with pytest.raises(NotFound) as e:
        room.channels.status("nothing")
    assert e.value.what == "channel or message"
    with pytest.raises(UserInputError, match="unknown priority 'urgent'"):
        priority_of("urgent")
    assert priority_of("flash") is Priority.FLASH
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    with pytest.raises(UserInputError, match="HOST:PORT"):
        parse_listen("8650")


def test_a_message_crosses_to_another_room_once_and_is_acked(
    tmp_path: Path, room: Room, clock: ManualClock
) -> None:
    wire = MemoryWire()
    with sitroom.init(tmp_path / "tehran", site="tehran", clock=clock) as tehran:
        desk = Desk(tehran.session, wire)
        url = wire.listen("memory://tehran", desk.receive)
        room.channels.add("direct", counterpart="Tehran desk", url=url)
        channels = Channels(room.session, wire=lambda: wire)
        sent = channels.send("direct", "proposal", priority="FLASH", msg_id="m-1", wait_ms=5_000)
        desk.close()
        got = tehran.channels.status().to_json()
        assert got["received"] == 1
        read = tehran.channels.read("m-1")
    assert (sent.status, sent.accepted, sent.waiting, sent.path) == (
        "acked",
        True,
        False,
        ("direct",),
    )
    assert sent.to_json()["attempts"] == 1
    assert (read.direction, read.sealed, read.text) == ("received", False, "proposal")
    assert [u for _, u in wire.calls] == ["memory://tehran"]


def test_a_sealed_message_is_read_by_the_cleared_and_refused_on_the_record_to_others(
    tmp_path: Path, room: Room, clock: ManualClock
) -> None:
    room.session.append(parse_track_file("t", TRACKS, now_ms=T0).records)
    room.users.add("alice", role="admin", passphrase=PASSPHRASE)
    room.users.add("dana", passphrase=PASSPHRASE)
    room.users.grant("alice", "us-iran")
    room.channels.add("direct", counterpart="Tehran", track="us-iran")  # no address: it waits
    path = tmp_path / "room"

    with sitroom.open(path, user="alice", proof=PASSPHRASE, clock=clock) as alice:
        sent = alice.channels.send("direct", "meet on the 14th", msg_id="m-1", wait_ms=0)
        assert (sent.status, sent.waiting) == ("pending", True)
        asked: list[str] = []

        def passphrase(name: str) -> str:
            asked.append(name)
            return PASSPHRASE

        read = alice.channels.read("m-1", passphrase=passphrase)
    assert (read.sealed, read.track, read.sender, read.opened_with) == (
        True,
        "us-iran",
        "washington",
        "alice",
    )
    assert read.text == "meet on the 14th" and asked == []  # proven at open: not asked again
    # The site keeps it for those cleared here; the log holds no text.
    with sitroom.open(path, as_site=True, clock=clock) as site:
        assert site.channels.read("m-1").opened_with == "washington"
    assert b"meet on the 14th" not in (path / "sitroom.db").read_bytes()

    with sitroom.open(path, user="dana", proof=PASSPHRASE, clock=clock) as dana:
        assert dana.channels.list().channels == ()  # the track's channel is out of her sight
        assert dana.channels.list().provenance.hidden > 0
        with pytest.raises(AccessDenied) as e:
            dana.channels.read("m-1", passphrase=PASSPHRASE)
        assert (e.value.user, e.value.action, e.value.compartment) == (
            "dana",
            "read message m-1",
            "us-iran",
        )
        assert "not cleared for us-iran; refused and recorded" in str(e.value)
        with pytest.raises(AccessDenied):
            dana.channels.reply("m-1")
        with pytest.raises(NotFound):  # what does not exist at all is simply not found
            dana.channels.read("m-404")
    denied = room.session.records(kinds=[ACCESS_DENIED])
    assert [r.payload for r in denied] == [
        {"user": "dana", "action": "read message m-1", "reason": "not cleared for us-iran"},
        {"user": "dana", "action": "record a reply to m-1", "reason": "not cleared for us-iran"},
    ]
    assert all(r.compartment == "us-iran" for r in denied)


def test_a_viewer_may_not_declare_a_channel(tmp_path: Path, room: Room, clock: ManualClock) -> None:
    room.users.add("alice", role="admin", passphrase=PASSPHRASE)
    room.users.add("vic", role="viewer", passphrase=PASSPHRASE)
    with (
        sitroom.open(tmp_path / "room", user="vic", proof=PASSPHRASE, clock=clock) as vic,
        pytest.raises(AccessDenied),
    ):
        vic.channels.add("direct", counterpart="X")
    assert room.session.records(kinds=[CHANNEL]) == []


def test_a_failed_over_message_counts_as_acked_only_where_its_ack_came() -> None:
    from sitroom.application.channels import _channel_row

    state = {
        "channels": {
            "direct": {"id": "direct", "counterpart": "Tehran desk"},
            "muscat": {"id": "muscat", "counterpart": "Tehran desk", "via": "Muscat"},
        },
        "messages": {
            "m1": {"message": "m1", "status": "acked", "channels": ["direct", "muscat"],
                   "ack_channel": "muscat"},
            "m2": {"message": "m2", "status": "pending", "channels": ["direct", "muscat"]},
        },
        "states": {},
        "replies": {},
    }  # fmt: skip
    rows = {cid: _channel_row(state, c) for cid, c in state["channels"].items()}
    assert (rows["direct"].acked, rows["muscat"].acked) == (0, 1)
    assert (rows["direct"].pending, rows["muscat"].pending) == (0, 1)

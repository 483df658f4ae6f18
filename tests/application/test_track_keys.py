"""Track keys in a real room: clearances re-key a track, a removed member reads nothing of the
next epoch, and the keys detector warns ahead of wear-out, expiry and meetings."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sitroom
from sitroom.adapters.clock import ManualClock
from sitroom.adapters.keystore import KeyStore, new_secret
from sitroom.adapters.trackfile import parse_track_file
from sitroom.application.auth import Bearer
from sitroom.application.desk import Desk, channel_record
from sitroom.application.keys import EpochIssued, KeysMade
from sitroom.application.ports import Unlock, WireError
from sitroom.application.sealing import Keyring
from sitroom.application.session import Session
from sitroom.domain.channels.courier import Link
from sitroom.domain.channels.priority import Priority
from sitroom.domain.kinds import ALERT, JUDGMENT
from sitroom.domain.records import Record
from sitroom.domain.secure.authorship import signature_record
from sitroom.domain.secure.envelope import Header, seal
from sitroom.domain.secure.identity import Secret
from sitroom.domain.secure.ledger import SECURE
from sitroom.domain.secure.ratchet import Chains
from sitroom.domain.timeutil import MS_PER_DAY, parse_time
from sitroom.errors import (
    AccessDenied,
    AuthError,
    NotFound,
    Rejected,
    SecureError,
    UserInputError,
)
from sitroom.room import Room
from sitroom.settings import Settings
from sitroom.testing import MemoryChains

TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "geneva-schedule.yaml"
T0 = parse_time("2026-12-01T08:00:00Z", now_ms=0)
PASSPHRASE = "correct horse battery"


CLOCKS: dict[str, ManualClock] = {}  # each room's clock, by its path


def open_room(path: Path, **settings: Any) -> Room:
    """A new room on a manual clock at T0, with the track file's tracks, under ``settings``."""
    path.mkdir()
    (path / "sitroom.toml").write_text(Settings(site="geneva", **settings).to_toml())
    clock = CLOCKS[str(path)] = ManualClock(T0)
    room = sitroom.init(path, clock=clock)
    room.session.append(parse_track_file("t", TRACKS.read_text(), now_ms=T0).records)
    return room


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Room]:
    r = open_room(tmp_path / "room")
    yield r
    r.close()


def _person(room: Room, name: str) -> Secret:
    made = room.keys.init(name, passphrase=lambda who: PASSPHRASE)
    assert isinstance(made, KeysMade) and made.protected_by == "passphrase"
    return room.keys.unlock(name, PASSPHRASE)


def _epoch(room: Room, who: str, track: str, grant: bool = True) -> EpochIssued:
    change = room.users.grant(who, track) if grant else room.users.revoke(who, track)
    assert change.epoch is not None
    return change.epoch


def _ring(room: Room, secret: Secret) -> Keyring:
    return room.keys.keyring(secret)


def _site_ring(room: Room) -> Keyring:
    return _ring(room, room.keys.unlock(room.site))


def _clock(room: Room) -> ManualClock:
    return CLOCKS[str(room.path)]


def _alerts(room: Room) -> dict[str, dict[str, Any]]:
    return {
        r.payload["key"]: dict(r.payload)
        for r in room.session.records(kinds=[ALERT])
        if r.payload["detector"] == "keys"
    }


def test_each_clearance_change_re_keys_the_track_for_its_members_only(room: Room) -> None:
    dana, omar = _person(room, "dana"), _person(room, "omar")
    e1 = _epoch(room, "dana", "us-iran")
    e2 = _epoch(room, "omar", "us-iran")
    e3 = _epoch(room, "dana", "us-iran", grant=False)
    assert (e1.epoch, e1.members, e1.reason) == (1, ("dana", "geneva"), "members changed: + dana")
    assert (e2.epoch, e2.members) == (2, ("dana", "geneva", "omar"))
    assert (e3.epoch, e3.members) == (3, ("geneva", "omar"))
    assert e3.to_json()["members"] == ["geneva", "omar"]
    # The site seals a message in epoch 3; omar opens it, dana — removed — cannot.
    body = _site_ring(room).seal("us-iran", "m-1", b"after dana left", T0)
    assert _ring(room, omar).read(body, "us-iran").plaintext == b"after dana left"
    with pytest.raises(Rejected) as e:
        _ring(room, dana).read(body, "us-iran")
    assert e.value.reason == "not-a-member"
    # She still opens epoch 2, which was sealed to her.
    assert _ring(room, dana).secret("us-iran", 2) is not None
    with pytest.raises(Rejected):
        _ring(room, dana).secret("us-iran", 3)
    # Status: the track's current epoch, its members, the site's key as its sender.
    status = room.keys.status("us-iran")
    (track,) = status.tracks
    assert (track.epoch, track.epochs, track.members) == (3, 3, ("geneva", "omar"))
    assert [k.sender for k in track.keys] == ["geneva"]
    assert {i.name for i in status.identities} == {"dana", "geneva", "omar"}


def test_a_track_without_a_key_gets_its_first_epoch_when_a_message_needs_one(room: Room) -> None:
    body = _site_ring(room).seal("sanctions", "m-1", b"x", T0)
    (epoch,) = room.session.state(SECURE)["epochs"]["sanctions"]
    assert epoch["reason"] == "first message" and '"track":"sanctions"' in body


def test_an_expired_epoch_seals_nothing_until_rotated(tmp_path: Path) -> None:
    room = open_room(tmp_path / "room", key_wear_action="refuse")
    try:
        _person(room, "dana")
        _epoch(room, "dana", "us-iran")
        _clock(room).advance(31 * MS_PER_DAY)
        with pytest.raises(SecureError, match=r"expired .*; rotate it first"):
            _site_ring(room).seal("us-iran", "m-1", b"x", _clock(room).now_ms())
        rotated = room.keys.rotate("us-iran", reason="expired")
        assert (rotated.epoch, rotated.reason) == (2, "expired")
        assert '"epoch":2' in _site_ring(room).seal("us-iran", "m-1", b"x", _clock(room).now_ms())
        with pytest.raises(NotFound) as nf:
            room.keys.rotate("nowhere")
        assert (nf.value.what, nf.value.id) == ("track", "nowhere")
        assert "us-iran" in nf.value.known
    finally:
        room.close()


def test_users_keys_and_admin_acts_on_a_room(tmp_path: Path) -> None:
    """The first user is the admin; an analyst is refused admin acts, and the refusal is on
    the record; a passphrase is asked for only when keys are made."""
    room = open_room(tmp_path / "room")
    asked: list[str] = []

    def ask(name: str) -> str:
        asked.append(name)
        return PASSPHRASE

    with pytest.raises(UserInputError, match="first user of a room is its admin"):
        room.users.add("dana", passphrase=ask)
    assert asked == []  # refused before any passphrase was asked for
    first = room.users.add("alice", role="admin", passphrase=ask)
    assert (first.first, first.keys is not None, asked) == (True, True, ["alice"])
    room.users.add("dana", passphrase=ask)
    room.close()
    with sitroom.open(room.path, user="dana", proof=PASSPHRASE, clock=ManualClock(T0)) as dana:
        with pytest.raises(AccessDenied) as denied:
            dana.users.grant("dana", "us-iran")
        assert (denied.value.user, denied.value.action) == ("dana", "grant dana us-iran")
        with pytest.raises(AccessDenied):
            dana.keys.init("eve", passphrase=ask)
        assert asked == ["alice", "dana"]
        listed = dana.users.list()
        assert [(u.name, u.role) for u in listed.users if not u.endpoint] == [
            ("alice", "admin"),
            ("dana", "analyst"),
        ]
    with sitroom.open(room.path, as_site=True) as site:
        refusals = [r.payload["action"] for r in site.session.records(kinds=["access.denied"])]
    assert refusals == ["grant dana us-iran", "create keys for eve"]


class Down:
    """A wire on which nothing reaches the far end: messages stay pending, sealed, counted."""

    def deliver(self, url: str, envelope: Any, timeout_s: float) -> dict[str, Any]:
        raise WireError("refused")

    def ping(self, url: str, timeout_s: float) -> None:
        raise WireError("refused")

    def heard(self, url: str, timeout_s: float) -> int | None:
        return None

    def close(self) -> None:
        pass


def test_a_key_near_its_usage_limit_is_alerted_ahead_of_time(tmp_path: Path) -> None:
    room = open_room(tmp_path / "room", key_usage_limit=10, key_usage_warn=0.8)
    try:
        _person(room, "dana")
        _epoch(room, "dana", "us-iran")
        room.session.append([channel_record(Link("direct", "Tehran desk", track="us-iran"))])
        desk = Desk(room.session, Down(), keyring=_site_ring(room))
        try:
            for i in range(7):
                desk.submit("direct", Priority.ROUTINE, f"note {i}")
            assert not any(k.endswith("|used") for k in _alerts(room))
            desk.submit("direct", Priority.ROUTINE, "note 7")
        finally:
            desk.close()
        used = [a for k, a in _alerts(room).items() if k.endswith("|used")]
        assert len(used) == 1 and "sealed 8 of its 10 messages (80%)" in used[0]["title"]
        assert used[0]["detail"]["sender"] == "geneva"
        (track,) = room.keys.status("us-iran").tracks
        (use,) = track.keys
        assert (use.sealed, use.limit, use.used) == (8, 10, 0.8)
    finally:
        room.close()


def test_expiry_is_alerted_a_week_ahead_and_before_a_meeting_that_outlasts_the_key(
    tmp_path: Path,
) -> None:
    # A five-day cryptoperiod from 1 December ends on the 6th, before the meetings of the
    # week of the 7th that the schedule places.
    room = open_room(tmp_path / "room", key_cryptoperiod_days=5, key_warn_days=2)
    try:
        assert room.tracks.schedule().recorded
        _person(room, "dana")
        _epoch(room, "dana", "us-iran")
        alerts = _alerts(room)
        meeting = {k for k in alerts if "|meeting|" in k}
        assert meeting == {"us-iran|1|meeting|us-iran-1", "us-iran|1|meeting|us-iran-2"}
        assert not any(k.endswith("|expiring") for k in alerts)
        # Three days on, the expiry is two days away: warned on the clock, without any record.
        clock = _clock(room)
        due = room.session.next_due(clock.now_ms())
        assert due == T0 + 3 * MS_PER_DAY
        clock.set(due)
        room.session.tick()
        assert "us-iran|1|expiring" in _alerts(room)
        assert room.keys.status().key_alerts >= 3
    finally:
        room.close()


class Ticking(ManualClock):
    """A clock that moves a millisecond every time it is read, as a real one does between a
    message's timestamp and whatever the sealing does next (a first epoch, an append)."""

    def now_ms(self) -> int:
        self.t += 1
        return self.t


def test_a_first_epoch_covers_the_first_message_sealed_under_it(tmp_path: Path) -> None:
    """The first message of a track with no key started its epoch a moment after the message's
    own time, so every reader refused it ("outside epoch 1's cryptoperiod")."""
    room = open_room(tmp_path / "room")
    try:
        clock = room.engine.clock = Ticking(T0)
        body = _site_ring(room).seal("sanctions", "m-1", b"first word", clock.now_ms())
        (epoch,) = room.session.state(SECURE)["epochs"]["sanctions"]
        header = json.loads(body)["header"]
        assert epoch["created_ms"] <= header["ts"] < epoch["expires_ms"]
        assert _site_ring(room).read(body, "sanctions").plaintext == b"first word"
    finally:
        room.close()


def _send(room: Room, count: int) -> list[str]:
    """``count`` messages submitted to the us-iran channel's desk (a wire that reaches no one:
    they stay recorded, sealed): their bodies, as recorded."""
    room.session.append([channel_record(Link("direct", "Tehran desk", track="us-iran"))])
    desk = Desk(room.session, Down(), keyring=room.keys.keyring(room.keys.unlock(room.site)))
    try:
        for i in range(count):
            desk.submit("direct", Priority.ROUTINE, f"note {i}", msg_id=f"m-{i}")
    finally:
        desk.close()
    sent = room.session.state("channels")["messages"]
    return [sent[f"m-{i}"]["body"] for i in range(count) if f"m-{i}" in sent]


@pytest.mark.parametrize("action", ["rotate", "refuse"])
def test_no_key_seals_past_its_message_limit(tmp_path: Path, action: str) -> None:
    """A limit of 3 sealed 4 messages under one key, with an alert. Now the fourth is sealed
    under a new epoch (rotate: every member reads all four) or refused (refuse)."""
    room = open_room(tmp_path / "room", key_usage_limit=3, key_wear_action=action)
    try:
        omar = _person(room, "omar")
        _epoch(room, "omar", "us-iran")
        if action == "refuse":
            with pytest.raises(SecureError) as e:
                _send(room, 4)
            assert str(e.value) == (
                "track us-iran's epoch 1 key for geneva has sealed its 3 messages, its limit: "
                "refused (key_wear_action = refuse); rotate it first"
            )
            (track,) = room.keys.status("us-iran").tracks
            assert (track.epoch, track.keys[0].sealed) == (1, 3)
            return
        bodies = _send(room, 4)
        headers = [json.loads(b)["header"] for b in bodies]
        assert [(h["epoch"], h["n"]) for h in headers] == [(1, 1), (1, 2), (1, 3), (2, 1)]
        (track,) = room.keys.status("us-iran").tracks
        assert (track.epoch, track.members) == (2, ("geneva", "omar"))
        assert track.reason == (
            "track us-iran's epoch 1 key for geneva has sealed its 3 messages, its limit"
        )
        for ring in (_ring(room, omar), _site_ring(room)):
            assert [ring.read(b, "us-iran").plaintext for b in bodies] == [
                b"note 0",
                b"note 1",
                b"note 2",
                b"note 3",
            ]
    finally:
        room.close()


@pytest.mark.parametrize("action", ["rotate", "refuse"])
def test_an_expired_key_is_rotated_or_refused_as_set(tmp_path: Path, action: str) -> None:
    room = open_room(tmp_path / "room", key_wear_action=action)
    try:
        omar = _person(room, "omar")
        _epoch(room, "omar", "us-iran")
        _clock(room).advance(31 * MS_PER_DAY)
        ring = room.keys.keyring(room.keys.unlock(room.site))
        now = _clock(room).now_ms()
        if action == "refuse":
            with pytest.raises(SecureError, match=r"expired .*; rotate it first"):
                ring.seal("us-iran", "m-1", b"x", now)
            return
        body = ring.seal("us-iran", "m-1", b"late", now)
        assert json.loads(body)["header"]["epoch"] == 2
        (track,) = room.keys.status("us-iran").tracks
        assert track.reason.startswith("track us-iran's epoch 1 key expired")
        assert _ring(room, omar).read(body, "us-iran").plaintext == b"late"
    finally:
        room.close()


NEW_PASSPHRASE = "a new passphrase, never written down"


def test_a_replaced_key_opens_and_signs_nothing_after(tmp_path: Path) -> None:
    """The thief holds a copy of omar's old key file and its passphrase. After `keys replace
    omar`: the next epoch of each of his tracks is not sealed to the old key; an envelope the
    old key signs — even backdated into an epoch it can open — is refused; the new key reads;
    what the old key signed before its revocation still reads."""
    room = open_room(tmp_path / "room")
    try:
        _person(room, "omar")
        _epoch(room, "omar", "us-iran")
        _epoch(room, "omar", "sanctions")
        (tmp_path / "thief").mkdir()
        shutil.copy(room.path / "keys" / "omar.key", tmp_path / "thief" / "omar.key")
        thief = KeyStore(tmp_path / "thief").unlock("omar", Unlock(passphrase=PASSPHRASE))
        stolen = Keyring(
            lambda: room.session.state(SECURE), thief, chains=MemoryChains()
        )  # it may issue nothing
        now = _clock(room).now_ms()
        before = stolen.seal("us-iran", "m-1", b"omar, before", now)
        assert _site_ring(room).open(before, "us-iran").plaintext == b"omar, before"

        done = room.keys.replace("omar", passphrase=NEW_PASSPHRASE)
        assert (done.revoked, done.key_file) == (thief.identity.fingerprint, None)
        assert done.fingerprint != done.revoked and done.key == str(room.path / "keys/omar.key")
        assert [(e.track, e.epoch, e.members) for e in done.epochs] == [
            ("sanctions", 2, ("geneva", "omar")),
            ("us-iran", 2, ("geneva", "omar")),
        ]
        # The thief opens no new epoch, and seals nothing in one.
        for track in ("us-iran", "sanctions"):
            with pytest.raises(Rejected, match="sealed to omar's key") as e:
                stolen.secret(track, 2)
            assert e.value.reason == "not-a-member"
        # An envelope signed by the old key now, backdated into epoch 1, which it can open.
        old_epoch, secret = stolen.secret("us-iran", 1) or pytest.fail("epoch 1 was his")
        header = Header("us-iran", 1, "omar", "m-2", now + 1, 2, old_epoch.aead)
        key = Chains().key(secret, "us-iran", 1, "omar", old_epoch.aead, 2)
        late = json.dumps(seal(b"omar, after", header, key, thief, os.urandom(12)))
        with pytest.raises(Rejected) as refused:
            _site_ring(room).open(late, "us-iran")
        assert refused.value.reason == "forged"
        # The new key reads the new epoch; the old message still reads, signed by the key then.
        new = room.keys.unlock("omar", NEW_PASSPHRASE)
        body = _site_ring(room).seal("us-iran", "m-3", b"to omar", _clock(room).now_ms())
        assert _ring(room, new).read(body, "us-iran").plaintext == b"to omar"
        assert _site_ring(room).read(before, "us-iran").plaintext == b"omar, before"
        with pytest.raises(SecureError, match="wrong passphrase"):
            room.keys.unlock("omar", PASSPHRASE)
        with pytest.raises(UserInputError, match="opens omar's old key"):
            room.keys.replace("omar", passphrase=NEW_PASSPHRASE)
        (omar,) = [i for i in room.keys.status().identities if i.name == "omar"]
        assert (omar.fingerprint, omar.key_changes) == (done.fingerprint, 1)
        with pytest.raises(UserInputError, match="geneva is this site"):
            room.keys.replace("geneva")
    finally:
        room.close()


def test_an_intermediarys_replaced_key_gets_a_key_file_made_new(tmp_path: Path) -> None:
    """Whoever took the key may hold its key file too: the new key is under a new one, and
    the old one, made here, is gone."""
    room = open_room(tmp_path / "room")
    try:
        room.keys.init("muscat", role="intermediary")
        old_file = room.keys.key_file_of("muscat")
        assert old_file is not None and old_file.is_file()
        done = room.keys.replace("muscat")
        short = done.fingerprint.replace(" ", "")[:8]
        assert done.key_file == str(old_file.parent / f"muscat-{short}.keyfile")
        assert not old_file.exists() and Path(done.key_file).is_file()
        assert room.keys.unlock("muscat").identity.fingerprint == done.fingerprint
        assert done.epochs == ()  # a member of no track: nothing to re-key
    finally:
        room.close()


def _judged(rid: str) -> Record:
    return JUDGMENT.record(
        {"question": "q", "p": 0.2, "rationale": "", "by": "dana"}, id=rid, source="user:dana"
    )


def test_after_a_replacement_the_old_key_proves_and_signs_nothing(tmp_path: Path) -> None:
    """In a room with users: dana replaces her own key. Her old key — a stolen copy, or a
    token that wrapped it — opens no session, and a record it signed after the revocation is
    found by `verify`, where what the new key signed holds."""
    path = tmp_path / "room"
    with sitroom.init(path, clock=ManualClock(T0)) as r:
        r.users.add("alice", role="admin", passphrase=PASSPHRASE)
    with sitroom.open(path, user="alice", proof=PASSPHRASE, clock=ManualClock(T0)) as alice:
        alice.users.add("dana", passphrase=PASSPHRASE)
        token = alice.auth.login("dana", PASSPHRASE).token
        old = alice.keys.unlock("dana", PASSPHRASE)
    with sitroom.open(path, user="dana", proof=PASSPHRASE, clock=ManualClock(T0)) as dana:
        with pytest.raises(AccessDenied, match="dana is an analyst, not an admin"):
            dana.keys.replace("alice", passphrase=NEW_PASSPHRASE)
        done = dana.keys.replace("dana", passphrase=NEW_PASSPHRASE)
        assert done.tokens_revoked == 1
        dana.session.append([_judged("judgment:q:dana:1")])  # signed by her new key, as it must
    for proof in (PASSPHRASE, Bearer(token)):
        with pytest.raises(AuthError):
            sitroom.open(path, user="dana", proof=proof, clock=ManualClock(T0))
    assert sitroom.verify(path).ok
    with sitroom.open(path, as_site=True, clock=ManualClock(T0)) as site:
        with pytest.raises(AuthError, match="was replaced by"):
            Session.of(site.engine, "dana", old)
        # What only an insider with the old key could do: write around the session's check.
        site.engine.append([_judged("judgment:q:dana:2")], lambda new: signature_record(old, new))
    assert sorted(f.reason for f in sitroom.verify(path).findings) == ["forged-author", "unsigned"]
    with sitroom.open(path, user="dana", proof=NEW_PASSPHRASE, clock=ManualClock(T0)) as dana:
        assert dana.session.signer is not None
        assert dana.session.signer.identity.fingerprint == done.fingerprint


def test_a_replacement_saved_but_never_published_is_published_when_run_again(
    tmp_path: Path,
) -> None:
    """A `keys replace` stopped between writing the new key and recording it: the run again
    publishes that key (opened with the new passphrase), rather than making a third."""
    room = open_room(tmp_path / "room")
    try:
        _person(room, "omar")
        _epoch(room, "omar", "us-iran")
        saved = new_secret("omar", "person")
        KeyStore(room.path / "keys").replace(saved, Unlock(passphrase=NEW_PASSPHRASE))
        done = room.keys.replace("omar", passphrase=NEW_PASSPHRASE)
        assert (done.key, done.fingerprint) == (None, saved.identity.fingerprint)
        assert [(e.track, e.epoch) for e in done.epochs] == [("us-iran", 2)]
    finally:
        room.close()

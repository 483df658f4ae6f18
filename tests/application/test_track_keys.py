"""Track keys in a real workspace: clearances re-key a track, a removed member reads nothing of
the next epoch, and the keys detector warns ahead of wear-out, expiry and meetings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.keystore import new_secret
from sitroom.adapters.trackfile import parse_track_file
from sitroom.application import planning, principals
from sitroom.application.desk import Desk, channel_record
from sitroom.application.ports import Unlock, WireError
from sitroom.application.sealing import Keyring
from sitroom.domain.channels.courier import Link
from sitroom.domain.channels.priority import Priority
from sitroom.domain.kinds import ALERT
from sitroom.domain.secure.identity import Secret, identity_record
from sitroom.domain.secure.wear import Policy
from sitroom.domain.timeutil import MS_PER_DAY, parse_time
from sitroom.errors import Rejected, SecureError
from sitroom.workspace import Workspace, key_policy

TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "geneva-schedule.yaml"
T0 = parse_time("2026-12-01T08:00:00Z", now_ms=0)


def _person(ws: Workspace, name: str) -> Secret:
    secret = new_secret(name, "person")
    ws.keystore.save(secret, Unlock(passphrase="correct horse battery"))
    ws.engine.append([identity_record(secret, ws.engine.clock.now_ms())])
    return secret


@pytest.fixture
def ws(tmp_path: Path) -> Any:
    clock = ManualClock(T0)
    w = Workspace.init(tmp_path / "room", clock=clock)
    w.engine.append(parse_track_file("t", TRACKS.read_text(), now_ms=T0))
    yield w
    w.close()


def _clear(ws: Workspace, who: str, track: str, grant: bool = True, policy: Policy | None = None):
    return principals.change_clearance(
        ws.engine,
        who,
        track,
        grant=grant,
        by="test",
        issuer=ws.site_secret(),
        policy=policy or key_policy(ws.settings),
        aead=ws.settings.key_aead,
    )


def _alerts(ws: Workspace) -> dict[str, dict[str, Any]]:
    return {
        r.payload["key"]: r.payload
        for b in ws.log.read(kinds=[ALERT])
        for r in b.rows()
        if r.payload["detector"] == "keys"
    }


def test_each_clearance_change_re_keys_the_track_for_its_members_only(ws: Workspace) -> None:
    dana, omar = _person(ws, "dana"), _person(ws, "omar")
    e1 = _clear(ws, "dana", "us-iran")["epoch"]
    e2 = _clear(ws, "omar", "us-iran")["epoch"]
    e3 = _clear(ws, "dana", "us-iran", grant=False)["epoch"]
    site = ws.settings.site
    assert (e1["epoch"], e1["members"]) == (1, sorted(["dana", site]))
    assert (e2["epoch"], e2["members"]) == (2, sorted(["dana", "omar", site]))
    assert (e3["epoch"], e3["members"]) == (3, sorted(["omar", site]))
    # The site seals a message in epoch 3; omar opens it, dana — removed — cannot.
    site_ring = ws.keyring()
    body = site_ring.seal("us-iran", "m-1", b"after dana left", ws.engine.clock.now_ms())
    assert Keyring(ws.engine, omar).read(body, "us-iran").plaintext == b"after dana left"
    with pytest.raises(Rejected) as e:
        Keyring(ws.engine, dana).read(body, "us-iran")
    assert e.value.reason == "not-a-member"
    # She still opens epoch 2, which was sealed to her.
    assert Keyring(ws.engine, dana).secret("us-iran", 2) is not None
    with pytest.raises(Rejected):
        Keyring(ws.engine, dana).secret("us-iran", 3)


def test_a_track_without_a_key_gets_its_first_epoch_when_a_message_needs_one(
    ws: Workspace,
) -> None:
    body = ws.keyring().seal("sanctions", "m-1", b"x", ws.engine.clock.now_ms())
    (epoch,) = ws.engine.states["secure"]["epochs"]["sanctions"]
    assert epoch["reason"] == "first message" and '"track":"sanctions"' in body


def test_an_expired_epoch_seals_nothing_until_rotated(ws: Workspace) -> None:
    _person(ws, "dana")
    _clear(ws, "dana", "us-iran")
    clock = ws.engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(31 * MS_PER_DAY)
    with pytest.raises(SecureError, match="expired; rotate it first"):
        ws.keyring().seal("us-iran", "m-1", b"x", clock.now_ms())


class Down:
    """A wire on which nothing reaches the far end: messages stay pending, sealed, counted."""

    def deliver(self, url: str, envelope: Any, timeout_s: float) -> dict[str, Any]:
        raise WireError("refused")

    def ping(self, url: str, timeout_s: float) -> None:
        raise WireError("refused")

    def heard(self, url: str, timeout_s: float) -> int | None:
        return None


def test_a_key_near_its_usage_limit_is_alerted_ahead_of_time(ws: Workspace) -> None:
    policy = Policy(usage_limit=10, usage_warn=0.8)
    ws.engine.detector("keys").policy = policy  # type: ignore[union-attr]
    _person(ws, "dana")
    _clear(ws, "dana", "us-iran", policy=policy)
    ring = ws.keyring()
    ws.engine.append([channel_record(Link("direct", "Tehran desk", track="us-iran"))])
    desk = Desk(ws.engine, Down(), keyring=ring)
    try:
        for i in range(7):
            desk.submit("direct", Priority.ROUTINE, f"note {i}")
        assert not any(k.endswith("|used") for k in _alerts(ws))
        desk.submit("direct", Priority.ROUTINE, "note 7")
    finally:
        desk.close()
    used = [a for k, a in _alerts(ws).items() if k.endswith("|used")]
    assert len(used) == 1 and "sealed 8 of its 10 messages (80%)" in used[0]["title"]
    assert used[0]["detail"]["sender"] == ws.settings.site


def test_expiry_is_alerted_a_week_ahead_and_before_a_meeting_that_outlasts_the_key(
    ws: Workspace,
) -> None:
    # A five-day cryptoperiod from 1 December ends on the 6th, before the meetings of the
    # week of the 7th that the schedule places.
    policy = Policy(cryptoperiod_ms=5 * MS_PER_DAY, warn_ms=2 * MS_PER_DAY)
    ws.engine.detector("keys").policy = policy  # type: ignore[union-attr]
    planning.schedule(ws.engine)
    _person(ws, "dana")
    _clear(ws, "dana", "us-iran", policy=policy)
    alerts = _alerts(ws)
    meeting = {k for k in alerts if "|meeting|" in k}
    assert meeting == {"us-iran|1|meeting|us-iran-1", "us-iran|1|meeting|us-iran-2"}
    assert not any(k.endswith("|expiring") for k in alerts)
    # Three days on, the expiry is two days away: warned on the clock, without any record.
    clock = ws.engine.clock
    assert isinstance(clock, ManualClock)
    due = ws.engine.next_due(clock.now_ms())
    assert due == T0 + 3 * MS_PER_DAY
    clock.set(due)
    ws.engine.tick()
    assert "us-iran|1|expiring" in _alerts(ws)

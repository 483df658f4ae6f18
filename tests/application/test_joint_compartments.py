"""A finding about several tracks — a person both hold, a deadlock between them, a failover from
one track's channel to another's — is in their joint compartment: read only by whoever is
cleared for each of them. Before, such alerts were general and named a track to users not
cleared for it."""

from __future__ import annotations

from pathlib import Path

import pytest

import sitroom
from sitroom.adapters.trackfile import parse_track_file
from sitroom.application.session import Access
from sitroom.domain.projection import joint
from sitroom.errors import UserInputError
from sitroom.testing import T0, ManualClock

from helpers import PASS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "us-iran-ceasefire.yaml"
DAY = 86_400_000


def test_a_joint_compartment_is_seen_by_whoever_is_cleared_for_each_part() -> None:
    both = Access("alice", "analyst", frozenset({"us-iran", "ceasefire"}))
    one = Access("dana", "analyst", frozenset({"ceasefire"}))
    c = joint(["us-iran", "ceasefire", "", "us-iran"])
    assert c == "ceasefire+us-iran"
    assert both.sees(c) and not one.sees(c)
    assert one.sees("ceasefire") and one.sees("") and not one.sees("us-iran")
    assert joint(["", ""]) == "" and joint(["sanctions"]) == "sanctions"


@pytest.fixture
def room(tmp_path: Path) -> Path:
    clock = ManualClock(T0)
    path = tmp_path / "room"
    with sitroom.init(path, site="washington", clock=clock) as r:
        r.session.append(parse_track_file("t", FIXTURE.read_text(), now_ms=T0).records)
        r.users.add("alice", role="admin", passphrase=PASS)
        r.users.add("dana", passphrase=PASS)
        for track in ("us-iran", "ceasefire"):
            r.users.grant("alice", track)
        r.users.grant("dana", "ceasefire")
        r.engine.tick(T0 + 30 * DAY)  # the envoy's double booking is in the past by then
    return path


def _alerts(path: Path, user: str) -> list[tuple[str, str]]:
    with sitroom.open(path, user=user, proof=PASS) as r:
        return [
            (a.compartment, a.payload["title"])
            for page in r.session.read(kinds=["alert"])
            for a in page.rows()
        ]


def test_the_envoy_held_by_two_tracks_is_an_alert_only_for_who_is_cleared_for_both(
    room: Path,
) -> None:
    seen = _alerts(room, "alice")
    booked = [(c, t) for c, t in seen if t.startswith("Over-booked: Special Envoy W.")]
    assert booked and all(c == "ceasefire+us-iran" for c, _ in booked)
    assert not [t for _, t in _alerts(room, "dana") if "us-iran" in t or "Envoy" in t]


def test_a_joint_compartment_is_not_granted_nor_a_track_id(room: Path) -> None:
    with (
        sitroom.open(room, user="alice", proof=PASS) as r,
        pytest.raises(UserInputError, match="joint compartment"),
    ):
        r.users.grant("dana", "ceasefire+us-iran")
    bad = "tracks:\n  - {id: a+b, name: A and B}\n"
    with pytest.raises(UserInputError, match="a track id has no '\\+'"):
        parse_track_file("t", bad, now_ms=T0)

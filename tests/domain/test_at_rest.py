"""A record's payload sealed at rest opens only as the record it was sealed for."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from sitroom.domain.secure.at_rest import (
    PREFIX,
    Envelope,
    open_payload,
    read_sealed,
    seal_payload,
)
from sitroom.domain.secure.epochs import record_key
from sitroom.errors import Rejected

KEY = record_key(b"\x01" * 32, "us-iran", 3)
ENV = Envelope("meeting:us-iran-2", "meeting", 1, "user", "us-iran", 1_000, 2_000)
TEXT = orjson.dumps({"title": "US-Iran round 2", "note": "Qx7"}).decode()


def _sealed(env: Envelope = ENV) -> str:
    return seal_payload(KEY, TEXT, env, epoch=3, nonce=b"\x09" * 12)


def test_a_sealed_payload_opens_to_the_text_it_was_given_and_holds_none_of_it() -> None:
    stored = _sealed()
    assert stored.startswith(PREFIX)
    assert "Qx7" not in stored and "round" not in stored
    body = read_sealed(stored)
    assert (body.track, body.epoch) == ("us-iran", 3)
    assert open_payload(KEY, body, ENV) == TEXT


def test_the_record_key_is_one_per_track_and_epoch() -> None:
    keys = {record_key(b"\x01" * 32, t, e) for t in ("us-iran", "ceasefire") for e in (1, 2)}
    assert len(keys) == 4
    assert record_key(b"\x02" * 32, "us-iran", 3) != KEY


@pytest.mark.parametrize(
    "change",
    [
        {"id": "meeting:us-iran-1"},
        {"kind": "holding"},
        {"kind_version": 2},
        {"source": "someone-else"},
        {"valid_from": 999},
        {"valid_to": None},
    ],
)
def test_a_payload_moved_to_another_record_or_relabelled_does_not_open(
    change: dict[str, object],
) -> None:
    body = read_sealed(_sealed())
    with pytest.raises(Rejected) as e:
        open_payload(KEY, body, dataclasses.replace(ENV, **change))  # type: ignore[arg-type]
    assert e.value.reason == "damaged"


def test_a_payload_of_another_track_or_under_another_key_does_not_open() -> None:
    body = read_sealed(_sealed())
    with pytest.raises(Rejected, match="sealed for track us-iran"):
        open_payload(KEY, body, dataclasses.replace(ENV, compartment="ceasefire"))
    with pytest.raises(Rejected, match="does not open"):
        open_payload(record_key(b"\x01" * 32, "us-iran", 4), body, ENV)
    flipped = dataclasses.replace(body, ct=bytes([body.ct[0] ^ 1]) + body.ct[1:])
    with pytest.raises(Rejected, match="does not open"):
        open_payload(KEY, flipped, ENV)


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        "[]",
        '{"sealed": 1}',
        '{"sealed": {"v": 2, "track": "t", "epoch": 1, "nonce": "", "ct": ""}}',
        '{"sealed": {"v": 1, "track": "t", "epoch": "1", "nonce": "AAAAAAAAAAAAAAAA", "ct": ""}}',
        '{"sealed": {"v": 1, "track": "t", "epoch": 1, "nonce": "AAAA", "ct": ""}}',
        '{"sealed": {"v": 1, "track": "t", "epoch": 1, "nonce": "AAAAAAAAAAAAAAAA", "ct": "!"}}',
        '{"sealed": {"v": 1, "track": "t", "epoch": 1}, "more": 1}',
    ],
)
def test_a_malformed_sealed_payload_is_refused_as_malformed(stored: str) -> None:
    with pytest.raises(Rejected) as e:
        read_sealed(stored)
    assert e.value.reason == "malformed"

"""Sealed envelopes and track epoch keys: what opens, and every reason a message is refused."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters.keystore import new_secret
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.envelope import WINDOW, Header, Window, open_envelope, seal
from sitroom.domain.secure.epochs import (
    AEADS,
    AES_256_GCM,
    CHACHA20_POLY1305,
    Epoch,
    epoch_record,
    open_epoch,
)
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.domain.secure.ratchet import Chains
from sitroom.errors import Rejected

WASH = new_secret("washington", "site")
TEHRAN = new_secret("tehran", "site")
DANA = new_secret("dana", "person")
DAY = 86_400_000


def _epoch(track: str, number: int, members: list[Secret], secret: bytes, aead: str = AES_256_GCM):
    return epoch_record(
        track,
        number,
        secret,
        [m.identity for m in members],
        WASH,
        now_ms=1_000,
        cryptoperiod_ms=30 * DAY,
        aead=aead,
        reason="test",
    ).payload


class Receiver:
    """What a receiving desk knows: identities, the epochs sealed to it, its replay windows."""

    def __init__(self, me: Secret, epochs: list[Mapping[str, Any]]) -> None:
        self.me = me
        self.epochs = epochs
        self.windows: dict[str, Window] = {}

    def open(self, env: dict[str, Any], track: str) -> bytes:
        def epoch(t: str, n: int) -> tuple[Epoch, bytes] | None:
            for p in self.epochs:
                if p["track"] == t and p["epoch"] == n:
                    return Epoch.from_payload(p), open_epoch(p, self.me)
            return None

        known: dict[str, Identity] = {s.name: s.identity for s in (WASH, TEHRAN, DANA)}
        opened = open_envelope(
            env,
            track=track,
            identities=known.get,
            epoch=epoch,
            window=lambda k: self.windows.get(k, Window()),
        )
        key = opened.header.key
        self.windows[key] = self.windows.get(key, Window()).accept(opened.header.n)
        return opened.plaintext


def _key(h: Header, secret: bytes) -> bytes:
    """Key ``h.n`` of the sender's chain, as the sender derives it."""
    return Chains().key(secret, h.track, h.epoch, h.sender, h.aead, h.n)


def _sealed(
    track: str, n: int, secret: bytes, *, epoch: int = 1, ts: int = 5_000, aead: str = AES_256_GCM
):
    header = Header(track, epoch, "washington", f"m-{n}", ts, n, aead)
    return seal(f"message {n}".encode(), header, _key(header, secret), WASH, os.urandom(12))


@pytest.mark.parametrize("aead", [AES_256_GCM, CHACHA20_POLY1305])
def test_a_member_opens_what_the_track_sealed(aead: str) -> None:
    secret = os.urandom(32)
    rx = Receiver(TEHRAN, [_epoch("us-iran", 1, [WASH, TEHRAN], secret, aead)])
    assert rx.open(_sealed("us-iran", 1, secret, aead=aead), "us-iran") == b"message 1"


def test_a_message_sealed_for_track_a_fails_under_track_b_with_a_clear_error() -> None:
    a, b = os.urandom(32), os.urandom(32)
    rx = Receiver(TEHRAN, [_epoch("a", 1, [WASH, TEHRAN], a), _epoch("b", 1, [WASH, TEHRAN], b)])
    env = _sealed("a", 1, a)
    # Arriving for track B: refused before any key is tried.
    with pytest.raises(Rejected, match="sealed for track a, not b") as e:
        rx.open(env, "b")
    assert e.value.reason == "wrong-track"
    # Relabelled as track B in transit: the signature covers the header.
    relabelled = {**env, "header": {**env["header"], "track": "b"}}
    with pytest.raises(Rejected) as e:
        rx.open(relabelled, "b")
    assert e.value.reason == "forged"
    # And the ciphertext itself never opens under track B's key, even were both tracks' epoch
    # secrets the same: the track is bound into the key derivation and the AEAD's data.
    key_a = Chains().key(a, "a", 1, "washington", AES_256_GCM, 1)
    key_b = Chains().key(a, "b", 1, "washington", AES_256_GCM, 1)
    aad = canonical(env["header"])
    nonce, ct = unb64(env["nonce"]), unb64(env["ct"])
    assert AEADS[AES_256_GCM](key_a).decrypt(nonce, ct, aad) == b"message 1"
    with pytest.raises(InvalidTag):
        AEADS[AES_256_GCM](key_b).decrypt(nonce, ct, aad)


def test_a_replayed_message_is_rejected_and_out_of_order_ones_are_not() -> None:
    secret = os.urandom(32)
    rx = Receiver(TEHRAN, [_epoch("t", 1, [WASH, TEHRAN], secret)])
    first, third, second = (_sealed("t", n, secret) for n in (1, 3, 2))
    rx.open(first, "t")
    rx.open(third, "t")
    rx.open(second, "t")  # late, but inside the window: accepted once
    for again in (first, second):
        with pytest.raises(Rejected, match="received already") as e:
            rx.open(again, "t")
        assert e.value.reason == "replayed"


def test_a_message_re_ordered_beyond_the_window_is_rejected() -> None:
    secret = os.urandom(32)
    rx = Receiver(TEHRAN, [_epoch("t", 1, [WASH, TEHRAN], secret)])
    old = _sealed("t", 1, secret)
    rx.open(_sealed("t", WINDOW + 1, secret), "t")
    with pytest.raises(Rejected, match="beyond the replay window") as e:
        rx.open(old, "t")
    assert e.value.reason == "too-old"


def test_a_forged_or_altered_message_is_rejected() -> None:
    secret = os.urandom(32)
    rx = Receiver(TEHRAN, [_epoch("t", 1, [WASH, TEHRAN], secret)])
    env = _sealed("t", 1, secret)
    ct = bytearray(unb64(env["ct"]))
    ct[0] ^= 1
    with pytest.raises(Rejected) as e:
        rx.open({**env, "ct": b64(bytes(ct))}, "t")
    assert e.value.reason == "forged"
    # Signed by someone else in washington's name.
    h = Header("t", 1, "dana", "m-1", 5_000, 1, AES_256_GCM)
    by_dana = seal(b"x", h, _key(h, secret), DANA, os.urandom(12))
    with pytest.raises(Rejected) as e:
        rx.open({**by_dana, "header": {**by_dana["header"], "sender": "washington"}}, "t")
    assert e.value.reason == "forged"


def test_a_sender_outside_the_epoch_and_an_unknown_epoch_are_refused() -> None:
    secret = os.urandom(32)
    rx = Receiver(TEHRAN, [_epoch("t", 1, [WASH, TEHRAN], secret)])
    h = Header("t", 1, "dana", "m-1", 5_000, 1, AES_256_GCM)
    with pytest.raises(Rejected) as e:
        rx.open(seal(b"x", h, _key(h, secret), DANA, os.urandom(12)), "t")
    assert e.value.reason == "not-a-member"
    with pytest.raises(Rejected) as e:
        rx.open(_sealed("t", 1, secret, epoch=2), "t")
    assert e.value.reason == "unknown-epoch"


def test_a_message_sealed_after_its_epoch_expired_is_refused() -> None:
    secret = os.urandom(32)
    rx = Receiver(TEHRAN, [_epoch("t", 1, [WASH, TEHRAN], secret)])
    with pytest.raises(Rejected) as e:
        rx.open(_sealed("t", 1, secret, ts=1_000 + 30 * DAY), "t")
    assert e.value.reason == "expired"


def test_an_epoch_opens_for_its_members_only_and_its_copies_are_bound_to_track_and_epoch() -> None:
    secret = os.urandom(32)
    p = _epoch("us-iran", 1, [WASH, TEHRAN], secret)
    assert open_epoch(p, TEHRAN) == secret and open_epoch(p, WASH) == secret
    with pytest.raises(Rejected) as e:
        open_epoch(p, DANA)
    assert e.value.reason == "not-a-member"
    # The same sealed copy presented as another track's or epoch's key does not open.
    for other in ({**p, "track": "ceasefire"}, {**p, "epoch": 2}):
        with pytest.raises(Rejected) as e:
            open_epoch(other, TEHRAN)
        assert e.value.reason == "damaged"


def test_a_member_removed_at_rotation_cannot_read_the_next_epoch() -> None:
    old, new = os.urandom(32), os.urandom(32)
    e1 = _epoch("t", 1, [WASH, TEHRAN, DANA], old)
    e2 = _epoch("t", 2, [WASH, TEHRAN], new)
    dana = Receiver(DANA, [e1, e2])
    assert dana.open(_sealed("t", 1, old), "t") == b"message 1"
    with pytest.raises(Rejected) as e:
        dana.open(_sealed("t", 2, new, epoch=2), "t")
    assert e.value.reason == "not-a-member"
    # What she still holds, epoch 1's secret, derives no key that opens epoch 2's messages.
    env = _sealed("t", 3, new, epoch=2)
    nonce, ct, aad = unb64(env["nonce"]), unb64(env["ct"]), canonical(env["header"])
    with pytest.raises(InvalidTag):
        AEADS[AES_256_GCM](Chains().key(old, "t", 2, "washington", AES_256_GCM, 3)).decrypt(
            nonce, ct, aad
        )
    assert (
        AEADS[AES_256_GCM](Chains().key(new, "t", 2, "washington", AES_256_GCM, 3)).decrypt(
            nonce, ct, aad
        )
        == b"message 3"
    )


@given(st.lists(st.integers(1, 200), max_size=80))
def test_the_replay_window_accepts_each_counter_once_within_reach(ns: list[int]) -> None:
    """Against a plain model: accepted once, refused if seen, too old beyond the window."""
    w, seen, top = Window(), set(), 0
    for n in ns:
        expect = (
            None
            if n > top
            else "too-old"
            if top - n >= WINDOW
            else ("replayed" if n in seen else None)
        )
        assert w.check(n) == expect
        if expect is None:
            w, top = w.accept(n), max(top, n)
            seen.add(n)

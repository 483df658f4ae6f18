"""Sender chains (domain/secure/ratchet.py): the keys are Signal's KDF_CK over an HKDF root, a
reader's remembered walk gives the same keys in any order, a number past the key's limit is
refused before any walking, and envelopes of version 1 (one key per sender and epoch) still
open."""

from __future__ import annotations

import hmac
import os
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sitroom.adapters.keystore import new_secret
from sitroom.domain.secure.codec import canonical
from sitroom.domain.secure.envelope import (
    HKDF_KEY_VERSION,
    VERSION,
    Header,
    Window,
    open_envelope,
    seal,
)
from sitroom.domain.secure.epochs import (
    AES_256_GCM,
    CHACHA20_POLY1305,
    Epoch,
    epoch_record,
    message_key,
)
from sitroom.domain.secure.ratchet import MARK_EVERY, Chains, ChainState, chain_root
from sitroom.domain.secure.wear import CHAIN_LIMIT
from sitroom.errors import Rejected

WASH = new_secret("washington", "site")
TEHRAN = new_secret("tehran", "site")


def _by_hand(secret: bytes, n: int) -> tuple[bytes, bytes]:
    """mk_n and ck_n of washington's chain in epoch 1 of track t, from the definition."""
    info = canonical(
        {
            "use": "sitroom sender chain",
            "track": "t",
            "epoch": 1,
            "sender": "washington",
            "aead": AES_256_GCM,
        }
    )
    ck = HKDF(hashes.SHA256(), 32, None, info).derive(secret)
    mk = b""
    for _ in range(n):
        mk, ck = hmac.digest(ck, b"\x01", "sha256"), hmac.digest(ck, b"\x02", "sha256")
    return mk, ck


def test_the_chain_is_kdf_ck_over_an_hkdf_root() -> None:
    secret = os.urandom(32)
    root = chain_root(secret, "t", 1, "washington", AES_256_GCM)
    state = ChainState(0, root)
    for n in range(1, 6):
        mk, state = state.advance()
        assert (mk, state.ck) == _by_hand(secret, n) and state.n == n
    assert ChainState(0, root).walk(5) == state
    # Every name in the root's info is bound: another sender, track, epoch or AEAD, another root.
    others = [
        chain_root(secret, "t", 1, "tehran", AES_256_GCM),
        chain_root(secret, "u", 1, "washington", AES_256_GCM),
        chain_root(secret, "t", 2, "washington", AES_256_GCM),
        chain_root(secret, "t", 1, "washington", CHACHA20_POLY1305),
    ]
    assert root not in others and len(set(others)) == 4
    # And no chain key is the old per-sender key (version 1).
    assert message_key(secret, "t", 1, "washington", AES_256_GCM) != root


def test_a_readers_remembered_walk_gives_each_key_in_any_order() -> None:
    secret = os.urandom(32)
    reader = Chains()
    order = [1, 2, 3, MARK_EVERY + 7, 5, 2 * MARK_EVERY, 4, MARK_EVERY, 1, 700, 699]
    for n in order:
        assert reader.key(secret, "t", 1, "washington", AES_256_GCM, n) == _by_hand(secret, n)[0]


def test_a_number_past_the_keys_limit_is_refused_at_once() -> None:
    """A member's signed header naming message 2^60 would otherwise walk the chain for ever."""
    secret, reader = os.urandom(32), Chains()
    for n in (2**60, CHAIN_LIMIT + 1, 0):
        started = time.perf_counter()
        with pytest.raises(Rejected) as e:
            reader.key(secret, "t", 1, "washington", AES_256_GCM, n)
        assert time.perf_counter() - started < 0.5
        assert e.value.reason == "malformed" and "past its key's limit of 8,388,608" in str(e.value)


def _epoch(secret: bytes) -> Epoch:
    payload = epoch_record(
        "t",
        1,
        secret,
        [WASH.identity, TEHRAN.identity],
        WASH,
        now_ms=1_000,
        cryptoperiod_ms=86_400_000,
        aead=AES_256_GCM,
        reason="test",
    ).payload
    return Epoch.from_payload(payload)


def _open(env: dict[str, object], secret: bytes, reader: Chains | None = None) -> bytes:
    ep = _epoch(secret)
    return open_envelope(
        env,
        track="t",
        identities={"washington": WASH.identity}.get,
        epoch=lambda t, n: (ep, secret),
        window=lambda k: Window(),
        chains=reader,
    ).plaintext


def test_version_1_envelopes_still_open_and_version_2_uses_the_chain() -> None:
    secret = os.urandom(32)
    old = Header("t", 1, "washington", "m-1", 5_000, 1, AES_256_GCM, v=HKDF_KEY_VERSION)
    v1 = seal(
        b"from before",
        old,
        message_key(secret, "t", 1, "washington", AES_256_GCM),
        WASH,
        os.urandom(12),
    )
    assert v1["header"]["v"] == 1 and _open(v1, secret) == b"from before"
    new = Header("t", 1, "washington", "m-2", 5_000, 3, AES_256_GCM)
    v2 = seal(b"now", new, _by_hand(secret, 3)[0], WASH, os.urandom(12))
    assert v2["header"]["v"] == VERSION == 2 and _open(v2, secret, Chains()) == b"now"
    # Relabelled as version 1 (re-signed by the sender itself): the other key, so it fails.
    relabelled = Header("t", 1, "washington", "m-2", 5_000, 3, AES_256_GCM, v=1)
    wrong = seal(b"now", relabelled, _by_hand(secret, 3)[0], WASH, os.urandom(12))
    with pytest.raises(Rejected) as e:
        _open(wrong, secret)
    assert e.value.reason == "damaged"
    with pytest.raises(Rejected, match="version 3 is not 1 or 2") as e:
        _open({**v2, "header": {**v2["header"], "v": 3}}, secret)
    assert e.value.reason == "malformed"

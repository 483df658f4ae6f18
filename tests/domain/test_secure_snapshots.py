"""A sealed snapshot (domain/secure/snapshots.py): it opens only as what the site sealed, for
the projection, version and place it was sealed for, of the log it was folded from; each
refusal says why; one stored before snapshots were sealed is told apart; a checkpoint's
signature cannot pass for a snapshot's."""

from __future__ import annotations

import hashlib

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters.keystore import new_secret
from sitroom.domain.secure.audit import GENESIS, checkpoint_message, next_head
from sitroom.domain.secure.codec import b64, canonical
from sitroom.domain.secure.identity import SITE
from sitroom.domain.secure.snapshots import (
    FORMAT,
    OpenedState,
    Unverified,
    open_snapshot,
    seal_snapshot,
)

W = new_secret("washington", SITE)
HEAD = next_head(GENESIS, hashlib.sha256(b"segment").digest())
STATE = orjson.dumps({"grants": {"us-iran": {"alice": {}}}})
PLACE = {"projection": "secure", "version": 2, "seq": 27}


def opened(blob: bytes, **change: object) -> bytes | Unverified:
    at = {**PLACE, "head": HEAD, "anchor": W.identity, **change}
    return open_snapshot(blob, **at)  # type: ignore[arg-type]


def reason(blob: bytes, **change: object) -> str:
    got = opened(blob, **change)
    assert isinstance(got, Unverified), got
    assert not got.unsigned
    return got.reason


SEALED = seal_snapshot(W, "secure", 2, 27, HEAD, STATE)


def parts(blob: bytes) -> tuple[bytes, dict[str, object], bytes]:
    magic, header, state = blob.split(b"\n", 2)
    return magic, orjson.loads(header), state


def join(magic: bytes, header: dict[str, object], state: bytes) -> bytes:
    return magic + b"\n" + orjson.dumps(header) + b"\n" + state


@given(st.binary(max_size=2000))
def test_any_state_opens_as_it_was_sealed(state: bytes) -> None:
    """Newlines and any bytes in the state included: the header ends at the first newline
    after the format line, and canonical JSON holds none."""
    assert opened(seal_snapshot(W, "secure", 2, 27, HEAD, state)) == OpenedState(state)


@given(st.binary(max_size=2000))
def test_a_private_state_opens_only_with_the_sites_key_and_is_not_in_the_blob(
    state: bytes,
) -> None:
    marked = b"Qx7-Zebra" + state
    blob = seal_snapshot(W, "secure", 2, 27, HEAD, marked, private_nonce=b"\x05" * 12)
    assert b"Qx7-Zebra" not in blob
    assert opened(blob, secret=lambda: W) == OpenedState(marked, private=True)
    # Without the site's key it is passed over without a word, as an unsigned one.
    got = opened(blob)
    assert isinstance(got, Unverified) and got.unsigned
    # Another site's key checks no signature of it, and opens nothing.
    other = new_secret("washington", SITE)
    assert isinstance(opened(blob, anchor=other.identity, secret=lambda: other), Unverified)


def test_a_private_state_changed_or_its_nonce_changed_does_not_open() -> None:
    blob = seal_snapshot(W, "secure", 2, 27, HEAD, STATE, private_nonce=b"\x05" * 12)
    magic, header, state = parts(blob)
    flipped = join(magic, header, bytes([state[0] ^ 1]) + state[1:])
    assert "not the state that was signed" in str(opened(flipped, secret=lambda: W))
    # The nonce is in the signed header: changed, the signature does not verify.
    header["nonce"] = "BgYGBgYGBgYGBgYG"
    assert isinstance(opened(join(magic, header, state), secret=lambda: W), Unverified)


def test_the_header_names_its_format_place_head_digest_and_signer() -> None:
    magic, header, state = parts(SEALED)
    assert magic == FORMAT.encode() and state == STATE
    assert {k: header[k] for k in ("format", "projection", "version", "seq", "site")} == {
        "format": "sitroom-snapshot/1",
        "projection": "secure",
        "version": 2,
        "seq": 27,
        "site": "washington",
    }
    assert header["head"] == b64(HEAD)
    assert header["digest"] == b64(hashlib.sha256(STATE).digest())
    assert header["fingerprint"] == W.identity.fingerprint


def test_a_changed_state_does_not_open() -> None:
    magic, header, _ = parts(SEALED)
    edited = join(magic, header, STATE.replace(b"alice", b"dana!"))
    assert reason(edited) == "its state is not the state that was signed"


def test_a_recomputed_digest_breaks_the_signature() -> None:
    magic, header, _ = parts(SEALED)
    state = STATE.replace(b"alice", b"dana!")
    header["digest"] = b64(hashlib.sha256(state).digest())
    assert reason(join(magic, header, state)) == (
        "its signature does not verify under site washington's key"
    )


def test_another_signer_even_of_the_same_name_is_refused() -> None:
    other = new_secret("washington", SITE)
    blob = seal_snapshot(other, "secure", 2, 27, HEAD, STATE)
    assert reason(blob) == (
        f"it names signer washington ({other.identity.fingerprint}), not site washington's key"
    )
    # ... and naming the site's fingerprint does not make its signature the site's.
    magic, header, state = parts(blob)
    header["fingerprint"] = W.identity.fingerprint
    assert "signature does not verify" in reason(join(magic, header, state))


def test_a_snapshot_stored_at_another_place_is_refused() -> None:
    assert reason(SEALED, seq=30) == "it is the snapshot of `secure` v2 at seq 27, copied here"
    assert reason(SEALED, projection="tracks").startswith("it is the snapshot of `secure`")
    assert reason(SEALED, version=3).startswith("it is the snapshot of `secure` v2")


def test_a_snapshot_of_another_log_is_refused() -> None:
    other = next_head(GENESIS, hashlib.sha256(b"another segment").digest())
    assert reason(SEALED, head=other) == (
        "it was folded from another log: its chain head is not this log's"
    )
    assert reason(SEALED, head=None) == "the log holds no record 27"


def test_a_snapshot_from_before_sealing_is_told_apart() -> None:
    got = opened(STATE)
    assert isinstance(got, Unverified) and got.unsigned


def test_a_damaged_header_is_refused_with_a_reason() -> None:
    magic, header, state = parts(SEALED)
    assert reason(magic + b"\n" + b"{not json") == "its header is cut short"
    assert reason(magic + b"\n{not json}\n" + state).startswith("its header is malformed")
    for field, bad in [("seq", "27"), ("head", "AAAA"), ("signature", None), ("format", "x/1")]:
        broken = {**header, field: bad}
        assert reason(join(magic, broken, state)).startswith("its header is malformed"), field


def test_a_checkpoint_signature_cannot_pass_for_a_snapshot() -> None:
    """The format string is inside the signed bytes: the site's signature over a checkpoint
    (site, seq, head) does not verify as a snapshot's, whatever the header claims."""
    checkpoint = W.sign(checkpoint_message("washington", 27, HEAD))
    magic, header, state = parts(SEALED)
    header["signature"] = b64(checkpoint)
    assert "signature does not verify" in reason(join(magic, header, state))
    signed = {k: v for k, v in header.items() if k != "signature"}
    assert canonical(signed) != checkpoint_message("washington", 27, HEAD)

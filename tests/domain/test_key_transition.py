"""The key transition statement, pure: made and checked; each forgery named in one line."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from sitroom.adapters.keystore import new_secret
from sitroom.domain.secure import merkle, transition
from sitroom.domain.secure.audit import LogHead, sign_head
from sitroom.domain.secure.identity import identity_record
from sitroom.domain.secure.transition import Transition, chain, fault, head_fault
from sitroom.errors import SecureError


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(bytes([i])).digest() for i in range(n)]


def _made(lost: bool = False, size: int = 6) -> tuple[Transition, LogHead]:
    old, new = new_secret("geneva", "site"), new_secret("geneva", "site")
    tree = merkle.Tree(_leaves(size))
    head = LogHead(20, b"\1" * 32, size, tree.root())
    t = transition.make(
        old.identity,
        new,
        identity_record(new, 0).payload,
        head,
        at_ms=1,
        reason="compromised",
        old_secret=None if lost else old,
    )
    return t, head


def test_a_transition_round_trips_and_checks_against_the_pinned_old_key() -> None:
    t, _ = _made()
    again = Transition.from_json(t.to_json())
    assert again == t and fault(again, t.old) is None


def test_each_forgery_is_named_in_one_line() -> None:
    t, _ = _made()
    stranger = new_secret("geneva", "site")
    other, _ = _made()
    checks = {
        "pinned": fault(t, stranger.identity),
        "unrelated": fault(replace(t, old_signature=other.old_signature), t.old),
        "edited": fault(replace(t, reason="routine"), t.old),
        "lost": fault(_made(lost=True)[0]),
    }
    assert "the key pinned here is" in str(checks["pinned"])
    assert "old key's signature" in str(checks["unrelated"])
    assert "new key's signature" in str(checks["edited"])
    assert "not signed by site geneva's old key" in str(checks["lost"])
    assert all("\n" not in str(v) for v in checks.values())
    assert fault(_made(lost=True)[0], continuity=False) is None


def test_a_statement_with_unsigned_fields_is_malformed() -> None:
    t, _ = _made()
    body = {**t.to_json(), "extra": 1}
    with pytest.raises(SecureError, match="does not sign"):
        Transition.from_json(body)


def test_the_head_must_extend_what_the_witness_co_signed() -> None:
    t, _ = _made(size=6)
    signer = new_secret("geneva", "site")
    small = merkle.Tree(_leaves(4))
    last = sign_head(signer, 10, b"\2" * 32, (4, small.root()))
    proof = merkle.Tree(_leaves(6)).consistency(4)
    assert head_fault(t, last, proof, by="bern") is None
    assert "does not extend" in str(head_fault(t, last, (), by="bern"))
    big = merkle.Tree(_leaves(8))
    later = sign_head(signer, 30, b"\2" * 32, (8, big.root()))
    assert "cut short" in str(head_fault(t, later, (), by="bern"))


def test_chain_vouches_for_old_keys_up_to_the_transition_only() -> None:
    t, head = _made()
    found = [(25, "key.transition:geneva:x", t.to_json())]
    keys, bad = chain(t.new, found)
    assert bad == [] and [r.key for r in keys.replaced] == [t.old]
    assert keys.continued(t.old.fingerprint, head.seq) is not None
    assert keys.continued(t.old.fingerprint, head.seq + 1) is None
    # From a card it does not lead to, the transition is named as forged.
    _, bad = chain(new_secret("geneva", "site").identity, found)
    assert len(bad) == 1 and "forged" in bad[0][2]

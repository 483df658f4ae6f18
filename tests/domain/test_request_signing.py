"""A request's signature (domain/secure/requests.py): it covers the method, the path, the
body, the time, the sender and the receiver, and each refusal has its reason; the replay set
stays bounded without ever letting a replay through."""

from __future__ import annotations

import pytest

from sitroom.adapters.keystore import new_secret
from sitroom.domain.secure import requests
from sitroom.domain.secure.identity import INTERMEDIARY, SITE, Identity
from sitroom.errors import AuthError

NOW = 1_795_000_000_000
W = new_secret("washington", SITE)
BODY = b'{"id": "m-1"}'


def known(name: str) -> Identity | None:
    return {"washington": W.identity, "muscat": new_secret("muscat", INTERMEDIARY).identity}.get(
        name
    )


def check(headers: dict[str, str], *, body: bytes = BODY, path: str = "/deliver",
          now: int = NOW, me: str = "tehran") -> Identity:  # fmt: skip
    signed = requests.Signed.from_headers(headers)
    return requests.check(signed, "POST", path, body, me=me, identities=known, now_ms=now,
                          skew_ms=300_000)  # fmt: skip


def reason(headers: dict[str, str], **kw: object) -> str:
    with pytest.raises(AuthError) as e:
        check(headers, **kw)  # type: ignore[arg-type]
    return e.value.reason


def test_a_signed_request_verifies_as_its_site() -> None:
    assert check(requests.sign(W, "POST", "/deliver", BODY, NOW, "tehran")) == W.identity


def test_each_change_is_refused_with_its_reason() -> None:
    good = requests.sign(W, "POST", "/deliver", BODY, NOW, "tehran")
    assert reason({}) == "unsigned"
    assert reason({**good, "sitroom-time": "soon"}) == "unsigned"
    assert reason({**good, "sitroom-signature": "AAAA"}) == "unsigned"
    assert reason({**good, "sitroom-site": "muscat"}) == "unknown-site"  # not a site
    assert reason({**good, "sitroom-site": "cairo"}) == "unknown-site"
    assert reason(good, me="washington") == "unknown-site"  # its own name: not a peer
    assert reason(good, body=BODY + b" ") == "bad-signature"
    assert reason(good, path="/submit") == "bad-signature"
    assert reason(good, me="cairo") == "bad-signature"  # signed for another desk
    assert reason(requests.sign(W, "POST", "/deliver", BODY, NOW, "cairo")) == "bad-signature"
    assert reason(good, now=NOW + 300_001) == "stale"
    assert reason(good, now=NOW - 300_001) == "stale"
    assert check(good, now=NOW + 300_000) == W.identity


def test_a_signature_is_taken_once_and_the_set_stays_bounded() -> None:
    replays = requests.Replays(300_000, limit=3)
    signed = [
        requests.Signed.from_headers(requests.sign(W, "POST", "/deliver", BODY, NOW + i, "t"))
        for i in range(5)
    ]
    replays.admit(signed[0], NOW)
    with pytest.raises(AuthError, match="received already"):
        replays.admit(signed[0], NOW)
    for s in signed[1:]:
        replays.admit(s, NOW)
    assert len(replays.seen) == 3
    # The two forgotten are refused all the same: nothing at or before them gets through.
    for s in signed[:2]:
        with pytest.raises(AuthError):
            replays.admit(s, NOW)
    # Past the window, a signature is forgotten: its request is stale by then anyway.
    later = requests.Signed.from_headers(
        requests.sign(W, "POST", "/deliver", BODY, NOW + 400_000, "t")
    )
    replays.admit(later, NOW + 400_000)
    assert list(replays.seen.values()) == [NOW + 400_000]

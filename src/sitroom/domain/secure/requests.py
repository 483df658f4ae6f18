"""Signed requests between sites: who sent a request to a desk, proven by their own key.

A desk accepts a site-to-site request (``POST /deliver``) only when the sending site signed
it. The signature is Ed25519, by the sending site's identity, over the RFC 8785 canonical JSON
of what the request is — its method, its path, the SHA-256 of its body, the time it was made,
the site that made it and the site it is for — so that it cannot be moved to another path,
another body, another time or another desk. It travels in three headers::

    sitroom-site: washington
    sitroom-time: 1795000000000                  (ms since the epoch)
    sitroom-signature: <base64url, 64 bytes>

:func:`check` verifies a request against the identity the receiver imported and verified for
that site, within a window of clock skew, and :class:`Replays` refuses the same signature a
second time. Everything here is pure: the time is an argument, and nothing is read or written.
Each refusal is a :class:`~sitroom.errors.AuthError` with a stable ``reason``:

======================  ==========================================================
``unsigned``            the headers are missing or malformed
``unknown-site``        no identity of a site was imported here under that name
``bad-signature``       the signature does not verify (another body, path or desk)
``stale``               its time is outside the skew window of the receiver's clock
``replayed-request``    the same signature was seen already within the window
======================  ==========================================================
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import SITE, Identity, Secret
from sitroom.errors import AuthError, SecureError

SITE_HEADER = "sitroom-site"
TIME_HEADER = "sitroom-time"
SIGNATURE_HEADER = "sitroom-signature"
HEADERS = (SITE_HEADER, TIME_HEADER, SIGNATURE_HEADER)

UNSIGNED = "unsigned"
UNKNOWN_SITE = "unknown-site"
BAD_SIGNATURE = "bad-signature"
STALE = "stale"
REPLAYED = "replayed-request"

MAX_TIME_MS = 2**53 - 1  # RFC 8785 numbers are doubles: beyond this they are not exact


def request_bytes(method: str, path: str, body: bytes, time_ms: int, site: str, to: str) -> bytes:
    """The canonical bytes a request's signature covers."""
    return canonical(
        {
            "method": method.upper(),
            "path": path,
            "body": hashlib.sha256(body).hexdigest(),
            "time": time_ms,
            "site": site,
            "to": to,
        }
    )


def sign(
    secret: Secret, method: str, path: str, body: bytes, now_ms: int, to: str
) -> dict[str, str]:
    """The headers that sign a request from ``secret``'s site to the site ``to``."""
    signature = secret.sign(request_bytes(method, path, body, now_ms, secret.name, to))
    return {SITE_HEADER: secret.name, TIME_HEADER: str(now_ms), SIGNATURE_HEADER: b64(signature)}


@dataclass(frozen=True)
class Signed:
    """A request's signature as it arrived: who claims to have sent it, when, and the bytes."""

    site: str
    time_ms: int
    signature: bytes

    @classmethod
    def from_headers(cls, headers: Mapping[str, str | None]) -> Signed:
        """The signature a request carries (header names in lower case); AuthError
        ``unsigned`` when one is missing or malformed."""
        site, when, sig = (headers.get(h) for h in HEADERS)
        if not site or not when or not sig:
            missing = [h for h, v in zip(HEADERS, (site, when, sig), strict=True) if not v]
            raise AuthError(
                f"the request is not signed by a site (no {missing[0]})", reason=UNSIGNED
            )
        if not (when.isascii() and when.isdigit()) or int(when) > MAX_TIME_MS:
            raise AuthError(f"{TIME_HEADER} is milliseconds since the epoch", reason=UNSIGNED)
        try:
            signature = unb64(sig, what=SIGNATURE_HEADER, size=64)
        except SecureError as e:
            raise AuthError(str(e), reason=UNSIGNED) from None
        return cls(site[:64], int(when), signature)


Identities = Callable[[str], Identity | None]


def check(
    signed: Signed,
    method: str,
    path: str,
    body: bytes,
    *,
    me: str,
    identities: Identities,
    now_ms: int,
    skew_ms: int,
) -> Identity:
    """The sending site's identity, once the request verifies: its site was imported here (a
    site's identity, looked up by ``identities``), the signature covers this method, path,
    body and receiver, and its time is within ``skew_ms`` of ``now_ms``. Replays are
    :class:`Replays`' to refuse. AuthError with its reason otherwise."""
    ident = identities(signed.site)
    if ident is None or ident.role != SITE or signed.site == me:
        raise AuthError(
            f"no site {signed.site!r} is known here", reason=UNKNOWN_SITE, user=signed.site
        )
    data = request_bytes(method, path, body, signed.time_ms, signed.site, me)
    if not ident.verifies(data, signed.signature):
        raise AuthError(
            f"the request's signature is not {signed.site}'s",
            reason=BAD_SIGNATURE,
            user=signed.site,
        )
    if abs(now_ms - signed.time_ms) > skew_ms:
        raise AuthError(
            f"the request was signed {abs(now_ms - signed.time_ms) / 1000:.0f} s from this "
            f"desk's time, beyond the {skew_ms / 1000:.0f} s allowed",
            reason=STALE,
            user=signed.site,
        )
    return ident


class Replays:
    """The signatures seen within the skew window, bounded. A signature seen again is a
    replay. Signatures older than the window are forgotten (their requests are stale anyway);
    when more than ``limit`` are held, the oldest is forgotten and every request signed at or
    before its time is refused as a replay from then on, so that forgetting never lets one
    through."""

    def __init__(self, window_ms: int, limit: int = 100_000) -> None:
        self.window_ms = window_ms
        self.limit = limit
        self.seen: OrderedDict[bytes, int] = OrderedDict()
        self.floor_ms = -1  # requests signed at or before this are refused

    def admit(self, signed: Signed, now_ms: int) -> None:
        """Remember ``signed``; AuthError ``replayed-request`` if it was seen already."""
        self._forget(now_ms - self.window_ms)
        if signed.signature in self.seen or signed.time_ms <= self.floor_ms:
            raise AuthError(
                f"this request from {signed.site} was received already",
                reason=REPLAYED,
                user=signed.site,
            )
        self.seen[signed.signature] = signed.time_ms
        while len(self.seen) > self.limit:
            _, at = self.seen.popitem(last=False)
            self.floor_ms = max(self.floor_ms, at)

    def _forget(self, before_ms: int) -> None:
        # Roughly in arrival order, which is roughly time order: stop at the first young one.
        while self.seen:
            key, at = next(iter(self.seen.items()))
            if at >= before_ms:
                return
            del self.seen[key]

"""Key wear and expiry: how long each key can still be used, and the alerts before it can't.

Two things end a key's life:

- **use**. An AEAD key may seal only so many messages before its confidentiality bound is
  spent, and absorb only so many forgery attempts before its integrity bound is. sitroom
  uses the limits QUIC adopted (RFC 9001 §6.6): AES-GCM, 2^23 messages and 2^52 failed
  decryptions; ChaCha20-Poly1305, no practical confidentiality limit and 2^36 failed
  decryptions. An organisation may set a lower message limit of its own (``key_usage_limit``).
  Each sender's chain of message keys (ratchet.py) is at most :data:`CHAIN_LIMIT` long too, as
  a reader walks it to the message's number: ChaCha20-Poly1305's keys stop there.
  Each sender's key counts its messages by the counter in its envelopes.
- **time**. Every epoch has a cryptoperiod (NIST SP 800-57 Part 1 Rev. 5, §5.3: the period
  a key is authorised for). The Special Publication allows up to two years for a symmetric
  data-encryption key; sitroom defaults to 30 days (``key_cryptoperiod_days``), since a track's
  people change often and a short epoch bounds what one leaked key exposes.

:func:`forecast` projects each key's use at its recent rate to the day it reaches the limit, so
the alert comes ``key_warn_days`` *ahead* of the wear-out or the expiry, and :func:`findings`
also flags a scheduled meeting of the track that would run past the key's end (rotate before
the meeting, not during it).

The alerts come ahead; the limits themselves are enforced when a message is sealed
(:func:`out_of_use`): a key past its cryptoperiod or its message limit seals nothing more. RFC
9001 §6.6 says a QUIC endpoint stops using a key at its limit; sitroom then either rotates the
track's key first (``key_wear_action = "rotate"``, the default, where this site may issue a
new epoch) or refuses the message (``"refuse"``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sitroom.domain.secure.epochs import AES_256_GCM, CHACHA20_POLY1305
from sitroom.domain.timeutil import MS_PER_DAY, human_age, iso

RATE_FLOOR_MS = MS_PER_DAY  # a rate needs at least a day of history to be projected from


@dataclass(frozen=True)
class Limits:
    messages: int | None  # confidentiality: messages one key may seal (None: out of reach)
    forgeries: int  # integrity: failed decryptions one key may absorb
    source: str


LIMITS = {
    AES_256_GCM: Limits(2**23, 2**52, "RFC 9001 §6.6 (AES-GCM)"),
    CHACHA20_POLY1305: Limits(None, 2**36, "RFC 9001 §6.6 (ChaCha20-Poly1305)"),
}


CHAIN_LIMIT = 2**23  # messages in one sender's chain: what a reader may have to walk

ROTATE, REFUSE = "rotate", "refuse"
WEAR_ACTIONS = (ROTATE, REFUSE)  # what sealing does with a key out of use


@dataclass(frozen=True)
class Policy:
    cryptoperiod_ms: int = 30 * MS_PER_DAY
    warn_ms: int = 7 * MS_PER_DAY  # alert this long before a key wears out or expires
    usage_warn: float = 0.8  # ... or once it has used this share of its limit
    usage_limit: int = 0  # a lower message limit of the organisation's own (0: the AEAD's)
    on_wear: str = ROTATE  # a key out of use: rotate the track's key first, or refuse

    def message_limit(self, aead: str) -> int:
        published = LIMITS[aead].messages or CHAIN_LIMIT
        return min(self.usage_limit or published, published)


def out_of_use(
    epoch: Mapping[str, Any], sender: str, n: int, policy: Policy, now_ms: int
) -> str | None:
    """Why ``sender``'s key in ``epoch`` may not seal its ``n``-th message at ``now_ms`` (None:
    it may): the epoch's cryptoperiod is over or not begun (every reader would refuse the
    message), or the message would pass the key's limit."""
    name = f"track {epoch['track']}'s epoch {epoch['epoch']} key"
    if now_ms < int(epoch["created_ms"]):
        return f"{name} starts {iso(int(epoch['created_ms']))}, after this message's time"
    if now_ms >= int(epoch["expires_ms"]):
        return f"{name} expired {iso(int(epoch['expires_ms']))}"
    limit = policy.message_limit(str(epoch["aead"]))
    if n > limit:
        return f"{name} for {sender} has sealed its {limit:,} messages, its limit"
    return None


@dataclass(frozen=True)
class KeyWear:
    """One sender's key in one epoch of a track, and when it ends."""

    track: str
    epoch: int
    sender: str
    aead: str
    sealed: int
    failed: int
    limit: int | None
    rate_per_day: float
    expires_ms: int
    wears_out_ms: int | None  # at the recent rate (None: never, or too little use to tell)

    @property
    def ends_ms(self) -> int:
        """When the key must be out of use: expiry or wear-out, whichever comes first."""
        return min(self.expires_ms, self.wears_out_ms or self.expires_ms)

    @property
    def key(self) -> str:
        return f"{self.track}|{self.epoch}|{self.sender}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "epoch": self.epoch,
            "sender": self.sender,
            "aead": self.aead,
            "sealed": self.sealed,
            "failed_decryptions": self.failed,
            "limit": self.limit,
            "used": None if not self.limit else round(self.sealed / self.limit, 6),
            "rate_per_day": round(self.rate_per_day, 3),
            "expires": iso(self.expires_ms),
            "wears_out": None if self.wears_out_ms is None else iso(self.wears_out_ms),
            "rotate_by": iso(self.ends_ms),
        }


def forecast(
    epoch: Mapping[str, Any], sender: str, use: Mapping[str, Any], policy: Policy, now_ms: int
) -> KeyWear:
    aead = str(epoch["aead"])
    limit = policy.message_limit(aead)
    sealed = int(use.get("sealed", 0))
    first = use.get("first_ms") or int(epoch["created_ms"])
    span = max(now_ms - min(first, int(epoch["created_ms"])), RATE_FLOOR_MS)
    rate = sealed / span  # per ms, over the key's life so far
    wears_out = None
    if limit and rate > 0:
        left = max(limit - sealed, 0)
        at = now_ms + math.ceil(left / rate)
        # Past its expiry the key is out of use anyway: no wear-out to forecast.
        wears_out = at if at < int(epoch["expires_ms"]) else None
    return KeyWear(
        str(epoch["track"]),
        int(epoch["epoch"]),
        sender,
        aead,
        sealed,
        int(use.get("failed", 0)),
        limit,
        rate * MS_PER_DAY,
        int(epoch["expires_ms"]),
        wears_out,
    )


@dataclass(frozen=True)
class Finding:
    key: str  # stable: an alert is raised once per finding
    severity: str
    title: str
    detail: Mapping[str, Any]


def findings(
    keys: list[KeyWear], policy: Policy, now_ms: int, meetings: Mapping[str, Mapping[str, Any]]
) -> Iterator[Finding]:
    """What to say now about one epoch of a track, from its senders' keys (at least one:
    the issuing site's, used or not): expired or expiring, a key worn or wearing out, and a
    scheduled meeting of the track (``meetings``: the solved schedule's placements by id)
    that would run past the moment the first of its keys must be out of use."""
    first = min(keys, key=lambda w: w.ends_ms)
    name = f"track {first.track}'s epoch {first.epoch} key"
    epoch_key = f"{first.track}|{first.epoch}"
    d = first.as_dict()
    if now_ms >= first.expires_ms:
        yield Finding(
            f"{epoch_key}|expired", "critical", f"{name} expired {iso(first.expires_ms)}", d
        )
    elif first.expires_ms - now_ms <= policy.warn_ms:
        yield Finding(
            f"{epoch_key}|expiring",
            "warning",
            f"{name} expires in {human_age(first.expires_ms - now_ms)} "
            f"({iso(first.expires_ms)}, the end of its cryptoperiod): rotate before then",
            d,
        )
    for w in keys:
        yield from _use(w, name, policy, now_ms)
    for mid, m in sorted(meetings.items()):
        if m.get("track") != first.track or int(m["end"]) <= now_ms:
            continue
        if int(m["end"]) > first.ends_ms:
            why = "expires" if first.ends_ms == first.expires_ms else "wears out"
            yield Finding(
                f"{epoch_key}|meeting|{mid}",
                "warning",
                f"meeting {m.get('title') or mid} ({iso(int(m['start']))} to "
                f"{iso(int(m['end']))}) would run past the moment {name} {why} "
                f"({iso(first.ends_ms)}): rotate before the meeting",
                {**d, "meeting": mid},
            )


def _use(w: KeyWear, name: str, policy: Policy, now_ms: int) -> Iterator[Finding]:
    d = w.as_dict()
    if w.limit:
        share = w.sealed / w.limit
        if share >= policy.usage_warn:
            yield Finding(
                f"{w.key}|used",
                "critical" if share >= 1 else "warning",
                f"{name} for {w.sender} has sealed {w.sealed:,} of its {w.limit:,} messages "
                f"({share:.0%}): rotate now",
                d,
            )
        elif w.wears_out_ms is not None and w.wears_out_ms - now_ms <= policy.warn_ms:
            yield Finding(
                f"{w.key}|wearing",
                "warning",
                f"{name} for {w.sender} will reach its {w.limit:,}-message limit around "
                f"{iso(w.wears_out_ms)} at {w.rate_per_day:,.0f} a day: rotate before then",
                d,
            )
    if w.failed and w.failed >= policy.usage_warn * LIMITS[w.aead].forgeries:
        yield Finding(
            f"{w.key}|forgeries",
            "critical",
            f"{name} for {w.sender} has absorbed {w.failed:,} failed decryptions, near its "
            "integrity limit",
            d,
        )


def next_due(w: KeyWear, policy: Policy, now_ms: int) -> int | None:
    """The next instant at which :func:`findings` could say something new without a record
    arriving: the warning horizon before the end, and the expiry itself."""
    times = [w.expires_ms - policy.warn_ms, w.expires_ms]
    if w.wears_out_ms is not None:
        times.append(w.wears_out_ms - policy.warn_ms)
    later = [t for t in times if t > now_ms]
    return min(later, default=None)

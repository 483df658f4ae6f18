"""Sites: what one site sends another, sealed and signed, and how every site folds the same.

Each site keeps its own log and appends locally, so a cut link stops nothing. What it sends a
peer is a **bundle**: a run of records it originated (its own log positions ``first..last``),
only of the kinds that are shared knowledge (:data:`REPLICATED`: events, claims, tracks,
questions... — never alerts, which each site's detectors derive from the same inputs, nor a
site's keys, users or audit), and only of the compartments that peer is cleared for
(:func:`cleared`): a site not cleared for a track never receives its records, not even sealed.

A bundle is sealed to the receiving site's key (HPKE, as epoch keys are) and signed by the
sending site: the transport (NATS JetStream) carries and stores it but can neither read nor
forge it. A receiver refuses, and counts, a bundle it cannot open, one not signed by the site
it names, one naming records of another origin, and one that is not after the last it took
from that site (a replay: ``last`` only grows along a pair's bundles).

Every site folds the shared records in **hybrid logical clock order** — each record at the
recorded time its origin stamped, ties broken by origin and id (:func:`fold_order`) — so every
site that holds the same records computes the same states (:func:`converged`). A receiver
keeps the origin's times in a ``site.receipt`` record appended with the records, since its own
log stamps them when it learned them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke

from sitroom.domain import kinds as k
from sitroom.domain.projection import JOINT, Projection
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.errors import RecordError, Rejected, UserInputError

FORMAT = "sitroom-sites/1"
SITE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

# Shared knowledge: what one site learns, the others should know. Alerts, forecasts and
# channels' bookkeeping are each site's own (derived, or about its own links); keys, users,
# signatures and the audit are a site's own security state.
REPLICATED: frozenset[str] = frozenset(
    {
        k.GDELT_EVENT,
        k.UCDP_EVENT,
        k.ACLED_EVENT,
        k.NEWS_REPORT,
        k.SOURCE_DECLARED,
        k.CLAIM,
        k.ANALYST_REPORT,
        k.REDLINE,
        k.ACTOR,
        k.RELATIONSHIP,
        k.STIX_OBJECT,
        k.TRACK,
        k.RESOURCE,
        k.HOLDING,
        k.TRACK_STATUS,
        k.MEETING,
        k.WITHDRAWN,
        k.TRACK_FILE,
        k.CALENDAR,
        k.SCHEDULE,
        k.QUESTION,
        k.QUESTION_RESOLVED,
        k.JUDGMENT,
    }
)

# A bundle's plaintext stays well under NATS's default 1 MiB message: a bundle is cut there.
MAX_BUNDLE_BYTES = 512 * 1024
# ... and a message larger than this is refused unread.
MAX_MESSAGE_BYTES = 1024 * 1024

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_HEADER = ("v", "from", "to", "first", "last", "count")
_ENVELOPE = ("id", "kind", "kind_version", "valid_from", "valid_to", "recorded_time", "source")


def check_site(name: str) -> str:
    """Site names become NATS subjects, stream names and user names."""
    if not isinstance(name, str) or not SITE_NAME.match(name):
        raise UserInputError(
            f"{name!r} is not a usable site name: a lower-case letter, then up to 31 "
            "lower-case letters, digits or '-'"
        )
    return name


def cleared(compartment: str, tracks: Iterable[str]) -> bool:
    """Whether a site cleared for ``tracks`` may receive a record of ``compartment``: the
    general one always, a joint one ("a+b") only when cleared for each part."""
    if not compartment:
        return True
    allowed = set(tracks)
    return all(part in allowed for part in compartment.split(JOINT))


@dataclass(frozen=True)
class Bundle:
    """Records a site sent a peer, opened: ``first..last`` are the sender's log positions the
    bundle covers (records not for this peer in between were left out)."""

    origin: str
    dest: str
    first: int
    last: int
    records: tuple[Record, ...]
    digest: str  # SHA-256 of the message as it arrived: names it in receipts and refusals

    @property
    def times(self) -> list[int]:
        return [int(r.recorded_time or 0) for r in self.records]


def _info(header: Mapping[str, Any]) -> bytes:
    return canonical({"use": "sitroom site records", **{h: header[h] for h in _HEADER}})


def _row(r: Record) -> dict[str, Any]:
    row = {c: getattr(r, c) for c in (*_ENVELOPE, "confidence", "compartment", "origin")}
    row["payload"] = r.payload
    return row


Run = tuple[int, int, list[Record]]


def bundles(records: Sequence[Record], first: int, last: int) -> list[Run]:
    """``records`` (a peer's share of the sender's positions ``first..last``, in log order) cut
    into bundles of at most :data:`MAX_BUNDLE_BYTES` of JSON: (first, last, records) each, the
    ranges covering ``first..last`` without gaps, so a receiver's ``last`` ends at ``last``."""
    out: list[Run] = []
    run: list[Record] = []
    start, size = first, 0
    for r in records:
        n = len(orjson.dumps(_row(r)))
        if run and size + n > MAX_BUNDLE_BYTES:
            end = int(r.seq or 0) - 1
            out.append((start, end, run))
            start, size, run = end + 1, 0, []
        run.append(r)
        size += n
    if run or start <= last:
        out.append((start, last, run))
    return out


def message_id(origin: str, dest: str, first: int, last: int, records: Sequence[Record]) -> str:
    """The id the link de-duplicates a bundle by: the same records at the same positions sent
    again (after a crash) are stored once; a site made again under the same name, whose
    positions start over, is never taken for the old one (its positions alone would be: the
    link would drop its first bundles as repeats, and their records would be lost)."""
    ids = hashlib.sha256("\n".join(r.id for r in records).encode()).hexdigest()[:24]
    return f"{origin}:{dest}:{first}-{last}:{ids}"


def seal(me: Secret, to: Identity, first: int, last: int, records: Sequence[Record]) -> bytes:
    """The message carrying ``records`` from site ``me`` to site ``to``: sealed to ``to``'s
    key, signed by ``me``."""
    header = {
        "v": FORMAT,
        "from": me.name,
        "to": to.name,
        "first": first,
        "last": last,
        "count": len(records),
    }
    plain = orjson.dumps([_row(r) for r in records])
    body = {**header, "sealed": b64(_SUITE.encrypt(plain, to.kex, info=_info(header)))}
    return orjson.dumps({**body, "sig": b64(me.sign(canonical(body)))})


def open_bundle(data: bytes, me: Secret, sender: Identity | None, subject_origin: str) -> Bundle:
    """A message that arrived on ``subject_origin``'s subject, opened with ``me``'s key and
    checked against ``sender``, the pinned identity of the site it names (None: none is
    pinned). :class:`Rejected` with a reason otherwise."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise Rejected("malformed", f"a message of {len(data)} bytes, over the limit")
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise Rejected("malformed", "a message that is not JSON") from None
    if not isinstance(msg, dict) or msg.get("v") != FORMAT:
        raise Rejected("malformed", f"a message that is not a {FORMAT} bundle")
    types = {"from": str, "to": str, "first": int, "last": int, "count": int, "sealed": str}
    for field, t in {**types, "sig": str}.items():
        if type(msg.get(field)) is not t:
            raise Rejected("malformed", f"a bundle whose {field!r} is missing or not {t.__name__}")
    origin = msg["from"]
    if origin != subject_origin:
        raise Rejected(
            "wrong-origin", f"a bundle naming {origin!r} on {subject_origin!r}'s subject"
        )
    if msg["to"] != me.name:
        raise Rejected("not-for-me", f"a bundle for {msg['to']!r}, not for {me.name}")
    if sender is None:
        raise Rejected("unknown-site", f"a bundle from {origin!r}, a site not pinned here")
    body = {f: msg[f] for f in (*_HEADER, "sealed")}
    if not sender.verifies(canonical(body), unb64(msg["sig"], what="signature")):
        raise Rejected("bad-signature", f"a bundle not signed by {origin}'s pinned key")
    try:
        plain = _SUITE.decrypt(unb64(msg["sealed"], what="sealed"), me.agreeing, info=_info(msg))
    except (InvalidTag, ValueError):
        raise Rejected("undecryptable", f"a bundle from {origin} that does not open") from None
    rows = orjson.loads(plain)
    if not isinstance(rows, list) or len(rows) != msg["count"]:
        raise Rejected("malformed", f"a bundle from {origin} whose records do not match its count")
    if not msg["first"] <= msg["last"]:
        raise Rejected("malformed", f"a bundle from {origin} with an empty range")
    return Bundle(
        origin,
        me.name,
        msg["first"],
        msg["last"],
        tuple(_record(row, origin) for row in rows),
        hashlib.sha256(data).hexdigest(),
    )


def _record(row: Any, origin: str) -> Record:
    if not isinstance(row, dict) or not isinstance(row.get("payload"), dict):
        raise Rejected("malformed", f"a record from {origin} that is not an object")
    if row.get("origin") != origin:
        raise Rejected(
            "wrong-origin", f"{origin} sent a record of {row.get('origin')!r}: sites send their own"
        )
    if row.get("kind") not in REPLICATED:
        raise Rejected("not-shared", f"{origin} sent a record of kind {row.get('kind')!r}")
    if type(row.get("recorded_time")) is not int:
        raise Rejected("malformed", f"a record from {origin} without its recorded time")
    try:
        return Record(**{**row, "seq": None})
    except (TypeError, RecordError) as e:
        raise Rejected("malformed", f"a record from {origin} that is not one: {e}") from None


def receipt(bundle: Bundle, now_ms: int) -> Record:
    """The ``site.receipt`` appended with a bundle's records: which the bundle held, and the
    times their origin stamped (the log stamps its own)."""
    return k.SITE_RECEIPT.record(
        {
            "from": bundle.origin,
            "first": bundle.first,
            "last": bundle.last,
            "digest": bundle.digest,
            "ids": [r.id for r in bundle.records],
            "times": bundle.times,
        },
        id=f"site.receipt:{bundle.origin}:{bundle.first}-{bundle.last}",
        source="sitroom",
        valid_from=now_ms,
        valid_to=now_ms,
    )


def in_fold_order(batch: RecordBatch, origin_times: Mapping[str, int]) -> RecordBatch:
    """``batch``'s shared records as every site folds them: in hybrid-logical-clock order, each
    record at the time its origin stamped (``origin_times`` for those received; a site's own
    at their recorded time), then by origin and id; renumbered from 1. Every site holding the
    same records gets the same batch, whatever order and times its own log gave them."""
    import numpy as np
    import pyarrow as pa

    ids = batch.column("id").to_pylist()
    local = batch.column("recorded_time").to_pylist()
    times = [origin_times.get(i, t) for i, t in zip(ids, local, strict=True)]
    origins = batch.column("origin").to_pylist()
    keys = [(t, o or "", i) for t, o, i in zip(times, origins, ids, strict=True)]
    order = sorted(range(len(ids)), key=keys.__getitem__)
    out = RecordBatch(batch.table.take(pa.array(order, pa.int64())))
    out = out.with_column("recorded_time", pa.array([times[i] for i in order], pa.int64()))
    return out.with_column("seq", np.arange(1, len(order) + 1, dtype=np.int64))


def converged(projections: Sequence[Projection[Any]], batch: RecordBatch) -> dict[str, str]:
    """Each projection folded from its initial state over ``batch`` (shared records
    :func:`in_fold_order`), as a SHA-256 of its encoded state: equal at every site that holds
    the same records."""
    out = {}
    for p in projections:
        part = batch if p.kinds is None else batch.of_kinds(p.kinds)
        state = p.apply(p.initial(), part) if len(part) else p.initial()
        out[p.name] = hashlib.sha256(p.encode(state)).hexdigest()
    return out


def shared_projections(projections: Iterable[Projection[Any]]) -> list[Projection[Any]]:
    """The projections of shared knowledge: those that fold shared kinds (their folds of the
    shared records are what every site must agree on)."""
    return [p for p in projections if p.kinds is not None and set(p.kinds) & REPLICATED]

"""The record kinds, each declared once: its stable name, its version, its payload's type and
the upcasters that bring older versions to the current one (see docs/records.md).

A :class:`Kind` is the kind's name (it *is* a ``str``: compare it, key dicts by it, put it in
Arrow columns) and builds its records, so no record is written with a stale version::

    TRACK_STATUS.record({"track": "us-iran", "status": "agreed"},
                        id=..., source="user", valid_from=now, compartment="us-iran")

A payload change that breaks readers gets a new version and an upcaster (a function from the
payload at version n to the payload at n + 1), never a renamed Python class. Readers never see
an old version: :func:`upcast` runs where records leave the log (the engine's reads and folds),
and the log itself keeps every record as it was written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, NotRequired, TypedDict, TypeVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.domain.records import Record, RecordBatch

P = TypeVar("P", bound=Mapping[str, Any])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Kind(str, Generic[P]):
    """A record kind: its name (the ``str`` itself), ``version``, ``payload`` type and
    ``upcasters`` (``upcasters[i]`` turns version ``i + 1`` into ``i + 2``)."""

    version: int
    payload: type[P]
    upcasters: tuple[Upcaster, ...]
    doc: str

    def __new__(
        cls,
        name: str,
        payload: type[P],
        doc: str,
        *,
        upcasters: Sequence[Upcaster] = (),
    ) -> Kind[P]:
        if name in KINDS:
            raise ValueError(f"record kind {name!r} is declared twice")
        self = super().__new__(cls, name)
        self.payload = payload
        self.upcasters = tuple(upcasters)
        self.version = len(self.upcasters) + 1
        self.doc = doc
        KINDS[name] = self
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # a kind pickles as its name
        return (str, (str(self),))

    def record(
        self,
        payload: P,
        *,
        id: str,
        source: str,
        valid_from: int | None = None,
        valid_to: int | None = None,
        confidence: int | None = None,
        compartment: str = "",
        origin: str | None = None,
    ) -> Record:
        """A record of this kind at its current version."""
        return Record(
            id=id,
            kind=str(self),
            kind_version=self.version,
            source=source,
            payload=payload,
            valid_from=valid_from,
            valid_to=valid_to,
            confidence=confidence,
            compartment=compartment,
            origin=origin,
        )

    def upcast(self, payload: Mapping[str, Any], version: int) -> dict[str, Any]:
        """``payload``, written at ``version``, as the current version reads it."""
        if not 1 <= version <= self.version:
            raise ValueError(f"{self} has no version {version} (current: {self.version})")
        out = dict(payload)
        for step in self.upcasters[version - 1 :]:
            out = step(out)
        return out


KINDS: dict[str, Kind[Any]] = {}


def kind(name: str) -> Kind[Any] | None:
    """The declaration of a kind by name (None: not a kind sitroom writes)."""
    return KINDS.get(name)


# ---- payloads: the shapes records carry (docs/records.md says what each field means) ----------
JSON = Mapping[str, Any]  # a payload whose shape docs/records.md gives in words


class SourcePayload(TypedDict):
    source: str
    title: str
    cadence_ms: int
    publisher: str | None
    url: str | None
    licence: str | None


class QuarantinePayload(TypedDict):
    connector: str
    file: str
    line: int
    raw: str
    reason: str
    # Since the fields below, a run of identical rejected rows is one record and raw is cut
    # (adapters/inputs.quarantine); records written before lack them: one row, raw whole.
    count: NotRequired[int]
    last_line: NotRequired[int]
    raw_bytes: NotRequired[int]


class AlertPayload(TypedDict):
    detector: str
    key: str
    severity: str
    title: str
    evidence: list[str]
    triggered_by: list[str]
    detail: dict[str, Any]
    detect_ms: float


class AlertAckPayload(TypedDict):
    alert: str  # the alert's id
    by: str  # who acknowledged it (the site in a room without users)


class RedlinePayload(TypedDict):
    name: str
    rule: dict[str, Any]
    severity: str
    active: bool


class ClaimPayload(TypedDict):
    subject: str
    property: str | None
    value: Any
    reliability: NotRequired[str | None]
    credibility: NotRequired[int | None]
    origin: NotRequired[str | None]
    stated_at: int | None
    report: NotRequired[str | None]
    links: list[str]
    # What an assessment rests on: [{subject, property, value?}] (domain/stale.py).
    depends_on: NotRequired[list[dict[str, Any]]]


class ReportPayload(TypedDict):
    title: str | None
    author: str | None
    reliability: str | None
    published: int  # ms
    body: str
    claims: list[str]
    file: NotRequired[str | None]
    stix_id: NotRequired[str]
    object_refs: NotRequired[list[str]]


class ActorPayload(TypedDict, total=False):
    key: str
    name: str
    type: str
    aliases: list[str]
    cameo: list[str]
    country: str | None
    description: str | None
    stix_id: str | None
    stix_type: str
    where: dict[str, Any] | None  # a representative point: {name, lat, lon}


class RelationshipPayload(TypedDict, total=False):
    source: str
    target: str
    type: str
    description: str | None
    stix_id: str | None


class TrackPayload(TypedDict):
    id: str
    name: str
    parties: list[str]
    venue: dict[str, Any] | None
    status: str
    priority: int
    needs: list[str]
    preconditions: list[dict[str, Any]]


class ResourcePayload(TypedDict):
    id: str
    name: str
    type: str
    capacity: int
    timezone: str | None
    hours: NotRequired[str | None]
    days: NotRequired[Any]
    location: NotRequired[dict[str, Any] | None]


class HoldingPayload(TypedDict):
    track: str
    resource: str
    amount: int


class WithdrawnPayload(TypedDict):
    what: str  # track, resource, holding or meeting
    id: str  # its key in the tracks projection (a holding's: track|resource|start)
    by: str
    reason: str


class TrackFilePayload(TypedDict):
    file: str
    entries: list[str]  # what/id of every entry it declares (in the record's compartment)


class TrackStatusPayload(TypedDict):
    track: str
    status: str


class MeetingPayload(TypedDict):
    id: str
    track: str
    title: str
    duration: int
    required: list[str]
    optional: list[str]
    venue: str | None
    remote: NotRequired[bool]  # a call: no venue, no travel (not the track's venue)
    window: list[int | None]
    after: list[str]
    prefer: list[dict[str, Any]]


class CalendarPayload(TypedDict):
    resource: str
    calendar: str
    busy: list[list[Any]]  # [start ms, end ms, summary]


class SchedulePayload(TypedDict):
    meetings: dict[str, dict[str, Any]]
    status: str
    objective: float | None
    bound: float | None
    solved_at: int


class ChannelPayload(TypedDict):
    id: str
    name: str
    counterpart: str
    via: str | None
    fallback: str | None
    failover_from: str
    ack_timeout_ms: int
    heartbeat_ms: int
    acceptable_pause_ms: NotRequired[int | None]
    capacity: int
    weight: int
    url: str | None
    week: dict[str, Any]
    track: NotRequired[str | None]


class QuestionPayload(TypedDict, total=False):
    id: str
    text: str
    shape: str
    rule: str
    deadline_ms: int
    track: str | None
    places: list[dict[str, Any]]
    radius_m: float | None
    radius_text: str | None
    window_from_ms: int | None
    threshold: int | None
    quad_classes: list[int]
    prior: list[float]
    reference: dict[str, Any] | None
    given: str | None
    of: str | None
    channels: list[str]
    yes_status: str | None
    disagreement: float | None
    compartment: str
    extra: dict[str, Any]
    edit: dict[str, Any]  # an edit's {by, reason, changed}: the definition before was another


class ResolvedPayload(TypedDict):
    question: str
    outcome: str
    by: str
    reason: str
    evidence: list[str]
    count: int | None


class JudgmentPayload(TypedDict):
    question: str
    by: str
    p: float
    rationale: str


def _judgment_v2(p: dict[str, Any]) -> dict[str, Any]:
    """v1 named the person who judged ``analyst``; every other record names them ``by``."""
    p["by"] = p.pop("analyst")
    return p


class IdentityPayload(TypedDict):
    name: str
    role: str
    sign: str
    kex: str
    fingerprint: str
    proof: str


class InboxKeyPayload(TypedDict):
    name: str
    fingerprint: str  # the identity key that signs it, and that its epochs are opened beside
    id: int  # one per key, rising for each name
    public: str  # the X25519 public key, base64url
    created_ms: int
    expires_ms: int
    signature: str  # the identity's Ed25519 signature over the canonical rest


class UserPayload(TypedDict):
    name: str
    role: str
    by: str | None


class GrantPayload(TypedDict):
    principal: str
    compartment: str
    by: str | None


class DeniedPayload(TypedDict):
    user: str | None
    action: str
    reason: str


class CheckpointPayload(TypedDict):
    site: str
    seq: int
    head: str
    fingerprint: str
    signature: str
    size: NotRequired[int]  # the Merkle tree's size (segments) and head: absent in v1
    root: NotRequired[str]


# ---- the declarations ---------------------------------------------------------------------
GDELT_EVENT: Kind[JSON] = Kind("gdelt.event", dict, "a GDELT 1.0/2.0 event, normalised")
UCDP_EVENT: Kind[JSON] = Kind("ucdp.event", dict, "one upstream version of a UCDP GED event")
ACLED_EVENT: Kind[JSON] = Kind("acled.event", dict, "one upstream version of an ACLED event")
NEWS_REPORT: Kind[JSON] = Kind("news.report", dict, "an item of an RSS or Atom news feed")
SOURCE_DECLARED = Kind("source.declared", SourcePayload, "a source and its cadence")
QUARANTINED = Kind("ingest.quarantined", QuarantinePayload, "an input row refused, and why")
ALERT = Kind("alert", AlertPayload, "a detector's finding, naming the records that caused it")
ALERT_ACK = Kind("alert.ack", AlertAckPayload, "a person acknowledged an alert: seen, in hand")
CLAIM = Kind("claim", ClaimPayload, "a source says a subject's property has a value")
ANALYST_REPORT = Kind("analyst.report", ReportPayload, "an analyst's report, carrying claims")
REDLINE = Kind("redline", RedlinePayload, "a user's rule, checked on every new event")
ACTOR = Kind("actor", ActorPayload, "a state, armed group, intermediary, person...")
RELATIONSHIP = Kind("relationship", RelationshipPayload, "how one actor stands to another")
STIX_OBJECT: Kind[JSON] = Kind("stix.object", dict, "a STIX object kept whole, uninterpreted")
TRACK = Kind("track", TrackPayload, "a negotiation track: parties, venue, needs, preconditions")
RESOURCE = Kind("resource", ResourcePayload, "a person, team, link, key or venue tracks share")
HOLDING = Kind("holding", HoldingPayload, "a track holds a resource over a valid-time window")
TRACK_STATUS = Kind("track.status", TrackStatusPayload, "a track's status changes")
MEETING = Kind("meeting", MeetingPayload, "a meeting of a track to schedule")
WITHDRAWN = Kind(
    "tracks.withdrawn", WithdrawnPayload, "a track, resource, holding or meeting taken back"
)
TRACK_FILE = Kind(
    "tracks.file", TrackFilePayload, "what a track file declares: re-adding it withdraws the rest"
)
CALENDAR = Kind("calendar.busy", CalendarPayload, "a resource's busy times, from iCalendar")
SCHEDULE = Kind("schedule", SchedulePayload, "a solved schedule: where each meeting was placed")
CHANNEL = Kind("channel", ChannelPayload, "a channel to a counterpart, and its fallback")
CHANNEL_SEND: Kind[JSON] = Kind("channel.send", dict, "a message handed to a channel")
CHANNEL_RETRY: Kind[JSON] = Kind("channel.retry", dict, "a message sent again on its channel")
CHANNEL_FAILOVER: Kind[JSON] = Kind(
    "channel.failover", dict, "a message moved to the redundant channel, same id"
)
CHANNEL_ACK: Kind[JSON] = Kind("channel.ack", dict, "the far end acknowledged a message")
CHANNEL_DROP: Kind[JSON] = Kind("channel.drop", dict, "backpressure dropped a message")
CHANNEL_STATE: Kind[JSON] = Kind("channel.state", dict, "a channel's breaker or liveness changed")
CHANNEL_RECEIVE: Kind[JSON] = Kind("channel.receive", dict, "a message received, once per id")
CHANNEL_REPLY: Kind[JSON] = Kind("channel.reply", dict, "the counterpart replied to a message")
QUESTION = Kind("question", QuestionPayload, "a forecast question and its resolution rule")
QUESTION_RESOLVED = Kind("question.resolved", ResolvedPayload, "a question resolved, and why")
JUDGMENT = Kind(
    "judgment",
    JudgmentPayload,
    "a person's probability for a question, with the rationale",
    upcasters=[_judgment_v2],
)
FORECAST: Kind[JSON] = Kind("forecast", dict, "the ensemble's forecast: every member, flags")
IDENTITY = Kind("identity", IdentityPayload, "public keys, signed by their owner")
USER = Kind("user", UserPayload, "a local user and their role")
USER_GRANT = Kind("user.grant", GrantPayload, "someone cleared for a compartment")
USER_REVOKE = Kind("user.revoke", GrantPayload, "... and no longer")
KEY_EPOCH: Kind[JSON] = Kind("key.epoch", dict, "a track's epoch key, sealed to each member")
KEY_REVOKED: Kind[JSON] = Kind(
    "key.revoked", dict, "an identity's key replaced: it signs and opens nothing after"
)
KEY_TRANSITION: Kind[JSON] = Kind(
    "key.transition", dict, "a site's key replaced: signed by the old key and by the new"
)
INBOX_KEY = Kind(
    "inbox.key", InboxKeyPayload, "a one-time public key a member's epoch copies are sealed to"
)
SECURE_REJECTED: Kind[JSON] = Kind("secure.rejected", dict, "a message refused, and why")
ACCESS_DENIED = Kind("access.denied", DeniedPayload, "an action refused to a user, and why")
AUDIT_CHECKPOINT = Kind("audit.checkpoint", CheckpointPayload, "the audit chain's head, signed")
WITNESS_COSIGNED: Kind[JSON] = Kind(
    "witness.cosigned", dict, "a site's tree head, co-signed by a witness"
)
AUTHOR_SIGNATURE: Kind[JSON] = Kind(
    "author.signature", dict, "a person's signature over the records they just wrote"
)
AUTH_TOKEN: Kind[JSON] = Kind("auth.token", dict, "an API token a person created for scripts")
AUTH_REVOKED: Kind[JSON] = Kind("auth.revoked", dict, "... and revoked")
AGREEMENT_PROPOSED: Kind[JSON] = Kind("agreement.proposed", dict, "a text to agree, hashed")
AGREEMENT_SIGNED: Kind[JSON] = Kind("agreement.signed", dict, "one party's signature")
AGREEMENT_WITHDRAWN: Kind[JSON] = Kind("agreement.withdrawn", dict, "a party withdrew")
AGREEMENT_AGREED: Kind[JSON] = Kind("agreement.agreed", dict, "every party signed: the whole")
SITE_PEER: Kind[JSON] = Kind("site.peer", dict, "a peer site: what this site sends it")
SITE_RECEIPT: Kind[JSON] = Kind(
    "site.receipt", dict, "records received from a peer site: its signed bundle, their times"
)
SITE_REFUSED: Kind[JSON] = Kind("site.refused", dict, "a bundle from a link refused, and why")

SECURE_KINDS = (
    IDENTITY,
    USER,
    USER_GRANT,
    USER_REVOKE,
    KEY_EPOCH,
    KEY_REVOKED,
    KEY_TRANSITION,
    INBOX_KEY,
    SECURE_REJECTED,
    ACCESS_DENIED,
    AUDIT_CHECKPOINT,
    WITNESS_COSIGNED,
    AUTHOR_SIGNATURE,
    AUTH_TOKEN,
    AUTH_REVOKED,
    AGREEMENT_PROPOSED,
    AGREEMENT_SIGNED,
    AGREEMENT_WITHDRAWN,
    AGREEMENT_AGREED,
)

CHANNEL_KINDS = (
    CHANNEL,
    CHANNEL_SEND,
    CHANNEL_RETRY,
    CHANNEL_FAILOVER,
    CHANNEL_ACK,
    CHANNEL_DROP,
    CHANNEL_STATE,
    CHANNEL_RECEIVE,
    CHANNEL_REPLY,
)

# Kinds that describe the world, as opposed to the workspace's own bookkeeping.
EVIDENCE_KINDS = (GDELT_EVENT, UCDP_EVENT, ACLED_EVENT, NEWS_REPORT, CLAIM, ANALYST_REPORT)

# CAMEO's four QuadClasses, as GDELT codes them (root codes 01-05, 06-09, 10-14, 15-20).
QUAD_CLASS_NAMES = {
    1: "Verbal Cooperation",
    2: "Material Cooperation",
    3: "Verbal Conflict",
    4: "Material Conflict",
}


# ---- reading old versions -----------------------------------------------------------------
def _evolved() -> pa.Array:
    return pa.array(sorted(k for k, d in KINDS.items() if d.version > 1), pa.string())


def upcast(batch: RecordBatch) -> RecordBatch:
    """``batch`` with every record of an older version of its kind brought to the current one
    (payload upcast, ``kind_version`` set). A batch with none — nearly every batch — is
    returned as is, after one vectorised check."""
    if not len(batch):
        return batch
    kinds = batch.column("kind")
    evolved = pc.is_in(kinds, _evolved())
    if not pc.any(evolved).as_py():
        return batch
    current = pc.fill_null(pc.index_in(kinds, pa.array(list(KINDS), pa.string())), -1).to_numpy(
        zero_copy_only=False
    )
    versions = [d.version for d in KINDS.values()]
    stored = batch.column("kind_version").to_numpy()
    old = [
        i
        for i in pc.indices_nonzero(evolved).to_pylist()
        if current[i] >= 0 and stored[i] < versions[current[i]]
    ]
    if not old:
        return batch
    json = batch.as_json()
    payloads = json.column("payload").to_pylist()
    kind_versions = json.column("kind_version").to_pylist()
    names = kinds.to_pylist()
    for i in old:
        declared = KINDS[names[i]]
        payloads[i] = orjson.dumps(
            declared.upcast(orjson.loads(payloads[i]), kind_versions[i])
        ).decode()
        kind_versions[i] = declared.version
    return json.with_column("kind_version", kind_versions).with_column("payload", payloads)

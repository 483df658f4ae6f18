"""The record kinds the spine itself writes, each a published schema (see docs/records.md).

Kind names are stable strings and versions are integers; a payload change that breaks readers
gets a new version and an upcaster, never a renamed Python class.
"""

from __future__ import annotations

GDELT_EVENT = "gdelt.event"  # a GDELT 1.0/2.0 event, normalised (adapters.gdelt.parse)
SOURCE_DECLARED = "source.declared"  # a source announces itself and its cadence
QUARANTINED = "ingest.quarantined"  # an input row that could not be accepted, with its reason
ALERT = "alert"  # a detector's finding, naming the records that caused it
UCDP_EVENT = "ucdp.event"  # one upstream version of a UCDP GED event (adapters.ucdp)
ACLED_EVENT = "acled.event"  # one upstream version of an ACLED event (adapters.acled)
NEWS_REPORT = "news.report"  # an item of an RSS or Atom news feed (adapters.rss)
CLAIM = "claim"  # a source says a subject's property has a value (domain.claims)
ANALYST_REPORT = "analyst.report"  # an analyst's report, carrying claims (adapters.reports)
REDLINE = "redline"  # a user's rule, checked on every new event (domain.redlines)
ACTOR = "actor"  # a state, armed group, intermediary, person... (domain.actors)
RELATIONSHIP = "relationship"  # how one actor stands towards another, over time (domain.actors)
STIX_OBJECT = "stix.object"  # a STIX object sitroom keeps whole but does not interpret
TRACK = "track"  # a negotiation track: parties, venue, needs, preconditions (domain.tracks)
RESOURCE = "resource"  # a person, team, secure link, key or venue that tracks share
HOLDING = "holding"  # a track holds a resource over a valid-time window
TRACK_STATUS = "track.status"  # a track's status changes ("negotiating" -> "agreed")
MEETING = "meeting"  # a meeting of a track to schedule: duration, attendees, window, venue
CALENDAR = "calendar.busy"  # a resource's busy times, as imported from an iCalendar file
SCHEDULE = "schedule"  # a solved schedule: where each meeting was placed, and how well
CHANNEL = "channel"  # a channel to a counterpart: direct or via an intermediary, its fallback
CHANNEL_SEND = "channel.send"  # a message handed to a channel (domain.channels.courier)
CHANNEL_RETRY = "channel.retry"  # a message sent again on its channel, after no ack or an error
CHANNEL_FAILOVER = "channel.failover"  # a message moved to the redundant channel, same id
CHANNEL_ACK = "channel.ack"  # the far end acknowledged a message
CHANNEL_DROP = "channel.drop"  # backpressure dropped a message (lowest priority, newest first)
CHANNEL_STATE = "channel.state"  # a channel's breaker or liveness changed, with the reason
CHANNEL_RECEIVE = "channel.receive"  # a message received, once per id whatever the copies
CHANNEL_REPLY = "channel.reply"  # the counterpart replied to a message
QUESTION = "question"  # a forecast question: binary or count, its resolution rule and links
QUESTION_RESOLVED = "question.resolved"  # a question resolved yes, no or void, and why
JUDGMENT = "judgment"  # an analyst's probability for a question, with the rationale
FORECAST = "forecast"  # the ensemble's forecast: every member, the aggregate, spread, flags
IDENTITY = "identity"  # a person's, site's or intermediary's public keys, signed by itself
USER = "user"  # a local user and their role (admin, analyst, viewer)
USER_GRANT = "user.grant"  # a user or an endpoint cleared for a compartment (a track, a marking)
USER_REVOKE = "user.revoke"  # ... and no longer
KEY_EPOCH = "key.epoch"  # a track's epoch key, sealed to each cleared member, signed by the site
SECURE_REJECTED = "secure.rejected"  # a message refused: forged, replayed, wrong track... and why
ACCESS_DENIED = "access.denied"  # a read or action refused to a user, and why
AUDIT_CHECKPOINT = "audit.checkpoint"  # the audit chain's head at a log position, signed
AGREEMENT_PROPOSED = "agreement.proposed"  # a text to agree, its parties, canonical and hashed
AGREEMENT_SIGNED = "agreement.signed"  # one party's signature over the agreement's text
AGREEMENT_WITHDRAWN = "agreement.withdrawn"  # a party withdrew before every signature was in
AGREEMENT_AGREED = "agreement.agreed"  # every party signed: the text and all signatures, whole

CURRENT_VERSION = {
    GDELT_EVENT: 1,
    SOURCE_DECLARED: 1,
    QUARANTINED: 1,
    ALERT: 1,
    UCDP_EVENT: 1,
    ACLED_EVENT: 1,
    NEWS_REPORT: 1,
    CLAIM: 1,
    ANALYST_REPORT: 1,
    REDLINE: 1,
    ACTOR: 1,
    RELATIONSHIP: 1,
    STIX_OBJECT: 1,
    TRACK: 1,
    RESOURCE: 1,
    HOLDING: 1,
    TRACK_STATUS: 1,
    MEETING: 1,
    CALENDAR: 1,
    SCHEDULE: 1,
    CHANNEL: 1,
    CHANNEL_SEND: 1,
    CHANNEL_RETRY: 1,
    CHANNEL_FAILOVER: 1,
    CHANNEL_ACK: 1,
    CHANNEL_DROP: 1,
    CHANNEL_STATE: 1,
    CHANNEL_RECEIVE: 1,
    CHANNEL_REPLY: 1,
    QUESTION: 1,
    QUESTION_RESOLVED: 1,
    JUDGMENT: 1,
    FORECAST: 1,
    IDENTITY: 1,
    USER: 1,
    USER_GRANT: 1,
    USER_REVOKE: 1,
    KEY_EPOCH: 1,
    SECURE_REJECTED: 1,
    ACCESS_DENIED: 1,
    AUDIT_CHECKPOINT: 1,
    AGREEMENT_PROPOSED: 1,
    AGREEMENT_SIGNED: 1,
    AGREEMENT_WITHDRAWN: 1,
    AGREEMENT_AGREED: 1,
}

SECURE_KINDS = (
    IDENTITY,
    USER,
    USER_GRANT,
    USER_REVOKE,
    KEY_EPOCH,
    SECURE_REJECTED,
    ACCESS_DENIED,
    AUDIT_CHECKPOINT,
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

"""What requests carry, read as the CLI reads what people type — times (ISO 8601, now, -2h,
1d ago, +4h), places (Beirut, LAT,LON), radii (500mi, 800km), durations (7d) — and the shapes
of request and response bodies, published in the OpenAPI document.

Query and body names follow the CLI's option names (``as_of`` for ``--as-of``, ``radius`` for
``--radius``); a bad value is a 422 in the one error shape, as the CLI's is one line.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from sitroom.adapters.clock import SystemClock
from sitroom.domain.geo import Point, Radius, parse_radius
from sitroom.domain.places import place as known_place
from sitroom.domain.timeutil import parse_duration, parse_time

TEXT = 500  # the longest free text a query or a short field takes
BODY = 65_536  # a message or a reason


def when(text: str | None) -> int | None:
    """A time as people type it, in epoch ms (None: none given)."""
    return None if text is None else parse_time(text, now_ms=SystemClock().now_ms())


def duration(text: str) -> int:
    return parse_duration(text)


def place(text: str) -> Point:
    return known_place(text)


def radius(text: str) -> Radius:
    return parse_radius(text)


# query parameters, as the CLI names its options ---------------------------------------------
AsOf = Annotated[
    str | None,
    Query(max_length=64, description="Answer with what was known then (ISO 8601, -2h, 1d ago)."),
]
Since = Annotated[str | None, Query(max_length=64, description="From this time.")]
Until = Annotated[str | None, Query(max_length=64, description="Up to this time.")]
Near = Annotated[str | None, Query(max_length=TEXT, description="A known place or LAT,LON.")]
RadiusQ = Annotated[str | None, Query(max_length=64, description="e.g. 500mi, 800km, 250nm.")]


# bodies ---------------------------------------------------------------------------------------
class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(Body):
    user: str = Field(min_length=1, max_length=64)
    passphrase: str = Field(min_length=1, max_length=1024)
    hours: float | None = Field(
        default=None,
        gt=0,
        le=24 * 366,
        description="How long the session lasts (default: the room's session_hours setting).",
    )


class CommandLine(Body):
    argv: list[str] = Field(
        min_length=1, max_length=64, description="A sitroom command line, as typed after `sitroom`."
    )
    passphrase: str | None = Field(
        default=None, max_length=1024, description="A passphrase the command needs (a new user's)."
    )


class CommandRun(BaseModel):
    exit_code: int
    stdout: str
    stderr: str


class NewToken(Body):
    name: str = Field(min_length=1, max_length=TEXT, description="What the token is for.")
    days: float = Field(default=30.0, gt=0, le=366, description="How long it lives.")


class NewRedline(Body):
    name: str = Field(min_length=1, max_length=TEXT)
    rule: str = Field(min_length=1, max_length=TEXT)
    severity: str = Field(default="warning", max_length=16)


class TrackStatus(Body):
    status: str = Field(min_length=1, max_length=TEXT)


class Withdraw(Body):
    what: str = Field(min_length=1, max_length=16, description="track, resource, meeting...")
    id: str = Field(min_length=1, max_length=TEXT)
    reason: str = Field(min_length=1, max_length=BODY)


class Solve(Body):
    since: str | None = Field(default=None, max_length=64)
    days: int | None = Field(default=None, ge=1, le=366)
    slot: int = Field(default=30, ge=5, le=1440)
    time_limit: float = Field(default=5.0, ge=0.1, le=30.0, description="Seconds to solve.")
    as_of: str | None = Field(default=None, max_length=64)


class Schedule(Solve):
    gap: float = Field(default=0.01, ge=0.0, le=1.0)
    dry_run: bool = False


class Delay(Solve):
    target: str = Field(min_length=1, max_length=TEXT)
    delay: str = Field(min_length=1, max_length=64)


class Unavailable(Solve):
    person: str = Field(min_length=1, max_length=TEXT)
    from_: str = Field(alias="from", min_length=1, max_length=64)
    to: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=BODY)


class NewChannel(Body):
    id: str = Field(min_length=1, max_length=TEXT)
    to: str = Field(min_length=1, max_length=TEXT, description="The counterpart.")
    name: str = Field(default="", max_length=TEXT)
    via: str | None = Field(default=None, max_length=TEXT)
    fallback: str | None = Field(default=None, max_length=TEXT)
    failover_from: str = Field(default="IMMEDIATE", max_length=16)
    url: str | None = Field(default=None, max_length=TEXT)
    ack_timeout: str = Field(default="10s", max_length=64)
    heartbeat: str = Field(default="1s", max_length=64)
    acceptable_pause: str | None = Field(default=None, max_length=64)
    capacity: int = Field(default=64, ge=1, le=1_000_000)
    weight: int = Field(default=1, ge=1, le=1000)
    timezone: str = Field(default="UTC", max_length=64)
    hours: str = Field(default="09:00-18:00", max_length=64)
    days: str = Field(default="Mon-Fri", max_length=64)
    closed: list[str] = Field(default_factory=list, max_length=366)
    shorter: list[str] = Field(default_factory=list, max_length=366)
    track: str | None = Field(default=None, max_length=TEXT)


class Send(Body):
    body: str = Field(max_length=BODY, description="The message.")
    priority: str = Field(default="ROUTINE", max_length=16)
    id: str | None = Field(default=None, max_length=TEXT)
    reply_by: str | None = Field(default=None, max_length=64)
    await_reply: bool = False
    expires: str | None = Field(default=None, max_length=64)
    wait: str = Field(
        default="0s",
        max_length=64,
        description="How long to keep trying before leaving it pending for a desk (at most "
        "10s: the room waits with it).",
    )


class Ack(Body):
    channel: str | None = Field(default=None, max_length=TEXT)
    at: str | None = Field(default=None, max_length=64)


class Reply(Body):
    at: str | None = Field(default=None, max_length=64)
    body: str = Field(default="", max_length=BODY)


class Reason(Body):
    reason: str = Field(min_length=1, max_length=BODY)


class Rotate(Body):
    reason: str = Field(default="rotation", max_length=BODY)


class Question(Body):
    text: str = Field(min_length=1, max_length=BODY)
    id: str | None = Field(default=None, max_length=TEXT)
    until: str | None = Field(default=None, max_length=64)
    since: str | None = Field(default=None, max_length=64)
    window: str = Field(default="7d", max_length=64)
    threshold: int | None = Field(default=None, ge=1, le=10**9)
    near: list[str] = Field(default_factory=list, max_length=32)
    radius: str = Field(default="500mi", max_length=64)
    track: str | None = Field(default=None, max_length=TEXT)
    rule: str | None = Field(default=None, max_length=16)
    reference: str | None = Field(default=None, max_length=TEXT)
    hits: int = Field(default=0, ge=0, le=10**9)
    of: int = Field(default=0, ge=0, le=10**9)


class Resolve(Body):
    outcome: str = Field(min_length=1, max_length=16, description="yes, no or void.")
    reason: str = Field(default="", max_length=BODY)


class Judge(Body):
    probability: str = Field(min_length=1, max_length=16, description="0.35 or 35%.")
    rationale: str = Field(default="", max_length=BODY)


class NewUser(Body):
    name: str = Field(min_length=1, max_length=64)
    role: str = Field(default="analyst", max_length=16)
    passphrase: str = Field(min_length=1, max_length=1024, description="Protects their key.")


class Grant(Body):
    compartment: str = Field(min_length=1, max_length=TEXT)


class Verify(Body):
    deep: bool = False
    checkpoint: bool = True


# answers --------------------------------------------------------------------------------------
class Provenance(BaseModel):
    """How fresh an answer is: as of when (and which log position), its newest evidence, how
    many newer records exist, and how many records the reader may not see."""

    as_of: str | None
    as_of_seq: int
    newest_evidence: str | None
    evidence_age_ms: int | float | None
    newer_records: int
    stale: bool
    hidden: int


class Answer(BaseModel):
    """A read: the CLI's ``--json`` answer, with its provenance."""

    model_config = ConfigDict(extra="allow")
    provenance: Provenance


class Done(BaseModel):
    """A write: the CLI's ``--json`` result."""

    model_config = ConfigDict(extra="allow")


class LoggedIn(BaseModel):
    token: str = Field(description="The bearer token: shown this once.")
    id: str
    user: str
    expires: str | None


class Health(BaseModel):
    status: str
    site: str
    last_seq: int
    users: bool  # whether acting needs a token (a room without users: anyone local acts)
    role: str  # "writer", or "reader": one of several processes on a PostgreSQL log

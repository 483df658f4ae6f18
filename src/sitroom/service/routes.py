"""The REST endpoints over the room: what the CLI does, read and write. Each is the CLI's
command again — read what was sent, one Room call, the result's ``to_json()`` (exactly what
``--json`` prints, provenance included) — and runs as the bearer's user on the room's thread
(:class:`~sitroom.service.hub.Hub`). Paths follow the CLI's commands, query and body names
its options.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sitroom.application.results import Result
from sitroom.domain.records import RecordBatch
from sitroom.errors import SourceError, UserInputError
from sitroom.room import Room
from sitroom.service import params as p
from sitroom.service.errors import responses
from sitroom.service.hub import Hub, TooLarge
from sitroom.service.json import JSON

bearer = HTTPBearer(
    auto_error=False,
    description="A token from POST /auth/login (a session) or POST /tokens (an API token).",
)
Name = Annotated[str, Path(min_length=1, max_length=p.TEXT)]
MAX_WAIT_MS = 10_000

READ: dict[int | str, dict[str, Any]] = {
    200: {"model": p.Answer, "description": "The answer, with its provenance."},
    **responses(401, 403, 404, 422, 503),
}
WRITE: dict[int | str, dict[str, Any]] = {
    200: {"model": p.Done, "description": "What was recorded."},
    **responses(400, 401, 403, 404, 409, 422, 503),
}
MADE: dict[int | str, dict[str, Any]] = {
    201: {"model": p.Done, "description": "What was made and recorded."},
    **responses(400, 401, 403, 404, 409, 422, 503),
}


@dataclass(frozen=True)
class Caller:
    """Who sent a request, proven (the room as their user), before any of its values is read:
    a request without proof is a 401 whatever else is wrong with it."""

    hub: Hub
    bearer: str | None
    request: Request
    view: Room

    async def answer(
        self, call: Callable[[Room], Result], *, writes: bool = False, status: int = 200
    ) -> JSON:
        """Make ``call`` as the caller's user on the room's thread: its JSON."""
        acted = await self.hub.act(self.view, call, writes=writes)
        return JSON(acted.body, status_code=status)


async def caller(
    request: Request, token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    hub: Hub = request.app.state.hub
    credentials = None if token is None else token.credentials
    view = await hub.run(lambda: hub.acting(credentials))
    request.state.user = view.user
    return Caller(hub, credentials, request, view)


Who = Annotated[Caller, Depends(caller)]
router = APIRouter()


Route = Callable[[Callable[..., Awaitable[JSON]]], Callable[..., Awaitable[JSON]]]


def read(path: str, **kw: Any) -> Route:
    return router.get(path, response_model=None, responses=READ, **kw)


def write(path: str, *, made: bool = False, method: str = "post", **kw: Any) -> Route:
    route: Callable[..., Route] = getattr(router, method)
    status = 201 if made else 200
    return route(
        path, response_model=None, status_code=status, responses=MADE if made else WRITE, **kw
    )


# the world picture ----------------------------------------------------------------------------
@read("/state", tags=["world"])
async def state(
    who: Who, as_of: p.AsOf = None, top: Annotated[int, Query(ge=0, le=300)] = 10
) -> JSON:
    """What the room knows (or knew as of a time): records, events, sources, alerts."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.world.state(as_of_ms=at, top=top))


@read("/events", tags=["world"])
async def events(
    who: Who,
    near: p.Near = None,
    radius: p.RadiusQ = None,
    since: p.Since = None,
    until: p.Until = None,
    as_of: p.AsOf = None,
    limit: Annotated[int, Query(ge=0, le=100_000, description="Rows (0: all).")] = 50,
) -> JSON:
    """Events of every source within a radius of a place and a window of time."""
    if (near is None) != (radius is None):
        raise UserInputError("near and radius go together: give both, or neither")
    centre = p.place(near) if near is not None else None
    rad = p.radius(radius) if radius is not None else None
    span = p.when(since), p.when(until), p.when(as_of)
    return await who.answer(
        lambda r: r.world.events(
            near=centre,
            radius=rad,
            since_ms=span[0],
            until_ms=span[1],
            as_of_ms=span[2],
            limit=limit or None,
        )
    )


@read("/alerts", tags=["world"])
async def alerts(who: Who, as_of: p.AsOf = None) -> JSON:
    """The alerts raised, with their evidence."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.world.alerts(as_of_ms=at))


@read("/quarantine", tags=["world"])
async def quarantine(who: Who, as_of: p.AsOf = None) -> JSON:
    """Input rows that could not be accepted, and why."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.world.quarantine(as_of_ms=at))


@read("/claims/{subject}", tags=["world"])
async def claims(
    who: Who,
    subject: Name,
    as_of: p.AsOf = None,
    valid_at: Annotated[str | None, Query(max_length=64)] = None,
    all: Annotated[bool, Query(description="Whatever their valid time.")] = False,
    property: Annotated[list[str] | None, Query(max_length=32)] = None,
) -> JSON:
    """Every value sources claimed for a subject's properties, side by side."""
    at, valid = p.when(as_of), p.when(valid_at)
    return await who.answer(
        lambda r: r.world.claims(
            subject, as_of_ms=at, valid_at_ms=valid, every=all, properties=property
        )
    )


@read("/actors", tags=["world"])
async def actors(
    who: Who, as_of: p.AsOf = None, type: Annotated[str | None, Query(max_length=64)] = None
) -> JSON:
    """The actors the room knows."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.world.actors(as_of_ms=at, type=type))


@read("/actors/{name}", tags=["world"])
async def actor(
    who: Who,
    name: Name,
    as_of: p.AsOf = None,
    window: Annotated[str, Query(max_length=64)] = "30d",
) -> JSON:
    """One actor: aliases, relationships over time, how it treats each counterpart."""
    at, span = p.when(as_of), p.duration(window)
    return await who.answer(lambda r: r.world.actor(name, as_of_ms=at, window_ms=span))


@read("/intensity", tags=["world"])
async def intensity(
    who: Who,
    near: Annotated[str, Query(max_length=p.TEXT, description="A known place or LAT,LON.")],
    radius: Annotated[str, Query(max_length=64)] = "500mi",
    window: Annotated[str, Query(max_length=64)] = "7d",
    until: p.Until = None,
    previous: Annotated[int, Query(ge=0, le=520)] = 4,
    as_of: p.AsOf = None,
) -> JSON:
    """Conflict intensity within a radius: events, fatalities, Goldstein, trend."""
    centre, rad, span = p.place(near), p.radius(radius), p.duration(window)
    end, at = p.when(until), p.when(as_of)
    return await who.answer(
        lambda r: r.world.intensity(centre, rad, span, until_ms=end, as_of_ms=at, previous=previous)
    )


@read("/diff", tags=["world"])
async def diff(
    who: Who, since: Annotated[str, Query(max_length=64)] = "-1d", until: p.Until = None
) -> JSON:
    """What changed in the picture between two times."""
    start, end = p.when(since), p.when(until)
    assert start is not None
    return await who.answer(lambda r: r.world.diff(start, end))


@read("/redlines", tags=["world"])
async def redlines(who: Who, as_of: p.AsOf = None) -> JSON:
    """The red lines in force."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.world.redlines(as_of_ms=at))


@write("/redlines", made=True, tags=["world"])
async def redline_add(who: Who, body: p.NewRedline) -> JSON:
    """Add a red line, checked on every event from now on."""
    return await who.answer(
        lambda r: r.world.add_redline(body.name, body.rule, severity=body.severity),
        writes=True,
        status=201,
    )


@read("/redlines/test", tags=["world"])
async def redline_test(
    who: Who, rule: Annotated[str, Query(min_length=1, max_length=p.TEXT)], as_of: p.AsOf = None
) -> JSON:
    """What a rule would match in the data held, and when it would have fired."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.world.test_redline(rule, as_of_ms=at))


# tracks ---------------------------------------------------------------------------------------
@read("/tracks", tags=["tracks"])
async def tracks(who: Who, as_of: p.AsOf = None) -> JSON:
    """Each track's status, needs and preconditions."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.tracks.list(as_of_ms=at))


@read("/tracks/check", tags=["tracks"])
async def tracks_check(
    who: Who, at: Annotated[str | None, Query(max_length=64)] = None, as_of: p.AsOf = None
) -> JSON:
    """Deadlocks between tracks, explained, and over-allocated resources."""
    moment, known = p.when(at), p.when(as_of)
    return await who.answer(lambda r: r.tracks.check(at_ms=moment, as_of_ms=known))


@write("/tracks/{track}/status", tags=["tracks"])
async def track_status(who: Who, track: Name, body: p.TrackStatus) -> JSON:
    """Record a track's new status."""
    return await who.answer(lambda r: r.tracks.set_status(track, body.status), writes=True)


@write("/tracks/withdraw", tags=["tracks"])
async def track_withdraw(who: Who, body: p.Withdraw) -> JSON:
    """Take back a track, a resource, a meeting or a holding (a record, not a delete)."""
    return await who.answer(
        lambda r: r.tracks.withdraw(body.what, body.id, reason=body.reason), writes=True
    )


def _solving(body: p.Solve, gap: float) -> dict[str, Any]:
    from sitroom.application.tracks import Horizon
    from sitroom.domain.schedule import Options

    return {
        "horizon": Horizon(p.when(body.since), body.days, body.slot),
        "options": Options(time_limit=body.time_limit, gap=gap),
        "as_of_ms": p.when(body.as_of),
    }


@write("/tracks/schedule", tags=["tracks"])
async def schedule(who: Who, body: p.Schedule) -> JSON:
    """Solve the meetings' schedule (CP-SAT) and record it (unless dry_run); explains in
    words when none exists."""
    solving = _solving(body, body.gap)
    return await who.answer(
        lambda r: r.tracks.schedule(**solving, record=not body.dry_run), writes=not body.dry_run
    )


@write("/tracks/whatif/delay", tags=["tracks"])
async def whatif_delay(who: Who, body: p.Delay) -> JSON:
    """What slips with a track or meeting, and why (records nothing)."""
    solving, delay = _solving(body, 0.0), p.duration(body.delay)
    return await who.answer(lambda r: r.tracks.whatif_delay(body.target, delay, **solving))


@write("/tracks/whatif/unavailable", tags=["tracks"])
async def whatif_unavailable(who: Who, body: p.Unavailable) -> JSON:
    """What moves if a person is away (records nothing)."""
    solving = _solving(body, 0.0)
    start, end = p.when(body.from_) or 0, p.when(body.to) or 0
    return await who.answer(
        lambda r: r.tracks.whatif_unavailable(
            body.person, start, end, reason=body.reason, **solving
        )
    )


# channels -------------------------------------------------------------------------------------
@read("/channels", tags=["channels"])
async def channels(who: Who, as_of: p.AsOf = None) -> JSON:
    """Each channel: breaker, liveness, the counterpart's reply habits."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.channels.list(as_of_ms=at))


@write("/channels", made=True, tags=["channels"])
async def channel_add(who: Who, body: p.NewChannel) -> JSON:
    """Declare a channel, or change one."""
    pause = None if body.acceptable_pause is None else p.duration(body.acceptable_pause)
    ack, beat = p.duration(body.ack_timeout), p.duration(body.heartbeat)
    return await who.answer(
        lambda r: r.channels.add(
            body.id,
            counterpart=body.to,
            name=body.name,
            via=body.via,
            fallback=body.fallback,
            failover_from=body.failover_from,
            ack_timeout_ms=ack,
            heartbeat_ms=beat,
            acceptable_pause_ms=pause,
            capacity=body.capacity,
            weight=body.weight,
            url=body.url,
            timezone=body.timezone,
            hours=body.hours,
            days=body.days,
            closed=body.closed,
            shorter=body.shorter,
            track=body.track,
        ),
        writes=True,
        status=201,
    )


@read("/channels/status", tags=["channels"])
async def channels_status(
    who: Who,
    target: Annotated[str | None, Query(max_length=p.TEXT)] = None,
    as_of: p.AsOf = None,
) -> JSON:
    """What waits for an ack or a reply, what is overdue and why, each channel's state."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.channels.status(target, as_of_ms=at))


@write("/channels/{channel}/send", tags=["channels"])
async def send(who: Who, channel: Name, body: p.Send) -> JSON:
    """Send a message: recorded first (its answer comes after the record is committed), then
    tried for up to ``wait``; what is not acknowledged stays pending for a desk."""
    wait = p.duration(body.wait) if body.wait.strip() not in ("0", "0s") else 0
    if wait > MAX_WAIT_MS:
        raise UserInputError("the server waits at most 10s for an ack (a desk goes on)")
    by, void = p.when(body.reply_by), p.when(body.expires)
    return await who.answer(
        lambda r: r.channels.send(
            channel,
            body.body,
            priority=body.priority,
            msg_id=body.id,
            reply_by_ms=by,
            await_reply=body.await_reply,
            wait_ms=wait,
            expires_ms=void,
        ),
        writes=True,
    )


@write("/channels/{channel}/reset", tags=["channels"])
async def reset(who: Who, channel: Name, body: p.Reason) -> JSON:
    """Close a channel's breaker by hand; the record says who and why."""
    return await who.answer(lambda r: r.channels.reset(channel, reason=body.reason), writes=True)


@read("/messages/{message}", tags=["channels"])
async def message(who: Who, message: Name) -> JSON:
    """A message's text, opened if sealed (with the key the server holds for those cleared)."""
    return await who.answer(lambda r: r.channels.read(message), writes=True)


@write("/messages/{message}/ack", tags=["channels"])
async def ack(who: Who, message: Name, body: p.Ack) -> JSON:
    """Record an acknowledgement that came by other means."""
    at = p.when(body.at)
    return await who.answer(
        lambda r: r.channels.ack(message, at_ms=at, channel=body.channel), writes=True
    )


@write("/messages/{message}/reply", tags=["channels"])
async def reply(who: Who, message: Name, body: p.Reply) -> JSON:
    """Record the counterpart's reply."""
    at = p.when(body.at)
    return await who.answer(
        lambda r: r.channels.reply(message, at_ms=at, body=body.body), writes=True
    )


# risk -----------------------------------------------------------------------------------------
@read("/questions", tags=["risk"])
async def questions(
    who: Who, status: Annotated[str | None, Query(max_length=16)] = None, as_of: p.AsOf = None
) -> JSON:
    """The questions with their latest forecast, range and flags."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.risk.questions(as_of_ms=at, status=status))


@write("/questions", made=True, tags=["risk"])
async def question_add(who: Who, body: p.Question) -> JSON:
    """Ask a question (binary with ``until``, a count with ``threshold``): its first forecast."""
    from sitroom.domain.risk.questions import Place

    if body.until is None and body.threshold is None:
        raise UserInputError("a binary question needs until (a count: threshold)")
    places = []
    for text in body.near:
        point = p.place(text)
        named = text.strip().title() if re.search(r"[A-Za-z]", text) else text.strip()
        places.append(Place(named, point.lat, point.lon))
    times = p.when(body.until), p.when(body.since), p.duration(body.window)
    rad = p.radius(body.radius)
    return await who.answer(
        lambda r: r.risk.add_question(
            body.text,
            id=body.id,
            until_ms=times[0],
            since_ms=times[1],
            window_ms=times[2],
            threshold=body.threshold,
            places=places,
            radius=rad,
            track=body.track,
            rule=body.rule,
            reference=body.reference,
            hits=body.hits,
            of=body.of,
        ),
        writes=True,
        status=201,
    )


@read("/questions/scores", tags=["risk"])
async def scores(who: Who, as_of: p.AsOf = None) -> JSON:
    """Brier, log and CRPS per member and for the aggregate."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.risk.scores(as_of_ms=at))


@write("/questions/{question}/resolve", tags=["risk"])
async def resolve(who: Who, question: Name, body: p.Resolve) -> JSON:
    """Resolve a question by hand."""
    return await who.answer(
        lambda r: r.risk.resolve(question, body.outcome, reason=body.reason), writes=True
    )


@write("/questions/{question}/judge", tags=["risk"])
async def judge(who: Who, question: Name, body: p.Judge) -> JSON:
    """Add your probability to a question's ensemble."""
    from sitroom.domain.risk.questions import parse_probability

    prob = parse_probability(body.probability)
    return await who.answer(
        lambda r: r.risk.judge(question, prob, rationale=body.rationale), writes=True
    )


@read("/forecasts", tags=["risk"])
async def forecasts(
    who: Who,
    question: Annotated[str | None, Query(max_length=p.TEXT)] = None,
    as_of: p.AsOf = None,
) -> JSON:
    """The latest forecasts: every member, the aggregate, the range, the disagreement."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.risk.forecast(question, as_of_ms=at))


# keys, users, the audit chain -----------------------------------------------------------------
@read("/keys", tags=["keys and access"])
async def keys(
    who: Who, track: Annotated[str | None, Query(max_length=p.TEXT)] = None, as_of: p.AsOf = None
) -> JSON:
    """Every identity, and each track key: use against its limit, expiry, wear-out."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.keys.status(track, as_of_ms=at))


@write("/keys/{track}/rotate", tags=["keys and access"])
async def rotate(who: Who, track: Name, body: p.Rotate) -> JSON:
    """Start a new epoch of a track's key (admins)."""
    return await who.answer(lambda r: r.keys.rotate(track, reason=body.reason), writes=True)


@read("/users", tags=["keys and access"])
async def users(who: Who, as_of: p.AsOf = None) -> JSON:
    """Users and endpoints, their roles and clearances."""
    at = p.when(as_of)
    return await who.answer(lambda r: r.users.list(as_of_ms=at))


@write("/users", made=True, tags=["keys and access"])
async def user_add(who: Who, body: p.NewUser) -> JSON:
    """Add a user, making their keys under the passphrase given (admins)."""
    return await who.answer(
        lambda r: r.users.add(body.name, role=body.role, passphrase=body.passphrase),
        writes=True,
        status=201,
    )


@write("/users/{name}/grants", tags=["keys and access"])
async def grant(who: Who, name: Name, body: p.Grant) -> JSON:
    """Clear someone for a compartment (a track is re-keyed to include them; admins)."""
    return await who.answer(lambda r: r.users.grant(name, body.compartment), writes=True)


@write("/users/{name}/grants/{compartment}", method="delete", tags=["keys and access"])
async def revoke(who: Who, name: Name, compartment: Name) -> JSON:
    """Withdraw a clearance (a track is re-keyed without them; admins)."""
    return await who.answer(lambda r: r.users.revoke(name, compartment), writes=True)


@write("/verify", tags=["audit"])
async def verify(who: Who, body: p.Verify) -> JSON:
    """Verify the audit chain (the first bad record named; ``ok`` false if tampered with) and
    sign the head verified (``checkpoint``): the site signs it, whoever asks."""
    hub = who.hub

    def check(r: Room) -> Result:
        return hub.verify(deep=body.deep, checkpoint=body.checkpoint)

    return await who.answer(check, writes=body.checkpoint)


# the command line through the server ----------------------------------------------------------
@router.post(
    "/cli",
    response_model=None,
    responses={
        200: {"model": p.CommandRun, "description": "What the command printed."},
        **responses(400, 401, 422, 503),
    },
    tags=["command line"],
)
async def command_line(who: Who, body: p.CommandLine) -> JSON:
    """Run a sitroom command line as you, in the server (the room's one writer): what it
    printed and its exit code, as if typed here. What `sitroom` does by itself while a server
    holds the workspace. Commands that read or write files are refused (exit 2)."""
    from sitroom.cli.bridge import run_for

    argv, passphrase = body.argv, body.passphrase
    ran = await who.hub.run(lambda: run_for(who.view, argv, passphrase))
    who.hub.wrote.set()  # a command may have written: the stream looks at once
    return JSON(ran)


# files sent to the server ---------------------------------------------------------------------
UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
BINARY = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


@router.post(
    "/ingest/{source}",
    response_model=None,
    responses={
        200: {"model": p.Done, "description": "What was ingested, file by file."},
        **responses(401, 403, 404, 413, 422, 503),
    },
    openapi_extra={"requestBody": BINARY},
    tags=["ingest"],
)
async def ingest(
    who: Who,
    source: Name,
    name: Annotated[
        str, Query(max_length=100, description="The file's name (its format may show in it).")
    ] = "upload",
) -> JSON:
    """Ingest a file sent as the body, as you: a GDELT export, a UCDP or ACLED CSV, a STIX
    bundle, an RSS feed, a zip of them — what `sitroom ingest FORMAT FILE` reads, sent rather
    than named (the server reads no path a user names). At most ``serve_upload_max_bytes``."""
    import tempfile
    from pathlib import Path as FilePath

    if not UPLOAD_NAME.match(name):
        raise UserInputError(f"a file name is letters, digits, '.', '_' and '-', not {name!r}")
    # A viewer is refused (and the refusal recorded) before a byte of the body is read.
    await who.hub.run(lambda: who.view.session.check_write(RecordBatch.empty(), f"ingest {source}"))
    limit = who.hub.room.settings.serve_upload_max_bytes
    with tempfile.TemporaryDirectory(prefix="sitroom-upload-") as folder:
        path = FilePath(folder) / name
        size = 0
        with path.open("wb") as f:
            async for chunk in who.request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(limit)
                f.write(chunk)
        try:
            return await who.answer(lambda r: r.ingest.feeds(source, [str(path)]), writes=True)
        except (SourceError, UserInputError) as e:
            if type(e) not in (SourceError, UserInputError):
                raise
            # Said by the name it was sent under: the server's folders are its own.
            raise type(e)(str(e).replace(str(path), name)) from None

"""The live stream: `GET /stream`, Server-Sent Events of new records as they are committed.

    broadcaster (one task) ─ every 10 ms, or at once after the server's own writes:
        the log's last seq (room thread) ─> new records, read and encoded once
        ─> each client's bounded queue, only what that client's user may see

Each event's ``id`` is the record's log position (seq) and its name says what it is:
``alert``, ``forecast``, ``channel`` (a channel's breaker or liveness changed) or ``record``
(anything else); its data is the record as ``sitroom export`` writes it. A record of a
compartment the user is not cleared for is never sent.

A client resumes with ``Last-Event-ID`` (or ``?after=SEQ``): what it may see after that seq is
read from the log as that user, then the live events follow, so a reconnect misses nothing
and repeats nothing. A client that reads too slowly fills its queue (``stream_queue_max``
events): it is sent one last ``dropped`` event — the last seq it got, to reconnect with — and
disconnected, so no client grows the server's memory. A comment every 15 s keeps proxies
from closing a quiet stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from sitroom.application.session import Session
from sitroom.domain import hlc
from sitroom.domain.kinds import ALERT, CHANNEL_STATE, FORECAST, USER, USER_GRANT, USER_REVOKE
from sitroom.domain.records import ENVELOPE
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError
from sitroom.room import Room
from sitroom.service.errors import responses
from sitroom.service.hub import Hub
from sitroom.service.routes import Who

log = logging.getLogger("sitroom.service")
NAMES = {str(ALERT): "alert", str(FORECAST): "forecast", str(CHANNEL_STATE): "channel"}
CLEARANCES = {str(USER), str(USER_GRANT), str(USER_REVOKE)}
PAGE = 500  # records read per room-thread job when catching a client up
PING_S = 15
SEND_TIMEOUT_S = 30.0  # a client that takes no bytes for this long is cut off


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    name: str
    compartment: str
    data: str
    alert_ms: float | None = None  # an alert's latency from its trigger, for the metrics


def events_of(session: Session, after: int, upto: int, *, first_page: bool) -> list[Event]:
    """The records ``session`` may see in (after, upto], encoded; with ``first_page``, only the
    first page of them (a client catching up reads a page per job)."""
    out: list[Event] = []
    for batch in session.read(after_seq=after, upto_seq=upto, page_size=PAGE):
        envelopes = batch.table.select(list(ENVELOPE)).to_pylist()
        payloads = batch.payload_json().to_pylist()
        for env, payload in zip(envelopes, payloads, strict=True):
            env["recorded_at"] = iso(hlc.wall_ms(env["recorded_time"]))
            data = orjson.dumps(env)[:-1] + b',"payload":' + payload.encode() + b"}"
            kind = str(env["kind"])
            latency = None
            if kind == ALERT:
                latency = orjson.loads(payload).get("detect_ms")
            out.append(
                Event(int(env["seq"]), kind, NAMES.get(kind, "record"), env["compartment"],
                      data.decode(), latency)
            )  # fmt: skip
        if first_page:
            break
    return out


@dataclass(eq=False)
class Client:
    """One stream: whose it is, what they see, and the events waiting to be sent."""

    user: str | None
    compartments: frozenset[str] | None  # None: everything (the room itself, single-user)
    queue: asyncio.Queue[Event | None]
    sent: int = 0  # the last seq sent
    dropped: bool = field(default=False)

    def sees(self, compartment: str) -> bool:
        return self.compartments is None or compartment in ("", *self.compartments)


class Broadcaster:
    """One task reads what the log gained, once, and hands each client what it may see."""

    def __init__(
        self,
        hub: Hub,
        *,
        queue_max: int,
        poll_s: float = 0.01,
        on_events: Callable[[list[Event]], None] | None = None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.hub = hub
        self.queue_max = queue_max
        self.poll_s = poll_s
        self.clients: set[Client] = set()
        self.position = 0
        self._on_events = on_events
        self._on_drop = on_drop
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        session = self.hub.room.session
        self.position = await self.hub.run(session.last_seq)
        self._task = asyncio.create_task(self._run(), name="sitroom-broadcaster")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for c in list(self.clients):
            self._end(c, None)

    async def _run(self) -> None:
        hub = self.hub
        while not hub.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.wrote.wait(), self.poll_s)
            hub.wrote.clear()
            try:
                await self.step()
            except Exception:  # a failed read is retried at the next step, never fatal
                log.exception("the stream's broadcaster failed to read the log")
                await asyncio.sleep(1.0)
        for c in list(self.clients):  # stopping: every stream ends now
            self._end(c, None)

    async def step(self) -> None:
        """Fan out what the log gained since the last step. The position moves and the
        events are queued in one synchronous stretch, after the read: a client that
        subscribes meanwhile is caught up to the old position and queued the rest."""
        room = self.hub.room
        last = await self.hub.run(room.session.last_seq)
        if last <= self.position:
            return
        if not self.clients:
            self.position = last
            return
        after = self.position
        events = await self.hub.run(lambda: events_of(room.session, after, last, first_page=False))
        if any(e.kind in CLEARANCES for e in events):
            access = await self.hub.run(lambda: clearances(room))
            for c in self.clients:
                if c.user is not None and c.compartments is not None:
                    c.compartments = access.get(c.user, frozenset())
        self.position = last
        if self._on_events is not None:
            self._on_events(events)
        for c in list(self.clients):
            for e in events:
                if not c.sees(e.compartment):
                    continue
                try:
                    c.queue.put_nowait(e)
                except asyncio.QueueFull:
                    self._drop(c)
                    break

    def subscribe(
        self, user: str | None, compartments: frozenset[str] | None
    ) -> tuple[Client, int]:
        """A new client, and the position the live events start after."""
        client = Client(user, compartments, asyncio.Queue(self.queue_max + 1))
        if self.hub.stopping.is_set():
            client.queue.put_nowait(None)  # the server is stopping: an empty stream
        else:
            self.clients.add(client)
        return client, self.position

    def leave(self, client: Client) -> None:
        self.clients.discard(client)

    def _drop(self, client: Client) -> None:
        client.dropped = True
        if self._on_drop is not None:
            self._on_drop()
        self._end(client, None)

    def _end(self, client: Client, last: Event | None) -> None:
        """Empty the client's queue and leave it the end: None."""
        self.clients.discard(client)
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(last)


def clearances(room: Room) -> dict[str, frozenset[str]]:
    """Each user's clearances now (room thread only)."""
    return {u.name: frozenset(u.clearances) for u in room.users.list().users if not u.endpoint}


# the endpoint ---------------------------------------------------------------------------------
router = APIRouter()


def _after(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is None:
        return after
    text = last_event_id.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise UserInputError(f"Last-Event-ID is a log position, not {last_event_id[:40]!r}")
    return int(text)


@router.get(
    "/stream",
    tags=["stream"],
    response_model=None,
    responses={
        200: {
            "description": "Server-Sent Events: alert, forecast, channel, record; and a last "
            "dropped event for a client too slow to keep up.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **responses(401, 403, 422, 503),
    },
)
async def stream(
    request: Request,
    who: Who,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**62, description="Resume after this seq.")
    ] = None,
) -> EventSourceResponse:
    """New records as they are committed, those the user may see; resumable."""
    start = _after(last_event_id, after)
    hub = who.hub
    broadcaster: Broadcaster = request.app.state.broadcaster

    view = who.view
    access = view.session.access
    compartments = None if access.everything else frozenset(access.compartments)
    client, live_from = broadcaster.subscribe(view.user, compartments)
    return EventSourceResponse(
        _events(hub, broadcaster, client, view, start, live_from),
        ping=PING_S,
        send_timeout=SEND_TIMEOUT_S,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    hub: Hub, broadcaster: Broadcaster, client: Client, view: Room, start: int | None, live: int
) -> AsyncIterator[ServerSentEvent]:
    try:
        cursor = live if start is None else start
        client.sent = cursor
        while cursor < live:  # catching up, a page at a time, as this user
            page = await hub.run(partial(events_of, view.session, cursor, live, first_page=True))
            if not page:
                break
            for old in page:
                yield _sse(old)
                client.sent = old.seq
            cursor = page[-1].seq
        while True:
            # The broadcaster ends every stream (None) when the server starts to stop.
            e = await client.queue.get()
            if e is None:
                if client.dropped:
                    yield _dropped(client.sent)
                return
            if e.seq <= client.sent:
                continue  # resumed after a position the live events had not reached
            yield _sse(e)
            client.sent = e.seq
    finally:
        broadcaster.leave(client)


def _sse(e: Event) -> ServerSentEvent:
    return ServerSentEvent(data=e.data, event=e.name, id=str(e.seq))


def _dropped(last: int) -> ServerSentEvent:
    said: dict[str, Any] = {
        "last_seq": last,
        "message": f"too slow to keep up: reconnect with Last-Event-ID: {last}",
    }
    return ServerSentEvent(data=orjson.dumps(said).decode(), event="dropped")

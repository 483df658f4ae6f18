"""The link between sites over NATS JetStream: a :class:`~sitroom.application.sites.Link`.

This site publishes what it sends peer Y on ``sitroom.rec.<site>.Y``, captured by its own
stream; it takes what X sent it from its durable pull consumer on X's stream (both made by
the operator: adapters/nats_setup.py). JetStream stores a bundle before it acknowledges the
publish, so a bundle this site counts as sent survives this site being cut off; the
``Nats-Msg-Id`` header (origin, peer and log positions) makes a bundle sent twice across a
crash stored once.

nats-py is asyncio; sitroom's services are not. The link runs its own event loop on a thread
and each call waits for its coroutine, with a timeout: a cut link is a :class:`LinkDown` in
seconds, never a hang. nats-py reconnects by itself; the next call after a heal goes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sitroom.adapters.nats_setup import SiteCredentials, inbox_prefix, stream_name, subject
from sitroom.application.sites import Delivery, Sent
from sitroom.errors import LinkDown, UserInputError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

T = TypeVar("T")
# What a bundle's headers say of the sending it is part of (application/sites.Sent)
_UPTO, _RECORDS, _NEWEST = "Sitroom-Upto", "Sitroom-Records", "Sitroom-Newest"


def client_tls(ca: Path | None) -> ssl.SSLContext | None:
    if ca is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca))
    except (OSError, ssl.SSLError) as e:
        raise UserInputError(f"cannot use {ca} as the NATS servers' CA: {e}") from None


class _EofOverTls(logging.Filter):
    """asyncio warns at every TLS connection nats-py closes (its protocol's eof_received
    returns True, which TLS ignores): noise on a user's terminal, about nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("returning true from eof_received()")


logging.getLogger("asyncio").addFilter(_EofOverTls())


async def _quiet(*_: Any) -> None:
    """nats-py logs every connection error with a traceback; the link reports them itself."""


class NatsLink:
    def __init__(
        self,
        url: str,
        creds: SiteCredentials,
        *,
        ca: Path | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        self.site = creds.site
        # TLS with the servers' certificates checked against the operator's CA: the password
        # and the bundles' headers never cross the network in the clear.
        self._tls = client_tls(ca)
        self.url = url
        self._timeout = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"nats-link-{creds.site}", daemon=True
        )
        self._thread.start()
        self._subs: dict[str, JetStreamContext.PullSubscription] = {}
        try:
            self._nc: Client = self._run(self._connect(creds), timeout_s * 2)
        except LinkDown:
            self._stop()
            raise
        self._js = self._nc.jetstream(timeout=timeout_s)

    async def _connect(self, creds: SiteCredentials) -> Client:
        import nats

        return await nats.connect(
            servers=[self.url],
            user=creds.user,
            password=creds.password,
            inbox_prefix=inbox_prefix(creds.site),
            tls=self._tls,
            name=f"sitroom {creds.site}",
            connect_timeout=self._timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_quiet,
            disconnected_cb=_quiet,
            reconnected_cb=_quiet,
            closed_cb=_quiet,
        )

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        # The timeout runs inside the loop, so a call given up on is cancelled there and
        # finished, never left pending when the loop stops.
        limit = timeout or self._timeout * 2
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, limit), self._loop)
        try:
            return future.result(limit + 5)
        except Exception as e:  # nats-py's errors, timeouts: the link is down for now
            future.cancel()
            what = "no answer" if isinstance(e, TimeoutError) else str(e) or type(e).__name__
            where = f"NATS at {self.url}"
            raise LinkDown(f"{where} cannot be reached by {self.site} ({what})") from None

    def _up(self) -> None:
        if not self._nc.is_connected:
            raise LinkDown(f"{self.site} is not connected to NATS at {self.url}")

    # the Link protocol ----------------------------------------------------------------------
    def send(self, dest: str, data: bytes, msg_id: str, sent: Sent) -> None:
        self._up()
        headers = {"Nats-Msg-Id": msg_id, _UPTO: str(sent.upto), _RECORDS: str(sent.records)}
        if sent.newest_ms is not None:
            headers[_NEWEST] = str(sent.newest_ms)
        self._run(
            self._js.publish(subject(self.site, dest), data, timeout=self._timeout, headers=headers)
        )

    def latest(self, origin: str) -> Sent | None:
        """From the headers of the last message on this site's subject of ``origin``'s stream
        (a direct get, allowed for that subject alone): informative, not trusted for data."""
        self._up()
        return self._run(self._latest(origin))

    async def _latest(self, origin: str) -> Sent | None:
        from nats.js.errors import NotFoundError

        try:
            msg = await self._js.get_last_msg(
                stream_name(origin), subject(origin, self.site), direct=True
            )
        except NotFoundError:
            return None
        h = msg.headers or {}
        try:
            newest = h.get(_NEWEST)
            return Sent(int(h[_UPTO]), int(h[_RECORDS]), None if newest is None else int(newest))
        except (KeyError, ValueError):
            return None  # not one of sitroom's: the receiver will refuse it

    def receive(self, origin: str, limit: int, wait_s: float) -> list[Delivery]:
        self._up()
        msgs = self._run(self._fetch(origin, limit, wait_s), self._timeout * 2 + wait_s)
        return [
            Delivery(m.data, origin, self._acker(m), redelivered=m.metadata.num_delivered > 1)
            for m in msgs
        ]

    async def _fetch(self, origin: str, limit: int, wait_s: float) -> list[Msg]:
        import nats.errors

        sub = self._subs.get(origin)
        if sub is None:
            sub = await self._js.pull_subscribe_bind(durable=self.site, stream=stream_name(origin))
            self._subs[origin] = sub
        try:
            return await sub.fetch(limit, timeout=max(wait_s, 0.01))
        except (TimeoutError, nats.errors.TimeoutError):
            return []  # nothing waiting (nats-py 2.16 raises either)

    def _acker(self, msg: Msg) -> Any:
        def ack() -> None:
            self._run(msg.ack())

        return ack

    def pending(self, origin: str) -> int | None:
        self._up()
        info = self._run(self._js.consumer_info(stream_name(origin), self.site))
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    # closing --------------------------------------------------------------------------------
    def close(self) -> None:
        with contextlib.suppress(LinkDown):
            self._run(self._nc.close())
        self._stop()

    def _stop(self) -> None:
        async def cancel_the_rest() -> None:
            # nats-py's own tasks (reading, pinging, reconnecting), ended before the loop is
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_the_rest(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> NatsLink:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

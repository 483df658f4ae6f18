"""The contract every ``Wire`` passes (application/ports.py): the transport a desk sends on.
A subclass says how to make the wire and how to put a far end somewhere it can reach::

    from sitroom.testing import WireContract

    class TestMyWire(WireContract):
        def make_wire(self):
            return MyWire()

        def start_far_end(self, wire, deliver, heard):
            server = start_my_server(deliver, heard)      # answers /deliver, /ping, /heard
            return server.url, server.stop

        def refused_url(self, wire):
            return "myproto://127.0.0.1:9"                # nothing listens there

A far end answers a delivered envelope with ``deliver(envelope)`` (its answer is the ack),
a ping with nothing, and ``heard`` with ``heard()``: how long ago (ms) it last heard its
counterpart, or None.

What it checks: ``deliver`` hands the far end the envelope as sent and returns the far end's
answer as it gave it; many threads at once each get their own ack; a refused URL, a far end
that went away, one that refuses the envelope and one slower than the timeout are each a
:class:`~sitroom.application.ports.WireError` (never another exception, never a hang), and the
wire still works afterwards; ``ping`` reaches a live far end; ``heard`` gives the far end's
number or None; ``close`` may be called twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sitroom.application.ports import Wire, WireError
from sitroom.errors import UserInputError

__all__ = ["Deliver", "Heard", "StartFarEnd", "WireContract"]

Deliver = Callable[[dict[str, Any]], Mapping[str, Any]]
Heard = Callable[[], int | None]
StartFarEnd = Callable[..., str]  # (deliver=..., heard=...) -> the far end's URL

ENVELOPE: dict[str, Any] = {
    "id": "m-0001",
    "channel": "direct",
    "priority": "FLASH",
    "body": 'hold fire — "now" \\ ✓',
    "attempt": 1,
    "sent_ms": 1_764_000_000_000,
    "reply_by_ms": None,
    "await_reply": True,
    "track": "us-iran",
    "nested": {"list": [1, 2.5, "x", None, {"deep": False}]},
}


def ack(envelope: Mapping[str, Any]) -> dict[str, Any]:
    return {"ack": True, "message": envelope.get("id"), "duplicate": False}


class WireContract:
    """Subclasses provide ``make_wire``, ``start_far_end`` and ``refused_url``."""

    timeout_s = 5.0  # for calls that should succeed

    def make_wire(self) -> Wire:
        raise AssertionError("subclass provides make_wire")

    def start_far_end(
        self, wire: Wire, deliver: Deliver, heard: Heard
    ) -> tuple[str, Callable[[], None]]:
        """A far end serving ``deliver`` and ``heard``: its URL, and how to stop it."""
        raise AssertionError("subclass provides start_far_end")

    def refused_url(self, wire: Wire) -> str:
        """A URL at which nothing listens."""
        raise AssertionError("subclass provides refused_url")

    @pytest.fixture
    def wire(self) -> Iterator[Wire]:
        wire = self.make_wire()
        yield wire
        wire.close()

    @pytest.fixture
    def far_end(self, wire: Wire) -> Iterator[StartFarEnd]:
        """Start far ends (``deliver`` acks by default, ``heard`` says 0); all stopped after."""
        stops: list[Callable[[], None]] = []

        def start(deliver: Deliver = ack, heard: Heard = lambda: 0) -> str:
            url, stop = self.start_far_end(wire, deliver, heard)
            stops.append(stop)
            return url

        yield start
        with ThreadPoolExecutor(max(1, len(stops))) as pool:  # a server may take a while to stop
            for done in [pool.submit(stop) for stop in stops]:
                with contextlib.suppress(Exception):
                    done.result()

    # deliver ------------------------------------------------------------------------------
    def test_deliver_hands_over_the_envelope_and_returns_the_far_ends_answer(
        self, wire: Wire, far_end: StartFarEnd
    ) -> None:
        got: list[dict[str, Any]] = []

        def deliver(envelope: dict[str, Any]) -> dict[str, Any]:
            got.append(envelope)
            return {**ack(envelope), "duplicate": len(got) > 1, "note": "récu ✓"}

        url = far_end(deliver=deliver)
        first = wire.deliver(url, ENVELOPE, self.timeout_s)
        assert first == {"ack": True, "message": "m-0001", "duplicate": False, "note": "récu ✓"}
        assert got == [ENVELOPE]
        again = wire.deliver(url + "/", ENVELOPE, self.timeout_s)  # a trailing slash is the same
        assert again["duplicate"] is True and len(got) == 2

    def test_many_threads_each_get_their_own_ack(self, wire: Wire, far_end: StartFarEnd) -> None:
        """A desk delivers from a pool of threads: answers never cross."""
        seen: list[str] = []
        lock = threading.Lock()

        def deliver(envelope: dict[str, Any]) -> dict[str, Any]:
            with lock:
                seen.append(envelope["id"])
            time.sleep(0.002)
            return ack(envelope)

        url = far_end(deliver=deliver)
        ids = [f"m-{i:04d}" for i in range(80)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda i: wire.deliver(url, {**ENVELOPE, "id": i}, self.timeout_s), ids)
            )
        assert [a["message"] for a in answers] == ids
        assert sorted(seen) == ids

    # failures -----------------------------------------------------------------------------
    def test_a_refused_url_is_a_wire_error(self, wire: Wire) -> None:
        url = self.refused_url(wire)
        started = time.monotonic()
        with pytest.raises(WireError):
            wire.deliver(url, ENVELOPE, 2.0)
        with pytest.raises(WireError):
            wire.ping(url, 2.0)
        with pytest.raises(WireError):
            wire.heard(url, 2.0)
        assert time.monotonic() - started < 6.5, "a refusal is not waited out"

    def test_a_far_end_that_went_away_is_a_wire_error(self, wire: Wire) -> None:
        url, stop = self.start_far_end(wire, ack, lambda: 0)
        try:
            assert wire.deliver(url, ENVELOPE, self.timeout_s)["ack"] is True
        finally:
            stop()
        with pytest.raises(WireError):
            wire.deliver(url, ENVELOPE, 2.0)
        with pytest.raises(WireError):
            wire.ping(url, 2.0)

    def test_a_far_end_that_refuses_the_envelope_is_a_wire_error(
        self, wire: Wire, far_end: StartFarEnd
    ) -> None:
        def refuse(envelope: dict[str, Any]) -> dict[str, Any]:
            raise UserInputError("the body must be a JSON object")

        with pytest.raises(WireError):
            wire.deliver(far_end(deliver=refuse), ENVELOPE, self.timeout_s)
        assert wire.deliver(far_end(), ENVELOPE, self.timeout_s)["ack"] is True  # still works

    def test_a_far_end_slower_than_the_timeout_is_a_wire_error(
        self, wire: Wire, far_end: StartFarEnd
    ) -> None:
        release = threading.Event()

        def slow(envelope: dict[str, Any]) -> dict[str, Any]:
            release.wait(5.0)
            return ack(envelope)

        url = far_end(deliver=slow)
        started = time.monotonic()
        try:
            with pytest.raises(WireError):
                wire.deliver(url, ENVELOPE, 0.3)
            assert time.monotonic() - started < 3.0, "the timeout is kept"
        finally:
            release.set()
        assert wire.deliver(far_end(), ENVELOPE, self.timeout_s)["ack"] is True  # still works

    # ping and heard -----------------------------------------------------------------------
    def test_ping_reaches_a_live_far_end(self, wire: Wire, far_end: StartFarEnd) -> None:
        wire.ping(far_end(), self.timeout_s)  # no WireError: it answered

    def test_heard_gives_the_far_ends_answer(self, wire: Wire, far_end: StartFarEnd) -> None:
        assert wire.heard(far_end(heard=lambda: 1234), self.timeout_s) == 1234
        assert wire.heard(far_end(heard=lambda: 0), self.timeout_s) == 0
        assert wire.heard(far_end(heard=lambda: None), self.timeout_s) is None

    def test_close_may_be_called_twice(self) -> None:
        wire = self.make_wire()
        wire.close()
        wire.close()
